package tensor

import (
	"encoding/binary"
	"fmt"
	"math"
	"runtime"
	"sync"
	"testing"
)

// The vector casts (AVX2 / F16C where the CPU has them) equal the scalar
// torch-exact roundings on every one of the 2^32 float32 bit patterns.
func TestVectorCastsExhaustive(t *testing.T) {
	if !vectorCasts {
		t.Skip("no vector cast on this CPU/architecture: Cast runs the scalar loops tested elsewhere")
	}
	const chunk = 1 << 20
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var fails []string
	next := make(chan uint64)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			src := make([]byte, 4*chunk)
			b16 := make([]byte, 2*chunk)
			h16 := make([]byte, 2*chunk)
			for start := range next {
				for i := 0; i < chunk; i++ {
					binary.LittleEndian.PutUint32(src[4*i:], uint32(start)+uint32(i))
				}
				if err := Cast(F32, BF16, src, b16); err != nil {
					panic(err)
				}
				if err := Cast(F32, F16, src, h16); err != nil {
					panic(err)
				}
				for i := 0; i < chunk; i++ {
					f := math.Float32frombits(uint32(start) + uint32(i))
					gb, gh := binary.LittleEndian.Uint16(b16[2*i:]), binary.LittleEndian.Uint16(h16[2*i:])
					if wb, wh := F32ToBF16(f), F32ToF16(f); gb != wb || gh != wh {
						mu.Lock()
						if len(fails) < 10 {
							fails = append(fails, fmt.Sprintf("%08x: bf16 %04x want %04x, f16 %04x want %04x", uint32(start)+uint32(i), gb, wb, gh, wh))
						}
						mu.Unlock()
					}
				}
			}
		}()
	}
	stride := uint64(chunk)
	if testing.Short() {
		stride *= 61 // a sample of whole chunks, every exponent touched
	}
	for s := uint64(0); s < 1<<32; s += stride {
		next <- s
	}
	if testing.Short() { // and every NaN and infinity, both signs
		for s := uint64(0x7f800000); s < 0x80000000; s += chunk {
			next <- s
			next <- s | 0x80000000
		}
	}
	close(next)
	wg.Wait()
	for _, f := range fails {
		t.Error(f)
	}
}

// Every length and offset takes the vector loop for the bulk and the scalar
// loop for the tail: results agree with the scalar functions.
func TestVectorCastTails(t *testing.T) {
	for n := 0; n < 70; n++ {
		for off := 0; off < 3; off++ {
			src := make([]byte, 4*n+off)
			for i := 0; i < n; i++ {
				binary.LittleEndian.PutUint32(src[off+4*i:], 0x3f808000+uint32(i)*0x10001|uint32(i%5)<<31)
			}
			if n > 3 {
				binary.LittleEndian.PutUint32(src[off+4*3:], 0xffc01234) // NaNs with payloads and signs
			}
			if n > 20 {
				binary.LittleEndian.PutUint32(src[off+4*20:], 0x7fffe001)
			}
			for _, dt := range []DType{BF16, F16} {
				dst := make([]byte, 2*n+off)
				if err := Cast(F32, dt, src[off:], dst[off:]); err != nil {
					t.Fatal(err)
				}
				for i := 0; i < n; i++ {
					f := math.Float32frombits(binary.LittleEndian.Uint32(src[off+4*i:]))
					want := F32ToBF16(f)
					if dt == F16 {
						want = F32ToF16(f)
					}
					if got := binary.LittleEndian.Uint16(dst[off+2*i:]); got != want {
						t.Fatalf("n=%d off=%d %v element %d: %04x, want %04x", n, off, dt, i, got, want)
					}
				}
			}
		}
	}
}
