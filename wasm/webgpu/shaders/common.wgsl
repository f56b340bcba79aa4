// Weights arrive as packed u32 words: F32 (one value per word), BF16 or
// F16 (two values per word, little-endian: element 2i in the low half).
// DTYPE is a pipeline-overridable constant: 0 = f32, 1 = bf16, 2 = f16.
override DTYPE: u32 = 0u;

fn wload(e: u32) -> f32 {
  if (DTYPE == 0u) {
    return bitcast<f32>(w[e]);
  }
  let word = w[e >> 1u];
  if (DTYPE == 1u) {
    let bits = select(word << 16u, word & 0xffff0000u, (e & 1u) == 1u);
    return bitcast<f32>(bits);
  }
  let pair = unpack2x16float(word);
  return select(pair.x, pair.y, (e & 1u) == 1u);
}

// GELU with the tanh approximation, as nn.GELU(approximate="tanh").
fn gelu(u: f32) -> f32 {
  let z = clamp(0.7978845608028654 * (u + 0.044715 * u * u * u), -15.0, 15.0);
  let t = 1.0 - 2.0 / (exp(2.0 * z) + 1.0);
  return 0.5 * u * (1.0 + t);
}
