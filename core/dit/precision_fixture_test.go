package dit_test

import (
	"github.com/ditkit/ditkit/core/dit/kernels"
	"path/filepath"
	"testing"

	"github.com/ditkit/ditkit/core/dit"
	"github.com/ditkit/ditkit/core/tensor"
	"github.com/ditkit/ditkit/loader/fixtures"
)

// TestForwardBF16Precision runs the dit_A fixture (ckpt_plain.pt, plain and
// CFG forwards) at Precision BF16, weights converted to bf16 at load as
// `ditkit forward --precision bf16` does, against PyTorch's fp32 outputs:
// max |a−b|/max|ref| ≤ 3e-2 (fixtures README, reduced-precision compute).
// "amx" runs the full tiles on AMX-BF16 (skipped without it), "vdpbf16ps"
// the AVX512_BF16 kernel only (skipped without AVX512_BF16), "fp32-fma" the
// bf16-rounded operands on the native fp32 kernels (what BF16Kernel picks
// where VDPBF16PS is slow), "emulated" the same on the portable kernels
// (wasm).
func TestForwardBF16Precision(t *testing.T) {
	m := loadDiT(t, "ckpt_plain.pt")
	m.ConvertWeights(tensor.BF16)
	for _, mode := range []string{"amx", "vdpbf16ps", "fp32-fma", "emulated"} {
		t.Run(mode, func(t *testing.T) {
			if (mode == "amx" || mode == "vdpbf16ps") && !kernels.BF16Native() {
				t.Skip("CPU lacks AVX512_BF16 (CPUID.(EAX=7,ECX=1):EAX[5]) or AVX-512")
			}
			kernels.SetAMX(mode == "amx")
			defer kernels.SetAMX(true)
			kernels.SetBF16Kernel(map[string]string{"vdpbf16ps": "vdpbf16ps", "fp32-fma": "fp32-fma"}[mode])
			defer kernels.SetBF16Kernel("")
			if mode == "amx" && !kernels.BF16AMX() {
				t.Skip("no AMX-BF16 on this CPU/OS")
			}
			if mode == "emulated" {
				kernels.SetPortableKernels(true)
				defer kernels.SetPortableKernels(false)
			}
			for _, c := range []struct {
				ref string
				cfg bool
			}{{"ref_forward_fp32", false}, {"ref_cfg_fp32", true}, {"ref_cfg_fp64", true}} {
				ref := fixtures.ReadAll(t, filepath.Join(fixtures.Root(t), "dit_A", c.ref+".safetensors"))
				x, tt, y := f32s(t, ref["x"]), f64s(t, ref["t"]), ints(t, ref["y"])
				for _, threads := range []int{1, 2} {
					opt := &dit.Options{Backend: &kernels.CPU{Threads: threads, Precision: kernels.BF16}}
					scale := float32(0)
					if c.cfg {
						scale = 4
					}
					out := forward(t, m, x, tt, y, scale, opt)
					e := relErr(out, f64s(t, ref["out"]))
					t.Logf("%s threads %d: bf16 precision max rel err %.3g (%s)", c.ref, threads, e, mode)
					if e > 3e-2 {
						t.Errorf("%s threads %d: max rel err %.3g > 3e-2", c.ref, threads, e)
					}
					if e < 1e-5 {
						t.Errorf("%s threads %d: max rel err %.3g: bf16 rounding apparently not applied", c.ref, threads, e)
					}
				}
			}
		})
	}
}
