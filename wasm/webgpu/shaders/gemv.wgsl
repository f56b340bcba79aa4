// The few-row case of matmul.wgsl (M ≤ 8: adaLN, timestep MLP): one
// thread per output column, all rows at once.
struct P {
  M: u32, N: u32, K: u32, xOff: u32,
  xStride: u32, yOff: u32, yStride: u32, bOff: u32,
  hasBias: u32, act: u32, pad0: u32, pad1: u32,
}
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<u32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let c = gid.x;
  if (c >= p.N) { return; }
  var acc: array<f32, 8>;
  let base = c * p.K;
  for (var k = 0u; k < p.K; k++) {
    let wv = wload(base + k);
    for (var i = 0u; i < p.M; i++) {
      acc[i] += x[p.xOff + i * p.xStride + k] * wv;
    }
  }
  for (var i = 0u; i < p.M; i++) {
    var v = acc[i];
    if (p.hasBias != 0u) { v += b[p.bOff + c]; }
    if (p.act == 1u) { v = gelu(v); }
    y[p.yOff + i * p.yStride + c] = v;
  }
}
