package loader

import (
	"io"

	"github.com/ditkit/ditkit/loader/scan"
)

// The safety vocabulary is loader/scan's; these names keep the reader's
// API (Checkpoint.Pickle, Checkpoint.Scan) readable without it.
type (
	PickleReport = scan.PickleReport
	Global       = scan.Global
	Finding      = scan.Finding
	ScanReport   = scan.Report
)

// Verdicts, from best to worst (see loader/scan).
const (
	VerdictSafe      = scan.VerdictSafe
	VerdictBenign    = scan.VerdictBenign
	VerdictUnknown   = scan.VerdictUnknown
	VerdictDangerous = scan.VerdictDangerous
)

// attachScan runs the full scan on an opened checkpoint and makes its
// result the pickle report inspect and convert show, so they give the same
// verdict as `ditkit scan` (other pickles, nested values, zip structure).
func (c *Checkpoint) attachScan(r io.ReaderAt, size int64) {
	rep, err := scan.Scan(r, size, c.Name)
	if err != nil {
		if c.Pickle == nil {
			c.Pickle = &PickleReport{}
		}
		c.Pickle.AddFinding(Finding{Severity: scan.SeveritySuspicious, Message: "the full safety scan failed: " + err.Error()})
		return
	}
	c.Scan = rep
	if c.Pickle == nil && len(rep.Findings) == 0 && len(rep.Globals) == 0 {
		return
	}
	c.Pickle = rep.PickleReport()
}
