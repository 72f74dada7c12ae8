package mobilenode

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gomip6/gomip6/binding"
	"github.com/gomip6/gomip6/conf"
	"github.com/gomip6/gomip6/correspondent"
	"github.com/gomip6/gomip6/mip6"
)

var cnAddr = netip.MustParseAddr("2001:db8:c::1")

// roLab is a RouteOptimizer and a real correspondent.Correspondent wired
// together in memory, inside a synctest bubble so that time.Now is the
// bubble's fake clock and time.Sleep advances it instantly.
type roLab struct {
	t  *testing.T
	ro *RouteOptimizer
	cn *correspondent.Correspondent
	// lossy drops every packet to the correspondent while set.
	lossy bool
	// sent counts the packets handed to the network, by MH type.
	sent map[mip6.MHType]int
	// events collects every event.
	events []ROEvent
}

func newROLab(t *testing.T, mod func(*conf.CN)) *roLab {
	t.Helper()
	ro, cn := newROPair(t, mod)
	return &roLab{t: t, ro: ro, cn: cn, sent: map[mip6.MHType]int{}}
}

// newROPair returns an optimizer for hoa and a correspondent (its
// cnd.toml changed by mod), both drawing from fixed seeds.
func newROPair(t testing.TB, mod func(*conf.CN)) (*RouteOptimizer, *correspondent.Correspondent) {
	t.Helper()
	cfg := mustCN(t)
	if mod != nil {
		mod(cfg)
	}
	cn, err := correspondent.New(cfg, correspondent.Options{Rand: rand.NewChaCha8([32]byte{9})})
	if err != nil {
		t.Fatal(err)
	}
	ro, err := NewRouteOptimizer(ROConfig{HomeAddress: hoa, Rand: rand.NewChaCha8([32]byte{7})})
	if err != nil {
		t.Fatal(err)
	}
	return ro, cn
}

// run delivers what o sends to the correspondent and its answers back,
// until nothing is left to deliver.
func (l *roLab) run(o ROOutput) {
	l.t.Helper()
	for range 20 {
		l.events = append(l.events, o.Events...)
		var next ROOutput
		for _, pkt := range o.Send {
			l.sent[pkt.Type]++
			if l.lossy {
				continue
			}
			if ans, ok := l.toCN(pkt); ok {
				out, err := l.ro.HandleMH(ans, time.Now())
				if err != nil {
					l.t.Logf("mobile node ignored %v: %v", mip6.MHType(ans.MH[2]), err)
				}
				next.add(out)
			}
		}
		if len(next.Send) == 0 && len(next.Events) == 0 {
			return
		}
		o = next
	}
	l.t.Fatal("exchange does not end")
}

// toCN hands pkt to the correspondent as its packet socket would see it
// and returns the answer as the mobile node receives it.
func (l *roLab) toCN(pkt ROPacket) (Packet, bool) {
	l.t.Helper()
	return exchange(l.t, l.cn, pkt, time.Now())
}

func exchange(t testing.TB, cn *correspondent.Correspondent, pkt ROPacket, now time.Time) (Packet, bool) {
	t.Helper()
	wire, ok := mip6.AppendMobilityPacket(nil, pkt.Src, pkt.Dst, pkt.HomeAddress, netip.Addr{}, 64, pkt.MH)
	if !ok {
		t.Fatal("packet too long")
	}
	lay, err := mip6.WalkIPv6(wire)
	if err != nil {
		t.Fatal(err)
	}
	res := cn.HandleMH(nil, correspondent.Packet{Src: lay.Src, Dst: lay.Dst, HomeAddress: lay.HomeAddress,
		Len: lay.End, MH: wire[lay.Offset:lay.End]}, now)
	if res.Verdict != correspondent.Reply {
		return Packet{}, false
	}
	return fromWire(t, res.Out), true
}

func fromWire(t testing.TB, wire []byte) Packet {
	t.Helper()
	lay, err := mip6.WalkIPv6(wire)
	if err != nil {
		t.Fatal(err)
	}
	p := Packet{Src: lay.Src, Dst: lay.Dst, MH: wire[lay.Offset:lay.End]}
	if lay.RH2 != 0 && lay.RH2SegmentsLeft == 1 {
		p.RoutingHome = lay.RH2Address
	}
	return p
}

// tick sleeps until the optimizer's next timer and runs it.
func (l *roLab) tick() time.Time {
	l.t.Helper()
	at, ok := l.ro.NextTimer()
	if !ok {
		l.t.Fatal("no timer armed")
	}
	time.Sleep(time.Until(at))
	l.run(l.ro.Timer(time.Now()))
	return at
}

func (l *roLab) kinds() []ROEventKind {
	var k []ROEventKind
	for _, e := range l.events {
		k = append(k, e.Kind)
	}
	l.events = nil
	return k
}

func (l *roLab) entry() ROEntry {
	e, ok := l.ro.Entry(cnAddr)
	if !ok {
		l.t.Fatal("no entry")
	}
	return e
}

// add adds the correspondent (not away yet: nothing to send).
func (l *roLab) add() {
	l.t.Helper()
	o, err := l.ro.Add(cnAddr, time.Now())
	if err != nil {
		l.t.Fatal(err)
	}
	l.run(o)
}

// bind adds the correspondent and registers coa there.
func (l *roLab) bind(coa netip.Addr) {
	l.t.Helper()
	l.add()
	l.run(l.ro.Away(coa, time.Time{}, time.Now()))
	if e := l.entry(); e.State != ROBound || !e.Direct || e.BoundCareOf != coa {
		l.t.Fatalf("not bound: %+v", e)
	}
}

