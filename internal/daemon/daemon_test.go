package daemon

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap"

	"github.com/gomip6/gomip6/conf"
	"github.com/gomip6/gomip6/mip6"
)

func TestParseFlags(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		want    Options
		wantErr bool
	}{
		{nil, Options{Config: "/etc/x.toml"}, false},
		{[]string{"-c", "a.toml", "-check"}, Options{Config: "a.toml", Check: true}, false},
		{[]string{"-version"}, Options{Config: "/etc/x.toml", Version: true}, false},
		{[]string{"-cleanup", "-c=b.toml"}, Options{Config: "b.toml", Cleanup: true}, false},
		{[]string{"-check", "-cleanup"}, Options{}, true},
		{[]string{"-check", "extra"}, Options{}, true},
		{[]string{"-nope"}, Options{}, true},
		{[]string{"-c", ""}, Options{}, true},
	} {
		var stderr bytes.Buffer
		got, err := ParseFlags("x", "/etc/x.toml", tc.args, &stderr)
		if tc.wantErr {
			if err == nil {
				t.Errorf("ParseFlags(%q) = %+v, want an error", tc.args, got)
			} else if stderr.Len() == 0 {
				t.Errorf("ParseFlags(%q): error %v not explained on stderr", tc.args, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseFlags(%q): %v", tc.args, err)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("ParseFlags(%q) (-want +got):\n%s", tc.args, diff)
		}
	}
	var stderr bytes.Buffer
	if _, err := ParseFlags("x", "", []string{"-h"}, &stderr); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v, want flag.ErrHelp", err)
	}
	if !strings.Contains(stderr.String(), "usage: x [-c FILE]") {
		t.Errorf("-h printed %q", stderr.String())
	}
}

// fake is a daemon whose Load succeeds for "good", fails with problems
// for "bad" and with an I/O error for anything else.
var fake = Daemon{
	Name: "xd", Role: "x daemon", DefaultConfig: "good", Issue: 42,
	Load: func(path string) (string, error) {
		switch path {
		case "good":
			return "3 things", nil
		case "bad":
			return "", conf.Errors{{Key: "home.prefix", Msg: "not a prefix"}, {Key: "mobile_node[1].spi", Msg: "reserved"}}
		}
		_, err := os.ReadFile(path)
		return "", err
	},
}

func TestMainExitCodes(t *testing.T) {
	for _, tc := range []struct {
		name           string
		args           []string
		code           int
		stdout, stderr []string // pieces each must contain
	}{
		{"check good", []string{"-check"}, ExitOK, []string{"xd: good: configuration ok: 3 things"}, nil},
		{"check bad", []string{"-c", "bad", "-check"}, ExitConfig, nil,
			[]string{"bad: home.prefix: not a prefix\n", "bad: mobile_node[1].spi: reserved\n", "xd: bad: 2 problems\n"}},
		{"check missing file", []string{"-c", "/nonexistent/x.toml", "-check"}, ExitConfig, nil, []string{"xd: open /nonexistent/x.toml: no such file"}},
		{"run good", nil, ExitUsage, nil, []string{"x daemon is not implemented yet (issue 42)", "nothing was started"}},
		{"run bad", []string{"-c", "bad"}, ExitConfig, nil, []string{"bad: home.prefix: not a prefix"}},
		{"version", []string{"-version"}, ExitOK, []string{"xd dev ("}, nil},
		{"cleanup", []string{"-cleanup"}, ExitOK, []string{"nothing to clean up"}, nil},
		{"help", []string{"-h"}, ExitOK, nil, []string{"usage: xd"}},
		{"bad flag", []string{"-x"}, ExitUsage, nil, []string{"flag provided but not defined"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := Main(fake, tc.args, &stdout, &stderr); code != tc.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, &stdout, &stderr)
			}
			for _, s := range tc.stdout {
				if !strings.Contains(stdout.String(), s) {
					t.Errorf("stdout %q lacks %q", stdout.String(), s)
				}
			}
			for _, s := range tc.stderr {
				if !strings.Contains(stderr.String(), s) {
					t.Errorf("stderr %q lacks %q", stderr.String(), s)
				}
			}
			if len(tc.stdout) == 0 && stdout.Len() > 0 {
				t.Errorf("unexpected stdout %q", stdout.String())
			}
		})
	}
}

func TestPrintProblemsSingular(t *testing.T) {
	var b bytes.Buffer
	PrintProblems(&b, "had", "f.toml", conf.Errors{{Key: "log.level", Msg: "bad"}})
	if want := "f.toml: log.level: bad\nhad: f.toml: 1 problem\n"; b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}

