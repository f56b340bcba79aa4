// Package quant holds ggml's tensor types (the element and block formats
// GGUF files store) and their conversions to and from float32:
// dequantization bit-exact with ggml's dequantize_row_* and quantization
// bit-exact with quantize_row_*_ref (github.com/ggml-org/ggml, src/
// ggml-quants.c and ggml-common.h, read as reference; this is our own
// code). It also recognises the "scaled fp8" checkpoint layouts and
// dequantizes them as ComfyUI does.
//
// Floating-point note: ggml's reference is compiled without fused
// multiply-add (gcc -ffp-contract=off), and the Go specification allows an
// implementation to fuse x*y+z on some architectures (arm64, not amd64).
// Every product that feeds an addition here is wrapped in an explicit
// float32() conversion, which the specification says prevents fusion.
package quant

import (
	"fmt"
	"strings"

	"github.com/ditkit/ditkit/core/tensor"
)

// Type is a ggml tensor type id, as GGUF tensor infos store it.
type Type uint32

// ggml's type ids (ggml.h; GGML_TYPE_COUNT = 43 at the pinned commit).
// Ids 4, 5 (Q4_2, Q4_3), 31–33 (Q4_0_4_4 …) and 36–38 (IQ4_NL_4_4 …) were
// removed from ggml and are refused.
const (
	F32     Type = 0
	F16     Type = 1
	Q4_0    Type = 2
	Q4_1    Type = 3
	Q5_0    Type = 6
	Q5_1    Type = 7
	Q8_0    Type = 8
	Q8_1    Type = 9
	Q2_K    Type = 10
	Q3_K    Type = 11
	Q4_K    Type = 12
	Q5_K    Type = 13
	Q6_K    Type = 14
	Q8_K    Type = 15
	IQ2_XXS Type = 16
	IQ2_XS  Type = 17
	IQ3_XXS Type = 18
	IQ1_S   Type = 19
	IQ4_NL  Type = 20
	IQ3_S   Type = 21
	IQ2_S   Type = 22
	IQ4_XS  Type = 23
	I8      Type = 24
	I16     Type = 25
	I32     Type = 26
	I64     Type = 27
	F64     Type = 28
	IQ1_M   Type = 29
	BF16    Type = 30
	TQ1_0   Type = 34
	TQ2_0   Type = 35
	MXFP4   Type = 39
	NVFP4   Type = 40
	Q1_0    Type = 41
	Q2_0    Type = 42
	// TypeCount is ggml's GGML_TYPE_COUNT: ids at or above it are unknown.
	TypeCount Type = 43
)

// QK_K is the super-block size of the K-quants.
const QK_K = 256

type typeInfo struct {
	name    string
	block   int // elements per block
	bytes   int // bytes per block
	removed bool
}

var types = [TypeCount]typeInfo{
	F32: {"F32", 1, 4, false}, F16: {"F16", 1, 2, false},
	Q4_0: {"Q4_0", 32, 18, false}, Q4_1: {"Q4_1", 32, 20, false},
	4: {"Q4_2", 0, 0, true}, 5: {"Q4_3", 0, 0, true},
	Q5_0: {"Q5_0", 32, 22, false}, Q5_1: {"Q5_1", 32, 24, false},
	Q8_0: {"Q8_0", 32, 34, false}, Q8_1: {"Q8_1", 32, 36, false},
	Q2_K: {"Q2_K", QK_K, 84, false}, Q3_K: {"Q3_K", QK_K, 110, false},
	Q4_K: {"Q4_K", QK_K, 144, false}, Q5_K: {"Q5_K", QK_K, 176, false},
	Q6_K: {"Q6_K", QK_K, 210, false}, Q8_K: {"Q8_K", QK_K, 292, false},
	IQ2_XXS: {"IQ2_XXS", QK_K, 66, false}, IQ2_XS: {"IQ2_XS", QK_K, 74, false},
	IQ3_XXS: {"IQ3_XXS", QK_K, 98, false}, IQ1_S: {"IQ1_S", QK_K, 50, false},
	IQ4_NL: {"IQ4_NL", 32, 18, false}, IQ3_S: {"IQ3_S", QK_K, 110, false},
	IQ2_S: {"IQ2_S", QK_K, 82, false}, IQ4_XS: {"IQ4_XS", QK_K, 136, false},
	I8: {"I8", 1, 1, false}, I16: {"I16", 1, 2, false}, I32: {"I32", 1, 4, false},
	I64: {"I64", 1, 8, false}, F64: {"F64", 1, 8, false},
	IQ1_M: {"IQ1_M", QK_K, 56, false}, BF16: {"BF16", 1, 2, false},
	31: {"Q4_0_4_4", 0, 0, true}, 32: {"Q4_0_4_8", 0, 0, true}, 33: {"Q4_0_8_8", 0, 0, true},
	TQ1_0: {"TQ1_0", QK_K, 54, false}, TQ2_0: {"TQ2_0", QK_K, 66, false},
	36: {"IQ4_NL_4_4", 0, 0, true}, 37: {"IQ4_NL_4_8", 0, 0, true}, 38: {"IQ4_NL_8_8", 0, 0, true},
	MXFP4: {"MXFP4", 32, 17, false}, NVFP4: {"NVFP4", 64, 36, false},
	Q1_0: {"Q1_0", 128, 18, false}, Q2_0: {"Q2_0", 64, 18, false},
}

