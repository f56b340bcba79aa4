package loader

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
	"unsafe"

	"github.com/ditkit/ditkit/core/quant"
	"github.com/ditkit/ditkit/core/tensor"
	"github.com/ditkit/ditkit/loader/format"
	"github.com/ditkit/ditkit/loader/scan"
)

// GGUF (ggml's single-file format; github.com/ggml-org/ggml docs/gguf.md
// and src/gguf.cpp): little-endian
//
//	"GGUF" u32 version (2 or 3) u64 n_tensors u64 n_kv
//	n_kv × { string key; u32 type; value }          (string = u64 length + bytes)
//	n_tensors × { string name; u32 n_dims; u64 dims[n_dims] (innermost first); u32 ggml type; u64 offset }
//	padding to general.alignment (default 32), then the data section:
//	each tensor at data_offset + offset, offsets multiples of the alignment.
//
// Tensors are exposed in torch order (dims reversed). Quantized tensors
// read as dense F32 (dequantized bit-exactly as ggml does); their raw
// blocks stay reachable through Tensor.GGUF and ReadGGUFRaw.

// FormatGGUF names a GGUF file.
const FormatGGUF = format.GGUF

// GGUF reader limits. ggml refuses strings and arrays longer than 2^30;
// every length is also checked against the bytes left in the file before
// anything is allocated.
const (
	MaxGGUFString    = 1 << 30
	MaxGGUFArray     = 1 << 30
	maxGGUFDepth     = 8    // nested ARRAY of ARRAY …
	MaxGGUFArrayKept = 1024 // elements kept per array; longer arrays keep a prefix (GGUFValue.Len has the count)
	maxGGUFDims      = 5    // ggml's 4, or 5 under the fix_5d convention
)

// GGUFType is a KV value type id.
type GGUFType uint32

// GGUF value types (gguf.h enum gguf_type).
const (
	GGUFUint8 GGUFType = iota
	GGUFInt8
	GGUFUint16
	GGUFInt16
	GGUFUint32
	GGUFInt32
	GGUFFloat32
	GGUFBool
	GGUFString
	GGUFArray
	GGUFUint64
	GGUFInt64
	GGUFFloat64
	numGGUFTypes
)

var ggufTypeNames = [...]string{"UINT8", "INT8", "UINT16", "INT16", "UINT32", "INT32", "FLOAT32", "BOOL", "STRING", "ARRAY", "UINT64", "INT64", "FLOAT64"}
var ggufTypeSizes = [...]int{1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8}

// String is gguf-py's name of the type (UINT32, STRING, ARRAY …).
func (t GGUFType) String() string {
	if t < numGGUFTypes {
		return ggufTypeNames[t]
	}
	return fmt.Sprintf("type %d", uint32(t))
}

// GGUFValue is one KV value. Scalars are in Value (uint8, int8, uint16,
// int16, uint32, int32, float32, bool, string, uint64, int64, float64);
// arrays have Elem, Len and their first min(Len, MaxGGUFArrayKept) Items.
type GGUFValue struct {
	Type  GGUFType
	Value any
	Elem  GGUFType
	Len   uint64
	Items []GGUFValue
}

// Int returns an integer scalar's value.
func (v GGUFValue) Int() (int64, bool) {
	switch x := v.Value.(type) {
	case uint8:
		return int64(x), true
	case int8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case int16:
		return int64(x), true
	case uint32:
		return int64(x), true
	case int32:
		return int64(x), true
	case uint64:
		if x <= math.MaxInt64 {
			return int64(x), true
		}
	case int64:
		return x, true
	}
	return 0, false
}

// GGUFKV is one key-value pair with the file offset where it starts.
type GGUFKV struct {
	Key    string
	Offset int64
	GGUFValue
}

// GGUFFile is a GGUF file's header.
type GGUFFile struct {
	Version      uint32
	Alignment    int64
	DataOffset   int64 // absolute offset of the data section
	KV           []GGUFKV
	Architecture string // general.architecture ("" when absent)
	byKey        map[string]int
}

// Get returns the value of key.
func (g *GGUFFile) Get(key string) (GGUFValue, bool) {
	i, ok := g.byKey[key]
	if !ok {
		return GGUFValue{}, false
	}
	return g.KV[i].GGUFValue, true
}