func TestROHappyPath(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newROLab(t, nil)
		o, err := l.ro.Add(cnAddr, time.Now())
		if err != nil || len(o.Send) != 0 {
			t.Fatalf("Add before Away: %v, %d packets", err, len(o.Send))
		}
		start := time.Now()
		o = l.ro.Away(coa1, time.Time{}, time.Now())
		// RFC 6275 §11.6.1: HoTI from the home address through the
		// tunnel, CoTI from the care-of address directly.
		if len(o.Send) != 2 {
			t.Fatalf("sent %d packets, want HoTI and CoTI", len(o.Send))
		}
		hoti, coti := o.Send[0], o.Send[1]
		if diff := cmp.Diff([]any{mip6.MHHomeTestInit, hoa, cnAddr, true, netip.Addr{}},
			[]any{hoti.Type, hoti.Src, hoti.Dst, hoti.ViaTunnel, hoti.HomeAddress}, cmpOpts); diff != "" {
			t.Errorf("HoTI (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]any{mip6.MHCareofTestInit, coa1, cnAddr, false, netip.Addr{}},
			[]any{coti.Type, coti.Src, coti.Dst, coti.ViaTunnel, coti.HomeAddress}, cmpOpts); diff != "" {
			t.Errorf("CoTI (-want +got):\n%s", diff)
		}
		// §6.1.3: Payload Proto 59, Header Len 1 (16 octets), MH Type
		// 1, reserved, the 64-bit cookie at octet 8.
		if len(hoti.MH) != 16 || hoti.MH[0] != 59 || hoti.MH[1] != 1 || hoti.MH[2] != 1 || coti.MH[2] != 2 {
			t.Errorf("HoTI % x, CoTI % x", hoti.MH, coti.MH)
		}
		if !mip6.VerifyMHChecksum(hoti.MH, hoa, cnAddr) || !mip6.VerifyMHChecksum(coti.MH, coa1, cnAddr) {
			t.Error("init checksums")
		}
		l.run(o)
		if diff := cmp.Diff([]ROEventKind{ROTestsDone, RODirect}, l.kinds()); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
		e := l.entry()
		if e.State != ROBound || !e.Direct || e.BoundCareOf != coa1 || e.Lifetime != mip6.MaxRRBindingLifetime {
			t.Errorf("entry %+v", e)
		}
		if !e.Expires.Equal(start.Add(mip6.MaxRRBindingLifetime)) {
			t.Errorf("expires %v, want 420 s after the BU", e.Expires.Sub(start))
		}
		b, ok := l.cn.Lookup(hoa, time.Now())
		if !ok || b.CareOf != coa1 || b.Sequence != e.Sequence {
			t.Errorf("correspondent binding %+v %v", b, ok)
		}
		// Only one of each went out: no retransmission.
		if diff := cmp.Diff(map[mip6.MHType]int{mip6.MHHomeTestInit: 1, mip6.MHCareofTestInit: 1, mip6.MHBindingUpdate: 1}, l.sent); diff != "" {
			t.Errorf("sent (-want +got):\n%s", diff)
		}
	})
}

// TestROBindingUpdateWire checks the Binding Update against RFC 6275's
// layout, octet by octet, and its authenticator against Kbm recomputed
// from the tokens (§5.2.5, §5.2.6).
func TestROBindingUpdateWire(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newROLab(t, nil)
		l.add()
		o := l.ro.Away(coa1, time.Time{}, time.Now())
		var hot, cot Packet
		for _, p := range o.Send {
			ans, ok := l.toCN(p)
			if !ok {
				t.Fatal("no answer")
			}
			if p.Type == mip6.MHHomeTestInit {
				hot = ans
			} else {
				cot = ans
			}
		}
		out, err := l.ro.HandleMH(hot, time.Now())
		if err != nil || len(out.Send) != 0 {
			t.Fatalf("HoT: %v, %d sent", err, len(out.Send))
		}
		out, err = l.ro.HandleMH(cot, time.Now())
		if err != nil || len(out.Send) != 1 {
			t.Fatalf("CoT: %v, %d sent", err, len(out.Send))
		}
		bu := out.Send[0]
		if bu.Type != mip6.MHBindingUpdate || bu.Src != coa1 || bu.Dst != cnAddr || bu.HomeAddress != hoa || bu.ViaTunnel {
			t.Errorf("BU addressing %+v", bu)
		}
		mh := bu.MH
		// §6.1.7: MH Type 5 at octet 2; Sequence at 6-7; A (0x80) set,
		// H (0x40) clear; Lifetime at 10-11 in 4 s units: 420 s = 105.
		if mh[2] != 5 || binary.BigEndian.Uint16(mh[6:]) != l.entry().Sequence || mh[8] != 0x80 || mh[9] != 0 ||
			binary.BigEndian.Uint16(mh[10:]) != 105 {
			t.Errorf("BU header % x", mh[:12])
		}
		if (int(mh[1])+1)*8 != len(mh) {
			t.Errorf("Header Len %d for %d octets", mh[1], len(mh))
		}
		// Options from octet 12: Nonce Indices (type 4, length 4,
		// 2n alignment) with the HoT's and CoT's indices, then the
		// Binding Authorization Data (type 5, length 12, 8n+2) last.
		home := binary.BigEndian.Uint16(hot.MH[6:])
		careof := binary.BigEndian.Uint16(cot.MH[6:])
		i := 12
		var ni, bad int
		for i < len(mh) {
			switch mh[i] {
			case 0:
				i++
				continue
			case 4:
				ni = i
			case 5:
				bad = i
			}
			i += 2 + int(mh[i+1])
		}
		if ni == 0 || mh[ni+1] != 4 || binary.BigEndian.Uint16(mh[ni+2:]) != home || binary.BigEndian.Uint16(mh[ni+4:]) != careof {
			t.Errorf("Nonce Indices at %d: % x", ni, mh)
		}
		if bad == 0 || mh[bad+1] != 12 || bad%8 != 2 || bad+14 != len(mh) {
			t.Errorf("Binding Authorization Data at %d: % x", bad, mh)
		}
		// Kbm = SHA1(home token | care-of token), tokens from the HoT
		// and CoT (octets 16-23).
		var ht, ct binding.KeygenToken
		copy(ht[:], hot.MH[16:24])
		copy(ct[:], cot.MH[16:24])
		if !binding.VerifyBindingAuthenticator(binding.KbmFromTokens(ht, ct), coa1, cnAddr, mh, bad+2) {
			t.Error("authenticator does not verify with Kbm from the tokens")
		}
		if !mip6.VerifyMHChecksum(mh, hoa, cnAddr) {
			t.Error("BU checksum is not over the home address (§6.1.1)")
		}
	})
}

