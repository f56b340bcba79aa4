// Fused multi-head attention: one thread per (query row, head, sequence),
// keys and values streamed through workgroup memory 16 at a time with an
// online (tiled) softmax, so the T×T score matrix never exists.
// Head dimension ≤ 128.
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
var<workgroup> Ks: array<f32, 2048>; // [KT][128]
var<workgroup> Vs: array<f32, 2048>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) l: vec3u) {
  let qi = wg.x * 64u + l.x;
  let h = wg.y;
  let s = wg.z;
  let hd = p.hd;
  let valid = qi < p.NQ;
  var qv: array<f32, 128>;
  var acc: array<f32, 128>;
  if (valid) {
    let qb = p.qOff + (s * p.NQ + qi) * p.qStride + h * hd;
    for (var d = 0u; d < hd; d++) { qv[d] = q[qb + d]; }
  }
  var m = -3.0e38;
  var lsum = 0.0;
  var sc: array<f32, 16>;
  var NK = p.NK;
  if (p.hasLens == 1u) { NK = min(lens[s], p.NK); } // uniform across the workgroup (one s)
  for (var k0 = 0u; k0 < NK; k0 += KT) {
    let nk = min(KT, NK - k0);
    for (var e = l.x; e < KT * hd; e += 64u) {
      let j = e / hd;
      let d = e % hd;
      if (j < nk) {
        let base = (s * p.NK + k0 + j) * p.kvStride + h * hd + d;
        Ks[j * 128u + d] = kv[p.kOff + base];
        Vs[j * 128u + d] = kv[p.vOff + base];
      }
    }
    workgroupBarrier();
    if (valid) {
      var tmax = m;
      for (var j = 0u; j < nk; j++) {
        var dot = 0.0;
        for (var d = 0u; d < hd; d++) { dot += qv[d] * Ks[j * 128u + d]; }
        sc[j] = dot * p.scale;
        tmax = max(tmax, sc[j]);
      }
      let corr = exp(m - tmax);
      lsum *= corr;
      for (var d = 0u; d < hd; d++) { acc[d] *= corr; }
      for (var j = 0u; j < nk; j++) {
        let pj = exp(sc[j] - tmax);
        lsum += pj;
        for (var d = 0u; d < hd; d++) { acc[d] += pj * Vs[j * 128u + d]; }
      }
      m = tmax;
    }
    workgroupBarrier();
  }
  if (valid) {
    let ob = p.oOff + (s * p.NQ + qi) * p.oStride + h * hd;
    let inv = select(0.0, 1.0 / lsum, lsum > 0.0); // no keys: zeros, as the CPU
    for (var d = 0u; d < hd; d++) { o[ob + d] = acc[d] * inv; }
  }
}
