package mnd

import (
	"strings"
	"testing"
	"time"
)

// TestRootLivenessHomeAgentLostState: the home agent forgets the binding
// (a had restarted without its state) while the mobile node, on the IPv6
// link A, sends through the tunnel. The TCP segments reach a home agent
// that no longer tunnels anything back; the liveness check notices the
// one-way tunnel and refreshes, and the home agent holds the binding
// again within about DefaultLiveness, instead of at the refresh of the
// 60 s lifetime (about 50 s later, mobilenode.RefreshInterval).
func TestRootLivenessHomeAgentLostState(t *testing.T) {
	t.Run("userspace", func(t *testing.T) { testLivenessLostState(t, false) })
	// Through the kernel path the forwarder sees none of the packets:
	// the check adds the programs' counters.
	t.Run("kernel path", func(t *testing.T) { testLivenessLostState(t, true) })
}

func testLivenessLostState(t *testing.T, kernelPath bool) {
	l := newRootLab(t)
	var d *Daemon
	if kernelPath {
		cfg := l.mnConf()
		cfg.Tunnel.KernelPath = true
		d, _ = l.startKernelPath(cfg)
	} else {
		d, _ = l.startOnA()
	}
	echo := l.tcpEcho()
	echo("before the home agent lost the binding")
	regs := d.Counters().Registrations
	l.hagent.lose()
	start := time.Now()
	back := make(chan time.Duration, 1)
	go func() {
		for time.Since(start) < 20*time.Second {
			if _, ok := l.hagent.binding(); ok {
				back <- time.Since(start)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		close(back)
	}()
	echo("after the home agent lost the binding")
	took, ok := <-back
	if !ok {
		t.Fatalf("the home agent never got the binding back\n%s", l.logs.tail(30))
	}
	t.Logf("home agent lost the binding: registered again after %v, TCP echo back after %v", took, time.Since(start))
	// The window, a poll period, and the Binding Update's round trip,
	// with room for a loaded machine; the refresh would take ~50 s.
	if limit := DefaultLiveness + 3*time.Second; took > limit {
		t.Errorf("the binding came back after %v, want at most %v", took, limit)
	}
	logs := l.logs.String()
	if !strings.Contains(logs, `"event":"liveness_refresh"`) || !strings.Contains(logs, `"nat":false`) {
		t.Errorf("no liveness_refresh with nat false logged\n%s", l.logs.tail(30))
	}
	if c := d.Counters(); c.LivenessRefreshes == 0 || c.Registrations <= regs {
		t.Errorf("counters %+v: want a liveness refresh and a registration", c)
	}
}

// startOnA runs a daemon with only link A up (home0 and b0 down) and
// waits for its registration there; the returned function stops it.
func (l *rootLab) startOnA() (*Daemon, func()) {
	l.t.Helper()
	l.link("home0", false)
	l.link("b0", false)
	d, stop := l.start()
	l.waitFor("registration on link A", 20*time.Second, registeredIn(d, labPfxA))
	return d, stop
}
