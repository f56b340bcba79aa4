package ui

import (
	"fmt"
	"image"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ditkit/ditkit/core/diff"
	"github.com/ditkit/ditkit/core/spec"
	"github.com/ditkit/ditkit/loader"
	"github.com/ditkit/ditkit/loader/report"
	"github.com/ditkit/ditkit/loader/scan"
	"github.com/vugu/vugu"
)

// pageRows is how many tensor rows are rendered at first; "show more" adds
// more. Filtering runs over every row, rendering only over these.
const pageRows = 200

// Root is the whole page below the header: drop zone, file list, and the
// report of the file shown: what it is (one line), the target and the
// comparison's verdict, the preview, then the details.
type Root struct {
	Host Host

	Status string
	Err    string // in-place error, worded like the CLI
	Busy   bool
	Over   bool // a drag is over the drop zone

	Sources []*Source
	Cur     int
	// Failed is the latest file the reader refused (with its safety
	// scan); the report below stays the previous file's.
	Failed *Failed

	ck    *loader.Checkpoint
	Rep   *report.Inspect
	Det   *Detected
	rows  []TensorRow
	Query string
	Limit int

	gen int // generation of the latest load; stale results are dropped

	// target and diff
	Mode      string // "preset", "error" or "spec"
	Preset    string
	ErrorText string
	SpecText  string
	Diff      *report.Diff
	Groups    []diff.Group
	Opened    map[int]bool    // finding groups the user opened
	Checked   map[string]bool // plan step id → selected
	Anyway    bool            // convert although the verdict says it will not load

	// convert
	Format     string // "safetensors", "pt" or "gguf"
	DType      string // keep, fp16, bf16, fp32, fp8_e4m3, fp8_e5m2
	Quant      string // .gguf: the main ggml type ("" convert.py's choice)
	Threshold  string // .gguf: --quant-threshold
	FP8Scaled  bool
	Converting bool
	Done       int64
	Total      int64
	Rate       string
	Saved      string
	cancel     *atomic.Bool
	stop       func() // cancels a GGUF write between pieces

	// preview
	Steps, Seed           int
	Class                 string // a class, or one per sample: "1,11"
	Sampler, Backend      string
	CFG                   float64
	Sampling, HasImage    bool
	StepsDone, StepsTotal int
	StepText, PreviewInfo string
	Caption               string
	stopSample            func()
	guesses               []spec.Ambiguity // what the shapes did not decide, as detected
	Given                 map[string]any   // the user's values for them
	img                   *image.RGBA
	imgLabel              string

	// decoder and caption embeddings dropped beside the checkpoint
	Decoder     *DecoderFile
	StoreStatus string
	CaptionFile *CaptionFile
}

// Failed is a file the reader refused: its name, the error in the CLI's
// words, and what `ditkit scan` says about it (nil when it cannot tell).
type Failed struct {
	Name string
	Err  string
	Scan *scan.Report
}

// demoName is the demo checkpoint's file name.
const demoName = "dit-demo-2d-layout.pt"

// Init is called by vugu once before the first build.
func (c *Root) Init(ctx vugu.InitCtx) {
	if c.Status == "" {
		c.Status = "Ready. Your files never leave this page."
	}
	if c.Mode == "" {
		c.Mode = "preset"
	}
	if c.Format == "" {
		c.Format = "safetensors"
	}
	if c.DType == "" {
		c.DType = "keep"
	}
	if c.Threshold == "" {
		c.Threshold = fmt.Sprint(loader.DefaultQuantThreshold)
	}
	if c.Steps == 0 {
		c.Steps, c.Sampler, c.CFG, c.Class, c.Backend = 25, "ddim", 4, "207", "auto"
	}
	if _, ok := c.Host.(DecoderStore); ok && ctx != nil {
		c.restoreDecoder(ctx.EventEnv())
	}
}

func (c *Root) dropClass() string {
	cls := "drop"
	if c.Rep != nil || c.Failed != nil {
		cls += " compact"
	}
	if c.Over {
		cls += " over"
	}
	return cls
}

// DragOver accepts the drag so that the drop event fires.
func (c *Root) DragOver(e vugu.DOMEvent) {
	e.PreventDefault()
	c.Over = true
}

func (c *Root) DragLeave(e vugu.DOMEvent) { c.Over = false }

