package tensor_test

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ditkit/ditkit/core/tensor"
	"github.com/ditkit/ditkit/loader/fixtures"
)

// readNpy reads a 1-D little-endian .npy array of descr want ("<u4", "|u1")
// and returns its raw data bytes.
func readNpy(t testing.TB, path, want string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 10 || string(b[:6]) != "\x93NUMPY" {
		t.Fatalf("%s: not a .npy file", path)
	}
	var hlen, start int
	switch b[6] {
	case 1:
		hlen, start = int(binary.LittleEndian.Uint16(b[8:])), 10
	case 2, 3:
		hlen, start = int(binary.LittleEndian.Uint32(b[8:])), 12
	default:
		t.Fatalf("%s: npy version %d", path, b[6])
	}
	if start+hlen > len(b) {
		t.Fatalf("%s: header runs past the end", path)
	}
	hdr := string(b[start : start+hlen])
	m := regexp.MustCompile(`'descr':\s*'([^']*)'.*'fortran_order':\s*False.*'shape':\s*\((\d+),\)`).FindStringSubmatch(hdr)
	if m == nil || m[1] != want {
		t.Fatalf("%s: header %q, want a 1-D C-order %s array", path, hdr, want)
	}
	n, _ := strconv.Atoi(m[2])
	data := b[start+hlen:]
	size := map[string]int{"<u4": 4, "|u1": 1}[want]
	if len(data) != n*size {
		t.Fatalf("%s: %d data bytes for %d elements of %s", path, len(data), n, want)
	}
	return data
}

// Every chosen input (specials, every fp8 value and midpoint ±2 ulp, dense
// exponent sweeps, subnormals, random bits) encodes to c10's byte.
func TestFP8EncodeFixtures(t *testing.T) {
	dir := fixtures.Path(t, "gguf_fp8/fp8")
	in := readNpy(t, dir+"/encode_inputs_f32bits.npy", "<u4")
	wantE4 := readNpy(t, dir+"/encode_e4m3fn.npy", "|u1")
	wantE5 := readNpy(t, dir+"/encode_e5m2.npy", "|u1")
	n := len(in) / 4
	if len(wantE4) != n || len(wantE5) != n {
		t.Fatalf("%d inputs, %d/%d outputs", n, len(wantE4), len(wantE5))
	}
	bad := 0
	for i := 0; i < n && bad < 10; i++ {
		u := binary.LittleEndian.Uint32(in[4*i:])
		f := math.Float32frombits(u)
		if g := tensor.F32ToF8E4M3FN(f); g != wantE4[i] {
			t.Errorf("e4m3fn(%08x = %g) = %02x, c10 gives %02x", u, f, g, wantE4[i])
			bad++
		}
		if g := tensor.F32ToF8E5M2(f); g != wantE5[i] {
			t.Errorf("e5m2(%08x = %g) = %02x, c10 gives %02x", u, f, g, wantE5[i])
			bad++
		}
	}
	// The same through Cast (the fast F32 path) and through bf16/f16
	// sources, which c10 widens to f32 exactly first.
	for _, to := range []tensor.DType{tensor.F8_E4M3, tensor.F8_E5M2} {
		want := wantE4
		if to == tensor.F8_E5M2 {
			want = wantE5
		}
		got := make([]byte, n)
		if err := tensor.Cast(tensor.F32, to, in, got); err != nil {
			t.Fatal(err)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("Cast F32→%v element %d (%08x): %02x, want %02x", to, i, binary.LittleEndian.Uint32(in[4*i:]), got[i], want[i])
			}
		}
	}
	for i := 0; i < n; i++ {
		u := binary.LittleEndian.Uint32(in[4*i:])
		h := tensor.F32ToBF16(math.Float32frombits(u))
		src := []byte{byte(h), byte(h >> 8)}
		var got [1]byte
		if err := tensor.Cast(tensor.BF16, tensor.F8_E4M3, src, got[:]); err != nil {
			t.Fatal(err)
		}
		if w := tensor.F32ToF8E4M3FN(tensor.BF16ToF32(h)); got[0] != w {
			t.Fatalf("Cast BF16 %04x → e4m3fn: %02x, want %02x", h, got[0], w)
		}
	}
}

