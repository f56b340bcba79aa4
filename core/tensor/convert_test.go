package tensor

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand"
	"testing"
)

// refRound rounds a float64 (exactly representing a float32) to the nearest
// binary16 value with ties to even, by brute force over the f16 grid.
func refF16(f float32) uint16 {
	x := float64(f)
	if math.IsNaN(x) {
		return 0x7e00
	}
	sign := uint16(0)
	if math.Signbit(x) {
		sign = 0x8000
		x = -x
	}
	if x >= 65520 { // halfway between 65504 and 2^16 rounds up to inf
		return sign | 0x7c00
	}
	// binary search the monotone f16 grid of non-negative finite values
	lo, hi := uint16(0), uint16(0x7bff)
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if float64(F16ToF32(mid)) <= x {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	below := lo
	if float64(F16ToF32(below)) == x || below == 0x7bff {
		return sign | below
	}
	above := below + 1
	db, da := x-float64(F16ToF32(below)), float64(F16ToF32(above))-x
	switch {
	case db < da:
		return sign | below
	case da < db:
		return sign | above
	case below&1 == 0:
		return sign | below
	}
	return sign | above
}

func TestF16RoundTripExhaustive(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		f := F16ToF32(uint16(h))
		if math.IsNaN(float64(f)) {
			if F32ToF16(f)&0x7c00 != 0x7c00 || F32ToF16(f)&0x3ff == 0 {
				t.Fatalf("NaN %04x did not stay NaN", h)
			}
			continue
		}
		if got := F32ToF16(f); got != uint16(h) {
			t.Fatalf("%04x → %v → %04x", h, f, got)
		}
	}
}

func TestF32ToF16MatchesReferenceRounding(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	vals := []float32{0, -0, 1, 65504, 65519.996, 65520, -65520, 1e-8, 5.96e-8, 2.98e-8, 2.9802322e-08, 6.1e-5, 6.097555e-05, float32(math.Inf(1)), float32(math.Inf(-1)), 3.0517578e-05}
	for i := 0; i < 200000; i++ {
		bits := r.Uint32()
		// bias exponents towards the f16 range, including subnormals
		e := uint32(100 + r.Intn(45))
		bits = bits&0x807fffff | e<<23
		vals = append(vals, math.Float32frombits(bits))
	}
	// exact ties around subnormal and normal values
	for h := uint16(0); h < 0x7bff; h += 7 {
		a, b := float64(F16ToF32(h)), float64(F16ToF32(h+1))
		vals = append(vals, float32((a+b)/2))
	}
	for _, v := range vals {
		if got, want := F32ToF16(v), refF16(v); got != want {
			t.Fatalf("F32ToF16(%g = %08x) = %04x, want %04x", v, math.Float32bits(v), got, want)
		}
	}
}

func TestBF16Rounding(t *testing.T) {
	cases := []struct {
		in   uint32
		want uint16
	}{
		{0x3f800000, 0x3f80}, // 1
		{0x3f808000, 0x3f80}, // tie, even stays
		{0x3f818000, 0x3f82}, // tie, odd rounds up
		{0x3f808001, 0x3f81}, // above tie
		{0x7f7fffff, 0x7f80}, // max float rounds to inf
		{0xff800000, 0xff80}, // -inf
		{0x7fc00001, 0x7fc0}, // NaN canonical
		{0xffc00000, 0x7fc0}, // negative NaN: torch gives 0x7FC0
		{0x00000001, 0x0000}, // tiny subnormal
		{0x80000000, 0x8000}, // -0
	}
	for _, c := range cases {
		if got := F32ToBF16(math.Float32frombits(c.in)); got != c.want {
			t.Errorf("F32ToBF16(%08x) = %04x, want %04x", c.in, got, c.want)
		}
	}
	for h := 0; h < 1<<16; h++ {
		f := BF16ToF32(uint16(h))
		if math.IsNaN(float64(f)) {
			continue
		}
		if got := F32ToBF16(f); got != uint16(h) {
			t.Fatalf("bf16 %04x round trip gave %04x", h, got)
		}
	}
}

func TestCastRefusesIntegers(t *testing.T) {
	if err := Cast(I64, F32, make([]byte, 8), make([]byte, 4)); err == nil {
		t.Fatal("casting I64 must be refused")
	}
	if err := Cast(F32, BF16, make([]byte, 8), make([]byte, 2)); err == nil {
		t.Fatal("length mismatch must be refused")
	}
}

func TestShapes(t *testing.T) {
	if _, err := Numel([]int{1 << 40, 1 << 40}); err == nil {
		t.Fatal("overflow not caught")
	}
	if n, _ := NBytes(BF16, []int{3, 4}); n != 24 {
		t.Fatalf("NBytes = %d", n)
	}
	s, err := ParseShape("torch.Size([1152, 4, 1, 2, 2])")
	if err != nil || FormatShape(s) != "[1152, 4, 1, 2, 2]" {
		t.Fatalf("ParseShape: %v %v", s, err)
	}
	if s, err := ParseShape("[]"); err != nil || len(s) != 0 {
		t.Fatalf("scalar shape: %v %v", s, err)
	}
	for _, name := range []string{"F32", "float32", "torch.bfloat16", "bf16", "half"} {
		if _, err := ParseDType(name); err != nil {
			t.Errorf("ParseDType(%q): %v", name, err)
		}
	}
}

// The word-view fast path and the byte-by-byte path agree, aligned or not.
func TestCastAlignedAndMisaligned(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	n := 1000
	buf := make([]byte, 4*n+1)
	for i := range buf {
		buf[i] = byte(r.Intn(256))
	}
	a := make([]byte, 2*n)
	b := make([]byte, 2*n+1)
	if err := Cast(F32, BF16, buf[:4*n], a); err != nil { // aligned
		t.Fatal(err)
	}
	src := make([]byte, 4*n+1)
	copy(src[1:], buf[:4*n])
	if err := Cast(F32, BF16, src[1:], b[1:]); err != nil { // misaligned
		t.Fatal(err)
	}
	if !bytes.Equal(a, b[1:]) {
		t.Fatal("aligned and misaligned casts differ")
	}
	for i := 0; i < n; i++ {
		want := F32ToBF16(math.Float32frombits(binary.LittleEndian.Uint32(buf[4*i:])))
		if got := binary.LittleEndian.Uint16(a[2*i:]); got != want {
			t.Fatalf("element %d: %04x, want %04x", i, got, want)
		}
	}
}
