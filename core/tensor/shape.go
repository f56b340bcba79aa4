package tensor

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ErrOverflow is returned when a shape's element count or byte size does not fit in an int64.
var ErrOverflow = errors.New("shape product overflows int64")

// Numel returns the number of elements of shape with overflow and sign checks.
func Numel(shape []int) (int64, error) {
	n := int64(1)
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("negative dimension %d in shape %v", d, shape)
		}
		if d != 0 && n > math.MaxInt64/int64(d) {
			return 0, fmt.Errorf("shape %v: %w", shape, ErrOverflow)
		}
		n *= int64(d)
	}
	return n, nil
}

// NBytes returns numel × dtype size with overflow checks.
func NBytes(dt DType, shape []int) (int64, error) {
	n, err := Numel(shape)
	if err != nil {
		return 0, err
	}
	sz := int64(dt.Size())
	if sz == 0 {
		return 0, fmt.Errorf("dtype %v has no size", dt)
	}
	if n > math.MaxInt64/sz {
		return 0, fmt.Errorf("shape %v of %v: %w", shape, dt, ErrOverflow)
	}
	return n * sz, nil
}

// ContiguousStrides returns row-major strides (in elements) for shape.
func ContiguousStrides(shape []int) []int {
	st := make([]int, len(shape))
	acc := 1
	for i := len(shape) - 1; i >= 0; i-- {
		st[i] = acc
		acc *= shape[i]
	}
	return st
}

// EqualShape reports whether two shapes are identical.
func EqualShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// FormatShape prints a shape as "[d0, d1, ...]" (the keys/*.txt format and PyTorch's list form).
func FormatShape(shape []int) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, d := range shape {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Itoa(d))
	}
	b.WriteByte(']')
	return b.String()
}

// ParseShape parses "[d0, d1, ...]" or "d0 x d1" or "(d0, d1)"; "[]" is a scalar.
func ParseShape(s string) ([]int, error) {
	t := strings.TrimSpace(s)
	t = strings.TrimPrefix(t, "torch.Size(")
	t = strings.TrimSuffix(t, ")")
	t = strings.Trim(t, "[]() ")
	if t == "" {
		return []int{}, nil
	}
	fields := strings.FieldsFunc(t, func(r rune) bool { return r == ',' || r == 'x' || r == ' ' })
	out := make([]int, 0, len(fields))
	for _, f := range fields {
		v, err := strconv.Atoi(f)
		if err != nil || v < 0 {
			return nil, fmt.Errorf("bad shape %q", s)
		}
		out = append(out, v)
	}
	return out, nil
}
