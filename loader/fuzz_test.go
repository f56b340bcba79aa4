package loader_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ditkit/ditkit/core/tensor"
	"github.com/ditkit/ditkit/loader"
	"github.com/ditkit/ditkit/loader/fixtures"
	"github.com/ditkit/ditkit/loader/format"
	"github.com/ditkit/ditkit/loader/pickletest"
	"github.com/ditkit/ditkit/loader/scan"
)

// smallFixtures are the seed corpus: one file per format.
var smallFixtures = []string{"dit_A/ckpt_plain.pt", "dit_A/ckpt_legacy.pt", "dit_A/ckpt.safetensors", "dit_A/ckpt_bf16.safetensors", "dit_A/ckpt_fp16.pt"}

// checkErr accepts only FormatErrors that do not come from a recovered
// panic (a runtime error inside a reader is a crasher even when recovered).
func checkErr(what string, err error) error {
	if err == nil {
		return nil
	}
	var fe *loader.FormatError
	if !errors.As(err, &fe) {
		return fmt.Errorf("%s: error is not a FormatError: %v", what, err)
	}
	if strings.Contains(err.Error(), "runtime error") || strings.Contains(err.Error(), "failed on malformed input") {
		return fmt.Errorf("%s: recovered panic: %v", what, err)
	}
	if err.Error() == "" {
		return fmt.Errorf("%s: empty message", what)
	}
	return nil
}

// openAll opens data and reads every tensor, then scans it; each must
// return an error or succeed, never panic.
func openAll(data []byte) error {
	ck, err := loader.Open(bytesReaderAt(data), int64(len(data)), "fuzz.bin")
	if err := checkErr("open", err); err != nil {
		return err
	}
	if err == nil {
		for _, t := range ck.Tensors {
			if _, err := ck.ReadTensor(t); err != nil {
				break
			}
		}
	}
	rep, err := scan.Scan(bytesReaderAt(data), int64(len(data)), "fuzz.bin")
	if err := checkErr("scan", err); err != nil {
		return err
	}
	if err == nil && rep.Verdict == "" {
		return errors.New("scan: empty verdict")
	}
	if ck != nil && rep != nil && ck.Pickle.Verdict() != rep.Verdict && ck.Format != loader.FormatSafetensors {
		return fmt.Errorf("open's verdict %s differs from scan's %s", ck.Pickle.Verdict(), rep.Verdict)
	}
	return nil
}

func tinySources() []loader.Source {
	return []loader.Source{
		loader.BytesSource("a.weight", tensor.F32, []int{2, 3}, []byte("0123456789abcdefghijklmn")),
		loader.BytesSource("a.bias", tensor.F16, []int{3}, []byte("xyzxyz")),
	}
}

