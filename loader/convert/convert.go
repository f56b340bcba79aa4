// Package convert is ditkit's conversion engine: it plans a conversion
// (unwrap, the fix plan against a target, the dtype cast), streams the
// source's tensors through it into a .safetensors or .pt writer in one pass,
// hashes every written tensor on goroutines of its own (re-reading what is
// already on disk alongside) and verifies the output with ditkit's reader.
// The document it returns is report.Convert.
package convert

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"

	"github.com/ditkit/ditkit/core/diff"
	"github.com/ditkit/ditkit/core/fix"
	"github.com/ditkit/ditkit/core/quant"
	"github.com/ditkit/ditkit/core/tensor"
	"github.com/ditkit/ditkit/loader"
	"github.com/ditkit/ditkit/loader/report"
)

// pipelineBlock is the size of the blocks the conversion stream is cut
// into for hashing and writing: like loader.StreamChunk, small enough to
// stay in cache between the stages (tests make it smaller still).
var pipelineBlock = loader.StreamChunk

// Version is ditkit's version, recorded in converted files.
var Version = "0.1.0-dev"

// Options mirror `ditkit convert`'s flags.
type Options struct {
	Format         string       // "safetensors" or "pt"
	Fixes          []string     // "auto", "none" or step ids / ops
	DType          tensor.DType // Invalid keeps the stored dtypes
	KeepNonWeights bool         // also write tensors outside the weights root (full names)
	KeepUnexpected bool         // do not drop keys the target lacks
	KeepDType      []string     // tensors the cast leaves as stored ("fixed" = every fixed table of the target)
	Wrap           string       // .pt only: nest the state dict under this key
	Archive        string       // .pt only: zip root folder (default: output stem)
	OutputName     string       // output file name (for the archive root and messages)
	Progress       func(done, total int64)
	// SkipHashes leaves out the per-tensor sha256 (Written.SHA256 stays
	// empty). The browser sets it: Go's sha256 in wasm runs at ~18 MB/s,
	// and it does not re-read its own output to verify it.
	SkipHashes bool
	// ReadBack, when set, is the file w writes, from its start. Tensors
	// the writer has finished are re-read from it and hashed alongside the
	// bytes still being written (paired rounds cost less CPU than two
	// passes), so Verify has little left to read; it still re-opens
	// the file and checks that its reader finds every tensor at the range
	// that was re-read.
	ReadBack io.ReaderAt
	// ReadChunk is the size of the reads from the source (default
	// loader.StreamChunk). The browser reads larger pieces: its Blob
	// reader streams from 1 MiB reads up.
	ReadChunk int
	// Component, when set, writes only the bundled network under this
	// key prefix (e.g. "vae."), under its own names; no target applies.
	Component string
	// SplitComponents leaves the bundled networks (text encoders, VAE of
	// a single file) out of the output; the CLI writes each to a file of
	// its own.
	SplitComponents bool

	// GGUF output (Format "gguf", gguf.go) and fp8 (DType F8_E4M3 or
	// F8_E5M2; FP8Semantics also applies when scaled fp8 is cast).
	GGUF         GGUFOptions
	FP8Scaled    bool                 // fp8 output: ComfyUI's scaled_fp8 layout (else plain)
	FP8Semantics quant.ScaleSemantics // how scaled fp8 × scale rounds to bf16/fp16
	// Context cancels a GGUF write between pieces of tensor data (nil:
	// never); the other writers stop when w fails.
	Context context.Context
}

// FormatFor picks the output format from a file name's extension.
func FormatFor(name string) (string, error) {
	switch strings.ToLower(path.Ext(name)) {
	case ".safetensors":
		return "safetensors", nil
	case ".pt", ".pth", ".bin", ".ckpt":
		return "pt", nil
	case ".gguf":
		return "gguf", nil
	}
	return "", fmt.Errorf("%s: unknown output extension (use .safetensors, .gguf, .pt, .pth, .bin or .ckpt)", name)
}

