// TAESD decoder: nearest-neighbour ×2 upsample of a band of rows:
// out(c, y, x) = in(c, y/2, x/2) for y in [outLo, outHi) (bands as in
// conv3x3.wgsl; out is 2W wide).
struct P {
  W: u32, inOrg: u32, inRows: u32, outOrg: u32,
  outRows: u32, outLo: u32, outHi: u32, pad: u32,
}
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> inp: array<f32>;
@group(0) @binding(2) var<storage, read_write> outp: array<f32>;

@compute @workgroup_size(8, 8, 1)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let x = gid.x;
  let y = p.outLo + gid.y;
  let c = gid.z;
  let W2 = 2u * p.W;
  if (x >= W2 || y >= p.outHi) { return; }
  outp[(c * p.outRows + y - p.outOrg) * W2 + x] = inp[(c * p.inRows + y / 2u - p.inOrg) * p.W + x / 2u];
}
