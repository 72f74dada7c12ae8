package homeagent

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gomip6/gomip6/binding"
	"github.com/gomip6/gomip6/conf"
	"github.com/gomip6/gomip6/mip6"
	"github.com/gomip6/gomip6/tunnel"
)

// outcome is what a test compares of a Result.
type outcome struct {
	Verdict Verdict
	Drop    DropReason
	Status  mip6.Status
}

func outcomeOf(r Result) outcome { return outcome{r.Verdict, r.Drop, r.Status} }

// src64 returns a care-of address in a /64 of its own, so that the per-/64
// RateLimiter never gets in the way of the overall budget.
func src64(i int) netip.Addr {
	return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0xc0, byte(i >> 8), byte(i), 0, 15: 1})
}

// TestReplyBudget: the answers given before a BU is known to come from
// its node (146, 144, 145) share one overall bucket, whatever /64 they
// come from; over it they are dropped and counted; answers to
// authenticated BUs (here 0 and 135) are not metered.
func TestReplyBudget(t *testing.T) {
	type send struct {
		b  bu
		at time.Duration
	}
	reply := func(s mip6.Status) outcome { return outcome{Verdict: Reply, Status: s} }
	limited := outcome{Drop: DropReplyLimited}
	tests := []struct {
		name        string
		o           Options
		sends       []send
		want        []outcome
		wantLimited uint64
	}{
		{
			name: "146 from many /64s: burst, then one per interval",
			o:    Options{SkipDAD: true, ReplyRate: 10, ReplyBurst: 3},
			sends: []send{
				{bu{seq: 1, badMAC: true, src: src64(1)}, 0},
				{bu{seq: 1, badMAC: true, src: src64(2)}, 0},
				{bu{seq: 1, badMAC: true, src: src64(3)}, 0},
				{bu{seq: 1, badMAC: true, src: src64(4)}, 0},
				{bu{seq: 1, badMAC: true, src: src64(5)}, 99 * time.Millisecond},
				{bu{seq: 1, badMAC: true, src: src64(6)}, 100 * time.Millisecond},
				{bu{seq: 1, badMAC: true, src: src64(7)}, 100 * time.Millisecond},
			},
			want:        []outcome{reply(146), reply(146), reply(146), limited, limited, reply(146), limited},
			wantLimited: 3,
		},
		{
			name: "144 and 145 share the bucket; accepted BUs are not metered",
			o:    Options{SkipDAD: true, ReplyRate: 10, ReplyBurst: 2},
			sends: []send{
				{bu{seq: 1, id: routerID, src: src64(1)}, 0},
				{bu{seq: 1, noTS: true, src: src64(2)}, 0},
				{bu{seq: 1, badMAC: true, src: src64(3)}, 0},
				{bu{seq: 1, src: src64(4)}, 0},
				{bu{seq: 1, src: src64(5), ts: t0.Add(time.Millisecond)}, 0},
				// A replay of the accepted BU, from anywhere.
				{bu{seq: 1, src: src64(4)}, 0},
			},
			want:        []outcome{reply(144), reply(145), limited, reply(0), reply(135), limited},
			wantLimited: 2,
		},
		{
			name:  "negative rate: no bound",
			o:     Options{SkipDAD: true, ReplyRate: -1},
			sends: []send{{bu{seq: 1, badMAC: true, src: src64(1)}, 0}, {bu{seq: 1, badMAC: true, src: src64(2)}, 0}, {bu{seq: 1, badMAC: true, src: src64(3)}, 0}},
			want:  []outcome{reply(146), reply(146), reply(146)},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHA(t, tc.o)
			var got []outcome
			for _, s := range tc.sends {
				r := h.ProcessBU(nil, laptop.packet(t, s.b), t0.Add(s.at))
				if r.Verdict == Drop && r.BA != nil {
					t.Errorf("drop with a BA")
				}
				got = append(got, outcomeOf(r))
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("outcomes (-want +got):\n%s", d)
			}
			if s := h.Stats(); s.RepliesLimited != tc.wantLimited {
				t.Errorf("RepliesLimited %d, want %d", s.RepliesLimited, tc.wantLimited)
			}
		})
	}
}