func TestRORetransmission(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newROLab(t, nil)
		l.lossy = true
		l.add()
		start := time.Now()
		l.run(l.ro.Away(coa1, time.Time{}, time.Now()))
		// §11.8: 1 s, then doubling: 1, 3, 7, 15, 31 s after the first;
		// a timeout beyond MAX_BINDACK_TIMEOUT (32 s) gives up, at 63 s.
		var at []time.Duration
		for range 6 {
			at = append(at, l.tick().Sub(start))
		}
		want := []time.Duration{1, 3, 7, 15, 31, 63}
		for i := range want {
			want[i] *= time.Second
		}
		if diff := cmp.Diff(want, at); diff != "" {
			t.Errorf("timer (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(map[mip6.MHType]int{mip6.MHHomeTestInit: 6, mip6.MHCareofTestInit: 6}, l.sent); diff != "" {
			t.Errorf("sent (-want +got):\n%s", diff)
		}
		e := l.entry()
		if e.State != ROBackoff || e.Direct || e.Failures != 1 || !e.RetryAt.Equal(start.Add(63*time.Second+RORetryMin)) {
			t.Errorf("after giving up: %+v", e)
		}
		if got := l.kinds(); len(got) != 1 || got[0] != ROFailed {
			t.Errorf("events %v", got)
		}
		// The retry, with the correspondent answering this time.
		l.lossy = false
		if at := l.tick(); !at.Equal(e.RetryAt) {
			t.Errorf("retry at %v", at.Sub(start))
		}
		if e := l.entry(); e.State != ROBound || !e.Direct || e.Failures != 0 {
			t.Errorf("after the retry: %+v", e)
		}
	})
}

func TestROBackoffDoubles(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newROLab(t, func(c *conf.CN) { c.RouteOptimization = false }) // answers nothing
		l.add()
		l.run(l.ro.Away(coa1, time.Time{}, time.Now()))
		var gaps []time.Duration
		for range 4 {
			for l.entry().State != ROBackoff {
				l.tick()
			}
			e := l.entry()
			gaps = append(gaps, time.Until(e.RetryAt))
			l.tick() // the retry
		}
		if diff := cmp.Diff([]time.Duration{32 * time.Second, 64 * time.Second, 128 * time.Second, 256 * time.Second}, gaps); diff != "" {
			t.Errorf("back-off (-want +got):\n%s", diff)
		}
	})
}

func TestROBindingError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newROLab(t, nil)
		l.bind(coa1)
		l.kinds()
		// The correspondent restarts: a data packet with our Home
		// Address option gets Binding Error status 1 (§9.3.1).
		l.cn, _ = correspondent.New(mustCN(t), correspondent.Options{Rand: rand.NewChaCha8([32]byte{10})})
		res := l.cn.BindingError(nil, mip6.BEUnknownHomeAddress, correspondent.Packet{Src: coa1, Dst: cnAddr, HomeAddress: hoa, Len: 1280}, time.Now())
		if res.Verdict != correspondent.Reply {
			t.Fatalf("no binding error: %v", res.Drop)
		}
		out, err := l.ro.HandleMH(fromWire(t, res.Out), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		l.run(out)
		// Back to the tunnel, then registered again at once.
		if diff := cmp.Diff([]ROEventKind{ROTunnel, ROFailed, ROTestsDone, RODirect}, l.kinds()); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
		if e := l.entry(); e.State != ROBound || !e.Direct {
			t.Errorf("after status 1: %+v", e)
		}
		// Status 2: the correspondent does not do route optimization.
		res = l.cn.BindingError(nil, mip6.BEUnknownMHType, correspondent.Packet{Src: coa1, Dst: cnAddr, Len: 1280}, time.Now())
		out, err = l.ro.HandleMH(fromWire(t, res.Out), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		l.run(out)
		if diff := cmp.Diff([]ROEventKind{ROTunnel, ROFailed}, l.kinds()); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
		e := l.entry()
		if e.State != ROBackoff || e.Direct || !e.RetryAt.Equal(time.Now().Add(RORetryMax)) {
			t.Errorf("after status 2: %+v", e)
		}
		// A move does not retry a correspondent that showed it has
		// no route optimization.
		l.run(l.ro.Suspend("moving"))
		if o := l.ro.Away(coa2, time.Time{}, time.Now()); len(o.Send) != 0 {
			t.Errorf("move retried a status-2 correspondent: %d packets", len(o.Send))
		}
	})
}

func mustCN(t testing.TB) *conf.CN {
	t.Helper()
	cfg, err := conf.ParseCN([]byte("[control]\nsocket = \"/run/test-cnd.sock\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestRORefused: a Binding Acknowledgement with a refusal status (≥128,
// other than the nonce and sequence ones) falls back and backs off.
func TestRORefused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newROLab(t, nil)
		l.add()
		o := l.ro.Away(coa1, time.Time{}, time.Now())
		var bu ROPacket
		for _, p := range o.Send {
			ans, _ := l.toCN(p)
			out, _ := l.ro.HandleMH(ans, time.Now())
			if len(out.Send) == 1 {
				bu = out.Send[0]
			}
		}
		p := l.ro.peer(cnAddr)
		// An authenticated BA 130 (insufficient resources) from the
		// correspondent, built with the Kbm of the BU.
		ba, err := mip6.AppendMessage(nil, &mip6.BindingAck{Status: 130, Sequence: bu.Sequence,
			Options: []mip6.MobilityOption{&mip6.BindingAuthorizationData{}}})
		if err != nil {
			t.Fatal(err)
		}
		off, _, _ := mip6.AuthenticatorOffset(ba, mip6.OptBindingAuthData)
		if err := binding.SetBindingAuthenticator(p.kbm, coa1, cnAddr, ba, off); err != nil {
			t.Fatal(err)
		}
		mip6.SetMHChecksum(ba, cnAddr, hoa)
		// A forged one (wrong authenticator) is ignored.
		forged := append([]byte(nil), ba...)
		forged[off] ^= 1
		mip6.SetMHChecksum(forged, cnAddr, hoa)
		if _, err := l.ro.HandleMH(Packet{Src: cnAddr, Dst: coa1, RoutingHome: hoa, MH: forged}, time.Now()); err == nil {
			t.Error("forged BA accepted")
		}
		out, err := l.ro.HandleMH(Packet{Src: cnAddr, Dst: coa1, RoutingHome: hoa, MH: ba}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Events) != 1 || out.Events[0].Kind != ROFailed || out.Events[0].Status != 130 {
			t.Errorf("events %+v", out.Events)
		}
		if e := l.entry(); e.State != ROBackoff || e.Direct || !e.RetryAt.Equal(time.Now().Add(RORetryMin)) {
			t.Errorf("entry %+v", e)
		}
	})
}

