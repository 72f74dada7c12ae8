package rodata

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gomip6/gomip6/correspondent"
	"github.com/gomip6/gomip6/mip6"
)

var (
	hoa = netip.MustParseAddr("2001:db8:100::10")
	coa = netip.MustParseAddr("2001:db8:a::1")
	cn  = netip.MustParseAddr("2001:db8:c::1")
)

// udpPacket returns an IPv6/UDP packet from src to dst with a valid
// checksum, as a local socket would send it.
func udpPacket(src, dst netip.Addr, payload string) []byte {
	u := []byte{0x30, 0x39, 0x00, 0x35, 0, byte(8 + len(payload)), 0, 0}
	u = append(u, payload...)
	sum := mip6.PseudoHeaderChecksum(src, dst, mip6.ProtoUDP, u)
	u[6], u[7] = byte(sum>>8), byte(sum)
	return append(mip6.AppendIPv6Header(nil, uint16(len(u)), mip6.ProtoUDP, 64, src, dst), u...)
}

func withHeadroom(pkt []byte, room int) ([]byte, int) {
	b := make([]byte, room+len(pkt))
	copy(b[room:], pkt)
	return b, room
}

func udpChecksumOK(t *testing.T, pkt []byte) bool {
	t.Helper()
	l, err := mip6.WalkIPv6(pkt)
	if err != nil || l.Proto != mip6.ProtoUDP {
		t.Fatalf("walk: %v, proto %d", err, l.Proto)
	}
	return mip6.PseudoHeaderChecksum(l.PseudoSrc, l.PseudoDst, mip6.ProtoUDP, pkt[l.Offset:l.End]) == 0
}

func TestInsertHomeAddress(t *testing.T) {
	in := udpPacket(hoa, cn, "hello")
	buf, off := withHeadroom(in, 32)
	out, err := InsertHomeAddress(buf, off, len(in), coa)
	if err != nil {
		t.Fatal(err)
	}
	// RFC 6275 §6.3, octet by octet: IPv6 header with Next Header 60
	// and the care-of address as source; Destination Options header:
	// Next Header 17, Hdr Ext Len 2, PadN of 2 (1, 2, 0, 0: the option
	// at 8n+6), Option Type 201, Option Length 16, the home address.
	want := mip6.AppendIPv6Header(nil, uint16(len(in)-40+24), mip6.ProtoDestOpts, 64, coa, cn)
	want = append(want, 17, 2, 1, 2, 0, 0, 0xc9, 16)
	want = append(want, hoa.AsSlice()...)
	want = append(want, in[40:]...)
	if diff := cmp.Diff(want, out); diff != "" {
		t.Errorf("packet (-want +got):\n%s", diff)
	}
	// §6.3: the checksum stays valid, computed with the home address.
	if !udpChecksumOK(t, out) {
		t.Error("UDP checksum no longer valid")
	}
	// The correspondent's RestoreHomeAddress gives the original back.
	l, err := mip6.WalkIPv6(out)
	if err != nil {
		t.Fatal(err)
	}
	back, err := correspondent.RestoreHomeAddress(out, &l)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(in, back); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func TestInsertHomeAddressHopByHop(t *testing.T) {
	in := udpPacket(hoa, cn, "x")
	// A Hop-by-Hop Options header (8 octets of PadN) after the IPv6
	// header: the Destination Options header goes after it.
	hbh := []byte{mip6.ProtoUDP, 0, 1, 4, 0, 0, 0, 0}
	pkt := append(append(append([]byte(nil), in[:40]...), hbh...), in[40:]...)
	pkt[6] = mip6.ProtoHopByHop
	mip6.IPv6Header(pkt).SetPayloadLength(uint16(len(pkt) - 40))
	buf, off := withHeadroom(pkt, 24)
	out, err := InsertHomeAddress(buf, off, len(pkt), coa)
	if err != nil {
		t.Fatal(err)
	}
	if out[6] != mip6.ProtoHopByHop || out[40] != mip6.ProtoDestOpts || out[48] != mip6.ProtoUDP || out[48+6] != 0xc9 {
		t.Errorf("chain % x", out[:80])
	}
	if !udpChecksumOK(t, out) {
		t.Error("UDP checksum")
	}
}

func TestInsertHomeAddressErrors(t *testing.T) {
	in := udpPacket(hoa, cn, "x")
	rh := append([]byte(nil), in...)
	rh[6] = mip6.ProtoRouting
	do := append([]byte(nil), in...)
	do[6] = mip6.ProtoDestOpts
	short := append([]byte(nil), in...)
	mip6.IPv6Header(short).SetPayloadLength(200)
	for _, tc := range []struct {
		name string
		pkt  []byte
		room int
		want error
	}{
		{"no headroom", in, 23, ErrNoRoom},
		{"routing header", rh, 24, ErrLayout},
		{"destination options", do, 24, ErrLayout},
		{"truncated", short, 24, ErrNotIPv6},
		{"not IPv6", []byte{0x45, 0, 0, 20}, 24, ErrNotIPv6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			buf, off := withHeadroom(tc.pkt, tc.room)
			if _, err := InsertHomeAddress(buf, off, len(tc.pkt), coa); !errors.Is(err, tc.want) {
				t.Errorf("err %v, want %v", err, tc.want)
			}
		})
	}
}

