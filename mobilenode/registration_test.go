package mobilenode

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gomip6/gomip6/binding"
	"github.com/gomip6/gomip6/homeagent"
	"github.com/gomip6/gomip6/mip6"
	"github.com/google/go-cmp/cmp"
)

// TestBUWire checks the Binding Update bytes against the layout of RFC
// 6275 §6.1.1 and §6.1.7 by offset, not through our codec.
func TestBUWire(t *testing.T) {
	p := BUParams{ID: nai, SA: SA{spi, key, binding.HMACSHA1_96}, HomeAddress: hoa, CareOf: coa1,
		HomeAgent: haAddr, Sequence: 0x1234, Lifetime: 301 * time.Second, LinkLocal: true, Timestamp: 0x0102030405060708}
	b, err := AppendBindingUpdate([]byte{0xee}, &p)
	if err != nil {
		t.Fatal(err)
	}
	if b[0] != 0xee {
		t.Fatal("prefix of the buffer changed")
	}
	mh := b[1:]
	if len(mh)%8 != 0 || int(mh[1]+1)*8 != len(mh) {
		t.Fatalf("length %d, Header Len %d", len(mh), mh[1])
	}
	if mh[0] != 59 || mh[2] != 5 || mh[3] != 0 {
		t.Errorf("Payload Proto %d MH Type %d Reserved %d, want 59 5 0", mh[0], mh[2], mh[3])
	}
	if got := binary.BigEndian.Uint16(mh[6:]); got != 0x1234 {
		t.Errorf("sequence %#x", got)
	}
	// A (0x8000), H (0x4000), L (0x2000), nothing else.
	if got := binary.BigEndian.Uint16(mh[8:]); got != 0xe000 {
		t.Errorf("flags %#04x, want 0xe000", got)
	}
	// 301 s rounds down to 75 units of 4 s.
	if got := binary.BigEndian.Uint16(mh[10:]); got != 75 {
		t.Errorf("lifetime units %d, want 75", got)
	}
	if !mip6.VerifyMHChecksum(mh, hoa, haAddr) {
		t.Error("checksum does not verify from the home address to the home agent")
	}
	off, n, err := mip6.AuthenticatorOffset(mh, mip6.OptAuthentication)
	if err != nil || n != 12 {
		t.Fatalf("authenticator %d %d %v", off, n, err)
	}
	// RFC 4285 §5: the option is the last thing but padding, its SPI
	// just before the data.
	if got := binary.BigEndian.Uint32(mh[off-4:]); got != spi || mh[off-5] != 1 || mh[off-7] != 9 {
		t.Errorf("auth option: type %d subtype %d spi %d", mh[off-7], mh[off-5], got)
	}
	if !binding.VerifyMNHAAuthenticator(binding.HMACSHA1_96, key, coa1, hoa, mh, off) {
		t.Error("MN-HA authenticator does not verify over (coa, hoa)")
	}
	msg, err := mip6.ParseMessage(mh)
	if err != nil {
		t.Fatal(err)
	}
	var gotID string
	var gotTS uint64
	for _, o := range msg.(*mip6.BindingUpdate).Options {
		switch o := o.(type) {
		case *mip6.MNIdentifier:
			gotID = string(o.Identifier)
		case *mip6.ReplayProtection:
			gotTS = o.Timestamp
		}
	}
	if gotID != nai || gotTS != 0x0102030405060708 {
		t.Errorf("identifier %q timestamp %#x", gotID, gotTS)
	}
}

