package fix

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"sync"

	"github.com/ditkit/ditkit/core/quant"
	"github.com/ditkit/ditkit/core/tensor"
)

// FP8Dequant is an fp8 weight multiplied by its scale(s), as ComfyUI
// dequantizes scaled fp8 (quant.DequantizeFP8): W holds fp8 elements of
// From; Scale (nil: a scale of 1) holds one scale or one per row of the
// weight's Rows rows, as ScaleDType elements.
type FP8Dequant struct {
	W          Data
	From       tensor.DType
	Scale      Data
	ScaleDType tensor.DType
	Rows       int
	To         tensor.DType
	Sem        quant.ScaleSemantics
}

func (d FP8Dequant) Size() int64 { return d.W.Size() * int64(d.To.Size()) }
func (d FP8Dequant) String() string {
	return fmt.Sprintf("dequantize-fp8(%v × %v → %v)", d.W, d.Scale, d.To)
}

// maxScaleBytes bounds the scale tensor read into memory (one scale per
// row of the largest weights is a few hundred KB).
const maxScaleBytes = 64 << 20

func (d FP8Dequant) Stream(r SourceReader, w io.Writer) error {
	scales := []float32{1}
	if d.Scale != nil {
		if d.Scale.Size() > maxScaleBytes || d.ScaleDType.Size() == 0 {
			return fmt.Errorf("scale %v: %d bytes of %v", d.Scale, d.Scale.Size(), d.ScaleDType)
		}
		var b bytes.Buffer
		if err := d.Scale.Stream(r, &b); err != nil {
			return err
		}
		scales = make([]float32, b.Len()/d.ScaleDType.Size())
		if err := tensor.DecodeFloat32(d.ScaleDType, b.Bytes(), scales); err != nil {
			return fmt.Errorf("scale %v: %w", d.Scale, err)
		}
	}
	n := d.W.Size() // fp8: one byte per element
	if len(scales) == 0 || (len(scales) != 1 && len(scales) != d.Rows) || n%int64(len(scales)) != 0 {
		return fmt.Errorf("%v: %d scales for %d rows of %d elements", d.W, len(scales), d.Rows, n)
	}
	dw := &fp8DequantWriter{w: w, d: d, scales: scales, row: n / int64(len(scales))}
	return d.W.Stream(r, dw)
}

type fp8DequantWriter struct {
	w      io.Writer
	d      FP8Dequant
	scales []float32
	row    int64
	pos    int64
	out    []byte
}

func (f *fp8DequantWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		r := f.pos / f.row
		k := min(int64(len(p)), (r+1)*f.row-f.pos)
		seg := p[:k]
		m := len(seg) * f.d.To.Size()
		if cap(f.out) < m {
			f.out = make([]byte, max(m, 64<<10))
		}
		if err := quant.DequantizeFP8(f.d.From, seg, f.scales[r:r+1], f.d.To, f.d.Sem, f.out[:m]); err != nil {
			return 0, err
		}
		if _, err := f.w.Write(f.out[:m]); err != nil {
			return 0, err
		}
		f.pos += k
		p = p[k:]
	}
	return n, nil
}

// DequantizeFP8 applies the scales of a scaled-fp8 state dict (either
// ComfyUI layout): every fp8 weight with a scale becomes fp8 value ×
// scale in dtype to (F32, BF16 or F16; sem says how a 16-bit result
// rounds), and the marker, scale and .comfy_quant tensors are dropped.
// fp8 tensors without a scale are left for the cast.
func DequantizeFP8(f *quant.FP8, to tensor.DType, sem quant.ScaleSemantics) *Step {
	var keys []string
	for _, l := range f.Layers {
		if l.Scale != "" {
			keys = append(keys, l.Weight)
		}
	}
	keys = append(keys, f.Aux...)
	sort.Strings(keys)
	desc := fmt.Sprintf("multiply the %s layout's fp8 weights by their scales into %v (%v) and drop %d marker/scale tensors", f.Layout, to, sem, len(f.Aux))
	if to == tensor.F32 {
		desc = fmt.Sprintf("multiply the %s layout's fp8 weights by their scales into F32 (one f32 multiply, as ComfyUI) and drop %d marker/scale tensors", f.Layout, len(f.Aux))
	}
	return &Step{ID: "dequantize-fp8:" + strings.ToLower(to.String()), Op: "dequantize-fp8", Keys: keys, Description: desc,
		Params: map[string]string{"dtype": to.String(), "layout": f.Layout, "semantics": sem.String()},
		apply: func(ts []Tensor) ([]Tensor, error) {
			if to != tensor.F32 && to != tensor.BF16 && to != tensor.F16 {
				return nil, fmt.Errorf("scaled fp8 dequantizes to F32, BF16 or F16, not %v", to)
			}
			var names []string
			for _, l := range f.Layers {
				names = append(names, l.Weight, l.Scale)
			}
			idx := indexOf(ts, names)
			out := append([]Tensor(nil), ts...)
			for _, l := range f.Layers {
				if l.Scale == "" {
					continue
				}
				i, ok := idx[l.Weight]
				j, ok2 := idx[l.Scale]
				if !ok || !ok2 {
					return nil, fmt.Errorf("no tensor %q or its scale %q", l.Weight, l.Scale)
				}
				t, s := ts[i], ts[j]
				rows := 1
				if len(t.Shape) > 0 {
					rows = t.Shape[0]
				}
				out[i].Data = FP8Dequant{W: t.Data, From: t.DType, Scale: s.Data, ScaleDType: s.DType, Rows: rows, To: to, Sem: sem}
				out[i].DType = to
			}
			drop := map[string]bool{}
			for _, a := range f.Aux {
				drop[a] = true
			}
			kept := out[:0]
			for _, t := range out {
				if !drop[t.Name] {
					kept = append(kept, t)
				}
			}
			return kept, nil
		}}
}