// TestReplyBudgetDefault: with Options left zero the bucket is 100/s,
// bursts of 200.
func TestReplyBudgetDefault(t *testing.T) {
	h := newHA(t, Options{SkipDAD: true})
	n := 0
	for i := range 300 {
		if r := h.ProcessBU(nil, laptop.packet(t, bu{seq: 1, badMAC: true, src: src64(i)}), t0); r.Status == mip6.StatusAuthFailed {
			n++
		}
	}
	if n != DefaultReplyBurst || h.Stats().RepliesLimited != 100 {
		t.Errorf("%d answered, %d limited; want %d and 100", n, h.Stats().RepliesLimited, DefaultReplyBurst)
	}
	if r := h.ProcessBU(nil, laptop.packet(t, bu{seq: 1, badMAC: true, src: src64(999)}), t0.Add(10*time.Millisecond)); r.Status != mip6.StatusAuthFailed {
		t.Errorf("after 10 ms (100/s): %v %v", r.Verdict, r.Drop)
	}
}

func TestRoutable(t *testing.T) {
	for _, tc := range []struct {
		a    string
		want bool
	}{
		{"2001:db8:a::1", true},
		{"fd00::1", true},      // unique local: routable within its site
		{"fec0::1", true},      // site-local: deprecated, treated as global (RFC 3879 §4)
		{"64:ff9b::1", true},   // not special to a binding
		{"::", false},          // unspecified
		{"::1", false},         // loopback
		{"::192.0.2.1", false}, // IPv4-compatible
		{"::ffff:192.0.2.1", false},
		{"::ffff:0:0", false},
		{"ff02::1", false},
		{"ff0e::1", false},
		{"fe80::1", false},
		{"fe80::1%eth0", false},
		{"febf::1", false}, // still fe80::/10
		{"192.0.2.1", false},
	} {
		a := netip.MustParseAddr(tc.a)
		if got := routable(a); got != tc.want {
			t.Errorf("routable(%v) = %v, want %v", a, got, tc.want)
		}
	}
	if routable(netip.Addr{}) {
		t.Error("the zero Addr is routable")
	}
}

