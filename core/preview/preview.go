// Package preview turns latents into a quick RGB picture. Without a
// decoder each latent pixel is projected with a linear latent→RGB map —
// ComfyUI's factors for the latent format (Formats), an approximation of
// what the VAE would draw, not a decode — mapped to 0–255 and upscaled
// by the VAE's factor (8× for SD-VAE latents). With a decoder (core/decode)
// RGB draws its output [N, 3, H, W] ([N, 3, T, H, W] for video) as is.
package preview

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"strings"
)

//go:generate go run ./internal/genfactors ../../../shared/fixtures/forward2/latent_rgb_factors.json factors_table.go

// Format is a latent format's linear latent→RGB preview: rgb = latent ·
// Factors + Bias, shown as ((rgb + 1) / 2) clamped to [0, 1] (ComfyUI's
// Latent2RGBPreviewer).
type Format struct {
	Name     string // ComfyUI's latent format: SD15, SDXL, SD3, Flux, Wan21, HunyuanVideo, LTXV, Mochi
	Channels int    // latent channels
	Video    bool   // a video latent [C, T, H, W]
	Scale    int    // the VAE's spatial factor: each latent pixel becomes Scale×Scale pixels
	TAESD    string // madebyollin/taesd's decoder for this format, or ""
	Bias     [3]float32
	Factors  [][3]float32 // [Channels][3]
}

// Approximation says what a factor preview is (for captions).
func (f *Format) Approximation() string {
	return fmt.Sprintf("linear latent→RGB approximation (%s factors), not a VAE decode", f.Name)
}

// FormatByName returns the format of that name (case and punctuation
// ignored: "sd1.5", "SD15", "wan2.1" and "hunyuan-video" all work).
func FormatByName(name string) (*Format, error) {
	key := func(s string) string {
		return strings.Map(func(r rune) rune {
			switch {
			case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
				return r
			case r >= 'A' && r <= 'Z':
				return r + 'a' - 'A'
			}
			return -1
		}, s)
	}
	k := key(name)
	names := make([]string, len(Formats))
	for i, f := range Formats {
		if key(f.Name) == k {
			return f, nil
		}
		names[i] = f.Name
	}
	return nil, fmt.Errorf("latent format %q: want one of %s", name, strings.Join(names, ", "))
}

// GuessFormat picks a format by the latent's channel count and whether it
// is a video latent: SD15 for 4 channels (the SD VAE of DiT, PixArt,
// Latte, Open-Sora 1.x), Flux for 16-channel images, Wan21 for 16-channel
// video, Mochi for 12, LTXV for 128; nil when none has that many
// channels. A guess: SDXL, SD3 and HunyuanVideo share those counts.
func GuessFormat(channels int, video bool) *Format {
	name := ""
	switch {
	case channels == 4:
		name = "SD15"
	case channels == 16 && video:
		name = "Wan21"
	case channels == 16:
		name = "Flux"
	case channels == 12:
		name = "Mochi"
	case channels == 128:
		name = "LTXV"
	}
	f, err := FormatByName(name)
	if err != nil {
		return nil
	}
	return f
}

// SD15 is the SD-1.x format (the SD VAE's latents).
var SD15 = mustFormat("SD15")

func mustFormat(name string) *Format {
	f, err := FormatByName(name)
	if err != nil {
		panic(err)
	}
	return f
}

// SD1Factors is the 4×3 linear map latent channel → RGB for SD-1.x latents
// (ComfyUI's SD15 table, no bias).
var SD1Factors = [4][3]float32{
	{0.3512, 0.2297, 0.3227},
	{0.3250, 0.4974, 0.2350},
	{-0.2829, 0.1762, 0.2721},
	{-0.2120, -0.2616, -0.7177},
}

// Scale is the upscale factor of SD-VAE latents (the SD VAE's downsampling).
const Scale = 8

// Image projects one latent [C ≥ 4, H, W] (only the first 4 channels are
// used) to an RGB image of (W·Scale)×(H·Scale) with the SD15 factors.
// Values map from [−1, 1] to [0, 255]: v8 = clamp((v+1)/2)·255.
func Image(lat []float32, c, h, w int) (*image.RGBA, error) { return SD15.Image(lat, c, h, w) }

// Grid lays out n latents [n, C, H, W] side by side in one row (SD15).
func Grid(lat []float32, n, c, h, w int) (*image.RGBA, error) { return SD15.Grid(lat, n, c, h, w) }

// FrameStrip lays the frames of one video latent [C, T, H, W] (STDiT
// layout) side by side (SD15).
func FrameStrip(lat []float32, c, t, h, w int) (*image.RGBA, error) {
	return SD15.FrameStrip(lat, c, t, h, w)
}

func (f *Format) check(lat []float32, n, c, t, h, w int) error {
	if c < f.Channels || h <= 0 || w <= 0 || n <= 0 || t <= 0 {
		return fmt.Errorf("preview: %s needs a latent of ≥%d channels, got %d channels of %d×%d", f.Name, f.Channels, c, h, w)
	}
	if len(lat) < n*c*t*h*w {
		return fmt.Errorf("preview: %d values for %d latents [%d, %d, %d, %d]", len(lat), n, c, t, h, w)
	}
	if int64(n)*int64(t)*int64(w)*int64(h)*int64(f.Scale*f.Scale) > 1<<28 {
		return fmt.Errorf("preview: a %d×%d latent ×%d is too large to draw", w, h, n*t)
	}
	return nil
}

