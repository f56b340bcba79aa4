package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/ditkit/ditkit/core/tensor"
	"github.com/ditkit/ditkit/loader"
)

// A checkpoint with 6000 tensors: the table renders the first rows only,
// and searching all of them updates the page quickly.
func TestTensorTableStaysFastWithThousandsOfRows(t *testing.T) {
	ctx := page(t)
	var srcs []loader.Source
	for i := range 6000 {
		srcs = append(srcs, loader.BytesSource(fmt.Sprintf("blocks.%d.attn.qkv.weight", i), tensor.F32, []int{1}, make([]byte, 4)))
	}
	var b bytes.Buffer
	if err := loader.WriteSafetensors(&b, srcs, nil); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "many.safetensors")
	os.WriteFile(path, b.Bytes(), 0o644)
	drop(t, ctx, path)
	waitJS(t, ctx, `document.querySelector("#report h2")?.textContent === "many.safetensors"`, "the report")
	if n := js[int](t, ctx, `document.querySelectorAll("#tensors tbody tr").length`); n != 200 {
		t.Errorf("%d rows rendered, want the first 200", n)
	}
	ms := js[float64](t, ctx, `new Promise(res => {
		const s = document.getElementById("search"), t0 = performance.now();
		const o = new MutationObserver(() => { if (document.getElementById("count").textContent.includes("of 1 matching")) { o.disconnect(); res(performance.now() - t0) } });
		o.observe(document.getElementById("tensors"), {subtree: true, childList: true, characterData: true});
		s.value = "blocks.5999."; s.dispatchEvent(new Event("input", {bubbles: true}));
	})`)
	t.Logf("search over 6000 tensors rendered in %.0f ms", ms)
	if ms > 1000 {
		t.Errorf("search took %.0f ms", ms)
	}
	if got := text(t, ctx, "#tensors tbody tr td"); got != "blocks.5999.attn.qkv.weight" {
		t.Errorf("first row %q", got)
	}
	shot(t, ctx, "search")
}
