package homeagent

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gomip6/gomip6/binding"
	"github.com/gomip6/gomip6/conf"
	"github.com/gomip6/gomip6/mip6"
	"github.com/gomip6/gomip6/tunnel"
)

// addrOpt lets cmp compare netip values, whose fields are unexported.
var addrOpt = cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{})

type step struct {
	m  mn
	b  bu
	at time.Duration // after t0
}

// TestProcessBU walks every status code and silent drop of a home
// registration with real marshalled, authenticated Binding Updates.
// A case's pre steps must each be accepted; then the case's own BU is
// processed and its result compared. For every rejection and drop the
// cache must be exactly as the pre steps left it.
func TestProcessBU(t *testing.T) {
	ah := mip6.BUFlagA | mip6.BUFlagH
	reg := func(m mn, seq uint16, at time.Duration) step {
		return step{m: m, b: bu{seq: seq, ts: t0.Add(at)}, at: at}
	}
	foreign := netip.MustParseAddr("2001:db8:999::10")
	tests := []struct {
		name string
		pre  []step
		step
		want       Verdict
		drop       DropReason
		status     mip6.Status
		ba         *parsedBA // nil: compare only Status
		change     Change
		noState    bool // cache unchanged by the step
		wantCoA    netip.Addr
		wantPrefix []netip.Prefix
		as         *mn // the association the BA is checked with; default step.m
	}{
		{
			name: "register", step: step{m: laptop, b: bu{seq: 7}},
			want: Reply, status: mip6.StatusAccepted, change: Created, wantCoA: coa1,
			// §10.3.1: lifetime as asked (300 s < max_lifetime); BRA
			// at 3/4 of it in whole 4 s units: 225 -> 224.
			ba: &parsedBA{Status: 0, Sequence: 7, Lifetime: 300 * time.Second, Refresh: 224 * time.Second,
				ID: laptopID, TS: ts(t0), SPI: laptopSPI},
		},
		{
			name: "lifetime capped by max_lifetime", step: step{m: laptop, b: bu{seq: 1, lifetime: 20 * time.Minute}},
			want: Reply, status: 0, change: Created, wantCoA: coa1,
			ba: &parsedBA{Sequence: 1, Lifetime: 600 * time.Second, Refresh: 448 * time.Second, ID: laptopID, TS: ts(t0), SPI: laptopSPI},
		},
		{
			name: "A clear: accepted without BA", step: step{m: laptop, b: bu{seq: 1, flags: mip6.BUFlagH}},
			want: Silent, status: 0, change: Created, wantCoA: coa1,
		},
		{
			name: "alternate care-of address", step: step{m: laptop, b: bu{seq: 1, src: coa2, altCoA: coa1}},
			want: Reply, status: 0, change: Created, wantCoA: coa1,
		},
		{
			name: "refresh", pre: []step{reg(laptop, 1, 0)}, step: step{m: laptop, b: bu{seq: 2, ts: t0.Add(time.Second)}, at: time.Second},
			want: Reply, status: 0, change: Refreshed, wantCoA: coa1,
		},
		{
			name: "move", pre: []step{reg(laptop, 1, 0)}, step: step{m: laptop, b: bu{seq: 2, src: coa2, ts: t0.Add(time.Second)}, at: time.Second},
			want: Reply, status: 0, change: Moved, wantCoA: coa2,
		},
		{
			name: "sequence wraps", pre: []step{reg(laptop, 65535, 0)}, step: step{m: laptop, b: bu{seq: 0, ts: t0.Add(time.Second)}, at: time.Second},
			want: Reply, status: 0, change: Refreshed, wantCoA: coa1,
		},
		{
			// RFC 6275 §9.5.1: x - last = 32768 is still "greater".
			name: "sequence half window", pre: []step{reg(laptop, 10, 0)}, step: step{m: laptop, b: bu{seq: 10 + 32767, ts: t0.Add(time.Second)}, at: time.Second},
			want: Reply, status: 0, change: Refreshed, wantCoA: coa1,
		},
		{
			name: "135 same sequence", pre: []step{reg(laptop, 10, 0)}, step: step{m: laptop, b: bu{seq: 10, ts: t0.Add(time.Second)}, at: time.Second},
			want: Reply, status: mip6.StatusSequenceOutOfWindow, noState: true,
			// §9.5.1: the BA carries the last accepted sequence number.
			ba: &parsedBA{Status: 135, Sequence: 10, ID: laptopID, TS: ts(t0.Add(time.Second)), SPI: laptopSPI},
		},
		{
			name: "135 older sequence across wrap", pre: []step{reg(laptop, 3, 0)}, step: step{m: laptop, b: bu{seq: 65000, ts: t0.Add(time.Second)}, at: time.Second},
			want: Reply, status: mip6.StatusSequenceOutOfWindow, noState: true,
			ba: &parsedBA{Status: 135, Sequence: 3, ID: laptopID, TS: ts(t0.Add(time.Second)), SPI: laptopSPI},
		},
		{
			name: "135 beyond half window", pre: []step{reg(laptop, 10, 0)}, step: step{m: laptop, b: bu{seq: 10 + 32768, ts: t0.Add(time.Second)}, at: time.Second},
			want: Reply, status: mip6.StatusSequenceOutOfWindow, noState: true,
		},
		{
			name: "de-register with lifetime 0", pre: []step{reg(laptop, 1, 0)}, step: step{m: laptop, b: bu{seq: 2, lifetime: -1, ts: t0.Add(time.Second)}, at: time.Second},
			want: Reply, status: 0, change: Deleted,
			ba: &parsedBA{Sequence: 2, ID: laptopID, TS: ts(t0.Add(time.Second)), SPI: laptopSPI},
		},
		{
			// §11.5.4: back home, source = home address, no HAO.
			name: "de-register from home", pre: []step{reg(laptop, 1, 0)},
			step: step{m: laptop, b: bu{seq: 2, src: laptopHoA, noHAO: true, ts: t0.Add(time.Second)}, at: time.Second},
			want: Reply, status: 0, change: Deleted,
		},
		{
			// §10.3.2: no home registration to delete.
			name: "133 de-register unknown binding", step: step{m: laptop, b: bu{seq: 2, lifetime: -1}},
			want: Reply, status: mip6.StatusNotHomeAgentForThisMN, noState: true,
		},
		{
			name: "drop: no authentication option", step: step{m: laptop, b: bu{seq: 1, noAuth: true}},
			want: Drop, drop: DropNoAuth, noState: true,
		},
		{
			name: "drop: unknown SPI", step: step{m: laptop, b: bu{seq: 1, spi: 4242}},
			want: Drop, drop: DropUnknownSPI, noState: true,
		},
		{
			name: "146 bad authenticator", step: step{m: laptop, b: bu{seq: 1, badMAC: true}},
			want: Reply, status: mip6.StatusAuthFailed, noState: true,
			ba: &parsedBA{Status: 146, Sequence: 1, ID: laptopID, TS: ts(t0), SPI: laptopSPI},
		},
		{
			name: "146 authenticator over another home address", step: step{m: laptop, b: bu{seq: 1, macHoA: otherHoA}},
			want: Reply, status: mip6.StatusAuthFailed, noState: true,
		},
		{
			name: "146 key of another node", step: step{m: mn{laptopID, laptopHoA, laptopSPI, routerKey, binding.HMACSHA1_96}, b: bu{seq: 1}},
			want: Reply, status: mip6.StatusAuthFailed, noState: true, as: &laptop,
		},
		{
			name: "146 wrong algorithm length", step: step{m: mn{laptopID, laptopHoA, laptopSPI, laptopKey, binding.HMACSHA256_128}, b: bu{seq: 1}},
			want: Reply, status: mip6.StatusAuthFailed, noState: true, as: &laptop,
		},
		{
			name: "144 identifier of another node", step: step{m: laptop, b: bu{seq: 1, id: routerID}},
			want: Reply, status: mip6.StatusIDMismatch, noState: true,
			ba: &parsedBA{Status: 144, Sequence: 1, ID: laptopID, TS: ts(t0), SPI: laptopSPI},
		},
		{
			name: "144 no identifier", step: step{m: laptop, b: bu{seq: 1, noID: true}},
			want: Reply, status: mip6.StatusIDMismatch, noState: true,
		},
		{
			// RFC 4285 §6: 145 with the home agent's own time.
			name: "145 no timestamp", step: step{m: laptop, b: bu{seq: 1, noTS: true}, at: 3 * time.Second},
			want: Reply, status: mip6.StatusMesgIDRequired, noState: true,
			ba: &parsedBA{Status: 145, Sequence: 1, ID: laptopID, TS: ts(t0.Add(3 * time.Second)), SPI: laptopSPI},
		},
		{
			name: "145 timestamp too old", step: step{m: laptop, b: bu{seq: 1, ts: t0.Add(-8 * time.Second)}},
			want: Reply, status: mip6.StatusMesgIDRequired, noState: true,
			ba: &parsedBA{Status: 145, Sequence: 1, ID: laptopID, TS: ts(t0), SPI: laptopSPI},
		},
		{
			name: "145 timestamp in the future", step: step{m: laptop, b: bu{seq: 1, ts: t0.Add(8 * time.Second)}},
			want: Reply, status: mip6.StatusMesgIDRequired, noState: true,
		},
		{
			name: "145 replayed", pre: []step{reg(laptop, 1, 0)}, step: step{m: laptop, b: bu{seq: 1}, at: time.Second},
			want: Reply, status: mip6.StatusMesgIDRequired, noState: true,
		},
		{
			name: "145 replay with a new sequence number", pre: []step{reg(laptop, 1, 0)}, step: step{m: laptop, b: bu{seq: 2}, at: time.Second},
			want: Reply, status: mip6.StatusMesgIDRequired, noState: true,
		},
		{
			name: "139 H cleared on a home registration", pre: []step{reg(laptop, 1, 0)},
			step: step{m: laptop, b: bu{seq: 2, flags: mip6.BUFlagA, ts: t0.Add(time.Second)}, at: time.Second},
			want: Reply, status: mip6.StatusRegistrationTypeChangeDenied, noState: true,
		},
		{
			name: "drop: H clear without binding", step: step{m: laptop, b: bu{seq: 1, flags: mip6.BUFlagA}},
			want: Drop, drop: DropNotHomeRegistration, noState: true,
		},
		{
			name: "132 home address off the home prefix", step: step{m: mn{laptopID, foreign, laptopSPI, laptopKey, binding.HMACSHA1_96}, b: bu{seq: 1}},
			want: Reply, status: mip6.StatusNotHomeSubnet, noState: true,
		},
		{
			name: "133 home address is the home agent's", step: step{m: mn{laptopID, haAddr, laptopSPI, laptopKey, binding.HMACSHA1_96}, b: bu{seq: 1}},
			want: Reply, status: mip6.StatusNotHomeAgentForThisMN, noState: true,
		},
		{
			name: "133 home address nobody's", step: step{m: mn{laptopID, otherHoA, laptopSPI, laptopKey, binding.HMACSHA1_96}, b: bu{seq: 1}},
			want: Reply, status: mip6.StatusNotHomeAgentForThisMN, noState: true,
		},
		{
			name: "133 home address of another node", pre: []step{reg(router, 1, 0)},
			step: step{m: mn{laptopID, routerHoA, laptopSPI, laptopKey, binding.HMACSHA1_96}, b: bu{seq: 9}},
			want: Reply, status: mip6.StatusNotHomeAgentForThisMN, noState: true,
		},
		{
			name: "140 R from a node without prefixes", step: step{m: laptop, b: bu{seq: 1, flags: ah | mip6.BUFlagR}},
			want: Reply, status: mip6.StatusMobileRouterNotPermitted, noState: true,
		},
		{
			name: "R implicit mode", step: step{m: router, b: bu{seq: 1, flags: ah | mip6.BUFlagR}},
			want: Reply, status: 0, change: Created, wantCoA: coa1, wantPrefix: []netip.Prefix{mnpRouter},
			ba: &parsedBA{Flags: mip6.BAFlagR, Sequence: 1, Lifetime: 300 * time.Second, Refresh: 224 * time.Second,
				ID: routerID, TS: ts(t0), SPI: routerSPI},
		},
		{
			name: "R explicit mode", step: step{m: router, b: bu{seq: 1, flags: ah | mip6.BUFlagR, prefixes: []netip.Prefix{mnpRouter}}},
			want: Reply, status: 0, change: Created, wantCoA: coa1, wantPrefix: []netip.Prefix{mnpRouter},
		},
		{
			name: "R clear: prefixes not routed", step: step{m: router, b: bu{seq: 1, prefixes: []netip.Prefix{mnpRouter}}},
			want: Reply, status: 0, change: Created, wantCoA: coa1,
		},
		{
			name: "142 prefix not the node's", step: step{m: router, b: bu{seq: 1, flags: ah | mip6.BUFlagR,
				prefixes: []netip.Prefix{netip.MustParsePrefix("2001:db8:300::/48")}}},
			want: Reply, status: mip6.StatusNotAuthorizedForPrefix, noState: true,
		},
		{
			name: "141 link-local prefix", step: step{m: router, b: bu{seq: 1, flags: ah | mip6.BUFlagR,
				prefixes: []netip.Prefix{netip.MustParsePrefix("fe80::/64")}}},
			want: Reply, status: mip6.StatusInvalidPrefix, noState: true,
		},
		{
			name: "141 prefix overlapping the home prefix", step: step{m: router, b: bu{seq: 1, flags: ah | mip6.BUFlagR,
				prefixes: []netip.Prefix{netip.MustParsePrefix("2001:db8:100::/56")}}},
			want: Reply, status: mip6.StatusInvalidPrefix, noState: true,
		},
		{
			name: "drop: link-local care-of address", step: step{m: laptop, b: bu{seq: 1, src: netip.MustParseAddr("fe80::1")}},
			want: Drop, drop: DropBadCareOf, noState: true,
		},
		{
			// An expired binding is gone: any sequence number is new.
			name: "expired binding counts as none", pre: []step{reg(laptop, 10, 0)},
			step: step{m: laptop, b: bu{seq: 5, ts: t0.Add(301 * time.Second)}, at: 301 * time.Second},
			want: Reply, status: 0, change: Created, wantCoA: coa1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tab := tunnel.NewTable(0)
			h := newHA(t, Options{SkipDAD: true, Table: tab})
			for i, s := range tc.pre {
				r := h.ProcessBU(nil, s.m.packet(t, s.b), t0.Add(s.at))
				if r.Verdict != Reply || r.Status != 0 {
					t.Fatalf("pre step %d: %v %v %v %v", i, r.Verdict, r.Drop, r.Status, r.Err)
				}
			}
			before := snapshot(h)
			now := t0.Add(tc.at)
			p := tc.m.packet(t, tc.b)
			r := h.ProcessBU(nil, p, now)
			if r.Verdict != tc.want || r.Drop != tc.drop {
				t.Fatalf("verdict %v/%v, want %v/%v (status %v, err %v)", r.Verdict, r.Drop, tc.want, tc.drop, r.Status, r.Err)
			}
			if tc.want == Drop {
				if r.BA != nil {
					t.Errorf("drop with a BA")
				}
			} else if r.Status != tc.status {
				t.Errorf("status %v, want %v", r.Status, tc.status)
			}
			if tc.want == Reply {
				coa := p.Src
				if tc.b.altCoA.IsValid() {
					coa = tc.b.altCoA
				}
				if r.BADst != coa {
					t.Errorf("BA to %v, want %v", r.BADst, coa)
				}
				as := tc.m
				if tc.as != nil {
					as = *tc.as
				}
				got := as.checkBA(t, r.BA, coa)
				if got.Status != tc.status {
					t.Errorf("BA status %v, want %v", got.Status, tc.status)
				}
				if tc.ba != nil {
					if d := cmp.Diff(*tc.ba, got); d != "" {
						t.Errorf("BA (-want +got):\n%s", d)
					}
				}
			}
			if r.Change != tc.change {
				t.Errorf("change %v, want %v", r.Change, tc.change)
			}
			after := snapshot(h)
			if tc.noState {
				if d := cmp.Diff(before, after, addrOpt); d != "" {
					t.Errorf("cache changed (-before +after):\n%s", d)
				}
				return
			}
			e, ok := h.Cache().Lookup(tc.m.hoa)
			switch {
			case tc.change == Deleted:
				if ok {
					t.Errorf("binding still there: %+v", e)
				}
				if tab.Lookup(tc.m.hoa) != nil {
					t.Errorf("tunnel table still routes %v", tc.m.hoa)
				}
			case !ok:
				t.Fatalf("no binding for %v", tc.m.hoa)
			default:
				if e.CareOf != tc.wantCoA || e.Sequence != tc.b.seq || !cmp.Equal(e.MobilePrefixes, tc.wantPrefix, addrOpt) {
					t.Errorf("binding %+v, want coa %v seq %d prefixes %v", e, tc.wantCoA, tc.b.seq, tc.wantPrefix)
				}
				if d := cmp.Diff(r.Binding, e, addrOpt); d != "" {
					t.Errorf("Result.Binding differs from the cache (-result +cache):\n%s", d)
				}
				tb := tab.Lookup(tc.m.hoa)
				if tb == nil || tb.Endpoint().Remote != tc.wantCoA || tb.Endpoint().Local != haAddr {
					t.Errorf("tunnel table for %v: %+v", tc.m.hoa, tb)
				}
				for _, pf := range tc.wantPrefix {
					if b := tab.Lookup(pf.Addr().Next()); b == nil || b.Endpoint().Remote != tc.wantCoA {
						t.Errorf("tunnel table does not route %v to %v", pf, tc.wantCoA)
					}
				}
			}
		})
	}
}