// Drop opens the dropped files (several shards at once are fine).
func (c *Root) Drop(e vugu.DOMEvent) {
	e.PreventDefault()
	c.Over = false
	c.addSources(c.Host.Files(e.JSEvent().Get("dataTransfer").Get("files")), e.EventEnv())
}

// Picked opens the files chosen with the file picker.
func (c *Root) Picked(e vugu.DOMEvent) {
	c.addSources(c.Host.Files(e.JSEventTarget().Get("files")), e.EventEnv())
}

// DemoClick loads the built-in demo checkpoint.
func (c *Root) DemoClick(e vugu.DOMEvent) {
	c.Busy, c.Err, c.Status = true, "", "Loading the demo checkpoint…"
	ee := e.EventEnv()
	go func() {
		src, err := c.Host.Demo()
		ee.Lock()
		defer ee.UnlockRender()
		c.Busy = false
		if err != nil {
			c.Err = CLIError(err)
			c.Status = "The demo could not be loaded."
			return
		}
		c.Sources = append(c.Sources, src)
		c.startInspect(len(c.Sources)-1, ee)
	}()
}

// addSources opens what was dropped: a TAESD decoder or caption
// embeddings among the files go to the preview (decoder.go, caption.go),
// the rest are checkpoints.
func (c *Root) addSources(srcs []*Source, ee vugu.EventEnv) {
	if len(srcs) == 0 {
		return
	}
	c.Busy, c.Err = true, ""
	go func() {
		var decs []*DecoderFile
		var caps []*CaptionFile
		var rest []*Source
		for _, s := range srcs {
			if d := probeDecoder(s); d != nil {
				decs = append(decs, d)
			} else if cf := probeCaption(s); cf != nil {
				caps = append(caps, cf)
			} else {
				rest = append(rest, s)
			}
		}
		ee.Lock()
		defer ee.UnlockRender()
		c.Busy = false
		for _, d := range decs {
			c.setDecoder(d, ee)
		}
		for _, cf := range caps {
			c.setCaption(cf, ee)
		}
		if len(rest) == 0 {
			return
		}
		first := len(c.Sources)
		c.Sources = append(c.Sources, rest...)
		if i := linkShards(rest, c.Sources); i >= 0 {
			first += i // a shard set opens through its index
		}
		c.startInspect(first, ee)
	}()
}

// Select shows the report of the i-th file.
func (c *Root) Select(i int, e vugu.DOMEvent) { c.startInspect(i, e.EventEnv()) }

// startInspect reads the metadata of source i on a goroutine (Blob reads
// must not run inside an event callback). Call with the env locked. A
// file that cannot be read leaves the report shown as it was and drops
// out of the file list.
func (c *Root) startInspect(i int, ee vugu.EventEnv) {
	src := c.Sources[i]
	c.gen++
	gen := c.gen
	c.Busy, c.Err = true, ""
	c.Status = "Reading " + src.Name + " …"
	go func() {
		start := time.Now()
		ck, err := openSource(src)
		var rep *report.Inspect
		var det *Detected
		var refused *scan.Report
		if err == nil {
			rep, det = report.BuildInspect(ck), Detect(ck)
		} else {
			refused = scanSource(src)
		}
		ee.Lock()
		defer ee.UnlockRender()
		if gen != c.gen {
			return
		}
		c.Busy = false
		if err != nil {
			c.Failed = &Failed{Name: src.Name, Err: CLIError(err), Scan: refused}
			c.Err = c.Failed.Err
			c.dropSource(src)
			c.Status = src.Name + " could not be read; nothing was changed."
			if c.Rep != nil {
				c.Status += " The report below is still " + c.Rep.File + "'s."
			} else {
				c.Status += " Drop another file."
			}
			return
		}
		c.Failed = nil
		c.Cur = c.indexOf(src)
		c.setReport(ck, rep, det)
		c.Status = fmt.Sprintf("%s: %s, read in %d ms.", src.Name, diff.Plural(rep.TensorCount, "tensor"), time.Since(start).Milliseconds())
	}()
}

// dropSource removes a file that could not be read from the file list.
func (c *Root) dropSource(src *Source) {
	i := c.indexOf(src)
	if i < 0 {
		return
	}
	cur := c.Sources[c.Cur]
	c.Sources = append(c.Sources[:i:i], c.Sources[i+1:]...)
	c.Cur = max(c.indexOf(cur), 0)
}

