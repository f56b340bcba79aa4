// Package simd is the page's WebAssembly SIMD matmul kernel. Go emits no
// wasm SIMD, so this package writes a tiny module by hand (Module: the
// bytes, built in Go at start-up, no toolchain) whose one function runs
// the register tiles of kernels' panel product with 128-bit vectors, and
// (in the js build) instantiates it on Go's own memory, so it reads the
// activations and the packed panels where Go keeps them and writes the
// output in place; kernels.SetTileKernel plugs it in, the Go tiles remain
// the fallback (no SIMD in the browser, partial panels, leftover rows).
package simd

import "encoding/binary"

// Options shape the emitted matmul tile.
type Options struct {
	// Relaxed uses f32x4.relaxed_madd (one fused or unfused multiply-add,
	// the engine's choice) instead of f32x4.mul then f32x4.add, which
	// round like the Go tiles (the same sums in the same order: identical
	// results).
	Relaxed bool
	// Rows is the register tile's height (4 or 6 rows × 8 columns).
	Rows int
}

// The kernel: tiles(y, ldy, x, ldx, rows, kw, panel) with byte addresses
// and byte strides; for i < rows (a multiple of Options.Rows) and j < 32:
// y[i][j] += Σ_{k<kw} x[i][k]·panel[k][j], panel rows 128 bytes apart (the
// kernels' packed panel of 32 columns), kw ≥ 1. Each output element is a
// sequential sum over k added to y once, as the Go tiles do.
const (
	pY = iota
	pLdy
	pX
	pLdx
	pRows
	pKw
	pPanel
	nParams
)

// Exports of the module, in order, with their signatures (i: i32, f: f32).
var exports = []struct {
	name        string
	params, ret string
	body        func(o Options) []byte
}{
	{"tiles", "iiiiiii", "", func(o Options) []byte { return kernelBody(o.Rows, o.Relaxed) }},
	{"gelu2d", "iiii", "", geluBody},
	{"softmaxRows", "iiiif", "", softmaxBody},
	{"gemvBF16", "iiiiiiii", "", func(Options) []byte { return gemvBody(true) }},
	{"gemvF32", "iiiiiiii", "", func(Options) []byte { return gemvBody(false) }},
	{"packBF16", "iiiii", "", func(Options) []byte { return packBody(true) }},
	{"packF32", "iiiii", "", func(Options) []byte { return packBody(false) }},
}

// Module returns the wasm binary: it imports env.mem (a memory) and
// exports tiles (see above), gelu2d, softmaxRows, gemvBF16, gemvF32,
// packBF16 and packF32 (emit_vec.go).
func Module(o Options) []byte {
	if o.Rows != 6 {
		o.Rows = 4
	}
	var m []byte
	m = append(m, 0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00)
	vt := map[byte]byte{'i': 0x7f, 'f': 0x7d}
	typ := []byte{byte(len(exports))}
	for _, e := range exports {
		typ = append(typ, 0x60, byte(len(e.params)))
		for _, p := range []byte(e.params) {
			typ = append(typ, vt[p])
		}
		typ = append(typ, byte(len(e.ret)))
		for _, p := range []byte(e.ret) {
			typ = append(typ, vt[p])
		}
	}
	m = section(m, 1, typ)
	// import env.mem: memory, min 0, no max
	imp := []byte{0x01}
	imp = appendName(imp, "env")
	imp = appendName(imp, "mem")
	imp = append(imp, 0x02, 0x00, 0x00)
	m = section(m, 2, imp)
	fn := []byte{byte(len(exports))}
	exp := []byte{byte(len(exports))}
	code := []byte{byte(len(exports))}
	for i, e := range exports {
		fn = append(fn, byte(i))
		exp = appendName(exp, e.name)
		exp = append(exp, 0x00, byte(i))
		body := e.body(o)
		code = appendU32(code, uint32(len(body)))
		code = append(code, body...)
	}
	m = section(m, 3, fn)
	m = section(m, 7, exp)
	m = section(m, 10, code)
	return m
}

// Local indices after the parameters.
type locals struct {
	i, k, g, xp, bp, yp int // i32: row, step, column group, x/panel/y pointers
	xs                  int // i32 × R: the tile's row pointers (moving with k)
	acc                 int // v128 × 2R
	b0, b1, a           int // v128
	count               int // i32 locals
}

