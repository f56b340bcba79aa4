package scan_test

import (
	"bufio"
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/ditkit/ditkit/loader"
	"github.com/ditkit/ditkit/loader/scan"
)

// corpusDir holds the public scanners' test files (picklescan, fickling,
// modelscan); testdata/corpus/PROVENANCE.md says where each comes from and
// EXPECT.tsv classes them:
//
//	runs      its payload runs under pickle.load, torch.load(weights_only=False)
//	          or numpy.load(allow_pickle=True): must be flagged
//	payload   carries a malicious pickle those loaders do not run as given
//	          (a zip without torch's layout, a 7z, a pickle broken before its
//	          call): must be flagged
//	frame     fickling's FRAME-boundary variants: must not pass
//	probe     a name-coverage probe (a blocklisted module's missing
//	          function): must be flagged
//	benign    holds no code: must pass (safe or benign)
//	expansion fickling's expansion patterns; other: anything else
//
// and record the verdict ditkit gives ("unreadable" for a scan error), so
// any change of verdict shows here.
const corpusDir = "testdata/corpus"

type corpusRow struct{ path, class, verdict string }

func readExpect(t *testing.T) []corpusRow {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(corpusDir, "EXPECT.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	var rows []corpusRow
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) < 3 {
			t.Fatalf("EXPECT.tsv: bad line %q", sc.Text())
		}
		rows = append(rows, corpusRow{f[0], f[1], f[2]})
	}
	return rows
}

func TestPublicCorpora(t *testing.T) {
	rows := readExpect(t)
	listed := map[string]bool{}
	for _, r := range rows {
		listed[r.path] = true
	}
	filepath.WalkDir(corpusDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, ".py") || strings.HasSuffix(p, ".md") || strings.HasSuffix(p, ".tsv") {
			return err
		}
		rel, _ := filepath.Rel(corpusDir, p)
		if !listed[filepath.ToSlash(rel)] {
			t.Errorf("%s is not in EXPECT.tsv", rel)
		}
		return nil
	})
	type count struct{ flagged, passed, unreadable, total int }
	counts := map[string]*count{}
	for _, r := range rows {
		b, err := os.ReadFile(filepath.Join(corpusDir, r.path))
		if err != nil {
			t.Errorf("%s: %v", r.path, err)
			continue
		}
		got := "unreadable"
		rep, err := scanBytes(t, b, r.path)
		if err == nil {
			got = rep.Verdict
		}
		flagged := got == scan.VerdictDangerous || got == scan.VerdictUnknown
		passed := got == scan.VerdictSafe || got == scan.VerdictBenign
		switch r.class {
		case "runs", "payload", "probe":
			if !flagged {
				t.Errorf("%s (%s): not flagged: %s %v", r.path, r.class, got, err)
			}
		case "frame":
			if passed {
				t.Errorf("%s: a FRAME-boundary variant passes as %s", r.path, got)
			}
		case "benign":
			if !passed {
				t.Errorf("%s: a benign file is %s (a false alarm): %v", r.path, got, findings(rep))
			}
		}
		if got != r.verdict {
			t.Errorf("%s: verdict %s, EXPECT.tsv says %s: %v %v", r.path, got, r.verdict, err, findings(rep))
		}
		// torch formats Open reads get the same verdict from inspect
		if rep != nil && (rep.Format == loader.FormatTorchZip || rep.Format == loader.FormatTorchLegacy) {
			if ck, err := loader.Open(bytes.NewReader(b), int64(len(b)), r.path); err == nil && ck.Pickle.Verdict() != got {
				t.Errorf("%s: Open's verdict %s, scan's %s", r.path, ck.Pickle.Verdict(), got)
			}
		}
		src, _, _ := strings.Cut(r.path, "/")
		for _, k := range []string{src + " " + r.class, "all " + r.class} {
			c := counts[k]
			if c == nil {
				c = &count{}
				counts[k] = c
			}
			c.total++
			switch {
			case flagged:
				c.flagged++
			case passed:
				c.passed++
			default:
				c.unreadable++
			}
		}
	}
	var keys []string
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		c := counts[k]
		t.Logf("%-22s %3d files: %3d flagged, %3d pass, %d unreadable", k, c.total, c.flagged, c.passed, c.unreadable)
	}
}

func findings(rep *scan.Report) []string {
	if rep == nil {
		return nil
	}
	return rep.PickleReport().Findings
}
