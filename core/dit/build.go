package dit

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/ditkit/ditkit/core/dit/kernels"
	"github.com/ditkit/ditkit/core/fix"
	"github.com/ditkit/ditkit/core/quant"
	"github.com/ditkit/ditkit/core/spec"
	"github.com/ditkit/ditkit/core/tensor"
)

// BuildOptions control how Build loads the weights.
type BuildOptions struct {
	// Precision BF16 converts F32/F16 Linear weights to bf16 once at load:
	// what kernels.CPU at Precision BF16 multiplies (F32: kept as stored).
	Precision kernels.Precision
	// Shard, when set, keeps only that shard's rows of every Linear weight
	// (sharded execution, see Sharded); each tensor is read whole and cut,
	// one at a time.
	Shard *Shard
	// Skeleton reads no Linear weight at all (their shapes come from the
	// source's Infos): a coordinator's model, whose forward passes run on
	// the shards (it keeps the tables and biases).
	Skeleton bool
}

// builders are the runnable families: spec family id → constructor.
var builders = map[string]func(s *spec.Spec, r *reader) (Net, error){
	"dit":          buildDiT,
	"stdit":        buildSTDiT,
	"stdit3":       buildSTDiT3,
	"stdit3-v4":    buildSTDiT3,
	"pixart-alpha": buildPixArt,
	"pixart-sigma": buildPixArt,
	"latte":        buildLatte,
}

// Runnable reports whether Build can run a family.
func Runnable(family string) bool { return builders[family] != nil }