// TestCareOfChecks: unroutable care-of addresses are dropped before
// authentication; ones that would loop the tunnel are refused with 128
// after it, leaving the cache, the table and the replay window alone.
func TestCareOfChecks(t *testing.T) {
	cfg := testConfig(t)
	// A node whose home address is off the home prefix: it can never
	// register (132), but its address is still someone's.
	offHoA := netip.MustParseAddr("2001:db8:300::1")
	cfg.MobileNodes = append(cfg.MobileNodes, conf.MobileNode{ID: "off@home.example", HomeAddress: offHoA, SPI: 1002, Key: laptopKey})
	ah := mip6.BUFlagA | mip6.BUFlagH
	mapped := netip.MustParseAddr("::ffff:192.0.2.1")
	for _, tc := range []struct {
		name string
		m    mn
		b    bu
		want outcome
	}{
		{"IPv4-mapped source", laptop, bu{seq: 1, src: mapped}, outcome{Drop: DropBadCareOf}},
		// (mip6 refuses these as an Alternate Care-of Address already,
		// on parse and marshal: DropMalformed.)
		{"IPv4-compatible", laptop, bu{seq: 1, src: netip.MustParseAddr("::192.0.2.1")}, outcome{Drop: DropBadCareOf}},
		{"loopback", laptop, bu{seq: 1, src: netip.IPv6Loopback()}, outcome{Drop: DropBadCareOf}},
		{"multicast", laptop, bu{seq: 1, src: netip.MustParseAddr("ff0e::1")}, outcome{Drop: DropBadCareOf}},
		{"inside the home prefix", laptop, bu{seq: 1, src: netip.MustParseAddr("2001:db8:100::99")}, outcome{Reply, 0, mip6.StatusUnspecified}},
		{"the home agent", laptop, bu{seq: 1, altCoA: haAddr}, outcome{Reply, 0, mip6.StatusUnspecified}},
		{"another node's home address", laptop, bu{seq: 1, altCoA: routerHoA}, outcome{Reply, 0, mip6.StatusUnspecified}},
		{"another node's home address off the prefix", laptop, bu{seq: 1, altCoA: offHoA}, outcome{Reply, 0, mip6.StatusUnspecified}},
		{"own mobile network prefix", router, bu{seq: 1, flags: ah | mip6.BUFlagR, src: netip.MustParseAddr("2001:db8:200:5::1")}, outcome{Reply, 0, mip6.StatusUnspecified}},
		{"own mobile network prefix, R clear", router, bu{seq: 1, src: netip.MustParseAddr("2001:db8:200:5::1")}, outcome{Reply, 0, mip6.StatusUnspecified}},
		// Nested mobility: the laptop behind the mobile router.
		{"another node's mobile network prefix", laptop, bu{seq: 1, src: netip.MustParseAddr("2001:db8:200:5::1")}, outcome{Reply, 0, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tab := tunnel.NewTable(0)
			h, err := New(cfg, Options{SkipDAD: true, Table: tab})
			if err != nil {
				t.Fatal(err)
			}
			p := tc.m.packet(t, tc.b)
			r := h.ProcessBU(nil, p, t0)
			if d := cmp.Diff(tc.want, outcomeOf(r)); d != "" {
				t.Fatalf("outcome (-want +got):\n%s", d)
			}
			if tc.want.Status == 0 && tc.want.Verdict == Reply {
				if h.Cache().Len() != 1 || tab.Len() != 1 {
					t.Errorf("accepted: cache %d table %d", h.Cache().Len(), tab.Len())
				}
				return
			}
			if h.Cache().Len() != 0 || tab.Len() != 0 {
				t.Errorf("refused, yet cache %d table %d", h.Cache().Len(), tab.Len())
			}
			if tc.want.Verdict == Reply {
				// Authenticated to the node, to the care-of address it
				// claimed (it authenticated).
				coa := p.Src
				if tc.b.altCoA.IsValid() {
					coa = tc.b.altCoA
				}
				if r.BADst != coa {
					t.Errorf("BA to %v, want %v", r.BADst, coa)
				}
				got := tc.m.checkBA(t, r.BA, coa)
				want := parsedBA{Status: mip6.StatusUnspecified, Sequence: 1, ID: tc.m.id, TS: ts(t0), SPI: tc.m.spi}
				if d := cmp.Diff(want, got); d != "" {
					t.Errorf("BA (-want +got):\n%s", d)
				}
				// The replay window did not move: the same timestamp
				// from a good care-of address is accepted.
				if r := h.ProcessBU(nil, tc.m.packet(t, bu{seq: 2, flags: tc.b.flags}), t0); r.Status != 0 {
					t.Errorf("same timestamp after the 128: %v %v", r.Verdict, r.Status)
				}
			}
		})
	}
}

// badPrefixConfig gives the mobile router a configured prefix the data
// plane table refuses (IPv4-mapped: conf would reject it, so this is what
// a table stricter than the configuration looks like).
var badPrefix = netip.MustParsePrefix("::ffff:0:0/96")

func badPrefixConfig(t *testing.T) *conf.HA {
	cfg := testConfig(t)
	cfg.MobileNodes[1].MobilePrefixes = []netip.Prefix{mnpRouter, badPrefix}
	return cfg
}

// tableSnapshot lists what the data plane table routes where.
func tableSnapshot(tab *tunnel.Table) map[string]string {
	m := map[string]string{}
	tab.Range(func(b *tunnel.Binding) bool {
		m[b.Prefix().String()] = b.Endpoint().Remote.String()
		return true
	})
	return m
}

