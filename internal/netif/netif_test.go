package netif

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The loopback interface has ::1 but no link-local address: LinkLocal must
// not return a non-link-local one.
func TestLinkLocalLoopback(t *testing.T) {
	ifi, err := net.InterfaceByName("lo")
	if err != nil {
		t.Skip("no lo:", err)
	}
	if a := LinkLocal(ifi); a.IsValid() && !a.IsLinkLocalUnicast() {
		t.Fatalf("LinkLocal(lo) = %v", a)
	}
}

func TestMobilityDropRules(t *testing.T) {
	got := MobilityDropRules("gomip6_x", []netip.Addr{netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")})
	for _, want := range []string{
		"table inet gomip6_x {",
		"chain input {",
		"type filter hook input priority -300; policy accept;",
		"ip6 daddr { 2001:db8::1, 2001:db8::2 } meta l4proto 135 drop",
		"ip6 daddr { 2001:db8::1, 2001:db8::2 } ip6 nexthdr 60 @nh,368,8 201 drop",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("rules lack %q:\n%s", want, got)
		}
	}
}

func TestReadStop(t *testing.T) {
	open := make(chan struct{})
	closed := make(chan struct{})
	close(closed)
	if !ReadStop(net.ErrClosed, open) || !ReadStop(fmt.Errorf("read: %w", os.ErrClosed), open) {
		t.Error("a closed socket does not stop the reader")
	}
	if !ReadStop(syscall.ENOBUFS, closed) {
		t.Error("done closed does not stop the reader")
	}
	synctest.Test(t, func(t *testing.T) {
		open := make(chan struct{}) // of the bubble, so that its clock runs
		start := time.Now()
		if ReadStop(syscall.ENOBUFS, open) {
			t.Error("a transient error stops the reader")
		}
		if d := time.Since(start); d != ReadRetryDelay {
			t.Errorf("waited %v, want %v", d, ReadRetryDelay)
		}
	})
}

// TestBackoff: a closed file or done stops the loop at once; otherwise
// the waits double from MinBackoff to MaxBackoff while errors repeat, and
// start over after Reset.
func TestBackoff(t *testing.T) {
	var b Backoff
	closedDone := make(chan struct{})
	close(closedDone)
	if !b.Stop(fmt.Errorf("tun read: %w", os.ErrClosed), nil) || !b.Stop(net.ErrClosed, nil) {
		t.Error("a closed file does not stop the loop")
	}
	synctest.Test(t, func(t *testing.T) {
		var b Backoff
		open := make(chan struct{})
		var got []time.Duration
		for range 13 {
			start := time.Now()
			if b.Stop(syscall.EIO, open) {
				t.Fatal("a transient error stops the loop")
			}
			got = append(got, time.Since(start))
		}
		b.Reset()
		start := time.Now()
		b.Stop(syscall.EIO, open)
		got = append(got, time.Since(start))
		ms := time.Millisecond
		want := []time.Duration{ms, 2 * ms, 4 * ms, 8 * ms, 16 * ms, 32 * ms, 64 * ms, 128 * ms, 256 * ms, 512 * ms, time.Second, time.Second, time.Second, ms}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("waits (-want +got):\n%s", d)
		}
		// done closed during a wait ends it.
		var b2 Backoff
		done := make(chan struct{})
		go func() { time.Sleep(ms / 2); close(done) }()
		start = time.Now()
		if !b2.Stop(syscall.EIO, done) || time.Since(start) != ms/2 {
			t.Errorf("done closed after 0.5ms: stopped after %v", time.Since(start))
		}
	})
	if !b.Stop(syscall.EIO, closedDone) {
		t.Error("done closed does not stop the loop")
	}
}
