package lab

import (
	"os"
	"testing"
)

// Known daemon bugs, each reproduced by a test that fails today. They are
// skipped so that CI stays green; GOMIP6_KNOWN=1 runs them (root, like the
// rest of the end-to-end tier).

func skipKnown(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("GOMIP6_KNOWN") == "" {
		t.Skip("KNOWN: " + why + " (GOMIP6_KNOWN=1 runs it)")
	}
}