// TestInstallRefused: a binding the data plane table refuses is refused
// with 128: nothing in the cache, the table as it was, the replay window
// where it was.
func TestInstallRefused(t *testing.T) {
	ahr := mip6.BUFlagA | mip6.BUFlagH | mip6.BUFlagR
	t.Run("new binding", func(t *testing.T) {
		tab := tunnel.NewTable(0)
		h, err := New(badPrefixConfig(t), Options{SkipDAD: true, Table: tab})
		if err != nil {
			t.Fatal(err)
		}
		r := h.ProcessBU(nil, router.packet(t, bu{seq: 1, flags: ahr}), t0)
		if d := cmp.Diff(outcome{Reply, 0, mip6.StatusUnspecified}, outcomeOf(r)); d != "" {
			t.Fatalf("(-want +got):\n%s", d)
		}
		router.checkBA(t, r.BA, coa1)
		if !errors.Is(r.Err, tunnel.ErrNotIPv6) {
			t.Errorf("Err %v, want the table's reason", r.Err)
		}
		if h.Cache().Len() != 0 || tab.Len() != 0 {
			t.Errorf("cache %d table %v", h.Cache().Len(), tableSnapshot(tab))
		}
		// Same timestamp, without R: accepted, so the window stayed.
		if r := h.ProcessBU(nil, router.packet(t, bu{seq: 2}), t0); r.Status != 0 || r.Change != Created {
			t.Errorf("after the 128: %v %v", r.Status, r.Change)
		}
	})
	t.Run("refused before DAD", func(t *testing.T) {
		h, err := New(badPrefixConfig(t), Options{Table: tunnel.NewTable(0)})
		if err != nil {
			t.Fatal(err)
		}
		r := h.ProcessBU(nil, router.packet(t, bu{seq: 1, flags: ahr}), t0)
		if d := cmp.Diff(outcome{Reply, 0, mip6.StatusUnspecified}, outcomeOf(r)); d != "" {
			t.Fatalf("(-want +got):\n%s", d)
		}
		if r := h.ProcessBU(nil, router.packet(t, bu{seq: 2}), t0); r.Verdict != NeedsDAD {
			t.Errorf("same timestamp without R: %v %v", r.Verdict, r.Status)
		}
	})
	t.Run("refresh", func(t *testing.T) {
		tab := tunnel.NewTable(0)
		h, err := New(badPrefixConfig(t), Options{SkipDAD: true, Table: tab})
		if err != nil {
			t.Fatal(err)
		}
		if r := h.ProcessBU(nil, router.packet(t, bu{seq: 1}), t0); r.Status != 0 {
			t.Fatal(r.Status)
		}
		cache0, tab0 := snapshot(h), tableSnapshot(tab)
		at := t0.Add(time.Second)
		r := h.ProcessBU(nil, router.packet(t, bu{seq: 2, flags: ahr, src: coa2, ts: at}), at)
		if r.Status != mip6.StatusUnspecified {
			t.Fatalf("status %v", r.Status)
		}
		if d := cmp.Diff(cache0, snapshot(h), addrOpt); d != "" {
			t.Errorf("cache changed (-before +after):\n%s", d)
		}
		if d := cmp.Diff(tab0, tableSnapshot(tab)); d != "" {
			t.Errorf("table changed (-before +after):\n%s", d)
		}
	})
	// install itself, for a table that refuses what checkInstall let
	// through: it puts everything back.
	t.Run("rollback", func(t *testing.T) {
		tab := tunnel.NewTable(0)
		h := newHA(t, Options{SkipDAD: true, Table: tab})
		if r := h.ProcessBU(nil, router.packet(t, bu{seq: 1, flags: ahr}), t0); r.Status != 0 {
			t.Fatal(r.Status)
		}
		old, _ := h.Cache().Lookup(routerHoA)
		tab0 := tableSnapshot(tab)
		extra := netip.MustParsePrefix("2001:db8:201::/48")
		for _, tc := range []struct {
			name string
			e    binding.Entry
		}{
			{"bad prefix last", binding.Entry{HomeAddress: routerHoA, CareOf: coa2, MobilePrefixes: []netip.Prefix{mnpRouter, extra, badPrefix}}},
			{"bad care-of", binding.Entry{HomeAddress: routerHoA, CareOf: netip.MustParseAddr("::ffff:192.0.2.1"), MobilePrefixes: []netip.Prefix{extra}}},
		} {
			if err := h.install(&tc.e, &old, true); err == nil {
				t.Errorf("%s: install accepted", tc.name)
			}
			if d := cmp.Diff(tab0, tableSnapshot(tab)); d != "" {
				t.Errorf("%s: table not restored (-before +after):\n%s", tc.name, d)
			}
		}
		// Without an old binding, a failed install leaves nothing.
		e := binding.Entry{HomeAddress: laptopHoA, CareOf: coa1, MobilePrefixes: []netip.Prefix{extra, badPrefix}}
		if err := h.install(&e, nil, false); err == nil {
			t.Error("install accepted a bad prefix")
		}
		if d := cmp.Diff(tab0, tableSnapshot(tab)); d != "" {
			t.Errorf("new binding: table not restored (-before +after):\n%s", d)
		}
	})
}

