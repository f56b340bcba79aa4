package dit

import "github.com/ditkit/ditkit/core/dit/kernels"

// Options control one forward call. The backend is chosen explicitly:
// Runner when set (a device running whole programs: WebGPU), else op by op
// on Backend (kernels.CPU with all threads when nil).
type Options struct {
	// Backend runs the program op by op (Eager): kernels.CPU, or a
	// device's per-op kernels.
	Backend Backend
	// Runner, when set, runs the whole program on its device instead.
	// Hook needs op-by-op execution: with a Runner it is an error.
	Runner Runner
	// Yield, when set, is called between blocks (op by op) so a browser
	// can breathe; kernels.CPU.Yield does the same between kernel chunks.
	Yield func()
	// Hook, when set, receives every intermediate under the names of the
	// reference fixtures (t_freq, t_emb, y_emb, c, x_embed, x_embed_pos,
	// block{i}_adaLN, block{i}_attn, block{i}_mlp, block{i}_out,
	// final_adaLN, final_out, out). data must not be retained.
	Hook func(name string, shape []int, data []float32)
}

func (o *Options) backend() Backend {
	if o != nil && o.Backend != nil {
		return o.Backend
	}
	return &kernels.CPU{Yield: o.yield()}
}

func (o *Options) yield() func() {
	if o == nil {
		return nil
	}
	return o.Yield
}

func (o *Options) hook(name string, shape []int, data []float32) {
	if o != nil && o.Hook != nil {
		o.Hook(name, shape, data)
	}
}
