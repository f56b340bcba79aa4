// The few-row case (M ≤ 8: adaLN, timestep MLP) for GPUs: one 64-thread
// workgroup per output column, consecutive threads reading consecutive k
// (coalesced weight reads), then a tree reduction per row.
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

var<workgroup> red: array<f32, 512>; // [8 rows][64 threads]

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) l: vec3u) {
  let c = wg.x + wg.y * 65535u;
  if (c >= p.N) { return; } // uniform across the workgroup
  let t = l.x;
  var acc: array<f32, 8>;
  for (var k = t; k < p.K; k += 64u) {
    let wv = wload(c * p.K + k);
    for (var i = 0u; i < p.M; i++) {
      acc[i] += x[p.xOff + i * p.xStride + k] * wv;
    }
  }
  for (var i = 0u; i < 8u; i++) { red[i * 64u + t] = acc[i]; }
  workgroupBarrier();
  for (var s = 32u; s > 0u; s >>= 1u) {
    if (t < s) {
      for (var i = 0u; i < 8u; i++) { red[i * 64u + t] += red[i * 64u + t + s]; }
    }
    workgroupBarrier();
  }
  if (t < p.M) {
    var v = red[t * 64u];
    if (p.hasBias != 0u) { v += b[p.bOff + c]; }
    if (p.act == 1u) { v = gelu(v); }
    y[p.yOff + t * p.yStride + c] = v;
  }
}
