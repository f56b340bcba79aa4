package ui

import (
	"fmt"
	"sync"

	"github.com/ditkit/ditkit/core/decode"
	"github.com/ditkit/ditkit/loader"
	"github.com/vugu/vugu"
)

// DecoderFile is a TAESD-family image decoder the user gave the page:
// dropped beside the checkpoint, or kept in this browser's storage from
// an earlier visit (with the user's consent). The preview decodes with it
// when its latent channel count fits the model's.
type DecoderFile struct {
	Name     string
	Channels int
	Size     int64
	Src      *Source
	Stored   bool // kept in the browser's storage

	once sync.Once
	dec  *decode.Decoder
	err  error
}

// Load reads the decoder's weights (once).
func (d *DecoderFile) Load() (*decode.Decoder, error) {
	d.once.Do(func() {
		ck, err := openSource(d.Src)
		if err != nil {
			d.err = err
			return
		}
		d.dec, d.err = loader.LoadDecoder(ck)
	})
	return d.dec, d.err
}

// DecoderStore is the optional part of Host that keeps one decoder file
// in the browser's storage (Cache Storage, this origin only) for the
// next visit. Every method may block: call them from goroutines.
type DecoderStore interface {
	// Keep stores the file, replacing any kept before.
	Keep(src *Source) error
	// Kept returns the kept file, or nil when there is none.
	Kept() (*Source, error)
	// Forget deletes what was kept.
	Forget() error
}

// maxDecoderBytes bounds the files probed as decoders: TAESD decoders are
// about 5 MB; a checkpoint is not read twice to find out.
const maxDecoderBytes = 64 << 20

// probeDecoder returns the file as a decoder when its tensor names and
// shapes are a TAESD decoder's, else nil.
func probeDecoder(src *Source) *DecoderFile {
	if src.R == nil || src.Open != nil || src.Size > maxDecoderBytes || loader.IsIndexName(src.Name) {
		return nil
	}
	ck, err := openSource(src)
	if err != nil {
		return nil
	}
	ch, ok := loader.LooksLikeDecoder(ck)
	if !ok {
		return nil
	}
	return &DecoderFile{Name: src.Name, Channels: ch, Size: src.Size, Src: src}
}

// setDecoder attaches a decoder to the preview. Call with the env locked.
func (c *Root) setDecoder(d *DecoderFile, ee vugu.EventEnv) {
	c.Decoder = d
	c.HasImage, c.img, c.Caption = false, nil, ""
	c.Status = fmt.Sprintf("%s: a TAESD decoder (%d latent channels); the preview decodes with it.", d.Name, d.Channels)
	if d.Stored {
		c.StoreStatus = "kept in this browser from an earlier visit"
	} else {
		c.StoreStatus = ""
	}
}

// restoreDecoder picks up the decoder kept in the browser's storage.
func (c *Root) restoreDecoder(ee vugu.EventEnv) {
	st, ok := c.Host.(DecoderStore)
	if !ok {
		return
	}
	go func() {
		src, err := st.Kept()
		if err != nil || src == nil {
			return
		}
		d := probeDecoder(src)
		ee.Lock()
		defer ee.UnlockRender()
		if d == nil {
			c.StoreStatus = src.Name + " was kept in this browser but is not a TAESD decoder: forget it"
			return
		}
		if c.Decoder == nil {
			d.Stored = true
			c.setDecoder(d, ee)
			c.Status = "Ready. Your files never leave this page."
		}
	}()
}

func (c *Root) canStore() bool {
	_, ok := c.Host.(DecoderStore)
	return ok && c.Decoder != nil
}

// KeepDecoder stores the decoder in the browser's storage: the user's
// consent is this click.
func (c *Root) KeepDecoder(e vugu.DOMEvent) {
	st, ok := c.Host.(DecoderStore)
	if !ok || c.Decoder == nil {
		return
	}
	d := c.Decoder
	ee := e.EventEnv()
	c.StoreStatus = "keeping…"
	go func() {
		err := st.Keep(d.Src)
		ee.Lock()
		defer ee.UnlockRender()
		if err != nil {
			c.StoreStatus = ""
			c.Err = CLIError(fmt.Errorf("%s: could not keep it in this browser: %w", d.Name, err))
			return
		}
		d.Stored = true
		c.StoreStatus = fmt.Sprintf("kept in this browser (%s, this site only) for next time", HumanBytes(d.Size))
	}()
}

// ForgetDecoder deletes the kept decoder from the browser's storage (the
// decoder stays in use until the page is closed).
func (c *Root) ForgetDecoder(e vugu.DOMEvent) {
	st, ok := c.Host.(DecoderStore)
	if !ok {
		return
	}
	ee := e.EventEnv()
	go func() {
		err := st.Forget()
		ee.Lock()
		defer ee.UnlockRender()
		if err != nil {
			c.Err = CLIError(fmt.Errorf("could not forget the kept decoder: %w", err))
			return
		}
		if c.Decoder != nil {
			c.Decoder.Stored = false
		}
		c.StoreStatus = "forgotten: nothing is kept in this browser"
	}()
}

// latentChannels is the detected model's latent channel count (0 when
// unknown).
func (c *Root) latentChannels() int {
	if c.Det == nil {
		return 0
	}
	for _, p := range c.Det.Params {
		if p.Name == "in_channels" {
			return atoi(p.Value, 0)
		}
	}
	return 0
}

// usableDecoder is the decoder when it takes the model's latents.
func (c *Root) usableDecoder() *DecoderFile {
	if d := c.Decoder; d != nil && d.Channels == c.latentChannels() {
		return d
	}
	return nil
}

// decoderText says how the preview will draw its image.
func (c *Root) decoderText() string {
	d := c.Decoder
	switch {
	case d == nil:
		return "none: a linear latent→RGB approximation (SD15 factors), not a VAE decode — drop a TAESD decoder (taesd_decoder.safetensors / .pth, 4 latent channels; taef1_decoder, 16) beside the checkpoint to decode"
	case c.usableDecoder() == nil:
		return fmt.Sprintf("%s takes %d latent channels, this model makes %d: the preview uses the linear latent→RGB approximation", d.Name, d.Channels, c.latentChannels())
	}
	return fmt.Sprintf("%s (TAESD, %d latent channels, %s)", d.Name, d.Channels, HumanBytes(d.Size))
}