// TestEndToEnd registers, refreshes, moves, returns home and survives a
// home agent restart against the real homeagent package.
func TestEndToEnd(t *testing.T) {
	l := newLab(t, mnConfig(t))
	r := l.mn

	// First registration from coa1: InitialBindackTimeoutFirstReg.
	o := r.Moved(coa1, l.now)
	if o.Send == nil || o.Send.Src != coa1 || o.Send.Dst != haAddr || o.Send.HomeAddress != hoa {
		t.Fatalf("first BU: %+v", o.Send)
	}
	if want := l.now.Add(1500 * time.Millisecond); !o.Timer.Equal(want) || r.State() != Registering {
		t.Fatalf("timer %v state %v, want %v registering", o.Timer, r.State(), want)
	}
	l.now = l.now.Add(20 * time.Millisecond)
	o = l.exchange(o.Send)
	if l.last.Change != homeagent.Created {
		t.Fatalf("home agent change %v", l.last.Change)
	}
	// The home agent grants 300 s and advises a refresh after 224 s
	// (three quarters, in whole 4 s units); the lifetime counts from
	// when the BU was sent (§11.7.3).
	want := []Event{{Kind: EventRegistered, CareOf: coa1, Lifetime: 300 * time.Second}}
	if diff := cmp.Diff(want, o.Events, cmpOpts); diff != "" {
		t.Fatalf("events (-want +got):\n%s", diff)
	}
	if r.State() != Registered || !o.Timer.Equal(t0.Add(224*time.Second)) {
		t.Fatalf("state %v timer %v", r.State(), o.Timer)
	}
	if e := r.Entry(); !e.Expires.Equal(t0.Add(300*time.Second)) || e.BoundCareOf != coa1 {
		t.Fatalf("entry %+v", e)
	}

	// Nothing happens before the refresh time.
	l.now = t0.Add(100 * time.Second)
	if o := r.Timer(l.now); o.Send != nil {
		t.Fatal("BU before the refresh time")
	}
	// Refresh: INITIAL_BINDACK_TIMEOUT, the binding exists.
	l.now = t0.Add(224 * time.Second)
	o = r.Timer(l.now)
	if o.Send == nil || r.State() != Refreshing || !o.Timer.Equal(l.now.Add(time.Second)) {
		t.Fatalf("refresh: send %v state %v timer %v", o.Send != nil, r.State(), o.Timer)
	}
	o = l.exchange(o.Send)
	if l.last.Change != homeagent.Refreshed || r.State() != Registered || kinds(o.Events)[0] != EventRegistered {
		t.Fatalf("refresh: change %v state %v events %v", l.last.Change, r.State(), o.Events)
	}

	// Move to coa2.
	l.now = l.now.Add(10 * time.Second)
	o = r.Moved(coa2, l.now)
	if o.Send == nil || o.Send.Src != coa2 || r.State() != Registering || !o.Timer.Equal(l.now.Add(time.Second)) {
		t.Fatalf("move: %+v state %v timer %v", o.Send, r.State(), o.Timer)
	}
	// The same address again changes nothing.
	if o2 := r.Moved(coa2, l.now); o2.Send != nil {
		t.Fatal("second Moved to the same address sent a BU")
	}
	o = l.exchange(o.Send)
	if b, ok := l.haBinding(); l.last.Change != homeagent.Moved || !ok || b.CareOf != coa2 {
		t.Fatalf("move: change %v binding %+v", l.last.Change, b)
	}
	if r.State() != Registered {
		t.Fatalf("state %v", r.State())
	}

	// Return home: de-registration from the home address, no HAO.
	l.now = l.now.Add(10 * time.Second)
	o = r.ReturnedHome(l.now)
	if o.Send == nil || o.Send.Src != hoa || o.Send.HomeAddress.IsValid() || o.Send.Lifetime != 0 || r.State() != Deregistering {
		t.Fatalf("return home: %+v state %v", o.Send, r.State())
	}
	o = l.exchange(o.Send)
	if _, ok := l.haBinding(); ok || l.last.Change != homeagent.Deleted {
		t.Fatalf("binding left at the home agent, change %v", l.last.Change)
	}
	if diff := cmp.Diff([]EventKind{EventDeregistered}, kinds(o.Events), cmpOpts); diff != "" || r.State() != AtHome || !o.Timer.IsZero() {
		t.Fatalf("dereg: %s state %v timer %v", diff, r.State(), o.Timer)
	}

	// Away again, then the home agent restarts and loses its state.
	l.now = l.now.Add(time.Minute)
	o = r.Moved(coa1, l.now)
	if !o.Timer.Equal(l.now.Add(1500 * time.Millisecond)) {
		t.Fatalf("no binding after going home: want the first-registration timeout, timer %v", o.Timer)
	}
	l.exchange(o.Send)
	l.restartHA()
	l.now = l.now.Add(5 * time.Second)
	// Our next data packet with a Home Address option draws a Binding
	// Error status 1 (§9.3.1): the home agent has no binding.
	o, err := r.HandleMH(haMH(t, &mip6.BindingError{Status: mip6.BEUnknownHomeAddress, HomeAddress: hoa}), l.now)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]EventKind{EventHALostBinding}, kinds(o.Events), cmpOpts); diff != "" || o.Send == nil ||
		!o.Timer.Equal(l.now.Add(1500*time.Millisecond)) {
		t.Fatalf("BE 1: %s send %v timer %v", diff, o.Send != nil, o.Timer)
	}
	o = l.exchange(o.Send)
	if b, ok := l.haBinding(); !ok || b.CareOf != coa1 || r.State() != Registered {
		t.Fatalf("re-registration: binding %+v state %v", b, r.State())
	}

	// Another restart; this time the home agent asks for a refresh.
	l.restartHA()
	l.now = l.now.Add(5 * time.Second)
	o, err = r.HandleMH(haMH(t, &mip6.BindingRefreshRequest{}), l.now)
	if err != nil || o.Send == nil || r.State() != Refreshing {
		t.Fatalf("BRR: err %v send %v state %v", err, o.Send != nil, r.State())
	}
	o = l.exchange(o.Send)
	if _, ok := l.haBinding(); !ok || l.last.Change != homeagent.Created || r.State() != Registered {
		t.Fatalf("after BRR: change %v state %v", l.last.Change, r.State())
	}
}

// TestWithDADWait runs the first registration through the home agent's
// DAD path and the failure of DAD.
func TestDADFailed(t *testing.T) {
	l := newLab(t, mnConfig(t))
	l.dad = false
	o := l.exchange(l.mn.Moved(coa1, l.now).Send)
	want := []Event{{Kind: EventDADFailed, Status: mip6.StatusDADFailed}}
	if diff := cmp.Diff(want, o.Events, cmpOpts); diff != "" || l.mn.State() != Failed || !o.Timer.IsZero() {
		t.Fatalf("(-want +got):\n%s state %v timer %v", diff, l.mn.State(), o.Timer)
	}
	// A move starts over.
	l.dad = true
	o = l.exchange(l.mn.Moved(coa2, l.now).Send)
	if l.mn.State() != Registered {
		t.Fatalf("state %v events %v", l.mn.State(), o.Events)
	}
}

// TestBackoff: no answer at all. §11.8: 1.5 s for a first registration,
// doubling to MAX_BINDACK_TIMEOUT (32 s), then every 32 s; each
// retransmission with a new sequence number and timestamp, and the last
// one still valid for the home agent.
func TestBackoff(t *testing.T) {
	l := newLab(t, mnConfig(t))
	r := l.mn
	o := r.Moved(coa1, l.now)
	var gaps []time.Duration
	seqs := []uint16{o.Send.Sequence}
	tss := []binding.Timestamp{r.Entry().Timestamp}
	last := l.now
	for range 7 {
		if !o.Timer.After(l.now) {
			t.Fatalf("timer %v not after now %v", o.Timer, l.now)
		}
		// Firing early does nothing.
		if early := r.Timer(o.Timer.Add(-time.Millisecond)); early.Send != nil {
			t.Fatal("retransmitted before the timer")
		}
		gaps = append(gaps, o.Timer.Sub(last))
		l.now, last = o.Timer, o.Timer
		o = r.Timer(l.now)
		if o.Send == nil {
			t.Fatal("no retransmission")
		}
		seqs = append(seqs, o.Send.Sequence)
		tss = append(tss, r.Entry().Timestamp)
	}
	wantGaps := []time.Duration{1500 * time.Millisecond, 3 * time.Second, 6 * time.Second, 12 * time.Second,
		24 * time.Second, 32 * time.Second, 32 * time.Second}
	if diff := cmp.Diff(wantGaps, gaps, cmpOpts); diff != "" {
		t.Errorf("retransmission gaps (-want +got):\n%s", diff)
	}
	for i := 1; i < len(seqs); i++ {
		if !mip6.SeqGreater(seqs[i], seqs[i-1]) || !tss[i].After(tss[i-1]) {
			t.Errorf("retransmission %d: sequence %d after %d, timestamp %d after %d", i, seqs[i], seqs[i-1], tss[i], tss[i-1])
		}
	}
	if r.State() != Registering {
		t.Fatalf("state %v", r.State())
	}
	l.exchange(o.Send)
	if r.State() != Registered {
		t.Fatalf("state %v after the last retransmission got through", r.State())
	}
}

