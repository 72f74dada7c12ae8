package mnd

import (
	"net/netip"
	"testing"
	"time"

	"github.com/gomip6/gomip6/mobilenode"
)

// TestLivenessWatched: the check runs for every tunnelled binding in
// use (IPv6 in IPv6 as well as the IPv4 encapsulations), and not at
// home, while stopping, with a Binding Update in flight, or when the
// acknowledged binding is not the care-of address in use.
func TestLivenessWatched(t *testing.T) {
	coa6 := netip.MustParseAddr("2001:db8:a::100")
	coa4 := netip.MustParseAddr("192.0.2.10")
	away := func(coa netip.Addr) mobilenode.MoveEvent {
		return mobilenode.MoveEvent{Kind: mobilenode.MovedTo, Interface: "a0", CareOf: coa}
	}
	tests := []struct {
		name string
		in   livenessInput
		want bool
	}{
		{"IPv6 care-of address", livenessInput{Current: away(coa6), State: mobilenode.Registered, Bound: coa6}, true},
		{"IPv4 care-of address", livenessInput{Current: away(coa4), State: mobilenode.Registered, Bound: coa4, IPv4: true}, true},
		{"IPv4 without DSMIPv6", livenessInput{Current: away(coa4), State: mobilenode.Registered, Bound: coa4}, false},
		{"at home", livenessInput{AtHome: true, Current: mobilenode.MoveEvent{Kind: mobilenode.ReturnedHome, Interface: "a0"}, State: mobilenode.Registered}, false},
		{"stopping", livenessInput{Stopping: true, Current: away(coa6), State: mobilenode.Registered, Bound: coa6}, false},
		{"refreshing", livenessInput{Current: away(coa6), State: mobilenode.Refreshing, Bound: coa6}, false},
		{"registering a move", livenessInput{Current: away(coa6), State: mobilenode.Registered, Bound: netip.MustParseAddr("2001:db8:b::100")}, false},
		{"lost connectivity", livenessInput{Current: mobilenode.MoveEvent{Kind: mobilenode.LostConnectivity}, State: mobilenode.Registered, Bound: coa6}, false},
	}
	for _, tt := range tests {
		if got := livenessWatched(tt.in); got != tt.want {
			t.Errorf("%s: livenessWatched = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestLivenessMax: behind a NAT the back-off stops at the keepalive the
// home agent gave, elsewhere at NATKATIMEOUT (110 s, RFC 5555 §4.3);
// never below the window.
func TestLivenessMax(t *testing.T) {
	tests := []struct {
		window, keepalive time.Duration
		nat               bool
		want              time.Duration
	}{
		{3 * time.Second, 30 * time.Second, true, 30 * time.Second},
		{3 * time.Second, 0, true, 110 * time.Second},
		{3 * time.Second, 30 * time.Second, false, 110 * time.Second},
		{5 * time.Minute, 0, false, 5 * time.Minute},
		{time.Minute, 20 * time.Second, true, time.Minute},
	}
	for _, tt := range tests {
		if got := livenessMax(tt.window, tt.nat, tt.keepalive); got != tt.want {
			t.Errorf("livenessMax(%v, %v, %v) = %v, want %v", tt.window, tt.nat, tt.keepalive, got, tt.want)
		}
	}
}
