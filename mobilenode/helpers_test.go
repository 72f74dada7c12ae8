package mobilenode

import (
	"encoding/base64"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gomip6/gomip6/binding"
	"github.com/gomip6/gomip6/conf"
	"github.com/gomip6/gomip6/homeagent"
	"github.com/gomip6/gomip6/mip6"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// The test network, the same as package homeagent's: home prefix
// 2001:db8:100::/64, home agent ::1, the laptop's home address ::10, two
// foreign links.
var (
	haAddr = netip.MustParseAddr("2001:db8:100::1")
	hoa    = netip.MustParseAddr("2001:db8:100::10")
	coa1   = netip.MustParseAddr("2001:db8:a::1")
	coa2   = netip.MustParseAddr("2001:db8:b::2")
	key    = []byte("laptop-secret-key-0123456789abcd")
	t0     = time.Date(2026, 5, 17, 12, 0, 0, 0, time.UTC)
)

const (
	nai = "laptop@home.example"
	spi = 1000
)

func haConfig(t testing.TB) *conf.HA {
	t.Helper()
	c, err := conf.ParseHA([]byte(strings.ReplaceAll(`
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

[[mobile_node]]
id = "other@home.example"
home_address = "2001:db8:100::30"
spi = 1001
key = "KEY"
`, "KEY", base64.StdEncoding.EncodeToString(key))))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mnConfig(t testing.TB) Config {
	t.Helper()
	c, err := conf.ParseMN([]byte(strings.ReplaceAll(`
id = "laptop@home.example"
home_address = "2001:db8:100::10"
home_prefix = "2001:db8:100::/64"
home_agent = "2001:db8:100::1"
spi = 1000
key = "KEY"
interfaces = ["eth0", "wlan0"]
lifetime = "5m"
`, "KEY", base64.StdEncoding.EncodeToString(key))))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ConfigFromMN(c)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// lab is a mobile node and a real homeagent.HomeAgent wired together in
// memory. The two have separate clocks so a test can skew them.
type lab struct {
	t     testing.TB
	ha    *homeagent.HomeAgent
	mn    *Registration
	now   time.Time     // the mobile node's clock
	skew  time.Duration // home agent clock = now + skew
	dad   bool          // DAD result the home agent's caller reports
	noDAD bool          // home agent skips DAD
	last  homeagent.Result
	// haTOML, when not empty, replaces haConfig's had.toml (the
	// DSMIPv6 tests add [ipv4]); nat, when not nil, is the NAT between
	// an IPv4 mobile node and the home agent: it maps the inside source
	// address and port of a Binding Update to what the home agent sees.
	haTOML string
	nat    func(netip.AddrPort) netip.AddrPort
	// natSeen is what the home agent saw the last IPv4 Binding Update
	// come from.
	natSeen netip.AddrPort
}

func newLab(t testing.TB, cfg Config) *lab {
	t.Helper()
	l := &lab{t: t, now: t0, dad: true}
	l.restartHA()
	r, err := NewRegistration(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l.mn = r
	return l
}

// restartHA replaces the home agent by a fresh one with no state, as a
// had restart without a state file leaves it.
func (l *lab) restartHA() {
	cfg := haConfig(l.t)
	if l.haTOML != "" {
		var err error
		if cfg, err = conf.ParseHA([]byte(l.haTOML)); err != nil {
			l.t.Fatal(err)
		}
	}
	h, err := homeagent.New(cfg, homeagent.Options{SkipDAD: l.noDAD})
	if err != nil {
		l.t.Fatal(err)
	}
	l.ha = h
}

// deliver hands a BU to the home agent (running its DAD when asked) and
// returns the BA packet as the mobile node receives it.
func (l *lab) deliver(bu *BUPacket) (Packet, bool) {
	l.t.Helper()
	if bu == nil {
		l.t.Fatal("no Binding Update to deliver")
	}
	hnow := l.now.Add(l.skew)
	hp := homeagent.Packet{Src: bu.Src, Dst: bu.Dst, HomeAddress: bu.HomeAddress, MH: bu.MH}
	if bu.Outer.IsValid() {
		// RFC 5555 §4.2: in UDP from port 4191, through the NAT if
		// there is one.
		from := netip.AddrPortFrom(bu.OuterSrc, mip6.UDPPortDSMIP)
		if l.nat != nil {
			from = l.nat(from)
		}
		hp.Outer, hp.OuterDst, l.natSeen = from, bu.Outer.Addr(), from
	}
	res := l.ha.ProcessBU(nil, hp, hnow)
	if res.Verdict == homeagent.NeedsDAD {
		res = l.ha.CompleteDAD(nil, res.HomeAddress, l.dad, hnow)
	}
	l.last = res
	if res.Verdict != homeagent.Reply {
		return Packet{}, false
	}
	if bu.Outer.IsValid() && res.Outer != l.natSeen {
		l.t.Fatalf("BA to %v, the BU came from %v", res.Outer, l.natSeen)
	}
	p := Packet{Src: haAddr, Dst: res.BADst, MH: res.BA}
	if res.BADst != res.HomeAddress {
		// A type 2 routing header with Segments Left 1.
		p.RoutingHome = res.HomeAddress
	}
	return p, true
}

// exchange delivers bu and feeds the answer back to the mobile node.
func (l *lab) exchange(bu *BUPacket) Output {
	l.t.Helper()
	p, ok := l.deliver(bu)
	if !ok {
		l.t.Fatalf("home agent sent no BA: verdict %v drop %v err %v", l.last.Verdict, l.last.Drop, l.last.Err)
	}
	o, err := l.mn.HandleMH(p, l.now)
	if err != nil {
		l.t.Fatalf("mobile node refused the BA (status %v): %v", l.last.Status, err)
	}
	return o
}

// haBinding returns the home agent's binding for hoa.
func (l *lab) haBinding() (binding.Entry, bool) {
	e, ok := l.ha.Cache().Lookup(hoa)
	if ok && !e.Expires.After(l.now.Add(l.skew)) {
		return binding.Entry{}, false
	}
	return e, ok
}

// haMH marshals a message as the home agent sends it to the mobile node,
// checksummed from the home agent to the home address.
func haMH(t testing.TB, m mip6.MobilityMessage) Packet {
	t.Helper()
	b, err := mip6.MarshalMessage(m)
	if err != nil {
		t.Fatal(err)
	}
	mip6.SetMHChecksum(b, haAddr, hoa)
	return Packet{Src: haAddr, Dst: coa1, RoutingHome: hoa, MH: b}
}

// baOpts describe a hand-made BA.
type baOpts struct {
	status   mip6.Status
	flags    mip6.BAFlags
	seq      uint16
	lifetime time.Duration
	refresh  time.Duration
	ts       binding.Timestamp
	noTS     bool
	spi      uint32
	key      []byte
	coa      netip.Addr
	noAuth   bool
	nat      *mip6.NATDetection   // RFC 5555 §3.2.2
	ack      *mip6.IPv4AddressAck // RFC 5555 §3.2.1
}

// makeBA builds an authenticated BA as RFC 4285 §5.1 and RFC 6275 §6.1.8
// describe it, independently of the home agent package, with the MAC over
// (coa, hoa) and the checksum from the home agent to the home address.
func makeBA(t testing.TB, o baOpts) []byte {
	t.Helper()
	if o.spi == 0 {
		o.spi = spi
	}
	if o.key == nil {
		o.key = key
	}
	if !o.coa.IsValid() {
		o.coa = coa1
	}
	var opts []mip6.MobilityOption
	if o.refresh > 0 {
		opts = append(opts, &mip6.BindingRefreshAdvice{RefreshInterval: o.refresh})
	}
	if o.ack != nil {
		opts = append(opts, o.ack)
	}
	if o.nat != nil {
		opts = append(opts, o.nat)
	}
	opts = append(opts, mip6.MNIdentifierNAI(nai))
	if !o.noTS {
		opts = append(opts, &mip6.ReplayProtection{Timestamp: uint64(o.ts)})
	}
	if !o.noAuth {
		opts = append(opts, &mip6.Authentication{Subtype: mip6.AuthSubtypeMNHA, SPI: o.spi, Data: make([]byte, 12)})
	}
	b, err := mip6.MarshalMessage(&mip6.BindingAck{Status: o.status, Flags: o.flags, Sequence: o.seq, Lifetime: o.lifetime, Options: opts})
	if err != nil {
		t.Fatal(err)
	}
	if !o.noAuth {
		off, _, err := mip6.AuthenticatorOffset(b, mip6.OptAuthentication)
		if err != nil {
			t.Fatal(err)
		}
		if err := binding.SetMNHAAuthenticator(binding.HMACSHA1_96, o.key, o.coa, hoa, b, off); err != nil {
			t.Fatal(err)
		}
	}
	mip6.SetMHChecksum(b, haAddr, hoa)
	return b
}

func kinds(evs []Event) []EventKind {
	var out []EventKind
	for _, e := range evs {
		out = append(out, e.Kind)
	}
	return out
}

var cmpOpts = cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{})
