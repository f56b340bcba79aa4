// Package preview turns SD-VAE latents into a quick RGB picture without the
// VAE: each latent pixel is projected with the linear SD-1.x latent→RGB
// approximation, mapped to 0–255 and upscaled 8× (the VAE's factor).
package preview

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
)

// SD1Factors is the 4×3 linear map latent channel → RGB for SD-1.x latents.
var SD1Factors = [4][3]float32{
	{0.3512, 0.2297, 0.3227},
	{0.3250, 0.4974, 0.2350},
	{-0.2829, 0.1762, 0.2721},
	{-0.2120, -0.2616, -0.7177},
}

// Scale is the upscale factor (the SD VAE's downsampling).
const Scale = 8

// Image projects one latent [C ≥ 4, H, W] (only the first 4 channels are
// used) to an RGB image of (W·Scale)×(H·Scale). Values map from [−1, 1] to
// [0, 255]: v8 = clamp((v+1)/2)·255.
func Image(lat []float32, c, h, w int) (*image.RGBA, error) {
	if c < 4 || len(lat) < c*h*w {
		return nil, fmt.Errorf("preview: need a latent of ≥4 channels, got %d channels, %d values for %d×%d", c, len(lat), h, w)
	}
	img := image.NewRGBA(image.Rect(0, 0, w*Scale, h*Scale))
	drawLatent(img, 0, 0, lat, h, w)
	return img, nil
}

func drawLatent(img *image.RGBA, ox, oy int, lat []float32, h, w int) {
	plane := h * w
	for i := 0; i < h; i++ {
		for j := 0; j < w; j++ {
			var rgb [3]float32
			for ch := 0; ch < 4; ch++ {
				v := lat[ch*plane+i*w+j]
				for k := 0; k < 3; k++ {
					rgb[k] += v * SD1Factors[ch][k]
				}
			}
			col := color.RGBA{to8(rgb[0]), to8(rgb[1]), to8(rgb[2]), 255}
			for dy := 0; dy < Scale; dy++ {
				for dx := 0; dx < Scale; dx++ {
					img.SetRGBA(ox+j*Scale+dx, oy+i*Scale+dy, col)
				}
			}
		}
	}
}

func to8(v float32) uint8 {
	v = (v + 1) / 2
	if !(v > 0) { // also NaN
		return 0
	}
	if v >= 1 {
		return 255
	}
	return uint8(v*255 + 0.5)
}

// Grid lays out n latents [n, C, H, W] side by side in one row.
func Grid(lat []float32, n, c, h, w int) (*image.RGBA, error) {
	if c < 4 || len(lat) < n*c*h*w {
		return nil, fmt.Errorf("preview: need %d latents of ≥4 channels %d×%d", n, h, w)
	}
	img := image.NewRGBA(image.Rect(0, 0, n*w*Scale, h*Scale))
	for k := 0; k < n; k++ {
		drawLatent(img, k*w*Scale, 0, lat[k*c*h*w:], h, w)
	}
	return img, nil
}

// FrameStrip lays the frames of one video latent [C, T, H, W] (STDiT
// layout) side by side.
func FrameStrip(lat []float32, c, t, h, w int) (*image.RGBA, error) {
	if c < 4 || len(lat) < c*t*h*w {
		return nil, fmt.Errorf("preview: need a video latent of ≥4 channels")
	}
	img := image.NewRGBA(image.Rect(0, 0, t*w*Scale, h*Scale))
	frame := make([]float32, 4*h*w)
	for f := 0; f < t; f++ {
		for ch := 0; ch < 4; ch++ {
			copy(frame[ch*h*w:(ch+1)*h*w], lat[(ch*t+f)*h*w:])
		}
		drawLatent(img, f*w*Scale, 0, frame, h, w)
	}
	return img, nil
}

// WritePNG encodes img as PNG.
func WritePNG(wr io.Writer, img image.Image) error { return png.Encode(wr, img) }
