package spec

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/ditkit/ditkit/core/testfixtures"
)

// Families whose reference keys files list tensors in true state_dict
// order. For the others the reference says the listing "only approximates
// the saved order": a module's own parameters/buffers (scale_shift_table*,
// y_embedding) are saved before its children; the rest keeps its order.
var exactOrderFamilies = map[string]bool{"dit": true, "latte": true, "mmdit": true}

var ownFirst = regexp.MustCompile(`(scale_shift_table(_temporal)?|y_embedder\.y_embedding)$`)

func TestPresetKeysMatchReferenceFiles(t *testing.T) {
	dir := testfixtures.Doc(t, "keys")
	files, _ := filepath.Glob(filepath.Join(dir, "*.txt"))
	if len(files) == 0 {
		testfixtures.Missing(t, "reference key lists: no *.txt in %s", dir)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".txt")
		t.Run(name, func(t *testing.T) {
			want := readKeysFile(t, f)
			s, err := Preset(name)
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.Keys()
			if err != nil {
				t.Fatal(err)
			}
			if d := diffSets(want, got); len(d) > 0 {
				t.Fatalf("%d differences, first: %s", len(d), strings.Join(d[:min(len(d), 8)], "; "))
			}
			// footer: "# tensors=N elements=M"
			footer := lastLine(t, f)
			var n int
			var el int64
			if _, err := fmtSscanf(footer, &n, &el); err != nil {
				t.Fatalf("footer %q: %v", footer, err)
			}
			if n != len(got) || el != TotalElements(got) {
				t.Fatalf("footer says %d tensors %d elements, got %d / %d", n, el, len(got), TotalElements(got))
			}
			wn, gn := names(want), names(got)
			if !exactOrderFamilies[s.Family] {
				wn, gn = dropOwnFirst(wn), dropOwnFirst(gn)
			}
			for i := range wn {
				if wn[i] != gn[i] {
					t.Fatalf("order differs at %d: file %s, spec %s", i, wn[i], gn[i])
				}
			}
			// round trip through JSON keeps the key list
			js, err := json.Marshal(s)
			if err != nil {
				t.Fatal(err)
			}
			s2, err := Parse(js)
			if err != nil {
				t.Fatalf("reparse %s: %v", js, err)
			}
			if !s2.Equal(s) {
				t.Fatalf("round trip changed the spec: %s", js)
			}
			got2, _ := s2.Keys()
			if d := diffSets(got, got2); len(d) > 0 {
				t.Fatalf("round trip changed keys: %v", d[:1])
			}
		})
	}
}

func dropOwnFirst(ns []string) []string {
	var out []string
	for _, n := range ns {
		if !ownFirst.MatchString(n) {
			out = append(out, n)
		}
	}
	return out
}

func lastLine(t *testing.T, path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	return lines[len(lines)-1]
}

var footerRE = regexp.MustCompile(`^# tensors=(\d+) elements=(\d+)$`)

func fmtSscanf(s string, n *int, el *int64) (int, error) {
	m := footerRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return 0, strconv.ErrSyntax
	}
	*n, _ = strconv.Atoi(m[1])
	*el, _ = strconv.ParseInt(m[2], 10, 64)
	return 2, nil
}