func kernelBody(R int, relaxed bool) []byte {
	var l locals
	n := nParams
	next := func(c int) int { v := n; n += c; return v }
	l.i, l.k, l.g, l.xp, l.bp, l.yp = next(1), next(1), next(1), next(1), next(1), next(1)
	l.xs = next(R)
	nI32 := n - nParams
	l.acc = next(2 * R)
	l.b0, l.b1, l.a = next(1), next(1), next(1)
	nV128 := n - nParams - nI32

	var c code
	// local declarations
	c.b = append(c.b, 0x02)
	c.b = appendU32(c.b, uint32(nI32))
	c.b = append(c.b, 0x7f)
	c.b = appendU32(c.b, uint32(nV128))
	c.b = append(c.b, 0x7b)

	// for i = 0; i < rows; i += R
	c.i32const(0)
	c.set(l.i)
	c.block()
	c.loop()
	c.get(l.i)
	c.get(pRows)
	c.op(0x4e) // i32.ge_s
	c.brIf(1)
	// xp = x + i·ldx
	c.get(pX)
	c.get(l.i)
	c.get(pLdx)
	c.op(0x6c) // i32.mul
	c.op(0x6a) // i32.add
	c.set(l.xp)
	// yp = y + i·ldy
	c.get(pY)
	c.get(l.i)
	c.get(pLdy)
	c.op(0x6c)
	c.op(0x6a)
	c.set(l.yp)
	// for g = 0; g < 128; g += 32 (column groups of 8)
	c.i32const(0)
	c.set(l.g)
	c.loop()
	{
		for r := 0; r < R; r++ {
			c.get(l.xp)
			if r > 0 {
				c.get(pLdx)
				c.i32const(int32(r))
				c.op(0x6c)
				c.op(0x6a)
			}
			c.set(l.xs + r)
		}
		for a := 0; a < 2*R; a++ {
			c.v128zero()
			c.set(l.acc + a)
		}
		c.get(pPanel)
		c.get(l.g)
		c.op(0x6a)
		c.set(l.bp)
		c.get(pKw)
		c.set(l.k)
		c.loop()
		{
			c.get(l.bp)
			c.simdMem(0x00, 0) // v128.load
			c.set(l.b0)
			c.get(l.bp)
			c.simdMem(0x00, 16)
			c.set(l.b1)
			for r := 0; r < R; r++ {
				c.get(l.xs + r)
				c.simdMem(0x09, 0) // v128.load32_splat
				c.set(l.a)
				for h := 0; h < 2; h++ {
					acc := l.acc + 2*r + h
					b := l.b0
					if h == 1 {
						b = l.b1
					}
					if relaxed {
						c.get(l.a)
						c.get(b)
						c.get(acc)
						c.simd(0x105) // f32x4.relaxed_madd: a·b + acc
					} else {
						c.get(acc)
						c.get(l.a)
						c.get(b)
						c.simd(0xe6) // f32x4.mul
						c.simd(0xe4) // f32x4.add
					}
					c.set(acc)
				}
				c.get(l.xs + r)
				c.i32const(4)
				c.op(0x6a)
				c.set(l.xs + r)
			}
			c.get(l.bp)
			c.i32const(128)
			c.op(0x6a)
			c.set(l.bp)
			c.get(l.k)
			c.i32const(1)
			c.op(0x6b) // i32.sub
			c.tee(l.k)
			c.brIf(0)
		}
		c.end()
		// y rows += acc
		for r := 0; r < R; r++ {
			for h := 0; h < 2; h++ {
				// address: yp + r·ldy + g + 16h
				addr := func() {
					c.get(l.yp)
					if r > 0 {
						c.get(pLdy)
						c.i32const(int32(r))
						c.op(0x6c)
						c.op(0x6a)
					}
					c.get(l.g)
					c.op(0x6a)
				}
				addr()
				addr()
				c.simdMem(0x00, uint32(16*h))
				c.get(l.acc + 2*r + h)
				c.simd(0xe4)
				c.simdMem(0x0b, uint32(16*h)) // v128.store
			}
		}
		c.get(l.g)
		c.i32const(32)
		c.op(0x6a)
		c.tee(l.g)
		c.i32const(128)
		c.op(0x48) // i32.lt_s
		c.brIf(0)
	}
	c.end()
	c.get(l.i)
	c.i32const(int32(R))
	c.op(0x6a)
	c.set(l.i)
	c.br(0)
	c.end() // loop
	c.end() // block
	c.end() // function
	return c.b
}

type code struct{ b []byte }

func (c *code) op(o byte)             { c.b = append(c.b, o) }
func (c *code) get(i int)             { c.b = appendU32(append(c.b, 0x20), uint32(i)) }
func (c *code) set(i int)             { c.b = appendU32(append(c.b, 0x21), uint32(i)) }
func (c *code) tee(i int)             { c.b = appendU32(append(c.b, 0x22), uint32(i)) }
func (c *code) i32const(v int32)      { c.b = appendS32(append(c.b, 0x41), v) }
func (c *code) block()                { c.b = append(c.b, 0x02, 0x40) }
func (c *code) loop()                 { c.b = append(c.b, 0x03, 0x40) }
func (c *code) end()                  { c.b = append(c.b, 0x0b) }
func (c *code) br(d uint32)           { c.b = appendU32(append(c.b, 0x0c), d) }
func (c *code) brIf(d uint32)         { c.b = appendU32(append(c.b, 0x0d), d) }
func (c *code) simd(o uint32)         { c.b = appendU32(append(c.b, 0xfd), o) }
func (c *code) simdMem(o, off uint32) { c.simd(o); c.b = appendU32(append(c.b, 2), off) } // align 2^2
func (c *code) v128zero() {
	c.simd(0x0c) // v128.const
	c.b = append(c.b, make([]byte, 16)...)
}

func section(m []byte, id byte, body []byte) []byte {
	m = append(m, id)
	m = appendU32(m, uint32(len(body)))
	return append(m, body...)
}

func appendName(b []byte, s string) []byte {
	b = appendU32(b, uint32(len(s)))
	return append(b, s...)
}

func appendU32(b []byte, v uint32) []byte { return binary.AppendUvarint(b, uint64(v)) }

func appendS32(b []byte, v int32) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}
