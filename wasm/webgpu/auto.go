//go:build js && wasm

package webgpu

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall/js"

	"github.com/ditkit/ditkit/core/dit"
	"github.com/ditkit/ditkit/core/dit/kernels"
)

// Auto is the backend the page runs: WebGPU when the browser has an
// adapter (and ForceCPU is off), else the CPU. When the GPU fails in the
// middle of a run (device lost, out of memory, a kernel error) it switches
// to the CPU for the rest of its life, recomputing the failed forward
// there, and Status says why. Op-by-op Backend calls (STDiT, or a Hook
// asking for intermediates) run on the CPU; a DiT forward goes through
// RunDiT with the activations resident on the GPU.
type Auto struct {
	CPU      *kernels.CPU
	ForceCPU bool
	// SplitBytes caps one weight buffer (tests force tensor splits).
	SplitBytes int64
	// Matmul overrides the matmul kernel choice (see GPU.Matmul).
	Matmul string
	// MemoryBudget, when > 0, is the GPU memory this page may use: a model
	// needing more runs on the CPU (WebGPU cannot query free memory; the
	// page may know better, and tests simulate a small GPU with it).
	MemoryBudget int64

	gpuRuns, cpuOps atomic.Int64

	mu      sync.Mutex
	started bool
	gpu     *GPU
	note    string
	models  map[*dit.Model]bool
}

var (
	_ dit.Backend = (*Auto)(nil)
	_ dit.Runner  = (*Auto)(nil)
)

// NewAuto returns an Auto backend over cpu.
func NewAuto(cpu *kernels.CPU, forceCPU bool) *Auto {
	return &Auto{CPU: cpu, ForceCPU: forceCPU, models: map[*dit.Model]bool{}}
}

// device opens the GPU on first use (awaits: call from a goroutine).
func (a *Auto) device() *GPU {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.started {
		a.started = true
		if a.ForceCPU {
			a.note = "CPU forced"
			return nil
		}
		g, err := Open()
		if err != nil {
			a.note = err.Error()
			return nil
		}
		a.gpu = g
	}
	return a.gpu
}

// Start opens the device now (for a status line before the first step).
func (a *Auto) Start() { a.device() }

func (a *Auto) fail(err error) {
	a.mu.Lock()
	g := a.gpu
	a.gpu = nil
	if errors.Is(err, ErrUnavailable) {
		a.note = err.Error()
	} else {
		a.note = "WebGPU failed: " + err.Error()
	}
	a.mu.Unlock()
	js.Global().Get("console").Call("warn", "ditkit: "+a.note+"; continuing on the CPU")
	if g != nil && g.Lost() == "" {
		a.releaseOn(g)
	}
}

// RunDiT implements dit.Runner.
func (a *Auto) RunDiT(ctx context.Context, m *dit.Model, patches, tfreq, yemb []float32, n int) ([]float32, error) {
	if g := a.device(); g != nil {
		a.mu.Lock()
		a.models[m] = true
		a.mu.Unlock()
		g.SplitBytes, g.Matmul = a.SplitBytes, a.Matmul
		if need := WeightBytes(m) + ActivationBytes(m.Cfg, n); a.MemoryBudget > 0 && need > a.MemoryBudget {
			a.fail(fmt.Errorf("%w: the model needs %s of GPU memory, %s available", ErrUnavailable, mib(need), mib(a.MemoryBudget)))
			return m.RunTokens(ctx, a.CPU, patches, tfreq, yemb, n, &dit.Options{Yield: a.CPU.Yield})
		}
		var out []float32
		err := Guard(func() (err error) {
			out, err = g.RunDiT(ctx, m, patches, tfreq, yemb, n)
			return err
		})
		if err == nil {
			a.gpuRuns.Add(1)
			return out, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		a.fail(err)
	}
	return m.RunTokens(ctx, a.CPU, patches, tfreq, yemb, n, &dit.Options{Yield: a.CPU.Yield})
}

// Guard runs fn and turns a panic (the dit.Backend methods of the GPU
// panic on GPU errors) into its error.
func Guard(fn func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			if e, ok := p.(error); ok {
				err = e
			} else {
				err = fmt.Errorf("%v", p)
			}
		}
	}()
	return fn()
}

// Status says where the forward passes ran: backend "webgpu" or "cpu",
// the adapter, and (for the CPU) why WebGPU was not used.
func (a *Auto) Status() (backend, adapter, note string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.gpu != nil {
		if a.gpuRuns.Load() > 0 || a.cpuOps.Load() == 0 {
			return "webgpu", a.gpu.Adapter, ""
		}
		return "cpu", a.gpu.Adapter, "this model runs op by op on the CPU (the WebGPU path covers DiT forward passes)"
	}
	if shared != nil && !a.ForceCPU {
		adapter = shared.Adapter // the adapter that failed
	}
	return "cpu", adapter, a.note
}

// Describe is Status as one line for the page.
func (a *Auto) Describe() string {
	be, ad, note := a.Status()
	switch {
	case be == "webgpu":
		return "WebGPU — " + ad
	case note == "CPU forced":
		return "CPU (Go wasm, one thread), forced"
	case note != "":
		return "CPU (Go wasm, one thread): " + note + "; fell back to the CPU"
	}
	return "CPU (Go wasm, one thread)"
}

// Memory reports what m needs on the GPU (empty without a GPU).
func (a *Auto) Memory(m *dit.Model, n int) string {
	a.mu.Lock()
	g := a.gpu
	a.mu.Unlock()
	if g == nil {
		return ""
	}
	return g.Memory(m, n)
}

// Close frees what this backend put on the GPU.
func (a *Auto) Close() {
	a.mu.Lock()
	g := a.gpu
	a.mu.Unlock()
	if g != nil {
		a.releaseOn(g)
	}
}

func (a *Auto) releaseOn(g *GPU) {
	a.mu.Lock()
	ms := a.models
	a.models = map[*dit.Model]bool{}
	a.mu.Unlock()
	for m := range ms {
		g.Release(m)
	}
}

// Linear implements dit.Backend (on the CPU).
func (a *Auto) Linear(y, x []float32, m int, w *kernels.Weight, b []float32) {
	a.cpuOps.Add(1)
	a.CPU.Linear(y, x, m, w, b)
}

// LinearGELU implements dit.Backend (on the CPU).
func (a *Auto) LinearGELU(y, x []float32, m int, w *kernels.Weight, b []float32) {
	a.cpuOps.Add(1)
	a.CPU.LinearGELU(y, x, m, w, b)
}

// Attention implements dit.Backend (on the CPU).
func (a *Auto) Attention(args *kernels.AttnArgs) {
	a.cpuOps.Add(1)
	a.CPU.Attention(args)
}

// LayerNormModulate implements dit.Backend (on the CPU).
func (a *Auto) LayerNormModulate(out, x []float32, rows, h int, eps float32, groupRows int, shift, scale []float32, stride int) {
	a.cpuOps.Add(1)
	a.CPU.LayerNormModulate(out, x, rows, h, eps, groupRows, shift, scale, stride)
}
