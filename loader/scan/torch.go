package scan

import "github.com/ditkit/ditkit/core/tensor"

// The torch vocabulary of checkpoint pickles, shared by the scanner (which
// judges names) and loader's unpickler (which builds tensors from them).

// storageDTypes maps torch.<X>Storage to its element type.
var storageDTypes = map[string]tensor.DType{
	"DoubleStorage": tensor.F64, "FloatStorage": tensor.F32, "HalfStorage": tensor.F16, "BFloat16Storage": tensor.BF16,
	"LongStorage": tensor.I64, "IntStorage": tensor.I32, "ShortStorage": tensor.I16, "CharStorage": tensor.I8,
	"ByteStorage": tensor.U8, "BoolStorage": tensor.BOOL, "ComplexFloatStorage": tensor.C64, "ComplexDoubleStorage": tensor.C128,
	"QUInt8Storage": tensor.QUI8, "QInt8Storage": tensor.QI8, "QInt32Storage": tensor.QI32,
}

// StorageDType returns the element type of the storage class torch.<name>.
func StorageDType(name string) (tensor.DType, bool) {
	dt, ok := storageDTypes[name]
	return dt, ok
}

func isTorchStorage(name string) bool {
	_, ok := storageDTypes[name]
	return ok || name == "UntypedStorage" || name == "TypedStorage"
}

// torchConstants are torch attributes the weights_only unpickler accepts as
// plain values (layouts, quantisation schemes, memory formats).
var torchConstants = map[string]bool{
	"strided": true, "sparse_coo": true, "sparse_csr": true, "sparse_csc": true, "sparse_bsr": true, "sparse_bsc": true,
	"_mkldnn": true, "jagged": true, "per_tensor_affine": true, "per_channel_affine": true, "per_tensor_symmetric": true,
	"per_channel_symmetric": true, "per_channel_affine_float_qparams": true, "contiguous_format": true,
	"channels_last": true, "channels_last_3d": true, "preserve_format": true, "Tensor": true,
}

// IsTorchDType reports whether torch.<name> is a dtype (torch.float32,
// torch.half, torch.float8_e4m3fn ...): _rebuild_tensor_v3 names one.
func IsTorchDType(name string) bool {
	switch name {
	case "float32", "float", "float64", "double", "float16", "half", "bfloat16", "int64", "long", "int32", "int",
		"int16", "short", "int8", "uint8", "bool", "uint16", "uint32", "uint64", "complex64", "complex128", "cfloat", "cdouble",
		"float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz", "float8_e8m0fnu", "qint8", "quint8", "qint32":
		return true
	}
	return false
}
