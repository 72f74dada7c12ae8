package ndproxy

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

type sent struct {
	at  time.Duration
	mac string
	pkt Packet
}

// recorder is a link that parses what is sent, stamped with the time since
// start (the synctest bubble's clock).
type recorder struct {
	t     *testing.T
	start time.Time
	mu    sync.Mutex
	got   []sent
	fail  error
}

func (r *recorder) send(b []byte, mac net.HardwareAddr) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	p, err := ParsePacket(b)
	if err != nil {
		r.t.Errorf("proxy sent an invalid packet: %v", err)
	}
	r.got = append(r.got, sent{at: time.Since(r.start), mac: mac.String(), pkt: p})
	return nil
}

func (r *recorder) take() []sent {
	r.mu.Lock()
	defer r.mu.Unlock()
	g := r.got
	r.got = nil
	return g
}

func newTestProxy(t *testing.T, cfg Config) (*Proxy, *recorder) {
	t.Helper()
	if cfg.MAC == nil {
		cfg.MAC = haMAC
	}
	if !cfg.Source.IsValid() {
		cfg.Source = haLL
	}
	r := &recorder{t: t, start: time.Now()}
	p, err := newProxy(cfg, r)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.stop)
	return p, r
}

func pkt(t *testing.T, src, dst netip.Addr, m Message) []byte {
	t.Helper()
	b, err := AppendPacket(nil, src, dst, m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var cmpSent = cmp.Options{cmpAddr, cmp.AllowUnexported(sent{}), cmpopts.EquateEmpty()}

func gratuitous(at time.Duration, a netip.Addr) sent {
	return sent{at: at, mac: "33:33:00:00:00:01", pkt: Packet{Src: haLL, Dst: allNodes,
		Message: &NeighborAdvertisement{Override: true, Target: a, TargetLinkLayer: haMAC}}}
}

func TestAnswer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, r := newTestProxy(t, Config{Advertisements: -1})
		other := netip.MustParseAddr("2001:db8:1::200")
		if err := p.Add(hoa); err != nil {
			t.Fatal(err)
		}
		frameMAC := net.HardwareAddr{2, 0, 0, 0, 0, 9}
		solicited := &NeighborAdvertisement{Solicited: true, Override: true, Target: hoa, TargetLinkLayer: haMAC}
		tests := []struct {
			name string
			in   []byte
			want []sent
		}{
			{"multicast NS with SLLA", pkt(t, host, snHoA, &NeighborSolicitation{Target: hoa, SourceLinkLayer: hstMAC}),
				[]sent{{mac: hstMAC.String(), pkt: Packet{Src: haLL, Dst: host, Message: solicited}}}},
			{"unicast NUD NS without SLLA", pkt(t, host, hoa, &NeighborSolicitation{Target: hoa}),
				[]sent{{mac: frameMAC.String(), pkt: Packet{Src: haLL, Dst: host, Message: solicited}}}},
			{"DAD NS for a defended address", pkt(t, netip.IPv6Unspecified(), snHoA, &NeighborSolicitation{Target: hoa}),
				[]sent{gratuitous(0, hoa)}},
			{"NS for an address not proxied", pkt(t, host, SolicitedNodeMulticast(other), &NeighborSolicitation{Target: other, SourceLinkLayer: hstMAC}), nil},
			{"NA for a proxied address", pkt(t, host, allNodes, &NeighborAdvertisement{Target: hoa, TargetLinkLayer: hstMAC}), nil},
			{"invalid NS (hop limit)", func() []byte {
				b := pkt(t, host, snHoA, &NeighborSolicitation{Target: hoa, SourceLinkLayer: hstMAC})
				b[7] = 254
				return b
			}(), nil},
		}
		for _, tt := range tests {
			p.handle(tt.in, frameMAC)
			if d := cmp.Diff(tt.want, r.take(), cmpSent); d != "" {
				t.Errorf("%s (-want +got):\n%s", tt.name, d)
			}
		}
		if s := p.Stats(); s.SolicitedNAs != 3 || s.Invalid != 1 || s.Proxied != 1 {
			t.Errorf("stats %+v", s)
		}
		p.Remove(hoa)
		p.handle(tests[0].in, frameMAC)
		if got := r.take(); len(got) != 0 {
			t.Errorf("answered after Remove: %+v", got)
		}
	})
}

