package sample_test

import (
	"context"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ditkit/ditkit/core/dit"
	"github.com/ditkit/ditkit/core/sample"
	"github.com/ditkit/ditkit/core/spec"
	"github.com/ditkit/ditkit/core/tensor"
	"github.com/ditkit/ditkit/loader/fixtures"
)

func loadSTDiT3(t *testing.T, dir string) dit.Net {
	t.Helper()
	w := fixtures.ReadAll(t, filepath.Join(fixtures.Root(t), dir, "model.safetensors"))
	n, _, err := dit.Load(tensor.Map(w), spec.Request{}, dit.Policy{Strict: true}, dit.BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// recorder keeps every raw model output (model_out_steps).
type recorder struct {
	dit.Net
	outs []float32
}

func (r *recorder) Forward(ctx context.Context, x []float32, shape []int, t []float64, c *dit.Cond, opt *dit.Options) ([]float32, []int, error) {
	out, s, err := r.Net.Forward(ctx, x, shape, t, c, opt)
	r.outs = append(r.outs, out...)
	return out, s, err
}

// maxAbsRel is max|a−ref| and that over max|ref|.
func maxAbsRel(got []float32, ref []float64) (float64, float64) {
	if len(got) != len(ref) {
		return math.Inf(1), math.Inf(1)
	}
	var md, mr float64
	for i := range ref {
		md = math.Max(md, math.Abs(float64(got[i])-ref[i]))
		mr = math.Max(mr, math.Abs(ref[i]))
	}
	return md, md / mr
}

// Open-Sora 1.2's RFLOW(4, cfg 7, timestep transform) reproduced step by
// step from the reference's z0, caption and video: timesteps, the z fed
// at every step, the raw doubled-batch outputs, and the final z.
func TestRFlowMatchesReference(t *testing.T) {
	for _, prec := range []string{"fp32", "fp64"} {
		rec := &recorder{Net: loadSTDiT3(t, "forward2/stdit3_v12")}
		ref := fixtures.ReadAll(t, filepath.Join(fixtures.Root(t), "forward2/stdit3_v12/ref_sampler_rflow4_"+prec+".safetensors"))
		ff, err := sample.FlowNoiseFile(ref, "ref")
		if err != nil {
			t.Fatal(err)
		}
		if ff.Steps != 4 || ff.Caption == nil || ff.Caption.Mask == nil || ff.Video.NumFrames != 51 || ff.Video.Height != 64 {
			t.Fatalf("noise file read as %+v", ff)
		}
		zin := append([]float32(nil), ff.Noise.X...)
		res, err := sample.Run(context.Background(), rec, sample.Request{Sampler: "rflow", Steps: ff.Steps, CFGScale: 7,
			Noise: ff.Noise, Caption: ff.Caption, Height: ff.Video.Height, Width: ff.Video.Width, NumFrames: ff.Video.NumFrames, FPS: ff.Video.FPS,
			Step: func(i, n, tt int, x []float32) {
				if i+1 < n {
					zin = append(zin, x...)
				}
			}})
		if err != nil {
			t.Fatal(err)
		}
		if !res.Guided || res.N != 1 || res.Steps != 4 || !tensor.EqualShape(res.Shape, ref["out"].Shape) || !strings.HasPrefix(res.Conditioning, "caption embeddings from") {
			t.Fatalf("%s: result guided %v N %d steps %d shape %v conditioning %q", prec, res.Guided, res.N, res.Steps, res.Shape, res.Conditioning)
		}
		ts := make([]float32, len(res.Timesteps))
		for i, v := range res.Timesteps {
			ts[i] = float32(v)
		}
		for _, c := range []struct {
			name string
			got  []float32
			tol  float64 // relative to max |ref|
		}{
			{"timesteps", ts, 1e-6},
			{"z_in_steps", zin, 1e-5},
			{"model_out_steps", rec.outs, 1e-5},
			{"out", res.Out, 1e-5},
		} {
			want, err := ref[c.name].Float64s()
			if err != nil {
				t.Fatal(err)
			}
			a, r := maxAbsRel(c.got, want)
			t.Logf("%s %-16s max abs err %.3g, rel %.3g", prec, c.name, a, r)
			if r > c.tol {
				t.Errorf("%s %s: max rel err %.3g > %g", prec, c.name, r, c.tol)
			}
		}
	}
}

// The rectified flow's settings: release defaults, the video derived from
// the latent, the timestep transform and bad requests.
func TestRFlowSettingsAndErrors(t *testing.T) {
	if d := sample.DefaultsFor("stdit3"); d.Sampler != "rflow" || d.Steps != 30 || d.CFGScale != 7 {
		t.Errorf("stdit3 defaults %+v", d)
	}
	if d := sample.DefaultsFor("stdit3-v4"); d.CFGScale != 7.5 {
		t.Errorf("stdit3-v4 defaults %+v", d)
	}
	if d := sample.DefaultsFor("dit"); d.Sampler != "ddpm" || d.PreviewSampler != "ddim" {
		t.Errorf("dit defaults %+v", d)
	}
	v := sample.Video{}.VideoFor("1.2", []int{4, 5, 30, 40})
	if v.Height != 240 || v.Width != 320 || v.NumFrames != 17 || v.FPS != 24 {
		t.Errorf("1.2 video %+v", v)
	}
	if v := (sample.Video{}).VideoFor("1.3", []int{16, 5, 8, 8}); v.NumFrames != 17 {
		t.Errorf("1.3 video %+v", v)
	}
	if v := (sample.Video{}).VideoFor("1.2", []int{4, 1, 8, 8}); v.NumFrames != 1 || v.FPS != 120 {
		t.Errorf("image %+v", v)
	}
	// 512² and one frame: the transform is the identity.
	rf, _ := sample.RFlowFor("1.2")
	rf.Steps = 4
	if ts := rf.Timesteps(sample.Video{Height: 512, Width: 512, NumFrames: 1}); ts[0] != 1000 || ts[1] != 750 || ts[3] != 250 {
		t.Errorf("identity transform: %v", ts)
	}
	if _, err := sample.RFlowFor("2.0"); err == nil {
		t.Error("release 2.0 accepted")
	}

	net := loadSTDiT3(t, "forward2/stdit3_v12")
	ctx := context.Background()
	// Seeded, no caption: the null caption, unguided; the default latent.
	res, err := sample.Run(ctx, net, sample.Request{Sampler: "rflow", Steps: 2, CFGScale: 7, Noise: sample.Noise{Seed: 1}, Latent: []int{4, 2, 4, 6}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Guided || res.N != 1 || !tensor.EqualShape(res.Shape, []int{1, 4, 2, 4, 6}) || !strings.HasPrefix(res.Conditioning, "the model's own null caption") {
		t.Errorf("seeded: guided %v shape %v conditioning %q", res.Guided, res.Shape, res.Conditioning)
	}
	if img, err := res.Image(); err != nil || img.Bounds().Dx() == 0 {
		t.Errorf("image: %v", err)
	}
	y := make([]float32, 2*8*32)
	for _, c := range []struct {
		req  sample.Request
		want string
	}{
		{sample.Request{Sampler: "rflow", Steps: 0}, "steps"},
		{sample.Request{Sampler: "rflow", Steps: 2, Latent: []int{16, 2, 4, 4}}, "does not fit"},
		{sample.Request{Sampler: "rflow", Steps: 2, Noise: sample.Noise{X: make([]float32, 7), Shape: []int{1, 4, 7}}}, "does not fit"},
		{sample.Request{Sampler: "rflow", Steps: 2, Noise: sample.Noise{X: make([]float32, 2*96*4), Shape: []int{2, 4, 1, 8, 12}}, Caption: &sample.Caption{Y: make([]float32, 3*8*32), N: 3}}, "3 captions for 2 samples"},
		{sample.Request{Sampler: "rflow", Steps: 2, Caption: &sample.Caption{Y: y, N: 2}, Height: -1}, "positive"},
		{sample.Request{Sampler: "rflow", Steps: 2, Caption: &sample.Caption{Y: y, N: 2, Mask: []int{1, 1, 1}}, CFGScale: 7}, "mask"},
		{sample.Request{Sampler: "rflow", Steps: 2, RFlowRelease: "0.9"}, "release"},
	} {
		if c.req.Latent == nil && c.req.Noise.Shape == nil {
			c.req.Latent = []int{4, 1, 4, 4}
		}
		if _, err := sample.Run(ctx, net, c.req); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("want an error with %q, got %v", c.want, err)
		}
	}
	if _, err := sample.Run(ctx, load(t, "dit_C", 2), sample.Request{Sampler: "rflow", Steps: 2}); err == nil {
		t.Error("rflow on a class-conditional DiT accepted")
	}
	if _, err := sample.Run(ctx, net, sample.Request{Sampler: "ddim", Steps: 2}); err == nil || !strings.Contains(err.Error(), "rectified flow") {
		t.Errorf("ddim on STDiT3: %v", err)
	}
	// Sampler "" is the family's: the rectified flow.
	if res, err := sample.Run(ctx, net, sample.Request{Steps: 1, Latent: []int{4, 1, 4, 4}}); err != nil || res.Timesteps == nil {
		t.Errorf("default sampler: %v", err)
	}
}

// Caption and noise files: what they must hold, with one-line errors.
func TestFlowFiles(t *testing.T) {
	f32 := func(shape ...int) *tensor.Dense {
		n := 1
		for _, d := range shape {
			n *= d
		}
		return tensor.FromFloat32(make([]float32, n), shape...)
	}
	for _, c := range []struct {
		ts   map[string]*tensor.Dense
		want string
	}{
		{map[string]*tensor.Dense{}, "no tensor \"y\""},
		{map[string]*tensor.Dense{"y": f32(2, 2, 8, 32)}, "want [N, 1, L, Ct]"},
		{map[string]*tensor.Dense{"y": f32(2, 1, 8, 32), "mask": f32(2, 7)}, "mask has shape"},
	} {
		if _, err := sample.CaptionFile(c.ts, "cap.safetensors"); err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "cap.safetensors") {
			t.Errorf("want %q, got %v", c.want, err)
		}
	}
	if c, err := sample.CaptionFile(map[string]*tensor.Dense{"y": f32(2, 1, 8, 32), "mask": f32(1, 8)}, "c"); err != nil || c.N != 2 || len(c.Mask) != 8 {
		t.Errorf("caption: %+v %v", c, err)
	}
	for _, c := range []struct {
		ts   map[string]*tensor.Dense
		want string
	}{
		{map[string]*tensor.Dense{"step_noise": f32(4, 2)}, "need tensor z0"},
		{map[string]*tensor.Dense{"z0": f32(4)}, "want [N, C"},
		{map[string]*tensor.Dense{"z0": f32(1, 4, 2, 2, 2), "height": tensor.FromFloat32([]float32{-3}, 1)}, "height"},
	} {
		if _, err := sample.FlowNoiseFile(c.ts, "n.safetensors"); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("want %q, got %v", c.want, err)
		}
	}
}