// Run plans the conversion and writes the result to w in one streaming
// pass. With no target (req empty) only the dtype cast applies.
func Run(ck *loader.Checkpoint, req report.TargetRequest, opt Options, w io.Writer) (*report.Convert, error) {
	if opt.Format != "safetensors" && opt.Format != "pt" && opt.Format != "gguf" {
		return nil, fmt.Errorf("output format %q: want safetensors, gguf or pt", opt.Format)
	}
	out := &report.Convert{File: ck.Name, Output: opt.OutputName, Format: opt.Format, Wrap: opt.Wrap, WeightsRoot: ck.WeightsRoot, Safety: report.SafetyOf(ck)}
	out.GGUFRestored = report.RestoreGGUF(ck, req) // before anything reads shapes
	weights := ck.Weights()
	infos := ck.Infos()
	if len(infos) == 0 {
		return nil, fmt.Errorf("%s: no tensors under the weights root %q", ck.Name, ck.WeightsRoot)
	}
	// The dtype the plan casts to: fp8 and GGUF outputs have steps of
	// their own (quantize-fp8, the GGUF type policy).
	castTo := opt.DType
	fp8Out := opt.DType == tensor.F8_E4M3 || opt.DType == tensor.F8_E5M2
	if fp8Out || opt.Format == "gguf" {
		castTo = tensor.Invalid
	}
	if opt.Format == "gguf" && opt.DType != tensor.Invalid {
		return nil, fmt.Errorf("--dtype does not apply to a .gguf output: --quant chooses its types")
	}
	if opt.Format == "gguf" && (opt.KeepNonWeights || opt.Wrap != "") {
		return nil, fmt.Errorf("--keep-nonweights and --wrap do not apply to a .gguf output (it holds one flat state dict)")
	}
	pre, fp8, err := prepareFP8(ck, &infos, castTo, opt, out)
	if err != nil {
		return nil, err
	}
	var steps []*fix.Step
	var tg *diff.Target
	if opt.Component != "" {
		if req.Arch != "" || len(req.Spec) > 0 || req.ErrorText != "" || req.Layout != "" {
			return nil, fmt.Errorf("a bundled component (%s) is written as it is: no target applies", opt.Component)
		}
		virt, _ := fix.FromInfos(infos)
		steps = componentSteps(virt, opt.Component)
		if castTo != tensor.Invalid {
			steps = append(steps, fix.CastAllWith(castTo, keepSet(opt.KeepDType, nil), opt.FP8Semantics))
		}
		out.Verdict = noTargetVerdict(infos)
	} else if req.Arch != "" || len(req.Spec) > 0 || req.ErrorText != "" || req.Layout != "" {
		var err error
		if tg, err = req.Target(infos); err != nil {
			return nil, err
		}
		res, err := diff.Diff(infos, tg, diff.Options{DType: castTo, KeepUnexpected: opt.KeepUnexpected, KeepDType: keepSet(opt.KeepDType, tg)})
		if err != nil {
			return nil, err
		}
		if steps, err = res.Select(opt.Fixes); err != nil {
			return nil, err
		}
		out.Target = tg.Label
		out.Verdict = res.Verdict
		for _, s := range res.Plan {
			if !containsStep(steps, s) {
				out.Skipped = append(out.Skipped, s.ID)
			}
		}
	} else {
		if len(opt.Fixes) > 0 && opt.Fixes[0] != "auto" && opt.Fixes[0] != "none" {
			return nil, fmt.Errorf("--fix %s needs a target (--arch, --spec or --error-text)", strings.Join(opt.Fixes, ","))
		}
		if castTo != tensor.Invalid {
			steps = append(steps, fix.CastAllWith(castTo, keepSet(opt.KeepDType, nil), opt.FP8Semantics))
		}
		if opt.Format == "gguf" {
			// convert.py's strip_prefix (model.diffusion_model., model., net.)
			if more, err := ggufPrefixSteps(infos); err != nil {
				return nil, err
			} else {
				steps = append(more, steps...)
			}
		}
		out.Verdict = noTargetVerdict(infos)
	}
	if fp8Out {
		steps = append(steps, fix.QuantizeFP8(opt.DType, opt.FP8Scaled, keepSet(opt.KeepDType, tg)))
	}
	virt, err := fix.FromInfos(ck.Infos())
	if err != nil {
		return nil, err
	}
	if pre != nil {
		if virt, err = pre.Apply(virt); err != nil {
			return nil, err
		}
	}
	rr := loader.NewRangeReader(ck, weights)
	if opt.ReadChunk > 0 {
		rr.Chunk = opt.ReadChunk
	}
	if opt.SplitComponents && opt.Component == "" {
		if s := splitStep(virt, report.Components(ck)); s != nil {
			steps = append([]*fix.Step{s}, steps...)
		}
	}
	for _, s := range steps {
		if err := verifyEqual(virt, s, rr); err != nil {
			return nil, err
		}
		if virt, err = s.Apply(virt); err != nil {
			return nil, err
		}
	}
	// The dtype cast applies even when the target plan was narrowed by --fix.
	if castTo != tensor.Invalid && !hasOp(steps, "cast") {
		s := fix.CastAllWith(castTo, keepSet(opt.KeepDType, tg), opt.FP8Semantics)
		if virt, err = s.Apply(virt); err != nil {
			return nil, err
		}
		steps = append(steps, s)
	}
	if tg != nil {
		virt = targetOrder(virt, tg)
	}
	if pre != nil {
		steps = append([]*fix.Step{pre}, steps...)
	}
	if err := checkFP8Kept(fp8, pre, virt); err != nil {
		return nil, err
	}
	out.Applied = steps
	if ck.WeightsRoot != "" {
		out.Applied = append([]*fix.Step{fix.Unwrap(ck.WeightsRoot, ck.Alternatives)}, steps...)
	}
	if out.Applied == nil {
		out.Applied = []*fix.Step{}
	}
	if opt.Format == "gguf" {
		return runGGUF(ck, tg, opt, w, out, virt, rr)
	}
	// Without SkipHashes the stream goes through a pipeline that hashes
	// every tensor's bytes and writes on goroutines of its own.
	var pl *pipeline
	sink := w
	if !opt.SkipHashes {
		pl = newPipeline(w, opt.ReadBack, pipelineBlock, 4)
		sink = pl
		defer pl.Close() // after an error: drain the goroutines
	}
	var srcs []loader.Source
	marks := make([]int, 0, len(virt))
	for _, t := range virt {
		srcs = append(srcs, hashed(loader.FixSource(t, rr), &marks, pl))
	}
	if opt.KeepNonWeights && ck.WeightsRoot != "" {
		all := loader.NewRangeReader(ck, ck.Tensors)
		all.Chunk = rr.Chunk
		pre := ck.WeightsRoot + "/"
		for _, t := range ck.Tensors {
			if strings.HasPrefix(t.Name, pre) {
				continue
			}
			ft := fix.Tensor{Name: t.Name, DType: t.DType, Shape: t.Shape, Data: fix.Src{Name: t.Name, N: t.NBytes()}}
			if opt.DType != tensor.Invalid && t.DType.IsFloat() && t.DType != opt.DType {
				ft.Data, ft.DType = fix.Cast{In: ft.Data, From: t.DType, To: opt.DType}, opt.DType
			}
			virt = append(virt, ft)
			srcs = append(srcs, hashed(loader.FixSource(ft, all), &marks, pl))
		}
	}
	total := int64(0)
	for _, t := range virt {
		total += t.Data.Size()
	}
	cw := &progressWriter{w: sink, total: total, fn: opt.Progress}
	switch opt.Format {
	case "safetensors":
		out.Metadata = provenance(ck, out, steps)
		err = loader.WriteSafetensors(cw, srcs, out.Metadata)
	default:
		arch := opt.Archive
		if arch == "" {
			arch = archiveName(opt.OutputName)
		}
		err = loader.WriteTorch(cw, srcs, loader.TorchOptions{Archive: arch, Wrap: opt.Wrap})
	}
	if err := pl.finish(err); err != nil {
		return nil, err
	}
	out.Bytes = cw.n
	for i, t := range virt {
		w := report.Written{Name: t.Name, DType: t.DType.String(), Shape: t.Shape}
		pl.hashInto(&w, marks[i])
		out.Tensors = append(out.Tensors, w)
	}
	if tg != nil {
		rest := diff.Compare(fix.Infos(virt[:len(virt)-extraCount(virt, ck, opt)]), tg)
		clean := len(rest) == 0
		out.Clean = &clean
		out.Remaining = rest
	}
	return out, nil
}

