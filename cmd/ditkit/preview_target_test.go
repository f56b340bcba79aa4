package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ditkit/ditkit/loader/fixtures"
)

// stditError is PyTorch's error loading dit_A's weights into Open-Sora's
// STDiT (the page's demo error); the 1152 one is a different checkpoint's.
const (
	stditError     = "Error(s) in loading state_dict for STDiT:\n\tsize mismatch for x_embedder.proj.weight: copying a param with shape torch.Size([64, 4, 2, 2]) from checkpoint, the shape in current model is torch.Size([64, 4, 1, 2, 2]).\n"
	stditError1152 = "Error(s) in loading state_dict for STDiT:\n\tsize mismatch for x_embedder.proj.weight: copying a param with shape torch.Size([1152, 4, 2, 2]) from checkpoint, the shape in current model is torch.Size([1152, 4, 1, 2, 2]).\n"
)

// preview takes convert's target flags: with --error-text it previews the
// weights convert --error-text writes (the same PNG as previewing that
// output), says the verdict first, prints where the PNG went and leaves
// nothing else behind; an error text from another checkpoint is refused
// with the verdict. --layout original previews a diffusers file as
// convert --layout original converts it; other layouts are refused.
func TestPreviewTargetFlags(t *testing.T) {
	for _, anon := range []bool{true, false} {
		anonTemp = anon
		t.Cleanup(func() { anonTemp = true })
		dir, work := t.TempDir(), t.TempDir()
		ck, spec := fixtures.Path(t, "dit_A/ckpt_plain.pt"), specFile(t, "dit_A")
		errText := filepath.Join(work, "err.txt")
		os.WriteFile(errText, []byte(stditError), 0o644)
		converted, want, got := filepath.Join(work, "c.safetensors"), filepath.Join(work, "want.png"), filepath.Join(dir, "got.png")
		if code, _, errs := runCLI(t, "convert", ck, "--error-text", errText, "-o", converted); code != 0 {
			t.Fatal(errs)
		}
		if code, _, errs := runCLI(t, "preview", converted, "--spec", spec, "--steps", "3", "-o", want); code != 0 {
			t.Fatal(errs)
		}
		code, out, errs := runCLI(t, "preview", ck, "--error-text", errText, "--spec", spec, "--steps", "3", "-o", got)
		if code != 0 {
			t.Fatalf("preview --error-text: exit %d, %s", code, errs)
		}
		if out != "wrote "+got+" (64×64 px)\n" {
			t.Errorf("stdout %q does not say where the PNG went", out)
		}
		if !strings.HasPrefix(errs, "ditkit preview: partial: the error text lists only 1 key") {
			t.Errorf("stderr does not start with the verdict: %q", errs)
		}
		if !bytes.Equal(mustRead(t, got), mustRead(t, want)) {
			t.Error("preview --error-text differs from previewing convert --error-text's output")
		}
		if left, _ := os.ReadDir(dir); len(left) != 1 {
			t.Errorf("anon=%v: files beside the PNG: %v", anon, left)
		}

		// the error text of another checkpoint: the verdict, no PNG
		other := filepath.Join(work, "err1152.txt")
		os.WriteFile(other, []byte(stditError1152), 0o644)
		p := filepath.Join(dir, "no.png")
		code, out, errs = runCLI(t, "preview", ck, "--error-text", other, "--heads", "4", "-o", p)
		if code != 2 || out != "" || strings.Count(errs, "\n") != 1 || !strings.Contains(errs, "different checkpoint (hidden size 1152; this file has 64)") || !strings.Contains(errs, "nothing to preview") {
			t.Errorf("preview with another checkpoint's error: exit %d, %q %q", code, out, errs)
		}
		if _, err := os.Stat(p); err == nil {
			t.Error("a refused preview wrote its PNG")
		}
		if left, _ := os.ReadDir(dir); len(left) != 1 {
			t.Errorf("anon=%v: files left by the refused preview: %v", anon, left)
		}
	}

	// --layout original: a diffusers-layout DiT previewed as convert
	// --layout original converts it (the layout that runs)
	dir := t.TempDir()
	diffSpec := filepath.Join(dir, "dit_diffusers.json")
	os.WriteFile(diffSpec, []byte(`{"family":"dit-diffusers","num_attention_heads":4,"attention_head_dim":16,"in_channels":4,"out_channels":8,"num_layers":2,"sample_size":8,"patch_size":2,"num_embeds_ada_norm":10}`), 0o644)
	mid, back := filepath.Join(dir, "diffusers.safetensors"), filepath.Join(dir, "back.safetensors")
	if code, _, errs := runCLI(t, "convert", fixtures.Path(t, "dit_A/ckpt_plain.pt"), "--spec", diffSpec, "-o", mid); code != 0 {
		t.Fatal(errs)
	}
	if code, _, errs := runCLI(t, "convert", mid, "--layout", "original", "-o", back); code != 0 {
		t.Fatal(errs)
	}
	a, b := filepath.Join(dir, "a.png"), filepath.Join(dir, "b.png")
	if code, _, errs := runCLI(t, "preview", back, "--heads", "4", "--steps", "2", "-o", a); code != 0 {
		t.Fatal(errs)
	}
	code, out, errs := runCLI(t, "preview", mid, "--layout", "original", "--heads", "4", "--steps", "2", "-o", b)
	if code != 0 || !strings.HasPrefix(out, "wrote "+b) || !strings.HasPrefix(errs, "ditkit preview: fixable:") {
		t.Fatalf("preview --layout original: exit %d, %q %q", code, out, errs)
	}
	if !bytes.Equal(mustRead(t, a), mustRead(t, b)) {
		t.Error("preview --layout original differs from previewing convert --layout original's output")
	}
	for _, args := range [][]string{
		{"preview", mid, "--layout", "diffusers", "-o", filepath.Join(dir, "x.png")},
		{"preview", mid, "--layout", "original", "--error-text", filepath.Join(dir, "a.png"), "-o", filepath.Join(dir, "x.png")},
	} {
		if code, _, errs := runCLI(t, args...); code != 2 || strings.Count(errs, "\n") != 1 || !strings.HasPrefix(errs, "ditkit: ") {
			t.Errorf("%v: exit %d, %q", args[2:], code, errs)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "x.png")); err == nil {
		t.Error("a refused preview wrote its PNG")
	}
}
