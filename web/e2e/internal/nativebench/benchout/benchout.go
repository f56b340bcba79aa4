// Package benchout is the JSON that nativebench prints and TestPreviewBench
// reads: one type for both, so a renamed field cannot drift silently.
package benchout

// Result is what one nativebench run prints (as JSON).
type Result struct {
	What         string  `json:"what"` // preset, or the decoder file
	Family       string  `json:"family,omitempty"`
	DType        string  `json:"dtype,omitempty"`
	Depth        int     `json:"depth,omitempty"`
	FullDepth    int     `json:"fullDepth,omitempty"`
	Batch        int     `json:"batch"`
	Latent       []int   `json:"latent"`
	Steps        int     `json:"steps"`
	Threads      int     `json:"threads"`
	GFLOPPerStep float64 `json:"gflopPerStep"`
	FirstS       float64 `json:"firstS"`
	SPerStep     float64 `json:"sPerStep"`
	CPUSPerStep  float64 `json:"cpuSPerStep"`
	GFLOPs       float64 `json:"gflops"`
	// Memory: the weights the model holds (and at the preset's own depth),
	// the Go heap in use after the run (weights included), the peak RSS.
	WeightBytes     int64 `json:"weightBytes"`
	FullWeightBytes int64 `json:"fullWeightBytes"`
	HeapBytes       int64 `json:"heapBytes"`
	PeakRSSBytes    int64 `json:"peakRssBytes"`
}
