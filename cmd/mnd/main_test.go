package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gomip6/gomip6/internal/control"
	"github.com/gomip6/gomip6/internal/netlab"
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

// goodConf writes a valid mnd.toml with a control socket in a
// temporary directory.
func goodConf(t *testing.T) string {
	ha := `home_agent = "2001:db8:100::1"`
	p := filepath.Join(t.TempDir(), "mnd.toml")
	c := `
id = "laptop@home.example"
home_address = "2001:db8:100::10"
home_prefix = "2001:db8:100::/64"
` + ha + `
spi = 1000
key = "ZXhhbXBsZS1rZXktY2hhbmdlLW1lLTAxMjM0NTY3ODk="
interfaces = ["eth0"]
[control]
socket = "` + filepath.Join(t.TempDir(), "mnd.sock") + `"
`
	if err := os.WriteFile(p, []byte(c), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCleanupNothing runs -cleanup in an empty namespace.
func TestCleanupNothing(t *testing.T) {
	netlab.SkipUnlessRoot(t)
	nl, err := netlab.New(t)
	if err != nil {
		t.Fatal(err)
	}
	ns, err := nl.NS("mn")
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code, path := -1, goodConf(t)
	if err := ns.Do(func() error { code = run([]string{"-c", path, "-cleanup"}, &stdout, &stderr); return nil }); err != nil {
		t.Fatal(err)
	}
	if code != 0 || !strings.Contains(stdout.String(), "mnd: nothing to clean up") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, &stdout, &stderr)
	}
}

// TestRootBinary runs the real mnd in a namespace with one access link
// and no router: it creates mip0, answers on its control socket, and on
// SIGTERM exits 0 having removed mip0.
func TestRootBinary(t *testing.T) {
	netlab.SkipUnlessRoot(t)
	bin := filepath.Join(t.TempDir(), "mnd")
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = "/usr/local/go/bin/go"
	}
	if out, err := exec.Command(goBin, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	nl, err := netlab.New(t)
	if err != nil {
		t.Fatal(err)
	}
	ns, err := nl.NS("mn")
	if err != nil {
		t.Fatal(err)
	}
	peer, err := nl.NS("peer")
	if err != nil {
		t.Fatal(err)
	}
	if err := nl.Link(ns, "eth0", peer, "p0"); err != nil {
		t.Fatal(err)
	}
	path := goodConf(t)
	p, err := ns.Start(bin, "-c", path)
	if err != nil {
		t.Fatal(err)
	}
	sock := ""
	for _, line := range strings.Split(string(must(os.ReadFile(path))), "\n") {
		if v, ok := strings.CutPrefix(line, "socket = "); ok {
			sock = strings.Trim(v, `"`)
		}
	}
	c := control.NewClient(sock)
	deadline := time.Now().Add(10 * time.Second)
	var body []byte
	for {
		body, err = c.Get(context.Background(), "/v1/status")
		if err == nil {
			break
		}
		if time.Now().After(deadline) || p.Exited() {
			out, _ := p.Output()
			t.Fatalf("no status: %v\n%s", err, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var st map[string]any
	if err := json.Unmarshal(body, &st); err != nil || st["role"] != "mn" || st["at_home"] != false {
		t.Errorf("status %s %v", body, err)
	}
	if _, err := ns.IP("link", "show", "mip0"); err != nil {
		t.Errorf("no mip0: %v", err)
	}
	if err := p.Stop(); err != nil {
		t.Errorf("stop: %v", err)
	}
	if err := p.Wait(); err != nil {
		out, _ := p.Output()
		t.Errorf("exit: %v\n%s", err, out)
	}
	if _, err := ns.IP("link", "show", "mip0"); err == nil {
		t.Error("mip0 left after SIGTERM")
	}
	if out, _ := p.Output(); !strings.Contains(out, `"event":"shutdown"`) {
		t.Errorf("log:\n%s", out)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