// keepSet expands --keep-dtype names; "fixed" means the target's fixed
// tables (sin-cos position tables, rope.freqs).
func keepSet(names []string, tg *diff.Target) map[string]bool {
	if len(names) == 0 {
		return nil
	}
	m := map[string]bool{}
	for _, n := range names {
		if n == "fixed" && tg != nil {
			for _, e := range tg.Entries {
				if e.Fixed {
					m[e.Name] = true
				}
			}
			continue
		}
		m[n] = true
	}
	return m
}

// targetOrder puts tensors in the target's state_dict order (what
// torch.save(model.state_dict()) would write); others follow in their order.
func targetOrder(ts []fix.Tensor, tg *diff.Target) []fix.Tensor {
	pos := map[string]int{}
	for i, e := range tg.Entries {
		pos[e.Name] = i
	}
	out := append([]fix.Tensor(nil), ts...)
	sort.SliceStable(out, func(i, j int) bool {
		pi, oi := pos[out[i].Name]
		pj, oj := pos[out[j].Name]
		switch {
		case oi && oj:
			return pi < pj
		case oi != oj:
			return oi
		}
		return false
	})
	return out
}

// verifyEqual checks, before a step that keeps one of several copies, that
// the copies really are byte-equal (diffusers fine-tuning can make them
// diverge; dropping a different copy would lose data silently).
func verifyEqual(virt []fix.Tensor, s *fix.Step, r fix.SourceReader) error {
	for _, group := range s.Equal {
		var first []byte
		for _, name := range group {
			var t *fix.Tensor
			for i := range virt {
				if virt[i].Name == name {
					t = &virt[i]
				}
			}
			if t == nil {
				return fmt.Errorf("fix %s: no tensor %q to verify", s.ID, name)
			}
			h := sha256.New()
			if err := t.Data.Stream(r, h); err != nil {
				return err
			}
			sum := h.Sum(nil)
			if first == nil {
				first = sum
			} else if !bytes.Equal(first, sum) {
				return fmt.Errorf("fix %s: %s differs from %s: the per-block copies diverged (fine-tuned in diffusers?), so keeping one would lose the others; leave this fix out with --fix or convert with --keep-unexpected", s.ID, name, group[0])
			}
		}
	}
	return nil
}

