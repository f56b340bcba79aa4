package quant

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/ditkit/ditkit/core/tensor"
)

// fp8 checkpoint layouts.
const (
	// LayoutFP8 is plain fp8: F8_E4M3/F8_E5M2 weights with no scales
	// (torch's .to(float8_*)); the value is the fp8 value.
	LayoutFP8 = "fp8"
	// LayoutScaledFP8 is old ComfyUI "scaled fp8": a `scaled_fp8` marker
	// tensor (its dtype gives the weights' fp8 type; float32 means
	// e4m3fn), `<layer>.weight` in fp8, `<layer>.scale_weight` (and
	// `<layer>.scale_input`) in F32. Dequantized = fp8 value × scale.
	LayoutScaledFP8 = "scaled_fp8"
	// LayoutWeightScale is new ComfyUI: `<layer>.weight` in fp8 with
	// `<layer>.weight_scale` (and `<layer>.input_scale`), the layers listed
	// in the safetensors metadata `_quantization_metadata` or by a
	// `<layer>.comfy_quant` tensor.
	LayoutWeightScale = "weight_scale"
)

// FP8 says how a checkpoint stores fp8 weights and their scales.
type FP8 struct {
	Layout string     // LayoutFP8, LayoutScaledFP8 or LayoutWeightScale
	Marker string     // the scaled_fp8 marker tensor's name ("" when absent)
	Layers []FP8Layer // by weight name
	// Aux are tensors that describe the quantization rather than hold
	// weights (the marker, scales, .comfy_quant): a dequantized state dict
	// drops them.
	Aux         []string
	Evidence    []string // why the layout was recognised, in words
	Unsupported []string // scales next to weights ditkit cannot dequantize (int8 …)
}

// FP8Layer is one fp8 weight and its scales.
type FP8Layer struct {
	Layer      string       // "blocks.0.attn.qkv"
	Weight     string       // "<layer>.weight"
	DType      tensor.DType // F8_E4M3 or F8_E5M2
	Shape      []int
	Scale      string // "<layer>.scale_weight" or "<layer>.weight_scale"; "" = none (scale 1)
	ScaleShape []int
	InputScale string // "<layer>.scale_input" or "<layer>.input_scale" (activations; not applied to weights)
	Format     string // the format _quantization_metadata or .comfy_quant gives ("float8_e4m3fn")
}

// Scaled reports whether any layer carries a weight scale: a conversion
// that ignores scales would give wrong weights.
func (f *FP8) Scaled() bool {
	for _, l := range f.Layers {
		if l.Scale != "" {
			return true
		}
	}
	return false
}

// Layer returns the layer whose weight tensor is named weight, or nil.
func (f *FP8) Layer(weight string) *FP8Layer {
	i := sort.Search(len(f.Layers), func(i int) bool { return f.Layers[i].Weight >= weight })
	if i < len(f.Layers) && f.Layers[i].Weight == weight {
		return &f.Layers[i]
	}
	return nil
}

// IsAux reports whether name is a marker, scale or .comfy_quant tensor.
func (f *FP8) IsAux(name string) bool {
	i := sort.SearchStrings(f.Aux, name)
	return i < len(f.Aux) && f.Aux[i] == name
}

func isFP8(dt tensor.DType) bool { return dt == tensor.F8_E4M3 || dt == tensor.F8_E5M2 }

