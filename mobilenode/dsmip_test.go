package mobilenode

import (
	"bytes"
	"encoding/base64"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gomip6/gomip6/homeagent"
	"github.com/gomip6/gomip6/mip6"
	"github.com/gomip6/gomip6/tunnel"
)

// The IPv4 side of the test network (RFC 5555): home agent 192.0.2.1,
// IPv4 home addresses from 198.51.100.0/28, an IPv4-only foreign link
// 203.0.113.0/24, and a NAT whose inside is 10.0.0.0/24 and outside
// 203.0.113.200.
var (
	ha4       = netip.MustParseAddr("192.0.2.1")
	v4coa     = netip.MustParseAddr("203.0.113.7")
	natInside = netip.MustParseAddr("10.0.0.5")
	natPublic = netip.MustParseAddr("203.0.113.200")
)

func haTOMLv4() string {
	return strings.ReplaceAll(`
[home]
interface = "eth1"
prefix = "2001:db8:100::/64"
address = "2001:db8:100::1"
max_lifetime = "10m"

[[mobile_node]]
id = "laptop@home.example"
home_address = "2001:db8:100::10"
spi = 1000
key = "KEY"

[ipv4]
address = "192.0.2.1"
home_pool = "198.51.100.0/28"
`, "KEY", base64.StdEncoding.EncodeToString(key))
}

func newLabV4(t *testing.T, mutate func(*Config)) *lab {
	t.Helper()
	cfg := mnConfig(t)
	cfg.HomeAgentIPv4 = ha4
	if mutate != nil {
		mutate(cfg4(&cfg))
	}
	l := &lab{t: t, now: t0, dad: true, noDAD: true, haTOML: haTOMLv4()}
	l.restartHA()
	r, err := NewRegistration(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l.mn = r
	return l
}

func cfg4(c *Config) *Config { return c }

// natMapping is a NAT that maps the inside port 4191 to port.
func natMapping(port uint16) func(netip.AddrPort) netip.AddrPort {
	return func(netip.AddrPort) netip.AddrPort { return netip.AddrPortFrom(natPublic, port) }
}

// endpoint is the home agent's tunnel for our binding.
func (l *lab) endpoint() tunnel.Endpoint {
	l.t.Helper()
	e, ok := l.haBinding()
	if !ok {
		l.t.Fatal("no binding at the home agent")
	}
	return l.ha.Endpoint(e)
}

// TestDSMIPEndToEnd tours the laptop through an IPv4 network without a
// NAT (IPv6 in IPv4), one behind a NAT (UDP, NAT Detection, keepalives),
// a NAT rebinding (new port: a move at the home agent, the tunnel
// follows), an IPv6 network and home, against the real home agent core.
func TestDSMIPEndToEnd(t *testing.T) {
	l := newLabV4(t, nil)
	r := l.mn

	// 1. IPv4, no NAT. RFC 5555 §4.2: UDP to the home agent's IPv4
	// address, inner packet from the home address without a Home
	// Address option.
	o := r.Moved(v4coa, l.now)
	want := &BUPacket{Src: hoa, Dst: haAddr, Outer: netip.AddrPortFrom(ha4, 4191), OuterSrc: v4coa,
		Sequence: o.Send.Sequence, Lifetime: 300 * time.Second}
	if diff := cmp.Diff(want, o.Send, cmpOpts, cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b }),
		cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".MH" }, cmp.Ignore())); diff != "" {
		t.Fatalf("BU (-want +got):\n%s", diff)
	}
	o = l.exchange(o.Send)
	wantEv := []Event{{Kind: EventRegistered, CareOf: v4coa, Lifetime: 300 * time.Second}}
	if diff := cmp.Diff(wantEv, o.Events, cmpOpts); diff != "" {
		t.Fatalf("events (-want +got):\n%s", diff)
	}
	if ep := l.endpoint(); ep.Kind != tunnel.Kind6in4 || ep.Remote != v4coa || ep.Local != ha4 {
		t.Fatalf("no NAT: endpoint %+v", ep)
	}
	if e := r.Entry(); e.UDP || e.Keepalive != 0 || !e.RefreshAt.Equal(l.now.Add(224*time.Second)) {
		t.Fatalf("no NAT: entry %+v", e)
	}

	// 2. Behind a NAT: the home agent sees 203.0.113.200:40001.
	l.now = l.now.Add(10 * time.Second)
	l.nat = natMapping(40001)
	sent := l.now
	o = r.Moved(natInside, l.now)
	o = l.exchange(o.Send)
	wantEv = []Event{{Kind: EventRegistered, CareOf: natInside, Lifetime: 300 * time.Second,
		UDP: true, NAT: true, Keepalive: 110 * time.Second}}
	if diff := cmp.Diff(wantEv, o.Events, cmpOpts); diff != "" {
		t.Fatalf("NAT events (-want +got):\n%s", diff)
	}
	if ep := l.endpoint(); ep.Kind != tunnel.KindUDP4 || ep.Remote != natPublic || ep.RemotePort != 40001 || ep.LocalPort != 4191 {
		t.Fatalf("NAT: endpoint %+v", ep)
	}
	if l.last.Change != homeagent.Moved {
		t.Fatalf("NAT: change %v", l.last.Change)
	}
	// The keepalive (RFC 5555: NATKATIMEOUT 110 s from the home agent)
	// comes before the refresh advice (224 s): it is the next timer.
	if !o.Timer.Equal(sent.Add(110 * time.Second)) {
		t.Fatalf("NAT: timer %v, want the keepalive at %v", o.Timer, sent.Add(110*time.Second))
	}

	// 3. The keepalive is a refresh through the same mapping.
	l.now = sent.Add(110 * time.Second)
	o = r.Timer(l.now)
	if o.Send == nil || r.State() != Refreshing {
		t.Fatalf("keepalive: send %v state %v", o.Send != nil, r.State())
	}
	l.exchange(o.Send)
	if l.last.Change != homeagent.Refreshed {
		t.Fatalf("keepalive: change %v", l.last.Change)
	}

	// 4. The NAT lost its mapping and made a new one: the next
	// keepalive shows the home agent the new port; the binding moves
	// and the tunnel follows.
	l.nat = natMapping(40002)
	l.now = l.now.Add(110 * time.Second)
	o = r.Timer(l.now)
	l.exchange(o.Send)
	if ep := l.endpoint(); l.last.Change != homeagent.Moved || ep.RemotePort != 40002 || ep.Remote != natPublic {
		t.Fatalf("rebinding: change %v endpoint %+v", l.last.Change, ep)
	}
	if r.State() != Registered {
		t.Fatalf("rebinding: state %v", r.State())
	}

	// 5. An IPv6 network: RFC 6275 as always.
	l.now = l.now.Add(10 * time.Second)
	l.nat = nil
	o = r.Moved(coa1, l.now)
	if o.Send.Outer.IsValid() || o.Send.HomeAddress != hoa || o.Send.Src != coa1 {
		t.Fatalf("IPv6 BU: %+v", o.Send)
	}
	o = l.exchange(o.Send)
	if ep := l.endpoint(); ep.Kind != tunnel.KindIPv6 || ep.Remote != coa1 || l.last.Change != homeagent.Moved {
		t.Fatalf("IPv6: endpoint %+v change %v", ep, l.last.Change)
	}
	if e := r.Entry(); e.UDP || e.Keepalive != 0 || o.Events[0].UDP {
		t.Fatalf("IPv6: entry %+v events %+v", e, o.Events)
	}

	// 6. Back to the NATed IPv4 network, then home.
	l.now = l.now.Add(10 * time.Second)
	l.nat = natMapping(40003)
	o = r.Moved(natInside, l.now)
	l.exchange(o.Send)
	if ep := l.endpoint(); ep.Kind != tunnel.KindUDP4 || ep.RemotePort != 40003 {
		t.Fatalf("IPv4 again: endpoint %+v", ep)
	}
	l.now = l.now.Add(10 * time.Second)
	o = r.ReturnedHome(l.now)
	if o.Send.Outer.IsValid() || o.Send.Src != hoa {
		t.Fatalf("home: %+v", o.Send)
	}
	l.exchange(o.Send)
	if _, ok := l.haBinding(); ok || r.State() != AtHome {
		t.Fatalf("home: binding left, state %v", r.State())
	}
}

