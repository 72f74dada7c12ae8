package homeagent

import (
	"bytes"
	"encoding/hex"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gomip6/gomip6/binding"
	"github.com/gomip6/gomip6/conf"
	"github.com/gomip6/gomip6/mip6"
	"github.com/gomip6/gomip6/tunnel"
)

// The IPv4 side of the test network (RFC 5555): the home agent at
// 192.0.2.1, IPv4 home addresses from 198.51.100.0/28 (the router has
// .5 configured), mobile nodes on 203.0.113.0/24, some behind a NAT whose
// inside is 10.0.0.0/8 (an RFC 1918 address the home agent never sees on
// a packet, only in the IPv4 Care-of Address option).
var (
	ha4        = netip.MustParseAddr("192.0.2.1")
	v4coa      = netip.MustParseAddr("203.0.113.7")
	natPublic  = netip.MustParseAddr("203.0.113.200")
	natInside  = netip.MustParseAddr("10.0.0.5")
	routerV4   = netip.MustParseAddr("198.51.100.5")
	allOnes    = 0xffffffff * time.Second
	dsmipPort  = uint16(mip6.UDPPortDSMIP)
	natPort    = uint16(40001)
	natPortNew = uint16(40002)
)

func dsmipTOML(extra string) string {
	return strings.Replace(testTOML(), `mobile_prefixes = ["2001:db8:200::/48"]`,
		`mobile_prefixes = ["2001:db8:200::/48"]
ipv4_home_address = "198.51.100.5"`, 1) + extra
}

const ipv4Section = `
[ipv4]
address = "192.0.2.1"
home_pool = "198.51.100.0/28"
`

