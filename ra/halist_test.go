package ra

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gomip6/gomip6/mip6"
)

// golden returns the IPv6 packet of a vector in mip6's golden file, which
// scapy built and tshark checked (mip6/testdata/golden/README.md).
func golden(t testing.TB, name string) []byte {
	t.Helper()
	f, err := os.Open("../mip6/testdata/golden/vectors.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var hexs []string
	in := false
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if name2, ok := strings.CutPrefix(line, "=== "); ok {
			if in {
				break
			}
			in = name2 == name
			continue
		}
		if h, ok := strings.CutPrefix(line, "hex: "); ok && in {
			hexs = append(hexs, h)
		}
	}
	if len(hexs) == 0 {
		t.Fatalf("no golden vector %q", name)
	}
	return unhex(t, strings.Join(hexs, ""))
}

// splitIPv6 returns the source, destination, hop limit and payload of a
// packet with no extension headers.
func splitIPv6(b []byte) (src, dst netip.Addr, hop int, payload []byte) {
	return netip.AddrFrom16([16]byte(b[8:24])), netip.AddrFrom16([16]byte(b[24:40])), int(b[7]), b[40:]
}

// radvdHomeAgentRA is what radvd sends with AdvHomeAgentFlag and
// AdvRouterAddr on and no HomeAgentInformation or its defaults: H flag,
// Router Lifetime 1800 s, SLLA, the R-bit prefix 2001:db8:100::2/64
// (valid 86400 s, preferred 14400 s) and the Advertisement Interval
// option, 3000 ms — no Home Agent Information option. Built with scapy
// (ICMPv6ND_RA(H=1, prf=0, routerlifetime=1800) / SrcLLAddr / PrefixInfo(R=1)
// / AdvInterval), source fe80::2, destination ff02::1.
const radvdHomeAgentRA = `860022b9 40 20 0708 00000000 00000000
	01 01 020000000002
	03 04 40 e0 00015180 00003840 00000000 20010db8010000000000000000000002
	07 01 0000 00000bb8`

var homePrefix = netip.MustParsePrefix("2001:db8:100::/64")

func mustRA(t *testing.T, b []byte, src, dst netip.Addr, hop int) *mip6.RouterAdvertisement {
	t.Helper()
	ra, err := ValidateRA(b, src, dst, hop)
	if err != nil {
		t.Fatal(err)
	}
	return ra
}

var (
	fe80_1    = netip.MustParseAddr("fe80::1")
	fe80_2    = netip.MustParseAddr("fe80::2")
	fe80_self = netip.MustParseAddr("fe80::aa")
	self      = HomeAgent{LinkLocal: fe80_self, Addresses: []netip.Addr{netip.MustParseAddr("2001:db8:100::1")}, Preference: 0, Lifetime: 3 * time.Second}
)

// TestHAListRadvd: an RA from radvd, with no Home Agent Information
// option, gives preference 0 and the Router Lifetime (RFC 6275 §7.4,
// §10.5.1) and the address from the R-bit prefix.
func TestHAListRadvd(t *testing.T) {
	l := NewHAList(homePrefix, nil)
	ra := mustRA(t, unhex(t, radvdHomeAgentRA), fe80_2, netip.MustParseAddr("ff02::1"), 255)
	if !l.Update(fe80_2, ra, t0) {
		t.Fatal("Update did not change the list")
	}
	want := []HomeAgent{{
		LinkLocal: fe80_2, Addresses: []netip.Addr{netip.MustParseAddr("2001:db8:100::2")},
		Preference: 0, Lifetime: 1800 * time.Second, Expires: t0.Add(1800 * time.Second),
	}}
	if diff := cmp.Diff(want, l.List(t0), netipCmp); diff != "" {
		t.Errorf("list (-want +got):\n%s", diff)
	}
}

