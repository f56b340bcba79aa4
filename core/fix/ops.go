package fix

import (
	"fmt"
	"sort"
	"strings"

	"github.com/ditkit/ditkit/core/quant"
	"github.com/ditkit/ditkit/core/tensor"
)

// Step is one named fix in a plan.
type Step struct {
	ID          string            `json:"id"`          // stable, e.g. "strip-prefix", "unsqueeze:x_embedder.proj.weight"
	Op          string            `json:"op"`          // one of Ops()
	Description string            `json:"description"` // plain words
	Keys        []string          `json:"keys"`        // checkpoint keys it reads or changes
	Produces    []string          `json:"produces"`    // keys it leaves in the state dict
	Lossy       bool              `json:"lossy"`       // removes data from the output
	Params      map[string]string `json:"params,omitempty"`
	// Equal lists groups of checkpoint keys whose bytes must be equal for
	// the step to be lossless; writers verify them before writing.
	Equal [][]string `json:"verify_equal,omitempty"`
	apply func([]Tensor) ([]Tensor, error)
}

// Apply runs the step on a virtual state dict.
func (s *Step) Apply(ts []Tensor) ([]Tensor, error) {
	if s.apply == nil {
		return nil, fmt.Errorf("fix %s has no operation", s.ID)
	}
	out, err := s.apply(ts)
	if err != nil {
		return nil, fmt.Errorf("fix %s: %w", s.ID, err)
	}
	return out, nil
}

// OpInfo documents one operation.
type OpInfo struct{ Name, Doc string }

// Ops lists every fix operation with its documentation.
func Ops() []OpInfo {
	return []OpInfo{
		{"unwrap", "use a nested state dict (e.g. `ema` of a training checkpoint, `state_dict`, `module`) as the weights"},
		{"strip-prefix", "remove a prefix from every key that has it (`module.` from DistributedDataParallel, `model.`, `model.diffusion_model.`, `_orig_mod.` from torch.compile, `base_model.`)"},
		{"add-prefix", "prepend a prefix to every key (the target model wraps the network)"},
		{"rename", "rename keys by a rule (original ↔ diffusers layouts, `blocks.` → `spatial_blocks.`)"},
		{"unsqueeze", "insert a size-1 axis (DiT's 2-D patch embedding [C, in, p, p] → Open-Sora's Conv3d [C, in, 1, p, p]); the bytes are unchanged"},
		{"squeeze", "remove a size-1 axis (Conv3d with a temporal kernel of 1 → Conv2d); the bytes are unchanged"},
		{"split", "split a fused tensor along axis 0 (qkv → q, k, v; kv → k, v)"},
		{"fuse", "concatenate tensors along axis 0 (q, k, v → qkv)"},
		{"drop", "leave tensors out of the output (unexpected keys, stale buffers, optimizer state)"},
		{"regenerate", "recompute a fixed table from its formula (sin-cos pos_embed, temporal pos_embed) for the target's sizes"},
		{"resize", "change the length of a table's first axis by a stated rule (repeat the last row, or truncate)"},
		{"swap", "reorder equal row blocks of a tensor along axis 0 (diffusers keeps a final modulation as scale, shift where the original has shift, scale); a permutation of rows, the values never change"},
		{"replicate", "copy a shared tensor into every block (DiT's timestep and class embedders, as diffusers stores them)"},
		{"dedupe", "keep one of several equal copies (diffusers' per-block embedder copies); the copies are verified byte-equal before writing"},
		{"cast", "convert floating-point tensors to another dtype, rounding to nearest even like torch; integer and bool tensors are never cast; scaled fp8 weights are multiplied by their scales first"},
		{"dequantize-fp8", "multiply scaled fp8 weights (ComfyUI's scaled_fp8 / weight_scale layouts) by their scales and drop the scale and marker tensors"},
		{"quantize-fp8", "write 2-D Linear weights as fp8 (plain, or ComfyUI's scaled fp8 with per-layer .scale_weight and the scaled_fp8 marker)"},
	}
}

func keysWithPrefix(ts []Tensor, p string) []string {
	var ks []string
	for _, t := range ts {
		if strings.HasPrefix(t.Name, p) {
			ks = append(ks, t.Name)
		}
	}
	return ks
}