// The decode tables equal c10's fp8*_to_fp32_value for every byte, bit for
// bit (NaN payloads included: ditkit gives the x86 bits on every platform).
func TestFP8DecodeTables(t *testing.T) {
	dir := fixtures.Path(t, "gguf_fp8/fp8")
	for _, c := range []struct {
		file string
		dt   tensor.DType
		dec  func(uint8) float32
	}{
		{"decode_table_e4m3fn.f32bits.bin", tensor.F8_E4M3, tensor.F8E4M3FNToF32},
		{"decode_table_e5m2.f32bits.bin", tensor.F8_E5M2, tensor.F8E5M2ToF32},
	} {
		b, err := os.ReadFile(dir + "/" + c.file)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) != 1024 {
			t.Fatalf("%s: %d bytes", c.file, len(b))
		}
		src := make([]byte, 256)
		for i := range src {
			src[i] = byte(i)
		}
		f32 := make([]byte, 1024)
		if err := tensor.Cast(c.dt, tensor.F32, src, f32); err != nil {
			t.Fatal(err)
		}
		dec := make([]float32, 256)
		if err := tensor.DecodeFloat32(c.dt, src, dec); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 256; i++ {
			want := binary.LittleEndian.Uint32(b[4*i:])
			wf := math.Float32frombits(want)
			got := math.Float32bits(c.dec(uint8(i)))
			if got != want {
				t.Errorf("%v %02x: %08x, c10 gives %08x", c.dt, i, got, want)
			}
			if g := binary.LittleEndian.Uint32(f32[4*i:]); g != want {
				t.Errorf("Cast %v %02x → F32: %08x, want %08x", c.dt, i, g, want)
			}
			if g := math.Float32bits(dec[i]); g != want {
				t.Errorf("DecodeFloat32 %v %02x: %08x, want %08x", c.dt, i, g, want)
			}
			// fp8 → bf16 / f16 is exact (NaN: the canonical NaNs of c10).
			var h [2]byte
			tensor.Cast(c.dt, tensor.BF16, src[i:i+1], h[:])
			if g, w := binary.LittleEndian.Uint16(h[:]), tensor.F32ToBF16(wf); g != w || (!math.IsNaN(float64(wf)) && tensor.BF16ToF32(g) != wf) {
				t.Errorf("Cast %v %02x → BF16: %04x, want %04x", c.dt, i, g, w)
			}
			tensor.Cast(c.dt, tensor.F16, src[i:i+1], h[:])
			if g := binary.LittleEndian.Uint16(h[:]); g != tensor.F32ToF16(wf) || (!math.IsNaN(float64(wf)) && tensor.F16ToF32(g) != wf) {
				t.Errorf("Cast %v %02x → F16: %04x, want exact %g", c.dt, i, g, wf)
			}
			// Every finite fp8 value encodes back to itself (±0 included).
			if !math.IsNaN(float64(wf)) && !math.IsInf(float64(wf), 0) {
				enc := tensor.F32ToF8E4M3FN
				if c.dt == tensor.F8_E5M2 {
					enc = tensor.F32ToF8E5M2
				}
				if e := enc(wf); e != uint8(i) {
					t.Errorf("%v: %02x decodes to %g, which encodes to %02x", c.dt, i, wf, e)
				}
			}
		}
	}
}

const (
	fnvBasis = 0xcbf29ce484222325
	fnvPrime = 0x100000001b3
)

// fp8Exhaustive hashes the 2^32-byte streams enc(bits=u), u = 0 … 2^32−1,
// for both formats. Workers encode pieces of the input space on every core;
// one goroutine folds them, in order, into the two FNV-1a chains (the
// chain is serial; the two formats' chains run side by side).
func fp8Exhaustive() (e4, e5 uint64) {
	const piece = 1 << 20
	const pieces = (1 << 32) / piece
	workers := max(1, runtime.GOMAXPROCS(0))
	type buf struct{ a, b []byte }
	outs := make([]chan buf, workers)
	free := make(chan buf, 2*workers+2)
	for range cap(free) {
		free <- buf{make([]byte, piece), make([]byte, piece)}
	}
	for w := range workers {
		outs[w] = make(chan buf, 1)
		go func() {
			for p := w; p < pieces; p += workers {
				bf := <-free
				u := uint32(p) * piece
				a, b := bf.a[:piece], bf.b[:piece]
				for i := range a {
					f := math.Float32frombits(u + uint32(i))
					a[i] = tensor.F32ToF8E4M3FN(f)
					b[i] = tensor.F32ToF8E5M2(f)
				}
				outs[w] <- bf
			}
		}()
	}
	ha, hb := uint64(fnvBasis), uint64(fnvBasis)
	for p := 0; p < pieces; p++ {
		bf := <-outs[p%workers]
		a, b := bf.a[:piece], bf.b[:piece]
		for i := range a {
			ha = (ha ^ uint64(a[i])) * fnvPrime
			hb = (hb ^ uint64(b[i])) * fnvPrime
		}
		free <- bf
	}
	return ha, hb
}