// TestHAListGolden: the golden home agent RA carries HA Information
// preference -10 lifetime 1800 s and the R-bit address 2001:db8:1::1; the
// plain RA (no H) deletes the entry.
func TestHAListGolden(t *testing.T) {
	l := NewHAList(netip.MustParsePrefix("2001:db8:1::/64"), nil)
	src, dst, hop, b := splitIPv6(golden(t, "pkt-ra-ha"))
	ra := mustRA(t, b, src, dst, hop)
	l.Update(src, ra, t0)
	want := []HomeAgent{{
		LinkLocal: fe80_1, Addresses: []netip.Addr{netip.MustParseAddr("2001:db8:1::1")},
		Preference: -10, Lifetime: 1800 * time.Second, Expires: t0.Add(1800 * time.Second),
	}}
	if diff := cmp.Diff(want, l.List(t0), netipCmp); diff != "" {
		t.Errorf("list (-want +got):\n%s", diff)
	}
	rep := l.DHAADReply(&mip6.HomeAgentDiscoveryRequest{Identifier: 7}, t0)
	if diff := cmp.Diff(&mip6.HomeAgentDiscoveryReply{Identifier: 7, HomeAgents: want[0].Addresses}, rep, netipCmp); diff != "" {
		t.Errorf("DHAAD reply (-want +got):\n%s", diff)
	}

	src, dst, hop, b = splitIPv6(golden(t, "pkt-ra-plain"))
	if !l.Update(src, mustRA(t, b, src, dst, hop), t0.Add(time.Second)) {
		t.Error("an RA without H did not change the list")
	}
	if got := l.List(t0); len(got) != 0 {
		t.Errorf("after an RA without H (RFC 6275 §10.5.1) the list is %v", got)
	}
}

// haRA builds an RA from a home agent.
func haRA(h bool, routerLife time.Duration, hai *mip6.HomeAgentInformation, addrs ...string) *mip6.RouterAdvertisement {
	ra := &mip6.RouterAdvertisement{HomeAgent: h, RouterLifetime: routerLife}
	for _, a := range addrs {
		valid := time.Hour
		if s, ok := strings.CutPrefix(a, "-"); ok {
			a, valid = s, 0
		}
		ra.Options = append(ra.Options, &mip6.PrefixInformation{
			Prefix: netip.PrefixFrom(netip.MustParseAddr(a), 64), RouterAddress: true, ValidLifetime: valid,
		})
	}
	// A prefix without R carries no address.
	ra.Options = append(ra.Options, &mip6.PrefixInformation{Prefix: netip.MustParsePrefix("2001:db8:100::/64"), ValidLifetime: time.Hour})
	if hai != nil {
		ra.Options = append(ra.Options, hai)
	}
	return ra
}

func TestHAListUpdateExpire(t *testing.T) {
	l := NewHAList(homePrefix, nil)
	l.SetSelf(self)
	a2, a3 := netip.MustParseAddr("2001:db8:100::2"), netip.MustParseAddr("2001:db8:100::3")

	l.Update(fe80_2, haRA(true, 600*time.Second, &mip6.HomeAgentInformation{Preference: 5, Lifetime: 10 * time.Second}, "2001:db8:100::2"), t0)
	got := l.List(t0)
	if len(got) != 2 || got[0].LinkLocal != fe80_2 || got[0].Preference != 5 || got[0].Lifetime != 10*time.Second {
		t.Fatalf("list %+v: want fe80::2 (preference 5, lifetime 10s from the option) first", got)
	}
	// A second RA adds an address, keeps the first.
	l.Update(fe80_2, haRA(true, 600*time.Second, &mip6.HomeAgentInformation{Preference: 5, Lifetime: 10 * time.Second}, "2001:db8:100::3"), t0.Add(5*time.Second))
	if diff := cmp.Diff([]netip.Addr{a2, a3}, l.List(t0)[0].Addresses, netipCmp); diff != "" {
		t.Errorf("addresses (-want +got):\n%s", diff)
	}
	// Valid lifetime 0 removes one.
	l.Update(fe80_2, haRA(true, 600*time.Second, &mip6.HomeAgentInformation{Preference: 5, Lifetime: 10 * time.Second}, "-2001:db8:100::2"), t0.Add(5*time.Second))
	if diff := cmp.Diff([]netip.Addr{a3}, l.List(t0)[0].Addresses, netipCmp); diff != "" {
		t.Errorf("addresses (-want +got):\n%s", diff)
	}
	// Refreshed at +5 s with lifetime 10 s: alive at +14.9 s, gone at +15 s.
	if n := l.Expire(t0.Add(14900 * time.Millisecond)); n != 0 {
		t.Errorf("Expire at +14.9s removed %d", n)
	}
	if got := l.List(t0.Add(15 * time.Second)); len(got) != 1 || got[0].LinkLocal != fe80_self {
		t.Errorf("List at +15s = %+v, want only our own entry", got)
	}
	if n := l.Expire(t0.Add(15 * time.Second)); n != 1 {
		t.Errorf("Expire at +15s removed %d, want 1", n)
	}
	// Our own entry never expires.
	if got := l.List(t0.Add(1000 * time.Hour)); len(got) != 1 {
		t.Errorf("own entry gone: %+v", got)
	}
}

