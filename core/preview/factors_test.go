package preview

import (
	"encoding/json"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/ditkit/ditkit/loader/fixtures"
)

// The factor table is ComfyUI's, number for number, as the fixtures'
// latent_rgb_factors.json holds it (go generate writes it from there).
func TestPreviewFactorsTable(t *testing.T) {
	b, err := os.ReadFile(fixtures.Path(t, "forward2/latent_rgb_factors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Formats map[string]struct {
			Channels int          `json:"latent_channels"`
			Dims     int          `json:"latent_dimensions"`
			Factors  [][3]float64 `json:"latent_rgb_factors"`
			Bias     *[3]float64  `json:"latent_rgb_factors_bias"`
			TAESD    *string      `json:"taesd_decoder_name"`
		} `json:"formats"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Formats) != len(Formats) {
		t.Errorf("the fixture has %d formats, the table %d", len(doc.Formats), len(Formats))
	}
	for _, f := range Formats {
		e, ok := doc.Formats[f.Name]
		if !ok {
			t.Errorf("%s: not in the fixture", f.Name)
			continue
		}
		if f.Channels != e.Channels || f.Video != (e.Dims == 3) || len(f.Factors) != len(e.Factors) || len(e.Factors) != e.Channels {
			t.Errorf("%s: channels %d video %v rows %d; fixture %d, dims %d, rows %d", f.Name, f.Channels, f.Video, len(f.Factors), e.Channels, e.Dims, len(e.Factors))
			continue
		}
		for i, r := range e.Factors {
			for k := range 3 {
				if f.Factors[i][k] != float32(r[k]) {
					t.Errorf("%s factor [%d][%d] = %v, fixture %v", f.Name, i, k, f.Factors[i][k], r[k])
				}
			}
		}
		var bias [3]float64
		if e.Bias != nil {
			bias = *e.Bias
		}
		for k := range 3 {
			if f.Bias[k] != float32(bias[k]) {
				t.Errorf("%s bias[%d] = %v, fixture %v", f.Name, k, f.Bias[k], bias[k])
			}
		}
		if want := ""; e.TAESD != nil && *e.TAESD != f.TAESD || e.TAESD == nil && f.TAESD != want {
			t.Errorf("%s: TAESD %q", f.Name, f.TAESD)
		}
		if f.Scale != 8 && f.Name != "LTXV" || f.Name == "LTXV" && f.Scale != 32 {
			t.Errorf("%s: scale %d", f.Name, f.Scale)
		}
	}
	// The SD-1.x map the preview always used is ComfyUI's SD15 table.
	for i, r := range SD1Factors {
		if r != SD15.Factors[i] {
			t.Errorf("SD1Factors[%d] = %v, SD15 table %v", i, r, SD15.Factors[i])
		}
	}
}

func TestPreviewFormats(t *testing.T) {
	for name, want := range map[string]string{"sd1.5": "SD15", "SDXL": "SDXL", "wan2.1": "Wan21", "hunyuan-video": "HunyuanVideo", "ltxv": "LTXV"} {
		if f, err := FormatByName(name); err != nil || f.Name != want {
			t.Errorf("FormatByName(%q) = %v, %v", name, f, err)
		}
	}
	if _, err := FormatByName("sd2"); err == nil || !strings.Contains(err.Error(), "SD15, SDXL") {
		t.Errorf("unknown format: %v", err)
	}
	for _, tc := range []struct {
		c     int
		video bool
		want  string
	}{{4, false, "SD15"}, {4, true, "SD15"}, {16, false, "Flux"}, {16, true, "Wan21"}, {12, true, "Mochi"}, {128, true, "LTXV"}} {
		if f := GuessFormat(tc.c, tc.video); f == nil || f.Name != tc.want {
			t.Errorf("GuessFormat(%d, %v) = %v", tc.c, tc.video, f)
		}
	}
	if GuessFormat(8, false) != nil {
		t.Error("8 channels guessed")
	}
	if !strings.Contains(SD15.Approximation(), "approximation") {
		t.Error(SD15.Approximation())
	}
}

// A 16-channel Flux latent uses all 16 rows and the bias; a video latent
// draws one row of frames per video.
func TestPreviewFormatDraw(t *testing.T) {
	flux, _ := FormatByName("Flux")
	lat := make([]float32, 16*1*2)
	lat[15*2] = 1 // channel 15, pixel 0
	img, err := flux.Image(lat, 16, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	c := img.RGBAAt(0, 0)
	want := [3]uint8{to8(flux.Bias[0] + flux.Factors[15][0]), to8(flux.Bias[1] + flux.Factors[15][1]), to8(flux.Bias[2] + flux.Factors[15][2])}
	if c.R != want[0] || c.G != want[1] || c.B != want[2] {
		t.Errorf("pixel %v, want %v", c, want)
	}
	if c := img.RGBAAt(15, 7); c.R != to8(flux.Bias[0]) {
		t.Errorf("pixel 1 %v", c)
	}
	if _, err := flux.Image(lat[:8], 4, 1, 2); err == nil {
		t.Error("4 channels accepted for Flux")
	}
	wan, _ := FormatByName("Wan21")
	v, err := wan.VideoGrid(make([]float32, 2*16*3*2*2), 2, 16, 3, 2, 2)
	if err != nil || v.Bounds().Dx() != 3*2*8 || v.Bounds().Dy() != 2*2*8 {
		t.Fatalf("video grid %v %v", v.Bounds(), err)
	}
}

// RGB draws a decoder's [0, 1] output; values outside are clamped.
func TestPreviewRGB(t *testing.T) {
	// [2, 3, 1, 2] (image, channel, pixel): image 0 pixel 0 = (1, 0.5, 0);
	// image 1 pixel 1 = (2, −1, NaN) → (255, 0, 0).
	img := make([]float32, 12)
	img[0], img[2], img[4] = 1, 0.5, 0
	img[7], img[9], img[11] = 2, -1, float32(math.NaN())
	out, err := RGB(img, []int{2, 3, 1, 2})
	if err != nil {
		t.Fatal(err)
	}
	if b := out.Bounds(); b.Dx() != 4 || b.Dy() != 1 {
		t.Fatalf("bounds %v", b)
	}
	if c := out.RGBAAt(0, 0); c.R != 255 || c.G != 128 || c.B != 0 || c.A != 255 {
		t.Errorf("image 0 pixel 0 %v", c)
	}
	if c := out.RGBAAt(3, 0); c.R != 255 || c.G != 0 || c.B != 0 || c.A != 255 {
		t.Errorf("image 1 pixel 1 %v", c)
	}
	// video [2, 3, 4, 2, 3]: 2 rows of 4 frames; video 1 frame 2 channel 1 pixel (1, 2)
	vid := make([]float32, 2*3*4*2*3)
	vid[((1*3+1)*4+2)*6+1*3+2] = 1
	v, err := RGB(vid, []int{2, 3, 4, 2, 3})
	if err != nil || v.Bounds().Dx() != 12 || v.Bounds().Dy() != 4 {
		t.Fatalf("video %v %v", v.Bounds(), err)
	}
	if c := v.RGBAAt(2*3+2, 2+1); c.G != 255 || c.R != 0 {
		t.Errorf("video 1 frame 2 pixel (1, 2): %v", c)
	}
	for _, s := range [][]int{{3, 2, 2}, {1, 4, 2, 2}, {1, 3, 0, 2}} {
		if _, err := RGB(make([]float32, 64), s); err == nil {
			t.Errorf("shape %v accepted", s)
		}
	}
	if _, err := RGB(make([]float32, 11), []int{2, 3, 1, 2}); err == nil {
		t.Error("short data accepted")
	}
}