// Labels of param_counts.txt → preset names.
var paramCountLabels = map[string]string{
	"DiT-XL/2@256":                 "DiT-XL_2_256",
	"DiT-XL/2@512":                 "DiT-XL_2_512",
	"DiT-L/2@256":                  "DiT-L_2_256",
	"DiT-B/2@256":                  "DiT-B_2_256",
	"DiT-S/2@256":                  "DiT-S_2_256",
	"DiT-XL/4@256":                 "DiT-XL_4_256",
	"DiT-XL/8@256":                 "DiT-XL_8_256",
	"PixArt-XL/2-256 (alpha)":      "PixArt-XL_2-256_alpha",
	"PixArt-XL/2-512 (alpha)":      "PixArt-XL_2-512_alpha",
	"PixArt-XL/2-1024-MS (alpha)":  "PixArt-XL_2-1024-MS_alpha",
	"PixArt-Sigma-XL/2-256":        "PixArt-Sigma-XL_2-256",
	"PixArt-Sigma-XL/2-512-MS":     "PixArt-Sigma-XL_2-512-MS",
	"PixArt-Sigma-XL/2-1024-MS":    "PixArt-Sigma-XL_2-1024-MS",
	"PixArt-Sigma-XL/2-2K-MS":      "PixArt-Sigma-XL_2-2K-MS",
	"STDiT-XL/2 v1.0 (16x256x256)": "STDiT-XL_2_v1.0_16x256x256",
	"STDiT-XL/2 v1.0 (16x512x512)": "STDiT-XL_2_v1.0_16x512x512",
	"STDiT2-XL/2 v1.1":             "STDiT2-XL_2_v1.1",
	"STDiT3-XL/2 v1.2":             "STDiT3-XL_2_v1.2",
	"STDiT3-3B/2 v1.2":             "STDiT3-3B_2_v1.2",
	"STDiT3-XL/2 v1.3 (STDiT-v4)":  "STDiT3-XL_2_v1.3_STDiT-v4",
	"Latte-XL/2 ucf101":            "Latte-XL_2_ucf101",
	"OpenSora2 MMDiT (unfused)":    "OpenSora2_MMDiT_unfused",
	"OpenSora2 MMDiT (fused, =Flux-dev layout +cond_in)": "OpenSora2_MMDiT_fused_Flux-dev_layout_cond_in",
	"Flux-dev layout (fused, guidance, no cond_in)":      "Flux-dev_layout_fused_guidance_no_cond_in",
}

var countLine = regexp.MustCompile(`^(.*?)\s+tensors=\s*(\d+)\s+params=\s*([\d,]+)`)

func TestPresetParamCounts(t *testing.T) {
	f, err := os.Open(testfixtures.Doc(t, "param_counts.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	seen := 0
	for sc.Scan() {
		m := countLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		label := strings.TrimSpace(m[1])
		name, ok := paramCountLabels[label]
		if !ok {
			t.Errorf("param_counts label %q has no preset mapping", label)
			continue
		}
		seen++
		wantN, _ := strconv.Atoi(m[2])
		wantP, _ := strconv.ParseInt(strings.ReplaceAll(m[3], ",", ""), 10, 64)
		s, err := Preset(name)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		es, err := s.Keys()
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if len(es) != wantN || TotalElements(es) != wantP {
			t.Errorf("%s: %d tensors %d params, want %d / %d", name, len(es), TotalElements(es), wantN, wantP)
		}
	}
	if seen < len(paramCountLabels) {
		t.Errorf("only %d of %d param_counts lines matched", seen, len(paramCountLabels))
	}
}

func TestWriteKeysRoundTrip(t *testing.T) {
	s, err := Preset("DiT-S_2_256")
	if err != nil {
		t.Fatal(err)
	}
	es, _ := s.Keys()
	var buf bytes.Buffer
	if err := WriteKeys(&buf, es); err != nil {
		t.Fatal(err)
	}
	back, err := ReadKeys(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if d := diffSets(es, back); len(d) > 0 || len(back) != len(es) {
		t.Fatalf("round trip: %v", d)
	}
	// the reference file for the same preset is byte-identical
	ref, err := os.ReadFile(testfixtures.Doc(t, "keys/DiT-S_2_256.txt"))
	if err != nil {
		t.Fatal(err)
	}
	buf.Reset()
	WriteKeys(&buf, es)
	if !bytes.Equal(bytes.TrimSpace(buf.Bytes()), bytes.TrimSpace(ref)) {
		t.Fatalf("WriteKeys output differs from DiT-S_2_256.txt")
	}
}
