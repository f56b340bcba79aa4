package main

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ditkit/ditkit/core/tensor"
	"github.com/ditkit/ditkit/loader/fixtures"
)

func maxAbsDiff(t *testing.T, got, want *tensor.Dense) float64 {
	t.Helper()
	if !tensor.EqualShape(got.Shape, want.Shape) {
		t.Fatalf("shape %v, want %v", got.Shape, want.Shape)
	}
	g, _ := got.Float64s()
	w, _ := want.Float64s()
	var m float64
	for i := range w {
		d := math.Abs(g[i] - w[i])
		if math.IsNaN(d) {
			return math.Inf(1)
		}
		m = math.Max(m, d)
	}
	return m
}

// decode runs TAESD decoders (4 channels from .safetensors and .pth, 16
// from .pth) on the references' latents and writes raw and image within
// 1e-5 of madebyollin/taesd's output, or the PNG of the image.
func TestDecodeCLI(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ dec, ref string }{
		{"taesd_c4/taesd_decoder.safetensors", "taesd_c4/ref_decode_a_fp32.safetensors"},
		{"taesd_c4/taesd_decoder.pth", "taesd_c4/ref_decode_b_fp32.safetensors"},
		{"taesd_c16/taef1_decoder.pth", "taesd_c16/ref_decode_b_fp32.safetensors"},
	} {
		dec, ref := fixtures.Path(t, "forward2/taesd/"+tc.dec), fixtures.Path(t, "forward2/taesd/"+tc.ref)
		out := filepath.Join(dir, "out.safetensors")
		code, stdout, errs := runCLI(t, "decode", "--decoder", dec, "--latent", ref, "-o", out)
		if code != 0 || !strings.Contains(stdout, "from latent") {
			t.Fatalf("%s: exit %d, %q %q", tc.dec, code, stdout, errs)
		}
		got, want := readTensorsT(t, out), readTensorsT(t, ref)
		if got["raw"].DType != tensor.F32 || got["image"].DType != tensor.F32 {
			t.Errorf("dtypes %v %v", got["raw"].DType, got["image"].DType)
		}
		for _, k := range []string{"raw", "image"} {
			if e := maxAbsDiff(t, got[k], want[k]); e > 1e-5 {
				t.Errorf("%s on %s: %s differs by %.3g (tolerance 1e-5)", tc.dec, tc.ref, k, e)
			}
		}
		// fp64 reference, same tolerance (the README's 1e-5 abs)
		r64 := readTensorsT(t, strings.Replace(ref, "_fp32", "_fp64", 1))
		if e := maxAbsDiff(t, got["raw"], r64["raw"]); e > 1e-5 {
			t.Errorf("%s: raw vs fp64 differs by %.3g", tc.dec, e)
		}
	}

	// PNG: the two images of ref a side by side, pixel = round(image·255).
	ref := fixtures.Path(t, "forward2/taesd/taesd_c4/ref_decode_a_fp32.safetensors")
	dec := fixtures.Path(t, "forward2/taesd/taesd_c4/taesd_decoder.safetensors")
	png := filepath.Join(dir, "a.png")
	if code, _, errs := runCLI(t, "decode", "--decoder", dec, "--latent", ref, "--tensor", "latent", "-o", png); code != 0 {
		t.Fatal(errs)
	}
	img := readPNG(t, png)
	if b := img.Bounds(); b.Dx() != 128 || b.Dy() != 64 {
		t.Fatalf("PNG is %v, want 128×64", b)
	}
	want, _ := readTensorsT(t, ref)["image"].Float32s() // [2, 3, 64, 64]
	worst := 0
	for n := range 2 {
		for y := range 64 {
			for x := range 64 {
				r, g, b, _ := img.At(n*64+x, y).RGBA()
				for c, v := range []uint32{r >> 8, g >> 8, b >> 8} {
					w := int(math.Round(float64(want[((n*3+c)*64+y)*64+x]) * 255))
					worst = max(worst, int(v)-w, w-int(v))
				}
			}
		}
	}
	if worst > 1 {
		t.Errorf("PNG differs from the reference image by %d levels", worst)
	}

	// A video latent [1, 4, T=2, 8, 8] (ref a's two latents as frames):
	// the frames in a row, the same pixels as the batch PNG.
	lat, _ := readTensorsT(t, ref)["latent"].Float32s()
	video := make([]float32, len(lat))
	for f := range 2 {
		for c := range 4 {
			copy(video[(c*2+f)*64:(c*2+f+1)*64], lat[(f*4+c)*64:])
		}
	}
	vl, vp := filepath.Join(dir, "video.safetensors"), filepath.Join(dir, "video.png")
	if err := writeSafetensors(vl, []namedTensor{{"out", tensor.F32, []int{1, 4, 2, 8, 8}, video}}, nil); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := runCLI(t, "decode", "--decoder", dec, "--latent", vl, "-o", vp); code != 0 {
		t.Fatal(errs)
	}
	if string(mustRead(t, vp)) != string(mustRead(t, png)) {
		t.Error("the video strip differs from the batch PNG of the same latents")
	}
	vs := filepath.Join(dir, "video_out.safetensors")
	if code, _, errs := runCLI(t, "decode", "--decoder", dec, "--latent", vl, "-o", vs); code != 0 {
		t.Fatal(errs)
	}
	if s := readTensorsT(t, vs)["raw"].Shape; !tensor.EqualShape(s, []int{1, 3, 2, 64, 64}) {
		t.Errorf("video raw shape %v", s)
	}

	// The only tensor, whatever its name.
	only := filepath.Join(dir, "only.safetensors")
	if err := writeSafetensors(only, []namedTensor{{"z", tensor.F32, []int{1, 4, 2, 3}, make([]float32, 24)}}, nil); err != nil {
		t.Fatal(err)
	}
	if code, stdout, errs := runCLI(t, "decode", "--decoder", dec, "--latent", only, "-o", filepath.Join(dir, "only_out.safetensors")); code != 0 || !strings.Contains(stdout, "from z [1, 4, 2, 3]") {
		t.Errorf("only tensor: %d %q %q", code, stdout, errs)
	}
}

