package scan_test

import (
	"testing"

	"github.com/ditkit/ditkit/loader/scan"
)

// The verdict ladder (README "Safety verdicts"): each rung with what it
// can do inside pickle.load.
func TestGlobalVerdictLadder(t *testing.T) {
	for _, c := range []struct{ module, name, want string }{
		{"torch._utils", "_rebuild_tensor_v2", scan.VerdictSafe},
		{"collections", "OrderedDict", scan.VerdictSafe},
		{"torch", "BFloat16Storage", scan.VerdictSafe},
		{"builtins", "len", scan.VerdictBenign}, // computes a value, runs nothing
		{"builtins", "ValueError", scan.VerdictBenign},
		{"__builtin__", "set", scan.VerdictSafe},
		{"__future__", "division", scan.VerdictBenign}, // _Feature records
		{"collections", "deque", scan.VerdictBenign},
		{"collections.abc", "Mapping", scan.VerdictBenign},
		{"_collections_abc", "Set", scan.VerdictBenign},
		{"argparse", "Namespace", scan.VerdictBenign},
		{"my_project.models", "DiT", scan.VerdictUnknown},
		{"collections.abc", "Mapping.register", scan.VerdictUnknown},
		{"__future__", "_ssl.RAND_bytes", scan.VerdictDangerous},
		{"builtins", "print", scan.VerdictDangerous},
		{"builtins", "getattr", scan.VerdictDangerous},
		{"builtins", "eval", scan.VerdictDangerous},
		{"__builtin__", "apply", scan.VerdictDangerous},
		{"os", "system", scan.VerdictDangerous},
		{"posix", "system", scan.VerdictDangerous},
		{"torch.serialization", "load", scan.VerdictDangerous},
		{"collections", "OrderedDict.__init__.__globals__", scan.VerdictDangerous},
		{"commands", "getoutput", scan.VerdictDangerous}, // Python 2 name of subprocess
	} {
		if got := scan.GlobalVerdict(c.module, c.name); got != c.want {
			t.Errorf("%s.%s: %s, want %s", c.module, c.name, got, c.want)
		}
	}
}