func TestGratuitous(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, r := newTestProxy(t, Config{})
		ll := LinkLocal(hoa)
		if err := p.Add(hoa, ll); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()
		var want []sent
		for i := range MaxNeighborAdvertisement {
			// RFC 4861 §7.2.6: RetransTimer apart.
			at := time.Duration(i) * DefaultRetransTimer
			want = append(want, gratuitous(at, hoa), gratuitous(at, ll))
		}
		if d := cmp.Diff(want, r.take(), cmpSent); d != "" {
			t.Errorf("gratuitous NAs (-want +got):\n%s", d)
		}
		// A refresh of a proxied address sends nothing.
		if err := p.Add(hoa); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if got := r.take(); len(got) != 0 {
			t.Errorf("refresh sent %+v", got)
		}
		// Remove between rounds stops the repeats for that address only.
		other := netip.MustParseAddr("2001:db8:1::200")
		r.start = time.Now()
		p.Add(other)
		p.Remove(hoa, ll)
		time.Sleep(1500 * time.Millisecond)
		p.Remove(other)
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if d := cmp.Diff([]sent{gratuitous(0, other), gratuitous(time.Second, other)}, r.take(), cmpSent); d != "" {
			t.Errorf("after Remove (-want +got):\n%s", d)
		}
		if s := p.Stats(); s.Proxied != 0 || s.UnsolicitedNAs != 8 {
			t.Errorf("stats %+v", s)
		}
	})
}

func TestDAD(t *testing.T) {
	probe := sent{mac: "33:33:ff:00:01:00", pkt: Packet{Src: netip.IPv6Unspecified(), Dst: snHoA, Message: &NeighborSolicitation{Target: hoa}}}
	tests := []struct {
		name     string
		cfg      Config
		in       []byte        // packet received during DAD
		inAt     time.Duration // when
		dup      bool
		doneAt   time.Duration
		probesAt []time.Duration
	}{
		{name: "no answer", doneAt: time.Second, probesAt: []time.Duration{0}},
		{name: "no answer, 250 ms, 3 probes", cfg: Config{RetransTimer: 250 * time.Millisecond, DADTransmits: 3},
			doneAt: 750 * time.Millisecond, probesAt: []time.Duration{0, 250 * time.Millisecond, 500 * time.Millisecond}},
		{name: "owner answers with NA", in: pkt(t, hoa, allNodes, &NeighborAdvertisement{Override: true, Target: hoa, TargetLinkLayer: hstMAC}),
			inAt: 300 * time.Millisecond, dup: true, doneAt: 300 * time.Millisecond, probesAt: []time.Duration{0}},
		{name: "another node's DAD NS", in: pkt(t, netip.IPv6Unspecified(), snHoA, &NeighborSolicitation{Target: hoa}),
			inAt: 999 * time.Millisecond, dup: true, doneAt: 999 * time.Millisecond, probesAt: []time.Duration{0}},
		{name: "address resolution NS is no duplicate", in: pkt(t, host, snHoA, &NeighborSolicitation{Target: hoa, SourceLinkLayer: hstMAC}),
			inAt: 300 * time.Millisecond, doneAt: time.Second, probesAt: []time.Duration{0}},
		{name: "NA for another address", in: pkt(t, host, allNodes, &NeighborAdvertisement{Override: true, Target: host, TargetLinkLayer: hstMAC}),
			inAt: 300 * time.Millisecond, doneAt: time.Second, probesAt: []time.Duration{0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				tt.cfg.Advertisements = -1
				p, r := newTestProxy(t, tt.cfg)
				start := time.Now()
				c := p.StartDAD(hoa)
				c2 := p.StartDAD(hoa) // joins
				if tt.in != nil {
					time.Sleep(tt.inAt)
					p.handle(tt.in, hstMAC)
				}
				res := <-c
				if got := time.Since(start); got != tt.doneAt {
					t.Errorf("done after %v, want %v", got, tt.doneAt)
				}
				if d := cmp.Diff(DADResult{Addr: hoa, Duplicate: tt.dup}, res, cmpAddr); d != "" {
					t.Errorf("result (-want +got):\n%s", d)
				}
				if d := cmp.Diff(res, <-c2, cmpAddr); d != "" {
					t.Errorf("second waiter: %s", d)
				}
				var want []sent
				for _, at := range tt.probesAt {
					pr := probe
					pr.at = at
					want = append(want, pr)
				}
				if d := cmp.Diff(want, r.take(), cmpSent); d != "" {
					t.Errorf("probes (-want +got):\n%s", d)
				}
				if p.dadRunning(hoa) {
					t.Error("DAD state left behind")
				}
			})
		})
	}
}