// String is gguf-py's name of the type (Q4_K, BF16, IQ2_XXS …).
func (t Type) String() string {
	if t < TypeCount && types[t].name != "" {
		return types[t].name
	}
	return fmt.Sprintf("type %d", uint32(t))
}

// Known reports whether t is a current ggml type (not removed, not out of range).
func (t Type) Known() bool { return t < TypeCount && types[t].block > 0 }

// Removed reports whether t is an id ggml once used and has removed.
func (t Type) Removed() bool { return t < TypeCount && types[t].removed }

// BlockSize is the number of elements one block holds (1 for plain types).
func (t Type) BlockSize() int {
	if t < TypeCount {
		return types[t].block
	}
	return 0
}

// BlockBytes is the size of one block in bytes.
func (t Type) BlockBytes() int {
	if t < TypeCount {
		return types[t].bytes
	}
	return 0
}

// Quantized reports whether t stores blocks (rather than plain elements).
func (t Type) Quantized() bool { return t.Known() && t.BlockSize() > 1 }

// DType is the tensor dtype of a plain (unquantized) type, Invalid for block types.
func (t Type) DType() tensor.DType {
	switch t {
	case F32:
		return tensor.F32
	case F16:
		return tensor.F16
	case BF16:
		return tensor.BF16
	case F64:
		return tensor.F64
	case I8:
		return tensor.I8
	case I16:
		return tensor.I16
	case I32:
		return tensor.I32
	case I64:
		return tensor.I64
	}
	return tensor.Invalid
}

// Bytes is the storage size of n elements; n must be a whole number of blocks.
func (t Type) Bytes(n int64) (int64, error) {
	bs := int64(t.BlockSize())
	if bs == 0 {
		return 0, fmt.Errorf("%v has no block size", t)
	}
	if n < 0 || n%bs != 0 {
		return 0, fmt.Errorf("%d elements are not a whole number of %v blocks of %d", n, t, bs)
	}
	nb := n / bs
	if nb > (1<<62)/int64(t.BlockBytes()) {
		return 0, fmt.Errorf("%d elements of %v: size overflows", n, t)
	}
	return nb * int64(t.BlockBytes()), nil
}

// CanDequantize reports whether Dequantize supports t.
func (t Type) CanDequantize() bool { return dequantizers[t] != nil }

// CanQuantize reports whether Quantize supports t.
func (t Type) CanQuantize() bool { return quantizers[t] != nil }

// ParseType accepts gguf-py's names in any case (q4_k, Q8_0, bf16, f32).
func ParseType(s string) (Type, error) {
	u := strings.ToUpper(strings.TrimSpace(s))
	for t := Type(0); t < TypeCount; t++ {
		if types[t].name == u && !types[t].removed {
			return t, nil
		}
	}
	return 0, fmt.Errorf("unknown ggml type %q", s)
}