func newDSMIP(t testing.TB, toml string, o Options) *HomeAgent {
	t.Helper()
	c, err := conf.ParseHA([]byte(toml))
	if err != nil {
		t.Fatal(err)
	}
	h, err := New(c, o)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// v4bu is a Binding Update from an IPv4 network as RFC 5555 §4.2 builds
// it: IPv4 Care-of Address option, inner source the home address, no
// Home Address option, arriving from outer.
func v4bu(seq uint16, coa netip.Addr, outer netip.AddrPort) bu {
	return bu{seq: seq, v4coa: coa, outer: outer, ts: t0.Add(time.Duration(seq) * time.Second)}
}

// TestDSMIPRegistration registers the laptop over IPv4 without a NAT,
// behind one, with the F flag, and follows it through a NAT rebinding
// and back to IPv6: the binding, the table's endpoint, where the BA goes
// and what it carries.
func TestDSMIPRegistration(t *testing.T) {
	type want struct {
		Change   Change
		CoA      netip.Addr
		Port     uint16
		EP       tunnel.Endpoint
		Outer    netip.AddrPort
		BADst    netip.Addr
		NAT, UDP bool
		NATOpt   *mip6.NATDetection
	}
	tab := tunnel.NewTable(0)
	h := newDSMIP(t, dsmipTOML(ipv4Section), Options{SkipDAD: true, Table: tab})
	steps := []struct {
		name string
		b    bu
		mac  netip.Addr // the care-of address the BA's authenticator covers
		want want
	}{{
		// §4.1: option = outer source: no NAT, IPv6 in IPv4.
		name: "no NAT", b: v4bu(1, v4coa, netip.AddrPortFrom(v4coa, dsmipPort)), mac: v4coa,
		want: want{Change: Created, CoA: v4coa, EP: tunnel.Endpoint{Kind: tunnel.Kind6in4, Local: ha4, Remote: v4coa},
			Outer: netip.AddrPortFrom(v4coa, dsmipPort), BADst: laptopHoA},
	}, {
		name: "refresh", b: v4bu(2, v4coa, netip.AddrPortFrom(v4coa, dsmipPort)), mac: v4coa,
		want: want{Change: Refreshed, CoA: v4coa, EP: tunnel.Endpoint{Kind: tunnel.Kind6in4, Local: ha4, Remote: v4coa},
			Outer: netip.AddrPortFrom(v4coa, dsmipPort), BADst: laptopHoA},
	}, {
		// Behind a NAT: the option holds the private address, the
		// packet the public one. UDP to the public address and port,
		// NAT Detection with the default NATKATIMEOUT.
		name: "NAT", b: v4bu(3, natInside, netip.AddrPortFrom(natPublic, natPort)), mac: natInside,
		want: want{Change: Moved, CoA: natPublic, Port: natPort,
			EP:    tunnel.Endpoint{Kind: tunnel.KindUDP4, Local: ha4, Remote: natPublic, LocalPort: dsmipPort, RemotePort: natPort},
			Outer: netip.AddrPortFrom(natPublic, natPort), BADst: laptopHoA, NAT: true, UDP: true,
			NATOpt: &mip6.NATDetection{RefreshTime: conf.DefaultNATKeepalive}},
	}, {
		// The NAT flushed its mapping and made a new one: a move, the
		// tunnel follows.
		name: "NAT rebinding", b: v4bu(4, natInside, netip.AddrPortFrom(natPublic, natPortNew)), mac: natInside,
		want: want{Change: Moved, CoA: natPublic, Port: natPortNew,
			EP:    tunnel.Endpoint{Kind: tunnel.KindUDP4, Local: ha4, Remote: natPublic, LocalPort: dsmipPort, RemotePort: natPortNew},
			Outer: netip.AddrPortFrom(natPublic, natPortNew), BADst: laptopHoA, NAT: true, UDP: true,
			NATOpt: &mip6.NATDetection{RefreshTime: conf.DefaultNATKeepalive}},
	}, {
		// F flag, no NAT: UDP all the same; the option says F and, no
		// NAT being there, no keepalives (refresh all ones, §3.2.2).
		name: "F flag", b: func() bu {
			b := v4bu(5, v4coa, netip.AddrPortFrom(v4coa, dsmipPort))
			b.flags = mip6.BUFlagA | mip6.BUFlagH | mip6.BUFlagF
			return b
		}(), mac: v4coa,
		want: want{Change: Moved, CoA: v4coa, Port: dsmipPort,
			EP:    tunnel.Endpoint{Kind: tunnel.KindUDP4, Local: ha4, Remote: v4coa, LocalPort: dsmipPort, RemotePort: dsmipPort},
			Outer: netip.AddrPortFrom(v4coa, dsmipPort), BADst: laptopHoA, UDP: true,
			NATOpt: &mip6.NATDetection{ForceUDP: true, RefreshTime: allOnes}},
	}, {
		// Back to an IPv6 network: RFC 6275 as before.
		name: "IPv6 again", b: bu{seq: 6, ts: t0.Add(6 * time.Second)}, mac: coa1,
		want: want{Change: Moved, CoA: coa1, EP: tunnel.Endpoint{Kind: tunnel.KindIPv6, Local: haAddr, Remote: coa1}, BADst: coa1},
	}}
	for _, st := range steps {
		r := h.ProcessBU(nil, laptop.packet(t, st.b), t0.Add(time.Duration(st.b.seq)*time.Second))
		if r.Verdict != Reply || r.Status != mip6.StatusAccepted {
			t.Fatalf("%s: verdict %v status %v drop %v err %v", st.name, r.Verdict, r.Status, r.Drop, r.Err)
		}
		ba := laptop.checkBA(t, r.BA, st.mac)
		got := want{Change: r.Change, CoA: r.Binding.CareOf, Port: r.Binding.CareOfPort, Outer: r.Outer,
			BADst: r.BADst, NAT: r.NAT, UDP: r.UDP, NATOpt: ba.NAT}
		if b := tab.Lookup(laptopHoA); b != nil {
			got.EP = b.Endpoint()
			got.EP.PathMTU = 0
		}
		if diff := cmp.Diff(st.want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
			cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b })); diff != "" {
			t.Errorf("%s: (-want +got)\n%s", st.name, diff)
		}
		if got.EP != h.Endpoint(r.Binding) {
			t.Errorf("%s: Endpoint(binding) = %+v, table has %+v", st.name, h.Endpoint(r.Binding), got.EP)
		}
		if r.Outer.IsValid() != (r.OuterSrc == ha4) {
			t.Errorf("%s: outer %v from %v", st.name, r.Outer, r.OuterSrc)
		}
		if ba.Ack != nil {
			t.Errorf("%s: IPv4 Address Acknowledgement %+v without an IPv4 Home Address option", st.name, ba.Ack)
		}
	}
}

// TestDSMIPResultUDPFlag: the UDP and NAT flags of the Result match the
// binding's encapsulation.
func TestDSMIPResultUDPFlag(t *testing.T) {
	h := newDSMIP(t, dsmipTOML(ipv4Section), Options{SkipDAD: true})
	r := h.ProcessBU(nil, laptop.packet(t, v4bu(1, natInside, netip.AddrPortFrom(natPublic, natPort))), t0)
	if !r.UDP || !r.NAT || h.Endpoint(r.Binding).Kind != tunnel.KindUDP4 {
		t.Fatalf("UDP %v NAT %v kind %v", r.UDP, r.NAT, h.Endpoint(r.Binding).Kind)
	}
}