func TestHAListDeletes(t *testing.T) {
	for _, tc := range []struct {
		name string
		ra   *mip6.RouterAdvertisement
	}{
		{"H clear", haRA(false, 600*time.Second, nil, "2001:db8:100::2")},
		{"router lifetime 0 and no HA option", haRA(true, 0, nil, "2001:db8:100::2")},
		// §7.4 forbids sending 0, §10.5.1 has the receiver delete.
		{"HA lifetime 0", haRA(true, 600*time.Second, &mip6.HomeAgentInformation{}, "2001:db8:100::2")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := NewHAList(homePrefix, nil)
			l.Update(fe80_2, haRA(true, 600*time.Second, nil, "2001:db8:100::2"), t0)
			if !l.Update(fe80_2, tc.ra, t0) {
				t.Error("Update reported no change")
			}
			if got := l.List(t0); len(got) != 0 {
				t.Errorf("entry kept: %+v", got)
			}
		})
	}
	// Never an entry for our own RAs, nor for a non-link-local source.
	l := NewHAList(homePrefix, nil)
	l.SetSelf(self)
	if l.Update(fe80_self, haRA(true, 600*time.Second, nil, "2001:db8:100::9"), t0) ||
		l.Update(netip.MustParseAddr("2001:db8:100::9"), haRA(true, 600*time.Second, nil, "2001:db8:100::9"), t0) {
		t.Error("Update accepted our own RA or a global source")
	}
}

// TestDHAADReplyOrder: RFC 6275 §10.5, preference order, own entry
// included, random among equal preference, addresses outside the home
// prefix and home agents without global address left out.
func TestDHAADReplyOrder(t *testing.T) {
	l := NewHAList(homePrefix, rand.New(rand.NewPCG(7, 8)))
	l.SetSelf(self) // preference 0, 2001:db8:100::1
	lifeOpt := func(pref int16) *mip6.HomeAgentInformation {
		return &mip6.HomeAgentInformation{Preference: pref, Lifetime: time.Hour}
	}
	l.Update(netip.MustParseAddr("fe80::10"), haRA(true, 0, lifeOpt(10), "2001:db8:100::10"), t0)
	l.Update(netip.MustParseAddr("fe80::11"), haRA(true, 0, lifeOpt(10), "2001:db8:100::11"), t0)
	l.Update(netip.MustParseAddr("fe80::12"), haRA(true, 0, lifeOpt(10), "2001:db8:100::12"), t0)
	l.Update(netip.MustParseAddr("fe80::20"), haRA(true, 0, lifeOpt(-5), "2001:db8:100::20", "2001:db8:999::20"), t0)
	l.Update(netip.MustParseAddr("fe80::30"), haRA(true, 0, lifeOpt(20)), t0) // no R-bit prefix

	orders := map[string]int{}
	for range 200 {
		rep := l.DHAADReply(&mip6.HomeAgentDiscoveryRequest{Identifier: 1}, t0)
		var s []string
		for _, a := range rep.HomeAgents {
			s = append(s, strings.TrimPrefix(a.String(), "2001:db8:100::"))
		}
		if len(s) != 5 || s[3] != "1" || s[4] != "20" {
			t.Fatalf("reply %v: want the three preference-10 agents, then ::1 (0), then ::20 (-5), nothing outside the prefix", s)
		}
		orders[strings.Join(s[:3], ",")]++
	}
	if len(orders) != 6 {
		t.Errorf("equal-preference orders seen: %v, want all 6 permutations", orders)
	}
}

