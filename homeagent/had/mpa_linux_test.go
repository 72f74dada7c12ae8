package had

import (
	"testing"
	"time"

	"github.com/gomip6/gomip6/conf"
	"github.com/gomip6/gomip6/mip6"
	"github.com/gomip6/gomip6/mobilenode"
)

// TestUnsolicitedMobilePrefix: a reload that changes the home prefix's
// lifetimes sends a registered mobile node away from home an unsolicited
// Mobile Prefix Advertisement (RFC 6275 §10.6.2) through a type 2 routing
// header; unanswered, it is retransmitted PREFIX_ADV_TIMEOUT (3 s) later
// and then after twice that; a Mobile Prefix Solicitation from the node
// (its answer, §11.4.3) is answered and stops the retransmissions.
func TestUnsolicitedMobilePrefix(t *testing.T) {
	l := newLab(t)
	cfg, reload := l.startReloadable()
	m := l.newMN(l.key, tHoA, "laptop@home.example", 1000)
	rx := l.listenCoA()
	must(t, m.exchange(m.reg.Moved(tCoA, time.Now()), mobilenode.Registered))

	type mpaRx struct {
		at  time.Time
		mpa *mip6.MobilePrefixAdvertisement
	}
	// next returns the next MPA to the node before deadline, ok false
	// when none came.
	buf := make([]byte, 2048)
	next := func(deadline time.Time) (mpaRx, bool) {
		rx.SetReadDeadline(deadline)
		for {
			n, _, err := rx.Read(buf)
			if err != nil {
				return mpaRx{}, false
			}
			lay, err := mip6.WalkIPv6(buf[:n])
			if err != nil || lay.Proto != mip6.ProtoICMPv6 || buf[lay.Offset] != mip6.ICMPMobilePrefixAdvert {
				continue
			}
			// §10.6.3: from the home agent to the care-of address, the
			// home address in a type 2 routing header, the checksum
			// over the home address.
			if lay.Src != tHA || lay.Dst != tCoA || lay.RH2Address != tHoA || lay.RH2SegmentsLeft != 1 {
				t.Errorf("MPA %v -> %v, routing header %v (%d left)", lay.Src, lay.Dst, lay.RH2Address, lay.RH2SegmentsLeft)
			}
			if !mip6.VerifyICMPChecksum(buf[lay.Offset:lay.End], lay.PseudoSrc, lay.PseudoDst) {
				t.Error("MPA checksum does not verify")
			}
			msg, err := mip6.ParseICMP(buf[lay.Offset:lay.End])
			mpa, ok := msg.(*mip6.MobilePrefixAdvertisement)
			if err != nil || !ok {
				t.Fatalf("MPA %+v, %v", msg, err)
			}
			return mpaRx{time.Now(), mpa}, true
		}
	}
	preferred := func(mpa *mip6.MobilePrefixAdvertisement) time.Duration {
		for _, o := range mpa.Options {
			if pi, ok := o.(*mip6.PrefixInformation); ok {
				return pi.PreferredLifetime
			}
		}
		t.Fatalf("MPA without a Prefix Information option: %+v", mpa)
		return 0
	}

	// Nothing unsolicited before a change: the periodic one is
	// MinMobPfxAdvInterval (600 s by default) away.
	if x, ok := next(time.Now().Add(1500 * time.Millisecond)); ok {
		t.Fatalf("unsolicited MPA without a change: %+v", x.mpa)
	}

	changed := *cfg
	changed.RouterAdvertisements.PrefixPreferredLifetime = conf.Duration(1234 * time.Second)
	reloaded := time.Now()
	reload <- &changed

	// The first at once (the housekeeping tick: within a second), then
	// 3 s and 6 s later (§10.6.2: the wait doubles), each with the new
	// lifetime. The tick makes each up to a second late; the bounds
	// leave room for a loaded machine.
	var got []mpaRx
	for i := range 3 {
		x, ok := next(reloaded.Add(20 * time.Second))
		if !ok {
			t.Fatalf("%d MPAs after the reload, want 3", i)
		}
		if p := preferred(x.mpa); p != 1234*time.Second {
			t.Errorf("MPA %d: preferred lifetime %v, want the new 1234s", i+1, p)
		}
		got = append(got, x)
	}
	if d := got[0].at.Sub(reloaded); d > 3*time.Second {
		t.Errorf("first unsolicited MPA %v after the reload, want within the 1 s tick", d)
	}
	for i, want := range []time.Duration{mip6.PrefixAdvTimeout, 2 * mip6.PrefixAdvTimeout} {
		if d := got[i+1].at.Sub(got[i].at); d < want-time.Second || d > want+2*time.Second {
			t.Errorf("retransmission %d %v after the one before, want %v (+ the 1 s tick)", i+1, d, want)
		}
	}
	if st := l.status(); st.Counters["mpa_unsolicited"] != 1 || st.Counters["mpa_retransmitted"] != 2 {
		t.Errorf("counters unsolicited %d, retransmitted %d; want 1 and 2", st.Counters["mpa_unsolicited"], st.Counters["mpa_retransmitted"])
	}

	// The node answers: its solicitation is answered with its
	// Identifier, and the third retransmission, due 12 s after the
	// second, never comes.
	m.sendMPS(tHoA, 4321)
	x, ok := next(time.Now().Add(3 * time.Second))
	if !ok || x.mpa.Identifier != 4321 {
		t.Fatalf("no answer to the solicitation (got %+v, %v)", x.mpa, ok)
	}
	quietUntil := got[2].at.Add(4*mip6.PrefixAdvTimeout + 2*time.Second)
	if x, ok := next(quietUntil); ok {
		t.Errorf("MPA %+v after the node answered", x.mpa)
	}
	st := l.status()
	if st.Counters["mpa_acknowledged"] != 1 || st.Counters["mpa_retransmitted"] != 2 || st.Counters["mpa_unanswered"] != 0 {
		t.Errorf("counters %v; want 1 acknowledged, 2 retransmitted, 0 unanswered", st.Counters)
	}
}