// TestRestoreDrops: Restore drops bindings whose care-of address is not
// routable or loops, and those the table refuses, withdrawing them.
func TestRestoreDrops(t *testing.T) {
	tab := tunnel.NewTable(0)
	h, err := New(badPrefixConfig(t), Options{SkipDAD: true, Table: tab})
	if err != nil {
		t.Fatal(err)
	}
	lt := 300 * time.Second
	c := binding.NewCache(0)
	entry := func(hoa, coa netip.Addr, f mip6.BUFlags, p ...netip.Prefix) binding.Entry {
		return binding.Entry{HomeAddress: hoa, CareOf: coa, Sequence: 1, Flags: mip6.BUFlagH | f, Lifetime: lt, Expires: t0.Add(lt),
			MobilePrefixes: p, Timestamp: binding.Timestamp(ts(t0))}
	}
	for _, tc := range []struct {
		e    binding.Entry
		drop bool
	}{
		{entry(laptopHoA, netip.MustParseAddr("::ffff:192.0.2.1"), 0), true},
		{entry(routerHoA, coa1, mip6.BUFlagR, mnpRouter, badPrefix), true},
		{entry(otherHoA, coa1, 0), true}, // nobody's
	} {
		c.Set(tc.e)
	}
	dropped := h.Restore(c, t0)
	var got []netip.Addr
	for _, e := range dropped {
		got = append(got, e.HomeAddress)
	}
	if len(got) != 3 || h.Cache().Len() != 0 || tab.Len() != 0 {
		t.Errorf("dropped %v, cache %d, table %v", got, h.Cache().Len(), tableSnapshot(tab))
	}
	// Loops: a care-of address in the home prefix, or the home agent's.
	for _, coa := range []netip.Addr{netip.MustParseAddr("2001:db8:100::99"), haAddr, routerHoA} {
		c := binding.NewCache(0)
		c.Set(entry(laptopHoA, coa, 0))
		h := newHA(t, Options{SkipDAD: true, Table: tab})
		if d := h.Restore(c, t0); len(d) != 1 || h.Cache().Len() != 0 {
			t.Errorf("care-of %v: dropped %d, cache %d", coa, len(d), h.Cache().Len())
		}
	}
}

