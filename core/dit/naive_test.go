package dit_test

import (
	"fmt"
	"github.com/ditkit/ditkit/core/dit/kernels"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ditkit/ditkit/core/dit"
	"github.com/ditkit/ditkit/core/fix"
	"github.com/ditkit/ditkit/core/tensor"
)

// randomDiT builds a random state dict for cfg (F32), optionally without pos_embed.
func randomDiT(cfg dit.Config, seed uint64, withPos bool) map[string]*tensor.Dense {
	r := rand.New(rand.NewPCG(seed, 1))
	w := map[string]*tensor.Dense{}
	put := func(name string, std float64, shape ...int) {
		n := 1
		for _, s := range shape {
			n *= s
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(r.NormFloat64() * std)
		}
		w[name] = tensor.FromFloat32(v, shape...)
	}
	H, p, C := cfg.HiddenSize, cfg.PatchSize, cfg.InChannels
	lin := func(name string, out, in int) {
		put(name+".weight", 1/math.Sqrt(float64(in)), out, in)
		put(name+".bias", 0.05, out)
	}
	put("x_embedder.proj.weight", 0.3, H, C, p, p)
	put("x_embedder.proj.bias", 0.05, H)
	lin("t_embedder.mlp.0", H, 256)
	lin("t_embedder.mlp.2", H, H)
	put("y_embedder.embedding_table.weight", 0.5, cfg.NumClasses+1, H)
	for i := 0; i < cfg.Depth; i++ {
		pre := fmt.Sprintf("blocks.%d.", i)
		lin(pre+"adaLN_modulation.1", 6*H, H)
		lin(pre+"attn.qkv", 3*H, H)
		lin(pre+"attn.proj", H, H)
		lin(pre+"mlp.fc1", cfg.MLPHidden(), H)
		lin(pre+"mlp.fc2", H, cfg.MLPHidden())
	}
	lin("final_layer.adaLN_modulation.1", 2*H, H)
	lin("final_layer.linear", p*p*cfg.OutChannels(), H)
	if withPos {
		g := cfg.InputSize / p
		w["pos_embed"] = tensor.FromFloat32(fix.SinCos2D(H, g, g, 1), 1, g*g, H)
	}
	return w
}

