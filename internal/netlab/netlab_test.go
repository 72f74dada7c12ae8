package netlab

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// The tests in this file need no privilege: they cover the pure parts
// (names, records, the sweeper's decisions).

func TestNewPrefix(t *testing.T) {
	got, err := newPrefix(bytes.NewReader([]byte{0xa1, 0xb2, 0xff}))
	if err != nil {
		t.Fatal(err)
	}
	if got != "g6a1b2" {
		t.Errorf("newPrefix = %q, want g6a1b2", got)
	}
	if _, err := newPrefix(bytes.NewReader([]byte{1})); err == nil {
		t.Error("newPrefix with a short reader: no error")
	}
	// Random prefixes match the sweeper's pattern, and namespace names
	// built from them parse back.
	seen := map[string]bool{}
	for range 200 {
		p, err := newPrefix(randReader{})
		if err != nil {
			t.Fatal(err)
		}
		if !prefixRE.MatchString(p) {
			t.Fatalf("prefix %q does not match %v", p, prefixRE)
		}
		gp, gs, ok := parseNSName(p + "-home")
		if !ok || gp != p || gs != "home" {
			t.Fatalf("parseNSName(%q) = %q, %q, %v", p+"-home", gp, gs, ok)
		}
		seen[p] = true
	}
	// 200 draws from 65536 values: a handful of collisions at most.
	if len(seen) < 190 {
		t.Errorf("only %d distinct prefixes in 200 draws", len(seen))
	}
}

type randReader struct{}

func (randReader) Read(b []byte) (int, error) {
	f, err := os.Open("/dev/urandom")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return f.Read(b)
}

func TestParseNSName(t *testing.T) {
	for _, tc := range []struct {
		name          string
		prefix, short string
		ok            bool
	}{
		{"g6a1b2-home", "g6a1b2", "home", true},
		{"g6a1b2-r", "g6a1b2", "r", true},
		{"g60000-mn.1_x-y", "g60000", "mn.1_x-y", true},
		{"g6a1b2-", "", "", false},
		{"g6a1b2", "", "", false},
		{"g6A1B2-home", "", "", false}, // upper case hex: not ours
		{"g6a1b-home", "", "", false},
		{"g6a1b23-home", "", "", false},
		{"xg6a1b2-home", "", "", false},
		{"g6a1b2-Home", "", "", false},
		{"g6a1b2--home", "", "", false},
		{"g6a1b2-ho me", "", "", false},
		{"docker-g6a1b2-x", "", "", false},
		{"", "", "", false},
	} {
		p, s, ok := parseNSName(tc.name)
		if p != tc.prefix || s != tc.short || ok != tc.ok {
			t.Errorf("parseNSName(%q) = %q, %q, %v; want %q, %q, %v", tc.name, p, s, ok, tc.prefix, tc.short, tc.ok)
		}
	}
}

func TestShortName(t *testing.T) {
	for _, tc := range []struct {
		short string
		ok    bool
	}{
		{"a", true},
		{"home", true},
		{"foreign-a", true},
		{"ha.1", true},
		{"x_2", true},
		{"0", true},
		{"", false},
		{"-a", false},
		{".a", false},
		{"A", false},
		{"a b", false},
		{"a/b", false},
		{"abcdefghijabcdefghijabcdefghijab", true}, // 32
		{"abcdefghijabcdefghijabcdefghijabc", false},
	} {
		if got := shortRE.MatchString(tc.short); got != tc.ok {
			t.Errorf("short name %q accepted = %v, want %v", tc.short, got, tc.ok)
		}
	}
	// NS checks the name before it runs anything, so this needs no root.
	l := &Lab{prefix: "g6ffff"}
	if _, err := l.NS("Bad Name"); err == nil {
		t.Error("NS(\"Bad Name\"): no error")
	}
}

func TestValidIfname(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"eth0", true},
		{"veth-home-mn0", true},
		{"abcdefghijklmno", true}, // 15
		{"abcdefghijklmnop", false},
		{"", false},
		{".", false},
		{"..", false},
		{"a/b", false},
		{"a:b", false},
		{"a b", false},
		{"a\tb", false},
		{"a\x00", false},
		{"é", false},
	} {
		if got := validIfname(tc.name); got != tc.ok {
			t.Errorf("validIfname(%q) = %v, want %v", tc.name, got, tc.ok)
		}
	}
}

func TestLinkRejectsBadNames(t *testing.T) {
	l := &Lab{prefix: "g6ffff"}
	a := &NS{Name: "g6ffff-a", short: "a", lab: l}
	b := &NS{Name: "g6ffff-b", short: "b", lab: l}
	other := &NS{Name: "g6eeee-c", short: "c", lab: &Lab{prefix: "g6eeee"}}
	for _, tc := range []struct {
		a, b     *NS
		aIf, bIf string
		desc     string
	}{
		{a, b, "this-name-is-too-long", "x", "long a name"},
		{a, b, "x", "y:z", "colon"},
		{a, a, "x", "x", "same end twice"},
		{a, other, "x", "y", "foreign namespace"},
		{nil, b, "x", "y", "nil namespace"},
	} {
		if err := l.Link(tc.a, tc.aIf, tc.b, tc.bIf); err == nil {
			t.Errorf("Link (%s): no error", tc.desc)
		}
	}
}