// GGUFTensor is how a tensor is stored in a GGUF file.
type GGUFTensor struct {
	Type   quant.Type
	Dims   []uint64 // as stored, innermost first
	Offset int64    // absolute file offset of the stored bytes
	Size   int64    // stored bytes
	// Stored is the torch-order reading of Dims (reversed): what a naive
	// reader gets.
	Stored []int
	// Candidate is the shape a convention says the tensor really has
	// (nil when none applies): Tensor.Shape is Candidate once the evidence
	// confirms it, Stored otherwise.
	Candidate []int
	// Evidence says which convention applies and why, e.g. `stored as
	// [256, 36] in GGUF, restored to [32, 32, 3, 3] by
	// comfy.gguf.orig_shape.<name>`; "" when Shape is simply Stored.
	Evidence  string
	Confirmed bool // Shape == Candidate
}

// Quantized reports whether the stored form is blocks (dense reads dequantize).
func (g *GGUFTensor) Quantized() bool { return g != nil && g.Type.Quantized() }

// GGUFOptions adjusts what the GGUF reader accepts.
type GGUFOptions struct {
	// Allow5D accepts n_dims = 5 for any tensor (the ComfyUI-GGUF fix_5d
	// convention). Without it only known 5-D parameter names are accepted.
	Allow5D bool
}

// Known 5-D parameters (Conv3d patch embeddings) that ComfyUI-GGUF's
// fix_5d_tensors.py appends with n_dims = 5: Wan, HunyuanVideo, and
// Open-Sora/Latte-style STDiT patch embeddings.
var known5D = map[string]string{
	"patch_embedding.weight": "Wan",
	"img_in.proj.weight":     "HunyuanVideo",
	"x_embedder.proj.weight": "Open-Sora (STDiT)",
}

func known5DName(name string) (string, bool) {
	f, ok := known5D[name]
	for _, p := range ggufPrefixes {
		if rest, cut := strings.CutPrefix(name, p); cut && !ok {
			f, ok = known5D[rest]
		}
	}
	return f, ok
}

// ggufReader reads the header sequentially through a window buffer,
// checking every length against the bytes left before allocating.
type ggufReader struct {
	r    io.ReaderAt
	size int64
	pos  int64
	name string
	buf  []byte
	bOff int64 // file offset of buf[0]
}

func (g *ggufReader) left() int64 { return g.size - g.pos }

func (g *ggufReader) fail(sentinel error, at int64, format string, args ...any) error {
	return ferr(g.name, sentinel, fmt.Sprintf("offset %d", at), format, args...)
}

// bytes returns the next n bytes (valid until the next call).
func (g *ggufReader) bytes(n int64, what string) ([]byte, error) {
	if n > g.left() {
		return nil, g.fail(ErrTruncated, g.pos, "file ends inside the GGUF header: %s needs %d bytes, %d left", what, n, max(0, g.left()))
	}
	if g.pos < g.bOff || g.pos+n > g.bOff+int64(len(g.buf)) {
		w := max(n, 64<<10)
		w = min(w, g.size-g.pos)
		if int64(cap(g.buf)) < w {
			g.buf = make([]byte, w)
		}
		g.buf = g.buf[:w]
		if k, err := g.r.ReadAt(g.buf, g.pos); int64(k) < w {
			if err == nil || errors.Is(err, io.EOF) {
				return nil, g.fail(ErrTruncated, g.pos+int64(k), "file ends early while reading %s", what)
			}
			return nil, fmt.Errorf("%s: offset %d: %w", g.name, g.pos, err)
		}
		g.bOff = g.pos
	}
	b := g.buf[g.pos-g.bOff : g.pos-g.bOff+n]
	g.pos += n
	return b, nil
}

func (g *ggufReader) u32(what string) (uint32, error) {
	b, err := g.bytes(4, what)
	if err != nil {
		return 0, err
	}
	return le32(b), nil
}

func (g *ggufReader) u64(what string) (uint64, error) {
	b, err := g.bytes(8, what)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b), nil
}

var le32 = binary.LittleEndian.Uint32

