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