// DetectFP8 recognises fp8 weights and the scaled-fp8 layouts from the
// tensor list and the safetensors metadata; nil when no tensor is fp8 and
// no marker is present. Scale tensors must be scalars ([] or [1]) or one
// scale per output row ([rows] or [rows, 1]).
func DetectFP8(infos []tensor.Info, metadata map[string]string) (*FP8, error) {
	byName := make(map[string]tensor.Info, len(infos))
	for _, ti := range infos {
		byName[ti.Name] = ti
	}
	f := &FP8{}
	var markerDType tensor.DType
	for _, ti := range infos {
		if ti.Name == "scaled_fp8" || strings.HasSuffix(ti.Name, ".scaled_fp8") {
			if f.Marker != "" {
				return nil, fmt.Errorf("two scaled_fp8 markers: %s and %s", f.Marker, ti.Name)
			}
			f.Marker, markerDType = ti.Name, ti.DType
			f.Aux = append(f.Aux, ti.Name)
			n, _ := tensor.Numel(ti.Shape)
			ev := fmt.Sprintf("marker tensor %s (%v %v): ComfyUI's scaled fp8", ti.Name, ti.DType, tensor.FormatShape(ti.Shape))
			if n == 2 {
				ev += " (2 elements: ComfyUI disables fp8 matmul for it)"
			}
			f.Evidence = append(f.Evidence, ev)
		}
	}
	var meta map[string]string
	if s, ok := metadata["_quantization_metadata"]; ok {
		var qm struct {
			Layers map[string]struct {
				Format string `json:"format"`
			} `json:"layers"`
		}
		if err := json.Unmarshal([]byte(s), &qm); err != nil {
			return nil, fmt.Errorf("__metadata__ _quantization_metadata is not the JSON ComfyUI writes: %v", err)
		}
		meta = map[string]string{}
		for k, v := range qm.Layers {
			meta[k] = v.Format
		}
		f.Evidence = append(f.Evidence, fmt.Sprintf("__metadata__ _quantization_metadata lists %d quantized layers", len(meta)))
	}
	var newStyle, oldStyle, comfyQuant int
	for _, ti := range infos {
		if layer, ok := strings.CutSuffix(ti.Name, ".comfy_quant"); ok {
			f.Aux = append(f.Aux, ti.Name)
			comfyQuant++
			if meta == nil {
				meta = map[string]string{}
			}
			if _, ok := meta[layer]; !ok {
				meta[layer] = ""
			}
		}
		layer, ok := strings.CutSuffix(ti.Name, ".weight")
		if !ok {
			continue
		}
		l := FP8Layer{Layer: layer, Weight: ti.Name, DType: ti.DType, Shape: ti.Shape, Format: meta[layer]}
		for _, c := range []struct {
			suffix string
			input  bool
			old    bool
		}{{".scale_weight", false, true}, {".weight_scale", false, false}, {".scale_input", true, true}, {".input_scale", true, false}} {
			s, ok := byName[layer+c.suffix]
			if !ok {
				continue
			}
			if !isFP8(ti.DType) {
				f.Unsupported = append(f.Unsupported, fmt.Sprintf("%s is %v with a scale %s: only fp8 weights are dequantized", ti.Name, ti.DType, s.Name))
				continue
			}
			if !s.DType.IsFloat() {
				return nil, fmt.Errorf("scale %s is %v, not a float", s.Name, s.DType)
			}
			f.Aux = append(f.Aux, s.Name)
			if c.input {
				l.InputScale = s.Name
				continue
			}
			if l.Scale != "" {
				return nil, fmt.Errorf("%s has two weight scales: %s and %s", ti.Name, l.Scale, s.Name)
			}
			if !scaleShapeOK(s.Shape, ti.Shape) {
				return nil, fmt.Errorf("scale %s has shape %s: want a scalar or one scale per row of %s %s", s.Name, tensor.FormatShape(s.Shape), ti.Name, tensor.FormatShape(ti.Shape))
			}
			l.Scale, l.ScaleShape = s.Name, s.Shape
			if c.old {
				oldStyle++
			} else {
				newStyle++
			}
		}
		if isFP8(ti.DType) {
			f.Layers = append(f.Layers, l)
		}
	}
	for _, ti := range infos { // fp8 tensors that are not .weight (biases, norms) still decode exactly
		if isFP8(ti.DType) && !strings.HasSuffix(ti.Name, ".weight") && ti.Name != f.Marker {
			f.Layers = append(f.Layers, FP8Layer{Weight: ti.Name, DType: ti.DType, Shape: ti.Shape})
		}
	}
	if len(f.Layers) == 0 && f.Marker == "" && meta == nil {
		if len(f.Unsupported) > 0 {
			return &FP8{Unsupported: f.Unsupported}, nil
		}
		return nil, nil
	}
	switch {
	case f.Marker != "":
		f.Layout = LayoutScaledFP8
		if markerDType != tensor.F32 && isFP8(markerDType) {
			for _, l := range f.Layers {
				if l.DType != markerDType {
					return nil, fmt.Errorf("marker %s is %v but %s is %v", f.Marker, markerDType, l.Weight, l.DType)
				}
			}
		}
		if newStyle > 0 {
			f.Evidence = append(f.Evidence, fmt.Sprintf("%d layers use the new .weight_scale spelling next to the old marker", newStyle))
		}
	case newStyle > 0 || meta != nil:
		f.Layout = LayoutWeightScale
	default:
		f.Layout = LayoutFP8
	}
	if oldStyle > 0 {
		f.Evidence = append(f.Evidence, fmt.Sprintf("%d fp8 weights with .scale_weight", oldStyle))
	}
	if newStyle > 0 {
		f.Evidence = append(f.Evidence, fmt.Sprintf("%d fp8 weights with .weight_scale", newStyle))
	}
	if comfyQuant > 0 {
		f.Evidence = append(f.Evidence, fmt.Sprintf("%d .comfy_quant layer descriptions", comfyQuant))
	}
	if f.Layout == LayoutFP8 {
		f.Evidence = append(f.Evidence, fmt.Sprintf("%d fp8 tensors without scales (plain .to(float8)): values are the fp8 values", len(f.Layers)))
	}
	for layer := range meta {
		if byName[layer+".weight"].Name == "" {
			f.Unsupported = append(f.Unsupported, fmt.Sprintf("quantization metadata names layer %s, which has no .weight", layer))
		}
	}
	sort.Slice(f.Layers, func(i, j int) bool { return f.Layers[i].Weight < f.Layers[j].Weight })
	sort.Strings(f.Aux)
	sort.Strings(f.Unsupported)
	return f, nil
}

