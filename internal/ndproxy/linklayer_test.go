package ndproxy

import (
	"net"
	"net/netip"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestSetLinkLayer: after the home link interface's address changed, the
// answers and the announcements carry the new one (RFC 6275 §10.4.1's
// Target Link-layer Address is "the home agent's own link-layer
// address"), and Announce tells the link about every proxied address with
// Override set, Advertisements times, RetransTimer apart (RFC 4861
// §7.2.6).
func TestSetLinkLayer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, r := newTestProxy(t, Config{})
		other := netip.MustParseAddr("2001:db8:1::200")
		if err := p.Add(hoa, other); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()
		r.take()

		newMAC := net.HardwareAddr{2, 0, 0, 0, 0, 0x99}
		newLL := netip.MustParseAddr("fe80::99")
		given := slices.Clone(newMAC)
		for _, tt := range []struct {
			what string
			f    func() (bool, error)
			want bool
		}{
			{"new MAC", func() (bool, error) { return p.SetLinkLayer(given) }, true},
			{"same MAC", func() (bool, error) { return p.SetLinkLayer(slices.Clone(newMAC)) }, false},
			{"new source", func() (bool, error) { return p.SetSource(newLL) }, true},
			{"same source", func() (bool, error) { return p.SetSource(newLL) }, false},
		} {
			if got, err := tt.f(); err != nil || got != tt.want {
				t.Errorf("%s: changed %v, %v; want %v", tt.what, got, err, tt.want)
			}
		}
		if _, err := p.SetLinkLayer(nil); err == nil {
			t.Error("SetLinkLayer(nil) accepted")
		}
		if _, err := p.SetSource(netip.MustParseAddr("ff02::1")); err == nil {
			t.Error("SetSource(multicast) accepted")
		}
		given[5] = 0x77 // the proxy keeps its own copy
		if got := p.LinkLayer(); got.String() != newMAC.String() {
			t.Errorf("LinkLayer() = %v, want %v", got, newMAC)
		}

		// An NS is answered with the new address, from the new source.
		frameMAC := net.HardwareAddr{2, 0, 0, 0, 0, 9}
		r.start = time.Now()
		p.handle(pkt(t, host, snHoA, &NeighborSolicitation{Target: hoa, SourceLinkLayer: hstMAC}), frameMAC)
		want := []sent{{mac: hstMAC.String(), pkt: Packet{Src: newLL, Dst: host,
			Message: &NeighborAdvertisement{Solicited: true, Override: true, Target: hoa, TargetLinkLayer: newMAC}}}}
		if d := cmp.Diff(want, r.take(), cmpSent); d != "" {
			t.Errorf("answer after the change (-want +got):\n%s", d)
		}

		// Announce: every proxied address, three rounds a second apart.
		got := announce(t, p, r, 2)
		want = nil
		for i := range MaxNeighborAdvertisement {
			for _, a := range []netip.Addr{hoa, other} {
				want = append(want, sent{at: time.Duration(i) * DefaultRetransTimer, mac: "33:33:00:00:00:01",
					pkt: Packet{Src: newLL, Dst: allNodes, Message: &NeighborAdvertisement{Override: true, Target: a, TargetLinkLayer: newMAC}}})
			}
		}
		order := func(s []sent) {
			slices.SortStableFunc(s, func(a, b sent) int {
				if a.at != b.at {
					return int(a.at - b.at)
				}
				return a.pkt.Message.(*NeighborAdvertisement).Target.Compare(b.pkt.Message.(*NeighborAdvertisement).Target)
			})
		}
		order(got)
		order(want)
		if d := cmp.Diff(want, got, cmpSent); d != "" {
			t.Errorf("Announce (-want +got):\n%s", d)
		}
		if s := p.Stats(); s.UnsolicitedNAs != 2*2*MaxNeighborAdvertisement {
			t.Errorf("unsolicited NAs %d", s.UnsolicitedNAs)
		}
	})
}

// TestAnnouncePaced: a proxied set larger than AnnounceRate is announced
// once per address, paced, not in a burst; an empty set sends nothing.
func TestAnnouncePaced(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, r := newTestProxy(t, Config{AnnounceRate: 2, Advertisements: -1})
		if n := p.Announce(); n != 0 {
			t.Errorf("Announce() on an empty set = %d", n)
		}
		addrs := []netip.Addr{hoa, netip.MustParseAddr("2001:db8:1::200"), netip.MustParseAddr("2001:db8:1::300")}
		if err := p.Add(addrs...); err != nil {
			t.Fatal(err)
		}
		got := announce(t, p, r, 3)
		var at []time.Duration
		var targets []netip.Addr
		for _, s := range got {
			at = append(at, s.at)
			targets = append(targets, s.pkt.Message.(*NeighborAdvertisement).Target)
		}
		slices.SortFunc(targets, netip.Addr.Compare)
		// Two a second: one every 500 ms.
		if d := cmp.Diff([]time.Duration{0, 500 * time.Millisecond, time.Second}, at); d != "" {
			t.Errorf("announcement times (-want +got):\n%s", d)
		}
		if d := cmp.Diff(addrs, targets, cmpAddr); d != "" {
			t.Errorf("announced (-want +got):\n%s", d)
		}
	})
}

// announce runs Announce inside a synctest bubble, checks the number of
// addresses it reports, and returns what it sent in the next 10 s.
func announce(t *testing.T, p *Proxy, r *recorder, want int) []sent {
	t.Helper()
	r.start = time.Now()
	if n := p.Announce(); n != want {
		t.Errorf("Announce() = %d, want %d", n, want)
	}
	time.Sleep(10 * time.Second)
	synctest.Wait()
	return r.take()
}