// str reads a string; keep=false skips its bytes without holding them.
func (g *ggufReader) str(what string, keep bool) (string, error) {
	at := g.pos
	n, err := g.u64(what + " length")
	if err != nil {
		return "", err
	}
	if n > uint64(g.left()) {
		return "", g.fail(ErrTruncated, at, "%s length %d exceeds the %d bytes left in the file", what, n, g.left())
	}
	if n > MaxGGUFString {
		return "", g.fail(ErrLimit, at, "%s length %d exceeds the format's limit of %d", what, n, MaxGGUFString)
	}
	if !keep {
		g.pos += int64(n)
		return "", nil
	}
	b, err := g.bytes(int64(n), what)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// name reads a key or tensor name: non-empty UTF-8.
func (g *ggufReader) nameStr(what string) (string, int64, error) {
	at := g.pos
	s, err := g.str(what, true)
	if err != nil {
		return "", at, err
	}
	if s == "" {
		return "", at, g.fail(ErrCorrupt, at, "empty %s", what)
	}
	if !utf8.ValidString(s) {
		return "", at, g.fail(ErrCorrupt, at, "%s %q is not valid UTF-8", what, s)
	}
	if strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return "", at, g.fail(ErrCorrupt, at, "%s %q holds control characters", what, s)
	}
	return s, at, nil
}

// value reads one value of type t (depth counts enclosing arrays).
func (g *ggufReader) value(t GGUFType, key string, depth int, keep bool) (GGUFValue, error) {
	v := GGUFValue{Type: t}
	at := g.pos
	switch t {
	case GGUFString:
		s, err := g.str(fmt.Sprintf("value of %q", key), keep)
		v.Value = s
		return v, err
	case GGUFArray:
		if depth >= maxGGUFDepth {
			return v, g.fail(ErrLimit, at, "key %q: arrays nested more than %d deep", key, maxGGUFDepth)
		}
		et, err := g.u32("array element type")
		if err != nil {
			return v, err
		}
		if GGUFType(et) >= numGGUFTypes {
			return v, g.fail(ErrCorrupt, at, "key %q: array element type %d is not a GGUF value type", key, et)
		}
		v.Elem = GGUFType(et)
		n, err := g.u64("array length")
		if err != nil {
			return v, err
		}
		minSize := int64(8) // a string's or nested array's length field
		if sz := ggufTypeSizes[v.Elem]; sz > 0 {
			minSize = int64(sz)
		} else if v.Elem == GGUFArray {
			minSize = 12
		}
		if n > uint64(g.left()/minSize) {
			return v, g.fail(ErrTruncated, at, "key %q: array of %d %v elements cannot fit in the %d bytes left", key, n, v.Elem, g.left())
		}
		if n > MaxGGUFArray {
			return v, g.fail(ErrLimit, at, "key %q: array of %d elements exceeds the format's limit of %d", key, n, MaxGGUFArray)
		}
		v.Len = n
		if sz := ggufTypeSizes[v.Elem]; sz > 0 && (!keep || n > MaxGGUFArrayKept) {
			// Fixed-size elements: keep a prefix, step over the rest.
			k := uint64(0)
			if keep {
				k = MaxGGUFArrayKept
			}
			for i := uint64(0); i < k; i++ {
				e, err := g.value(v.Elem, key, depth+1, true)
				if err != nil {
					return v, err
				}
				v.Items = append(v.Items, e)
			}
			g.pos += int64(n-k) * int64(sz)
			return v, nil
		}
		if keep {
			v.Items = make([]GGUFValue, 0, min(n, MaxGGUFArrayKept))
		}
		for i := uint64(0); i < n; i++ {
			k := keep && i < MaxGGUFArrayKept
			e, err := g.value(v.Elem, key, depth+1, k)
			if err != nil {
				return v, err
			}
			if k {
				v.Items = append(v.Items, e)
			}
		}
		return v, nil
	}
	if t >= numGGUFTypes {
		return v, g.fail(ErrCorrupt, at, "key %q has value type %d, which is not a GGUF value type", key, uint32(t))
	}
	b, err := g.bytes(int64(ggufTypeSizes[t]), fmt.Sprintf("value of %q", key))
	if err != nil {
		return v, err
	}
	switch t {
	case GGUFUint8:
		v.Value = b[0]
	case GGUFInt8:
		v.Value = int8(b[0])
	case GGUFBool:
		if b[0] > 1 {
			return v, g.fail(ErrCorrupt, at, "key %q: bool value %d is neither 0 nor 1", key, b[0])
		}
		v.Value = b[0] == 1
	case GGUFUint16:
		v.Value = binary.LittleEndian.Uint16(b)
	case GGUFInt16:
		v.Value = int16(binary.LittleEndian.Uint16(b))
	case GGUFUint32:
		v.Value = le32(b)
	case GGUFInt32:
		v.Value = int32(le32(b))
	case GGUFFloat32:
		v.Value = math.Float32frombits(le32(b))
	case GGUFUint64:
		v.Value = binary.LittleEndian.Uint64(b)
	case GGUFInt64:
		v.Value = int64(binary.LittleEndian.Uint64(b))
	case GGUFFloat64:
		v.Value = math.Float64frombits(binary.LittleEndian.Uint64(b))
	}
	return v, nil
}

