// TAESD decoder's first layer (taesd.py Clamp): v = 3·tanh(v/3) over n
// values. The argument is bounded first: tanh(±10) is ±1 in f32, and some
// implementations compute tanh through exp and overflow to NaN.
struct P { n: u32, pad0: u32, pad1: u32, pad2: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read_write> v: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let i = gid.x + gid.y * nw.x * 256u;
  if (i >= p.n) { return; }
  v[i] = 3.0 * tanh(clamp(v[i] / 3.0, -10.0, 10.0));
}
