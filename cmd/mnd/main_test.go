package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckGood(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-c", "../../examples/mnd.toml", "-check"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, &stderr)
	}
	if !strings.Contains(stdout.String(), "mnd: ../../examples/mnd.toml: configuration ok: laptop@home.example") {
		t.Errorf("stdout %q", &stdout)
	}
}

func TestCheckBad(t *testing.T) {
	p := filepath.Join(t.TempDir(), "mnd.toml")
	bad := `
id = "laptop@home.example"
home_address = "2001:db8:100::10"
home_prefix = "2001:db8:100::/64"
spi = 1000
key = "c2hvcnQ="
interfaces = ["eth0", "eth0"]
lifetime = "90s"
`
	if err := os.WriteFile(p, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-c", p, "-check"}, &stdout, &stderr); code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	for _, want := range []string{
		p + ": key: decodes to 5 bytes",
		p + ": interfaces[1]: \"eth0\" is already listed at interfaces[0]",
		p + ": lifetime: 1m30s is not a multiple of 4s",
		"mnd: " + p + ": 3 problems",
	} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, &stderr)
		}
	}
}

func TestRunNotImplemented(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-c", "../../examples/mnd.toml"}, &stdout, &stderr); code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
	if !strings.Contains(stderr.String(), "not implemented yet (issue 5)") {
		t.Errorf("stderr %q", &stderr)
	}
}
