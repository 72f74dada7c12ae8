package conf

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// want is one expected problem: its exact key path and a piece of its
// message.
type want struct{ key, msg string }

// edit applies pairs of (old, new) replacements to base. Each old must
// occur exactly once, so that a test whose base changed under it fails
// instead of silently testing the base. An empty old appends new.
func edit(t *testing.T, base string, pairs ...string) string {
	t.Helper()
	if len(pairs)%2 != 0 {
		t.Fatalf("edit: odd number of arguments")
	}
	s := base
	for i := 0; i < len(pairs); i += 2 {
		old, repl := pairs[i], pairs[i+1]
		if old == "" {
			s += "\n" + repl + "\n"
			continue
		}
		if n := strings.Count(s, old); n != 1 {
			t.Fatalf("edit: %q occurs %d times in the base, want once", old, n)
		}
		s = strings.Replace(s, old, repl, 1)
	}
	return s
}

// checkProblems asserts that err lists exactly the problems wanted: the
// same multiset of key paths, each message containing its piece.
func checkProblems(t *testing.T, err error, wants []want) {
	t.Helper()
	if len(wants) == 0 {
		if err != nil {
			t.Fatalf("unexpected problems:\n%v", err)
		}
		return
	}
	var ce Errors
	if !errors.As(err, &ce) {
		t.Fatalf("error %v (%T) is not conf.Errors; want problems %v", err, err, wants)
	}
	gotKeys := make([]string, len(ce))
	for i, p := range ce {
		gotKeys[i] = p.Key
	}
	wantKeys := make([]string, len(wants))
	for i, w := range wants {
		wantKeys[i] = w.key
	}
	slices.Sort(gotKeys)
	slices.Sort(wantKeys)
	if diff := cmp.Diff(wantKeys, gotKeys); diff != "" {
		t.Fatalf("problem keys differ (-want +got):\n%s\nall problems:\n%v", diff, err)
	}
	used := make([]bool, len(ce))
next:
	for _, w := range wants {
		for i, p := range ce {
			if !used[i] && p.Key == w.key && strings.Contains(p.Msg, w.msg) {
				used[i] = true
				continue next
			}
		}
		t.Errorf("no problem at %s containing %q; all problems:\n%v", w.key, w.msg, err)
	}
}

// cmpOpts compares netip values, which have unexported fields, by value.
var cmpOpts = cmp.Options{
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
	cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
}
