package convert

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/ditkit/ditkit/core/tensor"
	"github.com/ditkit/ditkit/loader"
	"github.com/ditkit/ditkit/loader/fixtures"
	"github.com/ditkit/ditkit/loader/report"
)

// Verify passes a faithful output and names the tensor whose bytes
// changed when any one byte of tensor data is flipped (both formats; the
// tensors are verified in pairs, so every position in a pair is hit).
func TestVerifyCatchesChangedBytes(t *testing.T) {
	for _, format := range []string{"safetensors", "pt"} {
		ck, f, err := loader.OpenFile(fixtures.Path(t, "dit_A/ckpt_plain.pt"))
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		rep, err := Run(ck, report.TargetRequest{}, Options{Format: format, DType: tensor.BF16, OutputName: "out." + format}, &out)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		data := out.Bytes()
		if err := Verify(bytes.NewReader(data), int64(len(data)), rep); err != nil {
			t.Fatalf("%s: faithful output failed verification: %v", format, err)
		}
		oc, err := loader.Open(bytes.NewReader(data), int64(len(data)), "out."+format)
		if err != nil {
			t.Fatal(err)
		}
		checked := 0
		for i, tn := range oc.Tensors {
			off, n := tn.Storage.Off+tn.Offset*int64(tn.DType.Size()), tn.NBytes()
			if n == 0 || i%3 != 0 && i != len(oc.Tensors)-1 {
				continue
			}
			at := off + n - 1 - int64(i)%n // a different position in each tensor
			data[at] ^= 0x10
			err := Verify(bytes.NewReader(data), int64(len(data)), rep)
			data[at] ^= 0x10
			if err == nil || !strings.Contains(err.Error(), "differ") || !strings.Contains(err.Error(), tn.Name) {
				t.Fatalf("%s: byte %d of %s flipped: %v", format, at, tn.Name, err)
			}
			checked++
		}
		if checked < 10 {
			t.Fatalf("%s: only %d tensors checked", format, checked)
		}
	}
}

// Tensors larger than the 4 MiB read chunk, paired with shorter ones,
// verify and are caught, including in their last chunk.
func TestVerifyLargeTensors(t *testing.T) {
	sizes := []int{9<<20 + 6, 5 << 20, 3, 4 << 20}
	var srcs []loader.Source
	rep := &report.Convert{Output: "big.safetensors"}
	for i, n := range sizes {
		b := make([]byte, n)
		for j := range b {
			b[j] = byte(j*7 + i)
		}
		name := string(rune('a' + i))
		srcs = append(srcs, loader.BytesSource(name, tensor.U8, []int{n}, b))
		rep.Tensors = append(rep.Tensors, report.Written{Name: name, DType: "U8", Shape: []int{n}, SHA256: sha256hex(b)})
	}
	var out bytes.Buffer
	if err := loader.WriteSafetensors(&out, srcs, nil); err != nil {
		t.Fatal(err)
	}
	data := out.Bytes()
	if err := Verify(bytes.NewReader(data), int64(len(data)), rep); err != nil {
		t.Fatal(err)
	}
	oc, err := loader.Open(bytes.NewReader(data), int64(len(data)), "big.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	for _, tn := range oc.Tensors {
		at := tn.Storage.Off + tn.NBytes() - 1 // the last byte: the last chunk
		data[at] ^= 1
		err := Verify(bytes.NewReader(data), int64(len(data)), rep)
		data[at] ^= 1
		if err == nil || !strings.Contains(err.Error(), "\""+tn.Name+"\"") {
			t.Fatalf("last byte of %s flipped: %v", tn.Name, err)
		}
	}
}

func sha256hex(b []byte) string {
	sum := sha256.Sum256(b) // crypto/sha256: independent of sha256x
	return hex.EncodeToString(sum[:])
}

// With ReadBack (what the CLI does), tensors are re-read while the file
// is written; Verify accepts those the reader finds at the re-read
// range and catches one that read back differently.
func TestConvertReadBackVerification(t *testing.T) {
	defer func(b int) { pipelineBlock = b }(pipelineBlock)
	pipelineBlock = 4096 // the fixture is under 1 MB: many blocks
	for _, format := range []string{"safetensors", "pt"} {
		for _, flip := range []bool{false, true} {
			ck, src, err := loader.OpenFile(fixtures.Path(t, "dit_A/ckpt_plain.pt"))
			if err != nil {
				t.Fatal(err)
			}
			f, err := os.CreateTemp(t.TempDir(), "out")
			if err != nil {
				t.Fatal(err)
			}
			opt := Options{Format: format, DType: tensor.F16, OutputName: "out." + format, ReadBack: f}
			if flip {
				opt.ReadBack = flipReader{f, 20000} // inside an early tensor's data
			}
			rep, err := Run(ck, report.TargetRequest{}, opt, f)
			src.Close()
			if err != nil {
				t.Fatal(err)
			}
			reread := 0
			for _, w := range rep.Tensors {
				if w.ReadBack != nil {
					reread++
				}
			}
			st, _ := f.Stat()
			err = Verify(f, st.Size(), rep)
			f.Close()
			switch {
			case reread == 0:
				t.Fatalf("%s: no tensor was re-read during the write", format)
			case !flip && err != nil:
				t.Fatalf("%s: clean output failed verification: %v", format, err)
			case flip && (err == nil || !strings.Contains(err.Error(), "differ")):
				t.Fatalf("%s: a byte that read back differently passed: %v", format, err)
			}
		}
	}
}

// failingReader fails every read once armed (a file that became
// unreadable after its metadata was read).
type failingReader struct {
	r     io.ReaderAt
	armed bool
}

func (f *failingReader) ReadAt(b []byte, off int64) (int, error) {
	if f.armed {
		return 0, errors.New("device went away")
	}
	return f.r.ReadAt(b, off)
}

// HashTensors (inspect --sha256, verification) returns a read error that
// names the file and the tensor, on both workers, without hanging.
func TestHashTensorsReadError(t *testing.T) {
	b, err := os.ReadFile(fixtures.Path(t, "dit_A/ckpt.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	fr := &failingReader{r: bytes.NewReader(b)}
	ck, err := loader.Open(fr, int64(len(b)), "ckpt.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	fr.armed = true
	_, err = HashTensors(ck, ck.Tensors)
	if err == nil || !strings.Contains(err.Error(), "ckpt.safetensors") || !strings.Contains(err.Error(), "tensor") || !strings.Contains(err.Error(), "device went away") {
		t.Fatalf("read error not reported with file and tensor: %v", err)
	}
}
