// Package webgpu is ditkit's WebGPU compute backend for the browser build
// (GOOS=js): WGSL kernels for the DiT forward pass (tiled matmul reading
// F32/BF16/F16 weights as packed u32, fused attention with a tiled online
// softmax, LayerNorm+modulate, GELU, SiLU, gated residuals) behind
// dit.Backend, plus dit.Runner so a whole forward runs with the
// activations resident on the GPU and one readback.
//
// Everything that touches the GPU is built only for js/wasm; the package
// is empty elsewhere.
package webgpu