// TestROMove: a move re-runs return routability (§11.7.2); the home
// keygen token is fresh, so only the care-of test goes out, and the
// correspondent moves the binding.
func TestROMove(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newROLab(t, nil)
		l.bind(coa1)
		l.kinds()
		time.Sleep(30 * time.Second)
		out := l.ro.Suspend("moved")
		if diff := cmp.Diff([]ROEventKind{ROTunnel}, kindsOf(out.Events)); diff != "" {
			t.Errorf("suspend (-want +got):\n%s", diff)
		}
		l.run(out)
		l.kinds()
		clear(l.sent)
		l.run(l.ro.Away(coa2, time.Time{}, time.Now()))
		if diff := cmp.Diff(map[mip6.MHType]int{mip6.MHCareofTestInit: 1, mip6.MHBindingUpdate: 1}, l.sent); diff != "" {
			t.Errorf("sent after the move (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]ROEventKind{ROTestsDone, RODirect}, l.kinds()); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
		if b, _ := l.cn.Lookup(hoa, time.Now()); b.CareOf != coa2 {
			t.Errorf("correspondent binding %+v", b)
		}
		// A refresh of the home registration for the same address
		// changes nothing.
		if o := l.ro.Away(coa2, time.Time{}, time.Now()); len(o.Send)+len(o.Events) != 0 {
			t.Errorf("Away again: %+v", o)
		}
		// Long after: the tokens are too old, the refresh tests both.
		clear(l.sent)
		at := l.tick()
		e := l.entry()
		if e.State != ROBound || !e.Direct {
			t.Errorf("after the refresh: %+v", e)
		}
		if diff := cmp.Diff(map[mip6.MHType]int{mip6.MHHomeTestInit: 1, mip6.MHCareofTestInit: 1, mip6.MHBindingUpdate: 1}, l.sent); diff != "" {
			t.Errorf("refresh at %v sent (-want +got):\n%s", at, diff)
		}
		if diff := cmp.Diff([]ROEventKind{ROTestsDone}, l.kinds()); diff != "" {
			t.Errorf("refresh events (-want +got):\n%s", diff)
		}
	})
}

func kindsOf(evs []ROEvent) []ROEventKind {
	var k []ROEventKind
	for _, e := range evs {
		k = append(k, e.Kind)
	}
	return k
}

func TestROHomeDeregisters(t *testing.T) {
	for _, tc := range []struct {
		name  string
		after time.Duration
		want  map[mip6.MHType]int
	}{
		{"fresh token", 10 * time.Second, map[mip6.MHType]int{mip6.MHBindingUpdate: 1}},
		// §5.2.5: a de-registration needs a home keygen token only;
		// at home the HoTI goes directly.
		{"old token", 300 * time.Second, map[mip6.MHType]int{mip6.MHHomeTestInit: 1, mip6.MHBindingUpdate: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := newROLab(t, nil)
				l.bind(coa1)
				l.kinds()
				time.Sleep(tc.after)
				l.ro.Timer(time.Now())
				clear(l.sent)
				o := l.ro.Home(time.Now())
				for _, p := range o.Send {
					if p.ViaTunnel || p.HomeAddress.IsValid() || p.Src != hoa {
						t.Errorf("at home %v goes from %v (tunnel %v, HAO %v)", p.Type, p.Src, p.ViaTunnel, p.HomeAddress)
					}
				}
				l.run(o)
				if diff := cmp.Diff(tc.want, l.sent); diff != "" {
					t.Errorf("sent (-want +got):\n%s", diff)
				}
				if _, ok := l.cn.Lookup(hoa, time.Now()); ok {
					t.Error("correspondent still holds the binding")
				}
				if diff := cmp.Diff([]ROEventKind{ROTunnel, RODeregistered}, l.kinds()); diff != "" {
					t.Errorf("events (-want +got):\n%s", diff)
				}
				if e := l.entry(); e.State != ROIdle || e.Direct || e.Expires != (time.Time{}) {
					t.Errorf("entry %+v", e)
				}
			})
		})
	}
}

func TestROParameterProblemAndBRR(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newROLab(t, nil)
		l.bind(coa1)
		l.kinds()
		// A Binding Refresh Request (§9.5.5, §11.7.4) from the
		// correspondent: refresh now.
		brr, err := l.cn.AppendBRR(nil, hoa)
		if err != nil {
			t.Fatal(err)
		}
		seq := l.entry().Sequence
		clear(l.sent)
		out, err := l.ro.HandleMH(fromWire(t, brr), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		l.run(out)
		if l.sent[mip6.MHBindingUpdate] != 1 || l.entry().Sequence != seq+1 || !l.entry().Direct {
			t.Errorf("BRR: sent %v, entry %+v", l.sent, l.entry())
		}
		l.kinds()
		// The correspondent's daemon stops: its kernel answers our
		// Home Address option with a Parameter Problem. It accepted
		// our Binding Updates before, so it does route optimization:
		// the ordinary back-off, not RORetryMax.
		stopped := time.Now()
		out = l.ro.ParameterProblem(cnAddr, stopped)
		if diff := cmp.Diff([]ROEventKind{ROTunnel, ROFailed}, kindsOf(out.Events)); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
		if e := l.entry(); e.State != ROBackoff || e.Direct || !e.RetryAt.Equal(stopped.Add(RORetryMin)) {
			t.Errorf("entry %+v, want a retry %v after the parameter problem", e, RORetryMin)
		}
		// Ignored for a correspondent we do not send to directly.
		if out := l.ro.ParameterProblem(cnAddr, time.Now()); len(out.Events) != 0 {
			t.Errorf("second parameter problem: %+v", out)
		}
		// The daemon starts again, with none of its old state: route
		// optimization is back at the retry.
		_, l.cn = newROPair(t, nil)
		at := l.tick()
		if e := l.entry(); !at.Equal(stopped.Add(RORetryMin)) || e.State != ROBound || !e.Direct || e.BoundCareOf != coa1 {
			t.Errorf("after the restart, at +%v: entry %+v", at.Sub(stopped), e)
		}
		// It stops again at once: the back-off starts over from
		// RORetryMin, since the binding was accepted again.
		l.kinds()
		l.run(l.ro.ParameterProblem(cnAddr, time.Now()))
		if e := l.entry(); !e.RetryAt.Equal(time.Now().Add(RORetryMin)) {
			t.Errorf("second stop: retry in %v, want %v", time.Until(e.RetryAt), RORetryMin)
		}
	})
}