// naiveForward is a direct float64 transcription of DiT's forward (§8.1),
// independent of the package's kernels.
func naiveForward(cfg dit.Config, w map[string]*tensor.Dense, x []float32, ts []float64, ys []int) []float64 {
	get := func(n string) []float64 { v, _ := w[n].Float64s(); return v }
	H, p, C, S := cfg.HiddenSize, cfg.PatchSize, cfg.InChannels, cfg.InputSize
	g := S / p
	T := g * g
	N := len(ts)
	linear := func(in []float64, rows int, name string) []float64 {
		W, b := get(name+".weight"), get(name+".bias")
		out := len(b)
		k := len(W) / out
		res := make([]float64, rows*out)
		for r := 0; r < rows; r++ {
			for o := 0; o < out; o++ {
				s := b[o]
				for i := 0; i < k; i++ {
					s += in[r*k+i] * W[o*k+i]
				}
				res[r*out+o] = s
			}
		}
		return res
	}
	silu := func(v []float64) []float64 {
		o := make([]float64, len(v))
		for i, a := range v {
			o[i] = a / (1 + math.Exp(-a))
		}
		return o
	}
	ln := func(v []float64, rows int, shift, scale func(r, i int) float64) []float64 {
		o := make([]float64, len(v))
		for r := 0; r < rows; r++ {
			row := v[r*H : (r+1)*H]
			var m, s float64
			for _, a := range row {
				m += a
			}
			m /= float64(H)
			for _, a := range row {
				s += (a - m) * (a - m)
			}
			s = 1 / math.Sqrt(s/float64(H)+1e-6)
			for i, a := range row {
				o[r*H+i] = (a-m)*s*(1+scale(r, i)) + shift(r, i)
			}
		}
		return o
	}
	// patchify
	pp := C * p * p
	patches := make([]float64, N*T*pp)
	for n := 0; n < N; n++ {
		for i := 0; i < g; i++ {
			for j := 0; j < g; j++ {
				for c := 0; c < C; c++ {
					for a := 0; a < p; a++ {
						for b := 0; b < p; b++ {
							patches[(n*T+i*g+j)*pp+(c*p+a)*p+b] = float64(x[((n*C+c)*S+i*p+a)*S+j*p+b])
						}
					}
				}
			}
		}
	}
	h := linear(patches, N*T, "x_embedder.proj")
	pe := fix.SinCos2D(H, g, g, 1)
	for n := 0; n < N; n++ {
		for i := 0; i < T*H; i++ {
			h[n*T*H+i] += float64(pe[i])
		}
	}
	tf := make([]float64, N*256)
	for n, t := range ts {
		for k := 0; k < 128; k++ {
			a := t * math.Exp(-math.Log(10000)*float64(k)/128)
			tf[n*256+k], tf[n*256+128+k] = math.Cos(a), math.Sin(a)
		}
	}
	te := linear(silu(linear(tf, N, "t_embedder.mlp.0")), N, "t_embedder.mlp.2")
	table := get("y_embedder.embedding_table.weight")
	c := make([]float64, N*H)
	for n := 0; n < N; n++ {
		for i := 0; i < H; i++ {
			c[n*H+i] = te[n*H+i] + table[ys[n]*H+i]
		}
	}
	sc := silu(c)
	nh := cfg.NumHeads
	hd := H / nh
	for bi := 0; bi < cfg.Depth; bi++ {
		pre := fmt.Sprintf("blocks.%d.", bi)
		mod := linear(sc, N, pre+"adaLN_modulation.1")
		mv := func(k int) func(r, i int) float64 { return func(r, i int) float64 { return mod[(r/T)*6*H+k*H+i] } }
		z := ln(h, N*T, mv(0), mv(1))
		qkv := linear(z, N*T, pre+"attn.qkv")
		att := make([]float64, N*T*H)
		for n := 0; n < N; n++ {
			for hh := 0; hh < nh; hh++ {
				for q := 0; q < T; q++ {
					sc := make([]float64, T)
					mx := math.Inf(-1)
					for k := 0; k < T; k++ {
						var s float64
						for d := 0; d < hd; d++ {
							s += qkv[(n*T+q)*3*H+hh*hd+d] * qkv[(n*T+k)*3*H+H+hh*hd+d]
						}
						sc[k] = s / math.Sqrt(float64(hd))
						mx = max(mx, sc[k])
					}
					var sum float64
					for k := range sc {
						sc[k] = math.Exp(sc[k] - mx)
						sum += sc[k]
					}
					for d := 0; d < hd; d++ {
						var o float64
						for k := 0; k < T; k++ {
							o += sc[k] / sum * qkv[(n*T+k)*3*H+2*H+hh*hd+d]
						}
						att[(n*T+q)*H+hh*hd+d] = o
					}
				}
			}
		}
		a := linear(att, N*T, pre+"attn.proj")
		for r := 0; r < N*T; r++ {
			for i := 0; i < H; i++ {
				h[r*H+i] += mod[(r/T)*6*H+2*H+i] * a[r*H+i]
			}
		}
		z = ln(h, N*T, mv(3), mv(4))
		f := linear(z, N*T, pre+"mlp.fc1")
		for i, u := range f {
			f[i] = 0.5 * u * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(u+0.044715*u*u*u)))
		}
		m := linear(f, N*T, pre+"mlp.fc2")
		for r := 0; r < N*T; r++ {
			for i := 0; i < H; i++ {
				h[r*H+i] += mod[(r/T)*6*H+5*H+i] * m[r*H+i]
			}
		}
	}
	fm := linear(sc, N, "final_layer.adaLN_modulation.1")
	z := ln(h, N*T, func(r, i int) float64 { return fm[(r/T)*2*H+i] }, func(r, i int) float64 { return fm[(r/T)*2*H+H+i] })
	fo := linear(z, N*T, "final_layer.linear")
	Co := cfg.OutChannels()
	out := make([]float64, N*Co*S*S)
	for n := 0; n < N; n++ {
		for i := 0; i < g; i++ {
			for j := 0; j < g; j++ {
				for a := 0; a < p; a++ {
					for b := 0; b < p; b++ {
						for co := 0; co < Co; co++ {
							out[((n*Co+co)*S+i*p+a)*S+j*p+b] = fo[(n*T+i*g+j)*p*p*Co+(a*p+b)*Co+co]
						}
					}
				}
			}
		}
	}
	return out
}

