//go:build linux

package tunnel

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/gomip6/gomip6/internal/netlab"
)

// signalled is what a Signal callback received.
type signalled struct {
	pkt   []byte
	outer Outer
}

// collector returns a Signal callback that never blocks (a full channel
// drops, as the documentation asks of a daemon) and its channel.
func collector() (func([]byte, Outer), chan signalled) {
	ch := make(chan signalled, 16)
	return func(p []byte, o Outer) {
		select {
		case ch <- signalled{p, o}:
		default:
		}
	}, ch
}

// TestForwarderSignal: a mobile node with no binding at the home agent
// sends Mobility Header signalling through its forwarder's UDP or 6in4
// socket (SendUDP4, Send6in4), as a Dual-Stack MIPv6 node sends its first
// Binding Update (RFC 5555 §4.2); the home agent's forwarder hands it to
// its Signal callback with the outer headers, instead of dropping it for
// want of a binding, and answers the same way; what is not signalling to
// a signalling address still meets the anti-spoofing rules.
func TestForwarderSignal(t *testing.T) {
	netlab.SkipUnlessRoot(t)
	for _, kind := range []Kind{Kind6in4, KindUDP4} {
		t.Run(kind.String(), func(t *testing.T) {
			haSig, haCh := collector()
			mnSig, mnCh := collector()
			l := newLabWith(t, kind,
				func(c *ForwarderConfig) { c.SignalAddrs, c.Signal = []netip.Addr{labHA6}, haSig },
				func(c *ForwarderConfig) { c.SignalAddrs, c.Signal = []netip.Addr{labHoA}, mnSig })
			// No binding yet at the home agent: this is the first
			// registration.
			l.haTab.Delete(netip.PrefixFrom(labHoA, 128))
			send := func(f *Forwarder, ep Endpoint, p []byte) error {
				if kind == KindUDP4 {
					return f.SendUDP4(ep, p)
				}
				return f.Send6in4(ep, p)
			}
			recv := func(ch chan signalled) signalled {
				t.Helper()
				select {
				case s := <-ch:
					return s
				case <-time.After(3 * time.Second):
					t.Fatal("nothing signalled")
				}
				return signalled{}
			}

			// The Binding Update: inner from the home address to the
			// home agent, no Home Address option (RFC 5555 §4.2).
			bu := mhPacket(t, labHoA, labHA6, netip.Addr{})
			must(t, send(l.mnF, l.mnEP, bu))
			got := recv(haCh)
			if !bytes.Equal(got.pkt, bu) {
				t.Fatalf("signalled %x, sent %x", got.pkt, bu)
			}
			want := Outer{Kind: kind, Src: labMN4, Dst: labHA4}
			if kind == KindUDP4 {
				// From the forwarder's own port: the NAT mapping
				// of the tunnel (RFC 5555 §4.1).
				want.SrcPort, want.DstPort = UDPPortDSMIP, UDPPortDSMIP
			}
			if got.outer != want {
				t.Fatalf("outer %+v, want %+v", got.outer, want)
			}
			if st := l.haF.Stats(); st.Signalled != 1 {
				t.Fatalf("home agent Signalled %d", st.Signalled)
			}
			if st := l.mnF.Stats(); st.SignalSent != 1 || st.SignalSendErrors != 0 {
				t.Fatalf("mobile node sent %d, errors %d", st.SignalSent, st.SignalSendErrors)
			}

			// The Binding Acknowledgement goes back the same way, to
			// the mobile node's forwarder, which signals it too.
			ba := mhPacket(t, labHA6, labHoA, netip.Addr{})
			must(t, send(l.haF, l.haEP, ba))
			if got := recv(mnCh); !bytes.Equal(got.pkt, ba) || got.outer.Src != labHA4 {
				t.Fatalf("mobile node got %x from %+v", got.pkt, got.outer)
			}

			// Not signalling: an echo request to the home agent's
			// address, and a Mobility Header to another address, both
			// from a home address without a binding: dropped as
			// before (no_binding), not handed over.
			before := l.haT.Counters.Snapshot().Get(In, ReasonNoBinding).Packets
			must(t, send(l.mnF, l.mnEP, echoPacket(labHoA, labHA6)))
			must(t, send(l.mnF, l.mnEP, mhPacket(t, labHoA, labCN, netip.Addr{})))
			deadline := time.Now().Add(3 * time.Second)
			for l.haT.Counters.Snapshot().Get(In, ReasonNoBinding).Packets < before+2 {
				if time.Now().After(deadline) {
					t.Fatalf("no_binding drops: %d, want %d", l.haT.Counters.Snapshot().Get(In, ReasonNoBinding).Packets, before+2)
				}
				time.Sleep(10 * time.Millisecond)
			}
			select {
			case s := <-haCh:
				t.Fatalf("signalled %x", s.pkt)
			default:
			}

			// Bad calls.
			if err := l.mnF.SendUDP4(Endpoint{Kind: Kind6in4, Local: labMN4, Remote: labHA4}, bu); err == nil {
				t.Error("SendUDP4 to a 6in4 endpoint")
			}
			if err := send(l.mnF, l.mnEP, bu[:len(bu)-1]); err == nil {
				t.Error("a truncated IPv6 packet was sent")
			}
			if kind == KindUDP4 {
				ep := l.mnEP
				ep.LocalPort = 9999
				if err := l.mnF.SendUDP4(ep, bu); err == nil {
					t.Error("SendUDP4 from another port than the forwarder's")
				}
			}
			must(t, l.mnF.Close())
			if err := send(l.mnF, l.mnEP, bu); err != ErrClosed {
				t.Errorf("after Close: %v", err)
			}
		})
	}
}
