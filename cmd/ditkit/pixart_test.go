package main

import (
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ditkit/ditkit/core/tensor"
	"github.com/ditkit/ditkit/loader"
	"github.com/ditkit/ditkit/loader/fixtures"
)

// forward2SpecFile writes a forward2 case's SPEC.json as the forward
// contract gives it.
func forward2SpecFile(t *testing.T, name, family string, extra map[string]any) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name+".json")
	if err := os.WriteFile(p, fixtures.Forward2Spec(t, name, family, extra), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func dtypeOf(t *testing.T, path, name string) tensor.DType {
	t.Helper()
	ck, f, err := loader.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tt := ck.Tensor(name)
	if tt == nil {
		t.Fatalf("%s has no %s", path, name)
	}
	return tt.DType
}

// `ditkit forward FILE --spec SPEC.json --inputs REF -o OUT` reproduces
// every PixArt and Latte reference (fp32 within 1e-5, fp64 within the
// README's 5e-6), writing out as F64 when x is F64.
func TestForwardCLIPixArtLatte(t *testing.T) {
	type ref struct{ name, prec string }
	pixartRefs := []ref{}
	for _, r := range []string{"caption_mask", "caption_nomask", "null"} {
		pixartRefs = append(pixartRefs, ref{"ref_" + r + "_fp32", "fp32"}, ref{"ref_" + r + "_fp64", "fp64"})
	}
	for _, c := range []struct {
		name, family, ckpt string
		extra              map[string]any
		refs               []ref
	}{
		{"pixart_alpha_512", "pixart-alpha", "ckpt.pth", nil, pixartRefs},
		{"pixartms_alpha_1024", "pixart-alpha", "ckpt.pth", map[string]any{"micro_condition": true}, pixartRefs},
		{"pixart_sigma_512", "pixart-sigma", "ckpt.pth", nil, pixartRefs},
		{"pixartms_sigma_1024", "pixart-sigma", "ckpt.pth", nil, pixartRefs},
		{"pixartms_sigma_nomc", "pixart-sigma", "ckpt.pth", nil, pixartRefs},
		{"latte_ucf101", "latte", "ckpt.pt", nil, []ref{{"ref_forward_fp32", "fp32"}, {"ref_forward_fp64", "fp64"}}},
	} {
		sp := forward2SpecFile(t, c.name, c.family, c.extra)
		for _, r := range c.refs {
			refPath := fixtures.Path(t, "forward2/"+c.name+"/"+r.name+".safetensors")
			out := filepath.Join(t.TempDir(), "out.safetensors")
			code, _, errs := runCLI(t, "forward", fixtures.Path(t, "forward2/"+c.name+"/"+c.ckpt), "--spec", sp, "--inputs", refPath, "-o", out)
			if code != 0 {
				t.Fatalf("%s %s: exit %d: %s", c.name, r.name, code, errs)
			}
			got, want := readF64(t, out, "out"), readF64(t, refPath, "out")
			if len(got) != len(want) {
				t.Fatalf("%s %s: %d values, want %d", c.name, r.name, len(got), len(want))
			}
			var e float64
			for i := range want {
				e = math.Max(e, math.Abs(got[i]-want[i]))
			}
			tol := map[string]float64{"fp32": 1e-5, "fp64": 5e-6}[r.prec]
			if e > tol {
				t.Errorf("%s %s: max abs err %.3g > %g", c.name, r.name, e, tol)
			}
			if dt, want := dtypeOf(t, out, "out"), map[string]tensor.DType{"fp32": tensor.F32, "fp64": tensor.F64}[r.prec]; dt != want {
				t.Errorf("%s %s: out is %v, want %v", c.name, r.name, dt, want)
			}
		}
	}
}

// `ditkit sample --noise` reproduces PixArt-α's 4-step IDDPM reference
// (guidance 4.5 against the null caption, the file's caption) step by
// step, and says what it conditioned on.
func TestSampleCLIPixArtIDDPM(t *testing.T) {
	sp := forward2SpecFile(t, "pixartms_alpha_1024", "pixart-alpha", map[string]any{"micro_condition": true})
	for _, prec := range []string{"fp32", "fp64"} {
		refPath := fixtures.Path(t, "forward2/pixartms_alpha_1024/ref_sampler_iddpm4_"+prec+".safetensors")
		dir := t.TempDir()
		lat := filepath.Join(dir, "lat.safetensors")
		code, _, errs := runCLI(t, "sample", fixtures.Path(t, "forward2/pixartms_alpha_1024/ckpt.pth"), "--spec", sp,
			"--noise", refPath, "--cfg-scale", "4.5", "-o", filepath.Join(dir, "p.png"), "--latent-out", lat)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		if !strings.Contains(errs, "conditioned on caption embeddings from") || !strings.Contains(errs, "latent→RGB approximation") {
			t.Errorf("stderr does not say what it conditioned on and how it drew: %s", errs)
		}
		for _, name := range []string{"out", "x_steps"} {
			if e := relErr(t, readF64(t, lat, name), readF64(t, refPath, name)); e > 1e-5 {
				t.Errorf("%s %s: max rel err %.3g", prec, name, e)
			}
		}
	}
}

// `ditkit preview` runs PixArt with a caption file or the null caption
// (saying which), draws through a TAESD decoder or the latent→RGB factors
// (saying which), and Latte as a frame strip; bad captions fail with one
// line.
func TestPreviewCLIPixArtLatte(t *testing.T) {
	ck := fixtures.Path(t, "forward2/pixartms_sigma_1024/ckpt.pth")
	sp := forward2SpecFile(t, "pixartms_sigma_1024", "pixart-sigma", nil)
	dec := fixtures.Path(t, "forward2/taesd/taesd_c4/taesd_decoder.safetensors")
	caption := fixtures.Path(t, "forward2/pixartms_sigma_1024/ref_caption_mask_fp32.safetensors") // y [2, 1, 8, 32] + mask
	dir := t.TempDir()
	for _, c := range []struct {
		args        []string
		said, drawn string
		w, h        int
	}{
		{nil, "null caption", "latent→RGB approximation", 64, 64},                                              // one 8×8 latent, factors ×8
		{[]string{"--decoder", dec}, "null caption", "TAESD decoder taesd_decoder", 64, 64},                    // TAESD: 8× upsampling
		{[]string{"--caption", caption, "--cfg-scale", "3"}, "caption embeddings from", "latent→RGB", 128, 64}, // two captions: two samples
	} {
		out := filepath.Join(dir, "p.png")
		args := append([]string{"preview", ck, "--spec", sp, "--steps", "2", "-o", out}, c.args...)
		code, _, errs := runCLI(t, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", c.args, code, errs)
		}
		if !strings.Contains(errs, c.said) || !strings.Contains(errs, c.drawn) {
			t.Errorf("%v: stderr does not say %q and %q: %s", c.args, c.said, c.drawn, errs)
		}
		f, err := os.Open(out)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if b := img.Bounds(); b.Dx() != c.w || b.Dy() != c.h {
			t.Errorf("%v: image %v, want %d×%d", c.args, b, c.w, c.h)
		}
	}
	// Latte: class-conditional video, frames-first state, a frame strip.
	lck := fixtures.Path(t, "forward2/latte_ucf101/ckpt.pt")
	lsp := forward2SpecFile(t, "latte_ucf101", "latte", nil)
	out := filepath.Join(dir, "latte.png")
	lat := filepath.Join(dir, "latte.safetensors")
	code, _, errs := runCLI(t, "preview", lck, "--spec", lsp, "--steps", "2", "--class", "3", "-o", out, "--decoder", dec, "--latent-out", lat)
	if code != 0 || !strings.Contains(errs, "class 3") {
		t.Fatalf("latte: exit %d: %s", code, errs)
	}
	if got := readF64(t, lat, "out"); len(got) != 2*4*4*8*8 {
		t.Errorf("latte: out has %d values, want the guided [2, 4, 4, 8, 8]", len(got))
	}
	// Bad inputs: one line, exit 2.
	noY := filepath.Join(dir, "noy.safetensors")
	if err := writeSafetensors(noY, []namedTensor{{"x", tensor.F32, []int{1}, []float32{0}}}, nil); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"preview", ck, "--spec", sp, "--caption", noY, "-o", out}, `no tensor "y"`},
		{[]string{"preview", ck, "--spec", sp, "--caption", filepath.Join(dir, "missing.safetensors"), "-o", out}, "missing.safetensors"},
		{[]string{"preview", lck, "--spec", lsp, "--caption", caption, "-o", out}, "class-conditional"},
		{[]string{"preview", ck, "--spec", sp, "--decoder", caption, "-o", out}, "ref_caption_mask_fp32"},
	} {
		code, _, errs := runCLI(t, c.args...)
		if code != exitError || !strings.Contains(errs, c.want) || strings.Count(strings.TrimSpace(errs), "\n") > 0 {
			t.Errorf("%v: exit %d, stderr %q (want one line naming %q)", c.args[3:], code, errs, c.want)
		}
	}
}
