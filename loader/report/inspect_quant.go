package report

import (
	"math"
	"unicode/utf8"

	"github.com/ditkit/ditkit/core/quant"
	"github.com/ditkit/ditkit/loader"
)

// GGUFInfo is the "gguf" object of inspect --json for a GGUF file.
type GGUFInfo struct {
	Version           uint32 `json:"version"`
	Alignment         int64  `json:"alignment"`
	DataOffset        int64  `json:"data_offset"`
	Architecture      string `json:"architecture"`
	ArchitectureName  string `json:"architecture_name"`
	ArchitectureKnown bool   `json:"architecture_known"`
	// KV holds every key-value pair; arrays longer than ggufKVItems and
	// strings longer than ggufKVString are summarised (len, truncated).
	KV map[string]GGUFKVInfo `json:"kv"`
	// BytesByType is the stored bytes by ggml type (bytes_by_dtype counts
	// the dense, dequantized sizes).
	BytesByType map[string]int64 `json:"bytes_by_gguf_type"`
}

// GGUFKVInfo is one KV value as inspect prints it.
type GGUFKVInfo struct {
	Type      string `json:"type"`
	ElemType  string `json:"elem_type,omitempty"`
	Len       uint64 `json:"len,omitempty"`
	Value     any    `json:"value"`
	Truncated bool   `json:"truncated,omitempty"`
}

const (
	ggufKVItems  = 16
	ggufKVString = 256
)

func ggufInfo(ck *loader.Checkpoint) *GGUFInfo {
	g := ck.GGUF
	name, known := loader.GGUFArchitectureName(g.Architecture)
	out := &GGUFInfo{Version: g.Version, Alignment: g.Alignment, DataOffset: g.DataOffset, Architecture: g.Architecture,
		ArchitectureName: name, ArchitectureKnown: known, KV: map[string]GGUFKVInfo{}, BytesByType: map[string]int64{}}
	for _, kv := range g.KV {
		out.KV[kv.Key] = kvInfo(kv.GGUFValue)
	}
	for _, t := range ck.Tensors {
		if t.GGUF != nil {
			out.BytesByType[t.GGUF.Type.String()] += t.GGUF.Size
		}
	}
	return out
}

func kvInfo(v loader.GGUFValue) GGUFKVInfo {
	k := GGUFKVInfo{Type: v.Type.String()}
	if v.Type != loader.GGUFArray {
		k.Value, k.Truncated = jsonScalar(v.Value)
		return k
	}
	k.ElemType, k.Len = v.Elem.String(), v.Len
	items := make([]any, 0, min(len(v.Items), ggufKVItems))
	for i, e := range v.Items {
		if i == ggufKVItems {
			break
		}
		if e.Type == loader.GGUFArray {
			items = append(items, kvInfo(e))
			continue
		}
		s, cut := jsonScalar(e.Value)
		k.Truncated = k.Truncated || cut
		items = append(items, s)
	}
	k.Value = items
	k.Truncated = k.Truncated || uint64(len(items)) < v.Len
	return k
}

// jsonScalar makes a KV scalar JSON-safe: long strings cut, NaN and
// infinities as strings.
func jsonScalar(x any) (any, bool) {
	switch v := x.(type) {
	case string:
		if len(v) > ggufKVString {
			cut := ggufKVString
			for cut > 0 && !utf8.RuneStart(v[cut]) {
				cut--
			}
			return v[:cut] + "…", true
		}
	case float32:
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return formatSpecial(float64(v)), false
		}
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return formatSpecial(v), false
		}
	}
	return x, false
}

func formatSpecial(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case f > 0:
		return "Infinity"
	}
	return "-Infinity"
}

// FP8Info is the "fp8" object of inspect --json for checkpoints holding
// fp8 weights: the layout (plain, old ComfyUI scaled_fp8, new
// weight_scale), the marker, how many weights carry scales, and why.
type FP8Info struct {
	Layout       string   `json:"layout"`
	Marker       string   `json:"marker,omitempty"`
	FP8Tensors   int      `json:"fp8_tensors"`
	ScaledLayers int      `json:"scaled_layers"`
	Evidence     []string `json:"evidence"`
	Unsupported  []string `json:"unsupported,omitempty"`
}

// fp8Info recognises fp8 layouts; a malformed one becomes a note.
func fp8Info(ck *loader.Checkpoint) (*FP8Info, string) {
	f, err := quant.DetectFP8(ck.Infos(), ck.Metadata)
	if err != nil {
		return nil, "fp8: " + err.Error()
	}
	if f == nil {
		return nil, ""
	}
	out := &FP8Info{Layout: f.Layout, Marker: f.Marker, FP8Tensors: len(f.Layers), Evidence: f.Evidence, Unsupported: f.Unsupported}
	for _, l := range f.Layers {
		if l.Scale != "" {
			out.ScaledLayers++
		}
	}
	if out.Evidence == nil {
		out.Evidence = []string{}
	}
	return out, ""
}
