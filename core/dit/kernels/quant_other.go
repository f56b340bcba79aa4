//go:build !amd64 || purego

package kernels

import "github.com/ditkit/ditkit/core/quant"

// deqVec: this build dequantizes with core/quant's Go loops.
func deqVec(t quant.Type, src []byte, dst []float32) bool { return false }
