package homeagent

import (
	"bytes"
	"encoding/base64"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gomip6/gomip6/binding"
	"github.com/gomip6/gomip6/conf"
	"github.com/gomip6/gomip6/mip6"
)

// The test network: home prefix 2001:db8:100::/64 with the home agent at
// ::1; a laptop (SHA-1 association) and a mobile router (SHA-256, with a
// mobile network prefix) registered from care-of addresses in
// 2001:db8:a::/64.
var (
	haAddr    = netip.MustParseAddr("2001:db8:100::1")
	laptopHoA = netip.MustParseAddr("2001:db8:100::10")
	routerHoA = netip.MustParseAddr("2001:db8:100::20")
	otherHoA  = netip.MustParseAddr("2001:db8:100::30") // on the prefix, nobody's
	coa1      = netip.MustParseAddr("2001:db8:a::1")
	coa2      = netip.MustParseAddr("2001:db8:b::2")
	mnpRouter = netip.MustParsePrefix("2001:db8:200::/48")

	laptopKey = []byte("laptop-secret-key-0123456789abcd")
	routerKey = []byte("router-secret-key-0123456789abcd")

	// t0 is the tests' "now": 2026-05-17 12:00:00 UTC.
	t0 = time.Date(2026, 5, 17, 12, 0, 0, 0, time.UTC)
)

const (
	laptopID  = "laptop@home.example"
	routerID  = "router@home.example"
	laptopSPI = 1000
	routerSPI = 1001
)

func testTOML() string {
	b64 := base64.StdEncoding.EncodeToString
	return strings.NewReplacer("LAPTOPKEY", b64(laptopKey), "ROUTERKEY", b64(routerKey)).Replace(`
[home]
interface = "eth1"
prefix = "2001:db8:100::/64"
address = "2001:db8:100::1"
max_lifetime = "10m"

[rate_limit]
rate = 10
burst = 20

[[mobile_node]]
id = "laptop@home.example"
home_address = "2001:db8:100::10"
spi = 1000
key = "LAPTOPKEY"

[[mobile_node]]
id = "router@home.example"
home_address = "2001:db8:100::20"
spi = 1001
key = "ROUTERKEY"
algorithm = "hmac-sha256"
mobile_prefixes = ["2001:db8:200::/48"]
`)
}

