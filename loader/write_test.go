package loader_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
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
	bad := loader.Source{Name: "short", DType: tensor.F32, Shape: []int{4}, WriteTo: func(w io.Writer) error { _, err := w.Write(make([]byte, 8)); return err }}
	if err := loader.WriteSafetensors(io.Discard, []loader.Source{bad}, nil); err == nil || !strings.Contains(err.Error(), "short") {
		t.Errorf("short source: %v", err)
	}
}