func scaleShapeOK(s, w []int) bool {
	n, _ := tensor.Numel(s)
	switch {
	case n == 1 && len(s) <= 1:
		return true
	case len(w) >= 1 && len(s) == 1 && s[0] == w[0]:
		return true
	case len(w) >= 1 && len(s) == 2 && s[0] == w[0] && s[1] == 1:
		return true
	}
	return false
}

// ScaleSemantics says how "fp8 weight × f32 scale" is rounded to a 16-bit
// result (an f32 result is f32(w)·scale either way).
type ScaleSemantics int

const (
	// ScaleF32Opmath is new ComfyUI (TensorCoreFP8Layout.dequantize after
	// convert_old_quants) on current PyTorch: w.to(bf16) * scale with the
	// scale an f32 0-dim tensor, which the CPU mul kernel applies in f32:
	// RNE(f32(w) · scale). The more accurate of the two.
	ScaleF32Opmath ScaleSemantics = iota
	// ScaleRoundedFirst is old ComfyUI (ops.py convert_weight:
	// w.to(cd) * scale_weight.to(cd)), and also older PyTorch for the new
	// path: the scale is rounded to the compute dtype first:
	// RNE(f32(w) · f32(cd(scale))).
	ScaleRoundedFirst
)

func (s ScaleSemantics) String() string {
	if s == ScaleRoundedFirst {
		return "scale rounded to the compute dtype first (old ComfyUI)"
	}
	return "f32 opmath (new ComfyUI)"
}

// DequantizeFP8 writes the fp8 weight w (elements of dt) times its scales
// as `to` (F32, BF16 or F16) into dst. scales holds one scale, or one per
// row (len(w) a multiple of len(scales)); nil means a scale of 1.
func DequantizeFP8(dt tensor.DType, w []byte, scales []float32, to tensor.DType, sem ScaleSemantics, dst []byte) error {
	if !isFP8(dt) {
		return fmt.Errorf("dequantize fp8: %v is not an fp8 type", dt)
	}
	if to != tensor.F32 && to != tensor.BF16 && to != tensor.F16 {
		return fmt.Errorf("dequantize fp8: target %v (want F32, BF16 or F16)", to)
	}
	if len(dst) != len(w)*to.Size() {
		return fmt.Errorf("dequantize fp8: %d bytes of %v for %d elements", len(dst), to, len(w))
	}
	if len(scales) == 0 {
		scales = []float32{1}
	}
	if len(w)%len(scales) != 0 {
		return fmt.Errorf("dequantize fp8: %d elements do not split into %d scaled rows", len(w), len(scales))
	}
	dec := tensor.F8E4M3FNToF32
	if dt == tensor.F8_E5M2 {
		dec = tensor.F8E5M2ToF32
	}
	row := len(w) / len(scales)
	for r, s := range scales {
		if sem == ScaleRoundedFirst {
			switch to {
			case tensor.BF16:
				s = tensor.BF16ToF32(tensor.F32ToBF16(s))
			case tensor.F16:
				s = tensor.F16ToF32(tensor.F32ToF16(s))
			}
		}
		for i := r * row; i < (r+1)*row; i++ {
			v := float32(dec(w[i]) * s)
			switch to {
			case tensor.F32:
				le.PutUint32(dst[4*i:], math.Float32bits(v))
			case tensor.BF16:
				le.PutUint16(dst[2*i:], tensor.F32ToBF16(v))
			default:
				le.PutUint16(dst[2*i:], tensor.F32ToF16(v))
			}
		}
	}
	return nil
}
