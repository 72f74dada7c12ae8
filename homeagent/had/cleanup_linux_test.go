package had

import (
	"bytes"
	"context"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/gomip6/gomip6/conf"
	"github.com/gomip6/gomip6/mobilenode"
)

// childEnv names the configuration file TestHADChildProcess runs had
// with; unset, that test skips.
const childEnv = "GOMIP6_HAD_TEST_CHILD"

// TestHADChildProcess is not a test: it is had in a process of its own
// (the test binary started again inside a namespace), for tests that kill
// had the way a crash does. It runs until killed.
func TestHADChildProcess(t *testing.T) {
	path := os.Getenv(childEnv)
	if path == "" {
		t.Skip("helper process for TestCleanupAfterCrash")
	}
	cfg, err := conf.LoadHA(path)
	must(t, err)
	log, err := zap.NewDevelopment()
	must(t, err)
	d, err := New(cfg, Options{Log: log})
	must(t, err)
	must(t, d.Run(context.Background(), nil))
}

// TestCleanupAfterCrash: had with an IPv4 home address granted from a pool
// on the home link (a /32 route into the tun device and a proxy ARP entry
// on the home link, dsmip.go) is killed with SIGKILL. The route goes with
// the tun device; the proxy ARP entry stays, and -cleanup with the
// configuration removes it, and nothing else of had's is left. Without
// the configuration -cleanup says what it cannot know.
func TestCleanupAfterCrash(t *testing.T) {
	l, _ := newDSLab(t, false, "home_pool = \"203.0.113.64/28\"\n")
	t.Setenv(childEnv, l.cfgPath)
	p, err := l.home.Start(os.Args[0], "-test.run=^TestHADChildProcess$", "-test.count=1")
	must(t, err)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(l.dir + "/had.sock"); err == nil {
			break
		}
		if time.Now().After(deadline) || p.Exited() {
			out, _ := p.Output()
			t.Fatalf("had did not start:\n%s", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	m := l.newDSMN(false, netip.IPv4Unspecified())
	must(t, m.exchange(m.reg.Moved(dMN4, time.Now()), mobilenode.Registered, 0))
	if ev := m.registered(); ev.IPv4HomeAddress != dPoolHoA {
		t.Fatalf("registered %+v, want IPv4 home address %v", ev, dPoolHoA)
	}
	proxies := func() string {
		px, err := l.home.IP("-4", "neigh", "show", "proxy", "dev", "hl0")
		must(t, err)
		return px
	}
	routes := func() string {
		r4, err := l.home.IP("-4", "route", "show", "proto", "109")
		must(t, err)
		r6, err := l.home.IP("-6", "route", "show", "proto", "109")
		must(t, err)
		return r4 + r6
	}
	if !strings.Contains(routes(), dPoolHoA.String()) || !strings.Contains(proxies(), dPoolHoA.String()) {
		t.Fatalf("before the crash: routes %q, proxy ARP %q", routes(), proxies())
	}

	must(t, p.Cmd.Process.Kill())
	p.Wait()
	// What the crash left: the proxy entry (otherwise the cleanup below
	// proves nothing), not the routes.
	if !strings.Contains(proxies(), dPoolHoA.String()) {
		t.Fatalf("the killed had left no proxy ARP entry: %q", proxies())
	}
	if r := routes(); r != "" {
		t.Errorf("routes left by the killed had (they should go with its tun device): %q", r)
	}

	// Without the configuration: left alone, and said.
	var out bytes.Buffer
	must(t, l.home.Do(func() error { return Cleanup("", &out) }))
	if !strings.Contains(proxies(), dPoolHoA.String()) || !strings.Contains(out.String(), "cannot be told") {
		t.Errorf("cleanup without the configuration: proxy ARP %q, said %q", proxies(), out.String())
	}
	// With it: removed.
	out.Reset()
	must(t, l.home.Do(func() error { return CleanupFile(l.cfgPath, "", &out) }))
	t.Logf("had -cleanup:\n%s", out.String())
	if px := proxies(); px != "" {
		t.Errorf("proxy ARP left after -cleanup: %q", px)
	}
	if r := routes(); r != "" {
		t.Errorf("routes left after -cleanup: %q", r)
	}
	if !strings.Contains(out.String(), "removed the proxy ARP entry "+dPoolHoA.String()) {
		t.Errorf("-cleanup said %q", out.String())
	}
	out.Reset()
	must(t, l.home.Do(func() error { return CleanupFile(l.cfgPath, "", &out) }))
	if !strings.Contains(out.String(), "nothing to clean up") {
		t.Errorf("a second -cleanup said %q", out.String())
	}
}