// TestReloadChangedAssociation: a binding whose node's security
// association changed is dropped (and withdrawn); others stay.
func TestReloadChangedAssociation(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*conf.MobileNode)
		drop   bool
	}{
		{"unchanged", func(*conf.MobileNode) {}, false},
		{"key", func(m *conf.MobileNode) { m.Key = []byte("a-brand-new-key-for-the-laptop!!") }, true},
		{"SPI", func(m *conf.MobileNode) { m.SPI = 2000 }, true},
		{"algorithm", func(m *conf.MobileNode) { m.Algorithm = "hmac-sha256" }, true},
		{"identifier", func(m *conf.MobileNode) { m.ID = "renamed@home.example" }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tab := tunnel.NewTable(0)
			h := newHA(t, Options{SkipDAD: true, Table: tab})
			last := laptop.packet(t, bu{seq: 1})
			h.ProcessBU(nil, last, t0)
			h.ProcessBU(nil, router.packet(t, bu{seq: 1}), t0)
			cfg := testConfig(t)
			tc.change(&cfg.MobileNodes[0])
			dropped, err := h.Reload(cfg, t0.Add(time.Second))
			if err != nil {
				t.Fatal(err)
			}
			var got []netip.Addr
			for _, e := range dropped {
				got = append(got, e.HomeAddress)
			}
			var want []netip.Addr
			if tc.drop {
				want = []netip.Addr{laptopHoA}
			}
			if d := cmp.Diff(want, got, addrOpt); d != "" {
				t.Errorf("dropped (-want +got):\n%s", d)
			}
			_, have := h.Cache().Lookup(laptopHoA)
			if have == tc.drop || (tab.Lookup(laptopHoA) != nil) == tc.drop {
				t.Errorf("laptop binding in cache %v, in table %v", have, tab.Lookup(laptopHoA) != nil)
			}
			if _, ok := h.Cache().Lookup(routerHoA); !ok || tab.Lookup(routerHoA) == nil {
				t.Error("the router lost its binding")
			}
			if !tc.drop {
				if r := h.ProcessBU(nil, last, t0.Add(time.Second)); r.Status != mip6.StatusMesgIDRequired {
					t.Errorf("replay after reload: %v", r.Status)
				}
			}
		})
	}
}

// TestRefreshDue: a binding is due its Binding Refresh Request with an
// eighth of its lifetime left, once per registration.
func TestRefreshDue(t *testing.T) {
	tab := tunnel.NewTable(0)
	h := newHA(t, Options{SkipDAD: true, Table: tab})
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	due := func(now time.Time) []string {
		var s []string
		for _, e := range h.RefreshDue(now) {
			s = append(s, fmt.Sprintf("%v@%v", e.HomeAddress, e.CareOf))
		}
		return s
	}
	if _, ok := h.NextRefresh(); ok {
		t.Error("NextRefresh with no binding")
	}
	// Laptop 300 s at t0: due at 300 - 37.5 = 262.5 s. Router 100 s at
	// 10 s: due at 10 + 100 - 12.5 = 97.5 s.
	h.ProcessBU(nil, laptop.packet(t, bu{seq: 1}), t0)
	h.ProcessBU(nil, router.packet(t, bu{seq: 1, lifetime: 100 * time.Second, ts: at(10 * time.Second)}), at(10*time.Second))
	if next, ok := h.NextRefresh(); !ok || !next.Equal(at(97500*time.Millisecond)) {
		t.Errorf("NextRefresh %v %v, want 97.5 s", next.Sub(t0), ok)
	}
	steps := []struct {
		now  time.Duration
		do   func()
		want []string
	}{
		{now: 97499 * time.Millisecond},
		{now: 97500 * time.Millisecond, want: []string{"2001:db8:100::20@2001:db8:a::1"}},
		{now: 98 * time.Second}, // once
		{now: 262 * time.Second},
		{now: 262500 * time.Millisecond, want: []string{"2001:db8:100::10@2001:db8:a::1"}},
		// The laptop moves at 270 s: a new registration, due again at
		// 270 + 262.5.
		{now: 270 * time.Second, do: func() {
			h.ProcessBU(nil, laptop.packet(t, bu{seq: 2, src: coa2, ts: at(270 * time.Second)}), at(270*time.Second))
		}},
		{now: 532 * time.Second},
		{now: 532500 * time.Millisecond, want: []string{"2001:db8:100::10@2001:db8:b::2"}},
	}
	for _, s := range steps {
		if s.do != nil {
			s.do()
		}
		if d := cmp.Diff(s.want, due(at(s.now))); d != "" {
			t.Errorf("at %v (-want +got):\n%s", s.now, d)
		}
	}
	// A de-registered or expired binding is never due.
	h2 := newHA(t, Options{SkipDAD: true})
	h2.ProcessBU(nil, laptop.packet(t, bu{seq: 1}), t0)
	h2.ProcessBU(nil, router.packet(t, bu{seq: 1, lifetime: 100 * time.Second}), t0)
	h2.ProcessBU(nil, laptop.packet(t, bu{seq: 2, lifetime: -1, ts: at(time.Second)}), at(time.Second))
	h2.Tick(at(100 * time.Second))
	if got := h2.RefreshDue(at(1000 * time.Second)); len(got) != 0 {
		t.Errorf("gone bindings due: %+v", got)
	}
	if _, ok := h2.NextRefresh(); ok {
		t.Error("NextRefresh after every binding went")
	}
}

