package kernels

import (
	"fmt"
	"math"
	"strings"
	"sync"

	"github.com/ditkit/ditkit/core/tensor"
)

// Precision is the precision of the activations entering the CPU
// backend's matmuls (Linear, LinearGELU). Accumulation is always fp32, and
// everything outside those matmuls (LayerNorm, softmax, attention's own
// products, residual adds, GELU) always runs in fp32.
type Precision int

const (
	// FP32: activations stay fp32; weights are widened from their stored
	// dtype. The default.
	FP32 Precision = iota
	// BF16: activations are rounded to bf16 (round to nearest even) and
	// multiplied with bf16 weights, products accumulated in fp32. Kernels
	// (BF16Kernel): AMX-BF16 tiles (TDPBF16PS, Linux asks the kernel for
	// tile permission on first use) where the CPU has them; else VDPBF16PS
	// (AVX512_BF16) where it retires more flops than the fp32 FMAs
	// (BF16DotRate, measured once); else the bf16-rounded operands on the
	// fp32 FMA kernels (bf16·bf16 products are exact in fp32, so only the
	// summation order differs), as on CPUs without AVX512_BF16 and wasm.
	// Weights not stored as BF16 are rounded to bf16 as they are packed
	// (the AMX path that reads weight rows directly wants BF16 weights);
	// Model.ConvertWeights does that once at load. On the Xeon measured for
	// the README, VDPBF16PS retires one instruction every 2.2–2.8 cycles
	// against two FMAs a cycle, so bf16 runs on the FMA kernels there.
	BF16
)

func (p Precision) String() string {
	switch p {
	case FP32:
		return "fp32"
	case BF16:
		return "bf16"
	}
	return fmt.Sprintf("Precision(%d)", int(p))
}

// ParsePrecision reads "fp32" (or "") and "bf16".
func ParsePrecision(s string) (Precision, error) {
	switch strings.ToLower(s) {
	case "", "fp32", "f32", "float32":
		return FP32, nil
	case "bf16", "bfloat16":
		return BF16, nil
	}
	return FP32, fmt.Errorf("precision %q: want fp32 or bf16", s)
}

// BF16Native reports whether the AVX512_BF16 VDPBF16PS kernel can run
// here (CPUID leaf 7 subleaf 1, EAX bit 5, and not SetPortableKernels(true));
// BF16Kernel says whether Precision BF16 uses it.
func BF16Native() bool { return bf16KernelOn() }

// BF16Kernel names the kernel Precision BF16's matmuls run on: "amx"
// (AMX-BF16 tiles), "vdpbf16ps" (AVX512_BF16, where it outruns the fp32
// FMAs: see BF16DotRate) or "fp32-fma" (the bf16-rounded operands on the
// fp32 kernels: exact products, fp32 sums, the same results up to the
// summation order; on wasm and CPUs without AVX512_BF16 too).
func BF16Kernel() string {
	switch {
	case amxOn():
		return "amx"
	case useVDPBF16PS():
		return "vdpbf16ps"
	}
	return "fp32-fma"
}

// BF16DotRate is VDPBF16PS's fp32-flop throughput over the FMA's on this
// core, as measured once (0 without AVX512_BF16).
func BF16DotRate() float64 { return bf16DotRate() }

// bf16Force is SetBF16Kernel's choice ("" = by the measured rate).
var bf16Force string

// SetBF16Kernel forces the non-AMX kernel of Precision BF16: "vdpbf16ps"
// (where the CPU has it), "fp32-fma", or "" to choose by BF16DotRate (the
// default), for tests and benchmarks comparing them.
func SetBF16Kernel(k string) { bf16Force = k }

// useVDPBF16PS reports whether the non-AMX bf16 matmuls run on VDPBF16PS.
func useVDPBF16PS() bool {
	if !bf16KernelOn() {
		return false
	}
	switch bf16Force {
	case "vdpbf16ps":
		return true
	case "fp32-fma":
		return false
	}
	return bf16DotRate() > 1.1
}