func TestRestoreRoutingHeader2(t *testing.T) {
	in := udpPacket(cn, hoa, "hello") // as the correspondent's socket sent it
	buf, off := withHeadroom(in, 24)
	routed, err := correspondent.InsertRoutingHeader2(buf, off, len(in), coa)
	if err != nil {
		t.Fatal(err)
	}
	// What arrives at the care-of address, RFC 6275 §6.4: Next Header
	// 43, Hdr Ext Len 2, Routing Type 2, Segments Left 1, reserved,
	// the home address.
	if routed[6] != 43 || routed[41] != 2 || routed[42] != 2 || routed[43] != 1 || netip.AddrFrom16([16]byte(routed[48:64])) != hoa {
		t.Fatalf("routed % x", routed[:64])
	}
	for _, tc := range []struct {
		name string
		home netip.Addr
		want []byte
		err  error
	}{
		{"ours", hoa, in, nil},
		{"another home address", netip.MustParseAddr("2001:db8:100::99"), nil, ErrNotOurHome},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pkt := append([]byte(nil), routed...)
			l, err := mip6.WalkIPv6(pkt)
			if err != nil {
				t.Fatal(err)
			}
			out, err := RestoreRoutingHeader2(pkt, &l, tc.home)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
			if diff := cmp.Diff(tc.want, out); diff != "" {
				t.Errorf("packet (-want +got):\n%s", diff)
			}
		})
	}
	// Segments Left 0 (already processed) is not ours to process.
	pkt := append([]byte(nil), routed...)
	pkt[43] = 0
	l, _ := mip6.WalkIPv6(pkt)
	if _, err := RestoreRoutingHeader2(pkt, &l, hoa); !errors.Is(err, ErrNoRoutingHeader2) {
		t.Errorf("segments left 0: %v", err)
	}
	// No routing header at all.
	l, _ = mip6.WalkIPv6(in)
	if _, err := RestoreRoutingHeader2(append([]byte(nil), in...), &l, hoa); !errors.Is(err, ErrNoRoutingHeader2) {
		t.Errorf("plain packet: %v", err)
	}
}

// TestScapy builds the same packets with scapy's independent Mobile IPv6
// layers (HAO, IPv6ExtHdrRouting type 2), which compute the UDP
// checksum with the home address themselves, and compares octet for
// octet.
func TestScapy(t *testing.T) {
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("no python3")
	}
	script := `
from scapy.all import IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrRouting, HAO, UDP, Raw
hoa, coa, cn = "2001:db8:100::10", "2001:db8:a::1", "2001:db8:c::1"
u = UDP(sport=12345, dport=53)/Raw(b"hello")
print(bytes(IPv6(src=coa, dst=cn, hlim=64)/IPv6ExtHdrDestOpt(options=[HAO(hoa=hoa)])/u).hex())
print(bytes(IPv6(src=cn, dst=coa, hlim=64)/IPv6ExtHdrRouting(type=2, segleft=1, addresses=[hoa])/u).hex())
print(bytes(IPv6(src=cn, dst=hoa, hlim=64)/u).hex())
`
	cmd := exec.Command("/usr/bin/python3", "-c", script)
	outb, err := cmd.Output()
	if err != nil {
		t.Skipf("scapy: %v", err)
	}
	lines := strings.Fields(string(outb))
	if len(lines) != 3 {
		t.Fatalf("scapy printed %q", outb)
	}
	var want [3][]byte
	for i := range lines {
		if want[i], err = hex.DecodeString(lines[i]); err != nil {
			t.Fatal(err)
		}
	}
	in := udpPacket(hoa, cn, "hello")
	buf, off := withHeadroom(in, 24)
	got, err := InsertHomeAddress(buf, off, len(in), coa)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want[0], got); diff != "" {
		t.Errorf("home address option vs scapy (-scapy +ours):\n%s", diff)
	}
	pkt := append([]byte(nil), want[1]...)
	l, err := mip6.WalkIPv6(pkt)
	if err != nil {
		t.Fatal(err)
	}
	got, err = RestoreRoutingHeader2(pkt, &l, hoa)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want[2], got); diff != "" {
		t.Errorf("restored vs scapy (-scapy +ours):\n%s", diff)
	}
}