// TestRejectedKeepsReplayWindow: a rejected BU, even authentic, must not
// move the node's replay window (RFC 4285 §6: only accepted messages
// count), so a later message with an older timestamp than the rejected
// one, but newer than the last accepted, still gets in.
func TestRejectedKeepsReplayWindow(t *testing.T) {
	h := newHA(t, Options{SkipDAD: true})
	r := h.ProcessBU(nil, laptop.packet(t, bu{seq: 1, ts: t0}), t0)
	if r.Status != 0 || r.Verdict != Reply {
		t.Fatalf("register: %v %v", r.Verdict, r.Status)
	}
	// Rejected 135 at t0+2s.
	r = h.ProcessBU(nil, laptop.packet(t, bu{seq: 1, ts: t0.Add(2 * time.Second)}), t0.Add(2*time.Second))
	if r.Status != mip6.StatusSequenceOutOfWindow {
		t.Fatalf("want 135, got %v %v", r.Verdict, r.Status)
	}
	r = h.ProcessBU(nil, laptop.packet(t, bu{seq: 2, ts: t0.Add(time.Second)}), t0.Add(2*time.Second))
	if r.Status != 0 || r.Change != Refreshed {
		t.Fatalf("BU after a rejected one: %v %v %v", r.Verdict, r.Status, r.Change)
	}
}

