//go:build js && wasm

package main

import (
	"runtime/debug"

	"github.com/ditkit/ditkit/ui"
)

// One Go wasm instance dies unrecoverably past ~3.99 GiB: make the garbage
// collector work harder as the heap nears the budget the page plans with.
func init() { debug.SetMemoryLimit(int64(ui.MemoryLimit)) }
