package tunnel

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/gomip6/gomip6/mip6"
)

// bigInner is the scapy packet
//
//	IPv6(tc=0, fl=0, nh=59, hlim=63, src="2001:db8:1::1",
//	     dst="2001:db8:2::100")/Raw(b"\xab"*1400)
func bigInner() []byte {
	return mkInner(cnAddr, hoa, 0, 59, bytes.Repeat([]byte{0xab}, 1400))
}

// innerOfSize returns a packet from cnAddr to hoa of n octets.
func innerOfSize(n int) []byte { return mkInner(cnAddr, hoa, 0, 59, bytes.Repeat([]byte{0xcd}, n-40)) }

// ep6MTU is ep6 with a path MTU of 1400: a tunnel MTU of 1360, which
// bigInner (1440 octets) exceeds.
func ep6MTU() Endpoint { e := ep6(); e.PathMTU = 1400; return e }

// verifyICMP checks an ICMPv6 error packet with the independent checksum
// of package mip6 and returns its message.
func verifyICMP(t *testing.T, pkt []byte, from, to netip.Addr) []byte {
	t.Helper()
	if len(pkt) < 48 || pkt[0]>>4 != 6 || pkt[6] != 58 {
		t.Fatalf("not an ICMPv6 packet: %x", pkt[:min(len(pkt), 48)])
	}
	if got := int(binary.BigEndian.Uint16(pkt[4:])); got != len(pkt)-40 {
		t.Errorf("payload length %d, packet %d", got, len(pkt))
	}
	if s, d := netip.AddrFrom16([16]byte(pkt[8:24])), netip.AddrFrom16([16]byte(pkt[24:40])); s != from || d != to {
		t.Errorf("addresses %v -> %v, want %v -> %v", s, d, from, to)
	}
	m := pkt[40:]
	if mip6.PseudoHeaderChecksum(from, to, mip6.ProtoICMPv6, m) != 0 {
		t.Errorf("ICMPv6 checksum %#04x does not verify", binary.BigEndian.Uint16(m[2:]))
	}
	return m
}

// TestPTBVectors: Packet Too Big built in place by Encap, against scapy:
//
//	big = <bigInner>
//	IPv6(src="2001:db8:2::1", dst="2001:db8:1::1", hlim=64)/
//	    ICMPv6PacketTooBig(mtu=M)/Raw(bytes(big)[:1232])
//
// whose first 48 octets are below; the rest is the quote.
func TestPTBVectors(t *testing.T) {
	for _, tt := range []struct {
		pmtu int
		mtu  uint32
		head string
	}{
		{1320, 1280, "6000000004d83a4020010db800020000000000000000000120010db80001000000000000000000010200ef9c00000500"},
		{1400, 1360, "6000000004d83a4020010db800020000000000000000000120010db80001000000000000000000010200ef4c00000550"},
	} {
		e := ep6()
		e.PathMTU = tt.pmtu
		tun, _ := newHA(t, e, nil)
		in := bigInner()
		buf, off := withHeadroom(in)
		pkt, v := tun.Output(buf, off)
		if v != (Verdict{ActionReply, ReasonTooBig}) {
			t.Fatalf("verdict %+v", v)
		}
		if len(pkt) != 1280 {
			t.Errorf("PTB length %d, want 1280 (RFC 4443 §3.2: as much as fits the minimum MTU)", len(pkt))
		}
		if want := unhex(t, tt.head); !bytes.Equal(pkt[:48], want) {
			t.Errorf("PTB header\n got %x\nwant %x", pkt[:48], want)
		}
		if !bytes.Equal(pkt[48:], in[:1232]) {
			t.Error("quote is not the start of the invoking packet")
		}
		m := verifyICMP(t, pkt, haHome, cnAddr)
		if m[0] != 2 || m[1] != 0 || binary.BigEndian.Uint32(m[4:]) != tt.mtu {
			t.Errorf("type %d code %d mtu %d", m[0], m[1], binary.BigEndian.Uint32(m[4:]))
		}
		if &pkt[0] != &buf[off-48] {
			t.Error("PTB not built in place")
		}
		s := tun.Counters.Snapshot()
		if s.PTBSent.Packets != 1 || s.Get(Out, ReasonTooBig).Packets != 1 {
			t.Errorf("counters %+v %+v", s.PTBSent, s.Get(Out, ReasonTooBig))
		}
	}
}

