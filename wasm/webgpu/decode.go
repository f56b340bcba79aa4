//go:build js && wasm

package webgpu

import (
	"fmt"
	"syscall/js"

	"github.com/ditkit/ditkit/core/decode"
)

// Decoder runs core/decode's kernels (3×3 convolution + bias + residual +
// ReLU, nearest ×2 upsample, tanh clamp) on the GPU with the activations
// resident there: each call records a dispatch, and Read submits them all
// (or Flush, between stages) in one compute pass and reads the result
// back. Weights are uploaded once per *decode.Conv. Buffers freed during
// a decode are destroyed after the next submission (the recorded
// dispatches still use them). Close releases everything.
type Decoder struct {
	g       *GPU
	weights map[*decode.Conv]*convWeights
	ds      []dispatch
	dead    []js.Value // freed buffers, destroyed once the GPU is done with them
}

type convWeights struct {
	buf   js.Value // vec4 over 4 output channels: [cout/4][cin][9], then bias [cout/4]
	bias  int      // vec4 index of the bias, or -1
	bytes int64
}

// gbuf is a decode activation on the GPU.
type gbuf struct {
	buf js.Value
	n   int
}

var _ decode.Backend = (*Decoder)(nil)

// NewDecoder returns a decode.Backend on g.
func NewDecoder(g *GPU) *Decoder {
	return &Decoder{g: g, weights: map[*decode.Conv]*convWeights{}}
}

// Close destroys the weights and pending buffers.
func (d *Decoder) Close() {
	destroy(d.ds)
	d.ds = nil
	for _, b := range d.dead {
		b.Call("destroy")
	}
	d.dead = nil
	for _, w := range d.weights {
		w.buf.Call("destroy")
	}
	d.weights = map[*decode.Conv]*convWeights{}
}

func (d *Decoder) buf(b decode.Buf) (*gbuf, error) {
	gb, ok := b.(*gbuf)
	if !ok || gb == nil {
		return nil, fmt.Errorf("webgpu decode: not a GPU buffer (%T)", b)
	}
	return gb, nil
}

// Alloc implements decode.Backend.
func (d *Decoder) Alloc(n int) (decode.Buf, error) {
	if err := d.g.alive(); err != nil {
		return nil, err
	}
	b, err := d.g.storage(n)
	if err != nil {
		return nil, err
	}
	return &gbuf{buf: b, n: n}, nil
}

// Upload implements decode.Backend.
func (d *Decoder) Upload(v []float32) (decode.Buf, error) {
	b, err := d.Alloc(len(v))
	if err != nil {
		return nil, err
	}
	d.g.write(b.(*gbuf).buf, 0, f32bytes(v))
	return b, nil
}

// Free implements decode.Backend.
func (d *Decoder) Free(b decode.Buf) {
	if gb, ok := b.(*gbuf); ok && gb != nil {
		d.dead = append(d.dead, gb.buf)
	}
}

// Read implements decode.Backend: it runs every recorded dispatch and
// reads len(dst) values of b.
func (d *Decoder) Read(b decode.Buf, dst []float32) error {
	gb, err := d.buf(b)
	if err != nil {
		return err
	}
	if len(dst) > gb.n {
		return fmt.Errorf("webgpu decode: read %d values of a buffer of %d", len(dst), gb.n)
	}
	ds := d.ds
	d.ds = nil
	err = d.g.run(ds, gb.buf, 0, dst)
	destroy(ds)
	for _, b := range d.dead {
		b.Call("destroy")
	}
	d.dead = nil
	return err
}

// Flush submits the recorded dispatches (core/decode calls it between
// stages) and destroys the buffers freed so far: WebGPU frees a destroyed
// buffer's memory once the submitted work using it is done.
func (d *Decoder) Flush() error {
	if err := d.g.alive(); err != nil {
		return err
	}
	ds := d.ds
	d.ds = nil
	d.g.device.Call("pushErrorScope", "out-of-memory")
	d.g.device.Call("pushErrorScope", "validation")
	enc := d.g.device.Call("createCommandEncoder")
	encode(enc, ds)
	d.g.queue.Call("submit", []any{enc.Call("finish")})
	verr := d.g.popError()
	oerr := d.g.popError()
	destroy(ds)
	for _, b := range d.dead {
		b.Call("destroy")
	}
	d.dead = nil
	switch {
	case verr != nil:
		return fmt.Errorf("webgpu: %v", verr)
	case oerr != nil:
		return fmt.Errorf("%w: out of GPU memory: %v", ErrUnavailable, oerr)
	}
	return d.g.alive()
}

