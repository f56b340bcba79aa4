package ui

import (
	"os"
	"strings"
	"testing"

	"github.com/ditkit/ditkit/core/diff"
	"github.com/ditkit/ditkit/loader/fixtures"
	"github.com/ditkit/ditkit/loader/report"
)

// fixtureSource opens a fixture as the page's Source.
func fixtureSource(t *testing.T, rel string) *Source {
	t.Helper()
	f, err := os.Open(fixtures.Path(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	st, _ := f.Stat()
	name := rel[strings.LastIndexByte(rel, '/')+1:]
	return &Source{Name: name, Size: st.Size(), R: f}
}

// loaded is a Root showing a fixture's report, as after a drop.
func loaded(t *testing.T, rel string) *Root {
	t.Helper()
	src := fixtureSource(t, rel)
	ck, err := openSource(src)
	if err != nil {
		t.Fatal(err)
	}
	c := &Root{Sources: []*Source{src}}
	c.Init(nil)
	c.setReport(ck, report.BuildInspect(ck), Detect(ck))
	return c
}

func TestFileVerdictSaysWhatTheFileIs(t *testing.T) {
	c := loaded(t, "dit_A/ckpt_plain.pt")
	if got, want := c.fileVerdict(), "DiT, hidden size 64, 2 blocks · 183.2K parameters in F32 · 727.2 KiB torch-zip · safety: SAFE"; got != want {
		t.Errorf("file verdict %q, want %q", got, want)
	}
	g := loaded(t, "gguf_fp8/gguf_conventions/conv_b_fix5d_wan_F16.gguf")
	if got := g.fileVerdict(); !strings.HasPrefix(got, "Wan wan2.1-t2v") || !strings.Contains(got, "in F16, F32 · ") || !strings.HasSuffix(got, "gguf · safety: SAFE") {
		t.Errorf("GGUF file verdict %q", got)
	}
	if rs := g.restorations(); len(rs) != 1 || rs[0].Name != "patch_embedding.weight" || rs[0].Stored != "[2, 2, 1, 4, 64]" || rs[0].Shape != "[64, 4, 1, 2, 2]" {
		t.Errorf("restorations %+v", rs)
	}
}

// Another checkpoint's error text: the verdict alone, no findings, no
// plan, no Convert. A comparison against another family: grouped
// findings, Convert held back until "convert anyway".
func TestVerdictGatesFindingsAndConvert(t *testing.T) {
	c := loaded(t, "dit_A/ckpt_plain.pt")
	c.Mode, c.ErrorText = "error", "Error(s) in loading state_dict for STDiT:\n\tsize mismatch for x_embedder.proj.weight: copying a param with shape torch.Size([1152, 4, 2, 2]) from checkpoint, the shape in current model is torch.Size([1152, 4, 1, 2, 2])."
	c.Compare(nil)
	if c.Err != "" || c.verdictKind() != diff.VerdictWrongFile || c.showFindings() || c.showResult() {
		t.Fatalf("err %q kind %q findings %v result %v", c.Err, c.verdictKind(), c.showFindings(), c.showResult())
	}
	c.Mode, c.Preset = "preset", "STDiT-XL_2_v1.0_16x256x256"
	c.Compare(nil)
	if c.verdictKind() != diff.VerdictWrongFamily || !c.convertBlocked() || !c.convertDisabled() {
		t.Fatalf("kind %q blocked %v", c.verdictKind(), c.convertBlocked())
	}
	if got := c.countsText(); got != "556 findings: 24 shape mismatch, 525 missing, 7 unexpected, in 17 groups by cause" {
		t.Errorf("counts %q", got)
	}
	if c.groupOpen(0) {
		t.Error("a 17-cause comparison opens its groups")
	}
	c.Anyway = true
	if c.convertDisabled() {
		t.Error("convert anyway does not enable Convert")
	}
	c.Mode, c.ErrorText = "error", DemoErrorText
	c.Compare(nil)
	if c.verdictKind() != diff.VerdictPartial || !c.groupOpen(0) || c.convertBlocked() || !strings.Contains(c.convertWarning(), "only some keys") {
		t.Errorf("demo error: kind %q open %v warning %q", c.verdictKind(), c.groupOpen(0), c.convertWarning())
	}
	if got := c.groupFix(c.Groups[0]); got != "fix: unsqueeze:x_embedder.proj.weight" {
		t.Errorf("fix line %q", got)
	}
}

// A failed read keeps the report and drops the file from the list; its
// scan drives the banner.
func TestFailedReadKeepsTheReport(t *testing.T) {
	c := loaded(t, "dit_A/ckpt_plain.pt")
	bad := &Source{Name: "garbage.pt", Size: 5, R: strings.NewReader("hello")}
	c.Sources = append(c.Sources, bad)
	c.Failed = &Failed{Name: bad.Name, Err: "ditkit: garbage.pt: …"}
	c.dropSource(bad)
	if len(c.Sources) != 1 || c.Cur != 0 || c.Rep == nil || c.Rep.File != "ckpt_plain.pt" {
		t.Fatalf("sources %d cur %d rep %v", len(c.Sources), c.Cur, c.Rep != nil)
	}
	if c.danger() || c.safety() != nil {
		t.Error("a failed file without a scan shows a verdict")
	}
}

// The preview runs every family the core can build; the others get one
// line that says why.
func TestPreviewPanelIsGenericOverFamilies(t *testing.T) {
	s := loaded(t, "stdit_tiny/ckpt_plain.pt")
	if why := s.previewWhy(); why != "" {
		t.Fatalf("STDiT: %q", why)
	}
	fs := s.guessFields()
	if len(fs) != 1 || fs[0].ID != "pv-heads" || !fs[0].Guess || fs[0].Value != "16" || !fs[0].Number || s.guessClass(fs[0]) != "param guess" {
		t.Fatalf("guesses %+v", fs)
	}
	s.Given["num_heads"] = 4
	if fs = s.guessFields(); !fs[0].Given || fs[0].Value != "4" || s.setValues()["num_heads"] != 4 {
		t.Errorf("given %+v", fs)
	}
	if s.previewClasses() != 0 || s.conditioningText() == "" || !strings.HasPrefix(s.Preset, "STDiT") {
		t.Errorf("classes %d, conditioning %q, preset %q", s.previewClasses(), s.conditioningText(), s.Preset)
	}
	w := loaded(t, "gguf_fp8/gguf_conventions/conv_b_fix5d_wan_F16.gguf")
	if why := w.previewWhy(); !strings.HasPrefix(why, "Wan is conditioned on text-encoder embeddings") {
		t.Errorf("Wan: %q", why)
	}
}

// A TAESD decoder is told from a checkpoint by its names and shapes; a
// file that is neither is no decoder (and then fails as a checkpoint).
func TestProbeDecoder(t *testing.T) {
	d := probeDecoder(fixtureSource(t, "forward2/taesd/taesd_c16/taef1_decoder.pth"))
	if d == nil || d.Channels != 16 {
		t.Fatalf("taef1: %+v", d)
	}
	if _, err := d.Load(); err != nil {
		t.Fatal(err)
	}
	for _, rel := range []string{"dit_A/ckpt.safetensors", "stdit_tiny/ckpt_plain.pt"} {
		if d := probeDecoder(fixtureSource(t, rel)); d != nil {
			t.Errorf("%s probed as a decoder", rel)
		}
	}
	if d := probeDecoder(&Source{Name: "x.pt", Size: 3, R: strings.NewReader("abc")}); d != nil {
		t.Error("garbage probed as a decoder")
	}
	c := loaded(t, "dit_A/ckpt.safetensors")
	c.Decoder = d
	if c.usableDecoder() != nil || !strings.Contains(c.decoderText(), "takes 16 latent channels, this model makes 4") {
		t.Errorf("a 16-channel decoder on a 4-channel model: %q", c.decoderText())
	}
}

func TestOutputNames(t *testing.T) {
	for in, want := range map[[2]string]string{
		{"dir/ckpt.pt", "safetensors"}: "ckpt-fixed.safetensors",
		{`C:\m\a.b.gguf`, "pt"}:        "a.b-fixed.pt",
		{"model.safetensors", "gguf"}:  "model-fixed.gguf",
	} {
		if got := OutputName(in[0], in[1]); got != want {
			t.Errorf("OutputName(%q, %q) = %q, want %q", in[0], in[1], got, want)
		}
	}
}
