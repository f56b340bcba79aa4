package sha256x

import (
	"bytes"
	"crypto/sha256"
	"math/rand"
	"testing"
)

// Digests equal crypto/sha256 for every length around the block and
// padding boundaries, written whole, in pieces, and two at a time.
func TestMatchesCryptoSHA256(t *testing.T) {
	if !hasSHA {
		t.Log("no SHA extensions: sha256x is crypto/sha256 here")
	}
	r := rand.New(rand.NewSource(1))
	data := make([]byte, 5000)
	r.Read(data)
	for n := 0; n < 700; n++ {
		want := sha256.Sum256(data[:n])
		d := New()
		d.Write(data[:n])
		if got := d.Sum(nil); !bytes.Equal(got, want[:]) {
			t.Fatalf("len %d: %x, want %x", n, got, want)
		}
		d.Reset()
		for p := data[:n]; len(p) > 0; { // uneven pieces
			k := min(len(p), 1+r.Intn(130))
			d.Write(p[:k])
			p = p[k:]
		}
		if got := d.Sum(nil); !bytes.Equal(got, want[:]) {
			t.Fatalf("len %d in pieces: %x, want %x", n, got, want)
		}
	}
	// pairs: different lengths, different piece sizes, a running start
	for i := 0; i < 500; i++ {
		na, nb := r.Intn(3000), r.Intn(3000)
		a, b := New(), New()
		pa, pb := data[:na], data[1000:1000+nb]
		if i%3 == 0 { // one starts with a partial block already buffered
			a.Write(pa[:min(len(pa), 7)])
			pa = pa[min(len(pa), 7):]
		}
		for len(pa) > 0 || len(pb) > 0 {
			ka, kb := min(len(pa), r.Intn(700)), min(len(pb), r.Intn(700))
			Write2(a, pa[:ka], b, pb[:kb])
			pa, pb = pa[ka:], pb[kb:]
		}
		wa, wb := sha256.Sum256(data[:na]), sha256.Sum256(data[1000:1000+nb])
		if !bytes.Equal(a.Sum(nil), wa[:]) || !bytes.Equal(b.Sum(nil), wb[:]) {
			t.Fatalf("pair %d (%d, %d bytes) differs", i, na, nb)
		}
	}
}

func BenchmarkOne(b *testing.B) {
	p := make([]byte, 4<<20)
	d := New()
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		d.Write(p)
	}
}

func BenchmarkTwo(b *testing.B) {
	p, q := make([]byte, 4<<20), make([]byte, 4<<20)
	d, e := New(), New()
	b.SetBytes(int64(2 * len(p)))
	for b.Loop() {
		Write2(d, p, e, q)
	}
}

func BenchmarkCryptoSHA256(b *testing.B) {
	p := make([]byte, 4<<20)
	d := sha256.New()
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		d.Write(p)
	}
}
