// y[i, n] = sum_k x[i, k] * W[n, k] + b[n] (optionally GELU), for rows
// i < M and columns n < N of one weight chunk. 64×64 output tile per
// workgroup, 16×16 threads with a 4×4 register block each (vec4 rows, no
// dynamically indexed arrays: SwiftShader keeps them in registers), K in
// steps of 32 through workgroup memory.
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

const TK = 32u;
var<workgroup> As: array<vec4<f32>, 512>; // [TK][16]: rows 4r..4r+3 at k
var<workgroup> Bs: array<vec4<f32>, 512>; // [TK][16]: cols 4c..4c+3 at k

fn xat(r: u32, k: u32) -> f32 {
  if (r < p.M && k < p.K) { return x[p.xOff + r * p.xStride + k]; }
  return 0.0;
}

fn wat(n: u32, k: u32) -> f32 {
  if (n < p.N && k < p.K) { return wload(n * p.K + k); }
  return 0.0;
}

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) l: vec3u) {
  let row0 = wg.y * 64u;
  let col0 = wg.x * 64u;
  let tid = l.y * 16u + l.x;
  var c0 = vec4<f32>(0.0);
  var c1 = vec4<f32>(0.0);
  var c2 = vec4<f32>(0.0);
  var c3 = vec4<f32>(0.0);
  for (var k0 = 0u; k0 < p.K; k0 += TK) {
    for (var e = tid; e < TK * 16u; e += 256u) {
      let kk = e % TK;
      let g = e / TK;
      let k = k0 + kk;
      let r = row0 + 4u * g;
      As[kk * 16u + g] = vec4<f32>(xat(r, k), xat(r + 1u, k), xat(r + 2u, k), xat(r + 3u, k));
      let n = col0 + 4u * g;
      Bs[kk * 16u + g] = vec4<f32>(wat(n, k), wat(n + 1u, k), wat(n + 2u, k), wat(n + 3u, k));
    }
    workgroupBarrier();
    for (var kk = 0u; kk < TK; kk++) {
      let a = As[kk * 16u + l.y];
      let bv = Bs[kk * 16u + l.x];
      c0 += a.x * bv;
      c1 += a.y * bv;
      c2 += a.z * bv;
      c3 += a.w * bv;
    }
    workgroupBarrier();
  }
  let r0 = row0 + 4u * l.y;
  store(r0, col0 + 4u * l.x, c0);
  store(r0 + 1u, col0 + 4u * l.x, c1);
  store(r0 + 2u, col0 + 4u * l.x, c2);
  store(r0 + 3u, col0 + 4u * l.x, c3);
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
