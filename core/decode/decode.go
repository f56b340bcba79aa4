// Package decode runs TAESD-family image decoders on diffusion latents:
// madebyollin/taesd's Decoder(latent_channels) — 4 latent channels for
// SD-VAE latents (taesd_decoder, taesdxl_decoder), 16 for Flux/SD3
// (taef1_decoder, taesd3_decoder) — from the weights the user provides.
//
// The network (taesd.py's nn.Sequential, whose indices name the weights):
//
//	0 Clamp: 3·tanh(x/3)            1 conv(C, 64) 2 ReLU
//	3-5 Block ×3                    6 Upsample ×2 (nearest) 7 conv(64, 64, no bias)
//	8-10 Block ×3                   11 Upsample 12 conv (no bias)
//	13-15 Block ×3                  16 Upsample 17 conv (no bias)
//	18 Block                        19 conv(64, 3)
//
// with Block(x) = ReLU(conv.4(ReLU(conv.2(ReLU(conv.0(x))))) + x); every
// conv is 3×3 with zero padding 1. The raw output is the image around
// [0, 1]; taesd.py clamps it to [0, 1] (Clamp01).
//
// The decoder runs stage by stage (the stages are split at the upsamples)
// over bands of rows with the halo each stage needs, so a large latent
// never holds a full-resolution 64-channel activation: only the stage
// outputs are whole. The kernels sit behind Backend (CPU here, WebGPU in
// the browser build).
package decode

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"

	"github.com/ditkit/ditkit/core/tensor"
)

// Getter returns the tensor of a decoder weights file by name, or nil
// (and no error) when there is none.
type Getter func(name string) (*tensor.Dense, error)

// Scale is the decoder's upscale factor (three ×2 upsamples).
const Scale = 8

// width is the channel count inside the decoder.
const width = 64

// Conv is one 3×3 convolution (stride 1, zero padding 1).
type Conv struct {
	Name      string    // weight key prefix, e.g. "3.conv.0"
	Cin, Cout int       // channels
	W         []float32 // [Cout, Cin, 3, 3]
	B         []float32 // [Cout], or nil (no bias)

	winoOnce sync.Once // the CPU's Winograd-domain weights, made on first use
	winoW    *wino
}

type opKind int

const (
	opConv  opKind = iota // conv (+ReLU)
	opBlock               // Block: three convs and the skip
	opUp                  // nearest upsample ×2
)

type op struct {
	kind  opKind
	conv  *Conv    // opConv
	relu  bool     // opConv
	block [3]*Conv // opBlock
}

// Decoder is a loaded TAESD decoder.
type Decoder struct {
	// LatentChannels is the channel count the decoder takes (1.weight's
	// second dimension): 4 for taesd/taesdxl, 16 for taef1/taesd3.
	LatentChannels int
	stages         [][]op // split before each upsample
}

