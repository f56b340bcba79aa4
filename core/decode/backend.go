package decode

import (
	"fmt"
	"math"

	"github.com/ditkit/ditkit/core/internal/par"
)

// Buf is an activation a Backend owns (the CPU's is a []float32; a GPU's
// a device buffer).
type Buf any

// Backend runs the decoder's kernels on activations it owns. The decoder
// calls it band by band (see Band); every method may fail (a GPU device
// lost or out of memory), and the caller then frees what it allocated.
type Backend interface {
	// Alloc returns an activation of n float32s (contents undefined).
	Alloc(n int) (Buf, error)
	// Upload returns an activation holding a copy of v.
	Upload(v []float32) (Buf, error)
	// Read copies the first len(dst) values of b into dst.
	Read(b Buf, dst []float32) error
	// Free releases b.
	Free(b Buf)
	// TanhClamp replaces the first n values v of b by 3·tanh(v/3)
	// (taesd.py's Clamp).
	TanhClamp(b Buf, n int) error
	// Conv3x3 writes rows [out.Lo, out.Hi) of conv(in) — a 3×3 convolution
	// with k's weights and bias, stride 1, zero padding 1, of an image
	// h rows high — then, when res has a Buf, adds res's rows [out.Lo,
	// out.Hi), then applies ReLU when relu is set. in must hold the rows
	// the output rows read: [max(0, out.Lo−1), min(h, out.Hi+1)).
	Conv3x3(out, in, res Band, h int, k *Conv, relu bool) error
	// Upsample2x writes rows [out.Lo, out.Hi) of in upsampled ×2 (nearest:
	// out(y, x) = in(y/2, x/2)); out.W = 2·in.W.
	Upsample2x(out, in Band) error
}

// Flusher is a Backend that queues work (a GPU): Flush runs what is queued
// and releases what was freed; the decoder calls it after each stage.
type Flusher interface {
	Flush() error
}

// CheckConv validates a Conv3x3 call (for every Backend).
func CheckConv(out, in, res Band, h int, k *Conv) error {
	switch {
	case !out.Valid() || !in.Valid():
		return fmt.Errorf("decode: conv %s: bad band (out %+v, in %+v)", k.Name, out, in)
	case in.C != k.Cin || out.C != k.Cout || in.W != out.W:
		return fmt.Errorf("decode: conv %s: %d→%d channels on bands of %d→%d channels, widths %d→%d", k.Name, k.Cin, k.Cout, in.C, out.C, in.W, out.W)
	case out.Lo < 0 || out.Hi > h || in.Lo > max(0, out.Lo-1) || in.Hi < min(h, out.Hi+1):
		return fmt.Errorf("decode: conv %s: input rows [%d, %d) do not cover output rows [%d, %d) of %d", k.Name, in.Lo, in.Hi, out.Lo, out.Hi, h)
	case res.Buf != nil && (!res.Valid() || res.C != out.C || res.W != out.W || res.Lo > out.Lo || res.Hi < out.Hi):
		return fmt.Errorf("decode: conv %s: residual rows [%d, %d) do not cover [%d, %d)", k.Name, res.Lo, res.Hi, out.Lo, out.Hi)
	}
	return nil
}

// CheckUpsample validates an Upsample2x call (for every Backend).
func CheckUpsample(out, in Band) error {
	if !out.Valid() || !in.Valid() || out.C != in.C || out.W != 2*in.W || in.Lo > out.Lo/2 || (out.Hi > out.Lo && in.Hi < (out.Hi+1)/2) {
		return fmt.Errorf("decode: upsample: bands do not match (out %+v, in %+v)", out, in)
	}
	return nil
}

// CPU is the portable backend: a direct 3×3 convolution kernel over
// Threads goroutines. With one thread (the wasm build) the work runs
// inline and Yield, when set, is called between chunks.
type CPU struct {
	Threads int    // 0 = GOMAXPROCS
	Yield   func() // called between chunks when single-threaded
	// Direct selects the direct convolution kernel instead of Winograd's
	// F(2×2, 3×3) (2.25× more multiplies; a check on the faster one).
	Direct bool
}

var _ Backend = (*CPU)(nil)

// Alloc implements Backend.
func (c *CPU) Alloc(n int) (Buf, error) { return make([]float32, n), nil }

// Upload implements Backend.
func (c *CPU) Upload(v []float32) (Buf, error) { return append([]float32(nil), v...), nil }

// Read implements Backend.
func (c *CPU) Read(b Buf, dst []float32) error {
	v := b.([]float32)
	if len(dst) > len(v) {
		return fmt.Errorf("decode: read %d values of a buffer of %d", len(dst), len(v))
	}
	copy(dst, v)
	return nil
}

// Free implements Backend.
func (c *CPU) Free(Buf) {}

// TanhClamp implements Backend.
func (c *CPU) TanhClamp(b Buf, n int) error {
	v := b.([]float32)[:n]
	for i, x := range v {
		v[i] = float32(math.Tanh(float64(x)/3) * 3)
	}
	return nil
}

