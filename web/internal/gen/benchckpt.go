package main

import (
	"bufio"
	"encoding/binary"
	"flag"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/ditkit/ditkit/core/spec"
	"github.com/ditkit/ditkit/core/tensor"
	"github.com/ditkit/ditkit/loader"
)

// benchCheckpoint is `gen benchckpt -preset P -o OUT`: a full-size
// checkpoint of a preset's shapes with random float32 weights, for
// `build.sh bench_io` (inspect and convert next to torch on a multi-GB
// file). OUT's extension picks .safetensors or a torch .pt.
func benchCheckpoint(args []string) error {
	fs := flag.NewFlagSet("gen benchckpt", flag.ContinueOnError)
	preset := fs.String("preset", "DiT-XL_2_256", "architecture preset")
	out := fs.String("o", "", "output (.pt or .safetensors)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() != 0 {
		return errUsage
	}
	return writeBenchCheckpoint(*preset, *out)
}

func writeBenchCheckpoint(preset, out string) error {
	s, err := spec.Preset(preset)
	if err != nil {
		return err
	}
	keys, err := s.Keys()
	if err != nil {
		return err
	}
	var srcs []loader.Source
	seed := uint64(0x9e3779b97f4a7c15)
	for _, k := range keys {
		k := k
		srcs = append(srcs, loader.Source{Name: k.Name, DType: tensor.F32, Shape: k.Shape, WriteTo: func(w io.Writer) error {
			n, _ := tensor.Numel(k.Shape)
			buf := make([]byte, 0, 1<<20)
			for i := int64(0); i < n; i++ {
				seed ^= seed << 13
				seed ^= seed >> 7
				seed ^= seed << 17
				v := float32(int64(seed>>40)-(1<<23)) / (1 << 23) * 0.02
				buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
				if len(buf) == cap(buf) {
					if _, err := w.Write(buf); err != nil {
						return err
					}
					buf = buf[:0]
				}
			}
			_, err := w.Write(buf)
			return err
		}})
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 8<<20)
	if strings.HasSuffix(out, ".safetensors") {
		err = loader.WriteSafetensors(bw, srcs, map[string]string{"format": "pt"})
	} else {
		stem := strings.TrimSuffix(filepath.Base(out), filepath.Ext(out))
		err = loader.WriteTorch(bw, srcs, loader.TorchOptions{Archive: stem})
	}
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