// StripPrefix removes prefix from every key that has it.
func StripPrefix(prefix string, keys []string) *Step {
	return &Step{ID: "strip-prefix:" + prefix, Op: "strip-prefix", Keys: keys,
		Description: fmt.Sprintf("remove the %q prefix from %d keys", prefix, len(keys)),
		Params:      map[string]string{"prefix": prefix},
		apply: func(ts []Tensor) ([]Tensor, error) {
			return renameAll(ts, func(n string) string { return strings.TrimPrefix(n, prefix) })
		}}
}

// AddPrefix prepends prefix to every key.
func AddPrefix(prefix string) *Step {
	return &Step{ID: "add-prefix:" + prefix, Op: "add-prefix",
		Description: fmt.Sprintf("prepend %q to every key", prefix),
		Params:      map[string]string{"prefix": prefix},
		apply: func(ts []Tensor) ([]Tensor, error) {
			return renameAll(ts, func(n string) string { return prefix + n })
		}}
}

// Rename maps keys through pairs (from → to); other keys are untouched.
func Rename(id, description string, pairs map[string]string) *Step {
	keys := make([]string, 0, len(pairs))
	prod := make([]string, 0, len(pairs))
	for k, v := range pairs {
		keys = append(keys, k)
		prod = append(prod, v)
	}
	sort.Strings(keys)
	sort.Strings(prod)
	return &Step{ID: "rename:" + id, Op: "rename", Keys: keys, Produces: prod, Description: description,
		apply: func(ts []Tensor) ([]Tensor, error) {
			return renameAll(ts, func(n string) string {
				if v, ok := pairs[n]; ok {
					return v
				}
				return n
			})
		}}
}

func renameAll(ts []Tensor, f func(string) string) ([]Tensor, error) {
	out := make([]Tensor, len(ts))
	seen := map[string]string{}
	for i, t := range ts {
		t.Name = f(t.Name)
		if prev, dup := seen[t.Name]; dup {
			return nil, fmt.Errorf("renaming would give two tensors the name %q (%s)", t.Name, prev)
		}
		seen[t.Name] = ts[i].Name
		out[i] = t
	}
	return out, nil
}

// Reshape gives key a new shape with the same element count (unsqueeze or
// squeeze of size-1 axes).
func Reshape(key string, from, to []int) *Step {
	op := "unsqueeze"
	if len(to) < len(from) {
		op = "squeeze"
	}
	axis := -1
	for i := 0; i < min(len(from), len(to)); i++ {
		if from[i] != to[i] {
			axis = i
			break
		}
	}
	if axis < 0 {
		axis = min(len(from), len(to))
	}
	desc := fmt.Sprintf("%s axis %d of %s: %s → %s (same bytes)", op, axis, key, tensor.FormatShape(from), tensor.FormatShape(to))
	return &Step{ID: op + ":" + key, Op: op, Keys: []string{key}, Produces: []string{key}, Description: desc,
		Params: map[string]string{"axis": fmt.Sprint(axis), "shape": tensor.FormatShape(to)},
		apply: func(ts []Tensor) ([]Tensor, error) {
			i, ok := find(ts, key)
			if !ok {
				return nil, fmt.Errorf("no tensor %q", key)
			}
			a, _ := tensor.Numel(ts[i].Shape)
			b, _ := tensor.Numel(to)
			if a != b {
				return nil, fmt.Errorf("%s has %d elements, %s needs %d", key, a, tensor.FormatShape(to), b)
			}
			out := append([]Tensor(nil), ts...)
			out[i].Shape = append([]int(nil), to...)
			return out, nil
		}}
}

// Split cuts key along axis 0 into parts of the given row counts.
func Split(key string, into []string, rows []int) *Step {
	return &Step{ID: "split:" + key, Op: "split", Keys: []string{key}, Produces: into,
		Description: fmt.Sprintf("split %s along axis 0 into %s", key, strings.Join(into, ", ")),
		apply: func(ts []Tensor) ([]Tensor, error) {
			i, ok := find(ts, key)
			if !ok {
				return nil, fmt.Errorf("no tensor %q", key)
			}
			t := ts[i]
			total := 0
			for _, r := range rows {
				total += r
			}
			if len(t.Shape) == 0 || t.Shape[0] != total {
				return nil, fmt.Errorf("%s has shape %v, cannot split into rows %v", key, t.Shape, rows)
			}
			rowBytes := t.Data.Size() / int64(total)
			var parts []Tensor
			off := int64(0)
			for j, name := range into {
				shape := append([]int{rows[j]}, t.Shape[1:]...)
				n := int64(rows[j]) * rowBytes
				d, err := sliceData(t.Data, off, n)
				if err != nil {
					return nil, err
				}
				parts = append(parts, Tensor{Name: name, DType: t.DType, Shape: shape, Data: d})
				off += n
			}
			out := append([]Tensor(nil), ts[:i]...)
			out = append(out, parts...)
			return append(out, ts[i+1:]...), nil
		}}
}

