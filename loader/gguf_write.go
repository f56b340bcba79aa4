package loader

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/ditkit/ditkit/core/quant"
	"github.com/ditkit/ditkit/core/tensor"
)

// GGUFWriteTensor is one tensor for WriteGGUF.
type GGUFWriteTensor struct {
	Name string
	Type quant.Type
	// Shape is the torch shape; the file stores its reversal (innermost
	// first) with n_dims = len(Shape), size-1 dims kept as gguf-py keeps
	// them. Five dims are ComfyUI-GGUF's fix_5d convention (ggml itself
	// reads at most four); a scalar is n_dims 0.
	Shape []int
	// WriteTo writes the stored bytes: exactly Type.Bytes(numel).
	WriteTo func(w io.Writer) error
}

// GGUFWriteOptions adjust WriteGGUF.
type GGUFWriteOptions struct {
	// Alignment of the data section and of every tensor (0: GGUF's
	// default 32). Another value must also be in the KV list as
	// general.alignment (UINT32).
	Alignment int
	// Context cancels the write between pieces of tensor data.
	Context context.Context
	// Progress is called as tensor data is written (bytes done, total).
	Progress func(done, total int64)
}

// MaxGGUFNameLen is the longest tensor name WriteGGUF writes: ComfyUI-GGUF's
// convert.py allows 127 bytes (its patched ggml holds 128 with the NUL);
// stock ggml reads names up to 63 bytes.
const MaxGGUFNameLen = 127

// GGUFKVValue makes a KV pair for WriteGGUF from a Go value: string,
// bool, uint8 … int64, float32, float64, or a slice of one of those
// (an ARRAY).
func GGUFKVValue(key string, v any) (GGUFKV, error) {
	gv, err := ggufValueOf(v)
	if err != nil {
		return GGUFKV{}, fmt.Errorf("GGUF key %q: %w", key, err)
	}
	return GGUFKV{Key: key, GGUFValue: gv}, nil
}

func ggufValueOf(v any) (GGUFValue, error) {
	scalar := func(t GGUFType) GGUFValue { return GGUFValue{Type: t, Value: v} }
	switch x := v.(type) {
	case uint8:
		return scalar(GGUFUint8), nil
	case int8:
		return scalar(GGUFInt8), nil
	case uint16:
		return scalar(GGUFUint16), nil
	case int16:
		return scalar(GGUFInt16), nil
	case uint32:
		return scalar(GGUFUint32), nil
	case int32:
		return scalar(GGUFInt32), nil
	case float32:
		return scalar(GGUFFloat32), nil
	case bool:
		return scalar(GGUFBool), nil
	case string:
		return scalar(GGUFString), nil
	case uint64:
		return scalar(GGUFUint64), nil
	case int64:
		return scalar(GGUFInt64), nil
	case float64:
		return scalar(GGUFFloat64), nil
	case []int32:
		return ggufArray(GGUFInt32, len(x), func(i int) any { return x[i] })
	case []uint32:
		return ggufArray(GGUFUint32, len(x), func(i int) any { return x[i] })
	case []int64:
		return ggufArray(GGUFInt64, len(x), func(i int) any { return x[i] })
	case []float32:
		return ggufArray(GGUFFloat32, len(x), func(i int) any { return x[i] })
	case []string:
		return ggufArray(GGUFString, len(x), func(i int) any { return x[i] })
	}
	return GGUFValue{}, fmt.Errorf("no GGUF value type for %T", v)
}

func ggufArray(elem GGUFType, n int, at func(int) any) (GGUFValue, error) {
	a := GGUFValue{Type: GGUFArray, Elem: elem, Len: uint64(n), Items: make([]GGUFValue, n)}
	for i := range n {
		e, err := ggufValueOf(at(i))
		if err != nil {
			return a, err
		}
		a.Items[i] = e
	}
	return a, nil
}

// ggufEncoder appends GGUF's little-endian encodings to a buffered writer.
type ggufEncoder struct {
	w   *bufio.Writer
	n   int64
	buf [8]byte
}

func (e *ggufEncoder) bytes(b []byte) { e.w.Write(b); e.n += int64(len(b)) }
func (e *ggufEncoder) u32(v uint32) {
	binary.LittleEndian.PutUint32(e.buf[:4], v)
	e.bytes(e.buf[:4])
}
func (e *ggufEncoder) u64(v uint64) {
	binary.LittleEndian.PutUint64(e.buf[:8], v)
	e.bytes(e.buf[:8])
}
func (e *ggufEncoder) str(s string) { e.u64(uint64(len(s))); e.bytes([]byte(s)) }