func TestDHAADReplyBoundAndMobileRouter(t *testing.T) {
	l := NewHAList(homePrefix, nil)
	l.SetSelf(HomeAgent{LinkLocal: fe80_self, Addresses: []netip.Addr{netip.MustParseAddr("2001:db8:100::1")}, Preference: 100, Lifetime: time.Hour, MobileRouter: true})
	// Preferences 0 to 99 arrive in that order: the list keeps the last
	// MaxHomeAgents (36 to 99), two addresses each.
	for i := range 100 {
		ll := netip.MustParseAddr(fmt.Sprintf("fe80::1:%x", i))
		l.Update(ll, haRA(true, 0, &mip6.HomeAgentInformation{Preference: int16(i), Lifetime: time.Hour, MobileRouter: i%2 == 0},
			fmt.Sprintf("2001:db8:100::1:%x", i), fmt.Sprintf("2001:db8:100::2:%x", i)), t0)
	}
	rep := l.DHAADReply(&mip6.HomeAgentDiscoveryRequest{}, t0)
	if len(rep.HomeAgents) != MaxDHAADAddresses || MaxDHAADAddresses != 77 {
		t.Fatalf("%d addresses, want 77", len(rep.HomeAgents))
	}
	b, err := mip6.MarshalICMP(rep)
	if err != nil {
		t.Fatal(err)
	}
	if n := 40 + len(b); n > 1280 {
		t.Errorf("reply packet %d octets, more than the minimum MTU", n)
	}
	// The least preferred are the ones left out: preferences 100 (own,
	// one address), 99 down to 62 (two each).
	if got := rep.HomeAgents[76]; got != netip.MustParseAddr("2001:db8:100::2:3e") {
		t.Errorf("last listed %v, want preference 62's 2001:db8:100::2:3e", got)
	}
	// RFC 3963 §7.1-7.2: a mobile router gets only the home agents that
	// support mobile routers, and the R flag.
	rep = l.DHAADReply(&mip6.HomeAgentDiscoveryRequest{Identifier: 9, MobileRouter: true}, t0)
	// Own entry and the 32 even preferences from 36 to 98: 1 + 64.
	if !rep.MobileRouter || rep.Identifier != 9 || len(rep.HomeAgents) != 65 {
		t.Errorf("mobile router reply: R=%v id=%d %d addresses, want R, 9, 65", rep.MobileRouter, rep.Identifier, len(rep.HomeAgents))
	}
}