// Image projects one latent [C ≥ Channels, H, W] (the first Channels are
// used) to an RGB image of (W·Scale)×(H·Scale).
func (f *Format) Image(lat []float32, c, h, w int) (*image.RGBA, error) {
	return f.Grid(lat, 1, c, h, w)
}

// Grid lays out n latents [n, C, H, W] side by side in one row.
func (f *Format) Grid(lat []float32, n, c, h, w int) (*image.RGBA, error) {
	if err := f.check(lat, n, c, 1, h, w); err != nil {
		return nil, err
	}
	img := image.NewRGBA(image.Rect(0, 0, n*w*f.Scale, h*f.Scale))
	for k := range n {
		f.draw(img, k*w*f.Scale, 0, lat[k*c*h*w:], h*w, h, w)
	}
	return img, nil
}

// FrameStrip lays the frames of one video latent [C, T, H, W] side by side.
func (f *Format) FrameStrip(lat []float32, c, t, h, w int) (*image.RGBA, error) {
	return f.VideoGrid(lat, 1, c, t, h, w)
}

// VideoGrid draws n video latents [n, C, T, H, W]: one row of frames per
// video.
func (f *Format) VideoGrid(lat []float32, n, c, t, h, w int) (*image.RGBA, error) {
	if err := f.check(lat, n, c, t, h, w); err != nil {
		return nil, err
	}
	img := image.NewRGBA(image.Rect(0, 0, t*w*f.Scale, n*h*f.Scale))
	for v := range n {
		for fr := range t {
			f.draw(img, fr*w*f.Scale, v*h*f.Scale, lat[(v*c*t+fr)*h*w:], t*h*w, h, w)
		}
	}
	return img, nil
}

// draw projects the latent whose channel k starts at lat[k·stride] (pixel
// (i, j) at +i·w+j) at (ox, oy).
func (f *Format) draw(img *image.RGBA, ox, oy int, lat []float32, stride, h, w int) {
	for i := range h {
		for j := range w {
			rgb := f.Bias
			for ch, fac := range f.Factors {
				v := lat[ch*stride+i*w+j]
				rgb[0] += v * fac[0]
				rgb[1] += v * fac[1]
				rgb[2] += v * fac[2]
			}
			col := color.RGBA{to8(rgb[0]), to8(rgb[1]), to8(rgb[2]), 255}
			for dy := range f.Scale {
				for dx := range f.Scale {
					img.SetRGBA(ox+j*f.Scale+dx, oy+i*f.Scale+dy, col)
				}
			}
		}
	}
}

func to8(v float32) uint8 { return unit8((v + 1) / 2) }

// unit8 maps [0, 1] to 0–255, rounding (NaN → 0).
func unit8(v float32) uint8 {
	if !(v > 0) {
		return 0
	}
	if v >= 1 {
		return 255
	}
	return uint8(v*255 + 0.5)
}

// RGB draws a decoder's output (values in [0, 1]: core/decode's image, or
// its raw output, clamped here): [N, 3, H, W] side by side, or video
// [N, 3, T, H, W] as one row of frames per video.
func RGB(img []float32, shape []int) (*image.RGBA, error) {
	bad := fmt.Errorf("preview: an RGB image has shape [N, 3, H, W] or [N, 3, T, H, W], not %v", shape)
	if (len(shape) != 4 && len(shape) != 5) || shape[1] != 3 {
		return nil, bad
	}
	n, t, h, w := shape[0], 1, shape[len(shape)-2], shape[len(shape)-1]
	if len(shape) == 5 {
		t = shape[2]
	}
	if n <= 0 || t <= 0 || h <= 0 || w <= 0 {
		return nil, bad
	}
	if int64(n)*int64(t)*int64(h)*int64(w) > 1<<28 || len(img) < n*3*t*h*w {
		return nil, fmt.Errorf("preview: %d values for an RGB image %v", len(img), shape)
	}
	plane := h * w
	rows, cols := n, t // video: a row of frames per video
	if len(shape) == 4 {
		rows, cols = 1, n // images side by side
	}
	out := image.NewRGBA(image.Rect(0, 0, cols*w, rows*h))
	for v := range n {
		for fr := range t {
			ox, oy := fr*w, v*h
			if len(shape) == 4 {
				ox, oy = v*w, 0
			}
			for i := range h {
				row := out.Pix[out.PixOffset(ox, oy+i):]
				for j := range w {
					for c := range 3 {
						row[4*j+c] = unit8(img[((v*3+c)*t+fr)*plane+i*w+j])
					}
					row[4*j+3] = 255
				}
			}
		}
	}
	return out, nil
}

// WritePNG encodes img as PNG.
func WritePNG(wr io.Writer, img image.Image) error { return png.Encode(wr, img) }