// TestPTBSuppressed: RFC 4443 §2.4(e).
func TestPTBSuppressed(t *testing.T) {
	icmpErr := func(typ uint8) []byte { return append([]byte{typ, 0, 0, 0, 0, 0, 0, 0}, make([]byte, 1400)...) }
	withDestOpts := append([]byte{58, 0, 1, 4, 0, 0, 0, 0}, icmpErr(1)...)
	tests := []struct {
		name     string
		src, dst netip.Addr
		next     uint8
		payload  []byte
		noSource bool
		sent     bool
	}{
		{"plain", cnAddr, hoa, 59, make([]byte, 1400), false, true},
		{"ICMPv6 echo request", cnAddr, hoa, 58, icmpErr(128), false, true},
		{"ICMPv6 error", cnAddr, hoa, 58, icmpErr(1), false, false},
		{"ICMPv6 error behind destination options", cnAddr, hoa, 60, withDestOpts, false, false},
		{"ICMPv6 redirect", cnAddr, hoa, 58, icmpErr(137), false, false},
		{"unspecified source", netip.IPv6Unspecified(), hoa, 59, make([]byte, 1400), false, false},
		{"multicast source", netip.MustParseAddr("ff0e::1"), hoa, 59, make([]byte, 1400), false, false},
		{"link-local source", netip.MustParseAddr("fe80::1"), hoa, 59, make([]byte, 1400), false, false},
		{"no error source configured", cnAddr, hoa, 59, make([]byte, 1400), true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tun, _ := newHA(t, ep6MTU(), func(c *Config) {
				if tt.noSource {
					c.ErrorSource = netip.Addr{}
				}
			})
			buf, off := withHeadroom(mkInner(tt.src, tt.dst, 0, tt.next, tt.payload))
			_, v := tun.Output(buf, off)
			s := tun.Counters.Snapshot()
			if tt.sent {
				if v.Action != ActionReply || s.PTBSent.Packets != 1 {
					t.Fatalf("not sent: %+v", v)
				}
				return
			}
			if v != (Verdict{ActionDrop, ReasonTooBig}) || s.ICMPSuppressed != 1 || s.PTBSent.Packets != 0 {
				t.Fatalf("verdict %+v suppressed %d sent %d", v, s.ICMPSuppressed, s.PTBSent.Packets)
			}
		})
	}
}

