// TAESD decoder: a 3×3 convolution (stride 1, zero padding 1) on a band of
// rows, + bias, (+ residual), (+ ReLU). Activations are channel-major
// bands: element (c, y, x) of a band with buffer rows [org, org+rows) is
// at (c·rows + y − org)·W + x. Weights are vec4 over 4 output channels:
// w[(co/4)·cin·9 + ci·9 + ky·3 + kx], bias after them at w[wBias + co/4].
// One invocation computes 4 output channels of 4 adjacent pixels, so each
// input value and weight it loads serves several products.
struct P {
  W: u32, H: u32, cin: u32, cout: u32,
  inOrg: u32, inRows: u32, outOrg: u32, outRows: u32,
  outLo: u32, outHi: u32, resOrg: u32, resRows: u32,
  flags: u32, wBias: u32, pad0: u32, pad1: u32,
}
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> inp: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> res: array<f32>;
@group(0) @binding(4) var<storage, read_write> outp: array<f32>;

const HAS_BIAS = 1u;
const RELU = 2u;
const HAS_RES = 4u;

// ld reads input x of the row at base, zero outside [0, W).
fn ld(base: u32, x: i32) -> f32 {
  if (x < 0 || x >= i32(p.W)) { return 0.0; }
  return inp[base + u32(x)];
}

@compute @workgroup_size(8, 8, 1)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let x0 = gid.x * 4u;
  let y = p.outLo + gid.y;
  let cg = gid.z;
  if (x0 >= p.W || y >= p.outHi) { return; }
  var b = vec4<f32>(0.0);
  if ((p.flags & HAS_BIAS) != 0u) { b = w[p.wBias + cg]; }
  var a = array<vec4<f32>, 4>(b, b, b, b);
  let wBase = cg * p.cin * 9u;
  let xi = i32(x0);
  for (var ky = 0u; ky < 3u; ky++) {
    let yy = i32(y) + i32(ky) - 1;
    if (yy < 0 || yy >= i32(p.H)) { continue; }
    let row = u32(yy) - p.inOrg;
    for (var ci = 0u; ci < p.cin; ci++) {
      let base = (ci * p.inRows + row) * p.W;
      let v0 = ld(base, xi - 1);
      let v1 = ld(base, xi);
      let v2 = ld(base, xi + 1);
      let v3 = ld(base, xi + 2);
      let v4 = ld(base, xi + 3);
      let v5 = ld(base, xi + 4);
      let wk = wBase + ci * 9u + ky * 3u;
      let w0 = w[wk];
      let w1 = w[wk + 1u];
      let w2 = w[wk + 2u];
      a[0] += v0 * w0 + v1 * w1 + v2 * w2;
      a[1] += v1 * w0 + v2 * w1 + v3 * w2;
      a[2] += v2 * w0 + v3 * w1 + v4 * w2;
      a[3] += v3 * w0 + v4 * w1 + v5 * w2;
    }
  }
  for (var i = 0u; i < 4u; i++) {
    let x = x0 + i;
    if (x >= p.W) { break; }
    for (var j = 0u; j < 4u; j++) {
      let co = cg * 4u + j;
      if (co >= p.cout) { break; }
      var v = a[i][j];
      if ((p.flags & HAS_RES) != 0u) { v += res[(co * p.resRows + y - p.resOrg) * p.W + x]; }
      if ((p.flags & RELU) != 0u) { v = max(v, 0.0); }
      outp[(co * p.outRows + y - p.outOrg) * p.W + x] = v;
    }
  }
}