func TestSysctlRejectsHostKeys(t *testing.T) {
	n := &NS{Name: "g6ffff-nonexistent"}
	for _, key := range []string{
		"kernel.hostname",
		"vm.swappiness",
		"net/../kernel/hostname",
		"/proc/sys/net/ipv6/conf/all/forwarding",
		"netfilter.x",
		"",
	} {
		if err := n.Sysctl(key, "1"); err == nil {
			t.Errorf("Sysctl(%q): no error", key)
		}
		if _, err := n.ReadSysctl(key); err == nil {
			t.Errorf("ReadSysctl(%q): no error", key)
		}
	}
}

func TestRouteFamily(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"default", "via", "2001:db8:1::1"}, "-6"},
		{[]string{"default", "via", "192.0.2.1"}, "-4"},
		{[]string{"2001:db8:2::/64", "via", "2001:db8:1::1", "dev", "eth0"}, "-6"},
		{[]string{"198.51.100.0/24", "dev", "eth0"}, "-4"},
		{[]string{"default", "dev", "eth0"}, ""},
		{[]string{"fe80::1%eth0"}, "-6"},
		{nil, ""},
	} {
		if got := routeFamily(tc.args); got != tc.want {
			t.Errorf("routeFamily(%q) = %q, want %q", tc.args, got, tc.want)
		}
	}
}

func TestParseStat(t *testing.T) {
	// Field 22 is the start time; the command name may hold ") (" and
	// spaces, so fields must be counted from the last ')'.
	const tailFields = "S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 123456 20 21"
	for _, tc := range []struct {
		stat      string
		state     string
		start     uint64
		wantError bool
	}{
		{"42 (sleep) " + tailFields, "S", 123456, false},
		{"42 (a) (b c) " + tailFields, "S", 123456, false},
		{"42 ()) " + tailFields, "S", 123456, false},
		{"42 (x) Z 1 2 3", "", 0, true},
		{"42 x S", "", 0, true},
		{"42 (x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 notanumber", "", 0, true},
	} {
		state, start, err := parseStat([]byte(tc.stat))
		if (err != nil) != tc.wantError {
			t.Errorf("parseStat(%q) error %v, want error %v", tc.stat, err, tc.wantError)
			continue
		}
		if state != tc.state || start != tc.start {
			t.Errorf("parseStat(%q) = %q, %d; want %q, %d", tc.stat, state, start, tc.state, tc.start)
		}
	}
	// Against the real thing: this process is running (R) or sleeping.
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		t.Skip(err)
	}
	if _, start, err := parseStat(b); err != nil || start == 0 {
		t.Errorf("parseStat(/proc/self/stat) start %d, %v", start, err)
	}
}

func TestParseRecord(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    owner
		wantErr bool
	}{
		{"1234 98765\n", owner{1234, 98765}, false},
		{"1234\n", owner{1234, 0}, false},
		{"", owner{}, true},
		{"0 5", owner{}, true},
		{"-3 5", owner{}, true},
		{"x 5", owner{}, true},
		{"12 y", owner{}, true},
		{"1 2 3", owner{}, true},
	} {
		got, err := parseRecord([]byte(tc.in))
		if (err != nil) != tc.wantErr {
			t.Errorf("parseRecord(%q) error %v, want error %v", tc.in, err, tc.wantErr)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("parseRecord(%q) (-want +got):\n%s", tc.in, diff)
		}
	}
}

func TestOwnerAlive(t *testing.T) {
	self, err := procStartTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if !ownerAlive(owner{os.Getpid(), self}) {
		t.Error("this process is not alive")
	}
	if !ownerAlive(owner{os.Getpid(), 0}) {
		t.Error("this process, start time unknown, is not alive")
	}
	// Same PID, other start time: a recycled PID, not the owner.
	if ownerAlive(owner{os.Getpid(), self + 1}) {
		t.Error("a recycled PID counts as the owner")
	}
	// A child that has exited and been reaped.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip(err)
	}
	if ownerAlive(owner{cmd.Process.Pid, 0}) {
		// The PID could have been recycled within microseconds; check it
		// really is a different process before failing.
		if _, err := os.Stat("/proc/" + strconv.Itoa(cmd.Process.Pid)); err != nil {
			t.Errorf("exited child %d counts as alive", cmd.Process.Pid)
		}
	}
}