// TestDADProbeBytes compares the probe octet for octet with scapy's DAD NS.
func TestDADProbeBytes(t *testing.T) {
	var raw []byte
	l := linkFunc(func(b []byte, _ net.HardwareAddr) error { raw = append([]byte(nil), b...); return nil })
	p, err := newProxy(Config{MAC: haMAC, Source: haLL}, l)
	if err != nil {
		t.Fatal(err)
	}
	defer p.stop()
	p.StartDAD(hoa)
	if d := cmp.Diff(unhex(t, scapyVectors[1].hex), raw); d != "" {
		t.Errorf("DAD probe differs from scapy (-scapy +ours):\n%s", d)
	}
}

type linkFunc func([]byte, net.HardwareAddr) error

func (f linkFunc) send(b []byte, m net.HardwareAddr) error { return f(b, m) }

func TestDADSpecial(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p, r := newTestProxy(t, Config{Advertisements: -1})
		// Already proxied: no probe, not duplicate.
		p.Add(hoa)
		if res := <-p.StartDAD(hoa); res.Duplicate || res.Err != nil {
			t.Errorf("proxied: %+v", res)
		}
		// Not unicast.
		if res := <-p.StartDAD(allNodes); res.Err == nil {
			t.Errorf("multicast: %+v", res)
		}
		// Send failure.
		other := netip.MustParseAddr("2001:db8:1::200")
		r.fail = errors.New("boom")
		if res := <-p.StartDAD(other); res.Err == nil {
			t.Errorf("send failure: %+v", res)
		}
		r.fail = nil
		// Close ends a running DAD.
		c := p.StartDAD(other)
		p.stop()
		if res := <-c; !errors.Is(res.Err, net.ErrClosed) {
			t.Errorf("closed: %+v", res)
		}
		if err := p.Add(other); !errors.Is(err, net.ErrClosed) {
			t.Errorf("Add after close: %v", err)
		}
		if got := r.take(); len(got) != 1 {
			t.Errorf("sent %d packets, want the one probe", len(got))
		}
	})
}

func TestAddValidation(t *testing.T) {
	p, _ := newTestProxy(t, Config{Advertisements: -1})
	for _, a := range []netip.Addr{{}, netip.IPv6Unspecified(), allNodes, netip.MustParseAddr("::1"), netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("::ffff:192.0.2.1")} {
		if err := p.Add(a); err == nil {
			t.Errorf("Add(%v) accepted", a)
		}
	}
	if _, err := newProxy(Config{Source: haLL}, nil); err == nil {
		t.Error("no MAC accepted")
	}
	if _, err := newProxy(Config{MAC: haMAC}, nil); err == nil {
		t.Error("no source accepted")
	}
}

func TestSetMany(t *testing.T) {
	p, _ := newTestProxy(t, Config{Advertisements: -1})
	var addrs []netip.Addr
	a := netip.MustParseAddr("2001:db8:1::")
	for range 5000 {
		a = a.Next()
		addrs = append(addrs, a)
	}
	if err := p.Add(addrs...); err != nil {
		t.Fatal(err)
	}
	p.Remove(addrs[:2500]...)
	for i, a := range addrs {
		if got, want := p.Proxied(a), i >= 2500; got != want {
			t.Fatalf("Proxied(%v) = %v, want %v", a, got, want)
		}
	}
	if got := p.Stats().Proxied; got != 2500 {
		t.Errorf("count %d", got)
	}
	if p.Proxied(hoa.WithZone("eth0")) {
		t.Error("zone")
	}
}

// TestConcurrent runs the receive path against Add/Remove (go test -race).
func TestConcurrent(t *testing.T) {
	p, _ := newTestProxy(t, Config{Advertisements: -1})
	in := pkt(t, host, snHoA, &NeighborSolicitation{Target: hoa, SourceLinkLayer: hstMAC})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 2000 {
			p.handle(in, hstMAC)
		}
	}()
	for range 2000 {
		p.Add(hoa)
		p.Remove(hoa)
	}
	<-done
}
