package loader_test

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/ditkit/ditkit/core/fix"
	"github.com/ditkit/ditkit/core/tensor"
	"github.com/ditkit/ditkit/loader"
	"github.com/ditkit/ditkit/loader/fixtures"
)

// sourcesOf streams every tensor of a checkpoint, floats cast to dt when
// valid, as convert does (core/fix data through a RangeReader).
func sourcesOf(ck *loader.Checkpoint, dt tensor.DType) []loader.Source {
	rr := loader.NewRangeReader(ck, ck.Tensors)
	var out []loader.Source
	for _, t := range ck.Tensors {
		ft := fix.Tensor{Name: t.Name, DType: t.DType, Shape: t.Shape, Data: fix.Src{Name: t.Name, N: t.NBytes()}}
		if dt != tensor.Invalid && t.DType.IsFloat() && t.DType != dt {
			ft.Data, ft.DType = fix.Cast{In: ft.Data, From: t.DType, To: dt}, dt
		}
		out = append(out, loader.FixSource(ft, rr))
	}
	return out
}

func reopen(t *testing.T, b []byte, name string) *loader.Checkpoint {
	t.Helper()
	ck, err := loader.Open(bytesReaderAt(b), int64(len(b)), name)
	if err != nil {
		t.Fatalf("reopen %s: %v", name, err)
	}
	return ck
}

// Writing every fixture to both formats and reading it back reproduces the
// manifest's names, shapes, dtypes and sha256 — and torch's casts.
func TestWritersRoundTrip(t *testing.T) {
	for _, rel := range fixtures.Checkpoints(t) {
		m := fixtures.ReadManifest(t, rel)
		ck, _ := openFixture(t, rel)
		for _, cast := range []struct {
			dt   tensor.DType
			name string
		}{{tensor.Invalid, ""}, {tensor.BF16, "bfloat16"}, {tensor.F16, "float16"}} {
			for _, format := range []string{"safetensors", "pt"} {
				var buf bytes.Buffer
				var err error
				if format == "safetensors" {
					err = loader.WriteSafetensors(&buf, sourcesOf(ck, cast.dt), map[string]string{"format": "pt"})
				} else {
					err = loader.WriteTorch(&buf, sourcesOf(ck, cast.dt), loader.TorchOptions{Archive: "out"})
				}
				if err != nil {
					t.Fatalf("%s → %s: %v", rel, format, err)
				}
				out := reopen(t, buf.Bytes(), rel+"."+format)
				if len(out.Tensors) != len(m.Tensors) {
					t.Fatalf("%s → %s: %d tensors", rel, format, len(out.Tensors))
				}
				byName := map[string]*loader.Tensor{}
				for _, tt := range out.Tensors {
					byName[tt.Name] = tt
				}
				for i, mt := range m.Tensors {
					got := byName[mt.Name]
					if got == nil || !tensor.EqualShape(got.Shape, mt.Shape) {
						t.Fatalf("%s → %s: tensor %s missing or misshaped", rel, format, mt.Name)
					}
					if format == "pt" && out.Tensors[i].Name != mt.Name {
						t.Fatalf("%s → pt: order differs at %d", rel, i)
					}
					data, err := out.ReadTensor(got)
					if err != nil {
						t.Fatal(err)
					}
					sum := sha256.Sum256(data)
					want := mt.SHA256
					if cast.dt != tensor.Invalid && ck.Tensors[i].DType.IsFloat() {
						want = mt.CastSHA256[cast.name]
					}
					if hex.EncodeToString(sum[:]) != want {
						t.Errorf("%s → %s (%s): %s bytes differ", rel, format, cast.name, mt.Name)
					}
				}
				if format == "pt" && out.Pickle.Verdict() != loader.VerdictSafe {
					t.Errorf("written .pt is not weights_only-safe: %v", out.Pickle.UniqueGlobals())
				}
			}
		}
	}
}

func TestSafetensorsLayout(t *testing.T) {
	ck, _ := openFixture(t, "dit_A/ckpt_bf16.safetensors")
	var buf bytes.Buffer
	srcs := sourcesOf(ck, tensor.Invalid)
	srcs = append(srcs, loader.BytesSource("zz_step", tensor.I64, []int{}, make([]byte, 8)))
	if err := loader.WriteSafetensors(&buf, srcs, map[string]string{"format": "pt", "note": "<a&b>"}); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	n := int(b[0]) | int(b[1])<<8 | int(b[2])<<16
	if (8+n)%8 != 0 || !strings.HasPrefix(string(b[8:]), `{"__metadata__":{"format":"pt","note":"<a&b>"}`) {
		t.Fatalf("header layout: %q", b[8:80])
	}
	out := reopen(t, b, "x.safetensors")
	if out.Tensors[0].Name != "zz_step" || out.Tensors[0].DType != tensor.I64 {
		t.Errorf("8-byte dtype must come first, got %s", out.Tensors[0].Name)
	}
	for i := 2; i < len(out.Tensors); i++ {
		if out.Tensors[i-1].Name > out.Tensors[i].Name {
			t.Errorf("names not sorted within a dtype: %s > %s", out.Tensors[i-1].Name, out.Tensors[i].Name)
		}
	}
}