// TestDSMIPDrops: what is dropped before authentication, and the
// rejections after it.
func TestDSMIPDrops(t *testing.T) {
	outer := netip.AddrPortFrom(v4coa, dsmipPort)
	cases := []struct {
		name   string
		toml   string
		b      bu
		drop   DropReason
		status mip6.Status
	}{
		{"no [ipv4]", testTOML(), v4bu(1, v4coa, outer), DropIPv4Disabled, 0},
		{"other IPv4 address", dsmipTOML(ipv4Section), func() bu {
			b := v4bu(1, v4coa, outer)
			b.outerDst = netip.MustParseAddr("192.0.2.99")
			return b
		}(), DropIPv4Disabled, 0},
		// RFC 5555 §4.2: a Binding Update over IPv4 names its IPv4
		// care-of address in the option.
		{"no IPv4 Care-of Address option", dsmipTOML(ipv4Section), bu{seq: 1, outer: outer}, DropBadCareOf, 0},
		{"option in a native IPv6 BU", dsmipTOML(ipv4Section), bu{seq: 1, v4coa: v4coa}, DropBadCareOf, 0},
		{"loopback care-of", dsmipTOML(ipv4Section), v4bu(1, netip.MustParseAddr("127.0.0.1"), outer), DropBadCareOf, 0},
		{"multicast outer source", dsmipTOML(ipv4Section), v4bu(1, v4coa, netip.AddrPortFrom(netip.MustParseAddr("224.0.0.1"), dsmipPort)), DropBadCareOf, 0},
		{"link-local care-of", dsmipTOML(ipv4Section), v4bu(1, netip.MustParseAddr("169.254.1.1"), outer), DropBadCareOf, 0},
		// After authentication: a tunnel to ourselves or to an IPv4
		// home address is a loop (128).
		{"outer is the home agent", dsmipTOML(ipv4Section), v4bu(1, ha4, netip.AddrPortFrom(ha4, dsmipPort)), NotDropped, mip6.StatusUnspecified},
		{"outer in the IPv4 home pool", dsmipTOML(ipv4Section), v4bu(1, routerV4, netip.AddrPortFrom(routerV4, dsmipPort)), NotDropped, mip6.StatusUnspecified},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tab := tunnel.NewTable(0)
			h := newDSMIP(t, tc.toml, Options{SkipDAD: true, Table: tab})
			r := h.ProcessBU(nil, laptop.packet(t, tc.b), t0)
			if r.Drop != tc.drop || r.Status != tc.status {
				t.Fatalf("drop %v status %v, want %v %v", r.Drop, r.Status, tc.drop, tc.status)
			}
			if h.Cache().Len() != 0 || tab.Len() != 0 {
				t.Fatalf("state changed: cache %d table %d", h.Cache().Len(), tab.Len())
			}
			if tc.drop == NotDropped && (r.Outer != tc.b.outer || r.BADst != laptopHoA) {
				t.Fatalf("rejection goes to %v / %v, want back over IPv4 to %v", r.Outer, r.BADst, tc.b.outer)
			}
		})
	}
}

// TestDSMIPAuthCoversIPv4CareOf: the authenticator covers the IPv4
// Care-of Address option's address (IPv4-mapped, RFC 4285 §5.1 Mobility
// Data), not the outer source a NAT wrote: a MAC computed over the public
// address fails with 146.
func TestDSMIPAuthCoversIPv4CareOf(t *testing.T) {
	h := newDSMIP(t, dsmipTOML(ipv4Section), Options{SkipDAD: true})
	b := v4bu(1, natInside, netip.AddrPortFrom(natPublic, natPort))
	p := laptop.packet(t, b)
	// Recompute the MAC over the public address instead.
	off, _, err := mip6.AuthenticatorOffset(p.MH, mip6.OptAuthentication)
	if err != nil {
		t.Fatal(err)
	}
	if err := binding.SetMNHAAuthenticator(laptop.alg, laptop.key, natPublic, laptopHoA, p.MH, off); err != nil {
		t.Fatal(err)
	}
	mip6.SetMHChecksum(p.MH, laptopHoA, haAddr)
	if r := h.ProcessBU(nil, p, t0); r.Status != mip6.StatusAuthFailed {
		t.Fatalf("MAC over the outer source: status %v drop %v, want 146", r.Status, r.Drop)
	}
	// And the genuine one, over the mapped private address, verifies:
	// the RFC 4285 Mobility Data is ::ffff:10.0.0.5 | home address | MH.
	p = laptop.packet(t, b)
	mapped := netip.AddrFrom16(natInside.As16())
	if !binding.VerifyMNHAAuthenticator(laptop.alg, laptop.key, mapped, laptopHoA, p.MH[:len(p.MH)], off) {
		t.Fatal("the BU's MAC is not over the IPv4-mapped care-of address")
	}
	if r := h.ProcessBU(nil, p, t0); r.Status != mip6.StatusAccepted {
		t.Fatalf("genuine: status %v drop %v", r.Status, r.Drop)
	}
}

