package scan_test

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/ditkit/ditkit/loader"
	"github.com/ditkit/ditkit/loader/fixtures"
	"github.com/ditkit/ditkit/loader/scan"
)

func scanBytes(t testing.TB, b []byte, name string) (*scan.Report, error) {
	t.Helper()
	return scan.Scan(bytes.NewReader(b), int64(len(b)), name)
}

// Every benign fixture is safe, except the DiT train.py checkpoint whose
// argparse.Namespace makes it benign; Open reports the same verdict.
func TestScanBenignFixtures(t *testing.T) {
	for _, rel := range fixtures.Checkpoints(t) {
		b, err := os.ReadFile(fixtures.Path(t, rel))
		if err != nil {
			t.Fatal(err)
		}
		rep, err := scanBytes(t, b, rel)
		if err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
		want := scan.VerdictSafe
		if strings.HasSuffix(rel, "ckpt_train.pt") {
			want = scan.VerdictBenign
		}
		if rep.Verdict != want {
			t.Errorf("%s: verdict %s, want %s; findings %v; globals %v", rel, rep.Verdict, want, rep.Findings, rep.Globals)
		}
		if !strings.HasSuffix(rel, ".safetensors") && len(rep.Pickles) == 0 {
			t.Errorf("%s: no pickle scanned", rel)
		}
		ck, err := loader.Open(bytes.NewReader(b), int64(len(b)), rel)
		if err != nil {
			t.Fatal(err)
		}
		if got := ck.Pickle.Verdict(); got != want {
			t.Errorf("%s: Open verdict %s, want %s", rel, got, want)
		}
		t.Logf("%s: %s %s, %d pickles, %d globals, %d findings", rel, rep.Format, rep.Verdict, len(rep.Pickles), len(rep.Globals), len(rep.Findings))
	}
}