// sliceData narrows d to [off, off+n).
func sliceData(d Data, off, n int64) (Data, error) {
	switch x := d.(type) {
	case Src:
		return Src{Name: x.Name, Off: x.Off + off, N: n}, nil
	case Const:
		return x[off : off+n], nil
	case Concat:
		var parts Concat
		pos := int64(0)
		for _, p := range x {
			ps := p.Size()
			lo, hi := max(off, pos), min(off+n, pos+ps)
			if lo < hi {
				s, err := sliceData(p, lo-pos, hi-lo)
				if err != nil {
					return nil, err
				}
				parts = append(parts, s)
			}
			pos += ps
		}
		return parts, nil
	}
	return nil, fmt.Errorf("cannot slice %v", d)
}

// Fuse concatenates keys along axis 0 into one tensor named into.
func Fuse(keys []string, into string) *Step {
	return &Step{ID: "fuse:" + into, Op: "fuse", Keys: keys, Produces: []string{into},
		Description: fmt.Sprintf("concatenate %s along axis 0 into %s", strings.Join(keys, ", "), into),
		apply: func(ts []Tensor) ([]Tensor, error) {
			idx := indexOf(ts, keys)
			var parts Concat
			var first Tensor
			rows := 0
			drop := map[string]bool{}
			pos := len(ts)
			for j, k := range keys {
				i, ok := idx[k]
				if !ok {
					return nil, fmt.Errorf("no tensor %q", k)
				}
				t := ts[i]
				if j == 0 {
					first = t
				} else if t.DType != first.DType || len(t.Shape) != len(first.Shape) || !tensor.EqualShape(t.Shape[1:], first.Shape[1:]) {
					return nil, fmt.Errorf("%s (%v %v) cannot be stacked with %s (%v %v)", k, t.DType, t.Shape, keys[0], first.DType, first.Shape)
				}
				if len(t.Shape) == 0 {
					return nil, fmt.Errorf("%s is a scalar", k)
				}
				rows += t.Shape[0]
				parts = append(parts, t.Data)
				drop[k] = true
				pos = min(pos, i)
			}
			fused := Tensor{Name: into, DType: first.DType, Shape: append([]int{rows}, first.Shape[1:]...), Data: parts}
			out := make([]Tensor, 0, len(ts))
			for i, t := range ts {
				if i == pos {
					out = append(out, fused)
				}
				if !drop[t.Name] {
					out = append(out, t)
				}
			}
			return out, nil
		}}
}

// Swap renames key to into and reorders its rows: axis 0 is cut into
// len(order) equal blocks, and block i of the result is block order[i] of
// the input ([1, 0] swaps two halves). The bytes are only moved.
func Swap(key, into string, order []int, why string) *Step {
	desc := fmt.Sprintf("%s → %s with its %d row blocks reordered %v (%s)", key, into, len(order), order, why)
	if key == into {
		desc = fmt.Sprintf("reorder the %d row blocks of %s as %v (%s)", len(order), key, order, why)
	}
	return &Step{ID: "swap:" + into, Op: "swap", Keys: []string{key}, Produces: []string{into}, Description: desc,
		Params: map[string]string{"order": fmt.Sprint(order)},
		apply: func(ts []Tensor) ([]Tensor, error) {
			i, ok := find(ts, key)
			if !ok {
				return nil, fmt.Errorf("no tensor %q", key)
			}
			t := ts[i]
			n := len(order)
			if n == 0 || len(t.Shape) == 0 || t.Shape[0]%n != 0 {
				return nil, fmt.Errorf("%s has shape %v, cannot cut axis 0 into %d equal blocks", key, t.Shape, n)
			}
			blk := t.Data.Size() / int64(n)
			var d Concat
			for _, j := range order {
				if j < 0 || j >= n {
					return nil, fmt.Errorf("block %d out of range", j)
				}
				part, err := sliceData(t.Data, int64(j)*blk, blk)
				if err != nil {
					return nil, err
				}
				d = append(d, part)
			}
			out := append([]Tensor(nil), ts...)
			out[i].Name = into
			out[i].Data = d
			if _, dup := find(ts, into); dup && into != key {
				return nil, fmt.Errorf("%s already exists", into)
			}
			return out, nil
		}}
}

