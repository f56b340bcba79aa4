package loader

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"strconv"

	"github.com/ditkit/ditkit/core/tensor"
)

// TorchOptions shape a PyTorch zip file.
type TorchOptions struct {
	// Archive is the zip's root folder (torch uses the file stem); default "archive".
	Archive string
	// Wrap, when set, nests the state dict under this key of a plain dict
	// (e.g. "ema", "state_dict", "model") for loaders that expect it.
	Wrap string
}

var storageNames = map[tensor.DType]string{
	tensor.F64: "DoubleStorage", tensor.F32: "FloatStorage", tensor.F16: "HalfStorage", tensor.BF16: "BFloat16Storage",
	tensor.I64: "LongStorage", tensor.I32: "IntStorage", tensor.I16: "ShortStorage", tensor.I8: "CharStorage",
	tensor.U8: "ByteStorage", tensor.BOOL: "BoolStorage", tensor.C64: "ComplexFloatStorage", tensor.C128: "ComplexDoubleStorage",
}

// WriteTorch writes srcs as a torch.save zip that torch.load(weights_only=True)
// accepts (PyTorch 1.13 and 2.x): an OrderedDict of tensors in a protocol-2
// data.pkl with _rebuild_tensor_v2 and typed storages, 64-byte aligned stored
// entries, and ZIP64 records when the archive needs them. One pass, no seeking.
func WriteTorch(w io.Writer, srcs []Source, opt TorchOptions) error {
	root := opt.Archive
	if root == "" {
		root = "archive"
	}
	seen := map[string]bool{}
	for i := range srcs {
		if seen[srcs[i].Name] {
			return fmt.Errorf("tensor %q: duplicate name", srcs[i].Name)
		}
		seen[srcs[i].Name] = true
		if _, ok := storageNames[srcs[i].DType]; !ok {
			return fmt.Errorf("tensor %q: dtype %v has no typed torch storage", srcs[i].Name, srcs[i].DType)
		}
	}
	pkl, err := statePickle(srcs, opt.Wrap)
	if err != nil {
		return err
	}
	zw := &zipStream{cw: &countWriter{w: w}}
	if err := zw.entryBytes(root+"/data.pkl", pkl); err != nil {
		return err
	}
	if err := zw.entryBytes(root+"/byteorder", []byte("little")); err != nil {
		return err
	}
	for i := range srcs {
		nb, _ := srcs[i].NBytes()
		s := &srcs[i]
		if err := zw.entry(root+"/data/"+strconv.Itoa(i), nb, func(cw *countWriter) error { return writeSource(cw, s) }); err != nil {
			return err
		}
	}
	if err := zw.entryBytes(root+"/version", []byte("3\n")); err != nil {
		return err
	}
	return zw.close()
}

// statePickle builds data.pkl: OrderedDict([(name, _rebuild_tensor_v2(...)), ...]).
func statePickle(srcs []Source, wrap string) ([]byte, error) {
	p := &pickleWriter{memo: map[string]int{}}
	p.b.Write([]byte{0x80, 2}) // PROTO 2
	if wrap != "" {
		p.b.WriteByte('}') // EMPTY_DICT
		p.put()
		p.str(wrap)
	}
	p.global("collections", "OrderedDict")
	p.b.WriteString(")R") // EMPTY_TUPLE REDUCE
	p.put()
	if len(srcs) > 0 {
		p.b.WriteByte('(') // MARK
		for i, s := range srcs {
			numel, err := tensor.Numel(s.Shape)
			if err != nil {
				return nil, fmt.Errorf("tensor %q: %w", s.Name, err)
			}
			p.str(s.Name)
			p.global("torch._utils", "_rebuild_tensor_v2")
			p.b.WriteByte('(') // args MARK
			// persistent id ('storage', torch.XStorage, key, 'cpu', numel)
			p.b.WriteByte('(')
			p.str("storage")
			p.global("torch", storageNames[s.DType])
			p.str(strconv.Itoa(i))
			p.str("cpu")
			p.int(numel)
			p.b.WriteString("tQ") // TUPLE BINPERSID
			p.int(0)              // storage offset
			p.ints(s.Shape)
			p.ints(tensor.ContiguousStrides(s.Shape))
			p.b.WriteByte(0x89) // NEWFALSE: requires_grad
			p.global("collections", "OrderedDict")
			p.b.WriteString(")R") // backward hooks
			p.b.WriteString("tR") // TUPLE REDUCE
			p.put()
		}
		p.b.WriteByte('u') // SETITEMS
	}
	if wrap != "" {
		p.b.WriteByte('s') // SETITEM
	}
	p.b.WriteByte('.')
	return p.b.Bytes(), nil
}

type pickleWriter struct {
	b    bytes.Buffer
	memo map[string]int
	n    int
}