// fp8ChunkHashes gives the per-chunk hashes (chunk = u>>24) the fixture
// lists, to say where a mismatch lies.
func fp8ChunkHashes(enc func(float32) uint8) [256]uint64 {
	var out [256]uint64
	var wg sync.WaitGroup
	next := make(chan int, 256)
	for c := range 256 {
		next <- c
	}
	close(next)
	for range max(1, runtime.GOMAXPROCS(0)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range next {
				h := uint64(fnvBasis)
				for i := uint32(0); i < 1<<24; i++ {
					h = (h ^ uint64(enc(math.Float32frombits(uint32(c)<<24|i)))) * fnvPrime
				}
				out[c] = h
			}
		}()
	}
	wg.Wait()
	return out
}

// Every one of the 2^32 float32 inputs encodes as c10 does, in both fp8
// formats: the FNV-1a 64 of the whole encoding stream equals the fixture's.
// About 15 s on 2 cores (skipped with -short and under the race detector;
// run alone: go test ./core/tensor -run FP8Exhaustive).
func TestFP8ExhaustiveChecksum(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the exhaustive fp8 checksum encodes 2×2^32 values")
	}
	if raceEnabled {
		t.Skip("race detector: the exhaustive fp8 checksum is run without -race")
	}
	var want map[string]struct {
		FNV    string   `json:"fnv1a64"`
		Chunks []string `json:"chunks_by_top_byte"`
	}
	b, err := os.ReadFile(fixtures.Path(t, "gguf_fp8/fp8/exhaustive_fnv1a64.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	e4, e5 := fp8Exhaustive()
	t.Logf("2×2^32 encodes hashed in %v", time.Since(start).Round(time.Millisecond))
	for _, c := range []struct {
		name string
		got  uint64
		enc  func(float32) uint8
	}{{"e4m3fn", e4, tensor.F32ToF8E4M3FN}, {"e5m2", e5, tensor.F32ToF8E5M2}} {
		w := want[c.name]
		if fmt.Sprintf("%016x", c.got) == w.FNV {
			continue
		}
		t.Errorf("%s: FNV-1a 64 of all 2^32 encodings is %016x, c10 gives %s", c.name, c.got, w.FNV)
		chunks := fp8ChunkHashes(c.enc)
		for i, h := range chunks {
			if i < len(w.Chunks) && fmt.Sprintf("%016x", h) != w.Chunks[i] {
				t.Errorf("%s: first differing chunk: inputs %08x…%08x", c.name, uint32(i)<<24, uint32(i)<<24|0xffffff)
				break
			}
		}
	}
}

// BenchmarkCastFP8 reports GB/s of f32 for F32 → fp8 and fp8 → F32/BF16.
func BenchmarkCastFP8(b *testing.B) {
	n := 1 << 20
	src := make([]byte, 4*n)
	for i := 0; i < n; i++ {
		binary.LittleEndian.PutUint32(src[4*i:], math.Float32bits(float32(i%1000-500)/37))
	}
	f8 := make([]byte, n)
	back := make([]byte, 4*n)
	for _, dt := range []tensor.DType{tensor.F8_E4M3, tensor.F8_E5M2} {
		b.Run("F32→"+dt.String(), func(b *testing.B) {
			b.SetBytes(int64(4 * n))
			for b.Loop() {
				tensor.Cast(tensor.F32, dt, src, f8)
			}
		})
		b.Run(dt.String()+"→F32", func(b *testing.B) {
			b.SetBytes(int64(4 * n))
			for b.Loop() {
				tensor.Cast(dt, tensor.F32, f8, back)
			}
		})
		b.Run(dt.String()+"→BF16", func(b *testing.B) {
			b.SetBytes(int64(2 * n))
			for b.Loop() {
				tensor.Cast(dt, tensor.BF16, f8, back[:2*n])
			}
		})
	}
}
