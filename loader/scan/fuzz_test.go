package scan_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ditkit/ditkit/loader/format"
	"github.com/ditkit/ditkit/loader/pickletest"
	"github.com/ditkit/ditkit/loader/scan"
)

// FuzzScan: the scanner alone, seeded with the public corpora, the hostile
// corpus, FRAME and amplification pickles and NumPy files. It must answer
// every input with a report or a format error — never a panic (recovered
// or not), and in bounded time.
func FuzzScan(f *testing.F) {
	for _, dir := range []string{"testdata/hostile", "testdata/corpus"} {
		filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && !strings.HasSuffix(p, ".py") && !strings.HasSuffix(p, ".md") && !strings.HasSuffix(p, ".tsv") {
				if b, err := os.ReadFile(p); err == nil && len(b) <= 64<<10 {
					f.Add(b)
				}
			}
			return nil
		})
	}
	f.Add(append(framed([]byte("cmacos\nsystem\n"), 4), '.'))
	f.Add(dupLaughs(4, 3).Stop())
	f.Add(memoLaughs(4, 3).Stop())
	f.Add(npy(objHeader, pickletest.OSSystem(3)))
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := scan.Scan(bytes.NewReader(data), int64(len(data)), "fuzz.bin")
		if err != nil {
			var fe *format.Error
			if !errors.As(err, &fe) || strings.Contains(err.Error(), "malformed input") || strings.Contains(err.Error(), "runtime error") {
				t.Fatalf("error is not a clean FormatError: %v", err)
			}
			return
		}
		if rep.Verdict == "" || rep.Summary == "" || rep.Globals == nil || rep.Findings == nil {
			t.Fatalf("incomplete report: %+v", rep)
		}
	})
}
