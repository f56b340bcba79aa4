package tensor

import (
	"fmt"
	"math"
)

// Info is a tensor's metadata: its name in the state dict, element type and shape.
type Info struct {
	Name  string
	DType DType
	Shape []int
}

// Dense is a contiguous, little-endian tensor held in memory in its own dtype.
type Dense struct {
	DType DType
	Shape []int
	Data  []byte
}

// NewDense allocates a zeroed dense tensor.
func NewDense(dt DType, shape ...int) (*Dense, error) {
	n, err := NBytes(dt, shape)
	if err != nil {
		return nil, err
	}
	return &Dense{DType: dt, Shape: append([]int(nil), shape...), Data: make([]byte, n)}, nil
}

// Numel is the element count.
func (d *Dense) Numel() int {
	n := 1
	for _, s := range d.Shape {
		n *= s
	}
	return n
}

// Float32s widens (or narrows, for F64) every element to float32.
func (d *Dense) Float32s() ([]float32, error) {
	out := make([]float32, d.Numel())
	if err := DecodeFloat32(d.DType, d.Data, out); err != nil {
		return nil, err
	}
	return out, nil
}

// Float64s converts every element to float64 exactly (integer types included).
func (d *Dense) Float64s() ([]float64, error) {
	out := make([]float64, d.Numel())
	if err := DecodeFloat64(d.DType, d.Data, out); err != nil {
		return nil, err
	}
	return out, nil
}

// Int64s returns the elements of an integer tensor as int64.
func (d *Dense) Int64s() ([]int64, error) {
	out := make([]int64, d.Numel())
	if err := DecodeInt64(d.DType, d.Data, out); err != nil {
		return nil, err
	}
	return out, nil
}

// FromFloat32 builds an F32 dense tensor from values.
func FromFloat32(v []float32, shape ...int) *Dense {
	b := make([]byte, 4*len(v))
	EncodeFloat32(F32, v, b)
	return &Dense{DType: F32, Shape: append([]int(nil), shape...), Data: b}
}

// Check validates that len(Data) matches the dtype and shape.
func (d *Dense) Check() error {
	n, err := NBytes(d.DType, d.Shape)
	if err != nil {
		return err
	}
	if int64(len(d.Data)) != n {
		return fmt.Errorf("tensor %v %v has %d bytes, want %d", d.DType, FormatShape(d.Shape), len(d.Data), n)
	}
	return nil
}

// Ints returns the elements as ints, refusing values that are not whole
// numbers (labels and masks stored as floats are accepted when exact).
func (d *Dense) Ints() ([]int, error) {
	v, err := d.Float64s()
	if err != nil {
		return nil, err
	}
	out := make([]int, len(v))
	for i, f := range v {
		if f != math.Trunc(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("expected integers, found %v", f)
		}
		out[i] = int(f)
	}
	return out, nil
}