func (p *pickleWriter) put() {
	if p.n < 256 {
		p.b.WriteByte('q')
		p.b.WriteByte(byte(p.n))
	} else {
		p.b.WriteByte('r')
		binary.Write(&p.b, binary.LittleEndian, uint32(p.n))
	}
	p.n++
}

func (p *pickleWriter) get(i int) {
	if i < 256 {
		p.b.WriteByte('h')
		p.b.WriteByte(byte(i))
	} else {
		p.b.WriteByte('j')
		binary.Write(&p.b, binary.LittleEndian, uint32(i))
	}
}

func (p *pickleWriter) global(mod, name string) {
	k := mod + "\n" + name + "\n"
	if i, ok := p.memo[k]; ok {
		p.get(i)
		return
	}
	p.b.WriteByte('c')
	p.b.WriteString(k)
	p.memo[k] = p.n
	p.put()
}

func (p *pickleWriter) str(s string) {
	p.b.WriteByte('X') // BINUNICODE
	binary.Write(&p.b, binary.LittleEndian, uint32(len(s)))
	p.b.WriteString(s)
}

func (p *pickleWriter) int(v int64) {
	switch {
	case v >= 0 && v < 256:
		p.b.WriteByte('K')
		p.b.WriteByte(byte(v))
	case v >= 0 && v < 65536:
		p.b.WriteByte('M')
		binary.Write(&p.b, binary.LittleEndian, uint16(v))
	case v >= math.MinInt32 && v <= math.MaxInt32:
		p.b.WriteByte('J')
		binary.Write(&p.b, binary.LittleEndian, int32(v))
	default: // LONG1, little-endian two's complement
		var buf [9]byte
		binary.LittleEndian.PutUint64(buf[:], uint64(v))
		n := 8
		if v >= 0 && buf[7]&0x80 != 0 {
			n = 9
		}
		p.b.WriteByte(0x8a)
		p.b.WriteByte(byte(n))
		p.b.Write(buf[:n])
	}
}

func (p *pickleWriter) ints(v []int) {
	switch len(v) {
	case 0:
		p.b.WriteByte(')')
		return
	case 1, 2, 3:
		for _, x := range v {
			p.int(int64(x))
		}
		p.b.WriteByte(byte(0x84 + len(v))) // TUPLE1..3
		return
	}
	p.b.WriteByte('(')
	for _, x := range v {
		p.int(int64(x))
	}
	p.b.WriteByte('t')
}

// zipStream writes a zip archive of stored entries in one pass: each local
// header is padded (extra field 'FB', as PyTorch does) so data starts on a
// 64-byte boundary; CRCs follow the data in descriptors.
type zipStream struct {
	cw      *countWriter
	entries []zipEntry
}

type zipEntry struct {
	name       string
	crc        uint32
	size, off  int64
	zip64Local bool
}

const zipAlign = 64

func (z *zipStream) entryBytes(name string, b []byte) error {
	return z.entry(name, int64(len(b)), func(cw *countWriter) error { _, err := cw.Write(b); return err })
}

func (z *zipStream) entry(name string, size int64, write func(*countWriter) error) error {
	off := z.cw.n
	z64 := size >= 0xffffffff || off >= 0xffffffff
	var h bytes.Buffer
	le := binary.LittleEndian
	binary.Write(&h, le, uint32(0x04034b50))
	ver := uint16(20)
	if z64 {
		ver = 45
	}
	binary.Write(&h, le, ver)
	binary.Write(&h, le, uint16(0x0008)) // data descriptor follows
	binary.Write(&h, le, uint16(0))      // stored
	binary.Write(&h, le, uint16(0))      // time
	binary.Write(&h, le, uint16(0x21))   // date 1980-01-01
	binary.Write(&h, le, uint32(0))      // crc in descriptor
	var extra bytes.Buffer
	if z64 {
		binary.Write(&h, le, uint32(0xffffffff))
		binary.Write(&h, le, uint32(0xffffffff))
		binary.Write(&extra, le, uint16(0x0001))
		binary.Write(&extra, le, uint16(16))
		binary.Write(&extra, le, uint64(size))
		binary.Write(&extra, le, uint64(size))
	} else {
		binary.Write(&h, le, uint32(size))
		binary.Write(&h, le, uint32(size))
	}
	base := off + 30 + int64(len(name)) + int64(extra.Len()) + 4
	pad := (zipAlign - base%zipAlign) % zipAlign
	binary.Write(&extra, le, uint16(0x4246)) // 'FB' padding, as PyTorch writes
	binary.Write(&extra, le, uint16(pad))
	extra.Write(make([]byte, pad))
	binary.Write(&h, le, uint16(len(name)))
	binary.Write(&h, le, uint16(extra.Len()))
	h.WriteString(name)
	h.Write(extra.Bytes())
	if _, err := z.cw.Write(h.Bytes()); err != nil {
		return err
	}
	crc := crc32.NewIEEE()
	start := z.cw.n
	tee := &countWriter{w: io.MultiWriter(z.cw, crc)}
	if err := write(tee); err != nil {
		return fmt.Errorf("zip entry %q: %w", name, err)
	}
	if z.cw.err != nil {
		return z.cw.err
	}
	if got := z.cw.n - start; got != size {
		return fmt.Errorf("zip entry %q: wrote %d bytes, want %d", name, got, size)
	}
	var d bytes.Buffer
	binary.Write(&d, le, uint32(0x08074b50))
	binary.Write(&d, le, crc.Sum32())
	if z64 {
		binary.Write(&d, le, uint64(size))
		binary.Write(&d, le, uint64(size))
	} else {
		binary.Write(&d, le, uint32(size))
		binary.Write(&d, le, uint32(size))
	}
	if _, err := z.cw.Write(d.Bytes()); err != nil {
		return err
	}
	z.entries = append(z.entries, zipEntry{name: name, crc: crc.Sum32(), size: size, off: off, zip64Local: z64})
	return nil
}

