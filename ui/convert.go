package ui

import (
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ditkit/ditkit/core/diff"
	"github.com/ditkit/ditkit/core/spec"
	"github.com/ditkit/ditkit/core/tensor"
	"github.com/ditkit/ditkit/loader"
	"github.com/ditkit/ditkit/loader/convert"
	"github.com/ditkit/ditkit/loader/report"
	"github.com/vugu/vugu"
)

// Sink receives a converted file as it is written.
type Sink interface {
	io.Writer
	// Close finishes the file (saved or downloaded) and says where it went.
	Close() (string, error)
	// Abort drops what was written.
	Abort()
}

// Saver is the optional part of Host that saves files. SaveAs is called
// inside the click handler, so the browser may show its save dialog; the
// returned open is then called on a goroutine.
type Saver interface {
	SaveAs(name string) (open func() (Sink, error))
}

// ErrCancelled is returned when the user cancels a conversion.
var ErrCancelled = errors.New("cancelled: nothing was saved")

// DemoErrorText is what PyTorch says when the demo (dit_A's shapes) is
// loaded into a tiny Open-Sora 1.0 STDiT (../shared/fixtures/stdit_tiny/
// load_mismatch.json): the small-scale twin of the famous
// [1152, 4, 2, 2] vs [1152, 4, 1, 2, 2] error.
const DemoErrorText = "Error(s) in loading state_dict for STDiT:\n\tsize mismatch for x_embedder.proj.weight: copying a param with shape torch.Size([64, 4, 2, 2]) from checkpoint, the shape in current model is torch.Size([64, 4, 1, 2, 2])."

// OutputName is the name the page gives a converted file: the input's stem,
// "-fixed", and the format's extension.
func OutputName(input, format string) string {
	base := path.Base(strings.ReplaceAll(input, "\\", "/"))
	if i := strings.LastIndexByte(base, '.'); i > 0 {
		base = base[:i]
	}
	ext := ".safetensors"
	if format == "pt" {
		ext = ".pt"
	}
	return base + "-fixed" + ext
}

// FindingGroup is the findings of one kind.
type FindingGroup struct {
	Kind     string
	Label    string
	Findings []diff.Finding
}

func groupFindings(fs []diff.Finding) []FindingGroup {
	var out []FindingGroup
	idx := map[string]int{}
	for _, f := range fs {
		i, ok := idx[f.Kind]
		if !ok {
			i = len(out)
			idx[f.Kind] = i
			out = append(out, FindingGroup{Kind: f.Kind, Label: strings.ReplaceAll(f.Kind, "_", " ")})
		}
		out[i].Findings = append(out[i].Findings, f)
	}
	return out
}

func valueText(v any) string {
	switch t := v.(type) {
	case nil:
		return "—"
	case []int:
		return tensor.FormatShape(t)
	case []any:
		parts := make([]string, len(t))
		for i, x := range t {
			parts[i] = fmt.Sprint(x)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return fmt.Sprint(v)
}

// presetOptions lists the presets, the detected family's first.
func presetOptions(family string) []spec.PresetInfo {
	ps := spec.Presets()
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Family == family && ps[j].Family != family })
	return ps
}

// --- Root: target, diff, convert ---------------------------------------------

func (c *Root) resetTarget() {
	c.Diff, c.Checked = nil, nil
	if c.Det != nil && c.Preset == "" {
		switch {
		case c.Det.Preset != "":
			c.Preset = c.Det.Preset
		case c.Det.ClosestPreset != "":
			c.Preset = c.Det.ClosestPreset
		}
	}
	if c.Preset == "" {
		c.Preset = spec.Presets()[0].Name
	}
}

func (c *Root) isDemo() bool {
	return len(c.Sources) > 0 && c.Sources[c.Cur].Name == demoName
}

func (c *Root) presets() []spec.PresetInfo {
	fam := ""
	if c.Det != nil {
		fam = c.Det.Family
	}
	return presetOptions(fam)
}

func (c *Root) presetLabel(p spec.PresetInfo) string { return p.Name + " — " + p.Description }

// SetMode picks how the target is given: preset, error or spec.
func (c *Root) SetMode(e vugu.DOMEvent) { c.Mode = e.PropString("target", "value"); c.Diff = nil }

