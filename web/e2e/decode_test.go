package e2e

import (
	"fmt"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/ditkit/ditkit/loader/fixtures"
)

func maxAbsErr(t *testing.T, got, ref []float32) float64 {
	t.Helper()
	if len(got) != len(ref) {
		t.Fatalf("got %d values, reference has %d", len(got), len(ref))
	}
	var m float64
	for i := range ref {
		m = math.Max(m, math.Abs(float64(got[i])-float64(ref[i])))
	}
	if math.IsNaN(m) {
		return math.Inf(1)
	}
	return m
}

// window.ditkit.decode runs TAESD decoders (4 latent channels from
// .safetensors and .pth, 16 from .pth) on WebGPU (SwiftShader here) and on
// the CPU: WebGPU within 1e-4 of the CPU and of madebyollin/taesd's
// reference, the CPU within 1e-5 of it; a latent of the wrong channel
// count is refused. Without WebGPU in this Chromium only the fallback is
// verified.
func TestWebGPUDecode(t *testing.T) {
	ctx := page(t)
	st := js[gpuStatus](t, ctx, `ditkit.gpu()`)
	t.Logf("ditkit.gpu(): %+v", st)
	want := "webgpu"
	if !st.Available {
		want = "cpu"
		t.Logf("WebGPU is not available in this Chromium (%s): verifying the CPU fallback only", st.Reason)
	}
	for _, tc := range []struct {
		dir, dec string
		refs     []string
	}{
		{"taesd_c4", "taesd_decoder.safetensors", []string{"a", "b"}},
		{"taesd_c4", "taesd_decoder.pth", []string{"b"}},
		{"taesd_c16", "taef1_decoder.pth", []string{"a", "b"}},
	} {
		dir := fixtures.Path(t, "forward2/taesd/"+tc.dir)
		var names []string
		for _, r := range tc.refs {
			names = append(names, "ref_decode_"+r+"_fp32.safetensors")
		}
		gpuHarness(t, ctx, dir, append([]string{tc.dec}, names...)...)
		f := func(name string) string { return fmt.Sprintf("__gpuFiles[%q]", name) }
		for _, name := range names {
			b, err := os.ReadFile(dir + "/" + name)
			if err != nil {
				t.Fatal(err)
			}
			ref := readTensorsBytes(t, b, name)
			expr := func(backend string) string {
				return fmt.Sprintf("ditkit.decode(%s, %s, {backend: %q})", f(tc.dec), f(name), backend)
			}
			gr, gpu := gpuCall(t, ctx, expr("webgpu"))
			cr, cpu := gpuCall(t, ctx, expr("cpu"))
			if gr.Info.Backend != want || cr.Info.Backend != "cpu" || cr.Info.Note != "" {
				t.Errorf("%s %s: backends %+v / %+v, want %s / cpu", tc.dec, name, gr.Info, cr.Info, want)
			}
			if want == "cpu" && !strings.Contains(gr.Info.Note, "CPU") {
				t.Errorf("%s: the fallback does not say so: note %q", tc.dec, gr.Info.Note)
			}
			tol := 1e-4
			if gr.Info.Backend == "cpu" {
				tol = 1e-5
			}
			eg, ec, egc := maxAbsErr(t, gpu["raw"], ref["raw"]), maxAbsErr(t, cpu["raw"], ref["raw"]), maxAbsErr(t, gpu["raw"], cpu["raw"])
			ei := maxAbsErr(t, gpu["image"], ref["image"])
			t.Logf("%s %s: %s %.0f ms (%s), cpu %.0f ms; max abs err raw: gpu %.2e, cpu %.2e, gpu vs cpu %.2e; image gpu %.2e",
				tc.dec, name, gr.Info.Backend, gr.Info.MS, gr.Info.Adapter, cr.Info.MS, eg, ec, egc, ei)
			if eg > tol || egc > tol || ei > tol {
				t.Errorf("%s %s: %s raw differs from the reference by %.3g, from the CPU by %.3g, image by %.3g (tolerance %g)", tc.dec, name, gr.Info.Backend, eg, egc, ei, tol)
			}
			if ec > 1e-5 {
				t.Errorf("%s %s: CPU raw differs from the reference by %.3g (tolerance 1e-5)", tc.dec, name, ec)
			}
		}
		if tc.dir == "taesd_c4" {
			// {tensor} picks the latent; the wrong tensor is named
			r := js[gpuRun](t, ctx, fmt.Sprintf("__gpuRun(ditkit.decode(%s, %s, {backend: 'cpu', tensor: 'nope'}))", f(tc.dec), f(names[0])))
			if !strings.Contains(r.Err, `no tensor "nope"`) {
				t.Errorf("tensor nope: %q", r.Err)
			}
			// the raw output is 3 channels: a latent with 3 channels is refused
			r = js[gpuRun](t, ctx, fmt.Sprintf("__gpuRun(ditkit.decode(%s, %s, {tensor: 'raw'}))", f(tc.dec), f(names[0])))
			if !strings.Contains(r.Err, "but the decoder takes 4") {
				t.Errorf("3-channel latent: %q", r.Err)
			}
			// a latent file is not a decoder
			r = js[gpuRun](t, ctx, fmt.Sprintf("__gpuRun(ditkit.decode(%s, %s, {}))", f(names[0]), f(names[0])))
			if !strings.Contains(r.Err, "not a TAESD decoder") {
				t.Errorf("latent as the decoder: %q", r.Err)
			}
		}
	}

	// No adapter: the CPU decodes and the result says why.
	none := pageWithGPUHook(t, `GPU.prototype.requestAdapter = async function () { return null; };`)
	dir := fixtures.Path(t, "forward2/taesd/taesd_c4")
	gpuHarness(t, none, dir, "taesd_decoder.safetensors", "ref_decode_a_fp32.safetensors")
	r, got := gpuCall(t, none, `ditkit.decode(__gpuFiles["taesd_decoder.safetensors"], __gpuFiles["ref_decode_a_fp32.safetensors"])`)
	if r.Info.Backend != "cpu" || !strings.Contains(r.Info.Note, "no adapter") || !strings.Contains(r.Info.Note, "CPU") {
		t.Errorf("without an adapter: %+v", r.Info)
	}
	b, err := os.ReadFile(dir + "/ref_decode_a_fp32.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	if e := maxAbsErr(t, got["raw"], readTensorsBytes(t, b, "ref")["raw"]); e > 1e-5 {
		t.Errorf("CPU fallback without an adapter: max abs err %.3g", e)
	}
	t.Logf("no adapter: %s", r.Info.Note)
}