// Load builds a decoder from madebyollin/taesd's Decoder state dict
// (keys "1.weight", "3.conv.0.weight", …, "19.bias"), taking the latent
// channel count from 1.weight's shape. A full TAESD state dict (keys
// "decoder.1.weight", …) works too. Every bad or missing weight is an
// error naming the key.
func Load(get Getter) (*Decoder, error) {
	pre := ""
	first, err := get("1.weight")
	if err != nil {
		return nil, err
	}
	if first == nil {
		if first, err = get("decoder.1.weight"); err != nil {
			return nil, err
		}
		pre = "decoder."
	}
	if first == nil {
		if d, _ := get("decoder.layers.0.weight"); d != nil {
			return nil, fmt.Errorf("diffusers AutoencoderTiny layout (decoder.layers.*) is not supported: use madebyollin/taesd's taesd_decoder / taef1_decoder file")
		}
		if d, _ := get("0.weight"); d != nil {
			return nil, fmt.Errorf("not a TAESD decoder: 0.weight exists (an encoder?) but 1.weight does not")
		}
		return nil, fmt.Errorf("not a TAESD decoder: no tensor 1.weight (want madebyollin/taesd's taesd_decoder / taef1_decoder state dict)")
	}
	if len(first.Shape) != 4 || first.Shape[0] != width || first.Shape[1] < 1 || first.Shape[2] != 3 || first.Shape[3] != 3 {
		return nil, fmt.Errorf("not a TAESD decoder: %s1.weight has shape %s, want [64, C, 3, 3]", pre, tensor.FormatShape(first.Shape))
	}
	if p, _ := get(pre + "3.pool.0.weight"); p != nil {
		return nil, fmt.Errorf("%s3.pool.0.weight: TAESD's FLUX.2 variant (mid-block GroupNorm) is not supported", pre)
	}
	d := &Decoder{LatentChannels: first.Shape[1]}
	conv := func(idx string, cin, cout int, bias bool) (*Conv, error) {
		c := &Conv{Name: pre + idx, Cin: cin, Cout: cout}
		if c.W, err = load(get, c.Name+".weight", []int{cout, cin, 3, 3}); err != nil {
			return nil, err
		}
		if bias {
			if c.B, err = load(get, c.Name+".bias", []int{cout}); err != nil {
				return nil, err
			}
		} else if b, _ := get(c.Name + ".bias"); b != nil {
			return nil, fmt.Errorf("%s.bias: taesd.py's conv %s has no bias", c.Name, idx)
		}
		return c, nil
	}
	block := func(i int) (op, error) {
		o := op{kind: opBlock}
		for k := range 3 {
			c, err := conv(fmt.Sprintf("%d.conv.%d", i, 2*k), width, width, true)
			if err != nil {
				return o, err
			}
			o.block[k] = c
		}
		if s, _ := get(fmt.Sprintf("%s%d.skip.weight", pre, i)); s != nil {
			return o, fmt.Errorf("%s%d.skip.weight: a Block with a 1×1 skip is not part of taesd.py's Decoder", pre, i)
		}
		return o, nil
	}
	var stage []op
	add := func(o op, err error) error {
		if err != nil {
			return err
		}
		if o.kind == opUp && len(stage) > 0 {
			d.stages = append(d.stages, stage)
			stage = nil
		}
		stage = append(stage, o)
		return nil
	}
	convOp := func(idx string, cin, cout int, bias, relu bool) (op, error) {
		c, err := conv(idx, cin, cout, bias)
		return op{kind: opConv, conv: c, relu: relu}, err
	}
	if err := add(convOp("1", d.LatentChannels, width, true, true)); err != nil {
		return nil, err
	}
	i := 3
	for s, n := range []int{3, 3, 3, 1} {
		for range n {
			if err := add(block(i)); err != nil {
				return nil, err
			}
			i++
		}
		if s == 3 {
			break
		}
		if err := add(op{kind: opUp}, nil); err != nil {
			return nil, err
		}
		if err := add(convOp(fmt.Sprint(i+1), width, width, false, false)); err != nil {
			return nil, err
		}
		i += 2
	}
	if err := add(convOp("19", width, 3, true, false)); err != nil {
		return nil, err
	}
	d.stages = append(d.stages, stage)
	if extra, _ := get(pre + "20.weight"); extra != nil {
		return nil, fmt.Errorf("%s20.weight: more layers than taesd.py's Decoder has", pre)
	}
	return d, nil
}

func load(get Getter, name string, shape []int) ([]float32, error) {
	t, err := get(name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if t == nil {
		return nil, fmt.Errorf("not a complete TAESD decoder: no tensor %s", name)
	}
	if !tensor.EqualShape(t.Shape, shape) {
		return nil, fmt.Errorf("%s has shape %s, want %s", name, tensor.FormatShape(t.Shape), tensor.FormatShape(shape))
	}
	if !t.DType.IsFloat() {
		return nil, fmt.Errorf("%s has dtype %v, want a float type", name, t.DType)
	}
	v, err := t.Float32s()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	for i, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return nil, fmt.Errorf("%s: element %d is %v", name, i, x)
		}
	}
	return v, nil
}

// Options configure a decode.
type Options struct {
	// Backend runs the kernels (default: a CPU with Threads and Yield).
	Backend Backend
	// Threads for the default CPU backend (0 = GOMAXPROCS).
	Threads int
	// Yield, when set, is called between kernel chunks of the default
	// CPU backend when it runs single-threaded (a browser page stays
	// responsive).
	Yield func()
	// BandBytes caps one band activation (default 32 MiB): stages whose
	// 64-channel activation is larger run in bands of rows.
	BandBytes int
}

