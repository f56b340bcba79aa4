// matmul.wgsl without workgroup memory or barriers, for K % 4 == 0: each
// thread computes a 4×4 block straight from the buffers with vec4 loads.
// Software adapters (SwiftShader), where a barrier switches coroutines and
// "shared" memory is the same CPU cache, run this one faster.
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

fn xrow(r: u32, k: u32) -> vec4<f32> {
  if (r >= p.M) { return vec4<f32>(0.0); }
  let i = p.xOff + r * p.xStride + k;
  return vec4<f32>(x[i], x[i + 1u], x[i + 2u], x[i + 3u]);
}

fn wrow(n: u32, k: u32) -> vec4<f32> {
  if (n >= p.N) { return vec4<f32>(0.0); }
  let e = n * p.K + k; // a multiple of 4
  if (DTYPE == 0u) {
    return vec4<f32>(bitcast<f32>(w[e]), bitcast<f32>(w[e + 1u]), bitcast<f32>(w[e + 2u]), bitcast<f32>(w[e + 3u]));
  }
  let lo = w[e >> 1u];
  let hi = w[(e >> 1u) + 1u];
  if (DTYPE == 1u) {
    return vec4<f32>(bitcast<f32>(lo << 16u), bitcast<f32>(lo & 0xffff0000u), bitcast<f32>(hi << 16u), bitcast<f32>(hi & 0xffff0000u));
  }
  return vec4<f32>(unpack2x16float(lo), unpack2x16float(hi));
}

@compute @workgroup_size(8, 8)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let r0 = gid.y * 4u;
  let c0 = gid.x * 4u;
  if (r0 >= p.M || c0 >= p.N) { return; }
  var s0 = vec4<f32>(0.0);
  var s1 = vec4<f32>(0.0);
  var s2 = vec4<f32>(0.0);
  var s3 = vec4<f32>(0.0);
  for (var k = 0u; k < p.K; k += 4u) {
    let a0 = xrow(r0, k);
    let a1 = xrow(r0 + 1u, k);
    let a2 = xrow(r0 + 2u, k);
    let a3 = xrow(r0 + 3u, k);
    let b0 = wrow(c0, k);
    let b1 = wrow(c0 + 1u, k);
    let b2 = wrow(c0 + 2u, k);
    let b3 = wrow(c0 + 3u, k);
    s0 += vec4<f32>(dot(a0, b0), dot(a0, b1), dot(a0, b2), dot(a0, b3));
    s1 += vec4<f32>(dot(a1, b0), dot(a1, b1), dot(a1, b2), dot(a1, b3));
    s2 += vec4<f32>(dot(a2, b0), dot(a2, b1), dot(a2, b2), dot(a2, b3));
    s3 += vec4<f32>(dot(a3, b0), dot(a3, b1), dot(a3, b2), dot(a3, b3));
  }
  store(r0, c0, s0);
  store(r0 + 1u, c0, s1);
  store(r0 + 2u, c0, s2);
  store(r0 + 3u, c0, s3);
}

fn store(r: u32, c: u32, v: vec4<f32>) {
  if (r >= p.M) { return; }
  for (var j = 0u; j < 4u; j++) {
    if (c + j >= p.N) { return; }
    var o = v[j];
    if (p.hasBias != 0u) { o += b[p.bOff + c + j]; }
    if (p.act == 1u) { o = gelu(o); }
    y[p.yOff + r * p.yStride + c + j] = o;
  }
}
