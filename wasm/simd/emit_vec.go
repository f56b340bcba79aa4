package simd

import (
	"encoding/binary"
	"math"
)

// The element-wise kernels and the few-row gemv, beside the matmul tile:
// Go's scalar float loops in wasm (a float32 exp is ~20 ns) would
// otherwise take a quarter of a forward once the tiles are vectorized.
//
//	gelu2d(p, rows, cols, stride): GELU (tanh) in place over rows of cols
//	    floats (a multiple of 4), stride bytes apart
//	softmaxRows(p, rows, n, stride, scale): each row (n floats, a multiple
//	    of 4) replaced by softmax(scale·row)
//	gemvBF16/gemvF32(w, ldw, rows, k, x, ldx, m, out): out[r·8+i] =
//	    Σ_{kk<k} W[r,kk]·x[i,kk] for r < rows, i < m, k a multiple of 8
//	    (bf16 or f32 weights, row strides in bytes)
//
// exp is Cephes expf's reduction and polynomial (as the Go and AVX-512
// paths), scaled by adding n to the exponent bits, on arguments clamped to
// [-87, 88.38] (results stay normal).

// fn is a function body under construction: parameters first, then the
// locals declared in three groups (i32, f32, v128).
type fn struct {
	code
	params           int
	nI32, nF32, nV   int
	i32s, f32s, v128 []int
}

func newFn(params, i32s, f32s, v128s int) *fn {
	f := &fn{params: params, nI32: i32s, nF32: f32s, nV: v128s}
	for i := 0; i < i32s; i++ {
		f.i32s = append(f.i32s, params+i)
	}
	for i := 0; i < f32s; i++ {
		f.f32s = append(f.f32s, params+i32s+i)
	}
	for i := 0; i < v128s; i++ {
		f.v128 = append(f.v128, params+i32s+f32s+i)
	}
	groups := 0
	for _, n := range []int{i32s, f32s, v128s} {
		if n > 0 {
			groups++
		}
	}
	f.b = append(f.b, byte(groups))
	for i, n := range []int{i32s, f32s, v128s} {
		if n > 0 {
			f.b = appendU32(f.b, uint32(n))
			f.b = append(f.b, []byte{0x7f, 0x7d, 0x7b}[i])
		}
	}
	return f
}

func (f *fn) finish() []byte { f.end(); return f.b }

func (c *code) f32const(v float32) {
	c.b = binary.LittleEndian.AppendUint32(append(c.b, 0x43), math.Float32bits(v))
}

// splat sets v128 local l to four copies of v.
func (c *code) splat(l int, v float32) {
	c.f32const(v)
	c.simd(0x13) // f32x4.splat
	c.set(l)
}

func (c *code) lane(i byte) { c.simd(0x1f); c.b = append(c.b, i) } // f32x4.extract_lane

// Wasm SIMD opcodes used below.
const (
	f32x4Nearest  = 0x6a
	i32x4ExtLoU   = 0xa9
	i32x4ExtHiU   = 0xaa
	i32x4Shl      = 0xab
	i32x4Add      = 0xae
	f32x4Add      = 0xe4
	f32x4Sub      = 0xe5
	f32x4Mul      = 0xe6
	f32x4Div      = 0xe7
	f32x4Min      = 0xe8
	f32x4Max      = 0xe9
	i32x4TruncSat = 0xf8
)

// expConsts are the v128 locals exp reads.
type expConsts struct {
	log2e, c1, c2, one, hi, lo int
	p                          [6]int
}

func (f *fn) expConsts(ls []int) expConsts {
	e := expConsts{log2e: ls[0], c1: ls[1], c2: ls[2], one: ls[3], hi: ls[4], lo: ls[5]}
	f.splat(e.log2e, 1.44269504088896341)
	f.splat(e.c1, 0.693359375)
	f.splat(e.c2, -2.12194440e-4)
	f.splat(e.one, 1)
	f.splat(e.hi, 88.3762626647949)
	f.splat(e.lo, -87)
	for i, v := range []float32{1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1} {
		e.p[i] = ls[6+i]
		f.splat(e.p[i], v)
	}
	return e
}

