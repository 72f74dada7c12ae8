package correspondent

import (
	"crypto/sha1"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gomip6/gomip6/binding"
	"github.com/gomip6/gomip6/conf"
	"github.com/gomip6/gomip6/mip6"
)

// TestReturnRoutability checks HoT and CoT against RFC 6275 computed
// independently: addresses (§9.4.3, §9.4.4: from the init's destination
// to its source), cookies copied, the nonce index, and the keygen tokens
// of §5.2.5 recomputed with crypto/hmac from the Kcn and nonce the seeded
// random source produced.
func TestReturnRoutability(t *testing.T) {
	c := newCN(t, nil, Options{})
	kcn, index, nextNonce := seedStream()
	nonce := nextNonce()
	m := newMN()

	r := c.HandleMH(nil, m.hoti(t), t0)
	l, msg := reply(t, r)
	if l.Src != cnAddr || l.Dst != hoa1 || l.RH2 != 0 || l.HAO != 0 {
		t.Errorf("HoT %v -> %v rh2 %d hao %d, want %v -> %v without headers", l.Src, l.Dst, l.RH2, l.HAO, cnAddr, hoa1)
	}
	want := &mip6.HomeTest{NonceIndex: index, Cookie: m.homeCookie, KeygenToken: rfcToken(kcn, hoa1, nonce, 0)}
	if diff := cmp.Diff(want, msg, addrCmp); diff != "" {
		t.Errorf("HoT (-want +got):\n%s", diff)
	}
	// §6.1.5: Home Test is 24 octets: 6 fixed, index 2, cookie 8, token 8.
	if n := l.End - l.Offset; n != 24 || len(r.Out) != 64 || testReplyLen != 64 {
		t.Errorf("HoT MH %d octets, packet %d; want 24, 64", n, len(r.Out))
	}

	l, msg = reply(t, c.HandleMH(nil, m.coti(t), t0.Add(29*time.Second)))
	if l.Src != cnAddr || l.Dst != coa1 {
		t.Errorf("CoT %v -> %v", l.Src, l.Dst)
	}
	wantC := &mip6.CareofTest{NonceIndex: index, Cookie: m.coaCookie, KeygenToken: rfcToken(kcn, coa1, nonce, 1)}
	if diff := cmp.Diff(wantC, msg, addrCmp); diff != "" {
		t.Errorf("CoT (-want +got):\n%s", diff)
	}

	// 30 s later a new nonce with the next index (binding.NonceRefresh).
	nonce2 := nextNonce()
	_, msg = reply(t, c.HandleMH(nil, m.hoti(t), t0.Add(30*time.Second)))
	want = &mip6.HomeTest{NonceIndex: index + 1, Cookie: m.homeCookie, KeygenToken: rfcToken(kcn, hoa1, nonce2, 0)}
	if diff := cmp.Diff(want, msg, addrCmp); diff != "" {
		t.Errorf("HoT after refresh (-want +got):\n%s", diff)
	}
	if c.Cache().Len() != 0 {
		t.Errorf("return routability left %d bindings", c.Cache().Len())
	}
}

