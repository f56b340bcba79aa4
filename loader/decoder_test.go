package loader_test

import (
	"strings"
	"testing"

	"github.com/ditkit/ditkit/loader"
	"github.com/ditkit/ditkit/loader/fixtures"
)

func TestLooksLikeDecoderAndLoad(t *testing.T) {
	for rel, ch := range map[string]int{
		"forward2/taesd/taesd_c4/taesd_decoder.safetensors": 4,
		"forward2/taesd/taesd_c4/taesd_decoder.pth":         4,
		"forward2/taesd/taesd_c16/taef1_decoder.pth":        16,
		"dit_A/ckpt.safetensors":                            0,
	} {
		ck, f, err := loader.OpenFile(fixtures.Path(t, rel))
		if err != nil {
			t.Fatal(err)
		}
		got, ok := loader.LooksLikeDecoder(ck)
		if got != ch || ok != (ch > 0) {
			t.Errorf("%s: LooksLikeDecoder %d %v, want %d", rel, got, ok, ch)
		}
		d, err := loader.LoadDecoder(ck)
		switch {
		case ch > 0 && (err != nil || d.LatentChannels != ch):
			t.Errorf("%s: LoadDecoder %v", rel, err)
		case ch == 0 && (err == nil || !strings.HasPrefix(err.Error(), ck.Name+": not a TAESD decoder")):
			t.Errorf("%s: a checkpoint loads as a decoder (%v)", rel, err)
		}
		f.Close()
	}
}
