package loader

import (
	"encoding/binary"
	"fmt"
	"io"
	"math/big"

	"github.com/ditkit/ditkit/core/tensor"
	"github.com/ditkit/ditkit/loader/format"
	"github.com/ditkit/ditkit/loader/scan"
	"github.com/nlpodyssey/gopickle/types"
)

// legacyMagic is the pickled magic number that opens a pre-1.6 torch.save file.
var legacyMagic = func() *big.Int { v, _ := new(big.Int).SetString("1950a86a20f9469cfc6c", 16); return v }()

// pickleWindow is how much of a legacy stream is read at once while looking
// for a pickle's STOP opcode; it doubles up to scan.MaxPickleBytes.
const pickleWindow = 64 << 10

// openLegacy reads a pre-1.6 torch.save stream: magic, protocol, sys_info,
// the object pickle, the storage key list, then each storage as an 8-byte
// element count followed by its bytes.
func openLegacy(r io.ReaderAt, size int64, name string) (*Checkpoint, error) {
	ck := &Checkpoint{Format: FormatTorchLegacy, Pickle: &PickleReport{}}
	u := &unpickler{file: name, legacy: true}
	pos := int64(0)
	ps := &pickleStream{r: r, size: size, file: name}
	var last []byte // the most recent pickle's bytes
	next := func(label string) (any, error) {
		data, err := ps.next(pos, label, ck.Pickle)
		if err != nil {
			return nil, err
		}
		last = data
		v, err := u.unpickle(data, label)
		pos += int64(len(data))
		return v, err
	}
	magic, err := next("magic number")
	if err != nil {
		return nil, err
	}
	if m, ok := magic.(*big.Int); !ok || m.Cmp(legacyMagic) != 0 {
		return nil, ferr(name, ErrFormat, "offset 0", "a pickle, but not a torch.save file (no legacy magic number); plain pickles are not checkpoints")
	}
	proto, err := next("protocol version")
	if err != nil {
		return nil, err
	}
	if p, err := toInt64(proto); err != nil || p != 1001 {
		return nil, ferr(name, ErrUnsupported, fmt.Sprintf("offset %d", pos), "legacy protocol version %s (want 1001)", short(proto))
	}
	sysInfo, err := next("sys_info")
	if err != nil {
		return nil, err
	}
	if d, ok := sysInfo.(*types.Dict); ok {
		if le, ok := d.Get("little_endian"); ok && le == false {
			return nil, ferr(name, ErrUnsupported, "sys_info", "big-endian checkpoints are not supported")
		}
	}
	objStart := pos
	obj, err := next("object")
	ck.HeaderSHA256 = sha256Hex(last)
	if err != nil {
		return nil, err
	}
	keysV, err := next("storage keys")
	if err != nil {
		return nil, err
	}
	keysL, ok := keysV.(*types.List)
	if !ok {
		return nil, ferr(name, ErrCorrupt, fmt.Sprintf("offset %d", objStart), "storage key list is %T, not a list", keysV)
	}
	// Element size of each storage comes from the object pickle's persistent ids.
	byKey := map[string]*storageRef{}
	for _, ref := range u.refs {
		k := ref.key
		if _, ok := byKey[k]; !ok {
			byKey[k] = ref
		}
	}
	storages := map[string]*Storage{}
	for _, kv := range *keysL {
		key := keyString(kv)
		ref := byKey[key]
		if ref == nil {
			return nil, ferr(name, ErrCorrupt, fmt.Sprintf("offset %d", pos), "storage %q is listed but no tensor uses it", key)
		}
		var cnt [8]byte
		if n, _ := r.ReadAt(cnt[:], pos); n < 8 {
			return nil, ferr(name, ErrTruncated, fmt.Sprintf("offset %d", pos), "storage %q: element count missing", key)
		}
		numel := int64(binary.LittleEndian.Uint64(cnt[:]))
		es := int64(ref.class.dtype.Size())
		if numel < 0 || numel > (size-pos-8)/max(es, 1) {
			return nil, ferr(name, ErrTruncated, fmt.Sprintf("offset %d", pos), "storage %q declares %d elements of %v, more than the file holds", key, numel, ref.class.dtype)
		}
		if numel != ref.numel && ref.view == nil {
			return nil, ferr(name, ErrCorrupt, fmt.Sprintf("offset %d", pos), "storage %q: the pickle declares %d elements, the data %d", key, ref.numel, numel)
		}
		storages[key] = &Storage{Key: key, DType: ref.class.dtype, Off: pos + 8, Size: numel * es}
		pos += 8 + numel*es
	}
	if pos < size {
		ck.Notes = append(ck.Notes, fmt.Sprintf("%d bytes after the last storage (offset %d) are ignored", size-pos, pos))
	}
	bind := func(ref *storageRef, dt tensor.DType) (*Storage, error) {
		if ref.view != nil { // old-style storage view: a window of a root storage
			root := storages[ref.view.key]
			if root == nil {
				return nil, fmt.Errorf("storage view of missing storage %q", ref.view.key)
			}
			es := int64(dt.Size())
			if ref.view.offset > root.Size/es || ref.view.size > root.Size/es-ref.view.offset {
				return nil, fmt.Errorf("storage view [%d, +%d) outside storage %q", ref.view.offset, ref.view.size, ref.view.key)
			}
			return &Storage{Key: ref.view.key, DType: dt, Off: root.Off + ref.view.offset*es, Size: ref.view.size * es}, nil
		}
		st := storages[ref.key]
		if st == nil {
			return nil, fmt.Errorf("storage %q is not in the file's storage list", ref.key)
		}
		return st, nil
	}
	ck.Root = obj
	ck.Tensors, ck.Notes, err = buildTensorsNotes(name, obj, bind, ck.Notes)
	if err != nil {
		return nil, err
	}
	return ck, nil
}

