package main

import (
	"bytes"
	"errors"
	"testing"
)

func TestAsyncWriter(t *testing.T) {
	var out bytes.Buffer
	a := newAsyncWriter(&out, 7, 2)
	var want []byte
	for i := 0; i < 100; i++ {
		p := bytes.Repeat([]byte{byte(i)}, i%13)
		want = append(want, p...)
		a.Write(p)
	}
	if err := a.Close(); err != nil || !bytes.Equal(out.Bytes(), want) {
		t.Fatalf("async writer: %v, %d bytes, want %d", err, out.Len(), len(want))
	}
	// closing at once (nothing written) must not hang
	if err := newAsyncWriter(&out, 8, 2).Close(); err != nil {
		t.Fatal(err)
	}
	fw := &failAfter{n: 10}
	b := newAsyncWriter(fw, 4, 1)
	for i := 0; i < 20; i++ {
		b.Write([]byte("abcdef"))
	}
	if err := b.Close(); !errors.Is(err, errFull) {
		t.Fatalf("write error not reported: %v", err)
	}
}

var errFull = errors.New("disk full")

type failAfter struct{ n int }

func (f *failAfter) Write(p []byte) (int, error) {
	if f.n -= len(p); f.n < 0 {
		return 0, errFull
	}
	return len(p), nil
}