// openGGUF reads a GGUF header and returns the tensors in file order.
func openGGUF(r io.ReaderAt, size int64, name string, opt GGUFOptions) (*Checkpoint, error) {
	g := &ggufReader{r: r, size: size, name: name}
	magic, err := g.bytes(4, "magic")
	if err != nil {
		return nil, err
	}
	if string(magic) != "GGUF" {
		return nil, ferr(name, ErrFormat, "offset 0", "not a GGUF file: magic %q, expected \"GGUF\"", magic)
	}
	version, err := g.u32("version")
	if err != nil {
		return nil, err
	}
	switch {
	case version == 1:
		return nil, ferr(name, ErrUnsupported, "offset 4", "GGUF version 1 is not supported (only versions 2 and 3; ggml dropped v1)")
	case version != 0 && version&0xffff == 0:
		return nil, ferr(name, ErrUnsupported, "offset 4", "GGUF version bytes %08x: a big-endian GGUF file, which ditkit does not read", version)
	case version != 2 && version != 3:
		return nil, ferr(name, ErrUnsupported, "offset 4", "GGUF version %d is not supported (only versions 2 and 3)", version)
	}
	nTensors, err := g.u64("n_tensors")
	if err != nil {
		return nil, err
	}
	nKV, err := g.u64("n_kv")
	if err != nil {
		return nil, err
	}
	// Each KV needs at least 13 bytes, each tensor info 24: refuse counts
	// the file cannot hold before allocating for them.
	if nKV > uint64(g.left()/13) {
		return nil, g.fail(ErrTruncated, 16, "n_kv %d cannot fit in the %d bytes left", nKV, g.left())
	}
	if nTensors > uint64(g.left()/24) {
		return nil, g.fail(ErrTruncated, 8, "n_tensors %d cannot fit in the %d bytes left", nTensors, g.left())
	}
	gf := &GGUFFile{Version: version, Alignment: 32, byKey: map[string]int{}}
	for i := uint64(0); i < nKV; i++ {
		key, at, err := g.nameStr(fmt.Sprintf("key %d", i))
		if err != nil {
			return nil, err
		}
		if _, dup := gf.byKey[key]; dup {
			return nil, g.fail(ErrCorrupt, at, "duplicate key %q", key)
		}
		t, err := g.u32(fmt.Sprintf("type of %q", key))
		if err != nil {
			return nil, err
		}
		v, err := g.value(GGUFType(t), key, 0, true)
		if err != nil {
			return nil, err
		}
		gf.byKey[key] = len(gf.KV)
		gf.KV = append(gf.KV, GGUFKV{Key: key, Offset: at, GGUFValue: v})
	}
	if v, ok := gf.Get("general.alignment"); ok {
		a, isU32 := v.Value.(uint32)
		if !isU32 {
			return nil, ferr(name, ErrCorrupt, `key "general.alignment"`, "must be UINT32, is %v", v.Type)
		}
		if a == 0 || a&(a-1) != 0 {
			return nil, ferr(name, ErrCorrupt, `key "general.alignment"`, "alignment %d is not a power of 2", a)
		}
		gf.Alignment = int64(a)
	}
	if v, ok := gf.Get("general.architecture"); ok {
		s, isStr := v.Value.(string)
		if !isStr {
			return nil, ferr(name, ErrCorrupt, `key "general.architecture"`, "must be STRING, is %v", v.Type)
		}
		gf.Architecture = s
	}
	ck := &Checkpoint{Format: FormatGGUF, GGUF: gf}
	seen := map[string]bool{}
	type item struct {
		t        *Tensor
		rel, end int64
	}
	items := make([]item, 0, nTensors)
	for i := uint64(0); i < nTensors; i++ {
		tname, at, err := g.nameStr(fmt.Sprintf("tensor %d name", i))
		if err != nil {
			return nil, err
		}
		if seen[tname] {
			return nil, g.fail(ErrCorrupt, at, "duplicate tensor name %q", tname)
		}
		seen[tname] = true
		where := fmt.Sprintf("tensor %q (info at offset %d)", tname, at)
		nd, err := g.u32("n_dims")
		if err != nil {
			return nil, err
		}
		if nd > 4 {
			_, known := known5DName(tname)
			switch {
			case nd > maxGGUFDims:
				return nil, ferr(name, ErrCorrupt, where, "n_dims %d > 4 (ggml's limit; at most 5 under ComfyUI-GGUF's fix_5d convention)", nd)
			case !known && !opt.Allow5D:
				return nil, ferr(name, ErrUnsupported, where, "n_dims %d > 4 (ggml's limit), and the name is no known 5-D parameter, so ComfyUI-GGUF's fix_5d convention does not apply", nd)
			}
		}
		dims := make([]uint64, nd)
		numel := int64(1)
		for j := range dims {
			d, err := g.u64("dimension")
			if err != nil {
				return nil, err
			}
			if d > math.MaxInt64 {
				return nil, ferr(name, ErrCorrupt, where, "dimension %d is %d (negative as ggml's int64)", j, int64(d))
			}
			if d != 0 && numel > math.MaxInt64/int64(d) {
				return nil, ferr(name, ErrCorrupt, where, "dims %v: element count overflows", dims[:j+1])
			}
			dims[j] = d
			numel *= int64(d)
		}
		tid, err := g.u32("ggml type")
		if err != nil {
			return nil, err
		}
		qt := quant.Type(tid)
		switch {
		case qt.Removed():
			return nil, ferr(name, ErrUnsupported, where, "ggml type %d (%v) was removed from ggml and is not supported", tid, qt)
		case !qt.Known():
			return nil, ferr(name, ErrCorrupt, where, "unknown ggml type %d (ggml knows 0 … %d)", tid, quant.TypeCount-1)
		}
		row := int64(1)
		if nd > 0 {
			row = int64(dims[0])
		}
		if bs := int64(qt.BlockSize()); row%bs != 0 {
			return nil, ferr(name, ErrCorrupt, where, "%v rows of %d elements are not a whole number of %d-element blocks", qt, row, bs)
		}
		nb, err := qt.Bytes(numel)
		if err != nil {
			return nil, ferr(name, ErrCorrupt, where, "%v", err)
		}
		off, err := g.u64("data offset")
		if err != nil {
			return nil, err
		}
		if off > math.MaxInt64/2 {
			return nil, ferr(name, ErrCorrupt, where, "data offset %d is out of range", off)
		}
		stored := make([]int, nd)
		for j, d := range dims {
			stored[int(nd)-1-j] = int(d)
		}
		gt := &GGUFTensor{Type: qt, Dims: dims, Size: nb, Stored: stored}
		t := &Tensor{Name: tname, GGUF: gt}
		items = append(items, item{t, int64(off), int64(off) + nb})
	}
	if nTensors > 0 {
		gf.DataOffset = (g.pos + gf.Alignment - 1) / gf.Alignment * gf.Alignment
	} else {
		gf.DataOffset = g.pos
	}
	// Offsets: aligned, inside the file, no two tensors overlapping.
	for _, it := range items {
		if it.rel%gf.Alignment != 0 {
			return nil, ferr(name, ErrCorrupt, fmt.Sprintf("tensor %q", it.t.Name), "offset %d is not a multiple of general.alignment (%d)", it.rel, gf.Alignment)
		}
		abs := gf.DataOffset + it.rel
		if abs > size || it.end-it.rel > size-abs {
			return nil, ferr(name, ErrTruncated, fmt.Sprintf("tensor %q", it.t.Name), "data [%d, %d) (data section offset %d + [%d, %d)) extends past the end of the %d-byte file", abs, abs+it.end-it.rel, gf.DataOffset, it.rel, it.end, size)
		}
		it.t.GGUF.Offset = abs
	}
	sorted := append([]item(nil), items...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].rel < sorted[j].rel })
	end := int64(0)
	for i, it := range sorted {
		if i > 0 && it.rel < end && it.end > it.rel {
			return nil, ferr(name, ErrCorrupt, fmt.Sprintf("tensor %q", it.t.Name), "data [%d, %d) overlaps tensor %q, which ends at %d", it.rel, it.end, sorted[i-1].t.Name, end)
		}
		if it.end > end {
			end = it.end
		}
	}
	for _, it := range items {
		if err := ck.finishGGUFTensor(it.t, name); err != nil {
			return nil, err
		}
		ck.Tensors = append(ck.Tensors, it.t)
	}
	if dataEnd := gf.DataOffset + end; dataEnd < size && len(items) > 0 {
		ck.Notes = append(ck.Notes, fmt.Sprintf("%d bytes after the last tensor's data (offset %d) are not part of any tensor", size-dataEnd, dataEnd))
	}
	return ck, nil
}