// TestDSMIPDeregisterFromIPv4: a shutdown on the IPv4 network de-registers
// over IPv4, and the BA comes back the same way.
func TestDSMIPDeregisterFromIPv4(t *testing.T) {
	l := newLabV4(t, nil)
	l.nat = natMapping(40001)
	l.exchange(l.mn.Moved(natInside, l.now).Send)
	l.now = l.now.Add(time.Second)
	o := l.mn.Deregister(l.now)
	if o.Send == nil || !o.Send.Outer.IsValid() || o.Send.Lifetime != 0 {
		t.Fatalf("deregistration: %+v", o.Send)
	}
	o = l.exchange(o.Send)
	if _, ok := l.haBinding(); ok || kinds(o.Events)[0] != EventDeregistered {
		t.Fatalf("binding left; events %v", o.Events)
	}
}

// TestDSMIPForceUDP: the F flag gets UDP without a NAT, and no keepalive
// (the home agent's refresh time is all ones: none needed).
func TestDSMIPForceUDP(t *testing.T) {
	l := newLabV4(t, func(c *Config) { c.ForceUDP = true })
	o := l.mn.Moved(v4coa, l.now)
	bu := parseBU(t, o.Send.MH)
	if bu.Flags&mip6.BUFlagF == 0 {
		t.Fatalf("flags %v: no F", bu.Flags)
	}
	o = l.exchange(o.Send)
	wantEv := []Event{{Kind: EventRegistered, CareOf: v4coa, Lifetime: 300 * time.Second, UDP: true}}
	if diff := cmp.Diff(wantEv, o.Events, cmpOpts); diff != "" {
		t.Fatalf("events (-want +got):\n%s", diff)
	}
	if ep := l.endpoint(); ep.Kind != tunnel.KindUDP4 || ep.RemotePort != 4191 {
		t.Fatalf("endpoint %+v", ep)
	}
	if !o.Timer.Equal(t0.Add(224 * time.Second)) {
		t.Fatalf("timer %v: a keepalive where none is needed", o.Timer)
	}
	// The F flag means nothing from an IPv6 care-of address.
	l.now = l.now.Add(time.Second)
	if bu := parseBU(t, l.mn.Moved(coa1, l.now).Send.MH); bu.Flags&mip6.BUFlagF != 0 {
		t.Fatal("F flag from an IPv6 care-of address")
	}
}