func (o *Options) backend() Backend {
	if o != nil && o.Backend != nil {
		return o.Backend
	}
	c := &CPU{}
	if o != nil {
		c.Threads, c.Yield = o.Threads, o.Yield
	}
	return c
}

func (o *Options) bandBytes() int {
	if o != nil && o.BandBytes > 0 {
		return o.BandBytes
	}
	return 32 << 20
}

// OutShape is the shape Decode returns for a latent shape: [N, 3, 8H, 8W]
// for [N, C, H, W], [N, 3, T, 8H, 8W] for a video latent [N, C, T, H, W].
// It checks the shape against the decoder.
func (d *Decoder) OutShape(shape []int) ([]int, error) {
	if len(shape) != 4 && len(shape) != 5 {
		return nil, fmt.Errorf("latent has shape %s; want [N, %d, H, W] or a video latent [N, %d, T, H, W]", tensor.FormatShape(shape), d.LatentChannels, d.LatentChannels)
	}
	for _, s := range shape {
		if s <= 0 {
			return nil, fmt.Errorf("latent has shape %s: an empty dimension", tensor.FormatShape(shape))
		}
	}
	if shape[1] != d.LatentChannels {
		return nil, fmt.Errorf("latent has %d channels (shape %s) but the decoder takes %d", shape[1], tensor.FormatShape(shape), d.LatentChannels)
	}
	h, w := shape[len(shape)-2], shape[len(shape)-1]
	if int64(h)*Scale*int64(w)*Scale > 1<<28 || h > 1<<15 || w > 1<<15 {
		return nil, fmt.Errorf("latent %s: a %d×%d image is too large to decode", tensor.FormatShape(shape), w*Scale, h*Scale)
	}
	out := append([]int{}, shape...)
	out[1] = 3
	out[len(out)-2] *= Scale
	out[len(out)-1] *= Scale
	return out, nil
}

// Decode runs the decoder on a latent [N, C, H, W] (or a video latent
// [N, C, T, H, W], decoded frame by frame) and returns the raw output
// [N, 3, 8H, 8W] (or [N, 3, T, 8H, 8W]) and its shape. Clamp01 gives the
// image taesd.py saves.
func (d *Decoder) Decode(ctx context.Context, latent []float32, shape []int, opt *Options) ([]float32, []int, error) {
	outShape, err := d.OutShape(shape)
	if err != nil {
		return nil, nil, err
	}
	n, c, t := shape[0], shape[1], 1
	if len(shape) == 5 {
		t = shape[2]
	}
	h, w := shape[len(shape)-2], shape[len(shape)-1]
	plane := h * w
	if len(latent) != n*c*t*plane {
		return nil, nil, fmt.Errorf("latent of shape %s needs %d values, got %d", tensor.FormatShape(shape), n*c*t*plane, len(latent))
	}
	be := opt.backend()
	H, W := h*Scale, w*Scale
	out := make([]float32, n*3*t*H*W)
	frame := make([]float32, c*plane)
	img := make([]float32, 3*H*W)
	for b := range n {
		for f := range t {
			for ch := range c {
				src := ((b*c+ch)*t + f) * plane
				copy(frame[ch*plane:(ch+1)*plane], latent[src:src+plane])
			}
			if err := d.decodeOne(ctx, be, frame, h, w, img, opt.bandBytes()); err != nil {
				return nil, nil, err
			}
			for ch := range 3 {
				dst := ((b*3+ch)*t + f) * H * W
				copy(out[dst:dst+H*W], img[ch*H*W:(ch+1)*H*W])
			}
		}
	}
	return out, outShape, nil
}

// Clamp01 returns raw clamped to [0, 1] (taesd.py's image; NaN → 0).
func Clamp01(raw []float32) []float32 {
	out := make([]float32, len(raw))
	for i, v := range raw {
		switch {
		case v >= 1:
			out[i] = 1
		case v > 0:
			out[i] = v
		}
	}
	return out
}

