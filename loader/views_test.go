package loader_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/ditkit/ditkit/loader"
	"github.com/ditkit/ditkit/loader/fixtures"
)

// Real PyTorch saves shared storages, views at offsets, transposed
// (non-contiguous) views, expanded views, parameters and every common
// dtype, in both formats; ditkit reads each tensor's values exactly as
// torch's .contiguous() bytes.
const viewsScript = `
import hashlib, json, sys, torch
torch.manual_seed(0)
base = torch.randn(6, 8)
sd = {
  "whole": base,
  "row_view": base[2],                     # offset into a shared storage
  "transposed": base.t(),                  # non-contiguous
  "strided": base[:, ::3],                 # inner stride 3
  "expanded": torch.randn(1, 4).expand(3, 4),  # zero stride
  "param": torch.nn.Parameter(torch.randn(3, 3)),
  "half": torch.randn(5).half(), "bf16": torch.randn(2, 3).bfloat16(), "f64": torch.randn(4).double(),
  "i64": torch.arange(7), "i32": torch.arange(3, dtype=torch.int32), "u8": torch.arange(4, dtype=torch.uint8),
  "bool": torch.tensor([True, False, True]), "scalar": torch.tensor(3.5),
  "empty": torch.zeros(0, 4),
  "alias": base,                            # the same tensor under two names
}
def raw(t):
    t = t.contiguous()
    if t.dtype == torch.bfloat16: t = t.view(torch.int16)
    return t.numpy().tobytes()
out = {}
for k, v in sd.items():
    v = v.detach()
    out[k] = {"shape": list(v.shape), "sha256": hashlib.sha256(raw(v)).hexdigest()}
torch.save(sd, sys.argv[1])
torch.save(sd, sys.argv[2], _use_new_zipfile_serialization=False)
print(json.dumps(out))
`

func TestTorchViewsAndDTypes(t *testing.T) {
	py := fixtures.TorchPython(t)
	dir := t.TempDir()
	zipPath, legacyPath := filepath.Join(dir, "views.pt"), filepath.Join(dir, "views_legacy.pt")
	out, err := exec.Command(py, "-c", viewsScript, zipPath, legacyPath).Output()
	if err != nil {
		t.Fatalf("torch: %v", err)
	}
	var want map[string]struct {
		Shape  []int  `json:"shape"`
		SHA256 string `json:"sha256"`
	}
	if err := json.Unmarshal(out, &want); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{zipPath, legacyPath} {
		ck, f, err := loader.OpenFile(p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if len(ck.Tensors) != len(want) {
			t.Errorf("%s: %d tensors, torch saved %d", p, len(ck.Tensors), len(want))
		}
		for name, w := range want {
			tt := ck.Tensor(name)
			if tt == nil {
				t.Errorf("%s: no %s", p, name)
				continue
			}
			b, err := ck.ReadTensor(tt)
			if err != nil {
				t.Errorf("%s %s: %v", p, name, err)
				continue
			}
			sum := sha256.Sum256(b)
			if hex.EncodeToString(sum[:]) != w.SHA256 || len(tt.Shape) != len(w.Shape) {
				t.Errorf("%s %s: bytes or shape differ from torch (%v vs %v)", p, name, tt.Shape, w.Shape)
			}
		}
		f.Close()
	}
}
