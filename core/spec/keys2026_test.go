package spec

import (
	"bytes"
	"github.com/ditkit/ditkit/core/testfixtures"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var countHeader = regexp.MustCompile(`^# tensors: (\d+)  total_params: (\d+)$`)

// Every 2026 reference key list is a preset of the same name whose keys
// equal the file's name for name, shape for shape and in order, and `spec
// --keys` prints the same lines in the same format.
func TestPreset2026KeysMatchReferenceFiles(t *testing.T) {
	dir := testfixtures.Doc(t, "keys/2026")
	files, _ := filepath.Glob(filepath.Join(dir, "*.txt"))
	if len(files) < 30 {
		t.Fatalf("only %d key files in %s", len(files), dir)
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
			for i := range want {
				if want[i].Name != got[i].Name {
					t.Fatalf("order differs at %d: file %s, spec %s", i, want[i].Name, got[i].Name)
				}
			}
			data, _ := os.ReadFile(f)
			var n int
			var p int64
			for _, l := range strings.Split(string(data), "\n") {
				if m := countHeader.FindStringSubmatch(l); m != nil {
					n, _ = strconv.Atoi(m[1])
					p, _ = strconv.ParseInt(m[2], 10, 64)
				}
			}
			if n != len(got) || p != TotalElements(got) {
				t.Fatalf("header says %d tensors %d params, spec %d / %d", n, p, len(got), TotalElements(got))
			}
			var buf bytes.Buffer
			if err := WriteSpecKeys(&buf, s, got); err != nil {
				t.Fatal(err)
			}
			if body(buf.String()) != body(string(data)) {
				t.Fatal("WriteSpecKeys lines differ from the file's")
			}
			if !strings.Contains(buf.String(), countHeaderLine(n, p)) {
				t.Fatalf("no %q line", countHeaderLine(n, p))
			}
			v, l := PresetVariant(name)
			if v == "" || l == "" {
				t.Fatalf("variant %q layout %q", v, l)
			}
		})
	}
}

func countHeaderLine(n int, p int64) string {
	return "# tensors: " + strconv.Itoa(n) + "  total_params: " + strconv.FormatInt(p, 10)
}

// body is the non-comment lines of a key list.
func body(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// families2026 are the families added for today's diffusion transformers.
var families2026 = []string{"flux", "flux-diffusers", "wan", "wan-diffusers", "sd3", "sd3-diffusers", "hunyuanvideo", "hunyuanvideo-diffusers",
	"ltx-video", "ltx-video-diffusers", "cogvideox", "sana", "sana-diffusers"}