// TestROParameterProblemNeverBound: a Parameter Problem about the Home
// Address option of our Binding Update, from a correspondent that never
// accepted one of ours (§11.3.6: it does not do Mobile IPv6), leaves it
// alone for RORetryMax, and a move does not retry it.
func TestROParameterProblemNeverBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newROLab(t, nil)
		l.add()
		// The tests succeed (a correspondent's kernel may answer
		// neither; here they do, to reach the Binding Update) but the
		// Binding Update with its Home Address option draws the
		// Parameter Problem instead of an acknowledgement.
		var bu ROOutput
		for _, pkt := range l.ro.Away(coa1, time.Time{}, time.Now()).Send {
			ans, ok := l.toCN(pkt)
			if !ok {
				t.Fatalf("no answer to %v", pkt.Type)
			}
			out, err := l.ro.HandleMH(ans, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			bu.add(out)
		}
		if len(bu.Send) != 1 || bu.Send[0].Type != mip6.MHBindingUpdate || l.entry().State != ROUpdating {
			t.Fatalf("after the tests: %+v, entry %+v", bu, l.entry())
		}
		out := l.ro.ParameterProblem(cnAddr, time.Now())
		if diff := cmp.Diff([]ROEventKind{ROFailed}, kindsOf(out.Events)); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
		if e := l.entry(); e.State != ROBackoff || e.Direct || !e.RetryAt.Equal(time.Now().Add(RORetryMax)) {
			t.Errorf("entry %+v, want a retry after RORetryMax", e)
		}
		if out := l.ro.Away(coa2, time.Time{}, time.Now()); len(out.Send) != 0 {
			t.Errorf("a move retried a correspondent without Mobile IPv6: %+v", out.Send)
		}
	})
}

// TestROExpiredNonce: a Binding Update whose home nonce the
// correspondent no longer accepts gets 136, and the mobile node tests the
// home address again and retries (§11.7.3, §5.2.7).
func TestROExpiredNonce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newROLab(t, nil)
		l.add()
		l.run(l.ro.Away(coa1, time.Time{}, time.Now()))
		l.kinds()
		// Make the tokens look fresh while the correspondent's nonces
		// have expired: a new correspondent (restart) knows none.
		l.cn, _ = correspondent.New(mustCN(t), correspondent.Options{Rand: rand.NewChaCha8([32]byte{11})})
		p := l.ro.peer(cnAddr)
		p.homeAt, p.careofAt = time.Now(), time.Now()
		p.e.State = ROBound
		clear(l.sent)
		l.run(l.ro.refreshForTest(time.Now()))
		if e := l.entry(); e.State != ROBound || !e.Direct {
			t.Errorf("entry %+v", e)
		}
		if diff := cmp.Diff(map[mip6.MHType]int{mip6.MHHomeTestInit: 1, mip6.MHCareofTestInit: 1, mip6.MHBindingUpdate: 2}, l.sent); diff != "" {
			t.Errorf("sent (-want +got):\n%s", diff)
		}
	})
}

// refreshForTest starts a refresh of the first correspondent, as a
// Binding Refresh Request would.
func (o *RouteOptimizer) refreshForTest(now time.Time) ROOutput {
	var out ROOutput
	o.start(&out, o.peers[0], now)
	return out
}

func TestRORemoveAndAdd(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newROLab(t, nil)
		if _, err := l.ro.Add(hoa, time.Now()); err == nil {
			t.Error("our own home address accepted as a correspondent")
		}
		if _, err := l.ro.Add(netip.MustParseAddr("fe80::1"), time.Now()); err == nil {
			t.Error("link-local correspondent accepted")
		}
		l.bind(coa1)
		l.kinds()
		l.run(l.ro.Remove(cnAddr, time.Now()))
		if diff := cmp.Diff([]ROEventKind{ROTunnel, RODeregistered}, l.kinds()); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
		if _, ok := l.ro.Entry(cnAddr); ok {
			t.Error("entry kept")
		}
		if _, ok := l.cn.Lookup(hoa, time.Now()); ok {
			t.Error("correspondent still holds the binding")
		}
	})
}

// roFuzzSetup returns an optimizer, deterministic from run to run, in
// one of three states with one correspondent: 0 testing (HoTI and CoTI
// out), 1 updating (the BU out), 2 bound; and the answers the
// correspondent gave on the way (HoT, CoT, BA), for seeds.
func roFuzzSetup(t testing.TB, stage int) (*RouteOptimizer, []Packet) {
	t.Helper()
	ro, cn := newROPair(t, nil)
	if _, err := ro.Add(cnAddr, t0); err != nil {
		t.Fatal(err)
	}
	send := ro.Away(coa1, time.Time{}, t0).Send
	var answers []Packet
	for s := 0; s < stage && len(send) > 0; s++ {
		var next []ROPacket
		for _, p := range send {
			ans, ok := exchange(t, cn, p, t0)
			if !ok {
				t.Fatalf("no answer to %v", p.Type)
			}
			answers = append(answers, ans)
			out, err := ro.HandleMH(ans, t0)
			if err != nil {
				t.Fatal(err)
			}
			next = append(next, out.Send...)
		}
		send = next
	}
	return ro, answers
}

// FuzzROHandleMH feeds any Mobility Header, as from the correspondent,
// to an optimizer in each state. Beyond never panicking it checks the
// invariants the data path relies on: the direct path is on only with a
// binding for the current care-of address that has not expired, and only
// a message that parses (mip6.ParseMessage) and re-marshals to the same
// octets (mip6.MarshalMessage: parse, marshal, parse) changes anything.
func FuzzROHandleMH(f *testing.F) {
	for stage := range 3 {
		_, answers := roFuzzSetup(f, stage)
		for _, a := range answers {
			f.Add(uint8(stage), a.RoutingHome.IsValid(), false, a.MH)
		}
	}
	f.Fuzz(func(t *testing.T, stage uint8, rh2, fix bool, mh []byte) {
		ro, _ := roFuzzSetup(t, int(stage%3))
		if fix && len(mh) >= 6 {
			// Let the fuzzer past the checksum (§6.1.1: from the
			// correspondent to the home address either way).
			mh = append([]byte(nil), mh...)
			mip6.SetMHChecksum(mh, cnAddr, hoa)
		}
		before := ro.Entries()
		pk := Packet{Src: cnAddr, Dst: coa1, MH: mh}
		if rh2 {
			pk.RoutingHome = hoa
		} else {
			pk.Dst = hoa
		}
		out, err := ro.HandleMH(pk, t0)
		after := ro.Entries()
		if err != nil {
			if len(out.Send)+len(out.Events) != 0 || !cmp.Equal(before, after, cmpOpts) {
				t.Fatalf("ignored message changed something: %v\n%+v\n%+v", err, before, after)
			}
			return
		}
		msg, perr := mip6.ParseMessage(mh)
		if perr != nil {
			t.Fatalf("accepted a message that does not parse: %v", perr)
		}
		re, merr := mip6.MarshalMessage(msg)
		if merr != nil {
			t.Fatalf("accepted message does not re-marshal: %v", merr)
		}
		msg2, perr := mip6.ParseMessage(re)
		if perr != nil || !cmp.Equal(msg, msg2, cmpOpts) || re[2] != mh[2] {
			t.Fatalf("parse, marshal, parse: %v\n%#v\n%#v", perr, msg, msg2)
		}
		for _, e := range after {
			if e.Direct && (e.BoundCareOf != coa1 || !e.Expires.After(t0)) {
				t.Fatalf("direct without a current binding: %+v", e)
			}
		}
		// The timers always move on: a timer that Timer leaves due
		// would spin the daemon's loop.
		for i := range 8 {
			if i == 4 {
				ro.Suspend("fuzz")
			}
			at, ok := ro.NextTimer()
			if !ok {
				break
			}
			ro.Timer(at)
			if next, ok := ro.NextTimer(); ok && !next.After(at) {
				t.Fatalf("timer at %v left due (next %v): %+v", at, next, ro.Entries())
			}
		}
	})
}

