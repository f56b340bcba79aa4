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

// Auto is the dit.Runner the page uses: programs run on WebGPU when the
// browser has an adapter (and ForceCPU is off), else op by op on the CPU.
// When the GPU fails in the middle of a run (device lost, out of memory, a
// kernel error, an op it has no kernel for) it switches to the CPU for the
// rest of its life, recomputing the failed forward there, and Status says
// why.
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

	gpuRuns atomic.Int64

	mu      sync.Mutex
	started bool
	gpu     *GPU
	note    string
	memory  string
	progs   map[*dit.Program]bool
}

var _ dit.Runner = (*Auto)(nil)

// NewAuto returns an Auto runner falling back to cpu.
func NewAuto(cpu *kernels.CPU, forceCPU bool) *Auto {
	return &Auto{CPU: cpu, ForceCPU: forceCPU, progs: map[*dit.Program]bool{}}
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

// Run implements dit.Runner.
func (a *Auto) Run(ctx context.Context, p *dit.Program, f *dit.Feed) ([]float32, error) {
	if g := a.device(); g != nil {
		a.mu.Lock()
		a.progs[p] = true
		a.memory = g.Memory(p)
		a.mu.Unlock()
		g.SplitBytes, g.Matmul = a.SplitBytes, a.Matmul
		if w, act := p.Bytes(); a.MemoryBudget > 0 && w+act > a.MemoryBudget {
			a.fail(fmt.Errorf("%w: the model needs %s of GPU memory, %s available", ErrUnavailable, mib(w+act), mib(a.MemoryBudget)))
			return a.eager(ctx, p, f)
		}
		var out []float32
		err := Guard(func() (err error) {
			out, err = g.Run(ctx, p, f)
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
	return a.eager(ctx, p, f)
}

func (a *Auto) eager(ctx context.Context, p *dit.Program, f *dit.Feed) ([]float32, error) {
	return dit.Eager(ctx, p, f, &dit.Options{Backend: a.CPU, Yield: a.CPU.Yield})
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
		return "webgpu", a.gpu.Adapter, ""
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

// Memory reports what the last program run needs on the GPU (empty
// without a GPU).
func (a *Auto) Memory() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.memory
}

// Close frees what this runner put on the GPU.
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
	ps := a.progs
	a.progs = map[*dit.Program]bool{}
	a.mu.Unlock()
	for p := range ps {
		g.Release(p)
	}
}
