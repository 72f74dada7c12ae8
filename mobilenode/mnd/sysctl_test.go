package mnd

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestSysctlJournal: the journal's lines round-trip, and a line naming
// anything but a per-interface IPv6 sysctl is refused (the journal is
// written back as root by -cleanup) while the valid lines still count.
func TestSysctlJournal(t *testing.T) {
	s := []sysctlSave{
		{"/proc/sys/net/ipv6/conf/a0/optimistic_dad", "0"},
		{"/proc/sys/net/ipv6/conf/wlan0/use_optimistic", "0"},
		{"/proc/sys/net/ipv6/conf/eth-1.100/optimistic_dad", "1"},
	}
	b := formatSysctlJournal(s)
	const want = "/proc/sys/net/ipv6/conf/a0/optimistic_dad\t0\n" +
		"/proc/sys/net/ipv6/conf/wlan0/use_optimistic\t0\n" +
		"/proc/sys/net/ipv6/conf/eth-1.100/optimistic_dad\t1\n"
	if string(b) != want {
		t.Errorf("format = %q, want %q", b, want)
	}
	got, err := parseSysctlJournal(b)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(s, got, cmp.AllowUnexported(sysctlSave{})); d != "" {
		t.Errorf("round trip (-want +got):\n%s", d)
	}
	if got, err := parseSysctlJournal(nil); err != nil || len(got) != 0 {
		t.Errorf("empty journal: %v, %v", got, err)
	}

	tests := []struct {
		line string
		ok   bool
	}{
		{"/proc/sys/net/ipv6/conf/a0/optimistic_dad\t0", true},
		{"/proc/sys/net/ipv6/conf/a0/optimistic_dad\t", true}, // an empty value is a value
		{"/proc/sys/net/ipv6/conf/a0/optimistic_dad 0", false},
		{"/proc/sys/net/ipv4/ip_forward\t1", false},
		{"/proc/sys/kernel/core_pattern\t|/tmp/x", false},
		{"/proc/sys/net/ipv6/conf/../../../kernel/core_pattern\tx", false},
		{"/proc/sys/net/ipv6/conf/a0/../forwarding\t1", false},
		{"/proc/sys/net/ipv6/conf/a0/..\t1", false},
		{"/proc/sys/net/ipv6/conf//optimistic_dad\t1", false},
		{"/proc/sys/net/ipv6/conf/a0\t1", false},
		{"/proc/sys/net/ipv6/conf/a0/\t1", false},
		{"/proc/sys/net/ipv6/conf/a0/x/y\t1", false},
		{"/proc/sys/net/ipv6/conf/a0/optimistic_dad\t0\t1", false},
		{"/proc/sys/net/ipv6/conf/a0/optimistic_dad\t0\r", false},
	}
	valid := "/proc/sys/net/ipv6/conf/b0/use_optimistic\t0\n"
	for _, tt := range tests {
		got, err := parseSysctlJournal([]byte(tt.line + "\n" + valid))
		if (err == nil) != tt.ok {
			t.Errorf("%q: error %v, want ok %v", tt.line, err, tt.ok)
		}
		want := 1
		if tt.ok {
			want = 2
		}
		if len(got) != want || got[len(got)-1].path != "/proc/sys/net/ipv6/conf/b0/use_optimistic" {
			t.Errorf("%q: entries %v, want %d ending with the valid line", tt.line, got, want)
		}
	}
}

// FuzzSysctlJournal: whatever the file holds, the entries read back from
// it are all valid, and writing them and reading again gives the same
// entries with no error.
func FuzzSysctlJournal(f *testing.F) {
	f.Add([]byte("/proc/sys/net/ipv6/conf/a0/optimistic_dad\t0\n/proc/sys/net/ipv6/conf/a0/use_optimistic\t0\n"))
	f.Add([]byte("/proc/sys/net/ipv6/conf/../../kernel/x\t1\n"))
	f.Add([]byte("\n\n/proc/sys/net/ipv6/conf/a0/x\t\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, _ := parseSysctlJournal(b)
		for _, e := range s {
			if !validSysctlPath(e.path) {
				t.Fatalf("invalid path %q accepted", e.path)
			}
		}
		s2, err := parseSysctlJournal(formatSysctlJournal(s))
		if err != nil {
			t.Fatalf("reading back %q: %v", formatSysctlJournal(s), err)
		}
		if d := cmp.Diff(s, s2, cmp.AllowUnexported(sysctlSave{})); d != "" {
			t.Fatalf("round trip (-first +second):\n%s", d)
		}
	})
}
