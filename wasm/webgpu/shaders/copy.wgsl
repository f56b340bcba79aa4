// Strided row copy (dit.CopyOp): for r < rows, i < cols,
// dst[r·dstStride + dstOff + i] = src[r·srcStride + srcOff + i].
struct P {
  n: u32, cols: u32, srcOff: u32, srcStride: u32,
  dstOff: u32, dstStride: u32, pad0: u32, pad1: u32,
}
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<storage, read> src: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let i = gid.x + gid.y * nw.x * 256u;
  if (i >= p.n) { return; }
  let r = i / p.cols;
  let j = i % p.cols;
  dst[r * p.dstStride + p.dstOff + j] = src[r * p.srcStride + p.srcOff + j];
}
