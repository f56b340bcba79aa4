package convert

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math/rand"
	"os"
	"testing"
)

// The pipeline writes the stream unchanged and hashes exactly each marked
// range, whatever the block size and write sizes.
func TestPipelineHashesRanges(t *testing.T) {
	r := rand.New(rand.NewSource(5))
	for _, block := range []int{1, 3, 7, 64, 1 << 10} {
		var out bytes.Buffer
		p := newPipeline(&out, nil, block, 2)
		var want []byte
		type rng struct{ start, end, i int }
		var rs []rng
		for i := 0; i < 40; i++ {
			gap := make([]byte, r.Intn(5)) // unhashed bytes (headers, padding)
			r.Read(gap)
			p.Write(gap)
			want = append(want, gap...)
			n := r.Intn(300)
			if i%9 == 0 {
				n = 0 // empty tensors
			}
			data := make([]byte, n)
			r.Read(data)
			rs = append(rs, rng{len(want), len(want) + n, p.mark(int64(n))})
			for len(data) > 0 { // in uneven pieces
				k := min(len(data), 1+r.Intn(50))
				p.Write(data[:k])
				want = append(want, data[:k]...)
				data = data[k:]
			}
		}
		p.Write([]byte("trailer"))
		want = append(want, "trailer"...)
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out.Bytes(), want) {
			t.Fatalf("block %d: stream changed (%d bytes, want %d)", block, out.Len(), len(want))
		}
		for i, x := range rs {
			sum := sha256.Sum256(want[x.start:x.end])
			if got := p.hashOf(x.i); got != hex.EncodeToString(sum[:]) {
				t.Fatalf("block %d: range %d [%d, %d) hash differs", block, i, x.start, x.end)
			}
		}
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

// A failing writer's error reaches Write soon and Close always; closing
// with nothing written does not hang.
func TestPipelineWriteError(t *testing.T) {
	if err := newPipeline(&bytes.Buffer{}, nil, 8, 2).Close(); err != nil {
		t.Fatal(err)
	}
	p := newPipeline(&failAfter{n: 10}, nil, 4, 1)
	var werr error
	for i := 0; i < 100 && werr == nil; i++ {
		_, werr = p.Write([]byte("abcdef"))
	}
	if err := p.Close(); !errors.Is(err, errFull) {
		t.Fatalf("write error not reported by Close: %v", err)
	}
	if !errors.Is(werr, errFull) {
		t.Fatalf("write error never reached Write: %v", werr)
	}
	if err := p.Close(); !errors.Is(err, errFull) { // a second Close repeats it
		t.Fatalf("second Close: %v", err)
	}
}

// flipReader flips one byte of what it reads at offset at.
type flipReader struct {
	r  io.ReaderAt
	at int64
}

func (f flipReader) ReadAt(b []byte, off int64) (int, error) {
	n, err := f.r.ReadAt(b, off)
	if f.at >= off && f.at < off+int64(n) {
		b[f.at-off] ^= 1
	}
	return n, err
}

// With a read-back file, the ranges the writer finished are re-read and
// hash like the bytes sent, paired with later ranges; the last ones are
// left for Verify. A byte that reads back differently shows in the
// re-read hash of its own range only.
func TestPipelineReadBack(t *testing.T) {
	r := rand.New(rand.NewSource(9))
	for _, flip := range []int64{-1, 5000} {
		f, err := os.CreateTemp(t.TempDir(), "out")
		if err != nil {
			t.Fatal(err)
		}
		var back io.ReaderAt = f
		if flip >= 0 {
			back = flipReader{f, flip}
		}
		p := newPipeline(f, back, 256, 1)
		var idx []int
		for i := 0; i < 200; i++ {
			p.Write([]byte("hdr"))
			data := make([]byte, r.Intn(300))
			r.Read(data)
			idx = append(idx, p.mark(int64(len(data))))
			p.Write(data)
		}
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		reread, bad := 0, 0
		for _, i := range idx {
			sum, off, n := p.rereadOf(i)
			if sum == "" {
				continue
			}
			reread++
			if sum != p.hashOf(i) {
				bad++
				if flip < off || flip >= off+n {
					t.Fatalf("range %d [%d, %d) differs, but the flipped byte is at %d", i, off, off+n, flip)
				}
			}
		}
		if reread < len(idx)/2 {
			t.Fatalf("only %d of %d ranges re-read during the write", reread, len(idx))
		}
		if want := map[bool]int{true: 0, false: 1}[flip < 0]; bad != want {
			t.Fatalf("flip at %d: %d ranges differ, want %d", flip, bad, want)
		}
		f.Close()
	}
}

// A write error stops the re-reading: Close returns, nothing unwritten is
// reported as re-read.
func TestPipelineReadBackWriteError(t *testing.T) {
	p := newPipeline(&failAfter{n: 100}, bytes.NewReader(make([]byte, 1000)), 16, 1)
	p.mark(500)
	for i := 0; i < 50; i++ {
		p.Write(make([]byte, 10))
	}
	if err := p.Close(); !errors.Is(err, errFull) {
		t.Fatalf("Close: %v", err)
	}
	if sum, _, _ := p.rereadOf(0); sum != "" {
		t.Fatal("a range the writer never finished was re-read")
	}
}