// Drop removes keys from the output.
func Drop(id, reason string, keys []string) *Step {
	return &Step{ID: "drop:" + id, Op: "drop", Keys: keys, Lossy: true,
		Description: fmt.Sprintf("leave out %d tensors: %s", len(keys), reason),
		apply: func(ts []Tensor) ([]Tensor, error) {
			drop := map[string]bool{}
			for _, k := range keys {
				drop[k] = true
			}
			var out []Tensor
			for _, t := range ts {
				if !drop[t.Name] {
					out = append(out, t)
				}
			}
			return out, nil
		}}
}

// Put replaces or adds key with computed float32 values stored as dt
// (regenerate and resize use it).
func Put(op, key, description string, dt tensor.DType, shape []int, values []float32) (*Step, error) {
	if dt == tensor.Invalid {
		dt = tensor.F32
	}
	b := make([]byte, len(values)*dt.Size())
	if err := tensor.EncodeFloat32(dt, values, b); err != nil {
		return nil, err
	}
	nb, err := tensor.NBytes(dt, shape)
	if err != nil || nb != int64(len(b)) {
		return nil, fmt.Errorf("%s: %d values do not fill %v", key, len(values), shape)
	}
	t := Tensor{Name: key, DType: dt, Shape: append([]int(nil), shape...), Data: Const(b)}
	return &Step{ID: op + ":" + key, Op: op, Keys: []string{key}, Produces: []string{key}, Description: description,
		apply: func(ts []Tensor) ([]Tensor, error) {
			out := append([]Tensor(nil), ts...)
			if i, ok := find(ts, key); ok {
				out[i] = t
				return out, nil
			}
			return append(out, t), nil
		}}, nil
}

// ResizeRows changes the length of key's axis 0 to rows: truncating, or
// repeating the last row (the rule Open-Sora uses for y_embedding).
func ResizeRows(key string, shape []int, rows int) *Step {
	to := append([]int{rows}, shape[1:]...)
	rule := "truncate"
	if rows > shape[0] {
		rule = "repeat the last row"
	}
	return &Step{ID: "resize:" + key, Op: "resize", Keys: []string{key}, Produces: []string{key}, Lossy: rows < shape[0],
		Description: fmt.Sprintf("resize %s from %s to %s (%s)", key, tensor.FormatShape(shape), tensor.FormatShape(to), rule),
		Params:      map[string]string{"rule": rule},
		apply: func(ts []Tensor) ([]Tensor, error) {
			i, ok := find(ts, key)
			if !ok {
				return nil, fmt.Errorf("no tensor %q", key)
			}
			t := ts[i]
			if len(t.Shape) == 0 || t.Shape[0] == 0 {
				return nil, fmt.Errorf("%s has no rows", key)
			}
			rowBytes := t.Data.Size() / int64(t.Shape[0])
			var d Concat
			keep := min(rows, t.Shape[0])
			head, err := sliceData(t.Data, 0, int64(keep)*rowBytes)
			if err != nil {
				return nil, err
			}
			d = append(d, head)
			last, err := sliceData(t.Data, int64(t.Shape[0]-1)*rowBytes, rowBytes)
			if err != nil {
				return nil, err
			}
			for r := keep; r < rows; r++ {
				d = append(d, last)
			}
			out := append([]Tensor(nil), ts...)
			out[i].Shape = append([]int{rows}, t.Shape[1:]...)
			out[i].Data = d
			return out, nil
		}}
}

// CastAll converts every floating-point tensor (except keep) to dt.
// Scaled fp8 weights are dequantized first (fp8 value × scale, the
// scales and marker dropped; CastAllWith names the bf16/f16 semantics).
func CastAll(dt tensor.DType, keep map[string]bool) *Step {
	return CastAllWith(dt, keep, quant.ScaleF32Opmath)
}

// CastAllWith is CastAll with the rounding semantics of scaled-fp8
// weights cast to a 16-bit dtype.
func CastAllWith(dt tensor.DType, keep map[string]bool, sem quant.ScaleSemantics) *Step {
	var kept []string
	for k := range keep {
		kept = append(kept, k)
	}
	sort.Strings(kept)
	desc := fmt.Sprintf("cast floating-point tensors to %v (round to nearest even, like torch); integer and bool tensors stay", dt)
	if len(kept) > 0 {
		desc += fmt.Sprintf("; %s stay as saved", strings.Join(kept, ", "))
	}
	return &Step{ID: "cast:" + strings.ToLower(dt.String()), Op: "cast", Description: desc, Params: map[string]string{"dtype": dt.String()},
		apply: func(ts []Tensor) ([]Tensor, error) {
			ts, err := applyFP8Scales(ts, dt, sem)
			if err != nil {
				return nil, err
			}
			out := append([]Tensor(nil), ts...)
			for i, t := range out {
				if !t.DType.IsFloat() || t.DType == dt || keep[t.Name] || !tensor.CanCast(t.DType, dt) {
					continue
				}
				out[i].Data = Cast{In: t.Data, From: t.DType, To: dt}
				out[i].DType = dt
			}
			return out, nil
		}}
}

