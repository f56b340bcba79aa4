package ui

import (
	"errors"
	"fmt"
	"testing"

	"github.com/ditkit/ditkit/loader/report"
)

func TestFilterRowsMatchesEveryWordAndCaps(t *testing.T) {
	rep := &report.Inspect{}
	for i := range 5000 {
		rep.Tensors = append(rep.Tensors, report.TensorInfo{Name: fmt.Sprintf("blocks.%d.attn.qkv.weight", i), DType: "BF16", Shape: []int{3456, 1152}})
	}
	rows := tensorRows(rep)
	got, total := filterRows(rows, "QKV bf16", pageRows)
	if total != 5000 || len(got) != pageRows {
		t.Fatalf("got %d rows of %d, want %d of 5000", len(got), total, pageRows)
	}
	got, total = filterRows(rows, "blocks.4999. [3456, 1152]", pageRows)
	if total != 1 || got[0].Name != "blocks.4999.attn.qkv.weight" {
		t.Fatalf("got %+v (%d)", got, total)
	}
}

func TestCLIErrorIsOneLine(t *testing.T) {
	if got := CLIError(errors.New("a.pt: offset 0:\nbad")); got != "ditkit: a.pt: offset 0: bad" {
		t.Fatal(got)
	}
}

func TestImageNetClassNames(t *testing.T) {
	if len(ImageNetClasses) != 1000 || ImageNetClasses[207] != "golden retriever" || ImageNetClasses[0] != "tench" || ImageNetClasses[999] != "toilet tissue" {
		t.Fatalf("%d names; 207 %q", len(ImageNetClasses), ImageNetClasses[207])
	}
	r := &Root{Det: &Detected{Params: []Param{{Name: "num_classes", Value: "1000"}}}}
	if len(r.classOptions()) != 1000 {
		t.Error("1000-class models get the ImageNet names")
	}
	r.Det.Params[0].Value = "10"
	if len(r.classOptions()) != 0 {
		t.Error("a 10-class model gets no ImageNet names")
	}
}
