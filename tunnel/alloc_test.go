package tunnel

import (
	"net/netip"
	"testing"
)

// TestZeroAllocs: the per-packet calls allocate nothing (issue 3 item 4).
func TestZeroAllocs(t *testing.T) {
	inner := mkInner(cnAddr, hoa, 0xba, 6, make([]byte, 1000))
	for _, ep := range []Endpoint{ep6(), ep4(), epUDP()} {
		tun, _ := newHA(t, ep, func(c *Config) { c.UDPChecksum = true })
		buf, off := withHeadroom(inner)
		out, _ := tun.Output(buf, off)
		rx := append([]byte(nil), out...)
		// The mobile node's end decapsulates what the HA sent.
		tab := NewTable(0)
		mn, _ := New(Config{Role: RoleMobileNode}, tab)
		_ = tab.Set(netip.PrefixFrom(hoa, 128), Endpoint{Kind: ep.Kind, Local: ep.Remote, Remote: ep.Local, LocalPort: ep.RemotePort, RemotePort: ep.LocalPort})
		b := tun.Table().Lookup(hoa)
		cases := map[string]func(){
			"Output": func() {
				copy(buf[off:], inner)
				if _, v := tun.Output(buf, off); v.Action != ActionSend {
					t.Fatal(v)
				}
			},
			"Encap": func() {
				copy(buf[off:], inner)
				tun.Encap(buf, off, b)
			},
			"Prepare": func() { tun.Prepare(buf, off, b) },
			"Input": func() {
				// Decap rewrites only the inner ECN field, so rx can be
				// decapsulated again and again.
				if _, v := mn.Input(rx); v.Action != ActionSend {
					t.Fatal(v)
				}
			},
			"Lookup": func() { tun.Table().Lookup(hoa) },
		}
		for name, f := range cases {
			if n := testing.AllocsPerRun(200, f); n != 0 {
				t.Errorf("%v %s: %.1f allocations", ep.Kind, name, n)
			}
		}
	}
	// Packet Too Big in place, and an ICMP relay.
	tun, _ := newHA(t, ep6MTU(), func(c *Config) { c.ICMPRate = 1e12; c.ICMPBurst = 1 << 30 })
	big := bigInner()
	buf, off := withHeadroom(big)
	if n := testing.AllocsPerRun(200, func() {
		copy(buf[off:], big)
		if _, v := tun.Output(buf, off); v.Action != ActionReply {
			t.Fatal(v)
		}
	}); n != 0 {
		t.Errorf("PTB: %.1f allocations", n)
	}
	msg := icmp6Msg(1, 0, 0, outerOf(t, tun, mkInner(cnAddr, hoa, 0, 59, make([]byte, 100))))
	dst := make([]byte, 1500)
	if n := testing.AllocsPerRun(200, func() {
		te, r := ParseTunnelError(msg, false)
		if r != ReasonOK {
			t.Fatal(r)
		}
		if _, v := tun.RelayError(dst, &te); v.Action != ActionReply {
			t.Fatal(v)
		}
	}); n != 0 {
		t.Errorf("relay: %.1f allocations", n)
	}
	// A Packet Too Big: the first one lowers the path MTU and records it
	// for aging (a map insert, once); the ones that follow, lowering
	// nothing, allocate nothing and read no clock.
	ptb := icmp6Msg(2, 0, 1300, outerOf(t, tun, innerOfSize(1360))[:1232])
	te, r := ParseTunnelError(ptb, false)
	if r != ReasonOK {
		t.Fatal(r)
	}
	tun.RelayError(dst, &te)
	if tun.Table().Lookup(hoa).PathMTU() != 1300 {
		t.Fatal("PTB did not lower the path MTU")
	}
	if n := testing.AllocsPerRun(200, func() {
		te, _ := ParseTunnelError(ptb, false)
		if _, v := tun.RelayError(dst, &te); v.Action != ActionReply {
			t.Fatal(v)
		}
	}); n != 0 {
		t.Errorf("PTB relay: %.1f allocations", n)
	}
}