// TestBindingUpdate runs return routability and a Binding Update built the
// mobile node's way (package binding) and checks the BA byte for byte
// where the RFC fixes it: to the care-of address with a type 2 routing
// header for the home address (§9.5.4, §6.4), status 0, the sequence
// number, the lifetime capped at MAX_RR_BINDING_LIFETIME, and a Binding
// Authorization Data authenticator equal to the RFC formula.
func TestBindingUpdate(t *testing.T) {
	c := newCN(t, nil, Options{})
	m := newMN()
	m.runRR(t, c, t0)
	kbm := sha1.Sum(append(m.homeToken[:], m.coaToken[:]...)) // §5.2.5

	p := m.bu(t, buOpts{lifetime: 600 * time.Second})
	// The mobile node side (package binding) matches the RFC formula.
	mh := p.MH[:(int(p.MH[1])+1)*8]
	off, _, _ := mip6.AuthenticatorOffset(mh, mip6.OptBindingAuthData)
	if got, want := [12]byte(mh[off:off+12]), rfcAuthenticator(kbm, coa1, cnAddr, mh, off); got != want {
		t.Fatalf("BU authenticator %x, RFC formula %x", got, want)
	}

	r := c.HandleMH(nil, p, t0.Add(time.Second))
	l, msg := reply(t, r)
	if l.Src != cnAddr || l.Dst != coa1 || l.RH2 == 0 || l.RH2Address != hoa1 || l.RH2SegmentsLeft != 1 || l.HAO != 0 {
		t.Errorf("BA layout %+v", l)
	}
	if l.PseudoDst != hoa1 {
		t.Errorf("BA checksum destination %v, want the home address", l.PseudoDst)
	}
	ba, ok := msg.(*mip6.BindingAck)
	if !ok {
		t.Fatalf("%T", msg)
	}
	if ba.Status != mip6.StatusAccepted || ba.Sequence != m.seq || ba.Lifetime != mip6.MaxRRBindingLifetime {
		t.Errorf("BA %+v", ba)
	}
	bamh := r.Out[l.Offset:l.End]
	boff, n, err := mip6.AuthenticatorOffset(bamh, mip6.OptBindingAuthData)
	if err != nil || n != 12 {
		t.Fatalf("BA without Binding Authorization Data: %v", err)
	}
	if got, want := [12]byte(bamh[boff:boff+12]), rfcAuthenticator(kbm, coa1, cnAddr, bamh, boff); got != want {
		t.Errorf("BA authenticator %x, RFC formula %x", got, want)
	}
	if len(r.Out) > p.size() {
		t.Errorf("BA packet %d octets, BU %d", len(r.Out), p.size())
	}
	want := binding.Entry{HomeAddress: hoa1, CareOf: coa1, Sequence: m.seq, Flags: mip6.BUFlagA,
		Lifetime: mip6.MaxRRBindingLifetime, Expires: t0.Add(time.Second + mip6.MaxRRBindingLifetime)}
	got, ok := c.Lookup(hoa1, t0.Add(time.Second))
	if diff := cmp.Diff(want, got, addrCmp); !ok || diff != "" {
		t.Errorf("binding (-want +got):\n%s", diff)
	}
	if r.Change != Created {
		t.Errorf("change %v", r.Change)
	}

	// Refresh with the same tokens (still valid), then move to a new
	// care-of address after a new CoTI/CoT.
	r = c.HandleMH(nil, m.bu(t, buOpts{lifetime: 60 * time.Second, noA: true}), t0.Add(2*time.Second))
	if r.Verdict != Silent || r.Change != Refreshed || r.Binding.Lifetime != 60*time.Second {
		t.Errorf("refresh without A: %v %v %+v", r.Verdict, r.Change, r.Binding)
	}
	m.coa = coa2
	_, msg = reply(t, c.HandleMH(nil, m.coti(t), t0.Add(3*time.Second)))
	m.coaToken = msg.(*mip6.CareofTest).KeygenToken
	m.coaIndex = msg.(*mip6.CareofTest).NonceIndex
	r = c.HandleMH(nil, m.bu(t, buOpts{}), t0.Add(4*time.Second))
	if l, _ := reply(t, r); l.Dst != coa2 || r.Change != Moved || r.Previous.CareOf != coa1 {
		t.Errorf("move: dst %v change %v previous %v", l.Dst, r.Change, r.Previous.CareOf)
	}

	// De-registration from the care-of address: Kbm from the home token
	// alone, the home address in the care-of position (§5.2.5, §6.2.7).
	p = m.bu(t, buOpts{dereg: true})
	r = c.HandleMH(nil, p, t0.Add(5*time.Second))
	l, msg = reply(t, r)
	if r.Change != Deleted || msg.(*mip6.BindingAck).Status != 0 || l.Dst != coa2 || l.RH2Address != hoa1 {
		t.Errorf("deregistration: change %v, %+v, dst %v", r.Change, msg, l.Dst)
	}
	bamh = r.Out[l.Offset:l.End]
	boff, _, _ = mip6.AuthenticatorOffset(bamh, mip6.OptBindingAuthData)
	if got, want := [12]byte(bamh[boff:boff+12]), rfcAuthenticator(sha1.Sum(m.homeToken[:]), hoa1, cnAddr, bamh, boff); got != want {
		t.Errorf("deregistration BA authenticator %x, RFC formula %x", got, want)
	}
	if _, ok := c.Lookup(hoa1, t0.Add(5*time.Second)); ok {
		t.Error("binding survived its de-registration")
	}
}

