package convert

import (
	"bytes"
	"io"
	"math/rand"
	"strconv"
	"testing"

	"github.com/ditkit/ditkit/core/tensor"
	"github.com/ditkit/ditkit/loader"
	"github.com/ditkit/ditkit/loader/report"
)

// BenchmarkConvertBF16 converts 256 MB of fp32 tensors (an in-memory
// safetensors file) to bf16 with hashing, writing to io.Discard: the
// CPU side of `ditkit convert` (build.sh bench_io times the whole thing on
// a 2.7 GB file, disk included, next to torch). MB/s are of input.
func BenchmarkConvertBF16(b *testing.B) {
	r := rand.New(rand.NewSource(1))
	var srcs []loader.Source
	for i := 0; i < 64; i++ {
		data := make([]byte, 4<<20)
		r.Read(data)
		srcs = append(srcs, loader.BytesSource("blocks."+strconv.Itoa(i)+".weight", tensor.F32, []int{1024, 1024}, data))
	}
	var file bytes.Buffer
	if err := loader.WriteSafetensors(&file, srcs, nil); err != nil {
		b.Fatal(err)
	}
	in := file.Bytes()
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		ck, err := loader.Open(bytes.NewReader(in), int64(len(in)), "bench.safetensors")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Run(ck, report.TargetRequest{}, Options{Format: "safetensors", DType: tensor.BF16, OutputName: "out.safetensors"}, io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