// pickleStream reads consecutive pickles from a ReaderAt, keeping one
// buffer that grows (by appending, never re-reading) until a pickle's STOP
// opcode is found.
type pickleStream struct {
	r        io.ReaderAt
	size     int64
	file     string
	buf      []byte
	bufStart int64
}

// next reads the pickle starting at pos and returns its bytes.
func (p *pickleStream) next(pos int64, label string, rep *PickleReport) ([]byte, error) {
	if pos >= p.size {
		return nil, ferr(p.file, ErrTruncated, fmt.Sprintf("offset %d", pos), "file ends before the %s pickle", label)
	}
	if pos < p.bufStart || pos > p.bufStart+int64(len(p.buf)) {
		p.buf, p.bufStart = nil, pos
	}
	for {
		avail := p.buf[pos-p.bufStart:]
		if len(avail) > 0 {
			probe := &PickleReport{}
			end, err := scan.CheckPickle(avail, p.file, label, pos, probe)
			if err == nil {
				rep.Globals = append(rep.Globals, probe.Globals...)
				rep.Findings = append(rep.Findings, probe.Findings...)
				rep.Protocol = max(rep.Protocol, probe.Protocol)
				return avail[:end], nil
			}
			if !format.IsTruncation(err) || p.bufStart+int64(len(p.buf)) >= p.size {
				return nil, err
			}
		}
		if int64(len(avail)) >= scan.MaxPickleBytes {
			return nil, ferr(p.file, ErrLimit, fmt.Sprintf("offset %d", pos), "%s pickle is larger than %d bytes", label, scan.MaxPickleBytes)
		}
		grow := min(max(int64(pickleWindow), int64(len(p.buf))), p.size-p.bufStart-int64(len(p.buf)))
		old := len(p.buf)
		p.buf = append(p.buf, make([]byte, grow)...)
		if got, err := p.r.ReadAt(p.buf[old:], p.bufStart+int64(old)); int64(got) < grow {
			return nil, ferr(p.file, ErrTruncated, fmt.Sprintf("offset %d", p.bufStart+int64(old)), "read %s pickle: %v", label, err)
		}
	}
}
