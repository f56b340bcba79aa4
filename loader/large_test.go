package loader_test

import (
	"bytes"
	"io"
	"sort"
	"testing"

	"github.com/ditkit/ditkit/core/spec"
	"github.com/ditkit/ditkit/core/tensor"
	"github.com/ditkit/ditkit/loader"
)

// sparseFile is an in-memory file whose long zero runs are holes, so a
// multi-GB checkpoint costs a few MB. Writes of zeroChunk become holes.
type sparseFile struct {
	size int64
	segs []seg // non-zero data, sorted by offset
}

type seg struct {
	off  int64
	data []byte
}

var zeroChunk = make([]byte, 4<<20)

func (s *sparseFile) Write(p []byte) (int, error) {
	if len(p) > 0 && len(p) <= len(zeroChunk) && &p[0] == &zeroChunk[0] {
		s.size += int64(len(p))
		return len(p), nil
	}
	s.segs = append(s.segs, seg{s.size, bytes.Clone(p)})
	s.size += int64(len(p))
	return len(p), nil
}

func (s *sparseFile) ReadAt(p []byte, off int64) (int, error) {
	if off >= s.size {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), s.size-off))
	clear(p[:n])
	i := sort.Search(len(s.segs), func(i int) bool { return s.segs[i].off+int64(len(s.segs[i].data)) > off })
	for ; i < len(s.segs) && s.segs[i].off < off+int64(n); i++ {
		sg := s.segs[i]
		lo := max(sg.off, off)
		hi := min(sg.off+int64(len(sg.data)), off+int64(n))
		copy(p[lo-off:hi-off], sg.data[lo-sg.off:hi-sg.off])
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// zeroSources are the tensors of a preset, all zeros, streamed as holes.
func zeroSources(t testing.TB, preset string, dt tensor.DType) []loader.Source {
	sp, err := spec.Preset(preset)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := sp.Keys()
	if err != nil {
		t.Fatal(err)
	}
	var out []loader.Source
	for _, k := range keys {
		nb, _ := tensor.NBytes(dt, k.Shape)
		out = append(out, loader.Source{Name: k.Name, DType: dt, Shape: k.Shape, WriteTo: func(w io.Writer) error {
			for left := nb; left > 0; {
				m := min(left, int64(len(zeroChunk)))
				if _, err := w.Write(zeroChunk[:m]); err != nil {
					return err
				}
				left -= m
			}
			return nil
		}})
	}
	return out
}

// A 2.7 GB DiT-XL/2 checkpoint is inspected by reading its metadata only:
// under 1 MiB plus the pickle.
func TestLargeCheckpointReadsOnlyMetadata(t *testing.T) {
	if testing.Short() {
		t.Skip("writes a 2.7 GB virtual file")
	}
	srcs := zeroSources(t, "DiT-XL_2_256", tensor.F32)
	for _, format := range []string{"pt", "safetensors"} {
		f := &sparseFile{}
		var err error
		if format == "pt" {
			err = loader.WriteTorch(f, srcs, loader.TorchOptions{Archive: "DiT-XL-2-256x256"})
		} else {
			err = loader.WriteSafetensors(f, srcs, nil)
		}
		if err != nil {
			t.Fatal(err)
		}
		if f.size < 2_600_000_000 {
			t.Fatalf("virtual file is only %d bytes", f.size)
		}
		cr := &countingReader{r: f}
		ck, err := loader.Open(cr, f.size, "DiT-XL-2-256x256."+format)
		if err != nil {
			t.Fatal(err)
		}
		if len(ck.Tensors) != len(srcs) {
			t.Fatalf("%d tensors, want %d", len(ck.Tensors), len(srcs))
		}
		meta := int64(0) // the pickle / header size
		for _, sg := range f.segs {
			meta = max(meta, int64(len(sg.data)))
		}
		read := cr.bytes.Load()
		t.Logf("%s: %d-byte file, metadata %d bytes, read %d bytes in %d calls", format, f.size, meta, read, cr.calls.Load())
		if read > 1<<20+meta {
			t.Errorf("%s: read %d bytes to inspect a %d-byte file (limit %d)", format, read, f.size, 1<<20+meta)
		}
	}
}
