package main

import (
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ditkit/ditkit/loader/fixtures"
)

func readPNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return img
}

// preview samples with the page's quick defaults (25 DDIM steps) and
// writes the PNG; with --latent it renders a saved latent: the reference
// sampler's final latents [cond, uncond] side by side, the left one
// the image `sample --noise` of the same reference writes (±1 level: its
// latent matches the reference to 1e-6, not bit for bit).
func TestPreview(t *testing.T) {
	dir := t.TempDir()
	dit := specFile(t, "dit_A")
	ck := fixtures.Path(t, "dit_A/ckpt_plain.pt")
	p := filepath.Join(dir, "p.png")
	code, _, errs := runCLI(t, "preview", ck, "--spec", dit, "--seed", "3", "-o", p)
	if code != 0 || !strings.Contains(errs, "step 25/25") {
		t.Fatalf("preview: exit %d, stderr %q", code, errs)
	}
	if b := readPNG(t, p).Bounds(); b.Dx() != 8*8 || b.Dy() != 8*8 { // dit_A: 8×8 latent
		t.Errorf("preview is %v", b)
	}

	ref := fixtures.Path(t, "dit_A/ref_sampler_ddim4.safetensors")
	sampled, rendered := filepath.Join(dir, "s.png"), filepath.Join(dir, "r.png")
	if code, _, errs := runCLI(t, "sample", ck, "--spec", dit, "--sampler", "ddim", "--noise", ref, "-o", sampled); code != 0 {
		t.Fatal(errs)
	}
	code, out, errs := runCLI(t, "preview", "--latent", ref, "-o", rendered)
	if code != 0 || !strings.Contains(out, "out [2, 4, 8, 8]") {
		t.Fatalf("preview --latent: exit %d, %q %q", code, out, errs)
	}
	a, b := readPNG(t, sampled), readPNG(t, rendered)
	if b.Bounds().Dx() != 2*a.Bounds().Dx() || b.Bounds().Dy() != a.Bounds().Dy() {
		t.Fatalf("rendered %v, sampled %v", b.Bounds(), a.Bounds())
	}
	worst := 0
	for y := 0; y < a.Bounds().Dy(); y++ {
		for x := 0; x < a.Bounds().Dx(); x++ {
			r1, g1, b1, _ := a.At(x, y).RGBA()
			r2, g2, b2, _ := b.At(x, y).RGBA()
			for _, d := range []int{int(r1>>8) - int(r2>>8), int(g1>>8) - int(g2>>8), int(b1>>8) - int(b2>>8)} {
				worst = max(worst, d, -d)
			}
		}
	}
	if worst > 1 {
		t.Errorf("sample's preview and the rendered reference latent differ by %d levels", worst)
	}

	// a video latent (STDiT): the frame strip sample writes
	stdit := specFile(t, "stdit_tiny")
	vs, vl, vr := filepath.Join(dir, "vs.png"), filepath.Join(dir, "vl.safetensors"), filepath.Join(dir, "vr.png")
	if code, _, errs := runCLI(t, "preview", fixtures.Path(t, "stdit_tiny/ckpt_plain.pt"), "--spec", stdit, "--steps", "3", "-o", vs, "--latent-out", vl); code != 0 {
		t.Fatal(errs)
	}
	if code, _, errs := runCLI(t, "preview", "--latent", vl, "-o", vr); code != 0 {
		t.Fatal(errs)
	}
	if x, y := mustRead(t, vs), mustRead(t, vr); string(x) != string(y) {
		t.Error("the rendered STDiT latent differs from sample's frame strip")
	}

	// bad latents are refused with the file and tensor named; nothing written
	for _, args := range [][]string{
		{"preview", "--latent", ref, "--tensor", "nope", "-o", filepath.Join(dir, "x.png")},
		{"preview", "--latent", fixtures.Path(t, "dit_A/ckpt.safetensors"), "-o", filepath.Join(dir, "x.png")},
		{"preview", "--latent", ref},
	} {
		code, _, errs := runCLI(t, args...)
		if code != 2 || errs == "" {
			t.Errorf("%v: exit %d, stderr %q", args[1:], code, errs)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "x.png")); err == nil {
		t.Error("a refused preview wrote its output")
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