// TestRejections covers every way a message is refused.
func TestRejections(t *testing.T) {
	type want struct {
		verdict Verdict
		drop    DropReason
		sent    mip6.MHType
		status  mip6.Status
		be      mip6.BEStatus
		dst     netip.Addr
	}
	dropped := func(d DropReason) want { return want{verdict: Drop, drop: d} }
	baTo := func(s mip6.Status, dst netip.Addr) want {
		return want{verdict: Reply, sent: mip6.MHBindingAck, status: s, dst: dst}
	}
	bogus := uint16(0x1234)
	tests := []struct {
		name  string
		mod   func(*conf.CN)
		opts  Options
		setup func(t *testing.T, c *Correspondent, m *mn) // before the packet
		pkt   func(t *testing.T, m *mn) Packet
		at    time.Duration
		want  want
	}{
		{name: "checksum", pkt: func(t *testing.T, m *mn) Packet {
			p := m.hoti(t)
			p.MH[4] ^= 0xff
			return p
		}, want: dropped(DropChecksum)},
		{name: "routing header", pkt: func(t *testing.T, m *mn) Packet {
			p := m.hoti(t)
			p.RoutingHeader = true
			return p
		}, want: dropped(DropRoutingHeader)},
		{name: "malformed", pkt: func(t *testing.T, m *mn) Packet {
			p := m.hoti(t)
			p.MH[0] = 6 // Payload Proto must be 59
			mip6.SetMHChecksum(p.MH, p.Src, p.Dst)
			return p
		}, want: dropped(DropMalformed)},
		{name: "disabled HoTI", mod: func(c *conf.CN) { c.RouteOptimization = false },
			pkt: func(t *testing.T, m *mn) Packet { return m.hoti(t) }, want: dropped(DropDisabled)},
		{name: "disabled BU", mod: func(c *conf.CN) { c.RouteOptimization = false },
			pkt: func(t *testing.T, m *mn) Packet { return m.bu(t, buOpts{}) }, want: dropped(DropDisabled)},
		{name: "HoTI with HAO and no binding", pkt: func(t *testing.T, m *mn) Packet {
			p := Packet{Src: coa1, Dst: cnAddr, HomeAddress: hoa1, MH: mhBytes(t, &mip6.HomeTestInit{}, hoa1, cnAddr)}
			p.Len = 40 + 24 + 24 // with padding options, big enough for a BE
			return p
		}, want: want{verdict: Reply, sent: mip6.MHBindingError, be: mip6.BEUnknownHomeAddress, dst: coa1}},
		{name: "HoTI with HAO and a binding", setup: bind,
			pkt: func(t *testing.T, m *mn) Packet {
				return Packet{Src: coa1, Dst: cnAddr, HomeAddress: hoa1, MH: mhBytes(t, &mip6.HomeTestInit{}, hoa1, cnAddr)}
			}, want: dropped(DropNotForUs)},
		{name: "HoT is not ours", pkt: func(t *testing.T, m *mn) Packet {
			return Packet{Src: hoa1, Dst: cnAddr, MH: mhBytes(t, &mip6.HomeTest{}, hoa1, cnAddr)}
		}, want: dropped(DropNotForUs)},
		{name: "HoTI from link-local", pkt: func(t *testing.T, m *mn) Packet {
			a := netip.MustParseAddr("fe80::1")
			return Packet{Src: a, Dst: cnAddr, MH: mhBytes(t, &mip6.HomeTestInit{}, a, cnAddr)}
		}, want: dropped(DropBadAddress)},
		{name: "unknown MH type, small", pkt: func(t *testing.T, m *mn) Packet {
			return Packet{Src: coa1, Dst: cnAddr, MH: mhBytes(t, &mip6.RawMessage{Type: 42, Data: make([]byte, 2)}, coa1, cnAddr)}
		}, want: dropped(DropAmplification)},
		{name: "unknown MH type", pkt: func(t *testing.T, m *mn) Packet {
			return Packet{Src: coa1, Dst: cnAddr, MH: mhBytes(t, &mip6.RawMessage{Type: 42, Data: make([]byte, 18)}, coa1, cnAddr)}
		}, want: want{verdict: Reply, sent: mip6.MHBindingError, be: mip6.BEUnknownMHType, dst: coa1}},
		{name: "no nonce indices", setup: rr, pkt: func(t *testing.T, m *mn) Packet { return m.bu(t, buOpts{noNonces: true}) },
			want: dropped(DropNoAuthorization)},
		{name: "no authorization data", setup: rr, pkt: func(t *testing.T, m *mn) Packet { return m.bu(t, buOpts{noAuth: true}) },
			want: dropped(DropNoAuthorization)},
		{name: "wrong authenticator", setup: rr, pkt: func(t *testing.T, m *mn) Packet { return m.bu(t, buOpts{badMAC: true}) },
			want: dropped(DropAuthFailed)},
		{name: "wrong authenticator with alternate care-of", setup: rr,
			pkt:  func(t *testing.T, m *mn) Packet { return m.bu(t, buOpts{badMAC: true, altCoA: victim}) },
			want: dropped(DropAuthFailed)},
		{name: "tokens of another home address", setup: rr, pkt: func(t *testing.T, m *mn) Packet {
			m.hoa = netip.MustParseAddr("2001:db8:100::11")
			return m.bu(t, buOpts{})
		}, want: dropped(DropAuthFailed)},
		{name: "home nonce unknown", setup: rr, pkt: func(t *testing.T, m *mn) Packet { return m.bu(t, buOpts{homeIndex: &bogus}) },
			want: baTo(mip6.StatusExpiredHomeNonceIndex, coa1)},
		{name: "care-of nonce unknown", setup: rr, pkt: func(t *testing.T, m *mn) Packet { return m.bu(t, buOpts{coaIndex: &bogus}) },
			want: baTo(mip6.StatusExpiredCareofNonceIndex, coa1)},
		{name: "both nonces unknown, no A flag", setup: rr,
			pkt: func(t *testing.T, m *mn) Packet {
				return m.bu(t, buOpts{homeIndex: &bogus, coaIndex: &bogus, noA: true})
			},
			want: baTo(mip6.StatusExpiredNonces, coa1)},
		{name: "nonces expired", setup: rr, at: mip6.MaxNonceLifetime,
			pkt:  func(t *testing.T, m *mn) Packet { return m.bu(t, buOpts{}) },
			want: baTo(mip6.StatusExpiredNonces, coa1)},
		{name: "nonce answer goes to the source, not the alternate care-of", setup: rr,
			pkt:  func(t *testing.T, m *mn) Packet { return m.bu(t, buOpts{homeIndex: &bogus, altCoA: victim}) },
			want: baTo(mip6.StatusExpiredHomeNonceIndex, coa1)},
		{name: "de-registration ignores the care-of nonce", setup: rr,
			pkt:  func(t *testing.T, m *mn) Packet { return m.bu(t, buOpts{dereg: true, coaIndex: &bogus}) },
			want: baTo(mip6.StatusAccepted, coa1)},
		{name: "alternate care-of address, authenticated", setup: func(t *testing.T, c *Correspondent, m *mn) {
			m.coa = coa2 // CoTI from the alternate address: its token
			m.runRR(t, c, t0)
			m.coa = coa1
		}, pkt: func(t *testing.T, m *mn) Packet { return m.bu(t, buOpts{altCoA: coa2}) },
			want: baTo(mip6.StatusAccepted, coa2)},
		{name: "alternate care-of address without its token", setup: rr,
			pkt:  func(t *testing.T, m *mn) Packet { return m.bu(t, buOpts{altCoA: coa2}) },
			want: dropped(DropAuthFailed)},
		{name: "home registration", setup: rr, pkt: func(t *testing.T, m *mn) Packet { return m.bu(t, buOpts{flags: mip6.BUFlagH}) },
			want: baTo(mip6.StatusHomeRegistrationNotSupported, coa1)},
		{name: "sequence replay", setup: bind, pkt: func(t *testing.T, m *mn) Packet {
			m.seq -= 2
			return m.bu(t, buOpts{})
		}, want: baTo(mip6.StatusSequenceOutOfWindow, coa1)},
		{name: "replay after de-registration", setup: func(t *testing.T, c *Correspondent, m *mn) {
			bind(t, c, m)
			reply(t, c.HandleMH(nil, m.bu(t, buOpts{dereg: true}), t0))
			m.seq -= 2
		}, pkt: func(t *testing.T, m *mn) Packet { return m.bu(t, buOpts{}) }, want: baTo(mip6.StatusSequenceOutOfWindow, coa1)},
		{name: "replay after expiry", setup: func(t *testing.T, c *Correspondent, m *mn) {
			rr(t, c, m)
			reply(t, c.HandleMH(nil, m.bu(t, buOpts{lifetime: 4 * time.Second}), t0))
			c.Tick(t0.Add(5 * time.Second))
			m.seq--
		}, at: 6 * time.Second, pkt: func(t *testing.T, m *mn) Packet { return m.bu(t, buOpts{lifetime: 4 * time.Second}) },
			want: baTo(mip6.StatusSequenceOutOfWindow, coa1)},
		{name: "home address link-local", setup: rr, pkt: func(t *testing.T, m *mn) Packet {
			m.hoa = netip.MustParseAddr("fe80::10")
			return m.bu(t, buOpts{})
		}, want: dropped(DropBadAddress)},
		{name: "home address is ours", setup: rr, pkt: func(t *testing.T, m *mn) Packet {
			m.hoa = cnAddr
			return m.bu(t, buOpts{})
		}, want: dropped(DropBadAddress)},
		{name: "care-of multicast", setup: rr, pkt: func(t *testing.T, m *mn) Packet {
			return m.bu(t, buOpts{src: netip.MustParseAddr("ff0e::1")})
		}, want: dropped(DropBadAddress)},
		{name: "rate limited", mod: func(c *conf.CN) { c.RateLimit = conf.RateLimit{Rate: 1, Burst: 1} },
			setup: rr, pkt: func(t *testing.T, m *mn) Packet { return m.hoti(t) }, want: dropped(DropRateLimited)},
		{name: "reply budget", opts: Options{ReplyRate: 1, ReplyBurst: 2},
			setup: rr, pkt: func(t *testing.T, m *mn) Packet { return m.hoti(t) }, want: dropped(DropReplyLimited)},
		{name: "strict size", opts: Options{StrictSize: true},
			pkt: func(t *testing.T, m *mn) Packet { return m.hoti(t) }, want: dropped(DropAmplification)},
		{name: "strict size, padded init", opts: Options{StrictSize: true},
			pkt: func(t *testing.T, m *mn) Packet {
				return Packet{Src: hoa1, Dst: cnAddr, MH: mhBytes(t, &mip6.HomeTestInit{Options: []mip6.MobilityOption{&mip6.RawOption{Type: 100, Data: make([]byte, 6)}}}, hoa1, cnAddr)}
			}, want: want{verdict: Reply, sent: mip6.MHHomeTest, dst: hoa1}},
		{name: "binding error budget", opts: Options{BindingErrorRate: 1, BindingErrorBurst: 1},
			setup: func(t *testing.T, c *Correspondent, m *mn) {
				p := Packet{Src: coa1, Dst: cnAddr, HomeAddress: hoa1, Len: 200}
				if r := c.BindingError(nil, mip6.BEUnknownHomeAddress, p, t0); r.Verdict != Reply {
					t.Fatalf("first BE: %v", r.Drop)
				}
			}, pkt: func(t *testing.T, m *mn) Packet {
				p := Packet{Src: coa2, Dst: cnAddr, MH: mhBytes(t, &mip6.RawMessage{Type: 42, Data: make([]byte, 18)}, coa2, cnAddr)}
				return p
			}, want: dropped(DropBindingErrorLimited)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCN(t, tt.mod, tt.opts)
			m := newMN()
			if tt.setup != nil {
				tt.setup(t, c, m)
			}
			before := c.Cache().Len()
			p := tt.pkt(t, m)
			r := c.HandleMH(nil, p, t0.Add(tt.at))
			got := want{verdict: r.Verdict, drop: r.Drop, dst: r.Dst}
			if r.Verdict == Reply {
				l, msg := reply(t, r)
				got.sent = msg.MHType()
				if ba, ok := msg.(*mip6.BindingAck); ok {
					got.status = ba.Status
					if l.RH2Address != m.hoa && l.RH2 != 0 {
						t.Errorf("BA routing header %v, want %v", l.RH2Address, m.hoa)
					}
				}
				if be, ok := msg.(*mip6.BindingError); ok {
					got.be = be.Status
				}
				if len(r.Out) > p.size() && r.Sent != mip6.MHHomeTest && r.Sent != mip6.MHCareofTest {
					t.Errorf("answer %d octets for a request of %d", len(r.Out), p.size())
				}
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(want{}), addrCmp); diff != "" {
				t.Errorf("result (-want +got):\n%s (err %v)", diff, r.Err)
			}
			if r.Verdict == Drop && c.Cache().Len() != before {
				t.Errorf("a dropped message changed the cache")
			}
			if r.Status != 0 && r.Change != NoChange {
				t.Errorf("refused with %v but changed %v", r.Status, r.Change)
			}
		})
	}
}

