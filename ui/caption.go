package ui

import (
	"fmt"

	"github.com/ditkit/ditkit/core/sample"
	"github.com/vugu/vugu"
)

// CaptionFile is a caption embedding file the user dropped beside a
// caption model (PixArt, Open-Sora): y [N, 1, L, C] and optionally mask
// [N, L] (and PixArtMS's img_hw, aspect_ratio), as the model's own text
// encoder computed them elsewhere — what `ditkit sample --caption` takes.
type CaptionFile struct {
	Name    string
	Caption *sample.Caption
}

// maxCaptionTensors bounds the tensors of a file probed as captions.
const maxCaptionTensors = 8

// probeCaption returns the file as caption embeddings when it holds a
// float y of 3 or 4 dims and few other tensors, else nil.
func probeCaption(src *Source) *CaptionFile {
	if src.R == nil || src.Open != nil || src.Size > maxDecoderBytes {
		return nil
	}
	ck, err := openSource(src)
	if err != nil || len(ck.Tensors) > maxCaptionTensors {
		return nil
	}
	isY := false
	for _, w := range ck.Weights() {
		if w.Name == "y" && w.DType.IsFloat() && (len(w.Shape) == 3 || len(w.Shape) == 4) {
			isY = true
		}
	}
	if !isY {
		return nil
	}
	ts, err := ck.ReadAll()
	if err != nil {
		return nil
	}
	c, err := sample.CaptionFile(ts, src.Name)
	if err != nil {
		return nil
	}
	return &CaptionFile{Name: src.Name, Caption: c}
}

// setCaption attaches caption embeddings to the preview. Call with the
// env locked.
func (c *Root) setCaption(f *CaptionFile, ee vugu.EventEnv) {
	c.CaptionFile = f
	c.HasImage, c.img, c.Caption = false, nil, ""
	c.Status = fmt.Sprintf("%s: caption embeddings (%s); a caption model's preview conditions on them.", f.Name, captionShape(f.Caption))
}

func captionShape(c *sample.Caption) string {
	return fmt.Sprintf("%d × %d values", c.N, len(c.Y)/max(c.N, 1))
}

// ForgetCaption goes back to the model's own null caption.
func (c *Root) ForgetCaption(e vugu.DOMEvent) { c.CaptionFile = nil }
