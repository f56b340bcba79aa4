package report

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math/rand"
	"testing"
)

// The pipeline writes the stream unchanged and hashes exactly each marked
// range, whatever the block size and write sizes.
func TestPipelineHashesRanges(t *testing.T) {
	r := rand.New(rand.NewSource(5))
	for _, block := range []int{1, 3, 7, 64, 1 << 10} {
		var out bytes.Buffer
		p := newPipeline(&out, block, 2)
		var want []byte
		type rng struct {
			start, end int
			h          interface{ Sum([]byte) []byte }
		}
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
			h := p.mark(int64(n))
			rs = append(rs, rng{len(want), len(want) + n, h})
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
			if got := hex.EncodeToString(x.h.Sum(nil)); got != hex.EncodeToString(sum[:]) {
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
	if err := newPipeline(&bytes.Buffer{}, 8, 2).Close(); err != nil {
		t.Fatal(err)
	}
	p := newPipeline(&failAfter{n: 10}, 4, 1)
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
