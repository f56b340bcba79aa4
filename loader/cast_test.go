package loader_test

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/ditkit/ditkit/core/tensor"
	"github.com/ditkit/ditkit/loader/fixtures"
)

// Casting every float tensor of every fixture gives torch's own bytes.
func TestCastsMatchTorch(t *testing.T) {
	targets := map[string]tensor.DType{"float16": tensor.F16, "bfloat16": tensor.BF16, "float32": tensor.F32, "float64": tensor.F64}
	checked := 0
	for _, rel := range fixtures.Checkpoints(t) {
		m := fixtures.ReadManifest(t, rel)
		ck, _ := openFixture(t, rel)
		for i, mt := range m.Tensors {
			src := ck.Tensors[i]
			if !src.DType.IsFloat() {
				continue
			}
			data, err := ck.ReadTensor(src)
			if err != nil {
				t.Fatal(err)
			}
			for name, want := range mt.CastSHA256 {
				dt := targets[name]
				if dt == tensor.Invalid {
					continue
				}
				out := make([]byte, int(src.Numel())*dt.Size())
				if err := tensor.Cast(src.DType, dt, data, out); err != nil {
					t.Fatalf("%s %s: %v", rel, mt.Name, err)
				}
				sum := sha256.Sum256(out)
				if hex.EncodeToString(sum[:]) != want {
					t.Errorf("%s %s: cast %v→%s differs from torch", rel, mt.Name, src.DType, name)
				}
				checked++
			}
		}
	}
	if checked < 500 {
		t.Fatalf("only %d casts checked", checked)
	}
}