func (c *Root) indexOf(src *Source) int {
	for i, s := range c.Sources {
		if s == src {
			return i
		}
	}
	return -1
}

// openSource opens a checkpoint, turning a reader panic into an error so
// that a hostile file cannot take the page down.
func openSource(src *Source) (ck *loader.Checkpoint, err error) {
	defer func() {
		if p := recover(); p != nil {
			ck, err = nil, fmt.Errorf("%s: internal error while reading: %v", src.Name, p)
		}
	}()
	if src.Open != nil {
		return src.Open()
	}
	return loader.Open(src.R, src.Size, src.Name)
}

// scanSource runs ditkit scan on a file the reader refused (a plain
// pickle, a NumPy file, a broken checkpoint), so the page still says
// whether it would run code; nil when the scan cannot read it either.
func scanSource(src *Source) (rep *scan.Report) {
	defer func() {
		if recover() != nil {
			rep = nil
		}
	}()
	if src.R == nil {
		return nil
	}
	rep, _ = scan.Scan(src.R, src.Size, src.Name)
	return rep
}

func (c *Root) setReport(ck *loader.Checkpoint, rep *report.Inspect, det *Detected) {
	prevFamily := ""
	if c.Det != nil {
		prevFamily = c.Det.Family
	}
	c.ck, c.Rep, c.Det = ck, rep, det
	c.rows = tensorRows(rep)
	c.Limit = pageRows
	c.Saved, c.HasImage, c.StepText, c.Caption, c.img = "", false, "", "", nil
	if prevFamily != det.Family || !c.presetOfFamily(det.Family) {
		c.Preset = "" // the target follows the detection
	}
	if ck.Format == loader.FormatGGUF && c.Format != "gguf" {
		c.DType = "bf16" // ditkit convert's default for a GGUF input
	}
	c.resetPreview(prevFamily != det.Family)
	c.resetTarget()
}

// presetOfFamily reports whether the chosen preset is of family fam.
func (c *Root) presetOfFamily(fam string) bool {
	for _, p := range spec.Presets() {
		if p.Name == c.Preset {
			return p.Family == fam
		}
	}
	return false
}

// SetRoot switches the weights root (the state dict the report describes).
func (c *Root) SetRoot(e vugu.DOMEvent) {
	if c.ck == nil {
		return
	}
	if err := c.ck.SetWeightsRoot(e.PropString("target", "value")); err != nil {
		c.Err = CLIError(err)
		return
	}
	c.Err = ""
	c.setReport(c.ck, report.BuildInspect(c.ck), Detect(c.ck))
}

// Search filters the tensor table.
func (c *Root) Search(e vugu.DOMEvent) {
	c.Query = e.PropString("target", "value")
	c.Limit = pageRows
}

// More renders more rows of the tensor table.
func (c *Root) More(e vugu.DOMEvent) { c.Limit += 5 * pageRows }

func (c *Root) visibleRows() ([]TensorRow, int) { return filterRows(c.rows, c.Query, c.Limit) }

func (c *Root) tableSummary() string {
	rows, total := c.visibleRows()
	if c.Query == "" && total == len(rows) {
		return diff.Plural(total, "tensor")
	}
	return fmt.Sprintf("showing %d of %d matching tensors (%d in the file)", len(rows), total, len(c.rows))
}

func (c *Root) moreLeft() bool {
	rows, total := c.visibleRows()
	return len(rows) < total
}

