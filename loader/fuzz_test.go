package loader_test

import (
	"bytes"
	"errors"
	"math/rand"
	"os"
	"testing"
	"time"

	"github.com/ditkit/ditkit/loader"
	"github.com/ditkit/ditkit/loader/fixtures"
)

// smallFixtures are the seed corpus: one file per format.
var smallFixtures = []string{"dit_A/ckpt_plain.pt", "dit_A/ckpt_legacy.pt", "dit_A/ckpt.safetensors", "dit_A/ckpt_bf16.safetensors", "dit_A/ckpt_fp16.pt"}

// openAll opens data and reads every tensor; it must return an error or
// succeed, never panic.
func openAll(data []byte) error {
	ck, err := loader.Open(bytesReaderAt(data), int64(len(data)), "fuzz.bin")
	if err != nil {
		var fe *loader.FormatError
		if !errors.As(err, &fe) {
			return errors.New("error is not a FormatError: " + err.Error())
		}
		return nil
	}
	for _, t := range ck.Tensors {
		if _, err := ck.ReadTensor(t); err != nil {
			return nil
		}
	}
	return nil
}

func FuzzOpen(f *testing.F) {
	for _, rel := range smallFixtures {
		b, err := os.ReadFile(fixtures.Path(f, rel))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := openAll(data); err != nil {
			t.Fatal(err)
		}
	})
}

// Seeded random mutations of each format: never a panic, never a hang,
// always a FormatError when the file is rejected.
func TestMutationSweep(t *testing.T) {
	n := 300
	if testing.Short() {
		n = 50
	}
	r := rand.New(rand.NewSource(42))
	for _, rel := range smallFixtures {
		orig, err := os.ReadFile(fixtures.Path(t, rel))
		if err != nil {
			t.Fatal(err)
		}
		// Mutations concentrate on the metadata: headers, pickle, directory.
		for i := 0; i < n; i++ {
			b := bytes.Clone(orig)
			k := 1 + r.Intn(8)
			for j := 0; j < k; j++ {
				var pos int
				switch r.Intn(3) {
				case 0:
					pos = r.Intn(min(len(b), 4096))
				case 1:
					pos = len(b) - 1 - r.Intn(min(len(b), 8192))
				default:
					pos = r.Intn(len(b))
				}
				b[pos] = byte(r.Intn(256))
			}
			start := time.Now()
			if err := openAll(b); err != nil {
				t.Fatalf("%s mutation %d: %v", rel, i, err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Fatalf("%s mutation %d took %v", rel, i, d)
			}
		}
	}
}

// Every truncation point of the metadata region is rejected or read cleanly.
func TestTruncationSweep(t *testing.T) {
	for _, rel := range smallFixtures {
		orig, err := os.ReadFile(fixtures.Path(t, rel))
		if err != nil {
			t.Fatal(err)
		}
		step := 1
		if testing.Short() {
			step = 97
		}
		for cut := 0; cut < len(orig); cut += step {
			if cut > 8192 && cut < len(orig)-8192 && cut%509 != 0 {
				continue // the data region in the middle is sampled, the edges exhaustively
			}
			if err := openAll(orig[:cut]); err != nil {
				t.Fatalf("%s cut at %d: %v", rel, cut, err)
			}
		}
	}
}