func TestPlanSweep(t *testing.T) {
	alive := func(o owner) bool { return o.PID == 100 }
	live := recordInfo{Owner: owner{PID: 100, Start: 1}, Valid: true, Age: 48 * time.Hour}
	dead := recordInfo{Owner: owner{PID: 200, Start: 1}, Valid: true, Age: time.Second}
	badOld := recordInfo{Age: 2 * time.Hour}
	badNew := recordInfo{Age: time.Second}
	for _, tc := range []struct {
		desc    string
		nss     []nsInfo
		records map[string]recordInfo
		maxAge  time.Duration
		want    sweepPlan
	}{
		{
			desc:    "dead owner: its namespaces and record go, whatever their age",
			nss:     []nsInfo{{"g6aaaa-a", time.Second}, {"g6aaaa-b", time.Second}},
			records: map[string]recordInfo{"g6aaaa": dead},
			maxAge:  time.Hour,
			want:    sweepPlan{Namespaces: []string{"g6aaaa-a", "g6aaaa-b"}, Records: []string{"g6aaaa"}},
		},
		{
			desc:    "live owner: nothing goes, however old, even with maxAge 0",
			nss:     []nsInfo{{"g6aaaa-a", 72 * time.Hour}},
			records: map[string]recordInfo{"g6aaaa": live},
			maxAge:  0,
			want:    sweepPlan{},
		},
		{
			desc:   "no record: old namespaces go, young ones stay",
			nss:    []nsInfo{{"g6bbbb-old", 2 * time.Hour}, {"g6cccc-new", time.Minute}},
			maxAge: time.Hour,
			want:   sweepPlan{Namespaces: []string{"g6bbbb-old"}},
		},
		{
			desc:   "not our names: never touched",
			nss:    []nsInfo{{"docker1", 99 * time.Hour}, {"g6zzzz-a", 99 * time.Hour}, {"G6aaaa-a", 99 * time.Hour}, {"g6aaaa", 99 * time.Hour}},
			maxAge: 0,
			want:   sweepPlan{},
		},
		{
			desc:    "dead owner's record without namespaces: removed",
			records: map[string]recordInfo{"g6dddd": dead, "g6eeee": live},
			maxAge:  time.Hour,
			want:    sweepPlan{Records: []string{"g6dddd"}},
		},
		{
			desc:    "unreadable records: old one treated as gone, new one kept with its namespace",
			nss:     []nsInfo{{"g6aaaa-x", 3 * time.Hour}, {"g6bbbb-y", 3 * time.Hour}},
			records: map[string]recordInfo{"g6aaaa": badOld, "g6bbbb": badNew},
			maxAge:  time.Hour,
			want:    sweepPlan{Namespaces: []string{"g6aaaa-x"}, Records: []string{"g6aaaa"}},
		},
		{
			desc:   "unknown namespace age counts as young",
			nss:    []nsInfo{{"g6aaaa-x", -1}},
			maxAge: time.Hour,
			want:   sweepPlan{},
		},
	} {
		got := planSweep(tc.nss, tc.records, tc.maxAge, alive)
		if diff := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%s: planSweep (-want +got):\n%s", tc.desc, diff)
		}
	}
}

func TestRecords(t *testing.T) {
	old := runDir
	runDir = t.TempDir()
	defer func() { runDir = old }()

	if err := writeRecord("g6abcd", os.Getpid()); err != nil {
		t.Fatal(err)
	}
	// The record is the lock on the prefix.
	if err := writeRecord("g6abcd", os.Getpid()); !errors.Is(err, fs.ErrExist) {
		t.Errorf("second writeRecord: %v, want fs.ErrExist", err)
	}
	// Junk that readRecords must ignore or mark invalid.
	os.WriteFile(filepath.Join(runDir, "notours.pid"), []byte("1 1"), 0o644)
	os.WriteFile(filepath.Join(runDir, "g6ffff.pid"), []byte("garbage"), 0o644)
	os.WriteFile(filepath.Join(runDir, "g6eeee.tmp123"), []byte("1 1"), 0o644)

	recs, err := readRecords(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	start, _ := procStartTime(os.Getpid())
	want := map[string]recordInfo{
		"g6abcd": {Owner: owner{os.Getpid(), start}, Valid: true},
		"g6ffff": {},
	}
	if diff := cmp.Diff(want, recs, cmpopts.IgnoreFields(recordInfo{}, "Age"), cmp.AllowUnexported(recordInfo{}, owner{})); diff != "" {
		t.Errorf("readRecords (-want +got):\n%s", diff)
	}
	// No temporary file is left behind by writeRecord.
	ents, _ := os.ReadDir(runDir)
	for _, e := range ents {
		if e.Name() != "g6abcd.pid" && e.Name() != "notours.pid" && e.Name() != "g6ffff.pid" && e.Name() != "g6eeee.tmp123" {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}

func TestNeighLLAddr(t *testing.T) {
	for _, tc := range []struct{ line, want string }{
		{"2001:db8:100::2 lladdr 02:00:00:00:01:02 REACHABLE", "02:00:00:00:01:02"},
		{"2001:db8:100::2 lladdr 02:00:00:00:01:02 router STALE", "02:00:00:00:01:02"},
		{"2001:db8:100::2 FAILED", ""},
		{"2001:db8:100::2 lladdr", ""},
		{"", ""},
	} {
		if got := neighLLAddr(tc.line); got != tc.want {
			t.Errorf("neighLLAddr(%q) = %q, want %q", tc.line, got, tc.want)
		}
	}
}