// FP8Eligible says whether fp8 writing converts a tensor: 2-D Linear
// weights (`.weight`), not norms or embedding tables. Everything else
// (biases, norms, 1-D tensors, conv kernels, position tables, modulation
// parameters) stays in its dtype, as ComfyUI's fp8 checkpoints keep them:
// its scaled-fp8 operations scale Linear layers only.
func FP8Eligible(name string, shape []int) bool {
	if len(shape) != 2 || !strings.HasSuffix(name, ".weight") {
		return false
	}
	low := strings.ToLower(name)
	for _, s := range []string{"norm", "embedding_table", "embed_tokens", "token_embd", ".emb.weight", "wte.", "wpe."} {
		if strings.Contains(low, s) {
			return false
		}
	}
	return true
}

// fp8Max is the largest finite value of an fp8 type.
func fp8Max(dt tensor.DType) float32 {
	if dt == tensor.F8_E5M2 {
		return 57344
	}
	return 448
}

// FP8Scaler computes a weight's scale, max|w| / fp8 max in f32, from one
// pass over the weight (shared by the weight's encoding and its scale
// tensor, computed once).
type FP8Scaler struct {
	In   Data
	From tensor.DType
	To   tensor.DType
	Name string

	once  sync.Once
	scale float32
	err   error
}

// Scale returns the scale (1 for an all-zero weight).
func (s *FP8Scaler) Scale(r SourceReader) (float32, error) {
	s.once.Do(func() {
		aw := &absMaxWriter{from: s.From}
		if s.err = s.In.Stream(r, aw); s.err != nil {
			return
		}
		if aw.bad {
			s.err = fmt.Errorf("%s holds NaN or infinite values, which scaled fp8 cannot hold", s.Name)
			return
		}
		s.scale = 1
		if aw.amax > 0 {
			s.scale = aw.amax / fp8Max(s.To)
		}
	})
	return s.scale, s.err
}

type absMaxWriter struct {
	from  tensor.DType
	carry []byte
	vals  []float32
	amax  float32
	bad   bool
}

func (a *absMaxWriter) Write(p []byte) (int, error) {
	return len(p), eachF32(a.from, &a.carry, &a.vals, p, func(v []float32) {
		for _, x := range v {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				a.bad = true
			}
			a.amax = max(a.amax, float32(math.Abs(float64(x))))
		}
	})
}

// eachF32 decodes whole elements of p (after a carried partial one) to
// f32 and hands them to fn; a trailing partial element is carried.
func eachF32(dt tensor.DType, carry *[]byte, vals *[]float32, p []byte, fn func([]float32)) error {
	es := dt.Size()
	if len(*carry) > 0 {
		need := es - len(*carry)
		if len(p) < need {
			*carry = append(*carry, p...)
			return nil
		}
		*carry = append(*carry, p[:need]...)
		p = p[need:]
		v := []float32{0}
		if err := tensor.DecodeFloat32(dt, *carry, v); err != nil {
			return err
		}
		fn(v)
		*carry = (*carry)[:0]
	}
	whole := len(p) / es
	if whole > 0 {
		if cap(*vals) < whole {
			*vals = make([]float32, whole)
		}
		v := (*vals)[:whole]
		if err := tensor.DecodeFloat32(dt, p[:whole*es], v); err != nil {
			return err
		}
		fn(v)
	}
	*carry = append(*carry, p[whole*es:]...)
	return nil
}

// FP8Quant encodes In (elements of From) as fp8 To, divided by the
// scaler's scale in f32 first (c10_encode(f32(w / scale)), as ComfyUI's
// scaled-fp8 files are made).
type FP8Quant struct {
	In     Data
	From   tensor.DType
	To     tensor.DType
	Scaler *FP8Scaler
}

func (q FP8Quant) Size() int64    { return q.In.Size() / int64(q.From.Size()) }
func (q FP8Quant) String() string { return fmt.Sprintf("quantize-fp8(%v → scaled %v)", q.In, q.To) }
func (q FP8Quant) Stream(r SourceReader, w io.Writer) error {
	s, err := q.Scaler.Scale(r)
	if err != nil {
		return err
	}
	fw := &fp8EncodeWriter{w: w, from: q.From, to: q.To, scale: s}
	if err := q.In.Stream(r, fw); err != nil {
		return err
	}
	if fw.err != nil {
		return fw.err
	}
	if len(fw.carry) != 0 {
		return fmt.Errorf("quantize-fp8: %d stray bytes", len(fw.carry))
	}
	return nil
}