// TestDSMIPIPv4HomeAddress: the IPv4 Home Address option and its
// acknowledgement (RFC 5555 §3.1.1, §3.2.1).
func TestDSMIPIPv4HomeAddress(t *testing.T) {
	outer := netip.AddrPortFrom(v4coa, dsmipPort)
	any := netip.IPv4Unspecified()
	opt := func(a netip.Addr) *mip6.IPv4HomeAddress { return &mip6.IPv4HomeAddress{PrefixLen: 32, Address: a} }
	ack := func(s mip6.IPv4AckStatus, a netip.Addr) *mip6.IPv4AddressAck {
		r := &mip6.IPv4AddressAck{Status: s, Address: a}
		if s == mip6.IPv4AckSuccess {
			r.PrefixLen = 32
		}
		return r
	}
	first := netip.MustParseAddr("198.51.100.1") // .0 is the pool's network address
	cases := []struct {
		name string
		toml string
		node mn
		req  *mip6.IPv4HomeAddress
		want *mip6.IPv4AddressAck
	}{
		{"dynamic: the first free address", dsmipTOML(ipv4Section), laptop, opt(any), ack(0, first)},
		{"configured address for 0.0.0.0", dsmipTOML(ipv4Section), router, opt(any), ack(0, routerV4)},
		{"configured address asked for", dsmipTOML(ipv4Section), router, opt(routerV4), ack(0, routerV4)},
		{"another than the configured one", dsmipTOML(ipv4Section), router, opt(first), ack(mip6.IPv4AckIncorrectHomeAddress, first)},
		{"someone else's", dsmipTOML(ipv4Section), laptop, opt(routerV4), ack(mip6.IPv4AckIncorrectHomeAddress, routerV4)},
		{"free one asked for", dsmipTOML(ipv4Section), laptop, opt(netip.MustParseAddr("198.51.100.9")), ack(0, netip.MustParseAddr("198.51.100.9"))},
		{"outside the pool", dsmipTOML(ipv4Section), laptop, opt(netip.MustParseAddr("198.51.100.77")), ack(mip6.IPv4AckInvalidAddress, netip.MustParseAddr("198.51.100.77"))},
		{"broadcast of the pool", dsmipTOML(ipv4Section), laptop, opt(netip.MustParseAddr("198.51.100.15")), ack(mip6.IPv4AckInvalidAddress, netip.MustParseAddr("198.51.100.15"))},
		{"a prefix (P flag)", dsmipTOML(ipv4Section), laptop, &mip6.IPv4HomeAddress{PrefixLen: 32, RequestPrefix: true, Address: any}, ack(mip6.IPv4AckProhibited, any)},
		{"a /24", dsmipTOML(ipv4Section), laptop, &mip6.IPv4HomeAddress{PrefixLen: 24, Address: any}, ack(mip6.IPv4AckProhibited, any)},
		{"no pool", testTOML() + "\n[ipv4]\naddress = \"192.0.2.1\"\n", laptop, opt(any), ack(mip6.IPv4AckProhibited, any)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newDSMIP(t, tc.toml, Options{SkipDAD: true})
			b := v4bu(1, v4coa, outer)
			b.v4hoa = tc.req
			if tc.node.id == routerID {
				b.flags = mip6.BUFlagA | mip6.BUFlagH // not a mobile router BU: no R
			}
			r := h.ProcessBU(nil, tc.node.packet(t, b), t0)
			if r.Status != mip6.StatusAccepted {
				t.Fatalf("status %v drop %v err %v", r.Status, r.Drop, r.Err)
			}
			ba := tc.node.checkBA(t, r.BA, v4coa)
			if diff := cmp.Diff(tc.want, ba.Ack, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
				t.Errorf("ack (-want +got)\n%s", diff)
			}
			if !r.IPv4Ack || r.IPv4AckStatus != tc.want.Status {
				t.Errorf("Result ack %v status %v", r.IPv4Ack, r.IPv4AckStatus)
			}
			granted, ok := h.IPv4HomeAddress(tc.node.hoa)
			if ok != (tc.want.Status == 0) || (ok && (granted != tc.want.Address || r.IPv4HomeAddress != granted)) {
				t.Errorf("IPv4HomeAddress = %v %v, Result %v", granted, ok, r.IPv4HomeAddress)
			}
		})
	}
}