// exp replaces v128 local x by exp(x), with scratch locals n, z, y.
func (f *fn) exp(e expConsts, x, n, z, y int) {
	f.get(x)
	f.get(e.hi)
	f.simd(f32x4Min)
	f.get(e.lo)
	f.simd(f32x4Max)
	f.tee(x)
	f.get(e.log2e)
	f.simd(f32x4Mul)
	f.simd(f32x4Nearest)
	f.set(n)
	for _, c := range []int{e.c1, e.c2} {
		f.get(x)
		f.get(n)
		f.get(c)
		f.simd(f32x4Mul)
		f.simd(f32x4Sub)
		f.set(x)
	}
	f.get(x)
	f.get(x)
	f.simd(f32x4Mul)
	f.set(z)
	f.get(e.p[0])
	for _, p := range e.p[1:] {
		f.get(x)
		f.simd(f32x4Mul)
		f.get(p)
		f.simd(f32x4Add)
	}
	f.get(z)
	f.simd(f32x4Mul)
	f.get(x)
	f.simd(f32x4Add)
	f.get(e.one)
	f.simd(f32x4Add)
	f.set(y)
	// y · 2^n: add n to the exponent field.
	f.get(y)
	f.get(n)
	f.simd(i32x4TruncSat)
	f.i32const(23)
	f.simd(i32x4Shl)
	f.simd(i32x4Add)
	f.set(x)
}

// loopRows emits: for row := 0; row < rows; row++ { q = p + row·stride; body }.
func (f *fn) loopRows(p, rows, stride, row, q int, body func()) {
	f.i32const(0)
	f.set(row)
	f.block()
	f.loop()
	f.get(row)
	f.get(rows)
	f.op(0x4e) // i32.ge_s
	f.brIf(1)
	f.get(p)
	f.get(row)
	f.get(stride)
	f.op(0x6c)
	f.op(0x6a)
	f.set(q)
	body()
	f.get(row)
	f.i32const(1)
	f.op(0x6a)
	f.set(row)
	f.br(0)
	f.end()
	f.end()
}

// loopVec emits: for j := 0; j < n; j += step (bytes q advancing by
// 4·step) { body } (n > 0 assumed a multiple of step; nothing when n ≤ 0).
func (f *fn) loopVec(n, j, step int, body func()) {
	f.i32const(0)
	f.set(j)
	f.block()
	f.loop()
	f.get(j)
	f.get(n)
	f.op(0x4e)
	f.brIf(1)
	body()
	f.get(j)
	f.i32const(int32(step))
	f.op(0x6a)
	f.set(j)
	f.br(0)
	f.end()
	f.end()
}

// addr pushes base + 4·j (+ off handled by the memarg).
func (f *fn) addr(base, j int) {
	f.get(base)
	f.get(j)
	f.i32const(2)
	f.op(0x74) // i32.shl
	f.op(0x6a)
}

func geluBody(Options) []byte {
	const p, rows, cols, stride = 0, 1, 2, 3
	f := newFn(4, 3, 0, 19)
	row, q, j := f.i32s[0], f.i32s[1], f.i32s[2]
	e := f.expConsts(f.v128[:12])
	u, x, n, z, y, k1, k2 := f.v128[12], f.v128[13], f.v128[14], f.v128[15], f.v128[16], f.v128[17], f.v128[18]
	f.splat(k1, -2*0.7978845608028654)
	f.splat(k2, -2*0.7978845608028654*0.044715)
	f.loopRows(p, rows, stride, row, q, func() {
		f.loopVec(cols, j, 4, func() {
			f.addr(q, j)
			f.simdMem(0x00, 0)
			f.tee(u)
			f.get(u)
			f.get(u)
			f.simd(f32x4Mul)
			f.get(k2)
			f.simd(f32x4Mul)
			f.get(k1)
			f.simd(f32x4Add)
			f.simd(f32x4Mul)
			f.set(x) // −2√(2/π)(u + 0.044715u³)
			f.exp(e, x, n, z, y)
			f.addr(q, j)
			f.get(u)
			f.get(x)
			f.get(e.one)
			f.simd(f32x4Add)
			f.simd(f32x4Div)
			f.simdMem(0x0b, 0)
		})
	})
	return f.finish()
}

// hreduce leaves op(lane0, lane1, lane2, lane3) of v128 local v (an f32)
// on the stack: op is a scalar f32 opcode.
func (f *fn) hreduce(v int, op byte) {
	f.get(v)
	f.lane(0)
	f.get(v)
	f.lane(1)
	f.op(op)
	f.get(v)
	f.lane(2)
	f.get(v)
	f.lane(3)
	f.op(op)
	f.op(op)
}