// rr runs return routability (at t0) in a table test's setup.
func rr(t *testing.T, c *Correspondent, m *mn) {
	t.Helper()
	// The HoTI spends the home address's only token of a tight rate
	// limit: "rate limited" sends a second one.
	m.runRR(t, c, t0)
}

// bind runs return routability and a Binding Update (at t0).
func bind(t *testing.T, c *Correspondent, m *mn) {
	t.Helper()
	m.runRR(t, c, t0)
	if r := c.HandleMH(nil, m.bu(t, buOpts{}), t0); r.Change != Created {
		t.Fatalf("bind: %v %v %v", r.Verdict, r.Drop, r.Status)
	}
}

// TestExpiryAndRefresh: expiry through Tick, the Binding Refresh Request
// once per registration, and the tombstone's life.
func TestExpiryAndRefresh(t *testing.T) {
	c := newCN(t, func(cfg *conf.CN) { cfg.MaxBindingLifetime = conf.Duration(80 * time.Second) }, Options{})
	m := newMN()
	bind(t, c, m) // lifetime 300 s asked, 80 s granted
	if e, _ := c.Lookup(hoa1, t0); e.Lifetime != 80*time.Second {
		t.Fatalf("lifetime %v, want the configured 80s", e.Lifetime)
	}
	if next, ok := c.NextRefresh(); !ok || !next.Equal(t0.Add(70*time.Second)) {
		t.Errorf("next refresh %v %v, want at 70 s", next, ok)
	}
	if due := c.RefreshDue(t0.Add(69 * time.Second)); len(due) != 0 {
		t.Errorf("refresh due at 69 s: %v", due)
	}
	due := c.RefreshDue(t0.Add(70 * time.Second))
	if len(due) != 1 || due[0].HomeAddress != hoa1 {
		t.Fatalf("refresh at 70 s (1/8 of 80 s left): %v", due)
	}
	if due := c.RefreshDue(t0.Add(71 * time.Second)); len(due) != 0 {
		t.Errorf("asked twice: %v", due)
	}
	if next, ok := c.NextRefresh(); ok {
		t.Errorf("next refresh %v after the only one was asked", next)
	}
	pkt, err := c.AppendBRR(nil, hoa1)
	if err != nil {
		t.Fatal(err)
	}
	l, err := mip6.WalkIPv6(pkt)
	if err != nil || l.Src != cnAddr || l.Dst != hoa1 || l.RH2 != 0 {
		t.Fatalf("BRR %v %+v", err, l)
	}
	if msg, err := mip6.ParseMessage(pkt[l.Offset:l.End]); err != nil || msg.MHType() != mip6.MHBindingRefreshRequest ||
		!mip6.VerifyMHChecksum(pkt[l.Offset:l.End], cnAddr, hoa1) {
		t.Errorf("BRR %v %v", msg, err)
	}
	if got := c.Tick(t0.Add(79 * time.Second)); len(got) != 0 {
		t.Errorf("expired early: %v", got)
	}
	if got := c.Tick(t0.Add(80 * time.Second)); len(got) != 1 || got[0].HomeAddress != hoa1 {
		t.Errorf("not expired: %v", got)
	}
	if _, err := c.AppendBRR(nil, hoa1); err == nil {
		t.Error("BRR for a binding that expired")
	}
	if len(c.tombs) != 1 {
		t.Fatalf("tombstones %v", c.tombs)
	}
	c.Tick(t0.Add(80*time.Second + mip6.MaxNonceLifetime))
	if len(c.tombs) != 0 {
		t.Errorf("tombstone outlived the nonces: %v", c.tombs)
	}
}

