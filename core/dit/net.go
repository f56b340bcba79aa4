package dit

import (
	"context"
	"fmt"

	"github.com/ditkit/ditkit/core/spec"
	"github.com/ditkit/ditkit/core/tensor"
)

// Cond is the conditioning of a batch: each family reads its part.
type Cond struct {
	// Labels are class labels, one per sample (DiT). Net.Classes() is the
	// null (unconditional) label when the model has a null row.
	Labels []int
	// Caption holds caption embeddings [N, 1, L, Ct] (STDiT); nil means
	// the model's own null caption for every sample.
	Caption []float32
	// Mask is the caption mask [N', L], N divisible by N'; nil keeps every
	// caption token.
	Mask []int
	// FPS, Height and Width are Open-Sora 1.2+ micro-conditions (STDiT3):
	// one value for the batch or one per sample; Height and Width are in
	// pixels and, as upstream, only their first entry counts.
	FPS, Height, Width []float64
	// XMask [N, T] marks the latent frames that take the real timestep;
	// frames marked false take the t = 0 modulation (STDiT3 x_mask). nil:
	// every frame takes t.
	XMask []bool
	// ImgHW and AspectRatio are PixArtMS's micro-conditions (data_info
	// img_hw [N', 2] in pixels, aspect_ratio [N', 1] = height/width), rows
	// repeated over the batch; nil: from the latent's size.
	ImgHW, AspectRatio []float64
}

// Concat returns the conditioning of the batch c followed by o (the
// classifier-free guidance batch [cond; null]). Captions must be given on
// both sides or on neither. A caption mask, x_mask or micro-condition
// given on c alone applies to the whole joined batch (its rows repeat over
// it, as PixArt's mask.repeat and data_info and Open-Sora's encode_text do
// for the null half); given on both sides they are joined (a value given
// once on both sides and equal stays one value).
func (c *Cond) Concat(o *Cond) (*Cond, error) {
	if (c.Caption == nil) != (o.Caption == nil) {
		return nil, fmt.Errorf("dit: cannot join a batch with a caption to one without")
	}
	d := &Cond{
		Labels:  append(append([]int(nil), c.Labels...), o.Labels...),
		Caption: append(append([]float32(nil), c.Caption...), o.Caption...),
	}
	if c.Caption == nil {
		d.Caption = nil
	}
	var err error
	if d.Mask, err = joinRows(c.Mask, o.Mask, "a caption mask"); err != nil {
		return nil, err
	}
	if d.XMask, err = joinRows(c.XMask, o.XMask, "x_mask"); err != nil {
		return nil, err
	}
	for _, f := range []struct {
		name string
		dst  *[]float64
		a, b []float64
	}{{"fps", &d.FPS, c.FPS, o.FPS}, {"height", &d.Height, c.Height, o.Height}, {"width", &d.Width, c.Width, o.Width}} {
		if *f.dst, err = joinScalars(f.name, f.a, f.b); err != nil {
			return nil, err
		}
	}
	if d.ImgHW, err = joinRows(c.ImgHW, o.ImgHW, "img_hw"); err != nil {
		return nil, err
	}
	if d.AspectRatio, err = joinRows(c.AspectRatio, o.AspectRatio, "aspect_ratio"); err != nil {
		return nil, err
	}
	return d, nil
}

// joinRows joins per-sample rows: a alone applies to the whole joined
// batch; b without a cannot.
func joinRows[T any](a, b []T, name string) ([]T, error) {
	switch {
	case b == nil:
		return a, nil
	case a == nil:
		return nil, fmt.Errorf("dit: cannot join a batch without %s to one with", name)
	}
	return append(append([]T(nil), a...), b...), nil
}

// joinScalars joins a per-batch micro-condition: given on a alone it
// applies to the whole batch; given once on both sides and equal it stays
// one value; otherwise the per-sample values are appended.
func joinScalars(name string, a, b []float64) ([]float64, error) {
	switch {
	case len(a) == 1 && len(b) == 1 && a[0] == b[0]:
		return []float64{a[0]}, nil
	case b != nil && (len(a) == 1) != (len(b) == 1):
		return nil, fmt.Errorf("dit: cannot join %s given once to %s given per sample", name, name)
	}
	return joinRows(a, b, name)
}