func (z *zipStream) close() error {
	le := binary.LittleEndian
	var cd bytes.Buffer
	cdStart := z.cw.n
	for _, e := range z.entries {
		var extra bytes.Buffer
		size32, off32 := uint32(e.size), uint32(e.off)
		needZ64 := e.size >= 0xffffffff || e.off >= 0xffffffff || e.zip64Local
		if needZ64 {
			size32, off32 = 0xffffffff, 0xffffffff
			binary.Write(&extra, le, uint16(0x0001))
			binary.Write(&extra, le, uint16(24))
			binary.Write(&extra, le, uint64(e.size))
			binary.Write(&extra, le, uint64(e.size))
			binary.Write(&extra, le, uint64(e.off))
		}
		ver := uint16(20)
		if needZ64 {
			ver = 45
		}
		binary.Write(&cd, le, uint32(0x02014b50))
		binary.Write(&cd, le, ver) // made by
		binary.Write(&cd, le, ver) // needed
		binary.Write(&cd, le, uint16(0x0008))
		binary.Write(&cd, le, uint16(0))
		binary.Write(&cd, le, uint16(0))
		binary.Write(&cd, le, uint16(0x21))
		binary.Write(&cd, le, e.crc)
		binary.Write(&cd, le, size32)
		binary.Write(&cd, le, size32)
		binary.Write(&cd, le, uint16(len(e.name)))
		binary.Write(&cd, le, uint16(extra.Len()))
		binary.Write(&cd, le, uint16(0)) // comment
		binary.Write(&cd, le, uint16(0)) // disk
		binary.Write(&cd, le, uint16(0)) // internal attrs
		binary.Write(&cd, le, uint32(0)) // external attrs
		binary.Write(&cd, le, off32)
		cd.WriteString(e.name)
		cd.Write(extra.Bytes())
	}
	if _, err := z.cw.Write(cd.Bytes()); err != nil {
		return err
	}
	cdSize := int64(cd.Len())
	n := len(z.entries)
	var end bytes.Buffer
	if cdStart >= 0xffffffff || cdSize >= 0xffffffff || n >= 0xffff {
		z64Off := z.cw.n
		binary.Write(&end, le, uint32(0x06064b50))
		binary.Write(&end, le, uint64(44))
		binary.Write(&end, le, uint16(45))
		binary.Write(&end, le, uint16(45))
		binary.Write(&end, le, uint32(0))
		binary.Write(&end, le, uint32(0))
		binary.Write(&end, le, uint64(n))
		binary.Write(&end, le, uint64(n))
		binary.Write(&end, le, uint64(cdSize))
		binary.Write(&end, le, uint64(cdStart))
		binary.Write(&end, le, uint32(0x07064b50))
		binary.Write(&end, le, uint32(0))
		binary.Write(&end, le, uint64(z64Off))
		binary.Write(&end, le, uint32(1))
	}
	clamp16 := func(v int) uint16 {
		if v >= 0xffff {
			return 0xffff
		}
		return uint16(v)
	}
	clamp32 := func(v int64) uint32 {
		if v >= 0xffffffff {
			return 0xffffffff
		}
		return uint32(v)
	}
	binary.Write(&end, le, uint32(0x06054b50))
	binary.Write(&end, le, uint16(0))
	binary.Write(&end, le, uint16(0))
	binary.Write(&end, le, clamp16(n))
	binary.Write(&end, le, clamp16(n))
	binary.Write(&end, le, clamp32(cdSize))
	binary.Write(&end, le, clamp32(cdStart))
	binary.Write(&end, le, uint16(0))
	_, err := z.cw.Write(end.Bytes())
	return err
}
