package loader

import (
	"archive/zip"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/ditkit/ditkit/core/tensor"
	"github.com/ditkit/ditkit/loader/scan"
)

// openTorchZip reads a torch.save zip: the central directory, data.pkl, and
// the offsets of the storage entries. No storage bytes are read.
func openTorchZip(r io.ReaderAt, size int64, name string) (*Checkpoint, error) {
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, ferr(name, ErrCorrupt, "zip", "cannot read the zip central directory: %v", err)
	}
	if len(zr.File) > scan.MaxZipEntries {
		return nil, ferr(name, ErrLimit, "zip", "%d entries exceed the limit of %d", len(zr.File), scan.MaxZipEntries)
	}
	var pkl *zip.File
	entries := map[string]*zip.File{}
	var notes []string
	torchScript := false
	for _, f := range zr.File {
		if _, dup := entries[f.Name]; dup {
			notes = append(notes, fmt.Sprintf("zip entry %q appears twice; readers may disagree on which one counts", f.Name))
		}
		entries[f.Name] = f
		base := path.Base(f.Name)
		if base == "data.pkl" && strings.Count(f.Name, "/") == 1 {
			if pkl == nil {
				pkl = f
			}
		}
		if base == "constants.pkl" || strings.Contains(f.Name, "/code/") {
			torchScript = true
		}
	}
	if pkl == nil {
		if torchScript {
			return nil, ferr(name, ErrUnsupported, "zip", "this is a TorchScript archive (torch.jit.save), not a torch.save checkpoint")
		}
		return nil, ferr(name, ErrFormat, "zip", "no <root>/data.pkl entry: not a PyTorch checkpoint zip")
	}
	root := strings.TrimSuffix(pkl.Name, "data.pkl")
	if torchScript {
		notes = append(notes, "archive also holds TorchScript code (constants.pkl or code/)")
	}
	if bo, ok := entries[root+"byteorder"]; ok {
		b, err := readSmallEntry(bo, 16)
		if err == nil && strings.TrimSpace(string(b)) == "big" {
			return nil, ferr(name, ErrUnsupported, "entry "+bo.Name, "big-endian checkpoints are not supported")
		}
	}
	data, err := readPickleEntry(pkl, name)
	if err != nil {
		return nil, err
	}
	ck := &Checkpoint{Format: FormatTorchZip, Pickle: &PickleReport{}, Notes: notes, HeaderSHA256: sha256Hex(data)}
	n, err := scan.CheckPickle(data, name, pkl.Name, 0, ck.Pickle)
	if err != nil {
		return nil, err
	}
	if n < len(data) {
		ck.Notes = append(ck.Notes, fmt.Sprintf("%d bytes after the STOP opcode of %s", len(data)-n, pkl.Name))
	}
	u := &unpickler{file: name}
	obj, err := u.unpickle(data[:n], pkl.Name)
	if err != nil {
		return nil, err
	}
	ck.Root = obj
	storages := map[string]*Storage{}
	bind := func(ref *storageRef, dt tensor.DType) (*Storage, error) {
		if st, ok := storages[ref.key]; ok {
			if st.DType.Size() != dt.Size() && !ref.class.untyped {
				return nil, fmt.Errorf("storage %q viewed as both %v and %v", ref.key, st.DType, dt)
			}
			return st, nil
		}
		f := entries[root+"data/"+ref.key]
		if f == nil {
			return nil, fmt.Errorf("storage %q: zip entry %q is missing", ref.key, root+"data/"+ref.key)
		}
		if f.Method != zip.Store {
			return nil, fmt.Errorf("storage %q: zip entry %q is compressed (method %d); torch.save never compresses, refusing to inflate it", ref.key, f.Name, f.Method)
		}
		off, err := f.DataOffset()
		if err != nil {
			return nil, fmt.Errorf("storage %q: %v", ref.key, err)
		}
		sz := int64(f.UncompressedSize64)
		if int64(f.CompressedSize64) != sz || sz < 0 || off < 0 || off > size || sz > size-off {
			return nil, fmt.Errorf("storage %q: entry %q claims %d bytes at offset %d, beyond the %d-byte file", ref.key, f.Name, sz, off, size)
		}
		es := int64(dt.Size())
		if ref.class.untyped {
			if ref.numel != sz {
				return nil, fmt.Errorf("storage %q: declares %d bytes but its entry holds %d", ref.key, ref.numel, sz)
			}
		} else if ref.numel > sz/max(es, 1) || ref.numel*es != sz {
			return nil, fmt.Errorf("storage %q: declares %d elements of %v (%d bytes) but its entry holds %d bytes", ref.key, ref.numel, dt, ref.numel*es, sz)
		}
		st := &Storage{Key: ref.key, DType: dt, Off: off, Size: sz}
		storages[ref.key] = st
		return st, nil
	}
	ck.Tensors, ck.Notes, err = buildTensorsNotes(name, obj, bind, ck.Notes)
	if err != nil {
		return nil, err
	}
	return ck, nil
}

func buildTensorsNotes(name string, obj any, bind func(*storageRef, tensor.DType) (*Storage, error), notes []string) ([]*Tensor, []string, error) {
	ts, n, err := buildTensors(name, obj, bind)
	return ts, append(notes, n...), err
}

func readSmallEntry(f *zip.File, limit int64) ([]byte, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(io.LimitReader(rc, limit))
}

// readPickleEntry reads data.pkl, refusing sizes past the limits.
func readPickleEntry(f *zip.File, name string) ([]byte, error) {
	where := "entry " + f.Name
	if int64(f.UncompressedSize64) > scan.MaxPickleBytes || f.UncompressedSize64 > 1<<62 {
		return nil, ferr(name, ErrLimit, where, "pickle of %d bytes exceeds the limit of %d", f.UncompressedSize64, scan.MaxPickleBytes)
	}
	limit := scan.MaxPickleBytes
	if f.Method != zip.Store {
		limit = scan.MaxPickleInflate
	}
	rc, err := f.Open()
	if err != nil {
		return nil, ferr(name, ErrCorrupt, where, "%v", err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, ferr(name, ErrCorrupt, where, "%v", err)
	}
	if int64(len(data)) > limit {
		return nil, ferr(name, ErrLimit, where, "pickle inflates past %d bytes", limit)
	}
	return data, nil
}