// Net is a runnable model of any family, built by Build: what the CLI,
// the page, window.ditkit and the sampling loop (core/sample) run.
//
// Adding a family (PixArt, STDiT3, Latte, …): write its Program (the op
// list; new ops go in program.go with an Eager case, and a WebGPU kernel
// or a "no kernel yet" error in wasm/webgpu), a constructor reading its
// weights through reader, and register it in builders; spec.Resolve and
// the spec package already describe it. Conditioning it reads goes in
// Cond.
type Net interface {
	// Spec is the architecture the net was built from.
	Spec() *spec.Spec
	// Latent is one sample's input shape at the configured size: [C, H, W]
	// (images) or [C, T, H, W] (video; Latte's is [T, C, H, W], see
	// ChannelAxis).
	Latent() []int
	// OutChannels is the channel count of Forward's output (2·C when the
	// model predicts its variance too).
	OutChannels() int
	// LearnSigma reports those learned-range variance channels.
	LearnSigma() bool
	// Classes is the number of class labels (0 for caption models).
	Classes() int
	// Forward runs the network on x (shaped shape = [N, C, …]) at
	// timesteps t (N of them) with conditioning c, returning the output
	// and its shape [N, OutChannels, …].
	Forward(ctx context.Context, x []float32, shape []int, t []float64, c *Cond, opt *Options) ([]float32, []int, error)
	// Null is the conditioning that classifier-free guidance contrasts
	// against for n samples (the null class row, the null caption), or an
	// error when the model has none.
	Null(n int) (*Cond, error)
	// Guided is how many leading output channels forward_with_cfg guides
	// (DiT and PixArt: 3); 0 when the family has no forward_with_cfg.
	Guided() int
	// FLOPs is 2× the multiply-adds of one forward of n samples at the
	// configured size.
	FLOPs(n int) float64
	// WeightBytes is the memory the weights hold.
	WeightBytes() int64
}

// FLOPsAt is 2× the multiply-adds of one forward of net on an input of
// shape [N, C, …]: the model's own count for that size when its size is
// dynamic (STDiT3), else Net.FLOPs(N).
func FLOPsAt(net Net, shape []int) float64 {
	if f, ok := net.(interface{ FLOPsAt([]int) float64 }); ok {
		return f.FLOPsAt(shape)
	}
	if len(shape) == 0 {
		return 0
	}
	return net.FLOPs(shape[0])
}

// ForwardWithCFG is forward_with_cfg (DiT, PixArt, Latte): the first half
// of x is run twice with c's conditioning (c = [cond…; null…] as
// sample.py builds it; a net's CFGCond, when it has one, says what its
// forward_with_cfg passes on), the first net.Guided() output channels
// (along ChannelAxis) are guided, eps = u + s·(c − u), and written to both
// halves; the other channels pass through per half.
func ForwardWithCFG(ctx context.Context, net Net, x []float32, shape []int, t []float64, c *Cond, scale float32, opt *Options) ([]float32, []int, error) {
	gc := net.Guided()
	if q, ok := net.(interface{ CFGCond(*Cond) *Cond }); ok {
		c = q.CFGCond(c)
	}
	if gc == 0 {
		return nil, nil, fmt.Errorf("%s: the model has no forward_with_cfg (classifier-free guidance)", net.Spec().Family)
	}
	N := len(t)
	if N%2 != 0 || len(shape) == 0 || shape[0] != N {
		return nil, nil, fmt.Errorf("dit: forward_with_cfg needs an even batch, got %d", N)
	}
	half := len(x) / 2
	comb := make([]float32, len(x))
	copy(comb, x[:half])
	copy(comb[half:], x[:half])
	out, oshape, err := net.Forward(ctx, comb, shape, t, c, opt)
	if err != nil {
		return nil, nil, err
	}
	axis := ChannelAxis(net)
	groups, Co := 1, oshape[axis]
	for _, d := range oshape[1:axis] {
		groups *= d
	}
	plane := len(out) / (N * groups * Co)
	gc = min(gc, Co)
	for n := 0; n < N/2; n++ {
		for g := 0; g < groups; g++ {
			for ch := 0; ch < gc; ch++ {
				cond := out[((n*groups+g)*Co+ch)*plane:][:plane]
				unc := out[(((n+N/2)*groups+g)*Co+ch)*plane:][:plane]
				for i := range cond {
					v := unc[i] + scale*(cond[i]-unc[i])
					cond[i], unc[i] = v, v
				}
			}
		}
	}
	return out, oshape, nil
}

