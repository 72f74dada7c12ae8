package ndproxy

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
)

// viewOf turns a parsed Packet into the view parseView must give.
func viewOf(p Packet) ndView {
	v := ndView{src: p.Src, dst: p.Dst}
	switch m := p.Message.(type) {
	case *NeighborSolicitation:
		v.typ, v.target, v.lla = ICMPNeighborSolicitation, m.Target, m.SourceLinkLayer
	case *NeighborAdvertisement:
		v.typ, v.target, v.lla = ICMPNeighborAdvertisement, m.Target, m.TargetLinkLayer
		if m.Router {
			v.flags |= flagRouter
		}
		if m.Solicited {
			v.flags |= flagSolicited
		}
		if m.Override {
			v.flags |= flagOverride
		}
	}
	return v
}

// checkView holds parseView to ParsePacket's verdict and fields (the
// reserved bits of the NA flags octet aside, which ParsePacket drops).
func checkView(t *testing.T, b []byte) {
	t.Helper()
	p, err := ParsePacket(b)
	v, ok := parseView(b)
	ok = ok && v.checksumValid()
	if ok != (err == nil) {
		t.Fatalf("parseView ok=%v, ParsePacket err=%v\n%x", ok, err, b)
	}
	if !ok {
		return
	}
	v.flags &= flagRouter | flagSolicited | flagOverride
	v.body = nil
	if len(v.lla) == 0 {
		v.lla = nil
	}
	want := viewOf(p)
	if d := cmp.Diff(want, v, cmpAddr, cmp.AllowUnexported(ndView{})); d != "" {
		t.Fatalf("parseView (-ParsePacket +view):\n%s", d)
	}
}

func TestParseViewMatchesParsePacket(t *testing.T) {
	for _, v := range scapyVectors {
		b := unhex(t, v.hex)
		checkView(t, b)
		// Every cut and every single-octet change gets the same verdict.
		for n := range len(b) {
			checkView(t, b[:n])
		}
		for i := range b {
			c := bytes.Clone(b)
			c[i] ^= 0x55
			checkView(t, c)
		}
	}
}

// TestAppendNA: the answer path's NA is, octet for octet, what
// AppendPacket makes of the same message (itself checked against scapy in
// ndp_test.go), for several link-layer address lengths.
func TestAppendNA(t *testing.T) {
	for _, mac := range []net.HardwareAddr{haMAC, {1, 2, 3, 4, 5, 6, 7, 8}, bytes.Repeat([]byte{9}, 20), {1}} {
		for _, f := range []byte{0, flagOverride, flagSolicited | flagOverride, flagRouter | flagSolicited | flagOverride} {
			na := &NeighborAdvertisement{Router: f&flagRouter != 0, Solicited: f&flagSolicited != 0,
				Override: f&flagOverride != 0, Target: hoa, TargetLinkLayer: mac}
			want, err := AppendPacket(nil, haLL, host, na)
			if err != nil {
				t.Fatal(err)
			}
			got := appendNA([]byte("x"), haLL, host, hoa, f, mac)
			if !bytes.Equal(got[1:], want) || got[0] != 'x' {
				t.Errorf("mac %v flags %#x:\n got %x\nwant %x", mac, f, got[1:], want)
			}
			if len(want) != naLen(len(mac)) {
				t.Errorf("naLen(%d) = %d, packet %d", len(mac), naLen(len(mac)), len(want))
			}
		}
	}
}

// copyLink records the last packet sent without allocating.
type copyLink struct {
	buf [256]byte
	n   int
	mac [8]byte
	k   int
}

func (c *copyLink) send(b []byte, mac net.HardwareAddr) error {
	c.n = copy(c.buf[:], b)
	copy(c.mac[:], mac)
	c.k++
	return nil
}