type fp8EncodeWriter struct {
	w        io.Writer
	from, to tensor.DType
	scale    float32
	carry    []byte
	vals     []float32
	out      []byte
	err      error
}

func (f *fp8EncodeWriter) Write(p []byte) (int, error) {
	err := eachF32(f.from, &f.carry, &f.vals, p, func(v []float32) {
		if f.err != nil {
			return
		}
		for i := range v {
			v[i] = v[i] / f.scale
		}
		if cap(f.out) < len(v) {
			f.out = make([]byte, len(v))
		}
		o := f.out[:len(v)]
		if err := tensor.EncodeFloat32(f.to, v, o); err != nil {
			f.err = err
			return
		}
		_, f.err = f.w.Write(o)
	})
	if err == nil {
		err = f.err
	}
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

// FP8ScaleValue is a scaler's scale as one little-endian f32.
type FP8ScaleValue struct{ Scaler *FP8Scaler }

func (v FP8ScaleValue) Size() int64    { return 4 }
func (v FP8ScaleValue) String() string { return fmt.Sprintf("scale(%s)", v.Scaler.Name) }
func (v FP8ScaleValue) Stream(r SourceReader, w io.Writer) error {
	s, err := v.Scaler.Scale(r)
	if err != nil {
		return err
	}
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], math.Float32bits(s))
	_, err = w.Write(b[:])
	return err
}

// QuantizeFP8 writes fp8: every FP8Eligible float tensor (except keep)
// becomes dt (F8_E4M3 or F8_E5M2). Plain: the c10 cast, torch's
// .to(float8). Scaled: ComfyUI's old scaled-fp8 layout, which ComfyUI
// (old and new) loads: `<layer>.weight` = c10_encode(w / scale) with
// scale = max|w| / fp8 max in f32, `<layer>.scale_weight` F32 [] and a
// `scaled_fp8` marker of dtype dt and shape [0] (named with the
// `model.diffusion_model.` prefix when the keys carry it). Other tensors
// stay in their dtype.
func QuantizeFP8(dt tensor.DType, scaled bool, keep map[string]bool) *Step {
	mode := "plain (torch's .to(float8), no scales)"
	if scaled {
		mode = "scaled (ComfyUI's scaled_fp8 marker and per-layer .scale_weight = max|w|/" + fmt.Sprint(fp8Max(dt)) + ")"
	}
	s := &Step{ID: "quantize-fp8:" + strings.ToLower(dt.String()), Op: "quantize-fp8",
		Description: fmt.Sprintf("write 2-D Linear weights as %v, %s; biases, norms, embeddings and other tensors keep their dtype", dt, mode),
		Params:      map[string]string{"dtype": dt.String(), "scaled": fmt.Sprint(scaled)}}
	s.apply = func(ts []Tensor) ([]Tensor, error) {
		if dt != tensor.F8_E4M3 && dt != tensor.F8_E5M2 {
			return nil, fmt.Errorf("fp8 writing wants F8_E4M3 or F8_E5M2, not %v", dt)
		}
		have := make(map[string]bool, len(ts))
		for _, t := range ts {
			have[t.Name] = true
		}
		out := make([]Tensor, 0, len(ts)+1)
		prefix := ""
		for _, t := range ts {
			if strings.HasPrefix(t.Name, "model.diffusion_model.") {
				prefix = "model.diffusion_model."
			}
		}
		n := 0
		for _, t := range ts {
			if !t.DType.IsFloat() || keep[t.Name] || !FP8Eligible(t.Name, t.Shape) || !tensor.CanCast(t.DType, dt) {
				out = append(out, t)
				continue
			}
			n++
			if !scaled {
				if t.DType != dt {
					t.Data, t.DType = Cast{In: t.Data, From: t.DType, To: dt}, dt
				}
				out = append(out, t)
				continue
			}
			layer := strings.TrimSuffix(t.Name, ".weight")
			sn := layer + ".scale_weight"
			if have[sn] {
				return nil, fmt.Errorf("%s already exists: the source looks scaled already", sn)
			}
			sc := &FP8Scaler{In: t.Data, From: t.DType, To: dt, Name: t.Name}
			out = append(out, Tensor{Name: t.Name, DType: dt, Shape: t.Shape, Data: FP8Quant{In: t.Data, From: t.DType, To: dt, Scaler: sc}},
				Tensor{Name: sn, DType: tensor.F32, Shape: []int{}, Data: FP8ScaleValue{sc}})
		}
		if n == 0 {
			return nil, fmt.Errorf("no 2-D Linear weight to write as %v", dt)
		}
		if scaled {
			m := prefix + "scaled_fp8"
			if have[m] {
				return nil, fmt.Errorf("%s already exists: the source is scaled fp8 already", m)
			}
			out = append(out, Tensor{Name: m, DType: dt, Shape: []int{0}, Data: Const{}})
		}
		return out, nil
	}
	return s
}