// decodeOne decodes one latent [C, h, w] into dst [3, 8h, 8w].
func (d *Decoder) decodeOne(ctx context.Context, be Backend, lat []float32, h, w int, dst []float32, bandBytes int) error {
	x, err := be.Upload(lat)
	if err != nil {
		return err
	}
	if err := be.TanhClamp(x, len(lat)); err != nil {
		be.Free(x)
		return err
	}
	cur := Band{Buf: x, C: d.LatentChannels, W: w, Rows: h, Hi: h}
	for _, st := range d.stages {
		next, err := d.runStage(ctx, be, st, cur, bandBytes)
		be.Free(cur.Buf)
		if err != nil {
			return err
		}
		cur = next
		if f, ok := be.(Flusher); ok {
			if err := f.Flush(); err != nil {
				be.Free(cur.Buf)
				return err
			}
		}
	}
	defer be.Free(cur.Buf)
	return be.Read(cur.Buf, dst)
}

// stageOut is the output size of a stage given its input height/width.
func stageOut(st []op, h, w int) (oh, ow, oc int) {
	oh, ow, oc = h, w, 0
	for _, o := range st {
		switch o.kind {
		case opUp:
			oh, ow = 2*oh, 2*ow
		case opConv:
			oc = o.conv.Cout
		case opBlock:
			oc = width
		}
	}
	return
}

// need is the rows [lo, hi) an op's input must hold for it to produce
// rows [lo, hi) of its output (h: the output's height).
func need(o op, lo, hi, h int) (int, int) {
	switch o.kind {
	case opUp:
		return lo / 2, (hi + 1) / 2
	case opConv:
		return max(0, lo-1), min(h, hi+1)
	default: // three convs deep
		return max(0, lo-3), min(h, hi+3)
	}
}

// runStage runs the ops of one stage on the whole input in bands of rows
// and returns the stage's whole output.
func (d *Decoder) runStage(ctx context.Context, be Backend, st []op, in Band, bandBytes int) (Band, error) {
	H, W, C := stageOut(st, in.Rows, in.W)
	outBuf, err := be.Alloc(C * H * W)
	if err != nil {
		return Band{}, err
	}
	out := Band{Buf: outBuf, C: C, W: W, Rows: H, Lo: 0, Hi: H}
	halo := 0
	for _, o := range st {
		switch o.kind {
		case opConv:
			halo++
		case opBlock:
			halo += 3
		}
	}
	rows := max(8, bandBytes/(width*W*4)-2*halo)
	rows = min(rows, H)
	// Scratch bands: three rotate through the ops (a Block reads its input
	// for the skip while writing the third conv's output).
	capRows := min(H, rows+2*halo+2)
	var scratch [3]Buf
	defer func() {
		for _, b := range scratch {
			if b != nil {
				be.Free(b)
			}
		}
	}()
	for i := range scratch {
		if scratch[i], err = be.Alloc(width * capRows * W); err != nil {
			be.Free(outBuf)
			return Band{}, err
		}
	}
	for lo := 0; lo < H; lo += rows {
		if err := ctx.Err(); err != nil {
			be.Free(outBuf)
			return Band{}, err
		}
		hi := min(H, lo+rows)
		if err := d.runBand(be, st, in, out, lo, hi, scratch); err != nil {
			be.Free(outBuf)
			return Band{}, err
		}
	}
	return out, nil
}