// TestSequenceResync: a mobile node restarted with a sequence number
// behind the home agent's gets 135 with the home agent's number and
// retries at once with the next one (§11.7.3).
func TestSequenceResync(t *testing.T) {
	cfg := mnConfig(t)
	cfg.InitialSequence = 1000
	l := newLab(t, cfg)
	l.exchange(l.mn.Moved(coa1, l.now).Send)
	if b, _ := l.haBinding(); b.Sequence != 1000 {
		t.Fatalf("home agent sequence %d", b.Sequence)
	}
	// "Restart" the mobile node with sequence 7.
	cfg.InitialSequence = 7
	r, err := NewRegistration(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l.mn = r
	l.now = l.now.Add(10 * time.Second)
	o := l.exchange(r.Moved(coa2, l.now).Send)
	if l.last.Status != mip6.StatusSequenceOutOfWindow {
		t.Fatalf("home agent status %v", l.last.Status)
	}
	if diff := cmp.Diff([]EventKind{EventSequenceResync}, kinds(o.Events), cmpOpts); diff != "" || o.Send == nil || o.Send.Sequence != 1001 {
		t.Fatalf("135: %s send %+v", diff, o.Send)
	}
	o = l.exchange(o.Send)
	if b, ok := l.haBinding(); !ok || b.CareOf != coa2 || b.Sequence != 1001 || r.State() != Registered {
		t.Fatalf("after resync: %+v state %v events %v", b, r.State(), o.Events)
	}
}

// TestClockResync: the mobile node's clock is a minute slow or fast,
// beyond the home agent's 7 s skew; 145 carries the home agent's time and the retry
// carries a corrected timestamp (RFC 4285 §6).
func TestClockResync(t *testing.T) {
	for _, skew := range []time.Duration{time.Minute, -time.Minute} {
		t.Run(skew.String(), func(t *testing.T) { testClockResync(t, skew) })
	}
}

func testClockResync(t *testing.T, skew time.Duration) {
	l := newLab(t, mnConfig(t))
	l.skew = skew
	o := l.exchange(l.mn.Moved(coa1, l.now).Send)
	if l.last.Status != mip6.StatusMesgIDRequired {
		t.Fatalf("home agent status %v", l.last.Status)
	}
	if len(o.Events) != 1 || o.Events[0].Kind != EventClockResync || o.Events[0].Offset != skew || o.Send == nil {
		t.Fatalf("145: events %+v send %v", o.Events, o.Send != nil)
	}
	o = l.exchange(o.Send)
	if l.mn.State() != Registered {
		t.Fatalf("state %v events %v", l.mn.State(), o.Events)
	}
	// Later BUs keep the correction.
	l.now = l.now.Add(time.Second)
	o = l.exchange(l.mn.Moved(coa2, l.now).Send)
	if l.mn.State() != Registered || l.last.Change != homeagent.Moved {
		t.Fatalf("state %v change %v", l.mn.State(), l.last.Change)
	}
}

// TestResyncBounded: a home agent answering 135 forever gets
// MaxResyncs immediate retries, then only the back-off schedule.
func TestResyncBounded(t *testing.T) {
	r, err := NewRegistration(mnConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	o := r.Moved(coa1, t0)
	immediate := 0
	for o.Send != nil && immediate < 10 {
		e := r.Entry()
		ba := makeBA(t, baOpts{status: mip6.StatusSequenceOutOfWindow, seq: e.Sequence + 100, ts: e.Timestamp})
		o, err = r.HandleMH(Packet{Src: haAddr, Dst: coa1, RoutingHome: hoa, MH: ba}, t0)
		if err != nil {
			t.Fatal(err)
		}
		if o.Send != nil {
			immediate++
		}
	}
	if immediate != 3 || r.State() != Registering || !o.Timer.Equal(t0.Add(1500*time.Millisecond)) {
		t.Fatalf("immediate resends %d state %v timer %v", immediate, r.State(), o.Timer)
	}
}

// TestRejections: each status the home agent answers and what the
// mobile node makes of it, through the real home agent.
func TestRejections(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*Config)
		want  Event
		state State
	}{
		{"133 another node's home address", func(c *Config) { c.HomeAddress = netip.MustParseAddr("2001:db8:100::30") },
			Event{Kind: EventGaveUp, Status: mip6.StatusNotHomeAgentForThisMN}, Failed},
		{"132 not the home subnet", func(c *Config) { c.HomeAddress = netip.MustParseAddr("2001:db8:999::10") },
			Event{Kind: EventGaveUp, Status: mip6.StatusNotHomeSubnet}, Failed},
		{"144 identifier mismatch", func(c *Config) { c.ID = "mallory@home.example" },
			Event{Kind: EventAuthFailed, Status: mip6.StatusIDMismatch}, Failed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := mnConfig(t)
			tc.edit(&cfg)
			l := newLab(t, cfg)
			bu := l.mn.Moved(coa1, l.now).Send
			p, ok := l.deliver(bu)
			if !ok {
				t.Fatalf("no BA: %v %v", l.last.Verdict, l.last.Drop)
			}
			// The BA goes to the home address the BU named.
			o, err := l.mn.HandleMH(p, l.now)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]Event{tc.want}, o.Events, cmpOpts); diff != "" || l.mn.State() != tc.state {
				t.Fatalf("(-want +got):\n%s state %v", diff, l.mn.State())
			}
			if !o.Timer.IsZero() {
				t.Errorf("timer %v armed after giving up", o.Timer)
			}
		})
	}
}

