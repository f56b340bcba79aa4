// attention.wgsl for head dimensions that are a multiple of 4 (every DiT:
// 72 for XL, 64, 16): queries, keys, values and the accumulator as vec4.
struct P {
  seqs: u32, NQ: u32, NK: u32, hd: u32,
  qOff: u32, qStride: u32, kOff: u32, vOff: u32,
  kvStride: u32, oOff: u32, oStride: u32, scale: f32,
  hasLens: u32, // sequence s attends to its first lens[s] keys only
}
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> kv: array<f32>;
@group(0) @binding(3) var<storage, read_write> o: array<f32>;
@group(0) @binding(4) var<storage, read> lens: array<u32>;

const KT = 16u;
var<workgroup> Ks: array<vec4<f32>, 512>; // [KT][32]
var<workgroup> Vs: array<vec4<f32>, 512>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) l: vec3u) {
  let qi = wg.x * 64u + l.x;
  let h = wg.y;
  let s = wg.z;
  let h4 = p.hd / 4u;
  let valid = qi < p.NQ;
  var qv: array<vec4<f32>, 32>;
  var acc: array<vec4<f32>, 32>;
  if (valid) {
    let qb = p.qOff + (s * p.NQ + qi) * p.qStride + h * p.hd;
    for (var d = 0u; d < h4; d++) {
      let i = qb + 4u * d;
      qv[d] = vec4<f32>(q[i], q[i + 1u], q[i + 2u], q[i + 3u]) * p.scale;
    }
  }
  var m = -3.0e38;
  var lsum = 0.0;
  var sc: array<f32, 16>;
  var NK = p.NK;
  if (p.hasLens == 1u) { NK = min(lens[s], p.NK); } // uniform across the workgroup (one s)
  for (var k0 = 0u; k0 < NK; k0 += KT) {
    let nk = min(KT, NK - k0);
    for (var e = l.x; e < KT * h4; e += 64u) {
      let j = e / h4;
      let d = e % h4;
      if (j < nk) {
        let base = (s * p.NK + k0 + j) * p.kvStride + h * p.hd + 4u * d;
        let kb = p.kOff + base;
        let vb = p.vOff + base;
        Ks[j * 32u + d] = vec4<f32>(kv[kb], kv[kb + 1u], kv[kb + 2u], kv[kb + 3u]);
        Vs[j * 32u + d] = vec4<f32>(kv[vb], kv[vb + 1u], kv[vb + 2u], kv[vb + 3u]);
      }
    }
    workgroupBarrier();
    if (valid) {
      var tmax = m;
      for (var j = 0u; j < nk; j++) {
        var dv = vec4<f32>(0.0);
        for (var d = 0u; d < h4; d++) { dv += qv[d] * Ks[j * 32u + d]; }
        sc[j] = dv.x + dv.y + dv.z + dv.w;
        tmax = max(tmax, sc[j]);
      }
      let corr = exp(m - tmax);
      lsum *= corr;
      for (var d = 0u; d < h4; d++) { acc[d] *= corr; }
      for (var j = 0u; j < nk; j++) {
        let pj = exp(sc[j] - tmax);
        lsum += pj;
        for (var d = 0u; d < h4; d++) { acc[d] += pj * Vs[j * 32u + d]; }
      }
      m = tmax;
    }
    workgroupBarrier();
  }
  if (valid) {
    let ob = p.oOff + (s * p.NQ + qi) * p.oStride + h * p.hd;
    let inv = select(0.0, 1.0 / lsum, lsum > 0.0); // no keys: zeros, as the CPU
    for (var d = 0u; d < h4; d++) {
      let v = acc[d] * inv;
      o[ob + 4u * d] = v.x;
      o[ob + 4u * d + 1u] = v.y;
      o[ob + 4u * d + 2u] = v.z;
      o[ob + 4u * d + 3u] = v.w;
    }
  }
}