func tinyTorch(t testing.TB) []byte {
	var b bytes.Buffer
	if err := loader.WriteTorch(&b, tinySources(), loader.TorchOptions{Wrap: "ema"}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func tinySafetensors(t testing.TB) []byte {
	var b bytes.Buffer
	if err := loader.WriteSafetensors(&b, tinySources(), map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// tinyLegacy is a pre-1.6 torch.save stream of one 2×2 float tensor.
func tinyLegacy() []byte {
	obj := pickletest.NewP(2).Op('}').Str("w").Global("torch._utils", "_rebuild_tensor_v2").Op('(')
	obj.Op('(').Str("storage").Global("torch", "FloatStorage").Str("0").Str("cpu").Op('K', 4, 'N', 't', 'Q')
	obj.Op('K', 0, 'K', 2, 'K', 2, 0x86, 'K', 2, 'K', 1, 0x86, 0x89).Global("collections", "OrderedDict").Op(')', 'R', 't', 'R', 's')
	keys := pickletest.NewP(2).Op(']').Str("0").Op('a').Stop()
	b := pickletest.LegacyStream(pickletest.SysInfo(), obj.Stop())
	b = b[:len(b)-4] // drop the empty key list
	b = append(b, keys...)
	b = append(b, 4, 0, 0, 0, 0, 0, 0, 0)
	return append(b, make([]byte, 16)...)
}

func tinyPickle() []byte {
	return pickletest.NewP(2).Global("collections", "OrderedDict").Op(')', 'R').Str("k").Op('K', 1, 's').Stop()
}

// hostileDir is the scanner's committed hostile corpus.
var hostileDir = filepath.Join("scan", "testdata", "hostile")

func addHostileSeeds(f *testing.F, match func(name string, b []byte) bool) {
	des, _ := os.ReadDir(hostileDir)
	for _, d := range des {
		b, err := os.ReadFile(filepath.Join(hostileDir, d.Name()))
		if err == nil && match(d.Name(), b) {
			f.Add(b)
		}
	}
}

func fuzzBody(t *testing.T, data []byte) {
	if err := openAll(data); err != nil {
		t.Fatal(err)
	}
}

func FuzzOpen(f *testing.F) {
	for _, rel := range smallFixtures {
		b, err := os.ReadFile(fixtures.Path(f, rel))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(fuzzBody)
}

// FuzzPickleScan: bare pickles, including every hostile pickle.
func FuzzPickleScan(f *testing.F) {
	f.Add(tinyPickle())
	f.Add([]byte("cos\nsystem\n(S'x'\ntR."))
	addHostileSeeds(f, func(name string, b []byte) bool { return strings.HasSuffix(name, ".pkl") })
	f.Fuzz(fuzzBody)
}

// FuzzTorchZip: small torch.save zips and the hostile zips.
func FuzzTorchZip(f *testing.F) {
	f.Add(tinyTorch(f))
	addHostileSeeds(f, func(name string, b []byte) bool { return bytes.HasPrefix(b, []byte("PK")) && len(b) < 4096 })
	f.Fuzz(fuzzBody)
}

// FuzzLegacy: pre-1.6 streams and tars.
func FuzzLegacy(f *testing.F) {
	f.Add(tinyLegacy())
	addHostileSeeds(f, func(name string, b []byte) bool {
		return strings.HasPrefix(name, "legacy_") || strings.HasPrefix(name, "polyglot_")
	})
	f.Fuzz(fuzzBody)
}

// FuzzSafetensors: small safetensors files.
func FuzzSafetensors(f *testing.F) {
	f.Add(tinySafetensors(f))
	f.Add(append(tinySafetensors(f), tinyPickle()...))
	f.Fuzz(fuzzBody)
}

// The tiny seeds are what they claim to be.
func TestTinySeeds(t *testing.T) {
	for name, b := range map[string][]byte{"zip": tinyTorch(t), "legacy": tinyLegacy(), "safetensors": tinySafetensors(t)} {
		ck, err := loader.Open(bytesReaderAt(b), int64(len(b)), name)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(ck.Tensors) == 0 || ck.Pickle.Verdict() != loader.VerdictSafe {
			t.Errorf("%s: %d tensors, verdict %s", name, len(ck.Tensors), ck.Pickle.Verdict())
		}
		for _, tt := range ck.Tensors {
			if _, err := ck.ReadTensor(tt); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
	}
	rep, err := scan.Scan(bytesReaderAt(tinyPickle()), int64(len(tinyPickle())), "p")
	if err != nil || rep.Verdict != loader.VerdictSafe || rep.Format != format.Pickle {
		t.Errorf("pickle: %v %+v", err, rep)
	}
}

// sweepSeeds are small files of every format: mutations of them reach
// every structure quickly.
func sweepSeeds(t *testing.T) map[string][]byte {
	m := map[string][]byte{"tiny.zip": tinyTorch(t), "tiny.legacy": tinyLegacy(), "tiny.safetensors": tinySafetensors(t), "tiny.pkl": tinyPickle()}
	for _, h := range []string{"polyglot_legacy_tar.pt", "zip_deflated_data_pkl.pt", "nested_load_from_bytes_zip.pt", "proto4_frame_stackglobal.pkl"} {
		b, err := os.ReadFile(filepath.Join(hostileDir, h))
		if err != nil {
			t.Fatal(err)
		}
		m[h] = b
	}
	return m
}

func timed(t *testing.T, what string, b []byte) {
	t.Helper()
	start := time.Now()
	if err := openAll(b); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if d := time.Since(start); d > hangGuard {
		// keep the input for a reproduction, under a name no other run clobbers
		kept := "(not kept)"
		if f, err := os.CreateTemp("", "ditkit-slow-*.bin"); err == nil {
			f.Write(b)
			f.Close()
			kept = f.Name()
		}
		t.Fatalf("%s took %v (input kept at %s)", what, d, kept)
	}
}

func mutate(r *rand.Rand, orig []byte) []byte {
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
		switch r.Intn(4) {
		case 0: // interesting values
			b[pos] = []byte{0, 0xff, 0x7f, 0x80, '.', '(', 'R', 0x93, 'P', 'K'}[r.Intn(10)]
		default:
			b[pos] = byte(r.Intn(256))
		}
	}
	return b
}

// Seeded random mutations of each format: never a panic, never a hang,
// always a FormatError when the file is rejected; Open and Scan agree.
func TestMutationSweep(t *testing.T) {
	n, nSmall := 300, 2000
	if testing.Short() {
		n, nSmall = 30, 300
	}
	r := rand.New(rand.NewSource(42))
	for _, rel := range smallFixtures {
		orig, err := os.ReadFile(fixtures.Path(t, rel))
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < n; i++ {
			timed(t, fmt.Sprintf("%s mutation %d", rel, i), mutate(r, orig))
		}
	}
	seeds := sweepSeeds(t)
	for _, name := range sortedNames(seeds) {
		orig := seeds[name]
		for i := 0; i < nSmall; i++ {
			timed(t, fmt.Sprintf("%s mutation %d", name, i), mutate(r, orig))
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
			timed(t, fmt.Sprintf("%s cut at %d", rel, cut), orig[:cut])
		}
	}
	seeds := sweepSeeds(t)
	for _, name := range sortedNames(seeds) {
		orig := seeds[name]
		for cut := 0; cut < len(orig); cut++ {
			timed(t, fmt.Sprintf("%s cut at %d", name, cut), orig[:cut])
		}
	}
}

func sortedNames(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// FuzzRoundTripSafetensors is a property, not only "no panic": whatever
// opens and reads back is written to safetensors and opens again with the
// same names, dtypes, shapes and bytes. The seeds are the fixtures' small
// checkpoints (every format torch writes) and the tiny seeds.
func FuzzRoundTripSafetensors(f *testing.F) {
	for _, rel := range smallFixtures {
		b, err := os.ReadFile(fixtures.Path(f, rel))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(tinyTorch(f))
	f.Add(tinyLegacy())
	f.Add(tinySafetensors(f))
	f.Fuzz(func(t *testing.T, data []byte) {
		ck, err := loader.Open(bytesReaderAt(data), int64(len(data)), "fuzz.bin")
		if err != nil {
			return // FuzzOpen checks the errors
		}
		var srcs []loader.Source
		want := map[string][]byte{}
		total := 0
		for _, tt := range ck.Tensors {
			b, err := ck.ReadTensor(tt)
			if err != nil {
				return // data that does not read back is not a round trip
			}
			if total += len(b); total > 64<<20 {
				return
			}
			srcs = append(srcs, loader.BytesSource(tt.Name, tt.DType, tt.Shape, b))
			want[tt.Name] = b
		}
		var out bytes.Buffer
		if err := loader.WriteSafetensors(&out, srcs, nil); err != nil {
			// Only what safetensors cannot hold may be refused, by name.
			for _, ok := range []string{"duplicate name", "cannot be written to safetensors", "__metadata__", "not valid UTF-8"} {
				if strings.Contains(err.Error(), ok) {
					return
				}
			}
			t.Fatalf("write: %v", err)
		}
		back, err := loader.Open(bytesReaderAt(out.Bytes()), int64(out.Len()), "roundtrip.safetensors")
		if err != nil {
			t.Fatalf("re-open what was written: %v", err)
		}
		if len(back.Tensors) != len(ck.Tensors) {
			t.Fatalf("%d tensors written, %d read back", len(ck.Tensors), len(back.Tensors))
		}
		for _, tt := range ck.Tensors {
			bt := back.Tensor(tt.Name)
			if bt == nil {
				t.Fatalf("tensor %q lost", tt.Name)
			}
			if bt.DType != tt.DType || !tensor.EqualShape(bt.Shape, tt.Shape) {
				t.Fatalf("tensor %q: %v %v read back as %v %v", tt.Name, tt.DType, tt.Shape, bt.DType, bt.Shape)
			}
			b, err := back.ReadTensor(bt)
			if err != nil {
				t.Fatalf("tensor %q: %v", tt.Name, err)
			}
			if !bytes.Equal(b, want[tt.Name]) {
				t.Fatalf("tensor %q: bytes differ", tt.Name)
			}
		}
	})
}

// hangGuard catches a reader that loops or blows up on damaged input. It
// is not a speed target (those live in benchmarks): a damaged file takes
// milliseconds, and the margin covers a loaded CI machine.
const hangGuard = 30 * time.Second
