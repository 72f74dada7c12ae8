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
	if code := run([]string{"-c", "../../examples/cnd.toml", "-check"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, &stderr)
	}
	if !strings.Contains(stdout.String(), "cnd: ../../examples/cnd.toml: configuration ok: route optimization on") {
		t.Errorf("stdout %q", &stdout)
	}
}

func TestCheckBad(t *testing.T) {
	p := filepath.Join(t.TempDir(), "cnd.toml")
	if err := os.WriteFile(p, []byte("max_binding_lifetime = \"10m\"\n[control]\nsocket = \"cnd.sock\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-c", p, "-check"}, &stdout, &stderr); code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	for _, want := range []string{
		p + ": max_binding_lifetime: 10m0s exceeds 7m0s, MAX_RR_BINDING_LIFETIME",
		p + ": control.socket: \"cnd.sock\" is not an absolute path",
		"cnd: " + p + ": 2 problems",
	} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, &stderr)
		}
	}
}

func TestVersion(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-version"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d, stderr %q", code, &stderr)
	}
	if !strings.HasPrefix(stdout.String(), "cnd ") {
		t.Errorf("stdout %q", &stdout)
	}
}

func TestRunMissingConfig(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-c", filepath.Join(t.TempDir(), "none.toml")}, &stdout, &stderr); code != 1 {
		t.Fatalf("exit %d, want 1; stderr %q", code, &stderr)
	}
}