// TestDAD: a new binding waits for DAD (RFC 6275 §10.3.1); success
// creates it, failure answers 134 and creates nothing; refreshes need no
// DAD.
func TestDAD(t *testing.T) {
	t.Run("ok", func(t *testing.T) {
		h := newHA(t, Options{})
		r := h.ProcessBU(nil, laptop.packet(t, bu{seq: 1, flags: mip6.BUFlagA | mip6.BUFlagH | mip6.BUFlagL}), t0)
		if r.Verdict != NeedsDAD || r.BA != nil || h.Cache().Len() != 0 {
			t.Fatalf("first BU: %v, BA %x, cache %d", r.Verdict, r.BA, h.Cache().Len())
		}
		if want := netip.MustParseAddr("fe80::10"); r.LinkLocal != want {
			t.Errorf("link-local %v, want %v", r.LinkLocal, want)
		}
		// A retransmission while DAD runs joins the pending one.
		r = h.ProcessBU(nil, laptop.packet(t, bu{seq: 2, ts: t0.Add(time.Second)}), t0.Add(time.Second))
		if r.Verdict != DADPending {
			t.Fatalf("retransmission: %v", r.Verdict)
		}
		// Replaying the first one is refused.
		r = h.ProcessBU(nil, laptop.packet(t, bu{seq: 3}), t0.Add(time.Second))
		if r.Status != mip6.StatusMesgIDRequired {
			t.Fatalf("replay during DAD: %v %v", r.Verdict, r.Status)
		}
		r = h.CompleteDAD(nil, laptopHoA, true, t0.Add(1500*time.Millisecond))
		if r.Verdict != Reply || r.Status != 0 || r.Change != Created {
			t.Fatalf("CompleteDAD: %v %v %v %v", r.Verdict, r.Status, r.Change, r.Err)
		}
		if got := laptop.checkBA(t, r.BA, coa1); got.Sequence != 2 {
			t.Errorf("BA answers sequence %d, want the latest, 2", got.Sequence)
		}
		r = h.ProcessBU(nil, laptop.packet(t, bu{seq: 4, ts: t0.Add(2 * time.Second)}), t0.Add(2*time.Second))
		if r.Verdict != Reply || r.Change != Refreshed {
			t.Fatalf("refresh: %v %v", r.Verdict, r.Change)
		}
		if r := h.CompleteDAD(nil, laptopHoA, true, t0); r.Verdict != Drop {
			t.Errorf("CompleteDAD with nothing pending: %v", r.Verdict)
		}
	})
	t.Run("duplicate", func(t *testing.T) {
		h := newHA(t, Options{})
		if r := h.ProcessBU(nil, laptop.packet(t, bu{seq: 1}), t0); r.Verdict != NeedsDAD {
			t.Fatalf("first BU: %v", r.Verdict)
		}
		r := h.CompleteDAD(nil, laptopHoA, false, t0.Add(time.Second))
		if r.Verdict != Reply || r.Status != mip6.StatusDADFailed || r.Change != NoChange {
			t.Fatalf("CompleteDAD(false): %v %v %v", r.Verdict, r.Status, r.Change)
		}
		if got := laptop.checkBA(t, r.BA, coa1); got.Status != mip6.StatusDADFailed || got.Lifetime != 0 {
			t.Errorf("BA %+v", got)
		}
		if h.Cache().Len() != 0 {
			t.Errorf("cache has %d entries", h.Cache().Len())
		}
	})
}