// TestHandleAllocs: the receive path allocates nothing, whatever arrives:
// an NS for a proxied address (answered, or refused by the limits), an NS
// for another address, a DAD probe for a defended address, an NA, garbage.
func TestHandleAllocs(t *testing.T) {
	other := netip.MustParseAddr("2001:db8:1::200")
	in := map[string][]byte{
		"NS proxied":      pkt(t, host, snHoA, &NeighborSolicitation{Target: hoa, SourceLinkLayer: hstMAC}),
		"NUD NS proxied":  pkt(t, host, hoa, &NeighborSolicitation{Target: hoa}),
		"NS not proxied":  pkt(t, host, SolicitedNodeMulticast(other), &NeighborSolicitation{Target: other, SourceLinkLayer: hstMAC}),
		"DAD NS defended": pkt(t, netip.IPv6Unspecified(), snHoA, &NeighborSolicitation{Target: hoa}),
		"NA":              pkt(t, host, allNodes, &NeighborAdvertisement{Target: other, TargetLinkLayer: hstMAC}),
		"bad checksum":    func() []byte { b := pkt(t, host, snHoA, &NeighborSolicitation{Target: hoa}); b[42] ^= 1; return b }(),
		"short":           make([]byte, 30),
	}
	for _, limits := range []int{-1, 0} {
		cl := &copyLink{}
		p, err := newProxy(Config{MAC: haMAC, Source: haLL, Advertisements: -1, AnswerRate: limits, MaxAnswerRate: limits}, cl)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Add(hoa); err != nil {
			t.Fatal(err)
		}
		for name, b := range in {
			t.Run(fmt.Sprintf("%s/limits %d", name, limits), func(t *testing.T) {
				if a := testing.AllocsPerRun(200, func() { p.handle(b, hstMAC) }); a != 0 {
					t.Errorf("handle allocates %v times", a)
				}
			})
		}
		// The answers that did go out are right.
		p.handle(in["NS proxied"], hstMAC)
		if limits < 0 {
			got, err := ParsePacket(cl.buf[:cl.n])
			if err != nil {
				t.Fatal(err)
			}
			want := Packet{Src: haLL, Dst: host, Message: &NeighborAdvertisement{Solicited: true, Override: true, Target: hoa, TargetLinkLayer: haMAC}}
			if d := cmp.Diff(want, got, cmpAddr); d != "" || !bytes.Equal(cl.mac[:6], hstMAC) {
				t.Errorf("answer (-want +got):\n%s to %x", d, cl.mac[:6])
			}
		} else if p.Stats().RateLimited == 0 {
			t.Error("default limits: 800 NSs for one target all answered")
		}
		p.stop()
	}
}

// TestAnswerRateLimit: NSs for a proxied target are answered AnswerBurst
// at once, then AnswerRate a second; another target has its own budget;
// MaxAnswerRate bounds them all.
func TestAnswerRateLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, r := newTestProxy(t, Config{Advertisements: -1, AnswerRate: 4, AnswerBurst: 3, MaxAnswerRate: 10, MaxAnswerBurst: 6})
		targets := []netip.Addr{hoa, netip.MustParseAddr("2001:db8:1::201"), netip.MustParseAddr("2001:db8:1::202")}
		if err := p.Add(targets...); err != nil {
			t.Fatal(err)
		}
		ns := func(a netip.Addr) []byte {
			return pkt(t, host, SolicitedNodeMulticast(a), &NeighborSolicitation{Target: a, SourceLinkLayer: hstMAC})
		}
		for range 100 {
			p.handle(ns(hoa), hstMAC)
		}
		if n := len(r.take()); n != 3 {
			t.Errorf("100 NSs at once for one target: %d answers, want the burst of 3", n)
		}
		p.handle(ns(targets[1]), hstMAC)
		if n := len(r.take()); n != 1 {
			t.Errorf("another target: %d answers, want 1", n)
		}
		time.Sleep(250 * time.Millisecond) // one token per target at 4/s
		p.handle(ns(hoa), hstMAC)
		p.handle(ns(hoa), hstMAC)
		if n := len(r.take()); n != 1 {
			t.Errorf("250 ms later: %d answers, want 1", n)
		}
		// The overall burst of 6: 3+1+1 used; the global bucket refilled
		// by 2.5 in 250 ms, so 3 more at most, whatever the targets.
		time.Sleep(time.Second)
		for range 10 {
			for _, a := range targets {
				p.handle(ns(a), hstMAC)
			}
		}
		if n := len(r.take()); n != 6 {
			t.Errorf("30 NSs over 3 targets after 1 s: %d answers, want the overall burst of 6", n)
		}
		if s := p.Stats(); s.RateLimited != 97+1+24 || s.SolicitedNAs != 3+1+1+6 {
			t.Errorf("stats %+v", s)
		}
	})
}

