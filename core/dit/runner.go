package dit

import "context"

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