// runBand computes rows [lo, hi) of a stage's output into out.
func (d *Decoder) runBand(be Backend, st []op, in, out Band, lo, hi int, scratch [3]Buf) error {
	// Rows each op must produce, from the last op back.
	type span struct{ lo, hi, h, w int }
	spans := make([]span, len(st))
	h, w := out.Rows, out.W
	l, r := lo, hi
	for i := len(st) - 1; i >= 0; i-- {
		spans[i] = span{l, r, h, w}
		l, r = need(st[i], l, r, h)
		if st[i].kind == opUp {
			h, w = h/2, w/2
		}
	}
	// Buffers are compared by scratch slot (-1: the stage's input or
	// output), never by value (a Buf may hold a slice).
	cur, curSlot := in, -1
	free := []int{0, 1, 2}
	take := func(c int, s span) (Band, int) {
		i := free[0]
		free = free[1:]
		return Band{Buf: scratch[i], C: c, W: s.w, Rows: s.hi - s.lo, Lo: s.lo, Hi: s.hi}.org(), i
	}
	give := func(slot int) {
		if slot >= 0 {
			free = append(free, slot)
		}
	}
	for i, o := range st {
		s := spans[i]
		last := i == len(st)-1
		var dst Band
		dstSlot := -1
		switch o.kind {
		case opUp:
			dst, dstSlot = take(cur.C, s)
			if err := be.Upsample2x(dst, cur); err != nil {
				return err
			}
		case opConv:
			if last {
				dst = out.rows(s.lo, s.hi)
			} else {
				dst, dstSlot = take(o.conv.Cout, s)
			}
			if err := be.Conv3x3(dst, cur, Band{}, s.h, o.conv, o.relu); err != nil {
				return err
			}
		case opBlock:
			t1, s1 := take(width, span{max(0, s.lo-2), min(s.h, s.hi+2), s.h, s.w})
			if err := be.Conv3x3(t1, cur, Band{}, s.h, o.block[0], true); err != nil {
				return err
			}
			t2, s2 := take(width, span{max(0, s.lo-1), min(s.h, s.hi+1), s.h, s.w})
			if err := be.Conv3x3(t2, t1, Band{}, s.h, o.block[1], true); err != nil {
				return err
			}
			give(s1)
			if last {
				dst = out.rows(s.lo, s.hi)
			} else {
				dst, dstSlot = take(width, s)
			}
			if err := be.Conv3x3(dst, t2, cur, s.h, o.block[2], true); err != nil {
				return err
			}
			give(s2)
		}
		give(curSlot)
		cur, curSlot = dst, dstSlot
	}
	return nil
}

// Band is rows [Lo, Hi) of an activation [C, height, W] held in Buf,
// channel-major: element (c, y, x) is at (c·Rows + y − Org)·W + x, with
// [Lo, Hi) ⊆ [Org, Org+Rows). A whole activation has Org 0, Rows = its
// height.
type Band struct {
	Buf       Buf
	C, W      int
	Org, Rows int
	Lo, Hi    int
}

// org sets Org to Lo (a scratch band holding exactly its rows).
func (b Band) org() Band { b.Org = b.Lo; return b }

// rows narrows b to [lo, hi).
func (b Band) rows(lo, hi int) Band { b.Lo, b.Hi = lo, hi; return b }

// Off is the index of element (c, y, 0).
func (b Band) Off(c, y int) int { return (c*b.Rows + y - b.Org) * b.W }

// Valid reports whether the band's rows lie inside its buffer rows.
func (b Band) Valid() bool {
	return b.Org <= b.Lo && b.Lo <= b.Hi && b.Hi <= b.Org+b.Rows && b.C > 0 && b.W > 0
}

// FLOPs is the multiply-add count ×2 of decoding one h×w latent.
func (d *Decoder) FLOPs(h, w int) int64 {
	var f int64
	for _, st := range d.stages {
		for _, o := range st {
			switch o.kind {
			case opUp:
				h, w = 2*h, 2*w
			case opConv:
				f += 18 * int64(o.conv.Cin*o.conv.Cout) * int64(h*w)
			case opBlock:
				f += 3 * 18 * int64(width*width) * int64(h*w)
			}
		}
	}
	return f
}

// LatentName picks the latent among a file's tensor names as `ditkit
// decode` does: name when given, else "latent", else "out", else the only
// tensor. The error names the choices.
func LatentName(names []string, name string) (string, error) {
	has := func(n string) bool { return slices.Contains(names, n) }
	switch {
	case name != "" && has(name):
		return name, nil
	case name != "":
		return "", fmt.Errorf("no tensor %q", name)
	case has("latent"):
		return "latent", nil
	case has("out"):
		return "out", nil
	case len(names) == 1:
		return names[0], nil
	case len(names) == 0:
		return "", fmt.Errorf("holds no tensors")
	}
	sorted := slices.Sorted(slices.Values(names))
	return "", fmt.Errorf("no tensor latent or out; choose one with --tensor (%s)", strings.Join(sorted, ", "))
}