// TestKeyRotation: a rotated Kcn leaves outstanding tokens valid.
func TestKeyRotation(t *testing.T) {
	c := newCN(t, nil, Options{KeyRotation: time.Minute})
	m := newMN()
	c.Tick(t0)
	m.runRR(t, c, t0)
	c.Tick(t0.Add(time.Minute))
	if c.Stats().KeyRotations != 1 {
		t.Fatalf("rotations %d", c.Stats().KeyRotations)
	}
	if r := c.HandleMH(nil, m.bu(t, buOpts{}), t0.Add(time.Minute)); r.Change != Created {
		t.Errorf("BU with tokens from before the rotation: %v %v %v", r.Verdict, r.Drop, r.Status)
	}
	// New tokens come from the new key: same nonce index space, other
	// token.
	old := m.homeToken
	m.runRR(t, c, t0.Add(time.Minute+binding.NonceRefresh))
	if m.homeToken == old {
		t.Error("same token after rotation and a new nonce")
	}
}

// TestReload: turning route optimization off deletes the bindings;
// a smaller maximum lifetime shortens them.
func TestReload(t *testing.T) {
	c := newCN(t, nil, Options{})
	m := newMN()
	bind(t, c, m)
	cfg, _ := conf.ParseCN([]byte("max_binding_lifetime = \"40s\"\n"))
	if d := c.Reload(cfg, t0.Add(time.Second)); len(d) != 0 {
		t.Errorf("dropped %v", d)
	}
	if e, _ := c.Lookup(hoa1, t0); e.Lifetime != 40*time.Second || !e.Expires.Equal(t0.Add(40*time.Second)) {
		t.Errorf("after reload %+v", e)
	}
	cfg.RouteOptimization = false
	if d := c.Reload(cfg, t0.Add(2*time.Second)); len(d) != 1 {
		t.Errorf("dropped %v", d)
	}
	if c.Cache().Len() != 0 {
		t.Error("bindings kept with route optimization off")
	}
}

