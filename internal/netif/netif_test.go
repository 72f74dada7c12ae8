package netif

import (
	"net"
	"net/netip"
	"strings"
	"testing"
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
		"type filter hook input priority -300; policy accept;",
		"ip6 daddr { 2001:db8::1, 2001:db8::2 } meta l4proto 135 drop",
		"ip6 daddr { 2001:db8::1, 2001:db8::2 } ip6 nexthdr 60 @nh,368,8 201 drop",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("rules lack %q:\n%s", want, got)
		}
	}
}