// TestDSMIPIPv4HomeAddressLifecycle: a pool address is the node's while
// its binding lives, is not given to another, and comes back to the pool
// on de-registration.
func TestDSMIPIPv4HomeAddressLifecycle(t *testing.T) {
	// A pool of exactly one usable address for dynamic assignment:
	// 198.51.100.4/30 has .5 (the router's, configured) and .6.
	toml := dsmipTOML("\n[ipv4]\naddress = \"192.0.2.1\"\nhome_pool = \"198.51.100.4/30\"\n")
	h := newDSMIP(t, toml, Options{SkipDAD: true})
	outer := netip.AddrPortFrom(v4coa, dsmipPort)
	req := &mip6.IPv4HomeAddress{PrefixLen: 32, Address: netip.IPv4Unspecified()}
	six := netip.MustParseAddr("198.51.100.6")
	b := v4bu(1, v4coa, outer)
	b.v4hoa = req
	r := h.ProcessBU(nil, laptop.packet(t, b), t0)
	if r.IPv4HomeAddress != six {
		t.Fatalf("first: %v (%v)", r.IPv4HomeAddress, r.IPv4AckStatus)
	}
	// A refresh asking for it by name keeps it.
	b = v4bu(2, v4coa, outer)
	b.v4hoa = &mip6.IPv4HomeAddress{PrefixLen: 32, Address: six}
	if r = h.ProcessBU(nil, laptop.packet(t, b), t0.Add(2*time.Second)); r.IPv4HomeAddress != six {
		t.Fatalf("refresh: %v (%v)", r.IPv4HomeAddress, r.IPv4AckStatus)
	}
	// De-registration gives it back...
	b = v4bu(3, v4coa, outer)
	b.lifetime = -1
	if r = h.ProcessBU(nil, laptop.packet(t, b), t0.Add(3*time.Second)); r.Change != Deleted {
		t.Fatalf("de-registration: %v %v", r.Change, r.Status)
	}
	if _, ok := h.IPv4HomeAddress(laptopHoA); ok {
		t.Fatal("IPv4 home address kept after de-registration")
	}
	// ... so that the next registration gets it again, and once the
	// pool is empty the answer is 132.
	b = v4bu(4, v4coa, outer)
	b.v4hoa = req
	if r = h.ProcessBU(nil, laptop.packet(t, b), t0.Add(4*time.Second)); r.IPv4HomeAddress != six {
		t.Fatalf("again: %v (%v)", r.IPv4HomeAddress, r.IPv4AckStatus)
	}
	h2 := newDSMIP(t, toml, Options{SkipDAD: true})
	h2.v4used[six] = 1 // held by the router (index 1), as if it had asked
	if r = h2.ProcessBU(nil, laptop.packet(t, b), t0.Add(4*time.Second)); r.IPv4AckStatus != mip6.IPv4AckDynamicNotAvailable || r.IPv4HomeAddress.IsValid() {
		t.Fatalf("pool empty: %v %v", r.IPv4AckStatus, r.IPv4HomeAddress)
	}
	// Expiry releases it too.
	h.Tick(t0.Add(time.Hour))
	if _, ok := h.IPv4HomeAddress(laptopHoA); ok || len(h.v4used) != 0 {
		t.Fatalf("after expiry: %v", h.v4used)
	}
}

// TestDSMIPStateRestore: an IPv4 binding (address and NAT port) goes
// through the state file and Restore into the data plane table with the
// same endpoint.
func TestDSMIPStateRestore(t *testing.T) {
	h := newDSMIP(t, dsmipTOML(ipv4Section), Options{SkipDAD: true})
	r := h.ProcessBU(nil, laptop.packet(t, v4bu(1, natInside, netip.AddrPortFrom(natPublic, natPort))), t0)
	if r.Status != 0 {
		t.Fatal(r.Status, r.Drop)
	}
	var buf bytes.Buffer
	if err := h.Cache().WriteState(&buf); err != nil {
		t.Fatal(err)
	}
	c, err := binding.ReadState(&buf, t0)
	if err != nil {
		t.Fatal(err)
	}
	tab := tunnel.NewTable(0)
	h2 := newDSMIP(t, dsmipTOML(ipv4Section), Options{SkipDAD: true, Table: tab})
	if dropped := h2.Restore(c, t0.Add(time.Second)); len(dropped) != 0 {
		t.Fatalf("dropped %v", dropped)
	}
	b := tab.Lookup(laptopHoA)
	if b == nil {
		t.Fatal("not installed")
	}
	ep := b.Endpoint()
	ep.PathMTU = 0
	want := tunnel.Endpoint{Kind: tunnel.KindUDP4, Local: ha4, Remote: natPublic, LocalPort: dsmipPort, RemotePort: natPort}
	if ep != want {
		t.Fatalf("restored endpoint %+v, want %+v", ep, want)
	}
	// Without [ipv4] the IPv4 binding cannot be kept.
	h3 := newDSMIP(t, testTOML(), Options{SkipDAD: true})
	buf.Reset()
	if err := h.Cache().WriteState(&buf); err != nil {
		t.Fatal(err)
	}
	c, _ = binding.ReadState(&buf, t0)
	if dropped := h3.Restore(c, t0.Add(time.Second)); len(dropped) != 1 {
		t.Fatalf("without [ipv4]: dropped %d", len(dropped))
	}
}

