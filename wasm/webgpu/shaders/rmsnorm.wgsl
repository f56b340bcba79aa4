// Per-head RMS norm with weight, in place (dit.RMSNormOp, LlamaRMSNorm):
// v = x[r·stride + off + g·dim :][:dim] ← w ⊙ v / √(mean(v²) + eps); one
// thread per (row, group).
struct P { rows: u32, stride: u32, off: u32, groups: u32, dim: u32, eps: f32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let i = gid.x + gid.y * nw.x * 64u;
  if (i >= p.rows * p.groups) { return; }
  let base = (i / p.groups) * p.stride + p.off + (i % p.groups) * p.dim;
  var ss = 0.0;
  for (var d = 0u; d < p.dim; d++) {
    let v = x[base + d];
    ss += v * v;
  }
  let inv = 1.0 / sqrt(ss / f32(p.dim) + p.eps);
  for (var d = 0u; d < p.dim; d++) {
    x[base + d] = w[d] * (x[base + d] * inv);
  }
}
