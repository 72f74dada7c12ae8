package mnd

import (
	"bytes"
	"errors"
	"io/fs"
	"maps"
	"os"
	"strings"
	"testing"
	"time"
)

// TestRootSysctlRestore: the sysctls mnd changes on the access
// interfaces (optimistic DAD, RFC 4429) get their original values back
// at a clean shutdown; after a crash (the journal and the changed values
// left as a killed daemon leaves them) from -cleanup, and from the next
// daemon's shutdown when it was started without -cleanup.
func TestRootSysctlRestore(t *testing.T) {
	l := newRootLab(t)
	keys := []string{"optimistic_dad", "use_optimistic"}
	ifaces := []string{"home0", "a0", "b0"}
	// Originals that differ per interface, so a restore to the wrong
	// value or to a default shows.
	must(t, l.mn.Sysctl("net/ipv6/conf/b0/use_optimistic", "1"))
	read := func() map[string]string {
		m := map[string]string{}
		for _, i := range ifaces {
			for _, k := range keys {
				v, err := l.mn.ReadSysctl("net/ipv6/conf/" + i + "/" + k)
				must(t, err)
				m[i+"/"+k] = v
			}
		}
		return m
	}
	orig := read()
	if orig["a0/optimistic_dad"] != "0" || orig["b0/use_optimistic"] != "1" {
		t.Fatalf("unexpected originals %v", orig)
	}
	allSet := func() bool {
		for _, v := range read() {
			if v != "1" {
				return false
			}
		}
		return true
	}
	journal := sysctlJournalPath(l.mnConf())
	check := func(when string) {
		t.Helper()
		if got := read(); !maps.Equal(got, orig) {
			t.Errorf("%s: sysctls %v, want %v", when, got, orig)
		}
		if _, err := os.Stat(journal); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: journal still there (%v)", when, err)
		}
	}

	_, stop := l.startOnA()
	l.waitFor("sysctls set", 5*time.Second, allSet)
	saved, err := os.ReadFile(journal)
	must(t, err)
	t.Logf("journal:\n%s", saved)
	// b0's use_optimistic was 1 already: nothing to record.
	if n := strings.Count(string(saved), "\n"); n != 5 || strings.Contains(string(saved), "b0/use_optimistic") {
		t.Errorf("journal has %d entries, want the 5 changed ones", n)
	}
	stop()
	check("clean shutdown")

	// A crash: the values changed and the journal left.
	crashed := func() {
		t.Helper()
		must(t, os.WriteFile(journal, saved, 0o600))
		for _, i := range ifaces {
			for _, k := range keys {
				must(t, l.mn.Sysctl("net/ipv6/conf/"+i+"/"+k, "1"))
			}
		}
	}
	crashed()
	var out bytes.Buffer
	must(t, l.mn.Do(func() error { return Cleanup(l.mnConf(), &out) }))
	t.Logf("cleanup:\n%s", out.String())
	if n := strings.Count(out.String(), "mnd: restored /proc/sys/net/ipv6/conf/"); n != 5 {
		t.Errorf("cleanup restored %d sysctls, want 5", n)
	}
	check("-cleanup after a crash")
	out.Reset()
	must(t, l.mn.Do(func() error { return Cleanup(l.mnConf(), &out) }))
	if !strings.Contains(out.String(), "nothing to clean up") {
		t.Errorf("second cleanup: %q", out.String())
	}

	// A crash, then a new daemon without -cleanup: it finds the values
	// already set, and restores the journal's at its shutdown.
	crashed()
	_, stop = l.startOnA()
	stop()
	check("restart after a crash")
}