// TestDSMIPWireBA pins the octets of an accepted BA to a NATed node with
// an IPv4 home address: checked field by field against RFC 5555 §3.2.1
// (type 30, length 6, status, Pref-len << 2, address) and §3.2.2 (type 31,
// length 6, F flag in the top bit, reserved, 32-bit refresh time), and
// decoded independently by tshark's mip6 dissector while writing this
// test (IPv4 Address Acknowledgement: success, Prefix-len 32,
// 198.51.100.1; NAT Detection: F clear, refresh time 110 s).
func TestDSMIPWireBA(t *testing.T) {
	h := newDSMIP(t, dsmipTOML(ipv4Section), Options{SkipDAD: true})
	b := v4bu(1, natInside, netip.AddrPortFrom(natPublic, natPort))
	b.v4hoa = &mip6.IPv4HomeAddress{PrefixLen: 32, Address: netip.IPv4Unspecified()}
	r := h.ProcessBU(nil, laptop.packet(t, b), t0)
	if r.Status != 0 {
		t.Fatal(r.Status, r.Drop)
	}
	// The options before the MN Identifier: Binding Refresh Advice
	// (type 2, length 2, 56 units of 4 s: three quarters of the 300 s
	// lifetime rounded down), then the two RFC 5555 options: type,
	// length 6, status 0, Pref-len 32 in the top six bits, the address;
	// type, length 6, F clear and reserved, 110 s.
	ack := []byte{30, 6, 0, 32 << 2, 198, 51, 100, 1}
	nat := []byte{31, 6, 0, 0, 0, 0, 0, 110}
	if bra := []byte{2, 2, 0, 56}; !bytes.Contains(r.BA, bra) {
		t.Errorf("no Binding Refresh Advice %x in %x", bra, r.BA)
	}
	i := bytes.Index(r.BA, ack)
	j := bytes.Index(r.BA, nat)
	if i < 0 || j < 0 {
		t.Fatalf("BA %s lacks the IPv4 Address Acknowledgement %x or NAT Detection %x", hex.EncodeToString(r.BA), ack, nat)
	}
	// Alignment 4n (RFC 5555 §3.2.1, §3.2.2), counted from the start
	// of the Mobility Header, so that the 32-bit fields are aligned.
	if i%4 != 0 || j%4 != 0 {
		t.Errorf("options at %d and %d, not 4n", i, j)
	}
}

// TestDSMIPDAD: a first registration over IPv4 that waits for DAD keeps
// what the NAT detection found: CompleteDAD answers back over IPv4 with
// the NAT Detection option and installs the UDP tunnel.
func TestDSMIPDAD(t *testing.T) {
	tab := tunnel.NewTable(0)
	h := newDSMIP(t, dsmipTOML(ipv4Section), Options{Table: tab})
	outer := netip.AddrPortFrom(natPublic, natPort)
	r := h.ProcessBU(nil, laptop.packet(t, v4bu(1, natInside, outer)), t0)
	if r.Verdict != NeedsDAD || r.Outer != outer {
		t.Fatalf("verdict %v outer %v", r.Verdict, r.Outer)
	}
	r = h.CompleteDAD(nil, laptopHoA, true, t0.Add(time.Second))
	if r.Verdict != Reply || r.Status != 0 || r.Outer != outer || r.BADst != laptopHoA || !r.NAT || !r.UDP {
		t.Fatalf("after DAD: %+v", r)
	}
	if ba := laptop.checkBA(t, r.BA, natInside); ba.NAT == nil || ba.NAT.RefreshTime != conf.DefaultNATKeepalive {
		t.Fatalf("BA NAT option %+v", ba.NAT)
	}
	if b := tab.Lookup(laptopHoA); b == nil || b.Kind() != tunnel.KindUDP4 {
		t.Fatalf("table %+v", b)
	}
	// DAD failed: 134, still back over IPv4.
	h = newDSMIP(t, dsmipTOML(ipv4Section), Options{})
	h.ProcessBU(nil, laptop.packet(t, v4bu(1, natInside, outer)), t0)
	if r = h.CompleteDAD(nil, laptopHoA, false, t0.Add(time.Second)); r.Status != mip6.StatusDADFailed || r.Outer != outer {
		t.Fatalf("DAD failed: status %v outer %v", r.Status, r.Outer)
	}
}