// TestSilentDrops covers the drops before authentication.
func TestSilentDrops(t *testing.T) {
	h := newHA(t, Options{SkipDAD: true})
	good := laptop.packet(t, bu{seq: 1})
	badSum := good
	badSum.MH = append([]byte(nil), good.MH...)
	badSum.MH[4] ^= 0xff
	trunc := good
	trunc.MH = good.MH[:10]
	brr, _ := mip6.MarshalMessage(&mip6.BindingRefreshRequest{})
	mip6.SetMHChecksum(brr, laptopHoA, haAddr)
	notBU := Packet{Src: coa1, Dst: haAddr, HomeAddress: laptopHoA, MH: brr}
	wrongDst := good
	wrongDst.Dst = netip.MustParseAddr("2001:db8:100::2")
	for _, tc := range []struct {
		name string
		p    Packet
		want DropReason
	}{
		{"checksum", badSum, DropChecksum},
		{"checksum over another destination", wrongDst, DropChecksum},
		{"truncated", trunc, DropChecksum},
		{"not a BU", notBU, DropNotBU},
		{"empty", Packet{Src: coa1, Dst: haAddr}, DropChecksum},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := h.ProcessBU(nil, tc.p, t0)
			if r.Verdict != Drop || r.Drop != tc.want {
				t.Errorf("%v %v, want drop %v", r.Verdict, r.Drop, tc.want)
			}
		})
	}
	// A header whose Payload Proto is wrong parses to an error the daemon
	// answers with ICMP Parameter Problem (RFC 6275 §9.2).
	bad := append([]byte(nil), good.MH...)
	bad[0] = 6
	mip6.SetMHChecksum(bad, laptopHoA, haAddr)
	r := h.ProcessBU(nil, Packet{Src: coa1, Dst: haAddr, HomeAddress: laptopHoA, MH: bad}, t0)
	var he *mip6.MHHeaderError
	if r.Drop != DropMalformed || !errors.As(r.Err, &he) || he.Pointer != 0 {
		t.Errorf("payload proto 6: %v %v", r.Drop, r.Err)
	}
	if h.Cache().Len() != 0 {
		t.Errorf("cache has %d entries", h.Cache().Len())
	}
}