func TestTorchWrapAndAlignment(t *testing.T) {
	ck, _ := openFixture(t, "dit_A/ckpt_plain.pt")
	var buf bytes.Buffer
	if err := loader.WriteTorch(&buf, sourcesOf(ck, tensor.Invalid), loader.TorchOptions{Archive: "fixed", Wrap: "ema"}); err != nil {
		t.Fatal(err)
	}
	out := reopen(t, buf.Bytes(), "wrapped.pt")
	if out.WeightsRoot != "ema" || out.Tensors[0].Name != "ema/pos_embed" {
		t.Fatalf("wrap: root %q first %q", out.WeightsRoot, out.Tensors[0].Name)
	}
	for _, tt := range out.Tensors {
		if tt.Storage.Off%64 != 0 {
			t.Fatalf("%s data at offset %d is not 64-byte aligned", tt.Name, tt.Storage.Off)
		}
	}
}

type failWriter struct{ left int }

var errDiskFull = errors.New("no space left on device")

func (f *failWriter) Write(p []byte) (int, error) {
	if len(p) > f.left {
		n := f.left
		f.left = 0
		return n, errDiskFull
	}
	f.left -= len(p)
	return len(p), nil
}

func TestWritersReportFailingWriter(t *testing.T) {
	ck, _ := openFixture(t, "dit_A/ckpt_plain.pt")
	for _, lim := range []int{0, 10, 5000, 300000} {
		if err := loader.WriteSafetensors(&failWriter{left: lim}, sourcesOf(ck, tensor.Invalid), nil); !errors.Is(err, errDiskFull) {
			t.Errorf("safetensors with writer failing at %d: %v", lim, err)
		}
		if err := loader.WriteTorch(&failWriter{left: lim}, sourcesOf(ck, tensor.Invalid), loader.TorchOptions{}); !errors.Is(err, errDiskFull) {
			t.Errorf("torch with writer failing at %d: %v", lim, err)
		}
	}
	// Every cut point of a small file: the header, each entry, the
	// descriptors, the central directory and the end records.
	for _, format := range []string{"safetensors", "pt"} {
		write := func(w io.Writer) error {
			if format == "pt" {
				return loader.WriteTorch(w, tinySources(), loader.TorchOptions{Wrap: "ema"})
			}
			return loader.WriteSafetensors(w, tinySources(), nil)
		}
		var full bytes.Buffer
		if err := write(&full); err != nil {
			t.Fatal(err)
		}
		for lim := range full.Len() {
			if err := write(&failWriter{left: lim}); !errors.Is(err, errDiskFull) {
				t.Fatalf("%s with writer failing at byte %d of %d: %v", format, lim, full.Len(), err)
			}
		}
	}
	// A name JSON cannot hold is refused, not replaced with U+FFFD.
	odd := loader.BytesSource("blocks.\xff.w", tensor.U8, []int{1}, []byte{1})
	if err := loader.WriteSafetensors(io.Discard, []loader.Source{odd}, nil); err == nil || !strings.Contains(err.Error(), `"blocks.\xff.w"`) || !strings.Contains(err.Error(), "UTF-8") {
		t.Errorf("invalid UTF-8 name: %v", err)
	}
	bad := loader.Source{Name: "short", DType: tensor.F32, Shape: []int{4}, WriteTo: func(w io.Writer) error { _, err := w.Write(make([]byte, 8)); return err }}
	if err := loader.WriteSafetensors(io.Discard, []loader.Source{bad}, nil); err == nil || !strings.Contains(err.Error(), "short") {
		t.Errorf("short source: %v", err)
	}
}