// TestWrongKey: with a key the home agent does not share, its 146 cannot
// be authenticated, so the mobile node ignores it and keeps retrying
// (RFC 4285 §5.1: discard an unauthenticated BA).
func TestWrongKey(t *testing.T) {
	cfg := mnConfig(t)
	cfg.SA.Key = []byte("not-the-key")
	l := newLab(t, cfg)
	p, ok := l.deliver(l.mn.Moved(coa1, l.now).Send)
	if !ok || l.last.Status != mip6.StatusAuthFailed {
		t.Fatalf("home agent: %v %v", l.last.Verdict, l.last.Status)
	}
	before := l.mn.Entry()
	if _, err := l.mn.HandleMH(p, l.now); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("err %v", err)
	}
	if diff := cmp.Diff(before, l.mn.Entry(), cmpOpts); diff != "" {
		t.Fatalf("entry changed:\n%s", diff)
	}
}

// TestIgnoredBAs: BAs that do not answer the BU in flight change nothing.
func TestIgnoredBAs(t *testing.T) {
	r, err := NewRegistration(mnConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	r.Moved(coa1, t0)
	e := r.Entry()
	good := baOpts{seq: e.Sequence, ts: e.Timestamp, lifetime: 600 * time.Second}
	tests := []struct {
		name string
		p    func() Packet
		want error
	}{
		{"wrong sequence", func() Packet {
			o := good
			o.seq++
			return Packet{Src: haAddr, Dst: coa1, RoutingHome: hoa, MH: makeBA(t, o)}
		}, ErrUnexpected},
		{"timestamp not echoed", func() Packet {
			o := good
			o.ts++
			return Packet{Src: haAddr, Dst: coa1, RoutingHome: hoa, MH: makeBA(t, o)}
		}, ErrUnexpected},
		{"no timestamp", func() Packet {
			o := good
			o.noTS = true
			return Packet{Src: haAddr, Dst: coa1, RoutingHome: hoa, MH: makeBA(t, o)}
		}, ErrUnexpected},
		{"other SPI", func() Packet {
			o := good
			o.spi = 1001
			return Packet{Src: haAddr, Dst: coa1, RoutingHome: hoa, MH: makeBA(t, o)}
		}, ErrUnauthenticated},
		{"wrong key", func() Packet {
			o := good
			o.key = []byte("x")
			return Packet{Src: haAddr, Dst: coa1, RoutingHome: hoa, MH: makeBA(t, o)}
		}, ErrUnauthenticated},
		{"MAC over another care-of address", func() Packet {
			o := good
			o.coa = coa2
			return Packet{Src: haAddr, Dst: coa1, RoutingHome: hoa, MH: makeBA(t, o)}
		}, ErrUnauthenticated},
		{"no authentication", func() Packet {
			o := good
			o.noAuth = true
			return Packet{Src: haAddr, Dst: coa1, RoutingHome: hoa, MH: makeBA(t, o)}
		}, ErrUnauthenticated},
		{"not from the home agent", func() Packet {
			return Packet{Src: coa2, Dst: coa1, RoutingHome: hoa, MH: makeBA(t, good)}
		}, ErrUnexpected},
		{"bad checksum", func() Packet {
			b := makeBA(t, good)
			b[len(b)-1] ^= 1
			return Packet{Src: haAddr, Dst: coa1, RoutingHome: hoa, MH: b}
		}, ErrChecksum},
		{"truncated", func() Packet {
			return Packet{Src: haAddr, Dst: coa1, RoutingHome: hoa, MH: makeBA(t, good)[:10]}
		}, ErrChecksum},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := r.HandleMH(tc.p(), t0)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			if diff := cmp.Diff(e, r.Entry(), cmpOpts); diff != "" {
				t.Fatalf("entry changed:\n%s", diff)
			}
		})
	}
	// And the good one is accepted: a home agent granting more than we
	// asked gets believed only for what we asked (§11.7.3), counted from
	// when the BU went out; the refresh advice is honoured.
	good.refresh = 100 * time.Second
	o, err := r.HandleMH(Packet{Src: haAddr, Dst: coa1, RoutingHome: hoa, MH: makeBA(t, good)}, t0.Add(time.Second))
	if err != nil || r.State() != Registered || !o.Timer.Equal(t0.Add(100*time.Second)) {
		t.Fatalf("err %v state %v timer %v", err, r.State(), o.Timer)
	}
	if got := r.Entry(); got.Lifetime != 300*time.Second || !got.Expires.Equal(t0.Add(300*time.Second)) {
		t.Fatalf("lifetime %v expires %v", got.Lifetime, got.Expires)
	}
	// Replayed, it matches nothing in flight.
	if _, err := r.HandleMH(Packet{Src: haAddr, Dst: coa1, RoutingHome: hoa, MH: makeBA(t, good)}, t0.Add(2*time.Second)); !errors.Is(err, ErrUnexpected) {
		t.Fatalf("replayed BA: %v", err)
	}
}

// TestExpiry: refreshes that never get through let the binding expire;
// the node reports it and goes on registering.
func TestExpiry(t *testing.T) {
	l := newLab(t, mnConfig(t))
	r := l.mn
	l.exchange(r.Moved(coa1, l.now).Send)
	var expired bool
	for i := 0; i < 100 && !expired; i++ {
		at, ok := r.NextTimer()
		if !ok {
			t.Fatal("no timer")
		}
		l.now = at
		for _, e := range r.Timer(l.now).Events {
			expired = expired || e.Kind == EventExpired
		}
	}
	if !expired || r.State() != Registering || !l.now.Equal(t0.Add(300*time.Second)) {
		t.Fatalf("expired %v state %v at %v", expired, r.State(), l.now.Sub(t0))
	}
	if _, ok := r.NextTimer(); !ok {
		t.Fatal("retransmissions stopped after expiry")
	}
}