// Upsample2x implements Backend.
func (c *CPU) Upsample2x(out, in Band) error {
	if err := CheckUpsample(out, in); err != nil {
		return err
	}
	o, s := out.Buf.([]float32), in.Buf.([]float32)
	rows := out.Hi - out.Lo
	c.parallel(out.C*rows, 16, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			ch, y := i/rows, out.Lo+i%rows
			dst := o[out.Off(ch, y):][:out.W]
			src := s[in.Off(ch, y/2):][:in.W]
			for x, v := range src {
				dst[2*x], dst[2*x+1] = v, v
			}
		}
	})
	return nil
}

// Conv3x3 implements Backend (Winograd F(2×2, 3×3) unless Direct).
func (c *CPU) Conv3x3(out, in, res Band, h int, k *Conv, relu bool) error {
	if err := CheckConv(out, in, res, h, k); err != nil {
		return err
	}
	if c.Direct {
		c.convDirect(out, in, res, h, k, relu)
	} else {
		c.convWinograd(out, in, res, h, k, relu)
	}
	return nil
}

// convDirect is the direct convolution. The work items are (output row,
// group of four output channels); each accumulates the three taps of a
// kernel row along a whole image row at a time.
func (c *CPU) convDirect(out, in, res Band, h int, k *Conv, relu bool) {
	o, s := out.Buf.([]float32), in.Buf.([]float32)
	var r []float32
	if res.Buf != nil {
		r = res.Buf.([]float32)
	}
	rows := out.Hi - out.Lo
	groups := (k.Cout + 3) / 4
	W, cin := out.W, k.Cin
	grain := max(1, 4096/(W*cin)) // ≥ ~0.5 MFLOP per chunk
	c.parallel(rows*groups, grain, func(lo, hi int) {
		for item := lo; item < hi; item++ {
			y := out.Lo + item/groups
			co0 := 4 * (item % groups)
			nc := min(4, k.Cout-co0)
			var dst [4][]float32
			for j := range nc {
				d := o[out.Off(co0+j, y):][:W]
				if k.B != nil {
					b := k.B[co0+j]
					for x := range d {
						d[x] = b
					}
				} else {
					clear(d)
				}
				dst[j] = d
			}
			for ci := range cin {
				for ky := range 3 {
					yy := y + ky - 1
					if yy < 0 || yy >= h {
						continue
					}
					src := s[in.Off(ci, yy):][:W]
					wi := ((co0*cin+ci)*3 + ky) * 3
					ws := 9 * cin // weight stride between output channels
					if nc == 4 {
						row4(dst[0], dst[1], dst[2], dst[3], src, k.W[wi:wi+3], k.W[wi+ws:wi+ws+3], k.W[wi+2*ws:wi+2*ws+3], k.W[wi+3*ws:wi+3*ws+3])
					} else {
						for j := range nc {
							row1(dst[j], src, k.W[wi+j*ws:wi+j*ws+3])
						}
					}
				}
			}
			for j := range nc {
				d := dst[j]
				if r != nil {
					rr := r[res.Off(co0+j, y):][:W]
					for x := range d {
						d[x] += rr[x]
					}
				}
				if relu {
					for x, v := range d {
						if !(v > 0) {
							d[x] = 0
						}
					}
				}
			}
		}
	})
}

// row1 adds one kernel row w (3 taps) applied along s to o:
// o[x] += w0·s[x−1] + w1·s[x] + w2·s[x+1] (zero outside s).
func row1(o, s, w []float32) {
	n := len(s)
	o = o[:n]
	a0, a1, a2 := w[0], w[1], w[2]
	if n == 1 {
		o[0] += a1 * s[0]
		return
	}
	l, m := float32(0), s[0]
	for x := 0; x < n-1; x++ {
		r := s[x+1]
		o[x] += a0*l + a1*m + a2*r
		l, m = m, r
	}
	o[n-1] += a0*l + a1*m
}

// row4 is row1 for four output rows sharing the input row.
func row4(o0, o1, o2, o3, s, w0, w1, w2, w3 []float32) {
	n := len(s)
	if n < 2 {
		row1(o0, s, w0)
		row1(o1, s, w1)
		row1(o2, s, w2)
		row1(o3, s, w3)
		return
	}
	o0, o1, o2, o3 = o0[:n], o1[:n], o2[:n], o3[:n]
	a0, a1, a2 := w0[0], w0[1], w0[2]
	b0, b1, b2 := w1[0], w1[1], w1[2]
	c0, c1, c2 := w2[0], w2[1], w2[2]
	d0, d1, d2 := w3[0], w3[1], w3[2]
	l, m := float32(0), s[0]
	for x := 0; x < n-1; x++ {
		r := s[x+1]
		o0[x] += a0*l + a1*m + a2*r
		o1[x] += b0*l + b1*m + b2*r
		o2[x] += c0*l + c1*m + c2*r
		o3[x] += d0*l + d1*m + d2*r
		l, m = m, r
	}
	o0[n-1] += a0*l + a1*m
	o1[n-1] += b0*l + b1*m
	o2[n-1] += c0*l + c1*m
	o3[n-1] += d0*l + d1*m
}

// parallel splits [0, n) into chunks and runs fn on them (par.For over
// c.Threads, yielding between chunks when single-threaded).
func (c *CPU) parallel(n, grain int, fn func(lo, hi int)) {
	par.For(c.Threads, n, grain, c.Yield, fn)
}
