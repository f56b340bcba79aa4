package dit

import (
	"math"
)

// RMSNormOp is a per-head RMS norm with weight (LlamaRMSNorm, the qk-norm
// of Open-Sora STDiT3 and PixArt-Σ), in place on X: for r < Rows and
// g < Groups, the Dim values v at X[r·Stride + Off + g·Dim] become
// W ⊙ v / √(mean(v²) + Eps), W = Consts[Weight] ([Dim]). X is the op's only
// activation operand (read and written by this op alone).
type RMSNormOp struct {
	X, Weight        Buf
	Rows, Stride     int
	Off, Groups, Dim int
	Eps              float32
}

// RoPEOp rotates pairs of values in place (rotary position embedding with
// interleaved pairs, as lucidrains' rotary-embedding-torch rotate_half):
// for r < Rows and head h < Heads, pair i < HeadDim/2 of the head at
// X[r·Stride + Off + h·HeadDim] is (x0, x1) → (x0·c − x1·s, x1·c + x0·s)
// with (c, s) = Table[tr·HeadDim + 2i], Table[tr·HeadDim + 2i + 1] and
// tr = (r/Div) mod Mod (Div 0 means 1, Mod 0 means no wrap). The table
// carries every positional choice: which pairs turn (c = 1, s = 0 leaves a
// pair exactly as it is), along which axis and by what position (1-D
// temporal RoPE, Open-Sora 1.3's 3-axis split, windows).
type RoPEOp struct {
	X, Table          Buf
	Rows, Stride, Off int
	Heads, HeadDim    int
	Div, Mod          int
}

func (*RMSNormOp) isOp() {}
func (*RoPEOp) isOp()    {}

// rmsNormRows applies o to x with weight w (float32 as LlamaRMSNorm
// computes it: the mean of squares, rsqrt, then the weight).
func rmsNormRows(x, w []float32, o *RMSNormOp) {
	for r := 0; r < o.Rows; r++ {
		for g := 0; g < o.Groups; g++ {
			v := x[r*o.Stride+o.Off+g*o.Dim:][:o.Dim]
			var ss float64
			for _, e := range v {
				ss += float64(e) * float64(e)
			}
			inv := float32(1 / math.Sqrt(float64(float32(ss/float64(o.Dim))+o.Eps)))
			for i, e := range v {
				v[i] = w[i] * (e * inv)
			}
		}
	}
}

// ropeRows applies o to x with its table.
func ropeRows(x, table []float32, o *RoPEOp) {
	div := max(o.Div, 1)
	for r := 0; r < o.Rows; r++ {
		tr := r / div
		if o.Mod > 0 {
			tr %= o.Mod
		}
		cs := table[tr*o.HeadDim:][:o.HeadDim]
		for h := 0; h < o.Heads; h++ {
			v := x[r*o.Stride+o.Off+h*o.HeadDim:][:o.HeadDim]
			for i := 0; i+1 < o.HeadDim; i += 2 {
				c, s := cs[i], cs[i+1]
				x0, x1 := v[i], v[i+1]
				v[i] = x0*c - x1*s
				v[i+1] = x1*c + x0*s
			}
		}
	}
}

// RoPEAxis is one section of a rotary table row: pairs [Start/2,
// Start/2+len(Freqs)) of the head turn by Pos·Freqs[j].
type RoPEAxis struct {
	Start int
	Freqs []float32
}

// RoPETable writes one table row per position for RoPEOp: headDim values
// per row, each pair (cos θ, sin θ) with θ = pos[axis]·freq computed in
// float32 as rotary-embedding-torch does (positions, then the product,
// then cos/sin); pairs no axis covers stay (1, 0). pos(row) gives the
// position of every axis for that row.
func RoPETable(rows, headDim int, axes []RoPEAxis, pos func(row int, p []float32)) []float32 {
	out := make([]float32, rows*headDim)
	p := make([]float32, len(axes))
	for r := 0; r < rows; r++ {
		row := out[r*headDim:][:headDim]
		for i := 0; i+1 < headDim; i += 2 {
			row[i], row[i+1] = 1, 0
		}
		pos(r, p)
		for a, ax := range axes {
			for j, f := range ax.Freqs {
				th := p[a] * f
				k := ax.Start + 2*j
				row[k] = float32(math.Cos(float64(th)))
				row[k+1] = float32(math.Sin(float64(th)))
			}
		}
	}
	return out
}