// TestROLifetimeCappedByHome: a correspondent binding never outlives the
// home registration (§11.7.2); the refresh, with tokens still fresh,
// needs no new test, only the Binding Update.
func TestROLifetimeCappedByHome(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newROLab(t, nil)
		l.add()
		start := time.Now()
		l.run(l.ro.Away(coa1, start.Add(102*time.Second), start))
		e := l.entry()
		if e.State != ROBound || e.Lifetime != 100*time.Second {
			t.Fatalf("entry %+v, want 100 s (the home registration's 102 s in 4 s units)", e)
		}
		if b, _ := l.cn.Lookup(hoa, time.Now()); b.Lifetime != 100*time.Second {
			t.Errorf("correspondent granted %v", b.Lifetime)
		}
		// The home registration is refreshed: nothing to send.
		if o := l.ro.Away(coa1, start.Add(300*time.Second), time.Now()); len(o.Send)+len(o.Events) != 0 {
			t.Errorf("home refresh: %+v", o)
		}
		clear(l.sent)
		at := l.tick()
		if want := start.Add(RefreshInterval(100*time.Second, 0)); !at.Equal(want) {
			t.Errorf("refresh at %v, want %v", at.Sub(start), want.Sub(start))
		}
		if diff := cmp.Diff(map[mip6.MHType]int{mip6.MHBindingUpdate: 1}, l.sent); diff != "" {
			t.Errorf("refresh sent (-want +got):\n%s", diff)
		}
		// 300 s from start less the 87.5 s gone: 212.5 s, 212 in units.
		if e := l.entry(); e.Lifetime != 212*time.Second || !e.Direct {
			t.Errorf("after the refresh: %+v", e)
		}
	})
}

// roScapy is run by /usr/bin/python3: for each hex IPv6 packet on stdin
// it prints what scapy's Mobile IPv6 dissector reads, and whether scapy
// computes the same Mobility Header checksum (with the Home Address
// option's address as source, as RFC 6275 §6.1.1 says) when it builds
// the packet again from what it read, octet for octet the same.
const roScapy = `
import sys, json
from scapy.layers.inet6 import *
out = []
for line in sys.stdin.read().split():
    p = IPv6(bytes.fromhex(line))
    d = {"src": p.src, "dst": p.dst}
    if HAO in p:
        d["hoa"] = p[HAO].hoa
    for cls, name in ((MIP6MH_HoTI, "hoti"), (MIP6MH_CoTI, "coti"), (MIP6MH_BU, "bu")):
        if cls in p:
            m = p[cls]
            d["type"], d["len"] = name, m.len
            if name == "bu":
                d["seq"], d["units"] = m.seq, m.mhtime
                d["a"], d["h"] = bool(m.flags.A), bool(m.flags.H)
                if MIP6OptNonceIndices in m:
                    d["hni"], d["coni"] = m[MIP6OptNonceIndices].hni, m[MIP6OptNonceIndices].coni
                if MIP6OptBindingAuthData in m:
                    d["bad_len"] = m[MIP6OptBindingAuthData].olen
            else:
                d["cookie"] = (m.cookie if isinstance(m.cookie, bytes) else m.cookie.to_bytes(8, "big")).hex()
            orig = m.cksum
            q = IPv6(bytes.fromhex(line))
            del q[cls].cksum
            if HAO in q:
                # scapy takes the home address into the pseudo-header
                # only from a header whose one option is the HAO, as
                # it builds them (autopad adds the PadN back).
                q[IPv6ExtHdrDestOpt].options = [q[HAO]]
            r = bytes(q)
            d["checksum_ok"] = IPv6(r)[cls].cksum == orig
            d["same_octets"] = r.hex() == line
    out.append(d)
print(json.dumps(out))
`

// TestROScapy has scapy's independent dissector read the HoTI, CoTI and
// Binding Update the optimizer builds.
func TestROScapy(t *testing.T) {
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("no python3")
	}
	ro, cn := newROPair(t, nil)
	if _, err := ro.Add(cnAddr, t0); err != nil {
		t.Fatal(err)
	}
	inits := ro.Away(coa1, time.Time{}, t0).Send
	var bu []ROPacket
	for _, p := range inits {
		ans, ok := exchange(t, cn, p, t0)
		if !ok {
			t.Fatal("no answer")
		}
		out, err := ro.HandleMH(ans, t0)
		if err != nil {
			t.Fatal(err)
		}
		bu = append(bu, out.Send...)
	}
	pkts := append(inits, bu...)
	var in strings.Builder
	for _, p := range pkts {
		wire, _ := mip6.AppendMobilityPacket(nil, p.Src, p.Dst, p.HomeAddress, netip.Addr{}, 64, p.MH)
		in.WriteString(hex.EncodeToString(wire) + "\n")
	}
	cmd := exec.Command("/usr/bin/python3", "-c", roScapy)
	cmd.Stdin = strings.NewReader(in.String())
	outb, err := cmd.Output()
	if err != nil {
		t.Skipf("scapy: %v", err)
	}
	var got []map[string]any
	if err := json.Unmarshal(outb, &got); err != nil {
		t.Fatalf("%v: %s", err, outb)
	}
	e := ro.Entries()[0]
	p := ro.peer(cnAddr)
	want := []map[string]any{
		{"src": hoa.String(), "dst": cnAddr.String(), "type": "hoti", "len": 1.0, "cookie": hex.EncodeToString(p.homeCookie[:]), "checksum_ok": true, "same_octets": true},
		{"src": coa1.String(), "dst": cnAddr.String(), "type": "coti", "len": 1.0, "cookie": hex.EncodeToString(p.careofCookie[:]), "checksum_ok": true, "same_octets": true},
		// §6.1.7: A set, H clear, 420 s in 4 s units; §6.2.6, §6.2.7:
		// the nonce indices of the HoT and CoT, a 12-octet
		// authenticator at 8n+2 right after them: 32 octets, Header
		// Len 3.
		{"src": coa1.String(), "dst": cnAddr.String(), "hoa": hoa.String(), "type": "bu", "len": 3.0, "seq": float64(e.Sequence),
			"units": 105.0, "a": true, "h": false, "hni": float64(p.homeIndex), "coni": float64(p.careofIndex), "bad_len": 12.0,
			"checksum_ok": true, "same_octets": true},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("scapy reads (-want +got):\n%s", diff)
	}
}

