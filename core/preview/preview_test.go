package preview

import (
	"bytes"
	"image/png"
	"testing"
)

func TestImage(t *testing.T) {
	// 4×1×2 latent: pixel 0 is channel 0 = 1 → rgb = first factor row.
	lat := []float32{1, 0, 0, 0, 0, 0, 0, -1}
	img, err := Image(lat, 4, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 16 || b.Dy() != 8 {
		t.Fatalf("bounds %v", b)
	}
	c := img.RGBAAt(3, 3)
	want := [3]uint8{to8(0.3512), to8(0.2297), to8(0.3227)}
	if c.R != want[0] || c.G != want[1] || c.B != want[2] {
		t.Errorf("pixel %v, want %v", c, want)
	}
	c = img.RGBAAt(15, 7)
	if c.R != to8(0.2120) || c.B != to8(0.7177) {
		t.Errorf("pixel 2 %v", c)
	}
	var buf bytes.Buffer
	if err := WritePNG(&buf, img); err != nil {
		t.Fatal(err)
	}
	if _, err := png.Decode(&buf); err != nil {
		t.Fatal(err)
	}
	if to8(-5) != 0 || to8(5) != 255 || to8(0) != 128 {
		t.Error("to8 mapping")
	}
	strip, err := FrameStrip(make([]float32, 4*3*2*2), 4, 3, 2, 2)
	if err != nil || strip.Bounds().Dx() != 3*2*8 {
		t.Fatal("strip", err)
	}
}