// TestBindingErrorAboutData: a data packet with a Home Address option and
// no binding gets a Binding Error 1 at its IPv6 source, never at the
// option's address (no reflection through a forged option, §15.4).
func TestBindingErrorAboutData(t *testing.T) {
	c := newCN(t, nil, Options{})
	if c.CheckHomeAddress(hoa1, coa1, t0) {
		t.Fatal("binding without a BU")
	}
	p := Packet{Src: coa1, Dst: cnAddr, HomeAddress: victim, Len: 40 + 24 + 8 + 100}
	l, msg := reply(t, c.BindingError(nil, mip6.BEUnknownHomeAddress, p, t0))
	want := &mip6.BindingError{Status: mip6.BEUnknownHomeAddress, HomeAddress: victim}
	if diff := cmp.Diff(want, msg, addrCmp); diff != "" || l.Dst != coa1 || l.Src != cnAddr {
		t.Errorf("BE to %v (-want +got):\n%s", l.Dst, diff)
	}
	// 40 + 24-octet BE: never to a packet smaller than that.
	p.Len = 63
	if r := c.BindingError(nil, mip6.BEUnknownHomeAddress, p, t0); r.Drop != DropAmplification {
		t.Errorf("BE larger than its cause: %v", r.Drop)
	}
	p.Src = netip.MustParseAddr("ff02::1")
	p.Len = 200
	if r := c.BindingError(nil, mip6.BEUnknownHomeAddress, p, t0); r.Drop != DropBadAddress {
		t.Errorf("BE to multicast: %v", r.Drop)
	}
	m := newMN()
	bind(t, c, m)
	if !c.CheckHomeAddress(hoa1, coa1, t0) || c.CheckHomeAddress(hoa1, coa2, t0) {
		t.Error("CheckHomeAddress does not follow the binding's care-of address")
	}
}

func TestNames(t *testing.T) {
	for _, tt := range []struct{ got, want string }{
		{Drop.String(), "drop"}, {Reply.String(), "reply"}, {Silent.String(), "silent"}, {Verdict(9).String(), "verdict(9)"},
		{DropAuthFailed.String(), "auth-failed"}, {DropInternal.String(), "internal"}, {DropReason(99).String(), "drop(99)"},
		{Created.String(), "created"}, {Moved.String(), "moved"}, {Deleted.String(), "deleted"}, {Refreshed.String(), "refreshed"},
		{NoChange.String(), "none"}, {Change(7).String(), "change(7)"},
	} {
		if tt.got != tt.want {
			t.Errorf("%q, want %q", tt.got, tt.want)
		}
	}
	if len(dropNames) != NumDropReasons {
		t.Errorf("%d drop names for %d reasons", len(dropNames), NumDropReasons)
	}
}
