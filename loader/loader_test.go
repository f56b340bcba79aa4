package loader_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"sync/atomic"
	"testing"

	"github.com/ditkit/ditkit/core/tensor"
	"github.com/ditkit/ditkit/loader"
	"github.com/ditkit/ditkit/loader/fixtures"
	"github.com/ditkit/ditkit/loader/scan"
)

// countingReader counts the bytes pulled through ReadAt.
type countingReader struct {
	r     io.ReaderAt
	bytes atomic.Int64
	calls atomic.Int64
}

func (c *countingReader) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.bytes.Add(int64(n))
	c.calls.Add(1)
	return n, err
}

func openFixture(t *testing.T, rel string) (*loader.Checkpoint, *countingReader) {
	t.Helper()
	f, err := os.Open(fixtures.Path(t, rel))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	st, _ := f.Stat()
	cr := &countingReader{r: f}
	ck, err := loader.Open(cr, st.Size(), rel)
	if err != nil {
		t.Fatalf("open %s: %v", rel, err)
	}
	return ck, cr
}

// Every fixture: names, dtypes and shapes equal the manifest exactly, in
// order, and every tensor's bytes hash to the manifest's sha256.
func TestFixturesMatchManifests(t *testing.T) {
	cks := fixtures.Checkpoints(t)
	if len(cks) < 10 {
		t.Fatalf("found only %d fixture checkpoints", len(cks))
	}
	for _, rel := range cks {
		t.Run(rel, func(t *testing.T) {
			m := fixtures.ReadManifest(t, rel)
			ck, cr := openFixture(t, rel)
			if len(ck.Tensors) != len(m.Tensors) {
				t.Fatalf("%d tensors, manifest has %d", len(ck.Tensors), len(m.Tensors))
			}
			meta := cr.bytes.Load()
			for i, mt := range m.Tensors {
				got := ck.Tensors[i]
				if got.Name != mt.Name || got.DType.String() != mt.SafeDType || !tensor.EqualShape(got.Shape, mt.Shape) {
					t.Fatalf("tensor %d: got %s %v %v, manifest %s %s %v", i, got.Name, got.DType, got.Shape, mt.Name, mt.SafeDType, mt.Shape)
				}
				b, err := ck.ReadTensor(got)
				if err != nil {
					t.Fatal(err)
				}
				sum := sha256.Sum256(b)
				if hex.EncodeToString(sum[:]) != mt.SHA256 {
					t.Errorf("%s: sha256 mismatch", mt.Name)
				}
			}
			if meta >= m.FileSize && m.FileSize > 64<<10 {
				t.Errorf("opening read %d bytes of a %d-byte file", meta, m.FileSize)
			}
		})
	}
}

func TestWeightsRoot(t *testing.T) {
	cases := map[string]string{
		"dit_A/ckpt_plain.pt":      "",
		"dit_A/ckpt_train.pt":      "ema",
		"dit_A/ckpt_ddp.pt":        "",
		"dit_A/ckpt.safetensors":   "",
		"stdit_tiny/ckpt_plain.pt": "",
	}
	for rel, want := range cases {
		ck, _ := openFixture(t, rel)
		if ck.WeightsRoot != want {
			t.Errorf("%s: weights root %q, want %q", rel, ck.WeightsRoot, want)
		}
	}
	ck, _ := openFixture(t, "dit_A/ckpt_train.pt")
	if len(ck.Alternatives) != 1 || ck.Alternatives[0] != "model" {
		t.Errorf("train alternatives %q, want [model]", ck.Alternatives)
	}
	if n := len(ck.Weights()); n != 32 {
		t.Errorf("train ema weights: %d tensors, want 32", n)
	}
	if ck.Weights()[0].Name != "pos_embed" {
		t.Errorf("weights names keep the root prefix: %q", ck.Weights()[0].Name)
	}
}

func TestSafetyVerdicts(t *testing.T) {
	for rel, want := range map[string]string{
		"dit_A/ckpt_plain.pt":  loader.VerdictSafe,
		"dit_A/ckpt_legacy.pt": loader.VerdictSafe,
		"dit_A/ckpt_train.pt":  loader.VerdictBenign,
		"dit_A/ckpt_bf16.pt":   loader.VerdictSafe,
	} {
		ck, _ := openFixture(t, rel)
		if got := ck.Pickle.Verdict(); got != want {
			t.Errorf("%s: verdict %s, want %s (%+v)", rel, got, want, ck.Pickle.UniqueGlobals())
		}
	}
}

func TestTruncatedFilesFailCleanly(t *testing.T) {
	for _, rel := range []string{"dit_A/ckpt_plain.pt", "dit_A/ckpt_legacy.pt", "dit_A/ckpt.safetensors"} {
		data, err := os.ReadFile(fixtures.Path(t, rel))
		if err != nil {
			t.Fatal(err)
		}
		for _, cut := range []int{0, 1, 7, 8, 9, 100, 1000, len(data) / 2, len(data) - 100, len(data) - 1} {
			b := data[:cut]
			ck, err := loader.Open(bytesReaderAt(b), int64(len(b)), "cut.pt")
			if err == nil {
				// metadata may survive a cut in the data area; reading must then fail
				for _, tt := range ck.Tensors {
					if _, err = ck.ReadTensor(tt); err != nil {
						break
					}
				}
			}
			if err == nil {
				t.Errorf("%s cut at %d: no error", rel, cut)
				continue
			}
			var fe *loader.FormatError
			if !errors.As(err, &fe) {
				t.Errorf("%s cut at %d: error %v is not a FormatError", rel, cut, err)
			}
		}
	}
}

type bytesReaderAt []byte

func (b bytesReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off > int64(len(b)) {
		return 0, io.EOF
	}
	n := copy(p, b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// A safetensors header of 128 + 256k bytes (k < 6) starts the file with
// 0x80 0x0k, which is also how a pickle starts (PROTO k): Open reads it as
// safetensors, as Scan does (FuzzRoundTripSafetensors found it).
func TestSafetensorsHeaderLookingLikePickleProto(t *testing.T) {
	for _, hl := range []int{0x80, 0x180, 0x580} {
		hdr := []byte(`{"a":{"dtype":"U8","shape":[3],"data_offsets":[0,3]}}`)
		hdr = append(hdr, bytes.Repeat([]byte(" "), hl-len(hdr))...)
		b := binary.LittleEndian.AppendUint64(nil, uint64(hl))
		b = append(append(b, hdr...), 7, 8, 9)
		ck, err := loader.Open(bytes.NewReader(b), int64(len(b)), "proto-like.safetensors")
		if err != nil {
			t.Fatalf("header length %#x: %v", hl, err)
		}
		if ck.Format != loader.FormatSafetensors || len(ck.Tensors) != 1 {
			t.Fatalf("header length %#x: format %s, %d tensors", hl, ck.Format, len(ck.Tensors))
		}
		rep, err := scan.Scan(bytes.NewReader(b), int64(len(b)), "proto-like.safetensors")
		if err != nil || rep.Format != loader.FormatSafetensors {
			t.Fatalf("header length %#x: scan %v %+v", hl, err, rep)
		}
	}
}