// value writes v's payload (not its type id).
func (e *ggufEncoder) value(key string, v GGUFValue) error {
	bad := func() error { return fmt.Errorf("GGUF key %q: a %v value holds %T", key, v.Type, v.Value) }
	switch v.Type {
	case GGUFArray:
		if v.Elem >= numGGUFTypes {
			return fmt.Errorf("GGUF key %q: array element type %d", key, v.Elem)
		}
		if v.Len != uint64(len(v.Items)) {
			return fmt.Errorf("GGUF key %q: array of %d elements holds %d (a truncated read cannot be written back)", key, v.Len, len(v.Items))
		}
		e.u32(uint32(v.Elem))
		e.u64(v.Len)
		for _, it := range v.Items {
			if it.Type != v.Elem {
				return fmt.Errorf("GGUF key %q: %v element in an array of %v", key, it.Type, v.Elem)
			}
			if err := e.value(key, it); err != nil {
				return err
			}
		}
		return nil
	case GGUFString:
		s, ok := v.Value.(string)
		if !ok {
			return bad()
		}
		e.str(s)
		return nil
	}
	var u uint64
	switch x := v.Value.(type) {
	case uint8:
		u = uint64(x)
	case int8:
		u = uint64(uint8(x))
	case uint16:
		u = uint64(x)
	case int16:
		u = uint64(uint16(x))
	case uint32:
		u = uint64(x)
	case int32:
		u = uint64(uint32(x))
	case float32:
		u = uint64(math.Float32bits(x))
	case bool:
		if x {
			u = 1
		}
	case uint64:
		u = x
	case int64:
		u = uint64(x)
	case float64:
		u = math.Float64bits(x)
	default:
		return bad()
	}
	if v.Type >= numGGUFTypes {
		return fmt.Errorf("GGUF key %q: value type %d", key, v.Type)
	}
	want, _ := ggufValueOf(v.Value)
	if want.Type != v.Type {
		return bad()
	}
	sz := ggufTypeSizes[v.Type]
	binary.LittleEndian.PutUint64(e.buf[:8], u)
	e.bytes(e.buf[:sz])
	return nil
}

func (e *ggufEncoder) pad(align int64) {
	var zero [64]byte
	for e.n%align != 0 {
		k := min(align-e.n%align, int64(len(zero)))
		e.bytes(zero[:k])
	}
}

// GGUFTensorBytes is the stored size of a tensor of type t and torch shape.
func GGUFTensorBytes(t quant.Type, shape []int) (int64, error) {
	n, err := tensor.Numel(shape)
	if err != nil {
		return 0, err
	}
	if len(shape) > 0 {
		if bs := t.BlockSize(); bs > 0 && shape[len(shape)-1]%bs != 0 {
			return 0, fmt.Errorf("%v rows of %d elements are not a whole number of %d-element blocks", t, shape[len(shape)-1], bs)
		}
	}
	return t.Bytes(n)
}