// roots lists the weights root and its alternatives, for the root switch.
func (c *Root) roots() []string {
	seen := map[string]bool{c.Rep.WeightsRoot: true}
	out := []string{c.Rep.WeightsRoot}
	for _, a := range c.Rep.Alternatives {
		if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	return out
}

func (c *Root) dtypes() []string {
	var out []string
	for k, v := range c.Rep.BytesByDType {
		out = append(out, k+" "+HumanBytes(v))
	}
	sort.Strings(out)
	return out
}

// safety is the verdict the banner shows: the refused file's scan when the
// latest file failed, else the report's; nil when neither exists.
func (c *Root) safety() *report.Safety {
	switch {
	case c.Failed != nil:
		if s := c.Failed.Scan; s != nil {
			pr := s.PickleReport()
			return &report.Safety{Verdict: s.Verdict, Summary: s.Summary, Globals: pr.UniqueGlobals()}
		}
		return nil
	case c.Rep != nil:
		return &c.Rep.Safety
	}
	return nil
}

func (c *Root) danger() bool {
	s := c.safety()
	return s != nil && (s.Verdict == scan.VerdictDangerous || s.Verdict == scan.VerdictUnknown)
}

// scanVerdict is the line a refused file's harmless scan gets.
func (c *Root) scanVerdict() bool { return c.Failed != nil && c.Failed.Scan != nil && !c.danger() }

// verdictText is the verdict as `ditkit scan` prints it: "DANGEROUS — ...".
func (c *Root) verdictText() string { return safetyText(c.safety()) }

func safetyText(s *report.Safety) string {
	if s == nil {
		return ""
	}
	return strings.ToUpper(s.Verdict) + " — " + s.Summary
}

// dangerText is the red banner: which file, the verdict, then every
// global that is not on the allow-list.
func (c *Root) dangerText() string {
	s := c.safety()
	var names []string
	for _, g := range s.Globals {
		if g.Verdict != scan.VerdictSafe {
			names = append(names, fmt.Sprintf("%s (%s, %s at offset %d)", g.FullName(), g.Verdict, g.Opcode, g.Offset))
		}
	}
	text := c.verdictText() + "."
	if len(names) > 0 {
		text += " It names " + strings.Join(names, ", ") + "."
	}
	return text
}

// dangerFile names the file the banner is about.
func (c *Root) dangerFile() string {
	if c.Failed != nil {
		return c.Failed.Name
	}
	return c.Rep.File
}

func (c *Root) fileClass(i int) string {
	if i == c.Cur && c.Rep != nil {
		return "file current"
	}
	return "file"
}

func (c *Root) fileLabel(s *Source) string { return s.Name + " (" + HumanBytes(s.Size) + ")" }

func (c *Root) sizeText() string {
	return fmt.Sprintf("%s (%d bytes)", HumanBytes(c.Rep.Size), c.Rep.Size)
}

func (c *Root) paramsText() string {
	return fmt.Sprintf("%s in the file, %s in the weights root", humanCount(c.Rep.Params), humanCount(c.Rep.WeightParams))
}

func (c *Root) presetText() string {
	switch {
	case c.Det.Preset != "":
		return c.Det.Preset + " (exact match)"
	case c.Det.ClosestPreset != "":
		return "none exactly; closest: " + c.Det.ClosestPreset
	}
	return "none"
}

func (c *Root) rowsNow() []TensorRow { r, _ := c.visibleRows(); return r }

// FileVerdict is the one line that says what a file is: architecture
// (variant or preset), size, parameters, dtypes, bytes and safety.
func FileVerdict(rep *report.Inspect, det *Detected) string {
	var what string
	switch {
	case det == nil || det.Family == "":
		what = "not a recognised diffusion transformer"
		if det != nil && det.Version != "" {
			what += " (" + det.Version + ")"
		}
	default:
		what = spec.ArchName(det.Family)
		switch {
		case det.Preset != "":
			what += " " + det.Preset
		case det.Variant != "":
			what += " " + det.Variant
		}
		if det.Hidden > 0 {
			what += fmt.Sprintf(", hidden size %d", det.Hidden)
		}
		if det.Depth > 0 {
			what += ", " + diff.Plural(det.Depth, "block")
		}
	}
	var dts []string
	for k := range rep.BytesByDType {
		dts = append(dts, k)
	}
	sort.Strings(dts)
	format := rep.Format
	if rep.GGUF != nil {
		var ts []string
		for k := range rep.GGUF.BytesByType {
			ts = append(ts, k)
		}
		sort.Strings(ts)
		dts = ts // a GGUF's stored types say more than its dense ones
	}
	return fmt.Sprintf("%s · %s parameters in %s · %s %s · safety: %s", what, humanCount(rep.WeightParams),
		strings.Join(dts, ", "), HumanBytes(rep.Size), format, strings.ToUpper(rep.Safety.Verdict))
}

func (c *Root) fileVerdict() string { return FileVerdict(c.Rep, c.Det) }

func (c *Root) fileVerdictClass() string { return "file-verdict verdict-" + c.Rep.Safety.Verdict }