// applyFP8Scales dequantizes scaled fp8 weights before a cast to dt: a
// plain cast would drop the scale and give wrong weights. A cast of
// scaled fp8 to fp8 is refused (dequantize to fp32 first).
func applyFP8Scales(ts []Tensor, dt tensor.DType, sem quant.ScaleSemantics) ([]Tensor, error) {
	f, err := quant.DetectFP8(Infos(ts), nil)
	if err != nil || f == nil || (!f.Scaled() && len(f.Aux) == 0) {
		return ts, err
	}
	if dt != tensor.F32 && dt != tensor.BF16 && dt != tensor.F16 {
		for _, l := range f.Layers {
			if l.Scale != "" {
				return nil, fmt.Errorf("%s is a scaled fp8 weight (%s layout, scale %s): casting it to %v would drop its scale; dequantize to fp32, bf16 or fp16 instead", l.Weight, f.Layout, l.Scale, dt)
			}
		}
	}
	return DequantizeFP8(f, dt, sem).Apply(ts)
}

// Apply runs a plan's steps in order.
func Apply(ts []Tensor, steps []*Step) ([]Tensor, error) {
	var err error
	for _, s := range steps {
		if ts, err = s.Apply(ts); err != nil {
			return nil, err
		}
	}
	return ts, nil
}

// Replicate copies key to each name in copies (diffusers' DiT stores the
// shared timestep and class embedders once per block) and removes key.
func Replicate(key string, copies []string) *Step {
	return &Step{ID: "replicate:" + key, Op: "replicate", Keys: []string{key}, Produces: copies,
		Description: fmt.Sprintf("copy %s into %d blocks (%s, …) as diffusers stores it", key, len(copies), copies[0]),
		apply: func(ts []Tensor) ([]Tensor, error) {
			i, ok := find(ts, key)
			if !ok {
				return nil, fmt.Errorf("no tensor %q", key)
			}
			src := ts[i]
			var out []Tensor
			for j, t := range ts {
				if j == i {
					for _, c := range copies {
						cp := src
						cp.Name = c
						out = append(out, cp)
					}
					continue
				}
				out = append(out, t)
			}
			return out, nil
		}}
}

// Dedupe keeps keep (renamed to into) and drops the other copies. Equal
// lists the groups a writer must verify byte-equal before writing.
func Dedupe(keep string, others []string, into string) *Step {
	all := append([]string{keep}, others...)
	s := &Step{ID: "dedupe:" + into, Op: "dedupe", Keys: all, Produces: []string{into},
		Description: fmt.Sprintf("keep %s as %s and drop its %d per-block copies (verified equal before writing)", keep, into, len(others)),
		Equal:       [][]string{all},
		apply: func(ts []Tensor) ([]Tensor, error) {
			drop := map[string]bool{}
			for _, o := range others {
				drop[o] = true
			}
			var out []Tensor
			found := false
			for _, t := range ts {
				switch {
				case t.Name == keep:
					t.Name = into
					found = true
					out = append(out, t)
				case !drop[t.Name]:
					out = append(out, t)
				}
			}
			if !found {
				return nil, fmt.Errorf("no tensor %q", keep)
			}
			return out, nil
		}}
	return s
}

// Unwrap records that the weights were taken from a nested state dict
// (e.g. "ema" of a training checkpoint). The reader already selected that
// root, so the step changes nothing in the virtual state dict.
func Unwrap(root string, alternatives []string) *Step {
	desc := fmt.Sprintf("use the state dict under %q as the weights", root)
	if len(alternatives) > 0 {
		desc += fmt.Sprintf(" (also in the file: %s)", strings.Join(alternatives, ", "))
	}
	return &Step{ID: "unwrap:" + root, Op: "unwrap", Description: desc, Params: map[string]string{"root": root},
		apply: func(ts []Tensor) ([]Tensor, error) { return ts, nil }}
}