// finishGGUFTensor gives a GGUF tensor its shape (the file's own
// conventions applied, with evidence), dtype and storage.
func (ck *Checkpoint) finishGGUFTensor(t *Tensor, file string) error {
	gt := t.GGUF
	gf := ck.GGUF
	where := fmt.Sprintf("tensor %q", t.Name)
	shape := gt.Stored
	key := "comfy.gguf.orig_shape." + t.Name
	if v, ok := gf.Get(key); ok {
		// ComfyUI-GGUF loader.py get_orig_shape: ARRAY of INT32 in torch
		// order, or a TypeError.
		if v.Type != GGUFArray || v.Elem != GGUFInt32 || uint64(len(v.Items)) != v.Len {
			return ferr(file, ErrCorrupt, fmt.Sprintf("key %q", key), "must be an ARRAY of INT32 (as ComfyUI-GGUF reads it), is %v of %v", v.Type, v.Elem)
		}
		orig := make([]int, len(v.Items))
		for i, e := range v.Items {
			d := e.Value.(int32)
			if d < 0 {
				return ferr(file, ErrCorrupt, fmt.Sprintf("key %q", key), "negative dimension %d", d)
			}
			orig[i] = int(d)
		}
		if a, b := numelOf(orig), numelOf(gt.Stored); a != b {
			return ferr(file, ErrCorrupt, fmt.Sprintf("key %q", key), "shape %s holds %d elements but the tensor stores %s = %d", tensor.FormatShape(orig), a, tensor.FormatShape(gt.Stored), b)
		}
		gt.Candidate, gt.Confirmed = orig, true
		gt.Evidence = fmt.Sprintf("stored as %s in GGUF, restored to %s by the file's %s (ComfyUI-GGUF convert.py reshapes such tensors to rows of 256)", tensor.FormatShape(gt.Stored), tensor.FormatShape(orig), key)
		shape = orig
	} else if len(gt.Dims) == 5 {
		fam, known := known5DName(t.Name)
		why := "the caller accepted 5-D tensors"
		if known {
			why = fmt.Sprintf("%s is %s's 5-D Conv3d patch embedding", t.Name, fam)
		}
		gt.Evidence = fmt.Sprintf("n_dims = 5 (ComfyUI-GGUF fix_5d_tensors convention: %s; ggml itself allows 4): ggml dims %s read in reversed order as %s", why, formatDims(gt.Dims), tensor.FormatShape(gt.Stored))
	}
	t.Shape = append([]int(nil), shape...)
	t.Strides = tensor.ContiguousStrides(t.Shape)
	t.DType = gt.Type.DType()
	if gt.Quantized() {
		t.DType = tensor.F32 // dense reads dequantize
	}
	if t.DType == tensor.Invalid {
		return ferr(file, ErrUnsupported, where, "ggml type %v has no dense form ditkit reads", gt.Type)
	}
	t.Storage = &Storage{Key: t.Name, DType: t.DType, Off: gt.Offset, Size: gt.Size}
	return nil
}