// TestOtherConfigs checks configurations unlike the fixture (patch 4 and 1,
// odd head counts, learn_sigma off, no stored pos_embed, odd batch) against
// a naive float64 transcription, for F32 and BF16 weights.
func TestOtherConfigs(t *testing.T) {
	cfgs := []dit.Config{
		{InputSize: 8, PatchSize: 4, InChannels: 4, HiddenSize: 48, Depth: 3, NumHeads: 3, NumClasses: 5, LearnSigma: false, MLPRatio: 4, NullClass: true},
		{InputSize: 6, PatchSize: 1, InChannels: 3, HiddenSize: 40, Depth: 1, NumHeads: 5, NumClasses: 7, LearnSigma: true, MLPRatio: 2, NullClass: true},
		{InputSize: 12, PatchSize: 2, InChannels: 4, HiddenSize: 72, Depth: 2, NumHeads: 1, NumClasses: 3, LearnSigma: true, MLPRatio: 4, NullClass: true},
	}
	for ci, cfg := range cfgs {
		for _, withPos := range []bool{true, false} {
			w := randomDiT(cfg, uint64(ci+1), withPos)
			m := build(t, w, specOf(t, cfg), 0)
			N := 3
			r := rand.New(rand.NewPCG(9, uint64(ci)))
			x := make([]float32, N*cfg.InChannels*cfg.InputSize*cfg.InputSize)
			for i := range x {
				x[i] = float32(r.NormFloat64())
			}
			ts := []float64{0, 17, 999}
			ys := []int{0, cfg.NumClasses, 1}
			out := forward(t, m, x, ts, ys, 0, &dit.Options{Backend: &kernels.CPU{Threads: 2}})
			ref := naiveForward(cfg, w, x, ts, ys)
			if e := relErr(out, ref); e > 1e-5 {
				t.Errorf("config %d (pos %v): max rel err %.3g", ci, withPos, e)
			} else {
				t.Logf("config %d (pos %v): max rel err %.3g", ci, withPos, e)
			}
		}
	}
}

// TestWeightDTypes checks BF16/F16 weights give the same result as the F32
// weights holding the rounded values.
func TestWeightDTypes(t *testing.T) {
	cfg := dit.Config{InputSize: 8, PatchSize: 2, InChannels: 4, HiddenSize: 40, Depth: 2, NumHeads: 2, NumClasses: 5, LearnSigma: true, MLPRatio: 4, NullClass: true}
	w := randomDiT(cfg, 5, true)
	x := make([]float32, 2*4*8*8)
	for i := range x {
		x[i] = float32(math.Sin(float64(i)))
	}
	for _, dt := range []tensor.DType{tensor.BF16, tensor.F16} {
		low := map[string]*tensor.Dense{}
		rounded := map[string]*tensor.Dense{}
		for k, v := range w {
			f, _ := v.Float32s()
			b := make([]byte, len(f)*2)
			tensor.EncodeFloat32(dt, f, b)
			low[k] = &tensor.Dense{DType: dt, Shape: v.Shape, Data: b}
			back := make([]float32, len(f))
			tensor.DecodeFloat32(dt, b, back)
			rounded[k] = tensor.FromFloat32(back, v.Shape...)
		}
		ml, mr := build(t, low, specOf(t, cfg), 0), build(t, rounded, specOf(t, cfg), 0)
		if ml.WeightBytes()*2 > mr.WeightBytes()+mr.WeightBytes()/4 {
			t.Errorf("%v weights use %d bytes, F32 %d", dt, ml.WeightBytes(), mr.WeightBytes())
		}
		a := forward(t, ml, x, []float64{3, 400}, []int{1, 5}, 0, nil)
		b := forward(t, mr, x, []float64{3, 400}, []int{1, 5}, 0, nil)
		for i := range a {
			if a[i] != b[i] {
				t.Fatalf("%v: element %d %v vs %v", dt, i, a[i], b[i])
			}
		}
	}
}

// TestPortableKernels reruns the unlike configurations on the portable
// micro-kernel (the one the wasm build runs) when a native one exists.
func TestPortableKernels(t *testing.T) {
	kernels.SetPortableKernels(true)
	defer kernels.SetPortableKernels(false)
	TestOtherConfigs(t)
}