// BF16AMX reports whether Precision BF16 runs its matmuls on AMX-BF16
// tiles (the CPU has them and Linux granted tile data to the process).
func BF16AMX() bool { return amxOn() }

// SetAMX switches the AMX tiles of Precision BF16 on (the default) or off,
// for tests and benchmarks comparing them with the VDPBF16PS kernel.
func SetAMX(on bool) { setAMX(on) }

// roundBF16 rounds f to the nearest bf16 (ties to even), NaN stays NaN.
func roundBF16(f float32) uint16 {
	u := math.Float32bits(f)
	if u&0x7fffffff > 0x7f800000 {
		return uint16(u>>16) | 0x40
	}
	return uint16((u + (u>>16)&1 + 0x7fff) >> 16)
}

func bf16f(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// roundSliceBF16 rounds every value of v to a bf16 value in place.
func roundSliceBF16(v []float32) {
	for i, f := range v {
		v[i] = bf16f(roundBF16(f))
	}
}

var (
	u16Pool = sync.Pool{New: func() any { return new([]uint16) }}
	f32Pool = sync.Pool{New: func() any { return new([]float32) }}
	u32Pool = sync.Pool{New: func() any { return new([]uint32) }}
	// bf16PanelPool holds kc/2 pairs × nr columns of packed bf16 pairs.
	bf16PanelPool = sync.Pool{New: func() any { b := make([]uint32, kc/2*nr); return &b }}
	_             = [1]struct{}{}[kc%32] // the AMX tiles need kc to be a multiple of 32
)

// linearBF16 is CPU.linear at Precision BF16.
func (c *CPU) linearBF16(y, x []float32, m int, w *Weight, b []float32, gelu bool) {
	n, k := w.Rows, w.Cols
	roundW := w.DType != tensor.BF16
	if m <= gemvRows || !bf16KernelOn() || (!amxOn() && !useVDPBF16PS()) {
		// Emulation (and the few-row products, which are bound by reading
		// the weights): x rounded to bf16 values, weights rounded as they
		// are widened, fp32 kernels. bf16·bf16 products are exact in fp32,
		// so only the summation order differs from VDPBF16PS.
		xp := f32Pool.Get().(*[]float32)
		xr := grow(*xp, m*k)
		c.parallel(m, max(1, 1<<14/k), func(lo, hi int) {
			for i, f := range x[lo*k : hi*k] {
				xr[lo*k+i] = bf16f(roundBF16(f))
			}
		})
		c.linearF32(y, xr, m, w, b, gelu, roundW)
		*xp = xr
		f32Pool.Put(xp)
		return
	}
	lo, hi := w.Held()
	if amxOn() && w.DType == tensor.BF16 && k%32 == 0 && lo%32 == 0 && (hi-lo)%32 == 0 {
		c.linearAMXRows(y, x, m, w, b, gelu)
		return
	}
	// Native: activations → bf16 rows of kp2 elements (k padded with zeros
	// to a multiple of 32, the AMX tile depth), rows padded to a multiple
	// of 8; the panels hold (even, odd) weight pairs. Full 32-row × 32-column
	// tiles run on AMX where the CPU has it, the rest on VDPBF16PS.
	kp2 := (k + 31) &^ 31
	amx := amxOn()
	m32 := 0
	if amx {
		m32 = m &^ 31
	}
	mp := (m + 7) &^ 7
	xp := u16Pool.Get().(*[]uint16)
	if cap(*xp) < mp*kp2 {
		*xp = make([]uint16, mp*kp2)
	}
	xb := (*xp)[:mp*kp2]
	c.parallel(mp, max(1, 1<<14/k), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			dst := xb[r*kp2 : (r+1)*kp2]
			if r >= m {
				clear(dst)
				continue
			}
			for i, f := range x[r*k : (r+1)*k] {
				dst[i] = roundBF16(f)
			}
			clear(dst[k:])
		}
	})
	panels := (hi - lo + nr - 1) / nr
	grain := max(1, 1<<16/(m*min(k, kc)+1))
	c.parallel(panels, grain, func(p0, p1 int) {
		pb := bf16PanelPool.Get().(*[]uint32)
		panel := *pb
		var tile [8 * nr]float32
		for p := p0; p < p1; p++ {
			n0 := lo + p*nr
			nw := min(nr, hi-n0)
			initColumns(y, b, m, n, n0, nw)
			for k0 := 0; k0 < k; k0 += kc {
				kw := min(kc, k-k0)
				kp := (kw + 1) / 2
				packPanelBF16(panel, w, n0, nw, k0, kw)
				pp := panel[:kp*nr]
				i := 0
				if m32 > 0 && nw == nr {
					ksteps := (kw + 31) / 32
					clear(panel[kp*nr : 16*ksteps*nr])
					amxTiles(xb[k0:], kp2, m32/32, panel, ksteps, y[n0:], n)
					i = m32
				}
				for ; i < m; i += 8 {
					a := xb[i*kp2+k0:]
					if i+8 <= m && nw == nr {
						bf16Tile(a, kp2, pp, kp, y[i*n+n0:], n)
						continue
					}
					bf16Tile(a, kp2, pp, kp, tile[:], 0)
					for r := 0; r < 8 && i+r < m; r++ {
						row := y[(i+r)*n+n0:][:nw]
						for j, v := range tile[r*nr : r*nr+nw] {
							row[j] += v
						}
					}
				}
			}
			if gelu {
				for i := 0; i < m; i++ {
					geluTanh(y[i*n+n0 : i*n+n0+nw])
				}
			}
		}
		bf16PanelPool.Put(pb)
	})
	u16Pool.Put(xp)
}

