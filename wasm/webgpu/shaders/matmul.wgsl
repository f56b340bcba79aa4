// y[i, n] = sum_k x[i, k] * W[n, k] + b[n] (optionally GELU), for rows
// i < M and columns n < N of one weight chunk. 64×64 output tile per
// workgroup, 16×16 threads with 4×4 outputs each, K in steps of 16.
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

var<workgroup> As: array<f32, 1024>; // [16 k][64 rows]
var<workgroup> Bs: array<f32, 1024>; // [16 k][64 cols]

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) l: vec3u) {
  let row0 = wg.y * 64u;
  let col0 = wg.x * 64u;
  let tid = l.y * 16u + l.x;
  var acc: array<f32, 16>;
  for (var k0 = 0u; k0 < p.K; k0 += 16u) {
    for (var i = 0u; i < 4u; i++) {
      let e = tid + i * 256u;
      let r = e / 16u;
      let kk = e % 16u;
      let gk = k0 + kk;
      var a = 0.0;
      if (row0 + r < p.M && gk < p.K) {
        a = x[p.xOff + (row0 + r) * p.xStride + gk];
      }
      As[kk * 64u + r] = a;
      var bv = 0.0;
      if (col0 + r < p.N && gk < p.K) {
        bv = wload((col0 + r) * p.K + gk);
      }
      Bs[kk * 64u + r] = bv;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < 16u; kk++) {
      var av: array<f32, 4>;
      var bw: array<f32, 4>;
      for (var i = 0u; i < 4u; i++) {
        av[i] = As[kk * 64u + l.y + 16u * i];
        bw[i] = Bs[kk * 64u + l.x + 16u * i];
      }
      for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) {
          acc[i * 4u + j] += av[i] * bw[j];
        }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let r = row0 + l.y + 16u * i;
    if (r >= p.M) { continue; }
    for (var j = 0u; j < 4u; j++) {
      let c = col0 + l.x + 16u * j;
      if (c >= p.N) { continue; }
      var v = acc[i * 4u + j];
      if (p.hasBias != 0u) { v += b[p.bOff + c]; }
      if (p.act == 1u) { v = gelu(v); }
      y[p.yOff + r * p.yStride + c] = v;
    }
  }
}