// TestPTBRateLimit: RFC 4443 §2.4(f), with the injectable clock.
func TestPTBRateLimit(t *testing.T) {
	tun, clk := newHA(t, ep6MTU(), func(c *Config) { c.ICMPRate, c.ICMPBurst = 2, 3 })
	send := func() Action {
		buf, off := withHeadroom(bigInner())
		_, v := tun.Output(buf, off)
		return v.Action
	}
	var got []Action
	for range 5 {
		got = append(got, send())
	}
	clk.now += int64(500 * time.Millisecond) // one token at 2/s
	got = append(got, send(), send())
	clk.now += int64(10 * time.Second) // bucket refills to the burst, not more
	for range 4 {
		got = append(got, send())
	}
	R, D := ActionReply, ActionDrop
	want := []Action{R, R, R, D, D, R, D, R, R, R, D}
	if !equalActions(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
	if s := tun.Counters.Snapshot(); s.ICMPRateLimited != 4 || s.PTBSent.Packets != 7 {
		t.Errorf("limited %d sent %d", s.ICMPRateLimited, s.PTBSent.Packets)
	}
}

func equalActions(a, b []Action) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestRateLimiterDisabled(t *testing.T) {
	tun, _ := newHA(t, ep6MTU(), func(c *Config) { c.ICMPRate = -1 })
	buf, off := withHeadroom(bigInner())
	if _, v := tun.Output(buf, off); v.Action != ActionDrop {
		t.Errorf("%+v", v)
	}
	var zero RateLimiter
	if zero.Allow(0) {
		t.Error("zero RateLimiter allowed")
	}
	l := NewRateLimiter(1, 1)
	if !l.Allow(0) || l.Allow(0) || !l.Allow(int64(time.Second)) {
		t.Error("1/s, burst 1")
	}
}

// TestBuildICMPv6ErrorOverlap: the result does not depend on where the
// quote sits relative to dst.
func TestBuildICMPv6ErrorOverlap(t *testing.T) {
	in := bigInner()
	want, ok := BuildICMPv6Error(make([]byte, 1500), haHome, 1, 3, 0, in)
	if !ok {
		t.Fatal("build failed")
	}
	// Quote at the start of dst: must move right by 48.
	b1 := make([]byte, 1500)
	copy(b1, in)
	got1, _ := BuildICMPv6Error(b1, haHome, 1, 3, 0, b1[:len(in)])
	// Quote 10 octets into dst.
	b2 := make([]byte, 1500)
	copy(b2[10:], in)
	got2, _ := BuildICMPv6Error(b2, haHome, 1, 3, 0, b2[10:10+len(in)])
	// Quote exactly in place.
	b3 := make([]byte, 1500)
	copy(b3[48:], in)
	got3, _ := BuildICMPv6Error(b3, haHome, 1, 3, 0, b3[48:48+len(in)])
	for i, got := range [][]byte{got1, got2, got3} {
		if !bytes.Equal(got, want) {
			t.Errorf("overlap case %d differs", i)
		}
	}
	verifyICMP(t, want, haHome, cnAddr)
	if _, ok := BuildICMPv6Error(make([]byte, 87), haHome, 1, 3, 0, in); ok {
		t.Error("built into a buffer that cannot hold the invoking header")
	}
	if p, ok := BuildICMPv6Error(make([]byte, 100), haHome, 1, 3, 0, in); !ok || len(p) != 100 {
		t.Error("did not shorten the quote to the buffer")
	}
}

// icmp6Msg builds a received ICMPv6 error (checksum left zero: the kernel
// verified it).
func icmp6Msg(typ, code uint8, param uint32, quote []byte) []byte {
	m := make([]byte, 8, 8+len(quote))
	m[0], m[1] = typ, code
	binary.BigEndian.PutUint32(m[4:], param)
	return append(m, quote...)
}

// icmp4Msg builds a received ICMPv4 error with its checksum.
func icmp4Msg(typ, code uint8, param uint32, quote []byte) []byte {
	m := icmp6Msg(typ, code, param, quote)
	binary.BigEndian.PutUint16(m[2:], ^onesSum(m))
	return m
}

// outerOf returns the outer packet our tunnel sends for inner.
func outerOf(t *testing.T, tun *Tunnel, inner []byte) []byte {
	t.Helper()
	buf, off := withHeadroom(inner)
	out, v := tun.Output(buf, off)
	if v.Action != ActionSend && v.Action != ActionSendFragmentable {
		t.Fatalf("encap %+v", v)
	}
	return append([]byte(nil), out...)
}

func TestRelayError(t *testing.T) {
	small := unhex(t, testInnerHex)
	type want struct {
		parse  Reason
		v      Verdict
		pmtu   int    // binding path MTU afterwards
		typ    uint8  // relayed ICMPv6 type
		code   uint8  // and code
		param  uint32 // and parameter
		quoted int    // octets of the inner packet quoted
	}
	tests := []struct {
		name string
		ep   Endpoint
		v4   bool
		msg  func(outer []byte) []byte
		in   []byte
		want want
	}{
		{
			name: "ICMPv6 PTB 1400 on ip6ip6",
			ep:   ep6(), in: innerOfSize(1400),
			msg:  func(o []byte) []byte { return icmp6Msg(2, 0, 1400, o[:1232]) },
			want: want{ReasonOK, Verdict{ActionReply, ReasonOK}, 1400, 2, 0, 1360, 1192},
		},
		{
			// 1250 octets: over the new tunnel MTU (1240) but not
			// over 1280, so Encap now sends it fragmentable and the
			// source need not hear of it (RFC 2473 §7.1).
			name: "ICMPv6 PTB whose packet is 1280 or less: learn only",
			ep:   ep6(), in: innerOfSize(1250),
			msg:  func(o []byte) []byte { return icmp6Msg(2, 0, 1280, o[:1232]) },
			want: want{ReasonOK, Verdict{ActionDrop, ReasonOK}, 1280, 0, 0, 0, 0},
		},
		{
			// RFC 8201 §4: "If a node receives a Packet Too Big
			// message reporting a next-hop MTU that is less than the
			// IPv6 minimum link MTU, it must discard it."
			name: "ICMPv6 PTB below 1280 is discarded",
			ep:   ep6(), in: innerOfSize(1400),
			msg:  func(o []byte) []byte { return icmp6Msg(2, 0, 1279, o[:1232]) },
			want: want{ReasonOK, Verdict{ActionDrop, ReasonICMPIgnored}, 1500, 0, 0, 0, 0},
		},
		{
			name: "ICMPv6 PTB of exactly 1280 is taken",
			ep:   ep6(), in: innerOfSize(1400),
			msg:  func(o []byte) []byte { return icmp6Msg(2, 0, 1280, o[:1232]) },
			want: want{ReasonOK, Verdict{ActionReply, ReasonOK}, 1280, 2, 0, 1280, 1192},
		},
		{
			// The quoted outer packet is 1440 octets: a link of 9000
			// did not refuse it.
			name: "ICMPv6 PTB larger than the quoted packet is bogus",
			ep:   ep6(), in: innerOfSize(1400),
			msg:  func(o []byte) []byte { return icmp6Msg(2, 0, 9000, o[:1232]) },
			want: want{ReasonOK, Verdict{ActionDrop, ReasonICMPIgnored}, 1500, 0, 0, 0, 0},
		},
		{
			name: "ICMPv6 PTB equal to the quoted packet is bogus",
			ep:   ep6(), in: innerOfSize(1400),
			msg:  func(o []byte) []byte { return icmp6Msg(2, 0, 1440, o[:1232]) },
			want: want{ReasonOK, Verdict{ActionDrop, ReasonICMPIgnored}, 1500, 0, 0, 0, 0},
		},
		{
			name: "ICMPv6 PTB one below the quoted packet",
			ep:   ep6(), in: innerOfSize(1400),
			msg:  func(o []byte) []byte { return icmp6Msg(2, 0, 1439, o[:1232]) },
			want: want{ReasonOK, Verdict{ActionReply, ReasonOK}, 1439, 2, 0, 1399, 1192},
		},
		{
			name: "ICMPv6 PTB quoting another outer source",
			ep:   ep6(), in: innerOfSize(1400),
			msg: func(o []byte) []byte {
				copy(o[8:24], other6.AsSlice())
				return icmp6Msg(2, 0, 1300, o[:1232])
			},
			want: want{ReasonOK, Verdict{ActionDrop, ReasonICMPMismatch}, 1500, 0, 0, 0, 0},
		},
		{
			// RFC 791: no IPv4 link is under 68 octets.
			name: "ICMPv4 fragmentation needed 67 is discarded",
			ep:   ep4(), v4: true, in: innerOfSize(1400),
			msg:  func(o []byte) []byte { return icmp4Msg(3, 4, 67, o[:576]) },
			want: want{ReasonOK, Verdict{ActionDrop, ReasonICMPIgnored}, 1500, 0, 0, 0, 0},
		},
		{
			name: "ICMPv4 fragmentation needed 68 is clamped to our floor",
			ep:   ep4(), v4: true, in: innerOfSize(1400),
			msg:  func(o []byte) []byte { return icmp4Msg(3, 4, 68, o[:576]) },
			want: want{ReasonOK, Verdict{ActionReply, ReasonOK}, minPathMTU4, 2, 0, 1280, 556},
		},
		{
			name: "ICMPv6 unreachable: address unreachable to the source",
			ep:   ep6(), in: small,
			msg:  func(o []byte) []byte { return icmp6Msg(1, 0, 0, o) },
			want: want{ReasonOK, Verdict{ActionReply, ReasonOK}, 1500, 1, 3, 0, len(small)},
		},
		{
			name: "ICMPv6 hop limit exceeded in the tunnel",
			ep:   ep6(), in: small,
			msg:  func(o []byte) []byte { return icmp6Msg(3, 0, 0, o) },
			want: want{ReasonOK, Verdict{ActionReply, ReasonOK}, 1500, 1, 3, 0, len(small)},
		},
		{
			name: "ICMPv6 reassembly time exceeded: ignored",
			ep:   ep6(), in: small,
			msg:  func(o []byte) []byte { return icmp6Msg(3, 1, 0, o) },
			want: want{ReasonOK, Verdict{ActionDrop, ReasonICMPIgnored}, 1500, 0, 0, 0, 0},
		},
		{
			name: "ICMPv6 parameter problem: ours, ignored",
			ep:   ep6(), in: small,
			msg:  func(o []byte) []byte { return icmp6Msg(4, 0, 6, o) },
			want: want{ReasonOK, Verdict{ActionDrop, ReasonICMPIgnored}, 1500, 0, 0, 0, 0},
		},
		{
			name: "ICMPv6 quoting a forged outer destination",
			ep:   ep6(), in: small,
			msg: func(o []byte) []byte {
				copy(o[24:40], other6.AsSlice())
				return icmp6Msg(2, 0, 1300, o)
			},
			want: want{ReasonOK, Verdict{ActionDrop, ReasonICMPMismatch}, 1500, 0, 0, 0, 0},
		},
		{
			name: "ICMPv6 quoting only the outer header",
			ep:   ep6(), in: small,
			msg:  func(o []byte) []byte { return icmp6Msg(2, 0, 1300, o[:60]) },
			want: want{ReasonOK, Verdict{ActionDrop, ReasonICMPShort}, 1500, 0, 0, 0, 0},
		},
		{
			name: "ICMPv6 about a non-tunnel packet",
			ep:   ep6(), in: small,
			msg:  func([]byte) []byte { return icmp6Msg(1, 4, 0, mkInner(ha6, coa6, 0, 17, make([]byte, 8))) },
			want: want{ReasonNotOurs, Verdict{}, 1500, 0, 0, 0, 0},
		},
		{
			name: "ICMPv6 echo reply is no error",
			ep:   ep6(), in: small,
			msg:  func(o []byte) []byte { return icmp6Msg(129, 0, 0, o) },
			want: want{ReasonICMPIgnored, Verdict{}, 1500, 0, 0, 0, 0},
		},
		{
			name: "ICMPv4 fragmentation needed 1000 on 6in4",
			ep:   ep4(), v4: true, in: innerOfSize(1400),
			msg:  func(o []byte) []byte { return icmp4Msg(3, 4, 1000, o[:576]) },
			want: want{ReasonOK, Verdict{ActionReply, ReasonOK}, 1000, 2, 0, 1280, 556},
		},
		{
			name: "ICMPv4 fragmentation needed, MTU 0: RFC 1191 plateau",
			ep:   ep4(), v4: true, in: innerOfSize(1400),
			msg:  func(o []byte) []byte { return icmp4Msg(3, 4, 0, o[:576]) },
			want: want{ReasonOK, Verdict{ActionReply, ReasonOK}, 1006, 2, 0, 1280, 556},
		},
		{
			name: "ICMPv4 host unreachable on udp4",
			ep:   epUDP(), v4: true, in: small,
			msg:  func(o []byte) []byte { return icmp4Msg(3, 1, 0, o) },
			want: want{ReasonOK, Verdict{ActionReply, ReasonOK}, 1500, 1, 3, 0, len(small)},
		},
		{
			name: "ICMPv4 port unreachable on udp4 (NAT mapping gone)",
			ep:   epUDP(), v4: true, in: small,
			msg:  func(o []byte) []byte { return icmp4Msg(3, 3, 0, o) },
			want: want{ReasonOK, Verdict{ActionReply, ReasonOK}, 1500, 1, 3, 0, len(small)},
		},
		{
			name: "ICMPv4 TTL exceeded on 6in4",
			ep:   ep4(), v4: true, in: small,
			msg:  func(o []byte) []byte { return icmp4Msg(11, 0, 0, o) },
			want: want{ReasonOK, Verdict{ActionReply, ReasonOK}, 1500, 1, 3, 0, len(small)},
		},
		{
			name: "ICMPv4 with the RFC 792 minimum quote",
			ep:   ep4(), v4: true, in: small,
			msg:  func(o []byte) []byte { return icmp4Msg(3, 4, 1000, o[:28]) },
			want: want{ReasonOK, Verdict{ActionDrop, ReasonICMPShort}, 1500, 0, 0, 0, 0},
		},
		{
			name: "ICMPv4 bad checksum",
			ep:   ep4(), v4: true, in: small,
			msg: func(o []byte) []byte {
				m := icmp4Msg(3, 4, 1000, o)
				m[2] ^= 0xff
				return m
			},
			want: want{ReasonMalformed, Verdict{}, 1500, 0, 0, 0, 0},
		},
		{
			name: "ICMPv4 on udp4 with another NAT port",
			ep:   epUDP(), v4: true, in: small,
			msg: func(o []byte) []byte {
				binary.BigEndian.PutUint16(o[22:], natPort+1)
				return icmp4Msg(3, 1, 0, o)
			},
			want: want{ReasonOK, Verdict{ActionDrop, ReasonICMPMismatch}, 1500, 0, 0, 0, 0},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tun, _ := newHA(t, tt.ep, nil)
			msg := tt.msg(outerOf(t, tun, tt.in))
			te, r := ParseTunnelError(msg, tt.v4)
			if r != tt.want.parse {
				t.Fatalf("parse: %v, want %v", r, tt.want.parse)
			}
			b := tun.Table().Lookup(hoa)
			if r != ReasonOK {
				return
			}
			if te.Kind != tt.ep.Kind {
				t.Errorf("kind %v", te.Kind)
			}
			dst := make([]byte, 1500)
			pkt, v := tun.RelayError(dst, &te)
			if v != tt.want.v {
				t.Fatalf("verdict %+v, want %+v", v, tt.want.v)
			}
			if got := b.PathMTU(); got != tt.want.pmtu {
				t.Errorf("path MTU %d, want %d", got, tt.want.pmtu)
			}
			if n := tun.Counters.Snapshot().Get(ICMP, v.Reason).Packets; n != 1 {
				t.Errorf("ICMP counter %v = %d", v.Reason, n)
			}
			if v.Action != ActionReply {
				return
			}
			m := verifyICMP(t, pkt, haHome, cnAddr)
			if m[0] != tt.want.typ || m[1] != tt.want.code || binary.BigEndian.Uint32(m[4:]) != tt.want.param {
				t.Errorf("relayed %d/%d param %d, want %d/%d %d", m[0], m[1], binary.BigEndian.Uint32(m[4:]), tt.want.typ, tt.want.code, tt.want.param)
			}
			if !bytes.Equal(m[8:], tt.in[:tt.want.quoted]) {
				t.Errorf("quote: %d octets, want the first %d of the inner packet", len(m[8:]), tt.want.quoted)
			}
		})
	}
}

