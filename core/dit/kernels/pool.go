package kernels

import "sync"

// apackPool holds the packed activation blocks of linearPanels.
var apackPool = sync.Pool{New: func() any { return new([]float32) }}

var panelPool = sync.Pool{New: func() any { b := make([]float32, kc*nr); return &b }}

func getPanel() []float32  { return *(panelPool.Get().(*[]float32)) }
func putPanel(b []float32) { panelPool.Put(&b) }