func (d *Decoder) weightsOf(k *decode.Conv) (*convWeights, error) {
	if w := d.weights[k]; w != nil {
		return w, nil
	}
	groups := (k.Cout + 3) / 4
	per := k.Cin * 9
	n := groups * per * 4
	bias := -1
	if k.B != nil {
		bias = groups * per
		n += groups * 4
	}
	v := make([]float32, n)
	for co := range k.Cout {
		for i := range per {
			v[((co/4)*per+i)*4+co%4] = k.W[co*per+i]
		}
		if k.B != nil {
			v[(bias+co/4)*4+co%4] = k.B[co]
		}
	}
	size := int64(n) * 4
	if size > d.g.MaxBinding || size > d.g.MaxBuffer {
		return nil, fmt.Errorf("%w: conv %s's weights (%s) exceed the device limits", ErrUnavailable, k.Name, mib(size))
	}
	buf := d.g.buffer(size, usageStorage|usageCopyDst)
	d.g.write(buf, 0, f32bytes(v))
	w := &convWeights{buf: buf, bias: bias, bytes: size}
	d.weights[k] = w
	return w, nil
}

// TanhClamp implements decode.Backend.
func (d *Decoder) TanhClamp(b decode.Buf, n int) error {
	gb, err := d.buf(b)
	if err != nil {
		return err
	}
	pipe, err := d.g.pipeline("tanh_clamp", 0)
	if err != nil {
		return err
	}
	u := d.g.uniform([]uint32{uint32(n), 0, 0, 0})
	wgs := (n + 255) / 256
	d.ds = append(d.ds, dispatch{pipe: pipe, owned: []js.Value{u}, group: d.g.bind(pipe, u, gb.buf),
		wg: [3]int{min(wgs, maxWorkgroups), (wgs + maxWorkgroups - 1) / maxWorkgroups, 1}})
	return nil
}

// bands returns the GPU buffers of an op's output and input bands.
func (d *Decoder) bands(out, in decode.Band) (ob, ib *gbuf, err error) {
	if ob, err = d.buf(out.Buf); err == nil {
		ib, err = d.buf(in.Buf)
	}
	return ob, ib, err
}

// Upsample2x implements decode.Backend.
func (d *Decoder) Upsample2x(out, in decode.Band) error {
	if err := decode.CheckUpsample(out, in); err != nil {
		return err
	}
	ob, ib, err := d.bands(out, in)
	if err != nil {
		return err
	}
	rows := out.Hi - out.Lo
	if rows == 0 {
		return nil
	}
	pipe, err := d.g.pipeline("upsample2x", 0)
	if err != nil {
		return err
	}
	u := d.g.uniform([]uint32{uint32(in.W), uint32(in.Org), uint32(in.Rows), uint32(out.Org),
		uint32(out.Rows), uint32(out.Lo), uint32(out.Hi), 0})
	wg := [3]int{(out.W + 7) / 8, (rows + 7) / 8, out.C}
	if wg[0] > maxWorkgroups || wg[1] > maxWorkgroups || wg[2] > maxWorkgroups {
		return fmt.Errorf("%w: an upsample of %d×%d×%d is too large for one dispatch", ErrUnavailable, out.C, rows, out.W)
	}
	d.ds = append(d.ds, dispatch{pipe: pipe, owned: []js.Value{u}, group: d.g.bind(pipe, u, ib.buf, ob.buf), wg: wg})
	return nil
}

// Conv3x3 implements decode.Backend.
func (d *Decoder) Conv3x3(out, in, res decode.Band, h int, k *decode.Conv, relu bool) error {
	if err := decode.CheckConv(out, in, res, h, k); err != nil {
		return err
	}
	ob, ib, err := d.bands(out, in)
	if err != nil {
		return err
	}
	w, err := d.weightsOf(k)
	if err != nil {
		return err
	}
	rb, flags := d.g.dummy, uint32(0)
	if res.Buf != nil {
		r, err := d.buf(res.Buf)
		if err != nil {
			return err
		}
		rb, flags = r.buf, flags|4
	}
	if w.bias >= 0 {
		flags |= 1
	}
	if relu {
		flags |= 2
	}
	rows := out.Hi - out.Lo
	if rows == 0 {
		return nil
	}
	pipe, err := d.g.pipeline("conv3x3", 0)
	if err != nil {
		return err
	}
	u := d.g.uniform([]uint32{uint32(out.W), uint32(h), uint32(k.Cin), uint32(k.Cout),
		uint32(in.Org), uint32(in.Rows), uint32(out.Org), uint32(out.Rows),
		uint32(out.Lo), uint32(out.Hi), uint32(res.Org), uint32(res.Rows),
		flags, uint32(max(w.bias, 0)), 0, 0})
	wg := [3]int{(out.W + 31) / 32, (rows + 7) / 8, (k.Cout + 3) / 4} // 8×8 invocations of 4 pixels
	if wg[0] > maxWorkgroups || wg[1] > maxWorkgroups {
		return fmt.Errorf("%w: a conv of %d×%d is too large for one dispatch", ErrUnavailable, rows, out.W)
	}
	d.ds = append(d.ds, dispatch{pipe: pipe, owned: []js.Value{u}, group: d.g.bind(pipe, u, ib.buf, w.buf, rb, ob.buf), wg: wg})
	return nil
}
