package ui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
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
	ext := ".safetensors"
	switch format {
	case "pt":
		ext = ".pt"
	case "gguf":
		ext = ".gguf"
	}
	return stem(input) + "-fixed" + ext
}

// stem is a file name without its folder and extension.
func stem(name string) string {
	base := path.Base(strings.ReplaceAll(name, "\\", "/"))
	if i := strings.LastIndexByte(base, '.'); i > 0 {
		base = base[:i]
	}
	return base
}

// presetOptions lists the presets, the detected family's first.
func presetOptions(family string) []spec.PresetInfo {
	ps := spec.Presets()
	var out, rest []spec.PresetInfo
	for _, p := range ps {
		if p.Family == family {
			out = append(out, p)
		} else {
			rest = append(rest, p)
		}
	}
	return append(out, rest...)
}

// --- Root: target, diff, convert ---------------------------------------------

// resetTarget clears the comparison; an unset preset follows the
// detection (its exact preset, else the closest, else the first of its
// family).
func (c *Root) resetTarget() {
	c.Diff, c.Checked, c.Groups, c.Opened, c.Anyway = nil, nil, nil, nil, false
	if c.Det != nil && c.Preset == "" {
		switch {
		case c.Det.Preset != "":
			c.Preset = c.Det.Preset
		case c.Det.ClosestPreset != "":
			c.Preset = c.Det.ClosestPreset
		}
	}
	if c.Preset == "" {
		fam := ""
		if c.Det != nil {
			fam = c.Det.Family
		}
		c.Preset = presetOptions(fam)[0].Name
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
func (c *Root) SetMode(e vugu.DOMEvent) { c.Mode = e.PropString("target", "value"); c.resetTarget() }

func (c *Root) SetPreset(e vugu.DOMEvent) {
	c.Preset = e.PropString("target", "value")
	c.resetTarget()
}

// SetErrorText and SetSpecText take the target's text; the comparison
// shown no longer describes it, so it goes.
func (c *Root) SetErrorText(e vugu.DOMEvent) {
	c.ErrorText = e.PropString("target", "value")
	c.resetTarget()
}
func (c *Root) SetSpecText(e vugu.DOMEvent) {
	c.SpecText = e.PropString("target", "value")
	c.resetTarget()
}

// UseDemoError pastes the error PyTorch gives for the demo and compares.
func (c *Root) UseDemoError(e vugu.DOMEvent) {
	c.Mode, c.ErrorText = "error", DemoErrorText
	c.Compare(e)
}

// ComparePreset switches to the preset target (after a partial verdict:
// the keys the error text does not list are checked against one).
func (c *Root) ComparePreset(e vugu.DOMEvent) {
	c.Mode = "preset"
	c.resetTarget()
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
	c.Err, c.Saved = "", ""
	c.resetTarget()
	if c.ck == nil {
		return
	}
	d, err := buildDiff(c.ck, c.request())
	if err != nil {
		c.Err = CLIError(err)
		return
	}
	c.Diff = d
	c.Groups = diff.GroupByCause(d.Findings)
	c.Opened = map[int]bool{}
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

// verdictKind is the comparison's verdict kind ("" before one).
func (c *Root) verdictKind() string {
	if c.Diff == nil {
		return ""
	}
	return c.Diff.Verdict.Kind
}

func (c *Root) verdictClass() string { return "verdict verdict-" + c.verdictKind() }

// showFindings: an error text from another checkpoint explains nothing
// about this file, so its findings stay hidden.
func (c *Root) showFindings() bool {
	return c.Diff != nil && c.verdictKind() != diff.VerdictWrongFile && len(c.Diff.Findings) > 0
}

// countsText is the findings' count line, as the CLI's.
func (c *Root) countsText() string {
	s := diff.CountsText(c.Diff.Findings)
	if n := len(c.Groups); n > 1 {
		s += fmt.Sprintf(", in %s by cause", diff.Plural(n, "group"))
	}
	return s
}

// afterPlanText says what stays after the whole plan, as the CLI's.
func (c *Root) afterPlanText() string {
	d := c.Diff
	switch {
	case len(d.Findings) == 0:
		return ""
	case len(d.Remaining) == 0 && c.verdictKind() == diff.VerdictPartial:
		return "after the plan: the keys the error text lists match; the others were not in it (unknown)."
	case len(d.Remaining) == 0:
		return "after the plan: clean."
	}
	s := "after the plan: " + diff.FindingsRemain(len(d.Remaining))
	if len(d.NeedsTraining) > 0 {
		s += fmt.Sprintf("; %s must be trained (no conversion can supply them)", diff.Plural(len(d.NeedsTraining), "tensor"))
	}
	return s + "."
}

// smallDiff is how many cause groups a comparison may have and still
// show every group open.
const smallDiff = 3

// groupOpen: a comparison of a few causes shows them open; a large one
// shows one line per cause, opened when the user asks.
func (c *Root) groupOpen(i int) bool {
	if open, ok := c.Opened[i]; ok {
		return open
	}
	return len(c.Groups) <= smallDiff
}

// ToggleGroup records a finding group opened or closed by the user (the
// renderer would otherwise close it on the next render).
func (c *Root) ToggleGroup(i int, e vugu.DOMEvent) {
	if c.Opened != nil {
		c.Opened[i] = e.PropBool("target", "open")
	}
}

func (c *Root) groupClass(g diff.Group) string {
	cls := "finding kind-" + g.Kind
	if len(g.Fixes) > 0 && c.fixedInPlan(g) {
		cls += " fixable"
	}
	return cls
}

// fixedInPlan reports whether a plan step resolves the group.
func (c *Root) fixedInPlan(g diff.Group) bool {
	for _, id := range g.Fixes {
		for _, s := range c.Diff.Plan {
			if s.ID == id {
				return true
			}
		}
	}
	return false
}

// groupTitle is a group's summary line: its one finding, or the kind and
// how many keys.
func (c *Root) groupTitle(g diff.Group) string {
	if len(g.Lines) == 1 {
		return g.Lines[0]
	}
	return diff.Plural(len(g.Lines), "key") + ": " + g.Keys[0] + " … " + g.Keys[len(g.Keys)-1]
}

// maxGroupLines bounds the keys one open group lists.
const maxGroupLines = 40

func (c *Root) groupLines(g diff.Group) []string {
	if len(g.Lines) <= maxGroupLines {
		return g.Lines
	}
	return g.Lines[:maxGroupLines]
}

func (c *Root) groupMore(g diff.Group) string {
	if n := len(g.Lines) - maxGroupLines; n > 0 {
		return fmt.Sprintf("… and %d more (ditkit diff --json lists every key)", n)
	}
	return ""
}

// groupFix is a group's "fix:" line; a fix the plan does not hold is not
// offered.
func (c *Root) groupFix(g diff.Group) string {
	if len(g.Fixes) > 0 && !c.fixedInPlan(g) {
		return "fix: none in this plan"
	}
	return "fix: " + g.FixText()
}

// ToggleFix selects or deselects one plan step.
func (c *Root) ToggleFix(id string, e vugu.DOMEvent) {
	c.Checked[id] = e.PropBool("target", "checked")
}

func (c *Root) SetFormat(e vugu.DOMEvent) { c.Format = e.PropString("target", "value") }
func (c *Root) SetDType(e vugu.DOMEvent) {
	c.DType = e.PropString("target", "value")
	if !c.fp8() {
		c.FP8Scaled = false
	}
}
func (c *Root) SetQuant(e vugu.DOMEvent) { c.Quant = e.PropString("target", "value") }
func (c *Root) SetThreshold(e vugu.DOMEvent) {
	c.Threshold = strings.TrimSpace(e.PropString("target", "value"))
}
func (c *Root) SetFP8Scaled(e vugu.DOMEvent) { c.FP8Scaled = e.PropBool("target", "checked") }
func (c *Root) SetAnyway(e vugu.DOMEvent)    { c.Anyway = e.PropBool("target", "checked") }

func (c *Root) fp8() bool { return strings.HasPrefix(c.DType, "fp8") }

// quantOptions are the main ggml types a .gguf output can have.
func (c *Root) quantOptions() []string {
	out := make([]string, len(loader.GGUFQuantTypes))
	for i, q := range loader.GGUFQuantTypes {
		out[i] = q.String()
	}
	return out
}

// fixes is the --fix value for the checked steps.
func (c *Root) fixes() []string {
	if c.Diff == nil {
		return []string{"auto"}
	}
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

// convertRequest is the target of a conversion: the comparison's, or
// none (format and dtypes only) before one.
func (c *Root) convertRequest() report.TargetRequest {
	if c.Diff == nil {
		return report.TargetRequest{}
	}
	return c.request()
}

// choices are the conversion's GGUF and fp8 options (the page's dtype is
// always explicit: a GGUF input's default bf16 is preselected).
func (c *Root) choices() (convert.QuantChoices, error) {
	q := convert.QuantChoices{FP8Scaled: c.FP8Scaled, DTypeGiven: true, Threshold: loader.DefaultQuantThreshold}
	if c.Format == "gguf" {
		q.Quant = c.Quant
		n, err := strconv.ParseInt(c.Threshold, 10, 64)
		if err != nil {
			return q, fmt.Errorf("--quant-threshold %q: want a number of elements", c.Threshold)
		}
		q.Threshold = n
	}
	return q, nil
}

// cliCommand is the `ditkit convert` line that writes the same bytes.
func (c *Root) cliCommand() string {
	cmd := "ditkit convert " + shellQuote(c.Sources[c.Cur].Name) + " -o " + shellQuote(c.outName())
	if c.Diff != nil {
		switch c.Mode {
		case "error":
			cmd += " --error-text ERROR.txt"
		case "spec":
			cmd += " --spec SPEC.json"
		default:
			cmd += " --arch " + c.Preset
		}
	}
	if c.ck != nil && c.ck.WeightsRoot != "" {
		cmd += " --root " + shellQuote(c.ck.WeightsRoot)
	}
	if c.Diff != nil {
		cmd += " --fix " + strings.Join(c.fixes(), ",")
	}
	if c.Format == "gguf" {
		if c.Quant != "" {
			cmd += " --quant " + c.Quant
		}
		if c.Threshold != fmt.Sprint(loader.DefaultQuantThreshold) {
			cmd += " --quant-threshold " + shellQuote(c.Threshold)
		}
		return cmd
	}
	if c.DType != "" && (c.DType != "keep" || c.ck != nil && c.ck.Format == loader.FormatGGUF) {
		cmd += " --dtype " + c.DType
	}
	if c.FP8Scaled {
		cmd += " --fp8-scaled"
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

// showResult: the Result box is offered unless the error text is another
// checkpoint's (nothing to convert for it).
func (c *Root) showResult() bool { return c.verdictKind() != diff.VerdictWrongFile }

// convertBlocked: the verdict says the output cannot load into the target
// (another family or variant), so Convert waits for "convert anyway".
func (c *Root) convertBlocked() bool {
	switch c.verdictKind() {
	case diff.VerdictWrongFamily, diff.VerdictWrongVariant:
		return true
	}
	return false
}

// convertWarning says what the output will not fix.
func (c *Root) convertWarning() string {
	d := c.Diff
	switch c.verdictKind() {
	case "":
		return "No comparison yet: the output changes only the format and dtypes (compare with a target above to fix keys and shapes)."
	case diff.VerdictWrongFamily, diff.VerdictWrongVariant:
		if len(d.Remaining) == 0 {
			return fmt.Sprintf("The output would load into %s, but as another variant than the weights were trained as (see the verdict above).", d.Verdict.Target)
		}
		return fmt.Sprintf("The output will not load into %s: %s the plan cannot fix (see the verdict above).", d.Verdict.Target, diff.Plural(len(d.Remaining), "finding"))
	case diff.VerdictNeedsTraining:
		return fmt.Sprintf("The output still lacks %s the target has: load it with strict=False and train them.", diff.Plural(len(d.NeedsTraining), "tensor"))
	case diff.VerdictPartial:
		return "The error text lists only some keys: the plan fixes those; whether the others load is unknown (compare with a preset or spec to know)."
	}
	return ""
}

func (c *Root) convertDisabled() bool { return c.Converting || (c.convertBlocked() && !c.Anyway) }

// Convert writes the fixed file: streamed to disk where the browser lets
// the page save files, else assembled into a Blob and downloaded.
func (c *Root) Convert(e vugu.DOMEvent) {
	saver, ok := c.Host.(Saver)
	if !ok || c.ck == nil || c.convertDisabled() {
		return
	}
	opt, err := c.convertOptions()
	if err != nil {
		c.Err = CLIError(err)
		return
	}
	name := opt.OutputName
	open := saver.SaveAs(name) // inside the click: the save dialog may open
	ck, req := c.ck, c.convertRequest()
	c.Err, c.Saved, c.Converting, c.Done, c.Total, c.Rate = "", "", true, 0, 0, ""
	cancel := &atomic.Bool{}
	ctx, stop := context.WithCancel(context.Background())
	opt.Context = ctx
	c.cancel, c.stop = cancel, stop
	ee := e.EventEnv()
	go func() {
		defer stop()
		msg, err := convertTo(ck, req, opt, open, cancel, func(done, total int64, rate string) {
			ee.Lock()
			c.Done, c.Total, c.Rate = done, total, rate
			ee.UnlockRender()
		})
		ee.Lock()
		defer ee.UnlockRender()
		c.Converting, c.cancel, c.stop = false, nil, nil
		if err != nil {
			if ctx.Err() != nil {
				err = ErrCancelled
			}
			c.Err = CLIError(fmt.Errorf("%s: %w", name, err))
			return
		}
		c.Saved = msg
	}()
}

// convertOptions are the Result box's choices as convert.Options.
func (c *Root) convertOptions() (convert.Options, error) {
	dt := tensor.Invalid
	var err error
	if c.Format != "gguf" {
		if dt, err = report.ParseConvertDType(c.DType); err != nil {
			return convert.Options{}, err
		}
	}
	name := c.outName()
	opt := BrowserConvertOptions(c.Format, c.fixes(), dt, name)
	q, err := c.choices()
	if err != nil {
		return opt, err
	}
	if _, err := q.Apply(&opt, c.ck); err != nil {
		return opt, err
	}
	return opt, nil
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
	return fmt.Sprintf("%s: %s (%s, %s) %s in %.1f s.", opt.OutputName, HumanBytes(rep.Bytes), rep.Format,
		diff.Plural(len(rep.Tensors), "tensor"), where, time.Since(start).Seconds()), nil
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
	if c.stop != nil {
		c.stop()
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

func (c *Root) planLegend() string {
	return fmt.Sprintf("Fix plan (%s; each can be left out)", diff.Plural(len(c.Diff.Plan), "step"))
}
