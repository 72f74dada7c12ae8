package ra

import (
	"bytes"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gomip6/gomip6/mip6"
)

// haHomePrefix is the home prefix of mip6's scapy DHAAD vectors.
var (
	haHomePrefix = netip.MustParsePrefix("2001:db8:1::/64")
	ha1          = netip.MustParseAddr("2001:db8:1::1")
	ha2          = netip.MustParseAddr("2001:db8:1::2")
	mnCoA        = netip.MustParseAddr("2001:db8:9::100")
	haAnycast    = netip.MustParseAddr("2001:db8:1::fdff:ffff:ffff:fffe")
)

// scapyRequest is ICMPv6HAADRequest(id=0xbeef, R=0) from 2001:db8:9::100
// to the Home-Agents anycast address of 2001:db8:1::/64, checksum by
// scapy (the same vector as mip6/icmp_test.go).
const scapyRequest = "90 00 5652 beef 0000"

// scapyReply is what scapy builds for
// IPv6(src="2001:db8:1::1", dst="2001:db8:9::100")/
// ICMPv6HAADReply(id=0xbeef, R=0, addresses=["2001:db8:1::1","2001:db8:1::2"]).
const scapyReply = `91 00 f7b8 beef 0000
	20010db8000100000000000000000001
	20010db8000100000000000000000002`

func TestHomeAgentsAnycast(t *testing.T) {
	for _, tt := range []struct{ prefix, want string }{
		// RFC 2526 §2-3, EUI-64 format: fdff:ffff:ffff:ff80 + 0x7e.
		{"2001:db8:1::/64", "2001:db8:1::fdff:ffff:ffff:fffe"},
		{"2001:db8:1::99/64", "2001:db8:1::fdff:ffff:ffff:fffe"}, // masked
		// Other lengths: all host bits above the low 7 set, then 0x7e.
		{"2001:db8:100::/112", "2001:db8:100::fffe"},
		{"2001:db8:100::/120", "2001:db8:100::fe"},
		{"2001:db8:100::/48", "2001:db8:100:ffff:ffff:ffff:ffff:fffe"},
		{"2001:db8::/122", ""},
		{"192.0.2.0/24", ""},
	} {
		got := HomeAgentsAnycast(netip.MustParsePrefix(tt.prefix))
		want := netip.Addr{}
		if tt.want != "" {
			want = netip.MustParseAddr(tt.want)
		}
		if got != want {
			t.Errorf("HomeAgentsAnycast(%s) = %v, want %v", tt.prefix, got, want)
		}
	}
}

