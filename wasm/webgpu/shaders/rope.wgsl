// Rotary position embedding, in place (dit.RoPEOp): pair i of head h of
// row r, at x[r·stride + off + h·hd + 2i], turns by the table row
// tr = (r / div) mod modn (modn 0: no wrap): (cos, sin) at table[tr·hd + 2i].
struct P { rows: u32, stride: u32, off: u32, heads: u32, hd: u32, div: u32, modn: u32, pad: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read> table: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let i = gid.x + gid.y * nw.x * 256u;
  let pairs = p.hd / 2u;
  if (i >= p.rows * p.heads * pairs) { return; }
  let k = i % pairs;
  let rh = i / pairs;
  let h = rh % p.heads;
  let r = rh / p.heads;
  var tr = r / p.div;
  if (p.modn > 0u) { tr = tr % p.modn; }
  let c = table[tr * p.hd + 2u * k];
  let s = table[tr * p.hd + 2u * k + 1u];
  let b = r * p.stride + p.off + h * p.hd + 2u * k;
  let x0 = x[b];
  let x1 = x[b + 1u];
  x[b] = x0 * c - x1 * s;
  x[b + 1u] = x1 * c + x0 * s;
}