func TestLostConnectivityAndParamProblem(t *testing.T) {
	l := newLab(t, mnConfig(t))
	r := l.mn
	r.Moved(coa1, l.now)
	o := r.LostConnectivity(l.now)
	if r.State() != Unregistered || !o.Timer.IsZero() {
		t.Fatalf("state %v timer %v", r.State(), o.Timer)
	}
	o = r.ParameterProblem(l.now)
	if diff := cmp.Diff([]EventKind{EventParameterProblem}, kinds(o.Events), cmpOpts); diff != "" || r.State() != Unregistered {
		t.Fatalf("%s state %v", diff, r.State())
	}
	// Back on a network: register.
	l.exchange(r.Moved(coa1, l.now).Send)
	if r.State() != Registered {
		t.Fatal(r.State())
	}
	// Binding Error status 2 is only reported.
	o, err := r.HandleMH(haMH(t, &mip6.BindingError{Status: mip6.BEUnknownMHType, HomeAddress: hoa}), l.now)
	if err != nil || r.State() != Registered || len(o.Events) != 1 || o.Events[0].Kind != EventBindingError {
		t.Fatalf("BE 2: %v %v %v", err, r.State(), o.Events)
	}
	// Shutdown away from home: lifetime 0 from the care-of address.
	o = r.Deregister(l.now)
	if o.Send == nil || o.Send.Src != coa1 || o.Send.HomeAddress != hoa || o.Send.Lifetime != 0 {
		t.Fatalf("deregister: %+v", o.Send)
	}
	o = l.exchange(o.Send)
	if _, ok := l.haBinding(); ok || r.State() != Unregistered || o.Events[0].Kind != EventDeregistered {
		t.Fatalf("state %v events %v", r.State(), o.Events)
	}
}

func TestRefreshInterval(t *testing.T) {
	tests := []struct{ lifetime, advice, want time.Duration }{
		{300 * time.Second, 0, 300*time.Second - 37500*time.Millisecond},
		{300 * time.Second, 224 * time.Second, 224 * time.Second},
		{300 * time.Second, 299 * time.Second, 300*time.Second - 37500*time.Millisecond},
		{8 * time.Second, 0, 5 * time.Second},
		{4 * time.Second, 0, 2 * time.Second},
		{4 * time.Second, time.Second, time.Second},
	}
	for _, tc := range tests {
		if got := RefreshInterval(tc.lifetime, tc.advice); got != tc.want {
			t.Errorf("RefreshInterval(%v, %v) = %v, want %v", tc.lifetime, tc.advice, got, tc.want)
		}
	}
}

// TestStartAtHome: a node that starts on its home link cannot know what a
// previous run left at the home agent, so it de-registers; 133 (no
// binding, §10.3.2) ends that as well as an acceptance does.
func TestStartAtHome(t *testing.T) {
	t.Run("no binding", func(t *testing.T) {
		l := newLab(t, mnConfig(t))
		o := l.mn.ReturnedHome(l.now)
		if o.Send == nil || o.Send.Src != hoa || o.Send.HomeAddress.IsValid() {
			t.Fatalf("no de-registration: %+v", o.Send)
		}
		o = l.exchange(o.Send)
		want := []Event{{Kind: EventDeregistered, Status: mip6.StatusNotHomeAgentForThisMN}}
		if diff := cmp.Diff(want, o.Events, cmpOpts); diff != "" || l.mn.State() != AtHome {
			t.Fatalf("(-want +got):\n%s state %v", diff, l.mn.State())
		}
		// Known now: going away and back without registering sends nothing.
		l.mn.LostConnectivity(l.now)
		if o := l.mn.ReturnedHome(l.now); o.Send != nil {
			t.Fatal("de-registered again with nothing to delete")
		}
	})
	t.Run("binding left by a previous run", func(t *testing.T) {
		l := newLab(t, mnConfig(t))
		l.exchange(l.mn.Moved(coa1, l.now).Send)
		r, err := NewRegistration(mnConfig(t))
		if err != nil {
			t.Fatal(err)
		}
		l.mn = r
		l.now = l.now.Add(time.Second)
		// Same initial sequence number as the first run: 135, resync,
		// then the de-registration goes through.
		o := l.exchange(r.ReturnedHome(l.now).Send)
		if o.Send == nil || o.Events[0].Kind != EventSequenceResync {
			t.Fatalf("want a 135 resync first: %v", o.Events)
		}
		o = l.exchange(o.Send)
		if _, ok := l.haBinding(); ok || l.last.Change != homeagent.Deleted || r.State() != AtHome || o.Events[0].Kind != EventDeregistered {
			t.Fatalf("change %v state %v events %v", l.last.Change, r.State(), o.Events)
		}
	})
}

// TestMobileRouter: a mobile router's Binding Update carries the R flag and
// its mobile network prefixes (RFC 3963 explicit mode), and a home agent
// configured for them routes them to the binding; the de-registration
// keeps the R flag and drops the prefixes.
func TestMobileRouter(t *testing.T) {
	pfx := netip.MustParsePrefix("2001:db8:1000::/48")
	cfg := mnConfig(t)
	cfg.MobilePrefixes = []netip.Prefix{pfx}
	l := newLab(t, cfg)
	hc := haConfig(t)
	hc.MobileNodes[0].MobilePrefixes = []netip.Prefix{pfx}
	h, err := homeagent.New(hc, homeagent.Options{SkipDAD: true})
	if err != nil {
		t.Fatal(err)
	}
	l.ha = h
	o := l.mn.Moved(coa1, l.now)
	m, err := mip6.ParseMessage(o.Send.MH)
	if err != nil {
		t.Fatal(err)
	}
	bu := m.(*mip6.BindingUpdate)
	var got []netip.Prefix
	for _, opt := range bu.Options {
		if p, ok := opt.(*mip6.MobileNetworkPrefix); ok {
			got = append(got, p.Prefix)
		}
	}
	if bu.Flags&mip6.BUFlagR == 0 || len(got) != 1 || got[0] != pfx {
		t.Fatalf("BU flags %v prefixes %v", bu.Flags, got)
	}
	l.exchange(o.Send)
	b, ok := l.haBinding()
	if !ok || len(b.MobilePrefixes) != 1 || b.MobilePrefixes[0] != pfx || l.mn.State() != Registered {
		t.Fatalf("binding %+v ok %v state %v", b, ok, l.mn.State())
	}
	o = l.mn.Deregister(l.now)
	m, err = mip6.ParseMessage(o.Send.MH)
	if err != nil {
		t.Fatal(err)
	}
	bu = m.(*mip6.BindingUpdate)
	for _, opt := range bu.Options {
		if _, ok := opt.(*mip6.MobileNetworkPrefix); ok {
			t.Error("de-registration carries a prefix")
		}
	}
	if bu.Flags&mip6.BUFlagR == 0 || bu.Lifetime != 0 {
		t.Errorf("de-registration flags %v lifetime %v", bu.Flags, bu.Lifetime)
	}
	l.exchange(o.Send)
	if _, ok := l.haBinding(); ok {
		t.Error("binding left after de-registration")
	}
}