func (c *Root) SetPreset(e vugu.DOMEvent)    { c.Preset = e.PropString("target", "value"); c.Diff = nil }
func (c *Root) SetErrorText(e vugu.DOMEvent) { c.ErrorText = e.PropString("target", "value") }
func (c *Root) SetSpecText(e vugu.DOMEvent)  { c.SpecText = e.PropString("target", "value") }

// UseDemoError pastes the error PyTorch gives for the demo.
func (c *Root) UseDemoError(e vugu.DOMEvent) {
	c.Mode, c.ErrorText, c.Diff = "error", DemoErrorText, nil
}

func (c *Root) request() report.TargetRequest {
	switch c.Mode {
	case "error":
		return report.TargetRequest{ErrorText: c.ErrorText}
	case "spec":
		return report.TargetRequest{Spec: []byte(c.SpecText)}
	}
	return report.TargetRequest{Arch: c.Preset}
}

// Compare diffs the weights root against the target (metadata only).
func (c *Root) Compare(e vugu.DOMEvent) {
	c.Err, c.Diff, c.Saved = "", nil, ""
	if c.ck == nil {
		return
	}
	d, err := buildDiff(c.ck, c.request())
	if err != nil {
		c.Err = CLIError(err)
		return
	}
	c.Diff = d
	c.Groups = groupFindings(d.Findings)
	c.Checked = map[string]bool{}
	for _, s := range d.Plan {
		c.Checked[s.ID] = true
	}
}

func buildDiff(ck *loader.Checkpoint, req report.TargetRequest) (d *report.Diff, err error) {
	defer func() {
		if p := recover(); p != nil {
			d, err = nil, fmt.Errorf("%s: internal error while diffing: %v", ck.Name, p)
		}
	}()
	d, _, err = report.BuildDiff(ck, req, report.DiffOptions{})
	return d, err
}

// ToggleFix selects or deselects one plan step.
func (c *Root) ToggleFix(id string, e vugu.DOMEvent) {
	c.Checked[id] = e.PropBool("target", "checked")
}

func (c *Root) SetFormat(e vugu.DOMEvent) { c.Format = e.PropString("target", "value") }
func (c *Root) SetDType(e vugu.DOMEvent)  { c.DType = e.PropString("target", "value") }

// fixes is the --fix value for the checked steps.
func (c *Root) fixes() []string {
	var ids []string
	for _, s := range c.Diff.Plan {
		if c.Checked[s.ID] {
			ids = append(ids, s.ID)
		}
	}
	switch {
	case len(ids) == len(c.Diff.Plan):
		return []string{"auto"}
	case len(ids) == 0:
		return []string{"none"}
	}
	return ids
}

func (c *Root) outName() string { return OutputName(c.Sources[c.Cur].Name, c.Format) }

// cliCommand is the `ditkit convert` line that writes the same bytes.
func (c *Root) cliCommand() string {
	cmd := "ditkit convert " + shellQuote(c.Sources[c.Cur].Name) + " -o " + shellQuote(c.outName())
	switch c.Mode {
	case "error":
		cmd += " --error-text ERROR.txt"
	case "spec":
		cmd += " --spec SPEC.json"
	default:
		cmd += " --arch " + c.Preset
	}
	if c.ck != nil && c.ck.WeightsRoot != "" {
		cmd += " --root " + shellQuote(c.ck.WeightsRoot)
	}
	cmd += " --fix " + strings.Join(c.fixes(), ",")
	if c.DType != "" && c.DType != "keep" {
		cmd += " --dtype " + c.DType
	}
	return cmd
}