// TestRelayVector: the relayed Destination Unreachable byte for byte
// against scapy:
//
//	IPv6(src="2001:db8:2::1", dst="2001:db8:1::1", hlim=64)/
//	    ICMPv6DestUnreach(code=3)/inner
func TestRelayVector(t *testing.T) {
	const want = "6000000000383a4020010db800020000000000000000000120010db80001000000000000000000010103163f00000000" + testInnerHex
	tun, _ := newHA(t, ep6(), nil)
	msg := icmp6Msg(1, 0, 0, outerOf(t, tun, unhex(t, testInnerHex)))
	te, r := ParseTunnelError(msg, false)
	if r != ReasonOK {
		t.Fatal(r)
	}
	// Relay in place in the received message's own buffer: the quoted
	// inner packet sits 48 octets in, where the reply wants it.
	pkt, v := tun.RelayError(msg, &te)
	if v.Action != ActionReply || !bytes.Equal(pkt, unhex(t, want)) {
		t.Errorf("%+v\n got %x\nwant %s", v, pkt, want)
	}
}

// TestRelayMobileNode: on a mobile node the quoted inner packet is keyed
// by its source (our home address).
func TestRelayMobileNode(t *testing.T) {
	tab := NewTable(0)
	if err := tab.Set(netip.PrefixFrom(hoa, 128), Endpoint{Kind: Kind6in4, Local: coa4, Remote: ha4}); err != nil {
		t.Fatal(err)
	}
	tun, err := New(Config{Role: RoleMobileNode, ErrorSource: hoa}, tab)
	if err != nil {
		t.Fatal(err)
	}
	in := mkInner(hoa, cnAddr, 0, 59, make([]byte, 1400))
	msg := icmp4Msg(3, 4, 1200, outerOf(t, tun, in)[:600])
	te, r := ParseTunnelError(msg, true)
	if r != ReasonOK {
		t.Fatal(r)
	}
	pkt, v := tun.RelayError(make([]byte, 1500), &te)
	if v.Action != ActionReply || tab.Lookup(hoa).PathMTU() != 1200 {
		t.Fatalf("%+v pmtu %d", v, tab.Lookup(hoa).PathMTU())
	}
	m := verifyICMP(t, pkt, hoa, hoa)
	if binary.BigEndian.Uint32(m[4:]) != 1280 {
		t.Errorf("MTU %d", binary.BigEndian.Uint32(m[4:]))
	}
}