// zipEntries opens a written .pt with archive/zip's reader and checks the
// layout torch writes: stored entries in torch.save's order, data on
// 64-byte boundaries, sizes and CRC in data descriptors, no extra fields
// in the central directory. It returns the entries by name.
func zipEntries(t *testing.T, r io.ReaderAt, size int64, root string, n int) map[string]*zip.File {
	t.Helper()
	zr, err := zip.NewReader(r, size)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{root + "/data.pkl", root + "/byteorder"}
	for i := range n {
		want = append(want, root+"/data/"+strconv.Itoa(i))
	}
	want = append(want, root+"/version")
	if len(zr.File) != len(want) {
		t.Fatalf("%d entries, want %d", len(zr.File), len(want))
	}
	out := map[string]*zip.File{}
	for i, f := range zr.File {
		off, err := f.DataOffset()
		switch {
		case err != nil:
			t.Fatal(err)
		case f.Name != want[i]:
			t.Fatalf("entry %d is %q, want %q", i, f.Name, want[i])
		case f.Method != zip.Store || f.Flags&0x8 == 0 || f.CompressedSize64 != f.UncompressedSize64:
			t.Fatalf("%s: method %d flags %#x sizes %d/%d: want stored, sizes in a data descriptor", f.Name, f.Method, f.Flags, f.CompressedSize64, f.UncompressedSize64)
		case off%64 != 0:
			t.Fatalf("%s: data at offset %d is not 64-byte aligned", f.Name, off)
		case len(f.Extra) != 0 && f.UncompressedSize64 < 1<<32-1 && off < 1<<32-1:
			t.Fatalf("%s: central directory extra %x (torch writes none)", f.Name, f.Extra)
		}
		out[f.Name] = f
	}
	return out
}

// readEntry reads a zip entry to its end, which makes archive/zip check
// the CRC and the data descriptor.
func readEntry(t *testing.T, f *zip.File) []byte {
	t.Helper()
	rc, err := f.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("%s: %v", f.Name, err)
	}
	return b
}

// WriteTorch's zip (archive/zip with CRCs set once the data is written)
// reads back with archive/zip: right bytes, CRCs and descriptors, and
// torch's layout.
func TestTorchZipReadsBackWithArchiveZip(t *testing.T) {
	var srcs []loader.Source
	var datas [][]byte
	for i, n := range []int{0, 1, 63, 64, 65, 4095, 4096, 70001} {
		b := make([]byte, n)
		for j := range b {
			b[j] = byte(i*31 + j*7)
		}
		datas = append(datas, b)
		srcs = append(srcs, loader.BytesSource("t"+strconv.Itoa(i), tensor.U8, []int{n}, b))
	}
	var buf bytes.Buffer
	if err := loader.WriteTorch(&buf, srcs, loader.TorchOptions{Archive: "ünï"}); err != nil {
		t.Fatal(err)
	}
	files := zipEntries(t, bytes.NewReader(buf.Bytes()), int64(buf.Len()), "ünï", len(srcs))
	for i, want := range datas {
		if got := readEntry(t, files["ünï/data/"+strconv.Itoa(i)]); !bytes.Equal(got, want) {
			t.Fatalf("data/%d: %d bytes differ", i, len(want))
		}
	}
	if got := string(readEntry(t, files["ünï/version"])); got != "3\n" {
		t.Fatalf("version %q", got)
	}
	if files["ünï/data.pkl"].NonUTF8 {
		t.Fatal("names not flagged UTF-8")
	}
}

// Past 4 GiB: a tensor over 4 GiB (ZIP64 sizes: 24-byte descriptor and a
// ZIP64 central record) followed by one whose offset needs ZIP64, on a
// sparse in-memory file.
func TestTorchZip64(t *testing.T) {
	if testing.Short() {
		t.Skip("streams a 4 GiB virtual tensor")
	}
	const big = 1<<32 + 100
	srcs := []loader.Source{
		{Name: "big", DType: tensor.U8, Shape: []int{big}, WriteTo: func(w io.Writer) error {
			for left := int64(big); left > 0; {
				m := min(left, int64(len(zeroChunk)))
				if _, err := w.Write(zeroChunk[:m]); err != nil {
					return err
				}
				left -= m
			}
			return nil
		}},
		loader.BytesSource("after", tensor.U8, []int{5}, []byte("tail!")),
	}
	f := &sparseFile{}
	if err := loader.WriteTorch(f, srcs, loader.TorchOptions{Archive: "z64"}); err != nil {
		t.Fatal(err)
	}
	files := zipEntries(t, f, f.size, "z64", 2)
	if got := files["z64/data/0"].UncompressedSize64; got != big {
		t.Fatalf("big entry size %d, want %d", got, big)
	}
	if off, _ := files["z64/data/1"].DataOffset(); off < 1<<32 {
		t.Fatalf("data/1 at %d: not past 4 GiB", off)
	}
	if got := string(readEntry(t, files["z64/data/1"])); got != "tail!" {
		t.Fatalf("data/1 = %q", got)
	}
	ck, err := loader.Open(f, f.size, "z64.pt")
	if err != nil {
		t.Fatal(err)
	}
	if b, err := ck.ReadTensor(ck.Tensor("after")); err != nil || string(b) != "tail!" {
		t.Fatalf("after = %q, %v", b, err)
	}
	if tb := ck.Tensor("big"); tb == nil || tb.NBytes() != big {
		t.Fatalf("big tensor: %+v", tb)
	}
}
