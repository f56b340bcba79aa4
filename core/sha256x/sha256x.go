// Package sha256x computes SHA-256 digests of tensor bytes, two messages
// at a time where the CPU has the SHA extensions: SHA256RNDS2 is one long
// dependency chain per message, and interleaving two messages' rounds
// keeps the core busy (~1.6× the bytes per second of one message).
// Elsewhere it is crypto/sha256.
package sha256x

import (
	"crypto/sha256"
	"encoding/binary"
	"hash"
)

// Size is the length of a digest in bytes.
const Size = sha256.Size

// Digest is a SHA-256 state (a hash.Hash). Write feeds it alone; Write2
// feeds two digests together.
type Digest struct {
	h   [8]uint32
	buf [64]byte
	nb  int    // bytes in buf
	len uint64 // message bytes so far
	std hash.Hash
}

var iv = [8]uint32{0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19}

// New returns a fresh digest.
func New() *Digest {
	d := &Digest{}
	d.Reset()
	return d
}

func (d *Digest) Reset() {
	if !hasSHA {
		d.std = sha256.New()
		return
	}
	d.h, d.nb, d.len = iv, 0, 0
}

func (d *Digest) Size() int      { return Size }
func (d *Digest) BlockSize() int { return 64 }

// Write hashes p (never fails).
func (d *Digest) Write(p []byte) (int, error) {
	if d.std != nil {
		return d.std.Write(p)
	}
	n := len(p)
	if p = d.fill(p); d.nb > 0 {
		return n, nil // all of p went into the partial block
	}
	if k := len(p) &^ 63; k > 0 {
		blocks1(&d.h, &p[0], k/64)
		p = p[k:]
	}
	d.nb = copy(d.buf[:], p)
	return n, nil
}

// fill tops up a partial block from p and hashes it when complete; it
// returns the rest of p (with an empty buffer) or nothing (p fit in).
func (d *Digest) fill(p []byte) []byte {
	d.len += uint64(len(p))
	if d.nb == 0 {
		return p
	}
	k := copy(d.buf[d.nb:], p)
	d.nb += k
	if d.nb < 64 {
		return nil
	}
	blocks1(&d.h, &d.buf[0], 1)
	d.nb = 0
	return p[k:]
}

// Write2 hashes pa into a and pb into b; the whole blocks the two have in
// common are hashed together.
func Write2(a *Digest, pa []byte, b *Digest, pb []byte) {
	if a.std != nil || b.std != nil || a == b {
		a.Write(pa)
		b.Write(pb)
		return
	}
	na, nb := a.len+uint64(len(pa)), b.len+uint64(len(pb))
	pa, pb = a.fill(pa), b.fill(pb)
	if k := min(len(pa), len(pb)) &^ 63; k > 0 && a.nb == 0 && b.nb == 0 {
		blocks2(&a.h, &b.h, &pa[0], &pb[0], k/64)
		pa, pb = pa[k:], pb[k:]
	}
	// the rest one by one (fill already counted the lengths)
	a.len, b.len = na-uint64(len(pa)), nb-uint64(len(pb))
	a.Write(pa)
	b.Write(pb)
}

// Sum appends the digest of what was written to in (d is unchanged).
func (d *Digest) Sum(in []byte) []byte {
	if d.std != nil {
		return d.std.Sum(in)
	}
	c := *d
	var pad [72]byte
	pad[0] = 0x80
	n := 56 - int(c.len%64)
	if n <= 0 {
		n += 64
	}
	bits := c.len * 8
	c.Write(pad[:n])
	var l [8]byte
	binary.BigEndian.PutUint64(l[:], bits)
	c.Write(l[:])
	var out [Size]byte
	for i, v := range c.h {
		binary.BigEndian.PutUint32(out[4*i:], v)
	}
	return append(in, out[:]...)
}
