package kernels

import "github.com/ditkit/ditkit/core/internal/par"

// AttnArgs describes a batch of attention problems. Sequence s reads query
// rows [s*NQ, (s+1)*NQ) and key/value rows [s*NK, (s+1)*NK); row r of Q
// starts at Q[r*QStride], head h occupies columns [h*HeadDim, (h+1)*HeadDim).
// Output rows are written like Q rows with OutStride.
type AttnArgs struct {
	Out       []float32
	OutStride int
	Q         []float32
	QStride   int
	K, V      []float32
	KVStride  int
	Seqs      int
	NQ, NK    int
	KVLen     []int // optional: sequence s attends to its first KVLen[s] keys only
	Heads     int
	HeadDim   int
	Scale     float32 // usually 1/√HeadDim
}

// CPU is the portable backend: cache-blocked, register-tiled kernels run
// over Threads goroutines. With one thread (the wasm build) the work runs
// inline and Yield, when set, is called between chunks so a browser page
// stays responsive.
type CPU struct {
	Threads int    // 0 = GOMAXPROCS
	Yield   func() // called between chunks when single-threaded
	// Precision of the activations entering Linear/LinearGELU (FP32
	// default; BF16 rounds them to bf16 and runs AMX or VDPBF16PS where
	// the CPU has them, see Precision).
	Precision Precision
}

// NewCPU returns a CPU backend using all available threads.
func NewCPU() *CPU { return &CPU{} }

func (c *CPU) threads() int {
	if c == nil {
		return par.Threads(0)
	}
	return par.Threads(c.Threads)
}

// parallel splits [0,n) into chunks and runs fn on them (par.For). With
// one thread the chunks run in order with Yield between them.
func (c *CPU) parallel(n, grain int, fn func(lo, hi int)) {
	var yield func()
	if c != nil {
		yield = c.Yield
	}
	par.For(c.threads(), n, grain, yield, fn)
}