// TestHAListBounded: forged RAs with the H flag from ever new link-local
// addresses cannot grow the list past MaxHomeAgents. A newcomer to a full
// list replaces the entry of lowest preference only with a higher
// preference of its own; equal or lower is ignored; both are counted.
func TestHAListBounded(t *testing.T) {
	l := NewHAList(homePrefix, nil)
	l.SetSelf(self)
	ra := func(pref int16, life time.Duration, addr string) *mip6.RouterAdvertisement {
		return haRA(true, 0, &mip6.HomeAgentInformation{Preference: pref, Lifetime: life}, addr)
	}
	ll := func(i int) netip.Addr { return netip.MustParseAddr(fmt.Sprintf("fe80::1:%x", i)) }
	// Preferences 0..63; the entry of preference 0 expires first.
	for i := range MaxHomeAgents {
		if !l.Update(ll(i), ra(int16(i), time.Hour+time.Duration(i)*time.Second, fmt.Sprintf("2001:db8:100::1:%x", i)), t0) {
			t.Fatalf("entry %d refused", i)
		}
	}
	for i := range 10000 { // a flood of forged RAs of low preference
		if l.Update(netip.MustParseAddr(fmt.Sprintf("fe80::2:%x", i)), ra(int16(i%2-1), time.Hour, "2001:db8:100::9"), t0) {
			t.Fatalf("forged RA %d accepted into a full list", i)
		}
	}
	if s := l.Stats(); s.Entries != MaxHomeAgents || s.Refused != 10000 || s.Evicted != 0 {
		t.Fatalf("stats %+v", s)
	}
	// An existing entry is still refreshed.
	if !l.Update(ll(5), ra(5, 2*time.Hour, "2001:db8:100::1:5"), t0) {
		t.Error("refresh of an existing entry refused")
	}
	// Higher preference: the lowest (preference 0, fe80::1:0) goes.
	newcomer := netip.MustParseAddr("fe80::3:1")
	if !l.Update(newcomer, ra(100, time.Hour, "2001:db8:100::3:1"), t0) {
		t.Fatal("higher-preference newcomer refused")
	}
	got := l.List(t0)
	if len(got) != MaxHomeAgents+1 || got[0].LinkLocal != newcomer {
		t.Fatalf("%d entries, first %v", len(got), got[0].LinkLocal)
	}
	for _, h := range got {
		if h.LinkLocal == ll(0) {
			t.Error("preference-0 entry kept")
		}
	}
	// Two entries of equal lowest preference: the one expiring first goes.
	l.Update(ll(2), ra(1, time.Minute, "2001:db8:100::1:2"), t0) // preference 1 like ll(1), expires sooner
	l.Update(netip.MustParseAddr("fe80::3:3"), ra(2, time.Hour, "2001:db8:100::3:3"), t0)
	kept := map[netip.Addr]bool{}
	for _, h := range l.List(t0) {
		kept[h.LinkLocal] = true
	}
	if kept[ll(2)] || !kept[ll(1)] {
		t.Error("want the preference-1 entry that expires first evicted, the other kept")
	}
	if s := l.Stats(); s.Entries != MaxHomeAgents || s.Evicted != 2 || s.Refused != 10000 {
		t.Errorf("stats %+v, want 64 entries, 2 evicted", s)
	}
	// An expired entry makes room without an eviction, whatever the
	// newcomer's preference.
	later := t0.Add(time.Hour + 30*time.Second) // preferences 2..29 of the first batch have expired
	if !l.Update(netip.MustParseAddr("fe80::4:1"), ra(-100, time.Hour, "2001:db8:100::4:1"), later) {
		t.Error("newcomer refused while expired entries were there")
	}
	if s := l.Stats(); s.Evicted != 2 {
		t.Errorf("stats %+v: an expired entry counted as evicted", s)
	}
}

// TestHAListAddressesBounded: RAs from one home agent, each adding a new
// R-bit address, stop adding at MaxAddressesPerHomeAgent.
func TestHAListAddressesBounded(t *testing.T) {
	l := NewHAList(homePrefix, nil)
	for i := range 100 {
		l.Update(fe80_2, haRA(true, time.Hour, nil, fmt.Sprintf("2001:db8:100::%x", i+1)), t0)
	}
	got := l.List(t0)
	if len(got) != 1 || len(got[0].Addresses) != MaxAddressesPerHomeAgent {
		t.Fatalf("list %+v", got)
	}
	if s := l.Stats(); s.AddressesRefused != 100-MaxAddressesPerHomeAgent {
		t.Errorf("stats %+v", s)
	}
	// Removing one (valid lifetime 0) makes room for another.
	l.Update(fe80_2, haRA(true, time.Hour, nil, "-2001:db8:100::1", "2001:db8:100::999"), t0)
	if a := l.List(t0)[0].Addresses; len(a) != MaxAddressesPerHomeAgent || a[len(a)-1] != netip.MustParseAddr("2001:db8:100::999") {
		t.Errorf("addresses %v", a)
	}
}