func formatDims(d []uint64) string {
	s := make([]int, len(d))
	for i, v := range d {
		s[i] = int(v)
	}
	return tensor.FormatShape(s)
}

func numelOf(s []int) int64 { n, _ := tensor.Numel(s); return n }

// OpenGGUF reads a GGUF file with options (Open uses the defaults).
func OpenGGUF(r io.ReaderAt, size int64, name string, opt GGUFOptions) (*Checkpoint, error) {
	return opened(r, size, name, func() (*Checkpoint, error) { return openGGUF(r, size, name, opt) })
}

// checkQuant validates a quantized GGUF tensor: whole blocks, stored size
// matching, a type ditkit can dequantize.
func (t *Tensor) checkQuant(file string) error {
	where := fmt.Sprintf("tensor %q", t.Name)
	q := t.GGUF.Type
	if !q.CanDequantize() {
		return ferr(file, ErrUnsupported, where, "dequantizing ggml type %v is not supported (ditkit reads F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 and Q2_K … Q6_K)", q)
	}
	n, err := tensor.Numel(t.Shape)
	if err != nil {
		return ferr(file, ErrCorrupt, where, "%v", err)
	}
	nb, err := q.Bytes(n)
	if err != nil || nb != t.Storage.Size || t.DType != tensor.F32 || t.Offset != 0 || !t.Contiguous() {
		return ferr(file, ErrCorrupt, where, "%v view of shape %v does not match its %d stored bytes", q, t.Shape, t.Storage.Size)
	}
	return nil
}

