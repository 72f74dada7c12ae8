package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestMain lets the test binary stand in for had: with GOMIP6_RUN_MAIN=1
// it runs main() itself, so TestBinary sees real exit statuses.
func TestMain(m *testing.M) {
	if os.Getenv("GOMIP6_RUN_MAIN") == "1" {
		os.Args = append([]string{"had"}, strings.Fields(os.Getenv("GOMIP6_ARGS"))...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const badConfig = `
[home]
interface = "eth1"
prefix = "2001:db8:100::/64"
address = "2001:db8:100::1"
max_lifetme = "10m"

[[mobile_node]]
id = "laptop@home.example"
home_address = "2001:db8:200::10"
spi = 1000
key = "MDEyMzQ1Njc4OWFiY2RlZg=="
`

func writeBad(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "had.toml")
	if err := os.WriteFile(p, []byte(badConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCheckGood(t *testing.T) {
	for _, f := range []string{"../../examples/had.toml", "../../examples/had-uplink.toml"} {
		var stdout, stderr bytes.Buffer
		if code := run([]string{"-c", f, "-check"}, &stdout, &stderr); code != 0 {
			t.Fatalf("%s: exit %d, stderr:\n%s", f, code, &stderr)
		}
		if !strings.Contains(stdout.String(), "configuration ok") || stderr.Len() != 0 {
			t.Errorf("%s: stdout %q, stderr %q", f, &stdout, &stderr)
		}
	}
}

func TestCheckBad(t *testing.T) {
	p := writeBad(t)
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-c", p, "-check"}, &stdout, &stderr); code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	want := p + ": home.max_lifetme: unknown key (did you mean max_lifetime?)\n" +
		p + ": mobile_node[0].home_address: 2001:db8:200::10 is not inside home.prefix 2001:db8:100::/64\n" +
		"had: " + p + ": 2 problems\n"
	if stderr.String() != want || stdout.Len() != 0 {
		t.Errorf("stderr:\n%s\nwant:\n%s\nstdout: %q", &stderr, want, &stdout)
	}
}

// writeNoIf writes a valid configuration whose home interface does not
// exist: the daemon must stop at once, before it changes anything (the
// interface is the first thing New looks up), so this is safe to run
// outside a test namespace.
func writeNoIf(t *testing.T) string {
	dir := t.TempDir()
	cfg := strings.Replace(strings.Replace(badConfig, "max_lifetme", "max_lifetime", 1), "2001:db8:200::10", "2001:db8:100::10", 1)
	cfg = strings.Replace(cfg, `"eth1"`, `"gomip6-noif0"`, 1)
	cfg += "[control]\nsocket = \"" + filepath.Join(dir, "had.sock") + "\"\n"
	p := filepath.Join(dir, "had.toml")
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRunNoInterface(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-c", writeNoIf(t)}, &stdout, &stderr); code != 3 {
		t.Fatalf("exit %d, want 3; stderr %s", code, &stderr)
	}
	if !strings.Contains(stderr.String(), `home.interface "gomip6-noif0": no such network interface`) {
		t.Errorf("stderr %q", &stderr)
	}
}

// TestBinary runs main() in a child process and checks the exit statuses
// a shell script would see.
func TestBinary(t *testing.T) {
	bad := writeBad(t)
	for _, tc := range []struct {
		args string
		code int
	}{
		{"-c ../../examples/had.toml -check", 0},
		{"-c " + bad + " -check", 1},
		{"-c " + writeNoIf(t), 3},
		{"-version", 0},
		// -cleanup is tested in a namespace (homeagent/had): here it
		// would act on the machine's own namespace.
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "GOMIP6_RUN_MAIN=1", "GOMIP6_ARGS="+tc.args)
		out, err := cmd.CombinedOutput()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != tc.code {
			t.Errorf("had %s: exit %d, want %d; output:\n%s", tc.args, code, tc.code, out)
		}
	}
}