func extraCount(virt []fix.Tensor, ck *loader.Checkpoint, opt Options) int {
	if !opt.KeepNonWeights || ck.WeightsRoot == "" {
		return 0
	}
	return len(ck.Tensors) - len(ck.Weights())
}

func containsStep(ss []*fix.Step, s *fix.Step) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func hasOp(ss []*fix.Step, op string) bool {
	for _, s := range ss {
		if s.Op == op {
			return true
		}
	}
	return false
}

// hashed registers a source's bytes with the pipeline as they start, so
// the pipeline hashes exactly them (no pipeline: no hash).
func hashed(s loader.Source, marks *[]int, pl *pipeline) loader.Source {
	i := len(*marks)
	*marks = append(*marks, -1)
	if pl == nil {
		return s
	}
	inner := s.WriteTo
	s.WriteTo = func(w io.Writer) error {
		n, err := s.NBytes()
		if err != nil {
			return err
		}
		(*marks)[i] = pl.mark(n)
		return inner(w)
	}
	return s
}

func provenance(ck *loader.Checkpoint, c *report.Convert, steps []*fix.Step) map[string]string {
	ids := make([]string, len(steps))
	for i, s := range steps {
		ids[i] = s.ID
	}
	md := map[string]string{
		"format":                      "pt",
		"ditkit_version":              Version,
		"ditkit_source":               path.Base(strings.ReplaceAll(ck.Name, "\\", "/")),
		"ditkit_source_header_sha256": ck.HeaderSHA256,
		"ditkit_source_format":        ck.Format,
		"ditkit_fixes":                strings.Join(ids, ","),
	}
	if ck.WeightsRoot != "" {
		md["ditkit_weights_root"] = ck.WeightsRoot
	}
	if c.Target != "" {
		md["ditkit_target"] = c.Target
	}
	// keep the source's own metadata unless it collides
	keys := make([]string, 0, len(ck.Metadata))
	for k := range ck.Metadata {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if _, ok := md[k]; !ok {
			md[k] = ck.Metadata[k]
		}
	}
	return md
}

func archiveName(out string) string {
	base := path.Base(strings.ReplaceAll(out, "\\", "/"))
	if i := strings.LastIndexByte(base, '.'); i > 0 {
		base = base[:i]
	}
	clean := strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r < ' ' {
			return '_'
		}
		return r
	}, base)
	if clean == "" || clean == "." || clean == ".." {
		return "archive"
	}
	return clean
}

type progressWriter struct {
	w     io.Writer
	n     int64
	total int64
	fn    func(done, total int64)
	last  int64
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.n += int64(n)
	if p.fn != nil && (p.n-p.last >= 8<<20 || p.n >= p.total) {
		p.last = p.n
		p.fn(p.n, p.total)
	}
	return n, err
}
