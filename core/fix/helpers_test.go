package fix_test

import (
	"testing"

	"github.com/ditkit/ditkit/core/spec"
	"github.com/ditkit/ditkit/loader/fixtures"
)

func fixtureSpec(t *testing.T, model string) *spec.Spec {
	t.Helper()
	s, err := spec.Parse(fixtures.SpecJSON(t, model))
	if err != nil {
		t.Fatalf("%s spec: %v", model, err)
	}
	return s
}

func ditSpec(t *testing.T) *spec.Spec   { return fixtureSpec(t, "dit_A") }
func stditSpec(t *testing.T) *spec.Spec { return fixtureSpec(t, "stdit_tiny") }