func testConfig(t testing.TB) *conf.HA {
	t.Helper()
	c, err := conf.ParseHA([]byte(testTOML()))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newHA(t testing.TB, o Options) *HomeAgent {
	t.Helper()
	h, err := New(testConfig(t), o)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// mn is a mobile node's side of the association, building Binding Updates
// as RFC 4285 §4-§6 has a mobile node send them.
type mn struct {
	id  string
	hoa netip.Addr
	spi uint32
	key []byte
	alg binding.Algorithm
}

var (
	laptop = mn{laptopID, laptopHoA, laptopSPI, laptopKey, binding.HMACSHA1_96}
	router = mn{routerID, routerHoA, routerSPI, routerKey, binding.HMACSHA256_128}
)

// bu describes one Binding Update; zero fields take the defaults of a
// plain home registration.
type bu struct {
	seq      uint16
	flags    mip6.BUFlags // default A|H
	noFlags  bool         // send Flags as given even if zero
	lifetime time.Duration
	src      netip.Addr // IPv6 source; default coa1
	hao      netip.Addr // Home Address option; default the node's
	noHAO    bool
	altCoA   netip.Addr
	ts       time.Time // replay timestamp; default t0
	noTS     bool
	id       string // MN identifier; default the node's
	noID     bool
	spi      uint32 // default the node's
	noAuth   bool
	badMAC   bool
	prefixes []netip.Prefix
	macHoA   netip.Addr // address the MAC covers; default hao
	// Dual-Stack MIPv6 (RFC 5555): v4coa is the IPv4 Care-of Address
	// option (the MAC's care-of address then), v4hoa an IPv4 Home
	// Address option; outer, when valid, makes the packet arrive over
	// IPv4 from there: inner source the home address, no Home Address
	// option, outer destination outerDst (default ha4).
	v4coa    netip.Addr
	v4hoa    *mip6.IPv4HomeAddress
	outer    netip.AddrPort
	outerDst netip.Addr
}

// packet marshals b as node m would: options, then the MN-HA
// authenticator over care-of, home address and the header (RFC 4285
// §5.1), then the checksum (RFC 6275 §6.1.1) with the home address as the
// pseudo-header source.
func (m mn) packet(t testing.TB, b bu) Packet {
	t.Helper()
	if b.flags == 0 && !b.noFlags {
		b.flags = mip6.BUFlagA | mip6.BUFlagH
	}
	if b.lifetime == 0 {
		b.lifetime = 300 * time.Second
	}
	if b.lifetime < 0 {
		b.lifetime = 0
	}
	if !b.src.IsValid() && !b.outer.IsValid() {
		b.src = coa1
	}
	if !b.hao.IsValid() {
		b.hao = m.hoa
	}
	if b.ts.IsZero() {
		b.ts = t0
	}
	if b.id == "" {
		b.id = m.id
	}
	if b.spi == 0 {
		b.spi = m.spi
	}
	if b.outer.IsValid() && !b.src.IsValid() {
		b.src = m.hoa
	}
	var opts []mip6.MobilityOption
	if b.v4coa.IsValid() {
		opts = append(opts, &mip6.IPv4CareofAddress{Address: b.v4coa})
	}
	if b.v4hoa != nil {
		opts = append(opts, b.v4hoa)
	}
	if b.altCoA.IsValid() {
		opts = append(opts, &mip6.AlternateCareofAddress{Address: b.altCoA})
	}
	for _, p := range b.prefixes {
		opts = append(opts, &mip6.MobileNetworkPrefix{Prefix: p})
	}
	if !b.noID {
		opts = append(opts, mip6.MNIdentifierNAI(b.id))
	}
	if !b.noTS {
		opts = append(opts, mip6.ReplayProtectionAt(b.ts))
	}
	if !b.noAuth {
		opts = append(opts, &mip6.Authentication{Subtype: mip6.AuthSubtypeMNHA, SPI: b.spi, Data: make([]byte, m.alg.Size())})
	}
	msg, err := mip6.MarshalMessage(&mip6.BindingUpdate{Sequence: b.seq, Flags: b.flags, Lifetime: b.lifetime, Options: opts})
	if err != nil {
		t.Fatal(err)
	}
	coa := b.src
	if b.altCoA.IsValid() {
		coa = b.altCoA
	}
	if b.v4coa.IsValid() {
		coa = b.v4coa
	}
	macHoA := b.hao
	if b.macHoA.IsValid() {
		macHoA = b.macHoA
	}
	if !b.noAuth {
		off, _, err := mip6.AuthenticatorOffset(msg, mip6.OptAuthentication)
		if err != nil {
			t.Fatal(err)
		}
		if err := binding.SetMNHAAuthenticator(m.alg, m.key, coa, macHoA, msg, off); err != nil {
			t.Fatal(err)
		}
		if b.badMAC {
			msg[off] ^= 1
		}
	}
	p := Packet{Src: b.src, Dst: haAddr, HomeAddress: b.hao, MH: msg}
	if b.noHAO || b.outer.IsValid() {
		p.HomeAddress = netip.Addr{}
	}
	if b.outer.IsValid() {
		p.Outer, p.OuterDst = b.outer, b.outerDst
		if !p.OuterDst.IsValid() {
			p.OuterDst = ha4
		}
	}
	mip6.SetMHChecksum(msg, b.hao, haAddr)
	return p
}

// parsedBA is a BA as the mobile node checks it.
type parsedBA struct {
	Status   mip6.Status
	Flags    mip6.BAFlags
	Sequence uint16
	Lifetime time.Duration
	Refresh  time.Duration // Binding Refresh Advice, 0 when absent
	ID       string
	TS       uint64
	SPI      uint32
	NAT      *mip6.NATDetection   // RFC 5555 §3.2.2, nil when absent
	Ack      *mip6.IPv4AddressAck // RFC 5555 §3.2.1, nil when absent
}

// checkBA verifies a BA as mobile node m would (RFC 4285 §5.1: the MN
// authenticates it with its key over its care-of and home address; RFC
// 6275 §6.1.1 checksum with the home agent as source and the home address
// as destination) and returns its fields.
func (m mn) checkBA(t testing.TB, ba []byte, coa netip.Addr) parsedBA {
	t.Helper()
	if !mip6.VerifyMHChecksum(ba, haAddr, m.hoa) {
		t.Fatalf("BA checksum does not verify: %x", ba)
	}
	off, n, err := mip6.AuthenticatorOffset(ba, mip6.OptAuthentication)
	if err != nil || n != m.alg.Size() {
		t.Fatalf("BA authenticator: off %d size %d err %v", off, n, err)
	}
	if !binding.VerifyMNHAAuthenticator(m.alg, m.key, coa, m.hoa, ba, off) {
		t.Fatalf("BA authenticator does not verify for coa %v hoa %v", coa, m.hoa)
	}
	msg, err := mip6.ParseMessage(ba)
	if err != nil {
		t.Fatal(err)
	}
	a, ok := msg.(*mip6.BindingAck)
	if !ok {
		t.Fatalf("not a BA: %T", msg)
	}
	// What the home agent sends re-marshals to the same octets (the
	// checksum field aside): nothing in it the codec cannot write back.
	again, err := mip6.MarshalMessage(msg)
	if err != nil {
		t.Fatal(err)
	}
	want := bytes.Clone(ba)
	want[4], want[5] = 0, 0
	if !bytes.Equal(again, want) {
		t.Fatalf("BA re-marshals differently:\n%x\n%x", want, again)
	}
	r := parsedBA{Status: a.Status, Flags: a.Flags, Sequence: a.Sequence, Lifetime: a.Lifetime}
	for _, o := range a.Options {
		switch o := o.(type) {
		case *mip6.BindingRefreshAdvice:
			r.Refresh = o.RefreshInterval
		case *mip6.MNIdentifier:
			r.ID = string(o.Identifier)
		case *mip6.ReplayProtection:
			r.TS = o.Timestamp
		case *mip6.Authentication:
			r.SPI = o.SPI
		case *mip6.NATDetection:
			r.NAT = o
		case *mip6.IPv4AddressAck:
			r.Ack = o
		}
	}
	return r
}

// snapshot lists the cache for comparisons.
func snapshot(h *HomeAgent) map[netip.Addr]binding.Entry {
	m := map[netip.Addr]binding.Entry{}
	h.Cache().Range(func(e binding.Entry) bool {
		m[e.HomeAddress] = e
		return true
	})
	return m
}

func ts(t time.Time) uint64 { return mip6.ReplayProtectionAt(t).Timestamp }
