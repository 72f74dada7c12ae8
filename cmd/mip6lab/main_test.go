package main

import (
	"strings"
	"testing"
)

// The command line is checked before anything is built, and without root
// the command says what it needs instead of failing half-way.
func TestRunUsage(t *testing.T) {
	defer func(f func() int) { geteuid = f }(geteuid)
	geteuid = func() int { return 1000 }
	for _, tc := range []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"--legs", "a,c"}, 2, `unknown site "c"`},
		{[]string{"--legs", ""}, 2, "unknown site"},
		{[]string{"--legs", "home,a"}, 2, "the first leg must go elsewhere"},
		{[]string{"--legs", "a,a"}, 2, "legs 1 and 2 both at a"},
		{[]string{"--leg-time", "100ms"}, 2, "between 1s and 1m"},
		{[]string{"--radvd", "fast"}, 2, `--radvd: lab: unknown radvd setting "fast"`},
		{[]string{"--radvd", "mipv6-min"}, 2, "must run as root"},
		{[]string{"--radvd", "Defaults"}, 2, "must run as root"},
		{[]string{"extra"}, 2, `unexpected argument "extra"`},
		{[]string{"--nope"}, 2, "flag provided but not defined"},
		{[]string{"-h"}, 0, "usage: mip6lab"},
		{nil, 2, "must run as root"},
		{[]string{"--json", "--legs", "A, home"}, 2, "must run as root"},
	} {
		var out, errb strings.Builder
		code := run(tc.args, &out, &errb)
		if code != tc.code || !strings.Contains(errb.String(), tc.err) {
			t.Errorf("run(%q) = %d, stderr %q; want %d and %q", tc.args, code, errb.String(), tc.code, tc.err)
		}
		if out.Len() != 0 {
			t.Errorf("run(%q) wrote to stdout: %q", tc.args, out.String())
		}
	}
}