// TestDSMIPPreAuthReply: an answer before authentication (146) goes back
// over IPv4 to where the Binding Update came from, inner packet to the
// home address, and changes nothing.
func TestDSMIPPreAuthReply(t *testing.T) {
	h := newDSMIP(t, dsmipTOML(ipv4Section), Options{SkipDAD: true})
	outer := netip.AddrPortFrom(natPublic, natPort)
	b := v4bu(1, natInside, outer)
	b.badMAC = true
	r := h.ProcessBU(nil, laptop.packet(t, b), t0)
	if r.Status != mip6.StatusAuthFailed || r.Outer != outer || r.OuterSrc != ha4 || r.BADst != laptopHoA || h.Cache().Len() != 0 {
		t.Fatalf("146: %+v", r)
	}
	if ba := laptop.checkBA(t, r.BA, natInside); ba.NAT != nil || ba.Ack != nil {
		t.Fatalf("a refusal with RFC 5555 options: %+v", ba)
	}
}

// TestDSMIPReload: a reload keeps an IPv4 binding and its IPv4 home
// address; one without [ipv4] drops the binding and frees the address.
func TestDSMIPReload(t *testing.T) {
	h := newDSMIP(t, dsmipTOML(ipv4Section), Options{SkipDAD: true})
	b := v4bu(1, v4coa, netip.AddrPortFrom(v4coa, dsmipPort))
	b.v4hoa = &mip6.IPv4HomeAddress{PrefixLen: 32, Address: netip.IPv4Unspecified()}
	if r := h.ProcessBU(nil, laptop.packet(t, b), t0); !r.IPv4HomeAddress.IsValid() {
		t.Fatalf("no IPv4 home address: %v", r.IPv4AckStatus)
	}
	c, err := conf.ParseHA([]byte(dsmipTOML(ipv4Section)))
	if err != nil {
		t.Fatal(err)
	}
	if dropped, err := h.Reload(c, t0.Add(time.Second)); err != nil || len(dropped) != 0 {
		t.Fatalf("reload: %v %v", dropped, err)
	}
	if a, ok := h.IPv4HomeAddress(laptopHoA); !ok || a != netip.MustParseAddr("198.51.100.1") {
		t.Fatalf("after reload: %v %v", a, ok)
	}
	// The pool's bookkeeping survived: the address is still the
	// laptop's (node 0), so no one else can be given it.
	if owner := h.v4owner(netip.MustParseAddr("198.51.100.1")); owner != 0 {
		t.Fatalf("owner after reload %d", owner)
	}
	c, err = conf.ParseHA([]byte(testTOML()))
	if err != nil {
		t.Fatal(err)
	}
	if dropped, err := h.Reload(c, t0.Add(2*time.Second)); err != nil || len(dropped) != 1 {
		t.Fatalf("reload without [ipv4]: %v %v", dropped, err)
	}
	if _, ok := h.IPv4HomeAddress(laptopHoA); ok {
		t.Fatal("IPv4 home address kept without [ipv4]")
	}
}