// TestRefreshDueReload: a reload keeps the schedule (a binding already
// asked is not asked again); a restart asks again.
func TestRefreshDueReload(t *testing.T) {
	h := newHA(t, Options{SkipDAD: true})
	h.ProcessBU(nil, laptop.packet(t, bu{seq: 1}), t0)
	h.ProcessBU(nil, router.packet(t, bu{seq: 1}), t0)
	h.ProcessBU(nil, router.packet(t, bu{seq: 2, ts: t0.Add(10 * time.Second)}), t0.Add(10*time.Second))
	now := t0.Add(263 * time.Second)
	if got := h.RefreshDue(now); len(got) != 1 || got[0].HomeAddress != laptopHoA {
		t.Fatalf("due %+v", got)
	}
	if _, err := h.Reload(testConfig(t), now); err != nil {
		t.Fatal(err)
	}
	if got := h.RefreshDue(now); len(got) != 0 {
		t.Errorf("asked again after a reload: %+v", got)
	}
	if got := h.RefreshDue(t0.Add(273 * time.Second)); len(got) != 1 || got[0].HomeAddress != routerHoA {
		t.Errorf("router after the reload: %+v", got)
	}
	h2 := newHA(t, Options{SkipDAD: true})
	h2.Restore(h.Cache(), now)
	if got := h2.RefreshDue(now); len(got) != 1 || got[0].HomeAddress != laptopHoA {
		t.Errorf("after a restart: %+v", got)
	}
}

// TestAppendBRR compares with the octets scapy builds for
// IPv6(src=ha, dst=hoa)/MIP6MH_BRR() (RFC 6275 §6.1.2: Payload Proto 59,
// Header Len 0, MH Type 0, Reserved, Checksum, 16-bit Reserved).
func TestAppendBRR(t *testing.T) {
	h := newHA(t, Options{})
	want, _ := hex.DecodeString("3b00000066ed0000")
	got, err := h.AppendBRR([]byte{0xaa}, laptopHoA)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(append([]byte{0xaa}, want...), got); d != "" {
		t.Errorf("(-scapy +ours):\n%s", d)
	}
	if !mip6.VerifyMHChecksum(got[1:], haAddr, laptopHoA) {
		t.Error("checksum")
	}
	for _, a := range []netip.Addr{{}, netip.IPv6Unspecified(), netip.MustParseAddr("ff02::1"), netip.MustParseAddr("192.0.2.1")} {
		if b, err := h.AppendBRR([]byte{1}, a); err == nil || len(b) != 1 {
			t.Errorf("AppendBRR(%v): %x %v", a, b, err)
		}
	}
}

