// Row gather (dit.GatherOp): dst[r] = src[idx[r]] (cols values), zeros
// where idx[r] < 0, or dst[r] left as it is with keep.
struct P { rows: u32, cols: u32, keep: u32, pad: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<storage, read> src: array<f32>;
@group(0) @binding(3) var<storage, read> idx: array<i32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let i = gid.x + gid.y * nw.x * 256u;
  if (i >= p.rows * p.cols) { return; }
  let j = idx[i / p.cols];
  if (j < 0) {
    if (p.keep == 0u) { dst[i] = 0.0; }
    return;
  }
  dst[i] = src[u32(j) * p.cols + i % p.cols];
}