// WriteGGUF writes a GGUF v3 file in one streaming pass: the header, the
// KV pairs in the order given, the tensor infos with offsets computed
// from the sizes (each padded to the alignment, as gguf-py's GGUFWriter
// and ggml's gguf_write do), zero padding, then each tensor's data
// followed by padding. Only one tensor's data is in flight at a time,
// and w has received every byte before a tensor's data when its WriteTo
// is called.
func WriteGGUF(w io.Writer, kv []GGUFKV, tensors []GGUFWriteTensor, opt GGUFWriteOptions) error {
	align := int64(32)
	if opt.Alignment != 0 {
		align = int64(opt.Alignment)
	}
	if align <= 0 || align&(align-1) != 0 || align > 1<<30 {
		return fmt.Errorf("GGUF alignment %d is not a power of 2", align)
	}
	keys := map[string]bool{}
	for _, p := range kv {
		if p.Key == "" || !utf8.ValidString(p.Key) {
			return fmt.Errorf("GGUF key %q is empty or not UTF-8", p.Key)
		}
		if keys[p.Key] {
			return fmt.Errorf("GGUF key %q is given twice", p.Key)
		}
		keys[p.Key] = true
		if p.Key == "general.alignment" {
			if a, ok := p.Value.(uint32); !ok || int64(a) != align {
				return fmt.Errorf("general.alignment %v does not match the writer's alignment %d", p.Value, align)
			}
		}
	}
	if align != 32 && !keys["general.alignment"] {
		return fmt.Errorf("alignment %d needs a general.alignment key", align)
	}
	sizes := make([]int64, len(tensors))
	offs := make([]int64, len(tensors))
	names := map[string]bool{}
	var total int64
	for i, t := range tensors {
		switch {
		case t.Name == "" || len(t.Name) > MaxGGUFNameLen:
			return fmt.Errorf("tensor %q: GGUF names are 1 to %d bytes (%d)", t.Name, MaxGGUFNameLen, len(t.Name))
		case !utf8.ValidString(t.Name) || strings.IndexFunc(t.Name, unicode.IsControl) >= 0:
			return fmt.Errorf("tensor %q: name is not printable UTF-8", t.Name)
		case names[t.Name]:
			return fmt.Errorf("tensor %q: duplicate name", t.Name)
		case len(t.Shape) > maxGGUFDims:
			return fmt.Errorf("tensor %q: %d dims (GGUF holds 4, 5 under ComfyUI-GGUF's fix_5d convention)", t.Name, len(t.Shape))
		case !t.Type.Known():
			return fmt.Errorf("tensor %q: ggml type %v cannot be written", t.Name, t.Type)
		}
		names[t.Name] = true
		nb, err := GGUFTensorBytes(t.Type, t.Shape)
		if err != nil {
			return fmt.Errorf("tensor %q %s: %w", t.Name, tensor.FormatShape(t.Shape), err)
		}
		sizes[i], offs[i] = nb, total
		total += (nb + align - 1) / align * align
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	e := &ggufEncoder{w: bw}
	e.bytes([]byte("GGUF"))
	e.u32(3)
	e.u64(uint64(len(tensors)))
	e.u64(uint64(len(kv)))
	for _, p := range kv {
		e.str(p.Key)
		e.u32(uint32(p.Type))
		if err := e.value(p.Key, p.GGUFValue); err != nil {
			return err
		}
	}
	for i, t := range tensors {
		e.str(t.Name)
		e.u32(uint32(len(t.Shape)))
		for j := len(t.Shape) - 1; j >= 0; j-- {
			e.u64(uint64(t.Shape[j]))
		}
		e.u32(uint32(t.Type))
		e.u64(uint64(offs[i]))
	}
	e.pad(align)
	ctx := opt.Context
	if ctx == nil {
		ctx = context.Background()
	}
	pw := &ggufDataWriter{w: bw, ctx: ctx, done: e.n, total: e.n + total, fn: opt.Progress}
	for i, t := range tensors {
		if err := ctx.Err(); err != nil {
			return err
		}
		// w sees every byte before the tensor's: a writer that tracks
		// its position (a hashing pipeline) knows where the data starts.
		if err := bw.Flush(); err != nil {
			return err
		}
		start := e.n
		pw.left, pw.name = sizes[i], t.Name
		if err := t.WriteTo(pw); err != nil {
			return fmt.Errorf("tensor %q: %w", t.Name, err)
		}
		if pw.err != nil {
			return pw.err
		}
		e.n += sizes[i] - pw.left
		if pw.left != 0 {
			return fmt.Errorf("tensor %q: source produced %d bytes, want %d", t.Name, e.n-start, sizes[i])
		}
		e.pad(align)
		pw.done = e.n
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if opt.Progress != nil {
		opt.Progress(e.n, e.n)
	}
	return nil
}

// ggufDataWriter checks a tensor's byte count, cancellation and progress.
type ggufDataWriter struct {
	w     *bufio.Writer
	ctx   context.Context
	name  string
	left  int64
	done  int64
	total int64
	last  int64
	fn    func(done, total int64)
	err   error
}

func (d *ggufDataWriter) Write(p []byte) (int, error) {
	if d.err != nil {
		return 0, d.err
	}
	if err := d.ctx.Err(); err != nil {
		d.err = err
		return 0, err
	}
	if int64(len(p)) > d.left {
		d.err = fmt.Errorf("tensor %q: source produced more bytes than its type and shape hold", d.name)
		return 0, d.err
	}
	n, err := d.w.Write(p)
	d.left -= int64(n)
	d.done += int64(n)
	if err != nil {
		d.err = err
		return n, err
	}
	if d.fn != nil && d.done-d.last >= 8<<20 {
		d.last = d.done
		d.fn(d.done, d.total)
	}
	return n, nil
}