func softmaxBody(Options) []byte {
	const p, rows, n, stride, scale = 0, 1, 2, 3, 4
	f := newFn(5, 3, 0, 19)
	row, q, j := f.i32s[0], f.i32s[1], f.i32s[2]
	e := f.expConsts(f.v128[:12])
	x, t1, t2, t3, acc, sc, mx := f.v128[12], f.v128[13], f.v128[14], f.v128[15], f.v128[16], f.v128[17], f.v128[18]
	f.get(scale)
	f.simd(0x13)
	f.set(sc)
	f.loopRows(p, rows, stride, row, q, func() {
		f.splat(acc, float32(math.Inf(-1)))
		f.loopVec(n, j, 4, func() { // scale, and the row's max
			f.addr(q, j)
			f.addr(q, j)
			f.simdMem(0x00, 0)
			f.get(sc)
			f.simd(f32x4Mul)
			f.tee(x)
			f.simdMem(0x0b, 0)
			f.get(acc)
			f.get(x)
			f.simd(f32x4Max)
			f.set(acc)
		})
		f.hreduce(acc, 0x97) // f32.max
		f.simd(0x13)
		f.set(mx)
		f.splat(acc, 0)
		f.loopVec(n, j, 4, func() { // exp(x − max), and their sum
			f.addr(q, j)
			f.simdMem(0x00, 0)
			f.get(mx)
			f.simd(f32x4Sub)
			f.set(x)
			f.exp(e, x, t1, t2, t3)
			f.addr(q, j)
			f.get(x)
			f.simdMem(0x0b, 0)
			f.get(acc)
			f.get(x)
			f.simd(f32x4Add)
			f.set(acc)
		})
		f.f32const(1)
		f.hreduce(acc, 0x92) // f32.add
		f.op(0x95)           // f32.div: 1/sum
		f.simd(0x13)
		f.set(acc)
		f.loopVec(n, j, 4, func() {
			f.addr(q, j)
			f.addr(q, j)
			f.simdMem(0x00, 0)
			f.get(acc)
			f.simd(f32x4Mul)
			f.simdMem(0x0b, 0)
		})
	})
	return f.finish()
}

func gemvBody(bf16 bool) []byte {
	const w, ldw, rows, k, x, ldx, m, out = 0, 1, 2, 3, 4, 5, 6, 7
	f := newFn(8, 5, 0, 3)
	r, i, kk, wp, xp := f.i32s[0], f.i32s[1], f.i32s[2], f.i32s[3], f.i32s[4]
	a0, a1, wv := f.v128[0], f.v128[1], f.v128[2]
	f.loopRows(w, rows, ldw, r, wp, func() {
		f.loopRows(x, m, ldx, i, xp, func() {
			f.v128zero()
			f.set(a0)
			f.v128zero()
			f.set(a1)
			f.loopVec(k, kk, 8, func() {
				if bf16 {
					f.get(wp)
					f.get(kk)
					f.i32const(1)
					f.op(0x74)
					f.op(0x6a)
					f.simdMem(0x00, 0)
					f.set(wv)
				}
				for h := 0; h < 2; h++ {
					acc := []int{a0, a1}[h]
					f.get(acc)
					if bf16 {
						f.get(wv)
						f.simd([]uint32{i32x4ExtLoU, i32x4ExtHiU}[h])
						f.i32const(16)
						f.simd(i32x4Shl)
					} else {
						f.addr(wp, kk)
						f.simdMem(0x00, uint32(16*h))
					}
					f.addr(xp, kk)
					f.simdMem(0x00, uint32(16*h))
					f.simd(f32x4Mul)
					f.simd(f32x4Add)
					f.set(acc)
				}
			})
			// out[(r·8+i)·4] = Σ lanes
			f.get(out)
			f.get(r)
			f.i32const(3)
			f.op(0x74)
			f.get(i)
			f.op(0x6a)
			f.i32const(2)
			f.op(0x74)
			f.op(0x6a)
			f.get(a0)
			f.get(a1)
			f.simd(f32x4Add)
			f.set(a0)
			f.hreduce(a0, 0x92)
			f.b = append(f.b, 0x38, 2, 0) // f32.store align 4, offset 0
		})
	})
	return f.finish()
}