var router = netip.MustParseAddr("2001:db8:3::2")

// ptbAbout returns the ICMPv6 Packet Too Big (from its type octet) a
// router sends about pkt with mtu.
func ptbAbout(pkt []byte, mtu uint32) []byte {
	m := []byte{icmpPacketTooBig, 0, 0, 0, byte(mtu >> 24), byte(mtu >> 16), byte(mtu >> 8), byte(mtu)}
	return append(m, pkt...)
}

func TestAppendHomeAddressPacketTooBig(t *testing.T) {
	in := udpPacket(hoa, cn, strings.Repeat("x", 1400))
	buf, off := withHeadroom(in, 24)
	sent, err := InsertHomeAddress(buf, off, len(in), coa)
	if err != nil {
		t.Fatal(err)
	}
	out, h, c, dst, err := AppendHomeAddressPacketTooBig(nil, ptbAbout(sent, 1400), router)
	if err != nil {
		t.Fatal(err)
	}
	if h != hoa || c != coa || dst != cn {
		t.Errorf("addresses %v %v %v", h, c, dst)
	}
	// RFC 4443 §3.2 and §2.4(c): from the router to the home address,
	// type 2 code 0, MTU 1400-24, the packet as the socket sent it,
	// the whole message at most 1280 octets.
	if len(out) != 1280 {
		t.Errorf("length %d", len(out))
	}
	want := mip6.AppendIPv6Header(nil, 1240, mip6.ProtoICMPv6, 255, router, hoa)
	want = append(want, 2, 0, 0, 0, 0, 0, 0x05, 0x60) // 1376
	want = append(want, in[:1280-48]...)
	mip6.SetICMPChecksum(want[40:], router, hoa)
	if diff := cmp.Diff(want, out); diff != "" {
		t.Errorf("packet (-want +got):\n%s", diff)
	}
	if !mip6.VerifyICMPChecksum(out[40:], router, hoa) {
		t.Error("checksum")
	}
	// A small MTU is raised to 1280.
	out, _, _, _, err = AppendHomeAddressPacketTooBig(nil, ptbAbout(sent, 1290), router)
	if err != nil || binary.BigEndian.Uint32(out[44:48]) != 1280 {
		t.Errorf("MTU %d, %v", binary.BigEndian.Uint32(out[44:48]), err)
	}
	// Not ours: no Home Address option, other ICMP types.
	for name, m := range map[string][]byte{
		"plain packet":   ptbAbout(in, 1400),
		"not too big":    append([]byte{1, 4, 0, 0, 0, 0, 0, 0}, sent...),
		"short":          ptbAbout(sent[:50], 1400),
		"IPv4 router":    nil,
		"other code":     append([]byte{2, 1, 0, 0, 0, 0, 5, 0}, sent...),
		"wrong opt len":  ptbAbout(append(append(append([]byte(nil), sent[:41]...), 3), sent[42:]...), 1400),
		"other protocol": ptbAbout(append(append(append([]byte(nil), sent[:6]...), 17), sent[7:]...), 1400),
	} {
		from := router
		if m == nil {
			m, from = ptbAbout(sent, 1400), netip.MustParseAddr("192.0.2.1")
		}
		if _, _, _, _, err := AppendHomeAddressPacketTooBig(nil, m, from); !errors.Is(err, ErrNotOurPacket) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestPacketTooBigScapy: scapy builds the Packet Too Big the local
// socket expects, checksum and all; ours must be the same octets.
func TestPacketTooBigScapy(t *testing.T) {
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("no python3")
	}
	in := udpPacket(hoa, cn, "hello")
	buf, off := withHeadroom(in, 24)
	sent, err := InsertHomeAddress(buf, off, len(in), coa)
	if err != nil {
		t.Fatal(err)
	}
	out, _, _, _, err := AppendHomeAddressPacketTooBig(nil, ptbAbout(sent, 1400), router)
	if err != nil {
		t.Fatal(err)
	}
	script := `
import sys
from scapy.all import IPv6, ICMPv6PacketTooBig, Raw
inner = bytes.fromhex(sys.argv[1])
print(bytes(IPv6(src="2001:db8:3::2", dst="2001:db8:100::10", hlim=255)/ICMPv6PacketTooBig(mtu=1376)/Raw(inner)).hex())
`
	outb, err := exec.Command("/usr/bin/python3", "-c", script, hex.EncodeToString(in)).Output()
	if err != nil {
		t.Skipf("scapy: %v", err)
	}
	want, err := hex.DecodeString(strings.TrimSpace(string(outb)))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, out); diff != "" {
		t.Errorf("vs scapy (-scapy +ours):\n%s", diff)
	}
}