// TestROLongRun: half an hour bound to a correspondent that always
// answers: the binding is refreshed before every expiry (return
// routability again once the tokens are too old), the direct path never
// drops, and nothing fails.
func TestROLongRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newROLab(t, nil)
		l.bind(coa1)
		l.kinds()
		clear(l.sent)
		end := time.Now().Add(30 * time.Minute)
		ticks := 0
		for {
			if at, ok := l.ro.NextTimer(); !ok || at.After(end) {
				break
			}
			l.tick()
			ticks++
			if e := l.entry(); !e.Direct || e.State != ROBound || !e.Expires.After(time.Now()) {
				t.Fatalf("after %v: %+v", time.Until(end), e)
			}
		}
		// 1800 s / 367.5 s between refreshes: 4 refreshes, each a full
		// test (the tokens are over 200 s old) and a Binding Update.
		want := map[mip6.MHType]int{mip6.MHHomeTestInit: 4, mip6.MHCareofTestInit: 4, mip6.MHBindingUpdate: 4}
		if diff := cmp.Diff(want, l.sent); diff != "" {
			t.Errorf("sent in 30 min (-want +got):\n%s", diff)
		}
		for _, e := range l.events {
			if e.Kind != ROTestsDone {
				t.Errorf("event %+v", e)
			}
		}
		if ticks != 4 {
			t.Errorf("%d timer runs", ticks)
		}
	})
}

// roTraffic stands for the daemon's per-correspondent direct data path
// counters (ROConfig.DirectTraffic).
type roTraffic struct{ out, in uint64 }

func (tr *roTraffic) get(cn netip.Addr) (uint64, uint64) {
	if cn != cnAddr {
		return 0, 0
	}
	return tr.out, tr.in
}

// newROLiveLab is a roLab whose optimizer runs the direct-path liveness
// check on tr, bound at coa1, its events cleared.
func newROLiveLab(t *testing.T, tr *roTraffic) *roLab {
	t.Helper()
	l := newROLab(t, nil)
	ro, err := NewRouteOptimizer(ROConfig{HomeAddress: hoa, Rand: rand.NewChaCha8([32]byte{7}), DirectTraffic: tr.get})
	if err != nil {
		t.Fatal(err)
	}
	l.ro = ro
	l.bind(coa1)
	l.kinds()
	return l
}

// runFor advances the clock by d in steps of 100 ms, calling flow before
// each step (traffic) and running the optimizer's timer when it is due.
func (l *roLab) runFor(d time.Duration, flow func()) {
	l.t.Helper()
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if flow != nil {
			flow()
		}
		time.Sleep(100 * time.Millisecond)
		if at, ok := l.ro.NextTimer(); ok && !at.After(time.Now()) {
			l.run(l.ro.Timer(time.Now()))
		}
	}
}

// untilTunnel runs 10 s of a flow that only sends and returns how long
// after its start the correspondent went back to the tunnel (0: never).
func (l *roLab) untilTunnel(tr *roTraffic) time.Duration {
	l.t.Helper()
	start := time.Now()
	var fell time.Duration
	l.runFor(10*time.Second, func() {
		tr.out += 10
		if fell == 0 && !l.entry().Direct {
			fell = time.Since(start)
		}
	})
	return fell
}

// TestRODirectLiveness: a direct path that carries packets out and
// nothing back (a crashed correspondent daemon's leftover filter, a
// firewall) sends the traffic back to the tunnel within the window plus a
// poll, and return routability is retried on the ordinary back-off.
func TestRODirectLiveness(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := &roTraffic{}
		l := newROLiveLab(t, tr)
		both := func() { tr.out += 10; tr.in += 10 }
		// A two-way flow (TCP) for a minute: nothing happens.
		l.runFor(time.Minute, both)
		if k := l.kinds(); len(k) != 0 || !l.entry().Direct {
			t.Fatalf("two-way flow: events %v, entry %+v", k, l.entry())
		}
		// Idle for ten minutes (refreshes aside): nothing to expect
		// back, nothing happens.
		l.runFor(10*time.Minute, nil)
		if k := l.kinds(); slices.Contains(k, RODirectSilent) || !l.entry().Direct {
			t.Fatalf("idle: events %v, entry %+v", k, l.entry())
		}
		// After the idle time one packet goes out and its answer
		// comes 2 s later (within the window): no fall-back.
		tr.out++
		l.runFor(2*time.Second, nil)
		tr.in++
		l.runFor(5*time.Second, nil)
		if k := l.kinds(); len(k) != 0 {
			t.Fatalf("late answer within the window: events %v", k)
		}
		// The correspondent goes silent: the flow keeps sending
		// (TCP retransmits), nothing comes back.
		lost := time.Now()
		fell := l.untilTunnel(tr)
		if poll := ROLiveness / 6; fell < ROLiveness-poll || fell > ROLiveness+poll {
			t.Errorf("back to the tunnel %v after the path went silent, want %v ± a poll (%v)", fell, ROLiveness, poll)
		}
		evs := l.events
		if diff := cmp.Diff([]ROEventKind{RODirectSilent, ROTunnel, ROFailed}, l.kinds()); diff != "" {
			t.Errorf("events (-want +got):\n%s", diff)
		}
		if len(evs) > 0 && (evs[0].Lifetime != ROLiveness || evs[0].Correspondent != cnAddr) {
			t.Errorf("silent event %+v", evs[0])
		}
		e := l.entry()
		if e.State != ROBackoff || e.Direct || e.BoundCareOf.IsValid() || e.Reason != roSilentReason ||
			!e.RetryAt.Equal(lost.Add(fell+RORetryMin)) {
			t.Errorf("entry %+v", e)
		}
		// The path works again (the correspondent restarted): the
		// retry binds again, tests included (the old tokens may be
		// gone with the correspondent).
		_, l.cn = newROPair(t, nil)
		clear(l.sent)
		l.runFor(time.Until(e.RetryAt)+time.Second, both)
		if e := l.entry(); e.State != ROBound || !e.Direct {
			t.Errorf("after the retry: %+v", e)
		}
		if l.sent[mip6.MHHomeTestInit] != 1 || l.sent[mip6.MHCareofTestInit] != 1 || l.sent[mip6.MHBindingUpdate] != 1 {
			t.Errorf("retry sent %v, want both tests and a Binding Update", l.sent)
		}
		l.runFor(time.Minute, both)
		if k := l.kinds(); slices.Contains(k, RODirectSilent) {
			t.Errorf("two-way flow after the retry: events %v", k)
		}
	})
}