// quantGroup is how many blocks one read dequantizes at a time.
const quantGroup = 1024

// readQuantInto fills out with the little-endian f32 values of elements
// [first, first+len(out)/4) of a quantized tensor: the blocks covering
// them are read and dequantized a group at a time.
func (c *Checkpoint) readQuantInto(t *Tensor, out []byte, first int64) error {
	q := t.GGUF.Type
	bs, bb := int64(q.BlockSize()), int64(q.BlockBytes())
	n := int64(len(out)) / 4
	vals := getF32(int(min(quantGroup*bs, ((first%bs)+n+bs-1)/bs*bs)))
	defer putF32(vals)
	raw := getChunk(len(vals) / int(bs) * int(bb))
	defer putChunk(raw)
	for pos := int64(0); pos < n; {
		e := first + pos
		b0 := e / bs
		b1 := min((first+n+bs-1)/bs, b0+quantGroup)
		r := raw[:(b1-b0)*bb]
		if err := c.readAt(t, r, t.Storage.Off+b0*bb); err != nil {
			return err
		}
		v := vals[:(b1-b0)*bs]
		if err := quant.Dequantize(q, r, v); err != nil {
			return fmt.Errorf("%s: tensor %q: %w", c.Name, t.Name, err)
		}
		v = v[e-b0*bs:]
		m := min(int64(len(v)), n-pos)
		putF32s(out[4*pos:4*(pos+m)], v[:m])
		pos += m
	}
	return nil
}

// putF32s stores v as little-endian f32 bytes in o: one copy on
// little-endian hosts (every platform ditkit builds for), else per element.
func putF32s(o []byte, v []float32) {
	if len(v) > 0 && hostLittleEndian {
		copy(o, unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), 4*len(v)))
		return
	}
	for i, f := range v {
		binary.LittleEndian.PutUint32(o[4*i:], math.Float32bits(f))
	}
}

var hostLittleEndian = func() bool { x := uint16(1); return *(*byte)(unsafe.Pointer(&x)) == 1 }()

var f32Bufs sync.Pool

func getF32(n int) []float32 {
	if b, ok := f32Bufs.Get().(*[]float32); ok && cap(*b) >= n {
		return (*b)[:n]
	}
	return make([]float32, n)
}

func putF32(b []float32) { f32Bufs.Put(&b) }

// ReadGGUFRaw fills buf with bytes [off, off+len(buf)) of a GGUF tensor's
// stored form (quantized blocks, or the plain elements), for code that
// works on the blocks themselves.
func (c *Checkpoint) ReadGGUFRaw(t *Tensor, buf []byte, off int64) error {
	if t.GGUF == nil {
		return fmt.Errorf("%s: tensor %q is not from a GGUF file", c.Name, t.Name)
	}
	if off < 0 || off+int64(len(buf)) > t.GGUF.Size || off > t.GGUF.Size {
		return fmt.Errorf("%s: tensor %q: bad range [%d, %d) of %d stored bytes", c.Name, t.Name, off, off+int64(len(buf)), t.GGUF.Size)
	}
	return c.readAt(t, buf, t.GGUF.Offset+off)
}

func init() { scan.RegisterGGUF(ggufDataEnd) }

// ggufDataEnd validates a GGUF file as the scanner needs it: the header
// and tensor infos parse, and the last tensor's data ends at end.
func ggufDataEnd(r io.ReaderAt, size int64, name string) (end, alignment int64, err error) {
	ck, err := openGGUF(r, size, name, GGUFOptions{})
	if err != nil {
		return 0, 0, err
	}
	end = ck.GGUF.DataOffset
	for _, t := range ck.Tensors {
		end = max(end, t.GGUF.Offset+t.GGUF.Size)
	}
	return end, ck.GGUF.Alignment, nil
}