func TestVersionString(t *testing.T) {
	old := Version
	defer func() { Version = old }()
	Version = "v9.8.7"
	if s := VersionString("mnd"); !strings.HasPrefix(s, "mnd v9.8.7 (go") {
		t.Errorf("VersionString = %q", s)
	}
}

// logLines decodes the JSON lines a logger wrote.
func logLines(t *testing.T, b *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q is not JSON: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

// TestLoggerFields: the JSON entries carry the fixed keys of SPEC.md with
// the documented encodings.
func TestLoggerFields(t *testing.T) {
	var b bytes.Buffer
	l, err := NewLogger(conf.Log{Level: "info", Format: "json"}, "had", &b)
	if err != nil {
		t.Fatal(err)
	}
	l.Info("binding accepted",
		HoA(netip.MustParseAddr("2001:db8:100::10")),
		CoA(netip.MustParseAddrPort("192.0.2.7:4191")),
		HA(netip.MustParseAddr("2001:db8:100::1")),
		CN(netip.MustParseAddr("2001:db8:300::80")),
		Seq(65535),
		Lifetime(4*time.Minute),
		Status(mip6.StatusSequenceOutOfWindow),
		Iface("eth1"),
	)
	lines := logLines(t, &b)
	if len(lines) != 1 {
		t.Fatalf("got %d lines, want 1: %s", len(lines), &b)
	}
	m := lines[0]
	ts, _ := m["ts"].(string)
	if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
		t.Errorf("ts %q is not RFC 3339: %v", m["ts"], err)
	}
	delete(m, "ts")
	wantFields := map[string]any{
		"level":    "info",
		"logger":   "had",
		"msg":      "binding accepted",
		"hoa":      "2001:db8:100::10",
		"coa":      "192.0.2.7:4191",
		"ha":       "2001:db8:100::1",
		"cn":       "2001:db8:300::80",
		"seq":      float64(65535),
		"lifetime": float64(240),
		"status":   "sequence-number-out-of-window",
		"iface":    "eth1",
	}
	if diff := cmp.Diff(wantFields, m); diff != "" {
		t.Errorf("log entry (-want +got):\n%s", diff)
	}
	// The constants are the SPEC.md names.
	keys := []string{KeyHoA, KeyCoA, KeyHA, KeyCN, KeySeq, KeyLifetime, KeyStatus, KeyIface}
	if diff := cmp.Diff([]string{"hoa", "coa", "ha", "cn", "seq", "lifetime", "status", "iface"}, keys); diff != "" {
		t.Errorf("field keys (-want +got):\n%s", diff)
	}
}

func TestLoggerLevels(t *testing.T) {
	var b bytes.Buffer
	l, err := NewLogger(conf.Log{Level: "warn", Format: "json"}, "mnd", &b)
	if err != nil {
		t.Fatal(err)
	}
	l.Debug("d")
	l.Info("i")
	l.Warn("w")
	l.Named("ra").Error("e")
	var got []string
	for _, m := range logLines(t, &b) {
		got = append(got, fmt.Sprint(m["level"], " ", m["logger"], " ", m["msg"]))
	}
	if diff := cmp.Diff([]string{"warn mnd w", "error mnd.ra e"}, got); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
}

func TestLoggerConsoleAndErrors(t *testing.T) {
	var b bytes.Buffer
	l, err := NewLogger(conf.Log{Level: "debug", Format: "console"}, "cnd", &b)
	if err != nil {
		t.Fatal(err)
	}
	l.Debug("hello", zap.String(KeyIface, "eth0"))
	if s := b.String(); !strings.Contains(s, "debug\tcnd\thello\t{\"iface\": \"eth0\"}") {
		t.Errorf("console line %q", s)
	}
	if _, err := NewLogger(conf.Log{Level: "loud", Format: "json"}, "x", &b); err == nil {
		t.Error("unknown level accepted")
	}
	if _, err := NewLogger(conf.Log{Level: "info", Format: "xml"}, "x", &b); err == nil {
		t.Error("unknown format accepted")
	}
}

// TestLoggerEveryConfLevel: every level conf accepts builds a logger.
func TestLoggerEveryConfLevel(t *testing.T) {
	for _, lv := range conf.LogLevels {
		for _, f := range conf.LogFormats {
			if _, err := NewLogger(conf.Log{Level: lv, Format: f}, "x", &bytes.Buffer{}); err != nil {
				t.Errorf("level %q format %q: %v", lv, f, err)
			}
		}
	}
}