// wireLifetime reads the Lifetime field of a Binding Update off the wire
// (RFC 6275 §6.1.7: octets 10-11 of the Mobility Header, in units of 4 s),
// not through our codec.
func wireLifetime(t *testing.T, p *BUPacket) time.Duration {
	t.Helper()
	if p == nil {
		t.Fatal("no Binding Update")
	}
	if len(p.MH) < 12 || p.MH[2] != 5 {
		t.Fatalf("not a Binding Update: % x", p.MH)
	}
	return time.Duration(binary.BigEndian.Uint16(p.MH[10:])) * 4 * time.Second
}

// TestLifetimeBounds: §11.7.1, the lifetime of a Binding Update "MUST be
// no greater than the remaining valid lifetime of the home address and
// the care-of address"; mnConfig asks for 5 min.
func TestLifetimeBounds(t *testing.T) {
	tests := []struct {
		name     string
		hoa, coa time.Duration // remaining valid lifetime at t0; 0: unbounded
		want     time.Duration // on the wire; 0: no BU
		event    EventKind     // reported instead of a BU
	}{
		{name: "no bound", want: 300 * time.Second},
		{name: "home address above the configured lifetime", hoa: time.Hour, want: 300 * time.Second},
		{name: "care-of address above the configured lifetime", coa: 301 * time.Second, want: 300 * time.Second},
		{name: "home address below it, rounded down", hoa: 103 * time.Second, want: 100 * time.Second},
		{name: "care-of address below it", coa: 61 * time.Second, want: 60 * time.Second},
		{name: "the smaller of the two", hoa: 200 * time.Second, coa: 150 * time.Second, want: 148 * time.Second},
		{name: "exactly one unit", hoa: 4 * time.Second, want: 4 * time.Second},
		{name: "home address below one unit", hoa: 3999 * time.Millisecond, event: EventHomeAddressInvalid},
		{name: "home address expired", hoa: -time.Minute, event: EventHomeAddressInvalid},
		{name: "care-of address below one unit", coa: time.Second, event: EventCareOfInvalid},
		{name: "both below one unit: the home address is named", hoa: time.Second, coa: time.Second, event: EventHomeAddressInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLab(t, mnConfig(t))
			r := l.mn
			if tt.hoa != 0 {
				if o := r.SetHomeAddressValidUntil(t0.Add(tt.hoa), l.now); o.Send != nil || len(o.Events) != 0 {
					t.Fatalf("bound before any registration acted: %+v", o)
				}
			}
			if tt.coa != 0 {
				r.SetCareOfValidUntil(coa1, t0.Add(tt.coa), l.now)
				// A bound for another address is not ours.
				r.SetCareOfValidUntil(coa2, t0.Add(time.Millisecond), l.now)
				r.SetCareOfValidUntil(coa1, t0.Add(tt.coa), l.now)
			}
			o := r.Moved(coa1, l.now)
			if tt.event != 0 {
				want := []Event{{Kind: tt.event, CareOf: coa1}}
				if diff := cmp.Diff(want, o.Events, cmpOpts); diff != "" || o.Send != nil || r.State() != AddressInvalid || !o.Timer.IsZero() {
					t.Fatalf("events (-want +got):\n%s\nsend %v state %v timer %v", diff, o.Send != nil, r.State(), o.Timer)
				}
				return
			}
			if got := wireLifetime(t, o.Send); got != tt.want || o.Send.Lifetime != tt.want {
				t.Fatalf("lifetime on the wire %v, BUPacket %v, want %v", got, o.Send.Lifetime, tt.want)
			}
			o = l.exchange(o.Send)
			b, ok := l.haBinding()
			if !ok || r.State() != Registered || b.Lifetime != tt.want || r.Entry().Lifetime != tt.want {
				t.Fatalf("home agent binding %+v (%v), state %v, entry %+v", b, ok, r.State(), r.Entry())
			}
			for _, bound := range []time.Duration{tt.hoa, tt.coa} {
				if bound != 0 && (b.Expires.After(t0.Add(bound)) || r.Entry().Expires.After(t0.Add(bound))) {
					t.Errorf("binding until %v / %v outlives an address valid until %v", b.Expires, r.Entry().Expires, t0.Add(bound))
				}
			}
		})
	}
}

