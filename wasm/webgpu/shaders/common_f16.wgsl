// common.wgsl for F16 weights when the device has shader-f16: the weight
// binding is array<f16> and each value is read directly.
enable f16;

fn wload(e: u32) -> f32 {
  return f32(w[e]);
}

// GELU with the tanh approximation, as nn.GELU(approximate="tanh").
fn gelu(u: f32) -> f32 {
  let z = clamp(0.7978845608028654 * (u + 0.044715 * u * u * u), -15.0, 15.0);
  let t = 1.0 - 2.0 / (exp(2.0 * z) + 1.0);
  return 0.5 * u * (1.0 + t);
}