// TestTrailingOctets: octets after Header Len are not the message (RFC
// 8200 §4.7) and must not break authentication.
func TestTrailingOctets(t *testing.T) {
	h := newHA(t, Options{SkipDAD: true})
	p := laptop.packet(t, bu{seq: 1})
	p.MH = append(p.MH, 0xde, 0xad)
	if r := h.ProcessBU(nil, p, t0); r.Status != 0 || r.Verdict != Reply {
		t.Fatalf("%v %v %v", r.Verdict, r.Status, r.Err)
	}
}

// TestHoALifetime: with the built-in RAs, the home address lives as long
// as the prefix's valid lifetime, which caps the binding (§10.3.1).
func TestHoALifetime(t *testing.T) {
	cfg := testConfig(t)
	cfg.RouterAdvertisements.PrefixValidLifetime = 122 * 1e9 // 122 s: 120 s in whole units
	h, err := New(cfg, Options{SkipDAD: true})
	if err != nil {
		t.Fatal(err)
	}
	r := h.ProcessBU(nil, laptop.packet(t, bu{seq: 1}), t0)
	got := laptop.checkBA(t, r.BA, coa1)
	if got.Lifetime != 120*time.Second || got.Refresh != 88*time.Second {
		t.Errorf("lifetime %v refresh %v, want 120s 88s", got.Lifetime, got.Refresh)
	}
	if e, _ := h.Cache().Lookup(laptopHoA); !e.Expires.Equal(t0.Add(120 * time.Second)) {
		t.Errorf("expires %v", e.Expires)
	}
}

// TestRateLimit: a source gets its burst, then one BU per 1/rate; other
// sources are not affected; the /64 is the unit.
func TestRateLimit(t *testing.T) {
	h := newHA(t, Options{SkipDAD: true})
	junk := laptop.packet(t, bu{seq: 1, noAuth: true}) // cheapest to make
	for i := range 20 {
		if r := h.ProcessBU(nil, junk, t0); r.Drop != DropNoAuth {
			t.Fatalf("message %d of the burst: %v", i, r.Drop)
		}
	}
	if r := h.ProcessBU(nil, junk, t0); r.Drop != DropRateLimited {
		t.Fatalf("message 21: %v", r.Drop)
	}
	same64 := junk
	same64.Src = netip.MustParseAddr("2001:db8:a::99")
	if r := h.ProcessBU(nil, same64, t0); r.Drop != DropRateLimited {
		t.Errorf("same /64: %v", r.Drop)
	}
	// A legitimate node elsewhere is served.
	if r := h.ProcessBU(nil, laptop.packet(t, bu{seq: 1, src: coa2}), t0); r.Status != 0 || r.Verdict != Reply {
		t.Fatalf("other source: %v %v %v", r.Verdict, r.Drop, r.Status)
	}
	// 10/s: one more token after 100 ms, not before.
	if r := h.ProcessBU(nil, junk, t0.Add(99*time.Millisecond)); r.Drop != DropRateLimited {
		t.Errorf("after 99 ms: %v", r.Drop)
	}
	if r := h.ProcessBU(nil, junk, t0.Add(100*time.Millisecond)); r.Drop != DropNoAuth {
		t.Errorf("after 100 ms: %v", r.Drop)
	}
	if r := h.ProcessBU(nil, junk, t0.Add(100*time.Millisecond)); r.Drop != DropRateLimited {
		t.Errorf("second after 100 ms: %v", r.Drop)
	}
}