// TestHomeAddressInvalidThenExtended: no Binding Update with lifetime 0
// pretending to de-register; one event, not one per retry or move; the
// registration resumes when a later advertisement moves the bound.
func TestHomeAddressInvalidThenExtended(t *testing.T) {
	l := newLab(t, mnConfig(t))
	r := l.mn
	r.SetHomeAddressValidUntil(t0.Add(2*time.Second), l.now)
	o := r.Moved(coa1, l.now)
	if diff := cmp.Diff([]EventKind{EventHomeAddressInvalid}, kinds(o.Events), cmpOpts); diff != "" || o.Send != nil {
		t.Fatalf("%s send %v", diff, o.Send != nil)
	}
	// A move, the timer, a Refresh: still nothing, and no new event.
	l.now = l.now.Add(time.Second)
	for _, o := range []Output{r.Moved(coa2, l.now), r.Timer(l.now), r.Moved(coa2, l.now)} {
		if o.Send != nil || len(o.Events) != 0 || r.State() != AddressInvalid {
			t.Fatalf("while invalid: %+v state %v", o, r.State())
		}
	}
	if _, ok := r.Refresh(l.now); ok {
		t.Fatal("Refresh sent a Binding Update for an invalid home address")
	}
	// The same bound again is no news.
	if o := r.SetHomeAddressValidUntil(t0.Add(2*time.Second), l.now); o.Send != nil || len(o.Events) != 0 {
		t.Fatalf("same bound: %+v", o)
	}
	// Still too short: nothing.
	if o := r.SetHomeAddressValidUntil(l.now.Add(3*time.Second), l.now); o.Send != nil || len(o.Events) != 0 || r.State() != AddressInvalid {
		t.Fatalf("extended by less than a unit: %+v state %v", o, r.State())
	}
	// A Mobile Prefix Advertisement extends it: registering from the
	// latest care-of address at once, as a first registration.
	o = r.SetHomeAddressValidUntil(l.now.Add(time.Hour), l.now)
	if o.Send == nil || o.Send.Src != coa2 || wireLifetime(t, o.Send) != 300*time.Second || r.State() != Registering ||
		!o.Timer.Equal(l.now.Add(1500*time.Millisecond)) {
		t.Fatalf("extended: %+v state %v", o, r.State())
	}
	l.exchange(o.Send)
	if b, ok := l.haBinding(); !ok || b.CareOf != coa2 || r.State() != Registered {
		t.Fatalf("binding %+v state %v", b, r.State())
	}
	// Unbounded again (an infinite valid lifetime) changes nothing now.
	if o := r.SetHomeAddressValidUntil(time.Time{}, l.now); o.Send != nil || r.State() != Registered {
		t.Fatalf("unbounded: %+v state %v", o, r.State())
	}
}

// TestAddressInvalidExpiry: a binding that runs out while no Binding
// Update may go out (AddressInvalid) is reported expired, once.
func TestAddressInvalidExpiry(t *testing.T) {
	l := newLab(t, mnConfig(t))
	r := l.mn
	l.exchange(r.Moved(coa1, l.now).Send)
	if r.State() != Registered {
		t.Fatalf("state %v", r.State())
	}
	exp := r.Entry().Expires
	r.SetHomeAddressValidUntil(l.now.Add(time.Second), l.now)
	if r.State() != AddressInvalid {
		t.Fatalf("state %v after the bound fell below a unit", r.State())
	}
	o := r.Timer(exp)
	if diff := cmp.Diff([]EventKind{EventExpired}, kinds(o.Events), cmpOpts); diff != "" || o.Send != nil {
		t.Fatalf("at expiry (-want +got):\n%s send %v", diff, o.Send != nil)
	}
	if o := r.Timer(exp.Add(time.Minute)); len(o.Events) != 0 || o.Send != nil || r.State() != AddressInvalid {
		t.Fatalf("after expiry: %+v state %v", o, r.State())
	}
}

// TestLifetimeBoundRefresh: the refresh comes before the home address
// runs out and asks for what is left then; a bound extended meanwhile is
// used by the next Binding Update; without one, the bindings shrink and
// registering stops before the address is invalid, never outliving it.
func TestLifetimeBoundRefresh(t *testing.T) {
	t.Run("extended before the refresh", func(t *testing.T) {
		l := newLab(t, mnConfig(t))
		r := l.mn
		r.SetHomeAddressValidUntil(t0.Add(100*time.Second), l.now)
		o := l.exchange(r.Moved(coa1, l.now).Send)
		// The home agent grants 100 s and advises a refresh after 72 s
		// (three quarters, in whole units); the refresh must come
		// before the binding, and the home address, end.
		if r.Entry().Lifetime != 100*time.Second || !o.Timer.After(l.now) || !o.Timer.Before(t0.Add(100*time.Second)) {
			t.Fatalf("entry %+v timer %v", r.Entry(), o.Timer)
		}
		l.now = o.Timer
		r.SetHomeAddressValidUntil(l.now.Add(time.Hour), l.now)
		o = r.Timer(l.now)
		if o.Send == nil || r.State() != Refreshing || wireLifetime(t, o.Send) != 300*time.Second {
			t.Fatalf("refresh: %+v state %v", o.Send, r.State())
		}
	})
	t.Run("never extended", func(t *testing.T) {
		l := newLab(t, mnConfig(t))
		r := l.mn
		until := t0.Add(100 * time.Second)
		r.SetHomeAddressValidUntil(until, l.now)
		o := r.Moved(coa1, l.now)
		var sent []time.Duration
		for range 50 {
			if o.Send != nil {
				lt := wireLifetime(t, o.Send)
				if l.now.Add(lt).After(until) {
					t.Fatalf("at %v asked for %v, past %v", l.now.Sub(t0), lt, until.Sub(t0))
				}
				sent = append(sent, lt)
				o = l.exchange(o.Send)
				if b, ok := l.haBinding(); !ok || b.Expires.After(until) || r.Entry().Expires.After(until) {
					t.Fatalf("binding %+v entry %+v outlives %v", b, r.Entry(), until)
				}
			}
			if len(o.Events) > 0 && o.Events[len(o.Events)-1].Kind == EventHomeAddressInvalid {
				break
			}
			if o.Timer.IsZero() {
				t.Fatalf("no timer in state %v", r.State())
			}
			l.now = o.Timer
			o = r.Timer(l.now)
		}
		if r.State() != AddressInvalid || l.now.After(until) || until.Sub(l.now) >= mip6.LifetimeUnit {
			t.Fatalf("state %v at %v", r.State(), l.now.Sub(t0))
		}
		// Every refresh asked for less, each within what was left.
		if len(sent) < 3 {
			t.Errorf("lifetimes sent %v", sent)
		}
		for i := 1; i < len(sent); i++ {
			if sent[i] >= sent[i-1] {
				t.Errorf("lifetimes sent %v do not shrink", sent)
			}
		}
		// The binding runs out with the address (reported); nothing
		// more goes out.
		l.now = until
		if o, e := r.Timer(l.now), r.Entry(); o.Send != nil || !slices.Equal(kinds(o.Events), []EventKind{EventExpired}) || e.HasBinding(l.now) {
			t.Fatalf("after expiry: %+v entry %+v", o, r.Entry())
		}
		if _, ok := r.NextTimer(); ok {
			t.Error("a timer left with nothing to do")
		}
	})
}

