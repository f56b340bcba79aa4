package quant

import (
	"fmt"

	"github.com/ditkit/ditkit/core/tensor"
)

// Stored is a tensor in the quantized form a checkpoint stores it in, for
// code that keeps it that way in memory (core/dit's weights): ggml blocks
// (a GGUF Q8_0, Q4_K … tensor) or fp8 elements with their scales.
type Stored struct {
	Shape []int // torch order (GGUF shapes as restored)
	// Type is the ggml block type (Type.Quantized()) of a GGUF tensor;
	// unused (0) for fp8.
	Type Type
	// FP8 is F8_E4M3 or F8_E5M2 for an fp8 tensor; Invalid for ggml blocks.
	FP8 tensor.DType
	// Data holds the blocks (element i is element i%BlockSize of block
	// i/BlockSize, in row-major order of Shape), or one fp8 byte per element.
	Data []byte
	// Scale is an fp8 tensor's weight scale (dequantized = fp8 value ×
	// scale, in f32): nil (1), one value, or one per row (Shape[0]).
	Scale []float32
}

// StoredSource is a tensor.Source that hands out quantized tensors in
// their stored form (loader.Checkpoint: GGUF blocks, fp8 with scales).
type StoredSource interface {
	tensor.Source
	// ReadStored returns the named tensor as stored when it is quantized
	// (a ggml block type, or fp8), or (nil, nil) when it is stored as a
	// plain dtype or absent: Read it then.
	ReadStored(name string) (*Stored, error)
}

// Numel is the element count of s.Shape.
func (s *Stored) Numel() int64 { n, _ := tensor.Numel(s.Shape); return n }

// Format names the storage: the ggml type ("Q8_0"), or the fp8 dtype with
// "scaled" when it has a scale ("F8_E4M3 scaled").
func (s *Stored) Format() string {
	if s.FP8 != tensor.Invalid {
		if s.Scale != nil {
			return s.FP8.String() + " scaled"
		}
		return s.FP8.String()
	}
	return s.Type.String()
}

// Check validates s: a ggml block type ditkit dequantizes with the bytes
// of whole blocks, or fp8 with one byte per element and its scales.
func (s *Stored) Check() error {
	n, err := tensor.Numel(s.Shape)
	if err != nil {
		return err
	}
	if s.FP8 != tensor.Invalid {
		if s.FP8 != tensor.F8_E4M3 && s.FP8 != tensor.F8_E5M2 {
			return fmt.Errorf("stored %v is not an fp8 type", s.FP8)
		}
		if int64(len(s.Data)) != n {
			return fmt.Errorf("%d fp8 bytes for shape %v", len(s.Data), s.Shape)
		}
		if len(s.Scale) > 1 && (len(s.Shape) == 0 || len(s.Scale) != s.Shape[0]) {
			return fmt.Errorf("%d scales for shape %v: want one, or one per row", len(s.Scale), s.Shape)
		}
		return nil
	}
	if !s.Type.Quantized() || !s.Type.CanDequantize() {
		return fmt.Errorf("ggml type %v is not a block type ditkit dequantizes", s.Type)
	}
	nb, err := s.Type.Bytes(n)
	if err != nil {
		return err
	}
	if int64(len(s.Data)) != nb {
		return fmt.Errorf("%d bytes of %v for shape %v, want %d", len(s.Data), s.Type, s.Shape, nb)
	}
	return nil
}

// Dequantizer returns t's dequantization of whole blocks (src holds
// len(dst)/BlockSize blocks), bit for bit as Dequantize, without its
// checks: for callers that dequantize many small runs of a validated
// tensor. Nil when t cannot be dequantized.
func (t Type) Dequantizer() func(src []byte, dst []float32) { return dequantizers[t] }

// Q4KScales writes the eight (d·scale, dmin·min) pairs of the Q4_K block
// b (144 bytes) into dm, as its dequantization computes them: group j of
// 32 elements is x = dm[2j]·q − dm[2j+1].
func Q4KScales(b []byte, dm *[16]float32) {
	d, min := half(b), half(b[2:])
	for j := 0; j < 8; j++ {
		sc, m := scaleMinK4(j, b[4:16])
		dm[2*j], dm[2*j+1] = d*float32(sc), min*float32(m)
	}
}