// TestTick: bindings expire at their granted lifetime, and Tick withdraws
// them from the tunnel table.
func TestTick(t *testing.T) {
	tab := tunnel.NewTable(0)
	h := newHA(t, Options{SkipDAD: true, Table: tab})
	h.ProcessBU(nil, laptop.packet(t, bu{seq: 1, lifetime: 100 * time.Second}), t0)
	h.ProcessBU(nil, router.packet(t, bu{seq: 1, flags: mip6.BUFlagA | mip6.BUFlagH | mip6.BUFlagR}), t0)
	if next, ok := h.NextExpiry(); !ok || !next.Equal(t0.Add(100*time.Second)) {
		t.Errorf("NextExpiry %v %v", next, ok)
	}
	if got := h.Tick(t0.Add(99 * time.Second)); len(got) != 0 {
		t.Errorf("expired early: %v", got)
	}
	got := h.Tick(t0.Add(100 * time.Second))
	if len(got) != 1 || got[0].HomeAddress != laptopHoA {
		t.Fatalf("Tick at 100s: %+v", got)
	}
	if tab.Lookup(laptopHoA) != nil || tab.Lookup(routerHoA) == nil {
		t.Errorf("table after first expiry wrong")
	}
	got = h.Tick(t0.Add(300 * time.Second))
	if len(got) != 1 || got[0].HomeAddress != routerHoA {
		t.Fatalf("Tick at 300s: %+v", got)
	}
	if tab.Lookup(routerHoA) != nil || tab.Lookup(mnpRouter.Addr().Next()) != nil || tab.Len() != 0 {
		t.Errorf("table not empty after expiry: %d", tab.Len())
	}
	if _, ok := h.NextExpiry(); ok {
		t.Errorf("NextExpiry on an empty cache")
	}
}

// TestRestore: bindings saved and restored survive a restart with their
// data plane state and replay window; entries for nodes no longer
// configured are dropped.
func TestRestore(t *testing.T) {
	tab := tunnel.NewTable(0)
	h := newHA(t, Options{SkipDAD: true, Table: tab})
	last := laptop.packet(t, bu{seq: 5})
	h.ProcessBU(nil, last, t0)
	h.ProcessBU(nil, router.packet(t, bu{seq: 1, flags: mip6.BUFlagA | mip6.BUFlagH | mip6.BUFlagR}), t0)
	path := t.TempDir() + "/had.state"
	if err := binding.SaveStateFile(h.Cache(), path); err != nil {
		t.Fatal(err)
	}
	// Restart: a configuration where the router is gone.
	cfg := testConfig(t)
	cfg.MobileNodes = cfg.MobileNodes[:1]
	tab2 := tunnel.NewTable(0)
	h2, err := New(cfg, Options{SkipDAD: true, Table: tab2})
	if err != nil {
		t.Fatal(err)
	}
	now := t0.Add(2 * time.Second)
	c, err := binding.LoadStateFile(path, now)
	if err != nil {
		t.Fatal(err)
	}
	dropped := h2.Restore(c, now)
	if len(dropped) != 1 || dropped[0].HomeAddress != routerHoA {
		t.Errorf("dropped %+v", dropped)
	}
	if b := tab2.Lookup(laptopHoA); b == nil || b.Endpoint().Remote != coa1 {
		t.Errorf("restored binding not in the table")
	}
	if tab2.Lookup(routerHoA) != nil {
		t.Errorf("dropped binding in the table")
	}
	// The captured BU replayed after the restart is refused.
	if r := h2.ProcessBU(nil, last, now); r.Status != mip6.StatusMesgIDRequired {
		t.Errorf("replay after restart: %v %v", r.Verdict, r.Status)
	}
	// And the sequence window continues.
	if r := h2.ProcessBU(nil, laptop.packet(t, bu{seq: 5, ts: now}), now); r.Status != mip6.StatusSequenceOutOfWindow {
		t.Errorf("old sequence after restart: %v", r.Status)
	}
	if r := h2.ProcessBU(nil, laptop.packet(t, bu{seq: 6, ts: now}), now); r.Status != 0 || r.Change != Refreshed {
		t.Errorf("refresh after restart: %v %v", r.Status, r.Change)
	}
}

func TestNewRejects(t *testing.T) {
	cfg := testConfig(t)
	cfg.MobileNodes[1].SPI = cfg.MobileNodes[0].SPI
	if _, err := New(cfg, Options{}); err == nil {
		t.Error("duplicate SPI accepted")
	}
	cfg = testConfig(t)
	cfg.MobileNodes[1].Algorithm = "md5"
	if _, err := New(cfg, Options{}); err == nil {
		t.Error("unknown algorithm accepted")
	}
	if _, err := New(nil, Options{}); err == nil {
		t.Error("nil config accepted")
	}
}

func TestStrings(t *testing.T) {
	for _, s := range []interface{ String() string }{Drop, Reply, Silent, NeedsDAD, DADPending, Verdict(99),
		NotDropped, DropInternal, DropReason(99), NoChange, Created, Refreshed, Moved, Deleted, Change(99)} {
		if s.String() == "" {
			t.Errorf("%#v has no name", s)
		}
	}
	if DropRateLimited.String() != "rate-limited" || Moved.String() != "moved" || NeedsDAD.String() != "needs-dad" {
		t.Error("names changed")
	}
}

