package e2e

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ditkit/ditkit/core/spec"
	"github.com/ditkit/ditkit/core/tensor"
	"github.com/ditkit/ditkit/loader"
)

var zeroChunk = make([]byte, 4<<20)

// holeWriter writes to a file, turning writes of zeroChunk into holes, so a
// multi-GB checkpoint costs a few MB of disk.
type holeWriter struct {
	f   *os.File
	off int64
}

func (h *holeWriter) Write(p []byte) (int, error) {
	if len(p) > 0 && len(p) <= len(zeroChunk) && &p[0] == &zeroChunk[0] {
		h.off += int64(len(p))
		return len(p), nil
	}
	n, err := h.f.WriteAt(p, h.off)
	h.off += int64(n)
	return n, err
}

// writeSparse writes preset's tensors (all zeros) as format to path.
func writeSparse(t *testing.T, path, preset, format string) int64 {
	t.Helper()
	sp, err := spec.Preset(preset)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := sp.Keys()
	if err != nil {
		t.Fatal(err)
	}
	var srcs []loader.Source
	for _, k := range keys {
		nb, _ := tensor.NBytes(tensor.F32, k.Shape)
		srcs = append(srcs, loader.Source{Name: k.Name, DType: tensor.F32, Shape: k.Shape, WriteTo: func(w io.Writer) error {
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
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := &holeWriter{f: f}
	if format == "pt" {
		err = loader.WriteTorch(h, srcs, loader.TorchOptions{Archive: "DiT-XL-2-256x256"})
	} else {
		err = loader.WriteSafetensors(h, srcs, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(h.off); err != nil {
		t.Fatal(err)
	}
	return h.off
}

// A 2.7 GB DiT-XL/2 checkpoint dropped on the page shows its report while
// the page reads under 2 MB of it (window.ditkit.stats counts every byte
// read from the user's file).
func TestMultiGBFileReadsOnlyMetadata(t *testing.T) {
	ctx := page(t)
	dir := t.TempDir()
	for _, format := range []string{"pt", "safetensors"} {
		path := filepath.Join(dir, "DiT-XL-2-256x256."+format)
		size := writeSparse(t, path, "DiT-XL_2_256", format)
		if size < 2_600_000_000 {
			t.Fatalf("%s: only %d bytes", path, size)
		}
		before := js[float64](t, ctx, `window.ditkit.stats().bytesRead`)
		drop(t, ctx, path)
		waitJS(t, ctx, `document.querySelector("#report h2")?.textContent === `+quote(filepath.Base(path))+` && document.getElementById("preset")?.value === "DiT-XL_2_256"`, "the report of the "+format+" file")
		read := js[float64](t, ctx, `window.ditkit.stats().bytesRead`) - before
		t.Logf("%s: %d-byte file, report shown after reading %.0f bytes", format, size, read)
		if read >= 2<<20 {
			t.Errorf("%s: read %.0f bytes of a %d-byte file to show the report (limit 2 MiB)", format, read, size)
		}
		if got := text(t, ctx, "#preset-text"); got != "DiT-XL_2_256 (exact match)" {
			t.Errorf("%s: preset %q", format, got)
		}
		// the preview refuses a model that would not fit, with the numbers
		if got := text(t, ctx, "#preview"); !strings.Contains(got, "would not fit") || !strings.Contains(got, "GiB") {
			t.Errorf("%s: preview panel says %q", format, got)
		}
		shot(t, ctx, "report-"+format)
	}
}