// linearAMXRows is the AMX product for bf16 weights with K and N multiples
// of 32: the weight rows are the tiles' A operand as stored (no packing);
// the activations are converted once into pair rows xt[q*mp+t] = (x[t,2q],
// x[t,2q+1]) for tokens padded to a multiple of 32.
func (c *CPU) linearAMXRows(y, x []float32, m int, w *Weight, b []float32, gelu bool) {
	n, k := w.Rows, w.Cols
	mp := (m + 31) &^ 31
	kq := k / 2
	xp := u32Pool.Get().(*[]uint32)
	if cap(*xp) < kq*mp {
		*xp = make([]uint32, kq*mp)
	}
	xt := (*xp)[:kq*mp]
	c.parallel(mp/32, 1, func(lo, hi int) {
		for t := lo * 32; t < hi*32; t++ {
			if t >= m {
				for q := 0; q < kq; q++ {
					xt[q*mp+t] = 0
				}
				continue
			}
			xr := x[t*k : (t+1)*k]
			for q := 0; q < kq; q++ {
				xt[q*mp+t] = uint32(roundBF16(xr[2*q])) | uint32(roundBF16(xr[2*q+1]))<<16
			}
		}
	})
	lo, hi := w.Held()
	panels := (hi - lo) / 32
	grain := max(1, 1<<16/(m*k+1))
	c.parallel(panels, grain, func(p0, p1 int) {
		var out [32 * 32]float32
		for p := p0; p < p1; p++ {
			n0 := lo + p*32
			wr := w.U16[w.offset(n0, 0):]
			for m0 := 0; m0 < m; m0 += 32 {
				amxRows(wr, k, xt[m0:], mp, k/32, &out)
				for t := m0; t < min(m, m0+32); t++ {
					row := y[t*n+n0 : t*n+n0+32]
					for r := range row {
						v := out[r*32+t-m0]
						if b != nil {
							v += b[n0+r]
						}
						row[r] = v
					}
					if gelu {
						geluTanh(row)
					}
				}
			}
		}
	})
	u32Pool.Put(xp)
}