// TestBAWireFormat builds the expected Binding Acknowledgement octet by
// octet from the RFC layouts, independently of the mip6 encoder and the
// binding MAC code, and compares it with what ProcessBU sends.
func TestBAWireFormat(t *testing.T) {
	h := newHA(t, Options{SkipDAD: true})
	r := h.ProcessBU(nil, laptop.packet(t, bu{seq: 7}), t0)
	want := []byte{
		59, 8, 6, 0, 0, 0, // Payload Proto none, Header Len 8 (72 octets), MH Type 6, Reserved, Checksum
		0, 0, 0, 7, 0, 75, // RFC 6275 §6.1.8: Status 0, flags, Sequence 7, Lifetime 75 units = 300 s
		2, 2, 0, 56, // §6.2.4 Binding Refresh Advice (2n): 56 units = 224 s
		8, 20, 1, // RFC 4283 §3 MN Identifier: length 1+19, subtype NAI
	}
	want = append(want, laptopID...)
	want = append(want, 1, 2, 0, 0) // PadN to 8n+2 (offset 42)
	want = append(want, 10, 8)      // RFC 4285 §6 Replay Protection
	want = binary.BigEndian.AppendUint64(want, ts(t0))
	want = append(want, 0)                          // Pad1: Authentication at 53 = 4n+1, ending the header at 72
	want = append(want, 9, 17, 1, 0, 0, 0x03, 0xe8) // RFC 4285 §5: length 5+12, MN-HA, SPI 1000
	if len(want) != 60 {
		t.Fatalf("test layout is %d octets before the authenticator", len(want))
	}
	// RFC 4285 §5.1: First(96, HMAC_SHA1(key, CoA | HoA | MH data up to
	// the SPI, checksum zero)).
	mac := hmac.New(sha1.New, laptopKey)
	mac.Write(coa1.AsSlice())
	mac.Write(laptopHoA.AsSlice())
	mac.Write(want)
	want = append(want, mac.Sum(nil)[:12]...)
	// RFC 6275 §6.1.1 with RFC 8200 §8.1: pseudo-header from the home
	// agent to the home address (the type 2 routing header's final
	// destination), length 72, next header 135.
	var sum uint32
	add := func(b []byte) {
		for i := 0; i+1 < len(b); i += 2 {
			sum += uint32(b[i])<<8 | uint32(b[i+1])
		}
	}
	add(haAddr.AsSlice())
	add(laptopHoA.AsSlice())
	add([]byte{0, 0, 0, 72, 0, 0, 0, 135})
	add(want)
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	binary.BigEndian.PutUint16(want[4:], ^uint16(sum))
	if d := cmp.Diff(want, r.BA); d != "" {
		t.Errorf("BA (-RFC layout +sent):\n%s", d)
	}
}

// TestDADTimeout: a DAD the caller never completes does not block the
// address: after DADTimeout a new BU starts DAD again.
func TestDADTimeout(t *testing.T) {
	h := newHA(t, Options{DADTimeout: 2 * time.Second})
	if r := h.ProcessBU(nil, laptop.packet(t, bu{seq: 1}), t0); r.Verdict != NeedsDAD {
		t.Fatalf("%v", r.Verdict)
	}
	at := t0.Add(time.Second)
	if r := h.ProcessBU(nil, laptop.packet(t, bu{seq: 2, ts: at}), at); r.Verdict != DADPending {
		t.Fatalf("within timeout: %v", r.Verdict)
	}
	at = t0.Add(2 * time.Second)
	if r := h.ProcessBU(nil, laptop.packet(t, bu{seq: 3, ts: at}), at); r.Verdict != NeedsDAD {
		t.Fatalf("after timeout: %v", r.Verdict)
	}
	if r := h.CompleteDAD(nil, otherHoA, true, at); r.Verdict != Drop || r.Drop != DropNotPending {
		t.Errorf("CompleteDAD for nothing: %v %v", r.Verdict, r.Drop)
	}
}

