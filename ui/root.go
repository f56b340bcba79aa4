package ui

import (
	"fmt"
	"image"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ditkit/ditkit/core/sample"
	"github.com/ditkit/ditkit/loader"
	"github.com/ditkit/ditkit/loader/report"
	"github.com/ditkit/ditkit/loader/scan"
	"github.com/vugu/vugu"
)

// pageRows is how many tensor rows are rendered at first; "show more" adds
// more. Filtering runs over every row, rendering only over these.
const pageRows = 200

// Root is the whole page below the header: drop zone, file list, report.
type Root struct {
	Host Host

	Status string
	Err    string // in-place error, worded like the CLI
	Busy   bool
	Over   bool // a drag is over the drop zone

	Sources []*Source
	Cur     int

	ck    *loader.Checkpoint
	Rep   *report.Inspect
	Scan  *scan.Report // the safety scan of a file the reader refused
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
	Groups    []FindingGroup
	Checked   map[string]bool // plan step id → selected

	// convert
	Format     string // "safetensors" or "pt"
	DType      string // keep, fp16, bf16, fp32
	Converting bool
	Done       int64
	Total      int64
	Rate       string
	Saved      string
	cancel     *atomic.Bool

	// preview
	Steps, Seed, Heads    int
	Class                 string // a class, or one per sample: "1,11"
	Sampler, Backend      string
	CFG                   float64
	Sampling, HasImage    bool
	StepsDone, StepsTotal int
	StepText, PreviewInfo string
	stopSample            func()
	detHeads              int // the detected (published or guessed) head count
	img                   *image.RGBA
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
	if c.Steps == 0 {
		c.Steps, c.Sampler, c.CFG, c.Class, c.Backend = 25, "ddim", 4, "207", "auto"
	}
}

func (c *Root) dropClass() string {
	if c.Over {
		return "drop over"
	}
	return "drop"
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

func (c *Root) addSources(srcs []*Source, ee vugu.EventEnv) {
	if len(srcs) == 0 {
		return
	}
	first := len(c.Sources)
	c.Sources = append(c.Sources, srcs...)
	if i := linkShards(srcs, c.Sources); i >= 0 {
		first += i // a shard set opens through its index
	}
	c.startInspect(first, ee)
}

// Select shows the report of the i-th file.
func (c *Root) Select(i int, e vugu.DOMEvent) { c.startInspect(i, e.EventEnv()) }

// startInspect reads the metadata of source i on a goroutine (Blob reads
// must not run inside an event callback). Call with the env locked.
func (c *Root) startInspect(i int, ee vugu.EventEnv) {
	src := c.Sources[i]
	c.gen++
	gen := c.gen
	c.Cur, c.Busy, c.Err = i, true, ""
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
		c.Scan = refused
		if err != nil {
			c.ck, c.Rep, c.Det, c.rows, c.Diff = nil, nil, nil, nil, nil
			c.Err = CLIError(err)
			c.Status = src.Name + " could not be read; nothing was changed. Drop another file."
			return
		}
		c.setReport(ck, rep, det)
		c.Status = fmt.Sprintf("%s: %d tensors, read in %d ms.", src.Name, rep.TensorCount, time.Since(start).Milliseconds())
	}()
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
	c.ck, c.Rep, c.Det = ck, rep, det
	c.rows = tensorRows(rep)
	c.Limit = pageRows
	c.Saved, c.Preset, c.HasImage, c.StepText, c.img = "", "", false, "", nil
	c.Heads = 0
	for _, p := range det.Params {
		if p.Name == "num_heads" {
			c.Heads = atoi(p.Value, 0)
		}
		if p.Name == "num_classes" {
			k := atoi(p.Value, 1000)
			if ls, err := sample.ParseLabels(c.Class); err != nil || len(ls) == 0 || slices.Max(ls) >= k {
				c.Class = "0"
			}
		}
	}
	c.detHeads = c.Heads
	c.resetTarget()
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
		return fmt.Sprintf("%d tensors", total)
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

// safety is the verdict of the file shown: the report's for a file the
// reader opened, the scan's for one it refused; nil when neither exists.
func (c *Root) safety() *report.Safety {
	switch {
	case c.Rep != nil:
		return &c.Rep.Safety
	case c.Scan != nil:
		pr := c.Scan.PickleReport()
		return &report.Safety{Verdict: c.Scan.Verdict, Summary: c.Scan.Summary, Globals: pr.UniqueGlobals()}
	}
	return nil
}

func (c *Root) danger() bool {
	s := c.safety()
	return s != nil && (s.Verdict == scan.VerdictDangerous || s.Verdict == scan.VerdictUnknown)
}

// verdictText is the verdict as `ditkit scan` prints it: "DANGEROUS — ...".
func (c *Root) verdictText() string {
	s := c.safety()
	if s == nil {
		return ""
	}
	return strings.ToUpper(s.Verdict) + " — " + s.Summary
}

// dangerText is the red banner: the verdict, then every global that is
// not on the allow-list.
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

func (c *Root) fileClass(i int) string {
	if i == c.Cur {
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
