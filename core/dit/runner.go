package dit

import (
	"context"

	"github.com/ditkit/ditkit/core/dit/kernels"
)

// Runner is an optional Backend extension for devices that keep the
// activations resident for a whole forward pass (WebGPU): instead of one
// kernel call (and one readback) per op, Forward hands it the whole token
// stack at once. The cheap, exact gathers stay on the CPU: patchify, the
// timestep sinusoid and the label-table rows; so does unpatchify.
//
// Forward uses a Runner unless Options.Hook is set (intermediates are only
// visible op by op); Runner backends still implement the Backend methods.
type Runner interface {
	// RunDiT computes, for the N samples, x_embed (+pos_embed), the
	// conditioning c = TMLP(tfreq) + yemb, every block and the final layer,
	// returning final_out [N·T, p²·Cout]. patches is [N·T, C·p·p] in
	// Conv2d weight order, tfreq [N, TimestepFreqs], yemb [N, H].
	RunDiT(ctx context.Context, m *Model, patches, tfreq, yemb []float32, n int) ([]float32, error)
}

// runOn runs the forward through r (see Runner) and unpatchifies.
func (m *Model) runOn(ctx context.Context, r Runner, patches []float32, t []float64, y []int) ([]float32, error) {
	cfg := m.Cfg
	N, H, p := len(t), cfg.HiddenSize, cfg.PatchSize
	g := cfg.InputSize / p
	ye := make([]float32, N*H)
	for n, l := range y {
		m.YTable.Row(l, ye[n*H:(n+1)*H])
	}
	fo, err := r.RunDiT(ctx, m, patches, TimestepEmbedding(t, TimestepFreqs), ye, N)
	if err != nil {
		return nil, err
	}
	return unpatchify(fo, N, 1, g, g, 1, p, p, cfg.OutChannels()), nil
}

// RunTokens is the op-by-op computation a Runner replaces, on any Backend:
// from patches, tfreq and yemb to final_out [N·T, p²·Cout]. A device
// backend falls back to it (on the CPU) when its device fails mid-run.
func (m *Model) RunTokens(ctx context.Context, be Backend, patches, tfreq, yemb []float32, n int, opt *Options) ([]float32, error) {
	cfg := m.Cfg
	H, T := cfg.HiddenSize, cfg.Tokens()
	rows := n * T
	h := make([]float32, rows*H)
	be.Linear(h, patches, rows, m.XEmbed.W, m.XEmbed.B)
	for i := 0; i < n; i++ {
		add(h[i*T*H:(i+1)*T*H], m.PosEmbed)
	}
	t1 := make([]float32, n*H)
	be.Linear(t1, tfreq, n, m.TMLP1.W, m.TMLP1.B)
	kernels.SiLU(t1, t1)
	c := make([]float32, n*H)
	be.Linear(c, t1, n, m.TMLP2.W, m.TMLP2.B)
	add(c, yemb)
	sc := make([]float32, n*H)
	kernels.SiLU(sc, c)
	s := newBlockScratch(rows, H, cfg.MLPHidden())
	for i := range m.Blocks {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		m.block(be, i, h, sc, n, T, s, nil)
		if y := opt.yield(); y != nil {
			y()
		}
	}
	fm := make([]float32, n*2*H)
	be.Linear(fm, sc, n, m.FinalAda.W, m.FinalAda.B)
	be.LayerNormModulate(s.norm, h, rows, H, 1e-6, T, fm, fm[H:], 2*H)
	fo := make([]float32, rows*m.Final.W.Rows)
	be.Linear(fo, s.norm, rows, m.Final.W, m.Final.B)
	return fo, nil
}