// TestReload: bindings of nodes still configured survive a reload with
// their replay windows; removed nodes lose theirs, withdrawn from the
// table; a bad configuration changes nothing.
func TestReload(t *testing.T) {
	tab := tunnel.NewTable(0)
	h := newHA(t, Options{SkipDAD: true, Table: tab})
	last := laptop.packet(t, bu{seq: 1})
	h.ProcessBU(nil, last, t0)
	h.ProcessBU(nil, router.packet(t, bu{seq: 1, flags: mip6.BUFlagA | mip6.BUFlagH | mip6.BUFlagR}), t0)

	bad := testConfig(t)
	bad.MobileNodes[1].SPI = bad.MobileNodes[0].SPI
	if _, err := h.Reload(bad, t0); err == nil {
		t.Fatal("bad configuration accepted")
	}
	if h.Cache().Len() != 2 {
		t.Fatalf("failed reload changed the cache: %d", h.Cache().Len())
	}

	cfg := testConfig(t)
	cfg.MobileNodes = cfg.MobileNodes[:1]
	cfg.Home.MaxLifetime = conf.Duration(time.Minute)
	dropped, err := h.Reload(cfg, t0.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if len(dropped) != 1 || dropped[0].HomeAddress != routerHoA {
		t.Errorf("dropped %+v", dropped)
	}
	if tab.Lookup(routerHoA) != nil || tab.Lookup(mnpRouter.Addr().Next()) != nil {
		t.Error("removed node still in the table")
	}
	if tab.Lookup(laptopHoA) == nil {
		t.Error("kept node not in the table")
	}
	if r := h.ProcessBU(nil, last, t0.Add(time.Second)); r.Status != mip6.StatusMesgIDRequired {
		t.Errorf("replay after reload: %v", r.Status)
	}
	at := t0.Add(2 * time.Second)
	r := h.ProcessBU(nil, laptop.packet(t, bu{seq: 2, ts: at}), at)
	if r.Status != 0 || r.Binding.Lifetime != time.Minute {
		t.Errorf("after reload: %v, lifetime %v (new max_lifetime 1m)", r.Status, r.Binding.Lifetime)
	}
}

// TestPrefixesFollowRegistration: a mobile router that stops asking for
// its prefixes (R clear) has them withdrawn from the table; one that
// registers a short lifetime gets no Binding Refresh Advice (§6.2.4
// wants the interval below the lifetime, and 4 s has no whole unit
// below it); a de-registration without A is not acknowledged.
func TestPrefixesFollowRegistration(t *testing.T) {
	tab := tunnel.NewTable(0)
	h := newHA(t, Options{SkipDAD: true, Table: tab})
	in := mnpRouter.Addr().Next()
	r := h.ProcessBU(nil, router.packet(t, bu{seq: 1, flags: mip6.BUFlagA | mip6.BUFlagH | mip6.BUFlagR}), t0)
	if r.Status != 0 || tab.Lookup(in) == nil {
		t.Fatalf("register: %v, table %v", r.Status, tab.Lookup(in))
	}
	at := t0.Add(time.Second)
	r = h.ProcessBU(nil, router.packet(t, bu{seq: 2, ts: at, lifetime: 4 * time.Second}), at)
	if r.Status != 0 || r.Change != Refreshed || len(r.Binding.MobilePrefixes) != 0 {
		t.Fatalf("refresh without R: %v %v %v", r.Status, r.Change, r.Binding.MobilePrefixes)
	}
	if tab.Lookup(in) != nil {
		t.Error("prefix still routed after a registration without R")
	}
	if got := router.checkBA(t, r.BA, coa1); got.Lifetime != 4*time.Second || got.Refresh != 0 || got.Flags != 0 {
		t.Errorf("BA %+v, want lifetime 4s, no refresh advice, no R", got)
	}
	at = t0.Add(2 * time.Second)
	r = h.ProcessBU(nil, router.packet(t, bu{seq: 3, ts: at, lifetime: -1, flags: mip6.BUFlagH}), at)
	if r.Verdict != Silent || r.Change != Deleted || r.BA != nil || h.Cache().Len() != 0 || tab.Len() != 0 {
		t.Errorf("de-registration without A: %v %v BA %x, cache %d, table %d", r.Verdict, r.Change, r.BA, h.Cache().Len(), tab.Len())
	}
}

// TestMemoryMillion measures the whole home agent with a million
// configured nodes, each registered: the binding cache plus the
// per-node security associations and replay state. Both are reported;
// the cache part (the bindings) is held to the 300 octets per
// binding. The association table (about 320 octets a node: identifier,
// key, maps) is configuration, not binding state, and is only reported.
func TestMemoryMillion(t *testing.T) {
	if testing.Short() {
		t.Skip("a million nodes")
	}
	const n = 1_000_000
	cfg := testConfig(t)
	cfg.MobileNodes = make([]conf.MobileNode, n)
	for i := range cfg.MobileNodes {
		cfg.MobileNodes[i] = conf.MobileNode{
			ID:          fmt.Sprintf("mn%07d@home.example", i),
			HomeAddress: netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0x01, 0, 0, 0, 0, 0, 0, 0, 1, byte(i >> 16), byte(i >> 8), byte(i)}),
			SPI:         uint32(256 + i),
			Key:         laptopKey,
			Algorithm:   "hmac-sha1",
		}
	}
	var m0, m1, m2 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	h, err := New(cfg, Options{SkipDAD: true, CacheHint: 1}) // the cache is measured apart
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&m1)
	c := binding.NewCache(0)
	for i, mn := range cfg.MobileNodes {
		c.Set(binding.Entry{HomeAddress: mn.HomeAddress, CareOf: coa1, Sequence: 1, Flags: mip6.BUFlagA | mip6.BUFlagH,
			Lifetime: 300 * time.Second, Expires: t0.Add(300 * time.Second), Timestamp: binding.Timestamp(ts(t0)), Node: uint32(i)})
	}
	if dropped := h.Restore(c, t0); len(dropped) != 0 {
		t.Fatalf("%d dropped", len(dropped))
	}
	c = nil
	runtime.GC()
	runtime.ReadMemStats(&m2)
	nodes := float64(m1.HeapAlloc-m0.HeapAlloc) / n
	cache := float64(m2.HeapAlloc-m1.HeapAlloc) / n
	t.Logf("per node: %.0f bytes of association state (IDs, keys, maps), %.0f bytes of binding cache", nodes, cache)
	if cache > 300 {
		t.Errorf("binding cache %.0f bytes per binding, budget 300", cache)
	}
	if h.Cache().Len() != n {
		t.Errorf("cache holds %d", h.Cache().Len())
	}
	runtime.KeepAlive(cfg)
	runtime.KeepAlive(h)
}

// A forged BU (bad authenticator) naming a victim as its Alternate
// Care-of Address must not steer the 146 reply at the victim: before the
// MAC verifies, replies go to the packet's own source only.
func TestNoReflectionBeforeAuth(t *testing.T) {
	h := newHA(t, Options{SkipDAD: true})
	victim := netip.MustParseAddr("2001:db8:bad::1")
	r := h.ProcessBU(nil, laptop.packet(t, bu{seq: 1, badMAC: true, altCoA: victim}), t0)
	if r.Status != mip6.StatusAuthFailed {
		t.Fatalf("status %v, want 146", r.Status)
	}
	if r.BADst != coa1 {
		t.Fatalf("146 sent to %v, want the packet's source %v (alt-CoA %v is unauthenticated)", r.BADst, coa1, victim)
	}
	if h.Cache().Len() != 0 {
		t.Fatal("forged BU created state")
	}
	// Authenticated, the alternate care-of address is the care-of address.
	r = h.ProcessBU(nil, laptop.packet(t, bu{seq: 2, altCoA: victim}), t0)
	if r.Status != mip6.StatusAccepted || r.BADst != victim {
		t.Fatalf("authenticated BU with alt-CoA: status %v to %v", r.Status, r.BADst)
	}
}