// TestDSMIPIPv4HomeAddressTable: the IPv4 home address is routed into the
// node's UDP tunnel (tunnel.Table.SetIPv4), which the home agent forces
// for a node with one, even without a NAT; it follows a NAT rebinding,
// and leaves the table when the node moves to an IPv6 network (the data
// plane carries IPv4 in UDP over IPv4 only) or de-registers.
func TestDSMIPIPv4HomeAddressTable(t *testing.T) {
	tab := tunnel.NewTable(0)
	h := newDSMIP(t, dsmipTOML(ipv4Section), Options{SkipDAD: true, Table: tab})
	req := &mip6.IPv4HomeAddress{PrefixLen: 32, Address: netip.IPv4Unspecified()}
	first := netip.MustParseAddr("198.51.100.1")
	ep4 := func() tunnel.Endpoint {
		t.Helper()
		b := tab.Lookup(first)
		if b == nil {
			t.Fatal("IPv4 home address not in the table")
		}
		ep := b.Endpoint()
		ep.PathMTU = 0
		return ep
	}
	// No NAT, no F flag: UDP all the same, and the NAT Detection
	// option says F with no keepalive.
	b := v4bu(1, v4coa, netip.AddrPortFrom(v4coa, dsmipPort))
	b.v4hoa = req
	r := h.ProcessBU(nil, laptop.packet(t, b), t0)
	if r.IPv4HomeAddress != first || !r.UDP || r.NAT {
		t.Fatalf("granted %v UDP %v NAT %v", r.IPv4HomeAddress, r.UDP, r.NAT)
	}
	if ba := laptop.checkBA(t, r.BA, v4coa); ba.NAT == nil || !ba.NAT.ForceUDP || ba.NAT.RefreshTime != allOnes {
		t.Fatalf("NAT option %+v", ba.NAT)
	}
	want := tunnel.Endpoint{Kind: tunnel.KindUDP4, Local: ha4, Remote: v4coa, LocalPort: dsmipPort, RemotePort: dsmipPort}
	if got := ep4(); got != want {
		t.Fatalf("IPv4 home address endpoint %+v, want %+v", got, want)
	}
	// Behind a NAT, then a rebinding: the IPv4 home address follows.
	for i, port := range []uint16{natPort, natPortNew} {
		b = v4bu(uint16(2+i), natInside, netip.AddrPortFrom(natPublic, port))
		b.v4hoa = &mip6.IPv4HomeAddress{PrefixLen: 32, Address: first}
		if r = h.ProcessBU(nil, laptop.packet(t, b), t0.Add(time.Duration(2+i)*time.Second)); r.IPv4HomeAddress != first {
			t.Fatalf("port %d: %v %v", port, r.IPv4AckStatus, r.IPv4HomeAddress)
		}
		want = tunnel.Endpoint{Kind: tunnel.KindUDP4, Local: ha4, Remote: natPublic, LocalPort: dsmipPort, RemotePort: port}
		if got := ep4(); got != want {
			t.Fatalf("port %d: endpoint %+v, want %+v", port, got, want)
		}
	}
	// To an IPv6 network: asked again, the answer is 129 and the
	// address is gone from the table and the node.
	b = bu{seq: 4, ts: t0.Add(4 * time.Second), v4hoa: &mip6.IPv4HomeAddress{PrefixLen: 32, Address: first}}
	r = h.ProcessBU(nil, laptop.packet(t, b), t0.Add(4*time.Second))
	if r.Status != 0 || r.IPv4AckStatus != mip6.IPv4AckProhibited || tab.Lookup(first) != nil {
		t.Fatalf("IPv6: status %v ack %v table %v", r.Status, r.IPv4AckStatus, tab.Lookup(first))
	}
	if _, ok := h.IPv4HomeAddress(laptopHoA); ok {
		t.Fatal("IPv4 home address kept on an IPv6 network")
	}
	// Back on IPv4 it is granted again; de-registration withdraws it.
	b = v4bu(5, v4coa, netip.AddrPortFrom(v4coa, dsmipPort))
	b.v4hoa = req
	if r = h.ProcessBU(nil, laptop.packet(t, b), t0.Add(5*time.Second)); r.IPv4HomeAddress != first || tab.Lookup(first) == nil {
		t.Fatalf("again: %v", r.IPv4AckStatus)
	}
	b = v4bu(6, v4coa, netip.AddrPortFrom(v4coa, dsmipPort))
	b.lifetime = -1
	if r = h.ProcessBU(nil, laptop.packet(t, b), t0.Add(6*time.Second)); r.Change != Deleted || tab.Lookup(first) != nil || tab.Len() != 0 {
		t.Fatalf("de-registration: %v, table %d", r.Change, tab.Len())
	}
}

// TestDSMIPRestoreFixedIPv4: after a restart the router's configured IPv4
// home address is routed into its restored UDP tunnel at once.
func TestDSMIPRestoreFixedIPv4(t *testing.T) {
	h := newDSMIP(t, dsmipTOML(ipv4Section), Options{SkipDAD: true})
	b := v4bu(1, natInside, netip.AddrPortFrom(natPublic, natPort))
	b.flags = mip6.BUFlagA | mip6.BUFlagH
	b.v4hoa = &mip6.IPv4HomeAddress{PrefixLen: 32, Address: netip.IPv4Unspecified()}
	if r := h.ProcessBU(nil, router.packet(t, b), t0); r.IPv4HomeAddress != routerV4 {
		t.Fatalf("granted %v (%v)", r.IPv4HomeAddress, r.IPv4AckStatus)
	}
	var buf bytes.Buffer
	if err := h.Cache().WriteState(&buf); err != nil {
		t.Fatal(err)
	}
	c, err := binding.ReadState(&buf, t0)
	if err != nil {
		t.Fatal(err)
	}
	tab := tunnel.NewTable(0)
	h2 := newDSMIP(t, dsmipTOML(ipv4Section), Options{SkipDAD: true, Table: tab})
	h2.Restore(c, t0.Add(time.Second))
	if a, ok := h2.IPv4HomeAddress(routerHoA); !ok || a != routerV4 {
		t.Fatalf("after restore: %v %v", a, ok)
	}
	if b := tab.Lookup(routerV4); b == nil || b.Kind() != tunnel.KindUDP4 || b.Endpoint().RemotePort != natPort {
		t.Fatalf("table %+v", b)
	}
}