func newResponder(t *testing.T, cfg DHAADConfig) *DHAADResponder {
	t.Helper()
	l := NewHAList(haHomePrefix, nil)
	l.SetSelf(HomeAgent{LinkLocal: fe80_self, Addresses: []netip.Addr{ha1}, Preference: 10, Lifetime: time.Hour})
	l.Update(fe80_2, haRA(true, 0, &mip6.HomeAgentInformation{Preference: 0, Lifetime: time.Hour}, "2001:db8:1::2"), t0)
	if !cfg.Source.IsValid() {
		cfg.Source = ha1
	}
	r, err := NewDHAADResponder(l, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestDHAADResponderScapy: the reply to scapy's request is, octet for
// octet, the reply scapy builds (checksum included, over Source and the
// request's source).
func TestDHAADResponderScapy(t *testing.T) {
	r := newResponder(t, DHAADConfig{})
	if r.Anycast() != haAnycast {
		t.Fatalf("Anycast() = %v", r.Anycast())
	}
	prefix := []byte("keep")
	out, ok := r.Reply(prefix, unhex(t, scapyRequest), mnCoA, haAnycast, t0)
	if !ok {
		t.Fatalf("no reply; stats %+v", r.Stats())
	}
	if !bytes.Equal(out[:4], []byte("keep")) {
		t.Errorf("buf prefix overwritten: %q", out[:4])
	}
	if want := unhex(t, scapyReply); !bytes.Equal(out[4:], want) {
		t.Errorf("reply\n got %x\nwant %x", out[4:], want)
	}
	if s := r.Stats(); s.Replies != 1 {
		t.Errorf("stats %+v", s)
	}
}

// request returns a request with id and R, its checksum for src > dst.
func request(id uint16, r bool, src, dst netip.Addr) []byte {
	b, _ := mip6.MarshalICMP(&mip6.HomeAgentDiscoveryRequest{Identifier: id, MobileRouter: r})
	mip6.SetICMPChecksum(b, src, dst)
	return b
}

// TestDHAADResponderRefuses: no reply to what a mobile node away from home
// cannot have sent, above all not to a source that is not a global unicast
// address (a forged source makes the reply an amplified reflection).
func TestDHAADResponderRefuses(t *testing.T) {
	good := request(1, false, mnCoA, haAnycast)
	bad := bytes.Clone(good)
	bad[2] ^= 1
	code := bytes.Clone(good)
	code[1] = 1
	mip6.SetICMPChecksum(code, mnCoA, haAnycast)
	a := netip.MustParseAddr
	for _, tt := range []struct {
		name     string
		req      []byte
		src, dst netip.Addr
		stat     func(DHAADStats) uint64
	}{
		{"bad checksum", bad, mnCoA, haAnycast, func(s DHAADStats) uint64 { return s.Invalid }},
		{"code 1", code, mnCoA, haAnycast, func(s DHAADStats) uint64 { return s.Invalid }},
		{"short", good[:7], mnCoA, haAnycast, func(s DHAADStats) uint64 { return s.Invalid }},
		{"a reply, not a request", unhex(t, scapyReply), mnCoA, haAnycast, func(s DHAADStats) uint64 { return s.Invalid }},
		{"to another address", request(1, false, mnCoA, ha2), mnCoA, ha2, func(s DHAADStats) uint64 { return s.Invalid }},
		{"to the anycast of another prefix", request(1, false, mnCoA, a("2001:db8:2::fdff:ffff:ffff:fffe")), mnCoA,
			a("2001:db8:2::fdff:ffff:ffff:fffe"), func(s DHAADStats) uint64 { return s.Invalid }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newResponder(t, DHAADConfig{})
			if out, ok := r.Reply(nil, tt.req, tt.src, tt.dst, t0); ok || out != nil {
				t.Errorf("replied %x", out)
			}
			if got := tt.stat(r.Stats()); got != 1 {
				t.Errorf("counter %d, stats %+v", got, r.Stats())
			}
		})
	}
	for _, src := range []string{
		"::", "::1", "ff02::1", "ff0e::1", "fe80::1", "::ffff:192.0.2.1",
		"2001:db8:9::",                    // Subnet-Router anycast (RFC 4291 §2.6.1)
		"2001:db8:9::fdff:ffff:ffff:ff80", // reserved subnet anycast (RFC 2526)
		"2001:db8:9::fdff:ffff:ffff:fffe", // another home link's Home-Agents anycast
		"2001:db8:1::1",                   // ourselves
	} {
		t.Run("source "+src, func(t *testing.T) {
			r := newResponder(t, DHAADConfig{})
			s := a(src)
			if _, ok := r.Reply(nil, request(1, false, s, haAnycast), s, haAnycast, t0); ok {
				t.Error("replied")
			}
			if got := r.Stats(); got.BadSource != 1 || got.Replies != 0 {
				t.Errorf("stats %+v", got)
			}
		})
	}
	// A request sent to the home agent's own address is answered.
	r := newResponder(t, DHAADConfig{})
	if _, ok := r.Reply(nil, request(1, false, mnCoA, ha1), mnCoA, ha1, t0); !ok {
		t.Error("no reply to a request sent to Source")
	}
}

// TestDHAADResponderRateLimits: per /64 (Burst, then Rate per second, any
// address of the /64 sharing the budget) and overall.
func TestDHAADResponderRateLimits(t *testing.T) {
	r := newResponder(t, DHAADConfig{Rate: 2, Burst: 3, GlobalRate: 1000, GlobalBurst: 1000})
	ask := func(src string, at time.Time) bool {
		s := netip.MustParseAddr(src)
		_, ok := r.Reply(nil, request(7, false, s, haAnycast), s, haAnycast, at)
		return ok
	}
	// Three at once from one /64 (different addresses in it), then none.
	for i, src := range []string{"2001:db8:9::1", "2001:db8:9::2", "2001:db8:9::3", "2001:db8:9::4"} {
		if got, want := ask(src, t0), i < 3; got != want {
			t.Errorf("request %d from %s: reply %v, want %v", i, src, got, want)
		}
	}
	// Another /64 has its own budget.
	if !ask("2001:db8:a::1", t0) {
		t.Error("another /64 limited")
	}
	// Rate 2/s: one more after 500 ms, not before.
	if ask("2001:db8:9::1", t0.Add(499*time.Millisecond)) {
		t.Error("reply at +499ms")
	}
	if !ask("2001:db8:9::1", t0.Add(500*time.Millisecond)) {
		t.Error("no reply at +500ms")
	}
	if s := r.Stats(); s.RateLimited != 2 || s.Replies != 5 {
		t.Errorf("stats %+v, want 2 limited, 5 replies", s)
	}

	// Overall: 5 replies in a burst from 100 prefixes, then 1 per second.
	r = newResponder(t, DHAADConfig{GlobalRate: 1, GlobalBurst: 5})
	n := 0
	for i := range 100 {
		if ask(fmt.Sprintf("2001:db8:%x::1", 0x100+i), t0) {
			n++
		}
	}
	if n != 5 {
		t.Errorf("%d replies to 100 prefixes at once, want the global burst of 5", n)
	}
	if !ask("2001:db8:ffff::1", t0.Add(time.Second)) || ask("2001:db8:fffe::1", t0.Add(time.Second)) {
		t.Error("global rate: want exactly one more reply a second later")
	}
	if s := r.Stats(); s.GlobalLimited != 96 {
		t.Errorf("stats %+v, want 96 globally limited", s)
	}
}

// TestDHAADResponderBoundedReply: however many home agents, the reply fits
// the minimum MTU with its IPv6 header (RFC 6275 §10.5).
func TestDHAADResponderBoundedReply(t *testing.T) {
	r := newResponder(t, DHAADConfig{})
	for i := range MaxHomeAgents + 10 {
		ll := netip.MustParseAddr(fmt.Sprintf("fe80::2:%x", i))
		addrs := []string{}
		for j := range 3 {
			addrs = append(addrs, fmt.Sprintf("2001:db8:1::%x:%x", i+1, j))
		}
		r.list.Update(ll, haRA(true, 0, &mip6.HomeAgentInformation{Preference: int16(i), Lifetime: time.Hour}, addrs...), t0)
	}
	out, ok := r.Reply(nil, request(1, false, mnCoA, haAnycast), mnCoA, haAnycast, t0)
	if !ok {
		t.Fatal("no reply")
	}
	if n := mip6.IPv6HeaderLen + len(out); n != 1280 {
		t.Errorf("reply packet of %d octets, want 1280 (77 addresses)", n)
	}
	m, err := mip6.ParseICMP(out)
	if err != nil {
		t.Fatal(err)
	}
	if !mip6.VerifyICMPChecksum(out, ha1, mnCoA) {
		t.Error("checksum")
	}
	if diff := cmp.Diff(uint16(1), m.(*mip6.HomeAgentDiscoveryReply).Identifier); diff != "" {
		t.Error(diff)
	}
}

func TestNewDHAADResponderErrors(t *testing.T) {
	l := NewHAList(haHomePrefix, nil)
	for _, tt := range []struct {
		name string
		l    *HAList
		src  netip.Addr
	}{
		{"nil list", nil, ha1},
		{"no source", l, netip.Addr{}},
		{"link-local source", l, fe80_1},
		{"prefix too long", NewHAList(netip.MustParsePrefix("2001:db8::/124"), nil), ha1},
	} {
		if _, err := NewDHAADResponder(tt.l, DHAADConfig{Source: tt.src}); err == nil {
			t.Errorf("%s: no error", tt.name)
		}
	}
}

// BenchmarkDHAADReply measures a reply built into a buffer with room.
func BenchmarkDHAADReply(b *testing.B) {
	l := NewHAList(haHomePrefix, nil)
	l.SetSelf(HomeAgent{LinkLocal: fe80_self, Addresses: []netip.Addr{ha1}, Lifetime: time.Hour})
	r, err := NewDHAADResponder(l, DHAADConfig{Source: ha1, Rate: 1e9, Burst: 1e9, GlobalRate: 1e9, GlobalBurst: 1e9})
	if err != nil {
		b.Fatal(err)
	}
	req := request(1, false, mnCoA, haAnycast)
	buf := make([]byte, 0, 1280)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, ok := r.Reply(buf, req, mnCoA, haAnycast, t0.Add(time.Duration(i))); !ok {
			b.Fatal("no reply")
		}
	}
}