// TestDSMIPIPv4HomeAddress: asking for any IPv4 home address, getting
// one, and naming it in the refreshes.
func TestDSMIPIPv4HomeAddress(t *testing.T) {
	l := newLabV4(t, func(c *Config) { c.IPv4HomeAddress = netip.IPv4Unspecified() })
	o := l.mn.Moved(v4coa, l.now)
	if got := ipv4HoAOption(t, o.Send.MH); got == nil || !got.Address.IsUnspecified() || got.PrefixLen != 32 {
		t.Fatalf("first BU IPv4 Home Address option %+v", got)
	}
	o = l.exchange(o.Send)
	granted := netip.MustParseAddr("198.51.100.1")
	if ev := o.Events[0]; !ev.IPv4Ack || ev.IPv4AckStatus != 0 || ev.IPv4HomeAddress != granted {
		t.Fatalf("event %+v", ev)
	}
	if a, ok := l.ha.IPv4HomeAddress(hoa); !ok || a != granted {
		t.Fatalf("home agent: %v %v", a, ok)
	}
	l.now = t0.Add(224 * time.Second)
	o = l.mn.Timer(l.now)
	if got := ipv4HoAOption(t, o.Send.MH); got == nil || got.Address != granted {
		t.Fatalf("refresh IPv4 Home Address option %+v", got)
	}
	l.exchange(o.Send)
	if a, _ := l.ha.IPv4HomeAddress(hoa); a != granted {
		t.Fatalf("after refresh: %v", a)
	}
}

// TestDSMIPNoHomeAgentIPv4: without home_agent_ipv4 an IPv4 care-of
// address is no connectivity.
func TestDSMIPNoHomeAgentIPv4(t *testing.T) {
	r, err := NewRegistration(mnConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	if o := r.Moved(v4coa, t0); o.Send != nil || r.State() != Unregistered {
		t.Fatalf("send %v state %v", o.Send != nil, r.State())
	}
}

// TestDSMIPBUWire pins the RFC 5555 parts of a Binding Update from an
// IPv4 care-of address: the F flag is bit 7 of the flags (0x0100, §3.1.3),
// the IPv4 Care-of Address option is type 32, length 6, two reserved
// octets and the address (§3.1.2), at a 4n offset; the IPv4 Home Address
// option is type 29, length 6, Prefix-len in the top six bits of the
// third octet, the P flag below it (§3.1.1). Decoded independently by
// tshark's mip6 dissector while writing this test.
func TestDSMIPBUWire(t *testing.T) {
	p := BUParams{ID: nai, SA: mnConfig(t).SA, HomeAddress: hoa, CareOf: natInside, HomeAgent: haAddr,
		Sequence: 7, Lifetime: 300 * time.Second, Timestamp: 1, ForceUDP: true,
		IPv4HomeAddress: netip.MustParseAddr("198.51.100.9")}
	mh, err := AppendBindingUpdate(nil, &p)
	if err != nil {
		t.Fatal(err)
	}
	// Flags A|H|F: 0xc100.
	if mh[8] != 0xc1 || mh[9] != 0x00 {
		t.Errorf("flags %x", mh[8:10])
	}
	coaOpt := []byte{32, 6, 0, 0, 10, 0, 0, 5}
	hoaOpt := []byte{29, 6, 32 << 2, 0, 198, 51, 100, 9}
	i, j := bytes.Index(mh, coaOpt), bytes.Index(mh, hoaOpt)
	if i < 0 || j < 0 || i%4 != 0 || j%4 != 0 {
		t.Fatalf("options at %d, %d in %x", i, j, mh)
	}
	// The checksum's pseudo-header is home address to home agent
	// (RFC 6275 §6.1.1: the inner packet's source is the home address).
	if !mip6.VerifyMHChecksum(mh, hoa, haAddr) {
		t.Error("checksum not over home address -> home agent")
	}
}

func parseBU(t *testing.T, mh []byte) *mip6.BindingUpdate {
	t.Helper()
	m, err := mip6.ParseMessage(mh)
	if err != nil {
		t.Fatal(err)
	}
	return m.(*mip6.BindingUpdate)
}

func ipv4HoAOption(t *testing.T, mh []byte) *mip6.IPv4HomeAddress {
	t.Helper()
	for _, o := range parseBU(t, mh).Options {
		if h, ok := o.(*mip6.IPv4HomeAddress); ok {
			return h
		}
	}
	return nil
}
