package diffusion_test

import (
	"context"
	"math"
	"path/filepath"
	"testing"

	"github.com/ditkit/ditkit/core/diffusion"
	"github.com/ditkit/ditkit/core/dit"
	"github.com/ditkit/ditkit/core/spec"
	"github.com/ditkit/ditkit/core/tensor"
	"github.com/ditkit/ditkit/loader/fixtures"
)

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func relErr(a []float32, ref []float64) float64 {
	var md, mr float64
	for i := range ref {
		md = max(md, math.Abs(float64(a[i])-ref[i]))
		mr = max(mr, math.Abs(ref[i]))
	}
	return md / mr
}

func TestSpaceTimesteps(t *testing.T) {
	for _, c := range []struct {
		s    string
		want []int
	}{
		{"4", []int{0, 333, 666, 999}},
		{"ddim4", []int{0, 250, 500, 750}},
		{"2,3", []int{0, 499, 500, 750, 999}},
	} {
		got, err := diffusion.SpaceTimesteps(1000, c.s)
		if err != nil || len(got) != len(c.want) {
			t.Fatalf("%s: %v %v", c.s, got, err)
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%s: got %v want %v", c.s, got, c.want)
				break
			}
		}
	}
}

func TestSamplerReferences(t *testing.T) {
	dir := filepath.Join(fixtures.Root(t), "dit_A")
	w := fixtures.ReadAll(t, filepath.Join(dir, "ckpt.safetensors"))
	m, _, err := dit.Load(tensor.Map(w), spec.Request{Set: map[string]any{"num_heads": 4}}, dit.Policy{Strict: true}, dit.BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ ref, sampler string }{
		{"ref_sampler_ddpm4", "ddpm"}, {"ref_sampler_ddim4", "ddim"},
		{"ref_sampler_ddpm4_fp64", "ddpm"}, {"ref_sampler_ddim4_fp64", "ddim"},
	} {
		t.Run(c.ref, func(t *testing.T) {
			ref := fixtures.ReadAll(t, filepath.Join(dir, c.ref+".safetensors"))
			d := must(diffusion.Create("4", m.LearnSigma()))
			betas := must(ref["betas"].Float64s())
			acs := must(ref["alphas_cumprod"].Float64s())
			ts := must(ref["timesteps"].Int64s())
			for i := range betas {
				if math.Abs(d.Betas[i]-betas[i]) > 1e-15 || math.Abs(d.AlphasCumprod[i]-acs[i]) > 1e-15 || int64(d.TimestepMap[len(ts)-1-i]) != ts[i] {
					t.Fatalf("schedule step %d: beta %v/%v ac %v/%v t %d/%d", i, d.Betas[i], betas[i], d.AlphasCumprod[i], acs[i], d.TimestepMap[i], ts[i])
				}
			}
			yl := must(ref["y"].Int64s())
			y := &dit.Cond{Labels: []int{int(yl[0]), int(yl[1])}}
			x := must(ref["x"].Float32s())
			sn := must(ref["step_noise"].Float32s())
			xs := must(ref["x_steps"].Float64s())
			ps := must(ref["pred_xstart_steps"].Float64s())
			per := len(x)
			model := func(ctx context.Context, x []float32, t []float64) ([]float32, error) {
				out, _, err := dit.ForwardWithCFG(ctx, m, x, []int{2, 4, 8, 8}, t, y, 4, nil)
				return out, err
			}
			out, err := d.Sample(context.Background(), model, x, 2, diffusion.Options{
				Sampler: c.sampler,
				Noise:   func(i int, dst []float32) { copy(dst, sn[i*per:(i+1)*per]) },
				Step: func(i, _ int, x, pred []float32) {
					e1 := relErr(x, xs[i*per:(i+1)*per])
					e2 := relErr(pred, ps[i*per:(i+1)*per])
					t.Logf("step %d: x rel err %.3g, pred_xstart rel err %.3g", i, e1, e2)
					if e1 > 1e-5 || e2 > 1e-5 {
						t.Errorf("step %d: x rel err %.3g, pred_xstart %.3g", i, e1, e2)
					}
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			e := relErr(out, must(ref["out"].Float64s()))
			t.Logf("out rel err %.3g", e)
			if e > 1e-5 {
				t.Errorf("out rel err %.3g", e)
			}
		})
	}
}

// Groups splits ε from the variance per channel block (Latte's [F, 2C, …]
// along dim 2): the same loop as on the channels-first state [2C, F, …],
// value for value.
func TestGroupsSplitPerBlock(t *testing.T) {
	const n, F, C, P = 2, 3, 4, 5 // samples, frames, channels, pixels
	d := must(diffusion.Create("3", true))
	// perm maps channels-first [n, C', F, P] to frames-first [n, F, C', P].
	perm := func(src []float32, c int, toFramesFirst bool) []float32 {
		out := make([]float32, len(src))
		for s := 0; s < n; s++ {
			for f := 0; f < F; f++ {
				for ch := 0; ch < c; ch++ {
					cf := ((s*c+ch)*F + f) * P
					ff := ((s*F+f)*c + ch) * P
					if toFramesFirst {
						copy(out[ff:ff+P], src[cf:cf+P])
					} else {
						copy(out[cf:cf+P], src[ff:ff+P])
					}
				}
			}
		}
		return out
	}
	// A channels-first model: ε and a variance in [−1, 1] from x.
	model := func(_ context.Context, x []float32, _ []float64) ([]float32, error) {
		out := make([]float32, 2*len(x))
		per := C * F * P
		for s := 0; s < n; s++ {
			for i := 0; i < per; i++ {
				v := x[s*per+i]
				out[s*2*per+i] = 0.5*v + float32(i%7)*0.01
				out[s*2*per+per+i] = float32(math.Tanh(float64(v)))
			}
		}
		return out, nil
	}
	framesFirst := func(ctx context.Context, x []float32, t []float64) ([]float32, error) {
		out, err := model(ctx, perm(x, C, false), t)
		return perm(out, 2*C, true), err
	}
	x := make([]float32, n*C*F*P)
	for i := range x {
		x[i] = float32(math.Sin(float64(i)))
	}
	noise := func(i int, dst []float32) {
		for k := range dst {
			dst[k] = float32(math.Cos(float64(i*31 + k)))
		}
	}
	want := must(d.Sample(context.Background(), model, x, n, diffusion.Options{Noise: noise}))
	// The noise is drawn in the state's layout: give both runs the same values per element.
	noiseFF := func(i int, dst []float32) {
		cf := make([]float32, len(dst))
		noise(i, cf)
		copy(dst, perm(cf, C, true))
	}
	got := must(d.Sample(context.Background(), framesFirst, perm(x, C, true), n, diffusion.Options{Noise: noiseFF, Groups: F}))
	got = perm(got, C, false)
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("value %d: %v with Groups, %v channels-first", i, got[i], want[i])
		}
	}
	if _, err := d.Sample(context.Background(), framesFirst, x[:len(x)-P], n, diffusion.Options{Noise: noiseFF, Groups: F}); err == nil {
		t.Error("a state that does not split into samples × groups was accepted")
	}
}
