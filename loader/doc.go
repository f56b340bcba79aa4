// Package loader reads and writes checkpoint files — PyTorch zip, PyTorch
// legacy (pre-1.6) and safetensors — over an io.ReaderAt, reading only the
// byte ranges it needs: metadata up front, tensor data on demand.
//
// Pickles are never executed. Every global a pickle names is recorded with a
// safety verdict; unknown classes become inert Object values.
package loader