// shuffle emits i8x16.shuffle with the lanes of 4-byte elements idx (0–3
// from the first operand, 4–7 from the second).
func (c *code) shuffle(idx [4]byte) {
	c.simd(0x0d)
	for _, e := range idx {
		for b := byte(0); b < 4; b++ {
			c.b = append(c.b, 4*e+b)
		}
	}
}

// transpose4 transposes the 4×4 block in v128 locals r[0..3] (row i in
// r[i]) into c[0..3] (column j in c[j]), with t[0..3] as scratch.
func (f *fn) transpose4(r, t, c [4]int) {
	pair := func(a, b, dst int, idx [4]byte) {
		f.get(a)
		f.get(b)
		f.shuffle(idx)
		f.set(dst)
	}
	pair(r[0], r[1], t[0], [4]byte{0, 4, 1, 5})
	pair(r[0], r[1], t[1], [4]byte{2, 6, 3, 7})
	pair(r[2], r[3], t[2], [4]byte{0, 4, 1, 5})
	pair(r[2], r[3], t[3], [4]byte{2, 6, 3, 7})
	pair(t[0], t[2], c[0], [4]byte{0, 1, 4, 5})
	pair(t[0], t[2], c[1], [4]byte{2, 3, 6, 7})
	pair(t[1], t[3], c[2], [4]byte{0, 1, 4, 5})
	pair(t[1], t[3], c[3], [4]byte{2, 3, 6, 7})
}

// packBody writes pack{BF16,F32}(dst, src, ld, rows, kw): for rows j <
// rows (a multiple of 4) of src (ld bytes apart) and columns kk < kw (a
// multiple of 8), dst[kk·32 + j] = the element widened to f32: the
// kernels' panel layout (dst rows 128 bytes apart).
func packBody(bf16 bool) []byte {
	const dst, src, ld, rows, kw = 0, 1, 2, 3, 4
	f := newFn(5, 4, 0, 20)
	j, kk, sp, dp := f.i32s[0], f.i32s[1], f.i32s[2], f.i32s[3]
	var in [8]int // row r's columns kk..kk+3 in in[r], kk+4..kk+7 in in[4+r]
	copy(in[:], f.v128[0:8])
	t := [4]int{f.v128[8], f.v128[9], f.v128[10], f.v128[11]}
	var out [8]int
	copy(out[:], f.v128[12:20])
	esize := int32(4)
	if bf16 {
		esize = 2
	}
	f.loopVec(rows, j, 4, func() {
		f.loopVec(kw, kk, 8, func() {
			// sp = src + j·ld + kk·esize; dp = dst + kk·128 + j·4
			f.get(src)
			f.get(j)
			f.get(ld)
			f.op(0x6c)
			f.op(0x6a)
			f.get(kk)
			f.i32const(esize)
			f.op(0x6c)
			f.op(0x6a)
			f.set(sp)
			f.get(dst)
			f.get(kk)
			f.i32const(7)
			f.op(0x74)
			f.op(0x6a)
			f.get(j)
			f.i32const(2)
			f.op(0x74)
			f.op(0x6a)
			f.set(dp)
			for r := 0; r < 4; r++ {
				row := func() {
					f.get(sp)
					if r > 0 {
						f.get(ld)
						f.i32const(int32(r))
						f.op(0x6c)
						f.op(0x6a)
					}
				}
				if bf16 {
					row()
					f.simdMem(0x00, 0)
					f.set(t[0])
					for h := 0; h < 2; h++ {
						f.get(t[0])
						f.simd([]uint32{i32x4ExtLoU, i32x4ExtHiU}[h])
						f.i32const(16)
						f.simd(i32x4Shl)
						f.set(in[4*h+r])
					}
					continue
				}
				for h := 0; h < 2; h++ {
					row()
					f.simdMem(0x00, uint32(16*h))
					f.set(in[4*h+r])
				}
			}
			for h := 0; h < 2; h++ {
				f.transpose4([4]int{in[4*h], in[4*h+1], in[4*h+2], in[4*h+3]}, t, [4]int{out[4*h], out[4*h+1], out[4*h+2], out[4*h+3]})
			}
			for c := 0; c < 8; c++ {
				f.get(dp)
				f.get(out[c])
				f.simdMem(0x0b, uint32(128*c))
			}
		})
	})
	return f.finish()
}
