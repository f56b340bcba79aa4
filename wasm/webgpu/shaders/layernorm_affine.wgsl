// nn.LayerNorm with affine weight and bias over rows inside wider rows
// (dit.LayerNormOp: PixArt-Σ's q_norm / k_norm on the qkv columns):
// o[r·dstStride + dstOff + i] = LN(x[r·srcStride + srcOff + ·])[i]·w[i] + b[i].
// One 256-thread workgroup per row, two-pass mean/variance.
struct P {
  rows: u32, h: u32, srcOff: u32, srcStride: u32,
  dstOff: u32, dstStride: u32, eps: f32, pad: u32,
}
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read_write> o: array<f32>;

var<workgroup> red: array<f32, 256>;

fn reduce(v: f32, t: u32) -> f32 {
  red[t] = v;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s >>= 1u) {
    if (t < s) { red[t] += red[t + s]; }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) l: vec3u) {
  let r = wg.x + wg.y * 65535u;
  if (r >= p.rows) { return; } // uniform across the workgroup
  let t = l.x;
  let src = r * p.srcStride + p.srcOff;
  let dst = r * p.dstStride + p.dstOff;
  var s = 0.0;
  for (var i = t; i < p.h; i += 256u) { s += x[src + i]; }
  let mean = reduce(s, t) / f32(p.h);
  var q = 0.0;
  for (var i = t; i < p.h; i += 256u) { let d = x[src + i] - mean; q += d * d; }
  let rstd = inverseSqrt(reduce(q, t) / f32(p.h) + p.eps);
  for (var i = t; i < p.h; i += 256u) {
    o[dst + i] = (x[src + i] - mean) * rstd * w[i] + b[i];
  }
}
