package loader

import (
	"archive/zip"
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
	zw := newTorchZip(w)
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

// torchZip writes the zip archive of a torch.save file with archive/zip,
// in one pass and the layout torch's own writer (caffe2's
// PyTorchStreamWriter over miniz) uses: stored entries whose local header
// is padded with an 'FB' extra field so the data starts on a 64-byte
// boundary (torch mmaps storages from there), sizes and CRC in a data
// descriptor after the data (local header fields zero), no extra fields
// in the central directory, ZIP64 records where sizes or offsets need them.
//
// The CRC is known only once the data is written: it is set on the entry's
// FileHeader then, before the next CreateRaw or Close, which is when
// zip.Writer writes the descriptor and, later, the central directory from
// the header it keeps (CreateRaw: "the argument is stored in w"); the same
// moment drops the padding from the header so the central directory does
// not repeat it. TestTorchZipReadsBackWithArchiveZip and TestTorchZip64
// check the CRCs and the layout with archive/zip's reader, for 32-bit and
// ZIP64 records.
type torchZip struct {
	zw   *zip.Writer
	cw   *countWriter    // under zw: the bytes zw has flushed
	prev *zip.FileHeader // the entry whose descriptor zw writes next
}

const (
	zipAlign           = 64     // torch's alignment of entry data
	zipLocalHeaderLen  = 30     // fixed part of a local file header
	zipExtraHeaderLen  = 4      // an extra field's id and length
	zipPaddingID       = 0x4246 // 'FB', the extra field torch pads with
	zipDescriptorLen   = 16     // signature, crc, 32-bit sizes
	zipDescriptor64Len = 24     // signature, crc, 64-bit sizes
	zipFlagDescriptor  = 0x0008 // sizes and CRC follow the data
	zipFlagUTF8        = 0x0800 // names are UTF-8 (torch sets it too)
	zipVersion20       = 20
	zipVersion45       = 45   // ZIP64
	zipDate1980        = 0x21 // 1980-01-01, the earliest MS-DOS date
	zipMax32           = 1<<32 - 1
)

func newTorchZip(w io.Writer) *torchZip {
	cw := &countWriter{w: w}
	return &torchZip{zw: zip.NewWriter(cw), cw: cw}
}

func (z *torchZip) entryBytes(name string, b []byte) error {
	return z.entry(name, int64(len(b)), func(cw *countWriter) error { _, err := cw.Write(b); return err })
}

// entry writes one stored entry of size bytes, which write produces.
func (z *torchZip) entry(name string, size int64, write func(*countWriter) error) error {
	// Where the local header starts: what zw flushed, plus the previous
	// entry's descriptor, which zw writes when this entry is created.
	if err := z.zw.Flush(); err != nil {
		return err
	}
	off := z.cw.n
	if z.prev != nil {
		off += descriptorLen(z.prev)
	}
	fh := &zip.FileHeader{
		Name: name, Method: zip.Store, Flags: zipFlagDescriptor | zipFlagUTF8, ModifiedDate: zipDate1980,
		CreatorVersion: zipVersion20, ReaderVersion: zipVersion20,
		CompressedSize64: uint64(size), UncompressedSize64: uint64(size),
	}
	if size >= zipMax32 || off >= zipMax32 {
		fh.CreatorVersion, fh.ReaderVersion = zipVersion45, zipVersion45
	}
	dataOff := off + zipLocalHeaderLen + int64(len(name)) + zipExtraHeaderLen
	pad := (zipAlign - dataOff%zipAlign) % zipAlign
	fh.Extra = binary.LittleEndian.AppendUint16(fh.Extra, zipPaddingID)
	fh.Extra = binary.LittleEndian.AppendUint16(fh.Extra, uint16(pad))
	fh.Extra = append(fh.Extra, make([]byte, pad)...)
	w, err := z.zw.CreateRaw(fh)
	if err != nil {
		return err
	}
	// The header out of zw's buffer: the data goes straight to the output
	// (large writes bypass an empty bufio.Writer), starting exactly here.
	if err := z.zw.Flush(); err != nil {
		return err
	}
	if z.cw.n != dataOff+pad {
		return fmt.Errorf("zip entry %q: data at offset %d, want %d (archive/zip's header layout changed?)", name, z.cw.n, dataOff+pad)
	}
	crc := crc32.NewIEEE()
	tee := &countWriter{w: io.MultiWriter(w, crc)}
	if err := write(tee); err != nil {
		return fmt.Errorf("zip entry %q: %w", name, err)
	}
	if tee.n != size {
		return fmt.Errorf("zip entry %q: wrote %d bytes, want %d", name, tee.n, size)
	}
	fh.CRC32 = crc.Sum32()
	fh.Extra = nil // the central directory carries no padding
	z.prev = fh
	return nil
}

// descriptorLen is the size of the data descriptor zip.Writer writes after
// an entry: 64-bit sizes when either size needs them.
func descriptorLen(fh *zip.FileHeader) int64 {
	if fh.CompressedSize64 >= zipMax32 || fh.UncompressedSize64 >= zipMax32 {
		return zipDescriptor64Len
	}
	return zipDescriptorLen
}

// close writes the last descriptor, the central directory and the end
// records (ZIP64 ones when offsets, sizes or the entry count need them).
func (z *torchZip) close() error {
	return z.zw.Close()
}