// Bad inputs: one line on stderr naming the problem, exit 2, nothing written.
func TestDecodeCLIBadInputs(t *testing.T) {
	dir := t.TempDir()
	dec4 := fixtures.Path(t, "forward2/taesd/taesd_c4/taesd_decoder.safetensors")
	ref4 := fixtures.Path(t, "forward2/taesd/taesd_c4/ref_decode_a_fp32.safetensors")
	ref16 := fixtures.Path(t, "forward2/taesd/taesd_c16/ref_decode_a_fp32.safetensors")
	rank3 := filepath.Join(dir, "rank3.safetensors")
	if err := writeSafetensors(rank3, []namedTensor{{"latent", tensor.F32, []int{4, 8, 8}, make([]float32, 256)}}, nil); err != nil {
		t.Fatal(err)
	}
	two := filepath.Join(dir, "two.safetensors")
	// (shapes chosen so the header is not 128 bytes long: the loader reads a
	// safetensors header length of 0x80 as a pickle PROTO opcode)
	if err := writeSafetensors(two, []namedTensor{{"first", tensor.F32, []int{1, 4, 2, 3}, make([]float32, 24)}, {"second", tensor.F32, []int{1, 4, 2, 3}, make([]float32, 24)}}, nil); err != nil {
		t.Fatal(err)
	}
	text := filepath.Join(dir, "notes.pth")
	os.WriteFile(text, []byte("not a checkpoint\n"), 0o644)
	out := filepath.Join(dir, "x.safetensors")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--decoder", dec4, "--latent", ref16, "-o", out}, "16 channels"},
		{[]string{"--decoder", dec4, "--latent", ref4, "--tensor", "nope", "-o", out}, `no tensor "nope"`},
		{[]string{"--decoder", fixtures.Path(t, "dit_A/ckpt.safetensors"), "--latent", ref4, "-o", out}, "not a TAESD decoder"},
		{[]string{"--decoder", text, "--latent", ref4, "-o", out}, "notes.pth"},
		{[]string{"--decoder", dec4, "--latent", rank3, "-o", out}, "shape [4, 8, 8]"},
		{[]string{"--decoder", dec4, "--latent", two, "-o", out}, "choose one with --tensor (first, second)"},
		{[]string{"--decoder", dec4, "--latent", ref4, "-o", filepath.Join(dir, "x.jpg")}, "want a .safetensors or .png"},
		{[]string{"--decoder", dec4, "--latent", ref4}, "need --decoder"},
		{[]string{"--decoder", dec4, "--latent", filepath.Join(dir, "missing.safetensors"), "-o", out}, "missing.safetensors"},
	} {
		code, _, errs := runCLI(t, append([]string{"decode"}, tc.args...)...)
		if code != 2 || !strings.Contains(errs, tc.want) || strings.Count(errs, "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q; want one line containing %q", tc.args, code, errs, tc.want)
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a refused decode wrote its output")
	}
}

func readTensorsT(t *testing.T, path string) map[string]*tensor.Dense {
	t.Helper()
	ts, err := readTensors(path)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}
