package tunnel

import (
	"net/netip"
	"testing"
)

func TestNewValidates(t *testing.T) {
	tab := NewTable(0)
	for _, tt := range []struct {
		name string
		cfg  Config
		tab  *Table
	}{
		{"nil table", Config{}, nil},
		{"role", Config{Role: 7}, tab},
		{"ECN mode", Config{ECN: 9}, tab},
		{"DSCP mode", Config{DSCP: 9}, tab},
		{"DSCP value", Config{DSCP: DSCPFixed, DSCPValue: 64}, tab},
		{"IPv4 error source", Config{ErrorSource: ha4}, tab},
		{"link-local error source", Config{ErrorSource: netip.MustParseAddr("fe80::1")}, tab},
		{"scoped error source", Config{ErrorSource: netip.MustParseAddr("2001:db8::1%eth0")}, tab},
	} {
		if _, err := New(tt.cfg, tt.tab); err == nil {
			t.Errorf("%s: accepted", tt.name)
		}
	}
	tun, err := New(Config{}, tab)
	if err != nil {
		t.Fatal(err)
	}
	c := tun.Config()
	if c.HopLimit != DefaultHopLimit || c.ICMPRate != DefaultICMPRate || c.ICMPBurst != DefaultICMPBurst || c.Clock == nil || tun.Table() != tab {
		t.Errorf("defaults: %+v", c)
	}
	if c.Clock() < 0 {
		t.Error("monotonic clock negative")
	}
}

func TestNames(t *testing.T) {
	for _, tt := range []struct{ got, want string }{
		{KindIPv6.String(), "ip6ip6"}, {Kind6in4.String(), "6in4"}, {KindUDP4.String(), "udp4"},
		{KindNone.String(), "none"}, {Kind(9).String(), "Kind(9)"},
		{ReasonOK.String(), "ok"}, {ReasonICMPIgnored.String(), "icmp_ignored"}, {NumReasons.String(), "Reason(17)"},
		{Out.String(), "out"}, {In.String(), "in"}, {ICMP.String(), "icmp"}, {NumDirections.String(), "Direction(3)"},
		{ActionDrop.String(), "drop"}, {ActionSend.String(), "send"}, {ActionSendFragmentable.String(), "send-fragmentable"},
		{ActionReply.String(), "reply"}, {Action(9).String(), "Action(?)"},
	} {
		if tt.got != tt.want {
			t.Errorf("%q, want %q", tt.got, tt.want)
		}
	}
	if len(reasonNames) != int(NumReasons) || reasonNames[NumReasons-1] == "" {
		t.Error("reason names out of step")
	}
	var s Snapshot
	if s.Get(NumDirections, 0) != (Count{}) || s.Get(0, NumReasons) != (Count{}) {
		t.Error("out of range Get")
	}
}