// TestAddQuiet: AddQuiet answers at once, sends nothing on its own, and
// announces each new address once at AnnounceRate a second; addresses
// removed before their turn are skipped, and Close drops the rest.
func TestAddQuiet(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, r := newTestProxy(t, Config{AnnounceRate: 200})
		var addrs []netip.Addr
		a := netip.MustParseAddr("2001:db8:1::1:0")
		for range 1000 {
			a = a.Next()
			addrs = append(addrs, a)
		}
		if err := p.AddQuiet(addrs...); err != nil {
			t.Fatal(err)
		}
		if !p.Proxied(addrs[999]) || p.Stats().Proxied != 1000 {
			t.Fatal("not proxied at once")
		}
		synctest.Wait()
		p.Remove(addrs[500:510]...)
		if got := r.take(); len(got) > 2 {
			t.Errorf("%d NAs at once, want at most 2 (200/s in 10 ms ticks)", len(got))
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if got := len(r.take()); got < 195 || got > 205 {
			t.Errorf("%d NAs in the first second, want 200", got)
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()
		r.take()
		if s := p.Stats(); s.UnsolicitedNAs != 990 || s.PendingAnnouncements != 0 {
			t.Errorf("stats %+v: want 990 announcements, one per address still proxied", s)
		}
		// A second AddQuiet of the same addresses announces nothing new;
		// a new one is announced once.
		if err := p.AddQuiet(addrs[:10]...); err != nil {
			t.Fatal(err)
		}
		if err := p.AddQuiet(netip.MustParseAddr("2001:db8:1::2:1")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if got := r.take(); len(got) != 1 || got[0].pkt.Message.(*NeighborAdvertisement).Target != netip.MustParseAddr("2001:db8:1::2:1") {
			t.Errorf("sent %+v, want one NA for the new address", got)
		}
		// Stop drops what is pending.
		if err := p.AddQuiet(netip.MustParseAddr("2001:db8:1::3:1"), netip.MustParseAddr("2001:db8:1::3:2")); err != nil {
			t.Fatal(err)
		}
		p.stop()
		time.Sleep(time.Second)
		synctest.Wait()
		if got := r.take(); len(got) > 1 {
			t.Errorf("%d NAs after stop", len(got))
		}
	})
}

// TestAddQuietSilent: with a negative AnnounceRate, nothing is ever sent.
func TestAddQuietSilent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, r := newTestProxy(t, Config{AnnounceRate: -1})
		if err := p.AddQuiet(hoa); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		if got := r.take(); len(got) != 0 || !p.Proxied(hoa) {
			t.Errorf("sent %+v, proxied %v", got, p.Proxied(hoa))
		}
		if err := p.AddQuiet(allNodes); err == nil {
			t.Error("AddQuiet(multicast) accepted")
		}
	})
}

// TestHandleChecksum: the checksum is checked before acting, and only for
// packets about our targets: a corrupted NS for a proxied address is
// counted invalid and not answered; a corrupted NS for someone else's
// address is not ours to count.
func TestHandleChecksum(t *testing.T) {
	other := netip.MustParseAddr("2001:db8:1::200")
	bad := func(b []byte) []byte { b[42] ^= 1; return b }
	cl := &copyLink{}
	p, err := newProxy(Config{MAC: haMAC, Source: haLL, Advertisements: -1, AnswerRate: -1, MaxAnswerRate: -1}, cl)
	if err != nil {
		t.Fatal(err)
	}
	defer p.stop()
	if err := p.Add(hoa); err != nil {
		t.Fatal(err)
	}
	p.handle(bad(pkt(t, host, snHoA, &NeighborSolicitation{Target: hoa, SourceLinkLayer: hstMAC})), hstMAC)
	if cl.k != 0 || p.Stats().Invalid != 1 {
		t.Fatalf("corrupted NS for a proxied address: %d answers, Invalid %d; want 0, 1", cl.k, p.Stats().Invalid)
	}
	p.handle(bad(pkt(t, host, SolicitedNodeMulticast(other), &NeighborSolicitation{Target: other, SourceLinkLayer: hstMAC})), hstMAC)
	if p.Stats().Invalid != 1 {
		t.Fatalf("corrupted NS for another address counted: Invalid %d", p.Stats().Invalid)
	}
	p.handle(pkt(t, host, snHoA, &NeighborSolicitation{Target: hoa, SourceLinkLayer: hstMAC}), hstMAC)
	if cl.k != 1 {
		t.Fatalf("valid NS for a proxied address: %d answers, want 1", cl.k)
	}
}