func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:,", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Convert writes the fixed file: streamed to disk where the browser lets
// the page save files, else assembled into a Blob and downloaded.
func (c *Root) Convert(e vugu.DOMEvent) {
	saver, ok := c.Host.(Saver)
	if !ok || c.ck == nil || c.Diff == nil || c.Converting {
		return
	}
	dt, err := report.ParseDType(c.DType)
	if err != nil {
		c.Err = CLIError(err)
		return
	}
	name := c.outName()
	open := saver.SaveAs(name) // inside the click: the save dialog may open
	ck, req := c.ck, c.request()
	opt := BrowserConvertOptions(c.Format, c.fixes(), dt, name)
	c.Err, c.Saved, c.Converting, c.Done, c.Total, c.Rate = "", "", true, 0, 0, ""
	cancel := &atomic.Bool{}
	c.cancel = cancel
	ee := e.EventEnv()
	go func() {
		msg, err := convertTo(ck, req, opt, open, cancel, func(done, total int64, rate string) {
			ee.Lock()
			c.Done, c.Total, c.Rate = done, total, rate
			ee.UnlockRender()
		})
		ee.Lock()
		defer ee.UnlockRender()
		c.Converting, c.cancel = false, nil
		if err != nil {
			c.Err = CLIError(fmt.Errorf("%s: %w", name, err))
			return
		}
		c.Saved = msg
	}()
}

// BrowserConvertOptions are the conversion options of the page and of
// window.ditkit.convert: no per-tensor sha256 (Go's sha256 runs ~18 MB/s
// in wasm) and 4 MiB source reads (the Blob reader streams from 1 MiB
// reads up).
func BrowserConvertOptions(format string, fixes []string, dt tensor.DType, name string) convert.Options {
	return convert.Options{Format: format, Fixes: fixes, DType: dt, OutputName: name, SkipHashes: true, ReadChunk: 4 << 20}
}

// convertTo runs convert.Run into the sink that open returns.
func convertTo(ck *loader.Checkpoint, req report.TargetRequest, opt convert.Options, open func() (Sink, error),
	cancel *atomic.Bool, progress func(done, total int64, rate string)) (msg string, err error) {
	sink, err := open()
	if err != nil {
		return "", err
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("internal error while converting: %v", p)
		}
		if err != nil {
			sink.Abort()
		}
	}()
	start := time.Now()
	opt.Progress = func(done, total int64) {
		s := time.Since(start).Seconds()
		rate := ""
		if s > 0 {
			rate = fmt.Sprintf("%.0f MB/s", float64(done)/1e6/s)
		}
		progress(done, total, rate)
	}
	w := &cancelWriter{w: sink, cancel: cancel}
	rep, err := convert.Run(ck, req, opt, w)
	if err != nil {
		return "", err
	}
	where, err := sink.Close()
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s: %s (%s, %d tensors) %s in %.1f s.", opt.OutputName, HumanBytes(rep.Bytes), rep.Format,
		len(rep.Tensors), where, time.Since(start).Seconds()), nil
}

type cancelWriter struct {
	w      io.Writer
	cancel *atomic.Bool
}

func (w *cancelWriter) Write(p []byte) (int, error) {
	if w.cancel != nil && w.cancel.Load() {
		return 0, ErrCancelled
	}
	return w.w.Write(p)
}

// Cancel stops a running conversion; nothing is kept.
func (c *Root) Cancel(e vugu.DOMEvent) {
	if c.cancel != nil {
		c.cancel.Store(true)
	}
}

func (c *Root) progressText() string {
	return fmt.Sprintf("%s of %s written %s", HumanBytes(c.Done), HumanBytes(c.Total), c.Rate)
}

func (c *Root) stepLabel(i int) string {
	s := c.Diff.Plan[i]
	t := fmt.Sprintf("%d. %s", i+1, s.Description)
	if s.Lossy {
		t += " (lossy: removes data)"
	}
	return t
}

func (c *Root) diffSummary() string {
	d := c.Diff
	if len(d.Findings) == 0 {
		return "No differences: the checkpoint already matches " + d.Target + "."
	}
	s := fmt.Sprintf("%d findings against %s.", len(d.Findings), d.Target)
	if len(d.Remaining) == 0 {
		s += " The whole plan resolves them all."
	} else {
		s += fmt.Sprintf(" %d remain after the plan.", len(d.Remaining))
	}
	if len(d.NeedsTraining) > 0 {
		s += fmt.Sprintf(" %d keys can only come from training.", len(d.NeedsTraining))
	}
	return s
}

func findingLine(f diff.Finding) string {
	if f.Expected == nil && f.Got == nil {
		return f.Key
	}
	return f.Key + ": expected " + valueText(f.Expected) + ", got " + valueText(f.Got)
}