// packPanelBF16 writes panel[q*nr+j] = the bf16 pair (W[n0+j, k0+2q],
// W[n0+j, k0+2q+1]) (even element in the low half) for q < ⌈kw/2⌉, zero
// past kw and for j ≥ nw; F32/F16 weights are rounded to bf16.
func packPanelBF16(panel []uint32, w *Weight, n0, nw, k0, kw int) {
	kp := (kw + 1) / 2
	j := 0
	if w.DType == tensor.BF16 {
		// Four weight rows at a time: each pair row gets 16 contiguous bytes.
		c := w.Cols
		kw2 := kw &^ 1
		for ; j+4 <= nw; j += 4 {
			off := w.offset(n0+j, k0)
			r0, r1, r2, r3 := w.U16[off:off+kw], w.U16[off+c:off+c+kw], w.U16[off+2*c:off+2*c+kw], w.U16[off+3*c:off+3*c+kw]
			for kk := 0; kk < kw2; kk += 2 {
				q := kk / 2
				p := panel[q*nr+j : q*nr+j+4 : q*nr+j+4]
				p[0] = uint32(r0[kk]) | uint32(r0[kk+1])<<16
				p[1] = uint32(r1[kk]) | uint32(r1[kk+1])<<16
				p[2] = uint32(r2[kk]) | uint32(r2[kk+1])<<16
				p[3] = uint32(r3[kk]) | uint32(r3[kk+1])<<16
			}
			if kw2 < kw {
				p := panel[(kp-1)*nr+j : (kp-1)*nr+j+4 : (kp-1)*nr+j+4]
				p[0], p[1], p[2], p[3] = uint32(r0[kw2]), uint32(r1[kw2]), uint32(r2[kw2]), uint32(r3[kw2])
			}
		}
	}
	var tmp [kc]float32
	for ; j < nr; j++ {
		if j >= nw {
			for q := 0; q < kp; q++ {
				panel[q*nr+j] = 0
			}
			continue
		}
		off := w.offset(n0+j, k0)
		if w.DType == tensor.BF16 {
			r := w.U16[off : off+kw]
			q := 0
			for ; 2*q+1 < kw; q++ {
				panel[q*nr+j] = uint32(r[2*q]) | uint32(r[2*q+1])<<16
			}
			if q < kp {
				panel[q*nr+j] = uint32(r[2*q])
			}
			continue
		}
		t := tmp[:kw]
		w.Widen(off, t)
		q := 0
		for ; 2*q+1 < kw; q++ {
			panel[q*nr+j] = uint32(roundBF16(t[2*q])) | uint32(roundBF16(t[2*q+1]))<<16
		}
		if q < kp {
			panel[q*nr+j] = uint32(roundBF16(t[2*q]))
		}
	}
}

// bf16TileGeneric is what kernBF16 computes, in Go: for each pair the odd
// product is added first, then the even one, each rounded to fp32 as
// VDPBF16PS does (bf16 products are exact in fp32, so a*b+c rounds once).
// Denormal inputs and results are not flushed here (VDPBF16PS flushes).
func bf16TileGeneric(a []uint16, lda int, b []uint32, kp int, c []float32, ldc int) {
	for r := 0; r < 8; r++ {
		var acc [nr]float32
		ar := a[r*lda : r*lda+2*kp]
		for q := 0; q < kp; q++ {
			a0, a1 := bf16f(ar[2*q]), bf16f(ar[2*q+1])
			bq := b[q*nr : q*nr+nr]
			for j, p := range bq {
				acc[j] += a1 * bf16f(uint16(p>>16))
				acc[j] += a0 * bf16f(uint16(p))
			}
		}
		if ldc == 0 {
			copy(c[r*nr:r*nr+nr], acc[:])
			continue
		}
		row := c[r*ldc : r*ldc+nr]
		for j := range row {
			row[j] += acc[j]
		}
	}
}