func TestHandleICMP(t *testing.T) {
	tun, _ := newHA(t, ep4(), nil)
	msg := icmp4Msg(3, 1, 0, outerOf(t, tun, unhex(t, testInnerHex)))
	ip := make([]byte, 20, 20+len(msg))
	ip[0] = 0x45
	pkt, v := tun.HandleICMP(make([]byte, 1500), append(ip, msg...), true)
	if v.Action != ActionReply || pkt[40] != 1 || pkt[41] != 3 {
		t.Fatalf("%+v", v)
	}
	for _, bad := range [][]byte{nil, {0x46, 0, 0, 0}, append([]byte{0x45}, make([]byte, 19)...)} {
		if _, v := tun.HandleICMP(nil, bad, true); v.Action != ActionDrop {
			t.Errorf("%x: %+v", bad, v)
		}
	}
	if _, v := tun.HandleICMP(nil, []byte{128, 0, 0, 0, 0, 0, 0, 0}, false); v.Reason != ReasonICMPIgnored {
		t.Errorf("echo request: %+v", v)
	}
	s := tun.Counters.Snapshot()
	if s.Get(ICMP, ReasonOK).Packets != 1 || s.Dropped(ICMP).Packets != 4 || s.UnreachSent.Packets != 1 {
		t.Errorf("%+v", s.ByReason[ICMP])
	}
}