// ChannelAxis is the axis of a net's x (and output) that holds the
// channels: 1 ([N, C, …]) for every family but Latte, whose x is
// upstream's [N, F, C, H, W] (2). The diffusion splits ε from the
// variance, and guidance picks its channels, along it. Like CFGCond it is
// an optional method of the built Net: pass the Net Build returned, not a
// wrapper embedding it.
func ChannelAxis(n Net) int {
	if a, ok := n.(interface{ ChannelAxis() int }); ok {
		return a.ChannelAxis()
	}
	return 1
}

// Inputs are one forward's inputs.
type Inputs struct {
	X     []float32
	Shape []int // x's shape [N, C, …]
	T     []float64
	Cond  *Cond
}

// ReadInputs takes a forward's inputs from tensors stored as the reference
// fixtures store them: x (F32 or F64), t, y (int labels for a
// class-conditional net; caption embeddings otherwise, where no y means the
// model's null caption), an optional caption mask and, when present, the
// micro-conditions: fps, height, width and x_mask (STDiT3), img_hw and
// aspect_ratio (PixArtMS). name names their file in
// errors.
func ReadInputs(net Net, ts map[string]*tensor.Dense, name string) (*Inputs, error) {
	labels := net.Classes() > 0
	for _, k := range []string{"x", "t", "y"} {
		if ts[k] == nil && (k != "y" || labels) {
			return nil, fmt.Errorf("%s: no tensor %q", name, k)
		}
	}
	in := &Inputs{Shape: ts["x"].Shape, Cond: &Cond{}}
	var err error
	if in.X, err = ts["x"].Float32s(); err != nil {
		return nil, fmt.Errorf("%s: x: %w", name, err)
	}
	if in.T, err = ts["t"].Float64s(); err != nil {
		return nil, fmt.Errorf("%s: t: %w", name, err)
	}
	switch {
	case labels:
		in.Cond.Labels, err = ts["y"].Ints()
	case ts["y"] != nil:
		in.Cond.Caption, err = ts["y"].Float32s()
	}
	if err != nil {
		return nil, fmt.Errorf("%s: y: %w", name, err)
	}
	if ts["mask"] != nil {
		if in.Cond.Mask, err = ts["mask"].Ints(); err != nil {
			return nil, fmt.Errorf("%s: mask: %w", name, err)
		}
	}
	for _, f := range []struct {
		key string
		dst *[]float64
	}{{"fps", &in.Cond.FPS}, {"height", &in.Cond.Height}, {"width", &in.Cond.Width},
		{"img_hw", &in.Cond.ImgHW}, {"aspect_ratio", &in.Cond.AspectRatio}} {
		if ts[f.key] != nil {
			if *f.dst, err = ts[f.key].Float64s(); err != nil {
				return nil, fmt.Errorf("%s: %s: %w", name, f.key, err)
			}
		}
	}
	if ts["x_mask"] != nil {
		m, err := ts["x_mask"].Ints()
		if err != nil {
			return nil, fmt.Errorf("%s: x_mask: %w", name, err)
		}
		in.Cond.XMask = make([]bool, len(m))
		for i, v := range m {
			in.Cond.XMask[i] = v != 0
		}
	}
	return in, nil
}
