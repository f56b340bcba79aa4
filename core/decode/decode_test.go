package decode_test

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/ditkit/ditkit/core/decode"
	"github.com/ditkit/ditkit/core/tensor"
	"github.com/ditkit/ditkit/loader/fixtures"
)

func getter(m map[string]*tensor.Dense) decode.Getter {
	return func(name string) (*tensor.Dense, error) { return m[name], nil }
}

func f32s(t testing.TB, d *tensor.Dense) []float32 {
	t.Helper()
	v, err := d.Float32s()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func maxAbs(t testing.TB, got []float32, ref []float64) float64 {
	t.Helper()
	if len(got) != len(ref) {
		t.Fatalf("got %d values, reference has %d", len(got), len(ref))
	}
	var m float64
	for i := range ref {
		d := math.Abs(float64(got[i]) - ref[i])
		if math.IsNaN(d) {
			return math.Inf(1)
		}
		m = math.Max(m, d)
	}
	return m
}

func loadDecoder(t testing.TB, rel string) *decode.Decoder {
	t.Helper()
	d, err := decode.Load(getter(fixtures.ReadAll(t, fixtures.Path(t, rel))))
	if err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	return d
}

// TestDecodeFixtures decodes the references' latents with TAESD decoders
// (4 and 16 latent channels, .safetensors and .pth) holding random weights
// and compares raw and image with madebyollin/taesd's fp32 output (1e-5)
// and raw with its fp64 output (1e-5, the README's tolerance), on one
// thread with a tiny band size (many bands, halos crossing stage edges)
// and on all threads with the default band.
func TestDecodeFixtures(t *testing.T) {
	for _, tc := range []struct {
		dir, file string
		channels  int
	}{
		{"taesd_c4", "taesd_decoder.safetensors", 4},
		{"taesd_c4", "taesd_decoder.pth", 4},
		{"taesd_c16", "taef1_decoder.pth", 16},
	} {
		dir := "forward2/taesd/" + tc.dir + "/"
		d := loadDecoder(t, dir+tc.file)
		if d.LatentChannels != tc.channels {
			t.Fatalf("%s: %d latent channels, want %d", tc.file, d.LatentChannels, tc.channels)
		}
		for _, ref := range []string{"a", "b"} {
			r32 := fixtures.ReadAll(t, fixtures.Path(t, dir+"ref_decode_"+ref+"_fp32.safetensors"))
			r64 := fixtures.ReadAll(t, fixtures.Path(t, dir+"ref_decode_"+ref+"_fp64.safetensors"))
			lat := r32["latent"]
			for _, opt := range []*decode.Options{{Threads: 1, BandBytes: 1}, nil} {
				raw, shape, err := d.Decode(context.Background(), f32s(t, lat), lat.Shape, opt)
				if err != nil {
					t.Fatal(err)
				}
				if !tensor.EqualShape(shape, r32["raw"].Shape) {
					t.Fatalf("%s %s: shape %v, want %v", tc.file, ref, shape, r32["raw"].Shape)
				}
				want32, _ := r32["raw"].Float64s()
				want64, _ := r64["raw"].Float64s()
				img, _ := r32["image"].Float64s()
				e32, e64, ei := maxAbs(t, raw, want32), maxAbs(t, raw, want64), maxAbs(t, decode.Clamp01(raw), img)
				t.Logf("%s %s %v: max abs err raw vs fp32 %.2e, vs fp64 %.2e, image vs fp32 %.2e", tc.file, ref, tensor.FormatShape(lat.Shape), e32, e64, ei)
				if e32 > 1e-5 || e64 > 1e-5 || ei > 1e-5 {
					t.Errorf("%s %s (options %+v): errors %.3g (fp32) %.3g (fp64) %.3g (image), tolerance 1e-5", tc.file, ref, opt, e32, e64, ei)
				}
			}
		}
	}
}

// A video latent [N, C, T, H, W] decodes frame by frame: frame f of the
// output is the decode of frame f of the latent.
func TestDecodeVideo(t *testing.T) {
	dir := "forward2/taesd/taesd_c4/"
	d := loadDecoder(t, dir+"taesd_decoder.safetensors")
	r := fixtures.ReadAll(t, fixtures.Path(t, dir+"ref_decode_a_fp32.safetensors"))
	lat := f32s(t, r["latent"]) // [2, 4, 8, 8]: use the batch as 2 frames of one video
	const C, T, HW = 4, 2, 64
	video := make([]float32, len(lat))
	for f := range T {
		for c := range C {
			copy(video[(c*T+f)*HW:(c*T+f+1)*HW], lat[(f*C+c)*HW:])
		}
	}
	raw, shape, err := d.Decode(context.Background(), video, []int{1, C, T, 8, 8}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !tensor.EqualShape(shape, []int{1, 3, T, 64, 64}) {
		t.Fatalf("shape %v", shape)
	}
	want, _ := r["raw"].Float64s() // [2, 3, 64, 64]
	got := make([]float32, len(raw))
	for f := range T {
		for c := range 3 {
			copy(got[(f*3+c)*4096:(f*3+c+1)*4096], raw[(c*T+f)*4096:])
		}
	}
	if e := maxAbs(t, got, want); e > 1e-5 {
		t.Errorf("video decode differs from the per-image reference by %.3g", e)
	}
}

// Bad decoder files and latents are refused with the key or shape named.
func TestDecodeBadInputs(t *testing.T) {
	good := fixtures.ReadAll(t, fixtures.Path(t, "forward2/taesd/taesd_c4/taesd_decoder.safetensors"))
	edit := func(fn func(m map[string]*tensor.Dense)) map[string]*tensor.Dense {
		m := map[string]*tensor.Dense{}
		for k, v := range good {
			m[k] = v
		}
		fn(m)
		return m
	}
	for _, tc := range []struct {
		name string
		m    map[string]*tensor.Dense
		want string
	}{
		{"empty", map[string]*tensor.Dense{}, "no tensor 1.weight"},
		{"a DiT", fixtures.ReadAll(t, fixtures.Path(t, "dit_A/ckpt.safetensors")), "not a TAESD decoder"},
		{"missing bias", edit(func(m map[string]*tensor.Dense) { delete(m, "8.conv.2.bias") }), "8.conv.2.bias"},
		{"bad shape", edit(func(m map[string]*tensor.Dense) { m["13.conv.4.weight"] = m["1.weight"] }), "13.conv.4.weight has shape [64, 4, 3, 3]"},
		{"bias where none", edit(func(m map[string]*tensor.Dense) { m["7.bias"] = m["1.bias"] }), "7.bias"},
		{"first conv", edit(func(m map[string]*tensor.Dense) { m["1.weight"] = m["19.weight"] }), "1.weight has shape [3, 64, 3, 3]"},
		{"NaN", edit(func(m map[string]*tensor.Dense) {
			v := append([]float32(nil), f32s(t, m["19.bias"])...)
			v[1] = float32(math.NaN())
			m["19.bias"] = tensor.FromFloat32(v, 3)
		}), "19.bias: element 1"},
		{"encoder", edit(func(m map[string]*tensor.Dense) { m["0.weight"] = m["1.weight"]; delete(m, "1.weight") }), "encoder"},
		{"FLUX.2", edit(func(m map[string]*tensor.Dense) { m["3.pool.0.weight"] = m["1.weight"] }), "FLUX.2"},
		{"diffusers", map[string]*tensor.Dense{"decoder.layers.0.weight": good["1.weight"]}, "diffusers"},
	} {
		_, err := decode.Load(getter(tc.m))
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error %v, want one line containing %q", tc.name, err, tc.want)
		}
	}
	// A full TAESD state dict (decoder.* keys) loads.
	full := map[string]*tensor.Dense{}
	for k, v := range good {
		full["decoder."+k] = v
	}
	if d, err := decode.Load(getter(full)); err != nil || d.LatentChannels != 4 {
		t.Errorf("decoder.* keys: %v", err)
	}

	d, err := decode.Load(getter(good))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		shape []int
		n     int
		want  string
	}{
		{[]int{1, 16, 2, 2}, 64, "16 channels"},
		{[]int{4, 2, 2}, 16, "want [N, 4, H, W]"},
		{[]int{1, 1, 4, 2, 2}, 16, "1 channels"},
		{[]int{1, 4, 0, 2}, 0, "empty dimension"},
		{[]int{1, 4, 2, 2}, 15, "needs 16 values"},
		{[]int{1, 4, 1 << 14, 1 << 14}, 0, "too large"},
	} {
		_, _, err := d.Decode(context.Background(), make([]float32, tc.n), tc.shape, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("shape %v: error %v, want %q", tc.shape, err, tc.want)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := d.Decode(ctx, make([]float32, 4*4), []int{1, 4, 2, 2}, nil); err != context.Canceled {
		t.Errorf("cancelled decode: %v", err)
	}
}

// Single-threaded with a Yield, the decode yields and gives the same
// values as multi-threaded.
func TestDecodeYield(t *testing.T) {
	d := loadDecoder(t, "forward2/taesd/taesd_c4/taesd_decoder.safetensors")
	lat := make([]float32, 4*5*3)
	for i := range lat {
		lat[i] = float32(i%7) - 3
	}
	yields := 0
	a, _, err := d.Decode(context.Background(), lat, []int{1, 4, 5, 3}, &decode.Options{Threads: 1, Yield: func() { yields++ }})
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := d.Decode(context.Background(), lat, []int{1, 4, 5, 3}, &decode.Options{Threads: 4})
	if err != nil {
		t.Fatal(err)
	}
	if yields == 0 {
		t.Error("no yields")
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("value %d: %v (1 thread) vs %v (4 threads)", i, a[i], b[i])
		}
	}
	// Odd sizes (Winograd tiles hanging over the edge, odd bands) agree
	// with the direct convolution.
	c, _, err := d.Decode(context.Background(), lat, []int{1, 4, 5, 3}, &decode.Options{Backend: &decode.CPU{Direct: true}, BandBytes: 1})
	if err != nil {
		t.Fatal(err)
	}
	c64 := make([]float64, len(c))
	for i, v := range c {
		c64[i] = float64(v)
	}
	if e := maxAbs(t, a, c64); e > 1e-5 {
		t.Errorf("Winograd and direct convolutions differ by %.3g", e)
	}
}

func BenchmarkDecode64(b *testing.B) {
	for _, tc := range []struct{ name, rel string }{
		{"c4", "forward2/taesd/taesd_c4/taesd_decoder.safetensors"},
		{"c16", "forward2/taesd/taesd_c16/taef1_decoder.pth"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			d := loadDecoder(b, tc.rel)
			c := d.LatentChannels
			lat := make([]float32, c*64*64)
			for i := range lat {
				lat[i] = float32(math.Sin(float64(i)))
			}
			for b.Loop() {
				if _, _, err := d.Decode(context.Background(), lat, []int{1, c, 64, 64}, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(d.FLOPs(64, 64))/1e9/(b.Elapsed().Seconds()/float64(b.N)), "GFLOP/s")
		})
	}
}
