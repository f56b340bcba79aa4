// Element-wise ops that keep the residual stream on the GPU.
//   op 0 add:   dst[i] += src[i % period]                 (pos_embed, c = t_emb + y_emb)
//   op 1 silu:  dst[i] = src[i] / (1 + exp(-src[i]))
//   op 2 gated: dst[r·h + j] += src[r·h + j] · gate[gOff + (r / groupRows)·stride + j]
//   op 3 rows:  dst[r·h + j] = (gOff == 1 ? 0 : dst[r·h + j]) + src[((r / groupRows) % M)·h + j],
//               M = stride (0: no wrap)  (dit.AddOp with Div / Set)
struct P {
  n: u32, op: u32, period: u32, h: u32,
  groupRows: u32, stride: u32, gOff: u32, pad: u32,
}
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<storage, read> src: array<f32>;
@group(0) @binding(3) var<storage, read> gate: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let i = gid.x + gid.y * nw.x * 256u;
  if (i >= p.n) { return; }
  if (p.op == 0u) {
    dst[i] += src[i % p.period];
  } else if (p.op == 1u) {
    let v = src[i];
    dst[i] = v / (1.0 + exp(-v));
  } else if (p.op == 2u) {
    let r = i / p.h;
    let j = i % p.h;
    dst[i] += src[i] * gate[p.gOff + (r / p.groupRows) * p.stride + j];
  } else {
    let j = i % p.h;
    var sr = (i / p.h) / p.groupRows;
    if (p.stride > 0u) { sr = sr % p.stride; }
    let v = src[sr * p.h + j];
    if (p.gOff == 1u) { dst[i] = v; } else { dst[i] += v; }
  }
}