// TestLifetimeBoundShortened: a bound moved earlier than the binding in
// place (or than the one in flight asks for) sends a Binding Update with
// the shorter lifetime at once; a retransmission asks for what is left
// when it goes.
func TestLifetimeBoundShortened(t *testing.T) {
	l := newLab(t, mnConfig(t))
	r := l.mn
	l.exchange(r.Moved(coa1, l.now).Send)
	l.now = l.now.Add(10 * time.Second)
	// Later than the binding's end: nothing to do.
	if o := r.SetHomeAddressValidUntil(t0.Add(time.Hour), l.now); o.Send != nil {
		t.Fatal("a bound beyond the binding sent a Binding Update")
	}
	// The care-of address's prefix now ends in 60.5 s.
	o := r.SetCareOfValidUntil(coa1, l.now.Add(60500*time.Millisecond), l.now)
	if o.Send == nil || r.State() != Refreshing || wireLifetime(t, o.Send) != 60*time.Second {
		t.Fatalf("shortened: %+v state %v", o.Send, r.State())
	}
	// Lost; the retransmission 1 s later has 59.5 s: 56 s.
	l.now = o.Timer
	o = r.Timer(l.now)
	if got := wireLifetime(t, o.Send); got != 56*time.Second {
		t.Fatalf("retransmission asked for %v", got)
	}
	// Shortened again while in flight: the next BU goes at once.
	o = r.SetHomeAddressValidUntil(l.now.Add(9*time.Second), l.now)
	if o.Send == nil || wireLifetime(t, o.Send) != 8*time.Second || r.State() != Refreshing {
		t.Fatalf("shortened in flight: %+v state %v", o.Send, r.State())
	}
	o = l.exchange(o.Send)
	if e := r.Entry(); r.State() != Registered || e.Lifetime != 8*time.Second {
		t.Fatalf("state %v entry %+v", r.State(), e)
	}
	// Withdrawn (valid lifetime 0, §11.4.3): the refresh that would
	// shorten the binding cannot go; the binding, granted within the
	// old bound, ends with it.
	o = r.SetHomeAddressValidUntil(l.now, l.now)
	if diff := cmp.Diff([]EventKind{EventHomeAddressInvalid}, kinds(o.Events), cmpOpts); diff != "" || o.Send != nil || r.State() != AddressInvalid {
		t.Fatalf("withdrawn: %s %+v state %v", diff, o.Send, r.State())
	}
	// At home the de-registration (lifetime 0) still goes.
	o = r.ReturnedHome(l.now)
	if o.Send == nil || o.Send.Lifetime != 0 || wireLifetime(t, o.Send) != 0 || r.State() != Deregistering {
		t.Fatalf("return home: %+v state %v", o.Send, r.State())
	}
}

// TestCareOfInvalidThenMoved: a care-of address about to go stops the
// registration until the node moves to another one, whose bound is its
// own.
func TestCareOfInvalidThenMoved(t *testing.T) {
	l := newLab(t, mnConfig(t))
	r := l.mn
	r.SetCareOfValidUntil(coa1, l.now.Add(2*time.Second), l.now)
	o := r.Moved(coa1, l.now)
	if diff := cmp.Diff([]EventKind{EventCareOfInvalid}, kinds(o.Events), cmpOpts); diff != "" || o.Send != nil {
		t.Fatalf("%s send %v", diff, o.Send != nil)
	}
	// The router's next RA extends the prefix: registering.
	o = r.SetCareOfValidUntil(coa1, l.now.Add(time.Hour), l.now)
	if o.Send == nil || wireLifetime(t, o.Send) != 300*time.Second {
		t.Fatalf("extended: %+v", o.Send)
	}
	l.exchange(o.Send)
	// Moving to coa2 with a bound of its own.
	l.now = l.now.Add(time.Minute)
	r.SetCareOfValidUntil(coa2, l.now.Add(41*time.Second), l.now)
	o = r.Moved(coa2, l.now)
	if o.Send == nil || o.Send.Src != coa2 || wireLifetime(t, o.Send) != 40*time.Second {
		t.Fatalf("move: %+v", o.Send)
	}
	if s := (EventHomeAddressInvalid).String() + " " + EventCareOfInvalid.String() + " " + AddressInvalid.String(); s != "home-address-invalid care-of-invalid address-invalid" {
		t.Errorf("names %q", s)
	}
}

// TestROLifetimeShortenedHome: §11.7.2 bounds correspondent registrations
// by the addresses' valid lifetimes too. The route optimizer never asks
// for more than what is left of the home binding, which is within them;
// when the home binding is refreshed shorter (a bound moved earlier), a
// correspondent binding that would outlive it is refreshed at once.
func TestROLifetimeShortenedHome(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newROLab(t, nil)
		l.add()
		start := time.Now()
		l.run(l.ro.Away(coa1, start.Add(300*time.Second), start))
		if e := l.entry(); e.State != ROBound || e.Lifetime != 300*time.Second {
			t.Fatalf("entry %+v", e)
		}
		// The home binding is refreshed within a home address valid
		// for 61 s more.
		clear(l.sent)
		l.run(l.ro.Away(coa1, start.Add(61*time.Second), start))
		if diff := cmp.Diff(map[mip6.MHType]int{mip6.MHBindingUpdate: 1}, l.sent); diff != "" {
			t.Errorf("sent (-want +got):\n%s", diff)
		}
		e := l.entry()
		if b, _ := l.cn.Lookup(hoa, time.Now()); e.State != ROBound || e.Lifetime != 60*time.Second || b.Lifetime != 60*time.Second {
			t.Fatalf("entry %+v, correspondent granted %v; want 60 s", e, b.Lifetime)
		}
		// Extended again: nothing to send until the refresh.
		if o := l.ro.Away(coa1, start.Add(time.Hour), start); len(o.Send)+len(o.Events) != 0 {
			t.Errorf("extended: %+v", o)
		}
	})
}