// RunnableFamilies lists the families Build can run, sorted.
func RunnableFamilies() []string {
	out := make([]string, 0, len(builders))
	for f := range builders {
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}

// ErrNotRunnable is returned by Load and Build for families they cannot
// run (errors.Is; the error's text is WhyNotRunnable's line).
var ErrNotRunnable = errors.New("cannot run this family yet")

// notRunnable is ErrNotRunnable with its one line of why.
type notRunnable struct{ why string }

func (e *notRunnable) Error() string        { return e.why }
func (e *notRunnable) Is(target error) bool { return target == ErrNotRunnable }

// WhyNotRunnable is the one line that says why a checkpoint of family
// cannot be run here ("" when it can): its conditioning is text-encoder
// output that neither the file (no null caption, no class table: infos)
// nor caption embeddings given beside it (captions) hold — every family
// ditkit does not run is text-conditioned —, or ditkit does not run the
// family yet. The CLI, the page and window.ditkit say it.
func WhyNotRunnable(infos []tensor.Info, family string, captions bool) string {
	arch := spec.ArchName(family)
	if !captions && !holdsConditioning(infos) && (!Runnable(family) || projectsCaptions(infos)) {
		return fmt.Sprintf("%s is conditioned on text-encoder embeddings (T5, CLIP …) that the file does not hold, and ditkit has no text encoder: it cannot be previewed from the file alone", arch)
	}
	if !Runnable(family) {
		var runs []string
		for _, f := range RunnableFamilies() {
			runs = append(runs, spec.ArchName(f))
		}
		return fmt.Sprintf("ditkit cannot run %s yet (it runs %s)", arch, strings.Join(runs, ", "))
	}
	return ""
}

// projectsCaptions reports whether the model takes text-encoder output:
// it has a caption projection (PixArt's and Open-Sora's y_proj, Latte's
// text_embedding_projection, diffusers' caption_projection). An
// unconditional model (Latte extras 1) has none and needs nothing.
func projectsCaptions(infos []tensor.Info) bool {
	for _, in := range infos {
		for _, p := range []string{"y_embedder.y_proj.", "text_embedding_projection.", "caption_projection."} {
			if strings.Contains(in.Name, p) {
				return true
			}
		}
	}
	return false
}

// holdsConditioning reports whether the tensors carry what a sampler
// conditions on without a text encoder: a class-label table or a null
// caption (y_embedding, PixArt's and Open-Sora's).
func holdsConditioning(infos []tensor.Info) bool {
	for _, in := range infos {
		if strings.HasSuffix(in.Name, "y_embedder.embedding_table.weight") || strings.HasSuffix(in.Name, "y_embedding") {
			return true
		}
	}
	return false
}

// Policy is how Load settles what a checkpoint's shapes do not decide.
type Policy struct {
	// Strict refuses guesses (spec.Resolution.Require): the CLI and
	// window.ditkit. Otherwise guesses run and the caller shows them
	// (spec.Resolution.Guesses): the page.
	Strict bool
	// Flags names the option that settles a parameter ("num_heads" →
	// "--heads"); Fallback how to settle the others (naming the
	// architecture).
	Flags    map[string]string
	Fallback string
	// Captions says caption embeddings come with the run (an inputs
	// file's y, --caption, a caption file dropped beside the checkpoint):
	// a text-conditioned family then needs no null caption in the file.
	Captions bool
}

// Load is what every consumer calls: it resolves the checkpoint's
// architecture (the named target, else detection plus req.Set), applies
// the policy and builds the model.
func Load(src tensor.Source, req spec.Request, pol Policy, opt BuildOptions) (Net, *spec.Resolution, error) {
	r, err := spec.Resolve(src.Infos(), req)
	if err != nil {
		return nil, nil, err
	}
	if why := WhyNotRunnable(src.Infos(), r.Spec.Family, pol.Captions); why != "" {
		return nil, r, &notRunnable{why}
	}
	if pol.Strict {
		if err := r.Require(pol.Flags, pol.Fallback); err != nil {
			return nil, r, err
		}
	}
	n, err := Build(src, r, opt)
	return n, r, err
}

// Build is the one loader: it turns a checkpoint's tensors (src) and its
// resolved architecture (spec.Resolve) into a runnable model. Tensor names
// are read as r.Prefix + the spec's names; shapes are checked against the
// spec; fixed tables the checkpoint lacks (sin-cos position embeddings)
// are computed with core/fix's formula, the table a conversion writes.
func Build(src tensor.Source, r *spec.Resolution, opt BuildOptions) (Net, error) {
	if r == nil || r.Spec == nil {
		return nil, fmt.Errorf("dit: no architecture to build")
	}
	b := builders[r.Spec.Family]
	if b == nil {
		return nil, &notRunnable{WhyNotRunnable(nil, r.Spec.Family, true)}
	}
	rd := &reader{src: src, prefix: r.Prefix, spec: r.Spec, skeleton: opt.Skeleton}
	rd.stored, _ = src.(quant.StoredSource)
	if opt.Shard != nil {
		if !opt.Shard.Valid() {
			return nil, fmt.Errorf("dit: shard %d of %d", opt.Shard.Index, opt.Shard.Count)
		}
		rd.shard = opt.Shard
	}
	if opt.Skeleton {
		rd.infos = map[string]tensor.Info{}
		for _, in := range src.Infos() {
			rd.infos[in.Name] = in
		}
	}
	n, err := b(r.Spec, rd)
	if err != nil {
		return nil, err
	}
	if opt.Precision == kernels.BF16 {
		n.(interface{ ConvertWeights(tensor.DType) }).ConvertWeights(tensor.BF16)
	}
	return n, nil
}

// reader reads a family's tensors from a Source, checking shapes; the
// first error sticks (constructors read everything, then check err).
type reader struct {
	src      tensor.Source
	prefix   string
	spec     *spec.Spec
	err      error
	shard    *Shard                 // BuildOptions.Shard
	skeleton bool                   // BuildOptions.Skeleton
	infos    map[string]tensor.Info // the source's, for a skeleton
	// stored is the source when it keeps quantized tensors as stored:
	// matrices are then read in that form and stay quantized.
	stored quant.StoredSource
}

func (r *reader) read(name string) *tensor.Dense {
	if r.err != nil {
		return nil
	}
	d, err := r.src.Read(r.prefix + name)
	if err != nil {
		r.err = err
		return nil
	}
	return d
}

// linear reads the weight of a LinearOp, name.weight (any rank, as [rows,
// cols]), and the optional name.bias into l: a shard's rows only under
// BuildOptions.Shard, no values under Skeleton. Matrices read any other
// way (embedding tables) use matrix.
func (r *reader) linear(l *Linear, name string, rows, cols int) {
	if r.skeleton && r.err == nil {
		in, ok := r.infos[r.prefix+name+".weight"]
		n := 1
		for _, d := range in.Shape[min(1, len(in.Shape)):] {
			n *= d
		}
		switch {
		case !ok:
			r.err = fmt.Errorf("%s: missing %s.weight", r.spec.Family, r.prefix+name)
		case len(in.Shape) == 0 || in.Shape[0] != rows || n != cols:
			r.err = fmt.Errorf("%s: %s.weight has shape %v, want [%d, %d]", r.spec.Family, r.prefix+name, in.Shape, rows, cols)
		default:
			dt := in.DType
			if dt != tensor.BF16 && dt != tensor.F16 {
				dt = tensor.F32
			}
			// An empty shard: the shapes and dtype, no rows.
			l.W = &kernels.Weight{DType: dt, Rows: rows, Cols: cols, Lo: rows, Hi: rows}
			r.bias(l, name, rows)
		}
		return
	}
	r.matrix(l, name, rows, cols)
	if r.shard != nil && l.W != nil && r.err == nil {
		// (a quantized shard whose rows do not start and end on whole
		// blocks holds them dequantized: kernels.Weight.Shard)
		l.W = l.W.Shard(r.shard.Rows(rows))
	}
}

// matrix reads name.weight whole (an embedding table, or a LinearOp's
// weight before linear cuts it) and the optional name.bias into l: in its
// stored form when it is quantized (GGUF blocks, fp8 with its scale) and
// the source keeps that form, else as dense values.
func (r *reader) matrix(l *Linear, name string, rows, cols int) {
	w, shape := r.quantized(name + ".weight")
	if w == nil && r.err == nil {
		d := r.read(name + ".weight")
		if d == nil {
			if r.err == nil {
				r.err = fmt.Errorf("%s: missing %s.weight", r.spec.Family, r.prefix+name)
			}
			return
		}
		var err error
		if w, err = kernels.NewWeight(d); err != nil {
			r.err = fmt.Errorf("%s: %s.weight: %w", r.spec.Family, r.prefix+name, err)
			return
		}
		shape = d.Shape
	}
	if r.err != nil {
		return
	}
	if w.Rows != rows || w.Cols != cols {
		r.err = fmt.Errorf("%s: %s.weight has shape %v, want [%d, %d]", r.spec.Family, r.prefix+name, shape, rows, cols)
		return
	}
	l.W = w
	r.bias(l, name, rows)
}

// quantized reads name in its stored quantized form, or returns nil when
// the source has no such form for it.
func (r *reader) quantized(name string) (*kernels.Weight, []int) {
	if r.stored == nil || r.err != nil {
		return nil, nil
	}
	s, err := r.stored.ReadStored(r.prefix + name)
	if err != nil || s == nil {
		r.err = err
		return nil, nil
	}
	w, err := kernels.NewStoredWeight(s)
	if err != nil {
		r.err = fmt.Errorf("%s: %s (%s): %w", r.spec.Family, r.prefix+name, s.Format(), err)
		return nil, nil
	}
	return w, s.Shape
}

func (r *reader) bias(l *Linear, name string, rows int) {
	if b := r.read(name + ".bias"); b != nil {
		if b.Numel() != rows {
			r.err = fmt.Errorf("%s: %s.bias has shape %v, want [%d]", r.spec.Family, r.prefix+name, b.Shape, rows)
			return
		}
		l.B, r.err = b.Float32s()
	}
}

// timestepEmbedder reads a TimestepEmbedder / SizeEmbedder's mlp (name.mlp.0
// [h, 256], name.mlp.2 [h, h]) into l1, l2.
func (r *reader) timestepEmbedder(l1, l2 *Linear, name string, h int) {
	r.linear(l1, name+".mlp.0", h, TimestepFreqs)
	r.linear(l2, name+".mlp.2", h, h)
}

// vec reads a tensor of n values as float32; absent tensors are an error
// unless optional, when they come back nil.
func (r *reader) vec(name string, n int, optional bool) []float32 {
	d := r.read(name)
	if r.err != nil || d == nil {
		if r.err == nil && !optional {
			r.err = fmt.Errorf("%s: missing %s", r.spec.Family, r.prefix+name)
		}
		return nil
	}
	if d.Numel() != n {
		r.err = fmt.Errorf("%s: %s has shape %v, want %d values", r.spec.Family, r.prefix+name, d.Shape, n)
		return nil
	}
	v, err := d.Float32s()
	r.err = err
	return v
}

// table reads a fixed table (spec.Entry.Fixed) or, when the checkpoint
// lacks it, computes the spec's own value (core/fix.Table).
func (r *reader) table(name string, n int) []float32 {
	if v := r.vec(name, n, true); v != nil || r.err != nil {
		return v
	}
	v, _, _, err := fix.Table(r.spec, name)
	if err != nil {
		r.err = fmt.Errorf("%s: missing %s: %w", r.spec.Family, r.prefix+name, err)
		return nil
	}
	if len(v) != n {
		r.err = fmt.Errorf("%s: %s: the formula gives %d values, want %d", r.spec.Family, name, len(v), n)
	}
	return v
}

// RandomWeights is a Source of random weights with the exact names and
// shapes of spec s (benchmarks, tests): matrices stored as dt, vectors as
// F32, values uniform in ±0.02 from a fixed generator (seed). Fixed tables
// are absent, so Build computes them.
func RandomWeights(s *spec.Spec, dt tensor.DType, seed uint64) (tensor.Source, error) {
	es, err := s.Keys()
	if err != nil {
		return nil, err
	}
	return &randomSource{es: es, dt: dt, seed: seed}, nil
}

type randomSource struct {
	es   []spec.Entry
	dt   tensor.DType
	seed uint64
}

func (r *randomSource) Infos() []tensor.Info {
	var out []tensor.Info
	for _, e := range r.es {
		if !e.Fixed {
			out = append(out, tensor.Info{Name: e.Name, DType: r.dtype(e), Shape: e.Shape})
		}
	}
	return out
}

func (r *randomSource) dtype(e spec.Entry) tensor.DType {
	if len(e.Shape) < 2 {
		return tensor.F32
	}
	return r.dt
}

func (r *randomSource) Read(name string) (*tensor.Dense, error) {
	for i, e := range r.es {
		if e.Name != name || e.Fixed {
			continue
		}
		v := make([]float32, e.Numel())
		s := (r.seed+uint64(i))*0x9E3779B97F4A7C15 + 1
		for k := range v {
			s ^= s << 13
			s ^= s >> 7
			s ^= s << 17
			v[k] = (float32(s>>40)/float32(1<<24)*2 - 1) * 0.02
		}
		d, err := tensor.NewDense(r.dtype(e), e.Shape...)
		if err != nil {
			return nil, err
		}
		return d, tensor.EncodeFloat32(d.DType, v, d.Data)
	}
	return nil, nil
}