// TestAppendBindingError compares with scapy's
// IPv6(src=ha, dst=coa)/MIP6MH_BE(status=s, ha=hoa) (RFC 6275 §6.1.9).
func TestAppendBindingError(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status mip6.BEStatus
		hoa    netip.Addr
		dst    netip.Addr
		want   string // hex; empty: an error
	}{
		{"1 with home address", mip6.BEUnknownHomeAddress, laptopHoA, coa1, "3b0207003117010020010db8010000000000000000000010"},
		{"2 without home address", mip6.BEUnknownMHType, netip.Addr{}, coa1, "3b0207005ee0020000000000000000000000000000000000"},
		{"status 0", 0, laptopHoA, coa1, ""},
		{"to multicast", mip6.BEUnknownMHType, netip.Addr{}, netip.MustParseAddr("ff02::1"), ""},
		{"to unspecified", mip6.BEUnknownMHType, netip.Addr{}, netip.IPv6Unspecified(), ""},
		{"to loopback", mip6.BEUnknownMHType, netip.Addr{}, netip.IPv6Loopback(), ""},
		{"to IPv4-mapped", mip6.BEUnknownMHType, netip.Addr{}, netip.MustParseAddr("::ffff:192.0.2.1"), ""},
		{"IPv4 home address", mip6.BEUnknownHomeAddress, netip.MustParseAddr("192.0.2.1"), coa1, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := AppendBindingError([]byte{7}, tc.status, tc.hoa, haAddr, tc.dst)
			if tc.want == "" {
				if err == nil || len(got) != 1 {
					t.Errorf("accepted: %x", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, hex.EncodeToString(got[1:])); d != "" {
				t.Errorf("(-scapy +ours):\n%s", d)
			}
			m, err := mip6.ParseMessage(got[1:])
			if err != nil {
				t.Fatal(err)
			}
			if be, ok := m.(*mip6.BindingError); !ok || be.Status != tc.status {
				t.Errorf("parsed %+v", m)
			}
		})
	}
}

// TestBindingErrorRate: BindingError meters Binding Errors in one bucket;
// refused requests take no token.
func TestBindingErrorRate(t *testing.T) {
	h := newHA(t, Options{BindingErrorRate: 1, BindingErrorBurst: 2})
	send := func(dst netip.Addr, at time.Duration) string {
		b, err := h.BindingError(nil, mip6.BEUnknownMHType, netip.Addr{}, haAddr, dst, t0.Add(at))
		switch {
		case errors.Is(err, ErrRateLimited):
			return "limited"
		case err != nil:
			return "invalid"
		case len(b) != 24:
			return fmt.Sprintf("%d octets", len(b))
		}
		return "sent"
	}
	got := []string{
		send(coa1, 0),
		send(netip.MustParseAddr("ff02::1"), 0),
		send(coa2, 0),
		send(coa1, 0),
		send(coa1, 999*time.Millisecond),
		send(coa1, time.Second),
	}
	want := []string{"sent", "invalid", "sent", "limited", "limited", "sent"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	if h.Stats().BindingErrorsLimited != 2 {
		t.Errorf("BindingErrorsLimited %d", h.Stats().BindingErrorsLimited)
	}
	off := newHA(t, Options{BindingErrorRate: -1})
	for range 50 {
		if _, err := off.BindingError(nil, mip6.BEUnknownMHType, netip.Addr{}, haAddr, coa1, t0); err != nil {
			t.Fatal(err)
		}
	}
}

// TestNewRejectsHomeAddress: a home.address the data plane cannot use as
// a tunnel end is refused at once rather than by every binding.
func TestNewRejectsHomeAddress(t *testing.T) {
	cfg := testConfig(t)
	cfg.Home.Address = netip.MustParseAddr("::192.0.2.1")
	if _, err := New(cfg, Options{}); err == nil {
		t.Error("IPv4-compatible home.address accepted")
	}
}
