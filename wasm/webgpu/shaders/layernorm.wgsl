// out[r] = LN(x[r])·(1 + scale[g]) + shift[g], g = r / groupRows, LayerNorm
// without affine: one 256-thread workgroup per row, two-pass mean/variance.
struct P {
  rows: u32, h: u32, groupRows: u32, stride: u32,
  shOff: u32, scOff: u32, hasMod: u32, eps: f32,
}
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> mods: array<f32>;
@group(0) @binding(3) var<storage, read_write> o: array<f32>;

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
  let base = r * p.h;
  var s = 0.0;
  for (var i = t; i < p.h; i += 256u) { s += x[base + i]; }
  let mean = reduce(s, t) / f32(p.h);
  var q = 0.0;
  for (var i = t; i < p.h; i += 256u) { let d = x[base + i] - mean; q += d * d; }
  let rstd = inverseSqrt(reduce(q, t) / f32(p.h) + p.eps);
  let g = r / p.groupRows;
  for (var i = t; i < p.h; i += 256u) {
    var v = (x[base + i] - mean) * rstd;
    if (p.hasMod != 0u) {
      v = v * (1.0 + mods[p.scOff + g * p.stride + i]) + mods[p.shOff + g * p.stride + i];
    }
    o[base + i] = v;
  }
}