// TestRODirectLivenessMH: a Mobility Header the correspondent sends to
// the care-of address (here the Binding Acknowledgement of a refresh,
// type 2 routed) proves the direct path as a data packet does; a Home
// Test, through the tunnel, does not.
func TestRODirectLivenessMH(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := &roTraffic{}
		l := newROLiveLab(t, tr)
		l.runFor(2*time.Second, func() { tr.out += 10 })
		// A Binding Refresh Request: the refresh's Binding
		// Acknowledgement comes back to the care-of address.
		brr, err := l.cn.AppendBRR(nil, hoa)
		if err != nil {
			t.Fatal(err)
		}
		out, err := l.ro.HandleMH(fromWire(t, brr), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		l.run(out)
		if l.sent[mip6.MHBindingUpdate] != 2 {
			t.Fatalf("no refresh: sent %v", l.sent)
		}
		fell := l.untilTunnel(tr)
		// The refresh's Home Test came through the tunnel and its
		// Binding Acknowledgement directly: the window counts from
		// the acknowledgement.
		if poll := ROLiveness / 6; fell < ROLiveness-poll || fell > ROLiveness+poll {
			t.Errorf("back to the tunnel %v after the Binding Acknowledgement, want %v ± a poll", fell, ROLiveness)
		}
	})
}

// TestRODirectLivenessIgnoredMH: a Mobility Header to the care-of
// address that the mobile node ignores (here a Binding Error about
// another home address, as anyone could forge) does not count as an
// answer: the fall-back comes on time.
func TestRODirectLivenessIgnoredMH(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := &roTraffic{}
		l := newROLiveLab(t, tr)
		l.runFor(2*time.Second, func() { tr.out += 10 })
		mh, err := mip6.AppendMessage(nil, &mip6.BindingError{Status: mip6.BEUnknownHomeAddress, HomeAddress: netip.MustParseAddr("2001:db8:1::99")})
		if err != nil {
			t.Fatal(err)
		}
		mip6.SetMHChecksum(mh, cnAddr, coa1)
		if _, err := l.ro.HandleMH(Packet{Src: cnAddr, Dst: coa1, MH: mh}, time.Now()); err == nil {
			t.Fatal("Binding Error for another home address accepted")
		}
		// The window counts from the first unanswered packet, 2 s
		// before the ignored message; had that counted, it would
		// count from the message.
		if fell, want := l.untilTunnel(tr), ROLiveness-2*time.Second; fell == 0 || fell > want+ROLiveness/6 {
			t.Errorf("back to the tunnel %v after the ignored message, want %v ± a poll", fell, want)
		}
	})
}

// TestRODirectLivenessOneWay: a flow that only sends (no path answers
// it) trips the check, but ever more rarely: the window doubles up to
// ROLivenessMax while nothing comes back, so route optimization does not
// flap at the check's pace. Without the check (no DirectTraffic) nothing
// trips at all.
func TestRODirectLivenessOneWay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := &roTraffic{}
		l := newROLiveLab(t, tr)
		var silent []ROEvent
		l.runFor(30*time.Minute, func() {
			tr.out += 10
			for _, ev := range l.events {
				if ev.Kind == RODirectSilent {
					silent = append(silent, ev)
				}
			}
			l.events = nil
		})
		var wins []time.Duration
		for _, ev := range silent {
			wins = append(wins, ev.Lifetime)
		}
		want := []time.Duration{3 * time.Second, 6 * time.Second, 12 * time.Second, 24 * time.Second, 48 * time.Second, 96 * time.Second}
		if len(wins) < len(want) || !slices.Equal(wins[:len(want)], want) {
			t.Fatalf("windows %v, want them doubling from %v", wins, want)
		}
		for _, w := range wins[len(want):] {
			if w != ROLivenessMax {
				t.Errorf("windows %v, want at most %v", wins, ROLivenessMax)
				break
			}
		}
		// Each fall-back costs RORetryMin in the tunnel and a
		// return routability; at ROLivenessMax that is one per
		// 2.5 minutes or so, not one per window.
		if len(silent) > 17 {
			t.Errorf("%d fall-backs in 30 minutes of a one-way flow", len(silent))
		}
		t.Logf("one-way flow: %d fall-backs in 30 minutes, windows %v", len(silent), wins)

		// The same one-way flow without the check: the optimizer is
		// not given the data path's counters. The two runs differ in
		// DirectTraffic alone (newROLab's optimizer is newROLiveLab's
		// without it), so this is what shows that the check, and
		// nothing else such as the missing answers or the refreshes,
		// makes the fall-backs above. An optimizer has no other input
		// for data traffic: one that fell back here would do it on
		// time or Mobility Headers alone, which 5 minutes (a hundred
		// windows) would show.
		l2 := newROLab(t, nil)
		l2.bind(coa1)
		l2.kinds()
		l2.runFor(5*time.Minute, func() {})
		if k := l2.kinds(); slices.Contains(k, RODirectSilent) || !l2.entry().Direct {
			t.Errorf("without the check: events %v, direct %v", k, l2.entry().Direct)
		}
	})
}
