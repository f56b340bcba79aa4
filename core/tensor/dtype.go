// Package tensor holds the data types shared by every part of ditkit:
// element types (dtypes) named as safetensors names them, tensor
// metadata, dense tensors and bit-exact conversions between float formats.
package tensor

import (
	"fmt"
	"strings"
)

// DType is an element type. Its String form is the safetensors dtype name.
type DType uint8

// The element types ditkit knows. The zero value is Invalid.
const (
	Invalid DType = iota
	BOOL
	U8
	I8
	I16
	U16
	F16
	BF16
	I32
	U32
	F32
	F64
	I64
	U64
	C64
	C128
	F8_E5M2
	F8_E4M3
	F8_E8M0
	F8_E4M3FNUZ
	F8_E5M2FNUZ
	// QUInt8/QInt8/QInt32 are quantized storages: reported, never converted.
	QUI8
	QI8
	QI32
	numDTypes
)

var dtypeNames = [...]string{
	Invalid:     "INVALID",
	BOOL:        "BOOL",
	U8:          "U8",
	I8:          "I8",
	I16:         "I16",
	U16:         "U16",
	F16:         "F16",
	BF16:        "BF16",
	I32:         "I32",
	U32:         "U32",
	F32:         "F32",
	F64:         "F64",
	I64:         "I64",
	U64:         "U64",
	C64:         "C64",
	C128:        "C128",
	F8_E5M2:     "F8_E5M2",
	F8_E4M3:     "F8_E4M3",
	F8_E8M0:     "F8_E8M0",
	F8_E4M3FNUZ: "F8_E4M3FNUZ",
	F8_E5M2FNUZ: "F8_E5M2FNUZ",
	QUI8:        "QUINT8",
	QI8:         "QINT8",
	QI32:        "QINT32",
}

var dtypeSizes = [...]int{
	BOOL: 1, U8: 1, I8: 1, I16: 2, U16: 2, F16: 2, BF16: 2, I32: 4, U32: 4,
	F32: 4, F64: 8, I64: 8, U64: 8, C64: 8, C128: 16,
	F8_E5M2: 1, F8_E4M3: 1, F8_E8M0: 1, F8_E4M3FNUZ: 1, F8_E5M2FNUZ: 1,
	QUI8: 1, QI8: 1, QI32: 4,
}

var torchNames = [...]string{
	BOOL: "bool", U8: "uint8", I8: "int8", I16: "int16", U16: "uint16",
	F16: "float16", BF16: "bfloat16", I32: "int32", U32: "uint32",
	F32: "float32", F64: "float64", I64: "int64", U64: "uint64",
	C64: "complex64", C128: "complex128",
	F8_E5M2: "float8_e5m2", F8_E4M3: "float8_e4m3fn", F8_E8M0: "float8_e8m0fnu",
	F8_E4M3FNUZ: "float8_e4m3fnuz", F8_E5M2FNUZ: "float8_e5m2fnuz",
	QUI8: "quint8", QI8: "qint8", QI32: "qint32",
}

// String returns the safetensors name (F32, BF16, I64, ...).
func (d DType) String() string {
	if int(d) < len(dtypeNames) && dtypeNames[d] != "" {
		return dtypeNames[d]
	}
	return fmt.Sprintf("DType(%d)", uint8(d))
}

// TorchName returns PyTorch's name without the "torch." prefix (float32, bfloat16, ...).
func (d DType) TorchName() string {
	if int(d) < len(torchNames) && torchNames[d] != "" {
		return torchNames[d]
	}
	return d.String()
}

// Size is the size of one element in bytes; 0 for Invalid.
func (d DType) Size() int {
	if int(d) < len(dtypeSizes) {
		return dtypeSizes[d]
	}
	return 0
}

// Valid reports whether d is a known dtype.
func (d DType) Valid() bool { return d > Invalid && d < numDTypes }

// IsFloat reports whether d is a real floating point type (F8 variants included).
func (d DType) IsFloat() bool {
	switch d {
	case F16, BF16, F32, F64, F8_E5M2, F8_E4M3, F8_E8M0, F8_E4M3FNUZ, F8_E5M2FNUZ:
		return true
	}
	return false
}

// IsQuantized reports whether d is one of PyTorch's quantized storage types.
func (d DType) IsQuantized() bool { return d == QUI8 || d == QI8 || d == QI32 }

// ParseDType accepts safetensors names (F32), PyTorch names (float32,
// torch.float32, bfloat16, half, float, double, long, int) and the short
// forms fp32/fp16/bf16/fp64.
func ParseDType(s string) (DType, error) {
	k := strings.TrimPrefix(strings.TrimSpace(s), "torch.")
	for d := BOOL; d < numDTypes; d++ {
		if k == dtypeNames[d] || k == torchNames[d] {
			return d, nil
		}
	}
	switch strings.ToLower(k) {
	case "fp32", "float", "f32":
		return F32, nil
	case "fp16", "half", "f16":
		return F16, nil
	case "bf16":
		return BF16, nil
	case "fp64", "double", "f64":
		return F64, nil
	case "long":
		return I64, nil
	case "int":
		return I32, nil
	case "short":
		return I16, nil
	}
	return Invalid, fmt.Errorf("unknown dtype %q", s)
}
