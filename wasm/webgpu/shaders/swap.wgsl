// Token reorder (dit.SwapOp): src viewed as [outer, A, B, cols] written to
// dst as [outer, B, A, cols].
struct P { n: u32, A: u32, B: u32, cols: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<storage, read> src: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let i = gid.x + gid.y * nw.x * 256u;
  if (i >= p.n) { return; }
  let c = i % p.cols;
  var r = i / p.cols;
  let a = r % p.A;
  r = r / p.A;
  let b = r % p.B;
  let o = r / p.B;
  dst[i] = src[((o * p.A + a) * p.B + b) * p.cols + c];
}
