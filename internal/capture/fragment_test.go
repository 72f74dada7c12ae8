package capture

import (
	"encoding/hex"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gomip6/gomip6/internal/pcapfile"
)

// Packets built with scapy (scapy.layers.inet6, scapy.layers.mobileip),
// starting at the IPv6 header.
//
// fragBU is the first of the fragments fragment6() makes of
//
//	IPv6(src="2001:db8:9::a", dst="2001:db8:1::1")/
//	IPv6ExtHdrDestOpt(options=[HAO(hoa="2001:db8:1::a")])/
//	IPv6ExtHdrFragment(id=0x1234)/
//	MIP6MH_BU(seq=7, mhtime=100, options=[MIP6OptUnknown(otype=200, odata=b"\0"*250)])
//
// with 200-octet fragments: Fragment Offset 0, M set; the Mobility Header
// says Header Len 32 (264 octets) and 128 are here, with the checksum of
// the whole message (0xc96a).
var fragBU = "6000000000a03c4020010db800090000000000000000000a20010db8000100000000000000000001" +
	"2c0201020000c91020010db800010000000000000000000a" + // DestOpts: PadN 2, HAO
	"8700000100001234" + // Fragment: next MH, offset 0, M, id 0x1234
	"3b200500c96a0007d0000064c8fa" + strings.Repeat("00", 114) // MH BU, cut

// fragBU2 is the second fragment (offset 16, M set).
var fragBU2 = "6000000000a03c4020010db800090000000000000000000a20010db8000100000000000000000001" +
	"2c0201020000c91020010db800010000000000000000000a" +
	"8700008100001234" + strings.Repeat("00", 128)

// roUDP is route-optimised traffic between two mobile nodes:
//
//	IPv6(src="2001:db8:9::a", dst="2001:db8:8::b")/
//	IPv6ExtHdrRouting(type=2, addresses=["2001:db8:1::b"], segleft=1)/
//	IPv6ExtHdrDestOpt(options=[HAO(hoa="2001:db8:1::a")])/
//	UDP(sport=1000, dport=2000)/b"x"
const roUDP = "6000000000392b4020010db800090000000000000000000a20010db800080000000000000000000b" +
	"3c0202010000000020010db800010000000000000000000b" + // RH2, segments left 1, hoa of b
	"110201020000c91020010db800010000000000000000000a" + // DestOpts: HAO, hoa of a
	"03e807d00009209b78"

func decodeHex(t *testing.T, s string) Record {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	r, ok := Decode(1, pcapfile.Packet{LinkType: pcapfile.LinkTypeRaw, Data: b})
	if !ok {
		t.Fatalf("no record for %s", s[:16])
	}
	return r
}

// TestFirstFragmentMH: the first fragment of a BU is reported as such,
// with what it holds, and no verdict on a checksum that covers octets it
// does not have (it used to say "cksum BAD").
func TestFirstFragmentMH(t *testing.T) {
	r := decodeHex(t, fragBU)
	want := Record{Frame: 1, Src: "2001:db8:9::a", Dst: "2001:db8:1::1",
		HomeAddress: "2001:db8:1::a", HomeAddressFrom: "hao", HAO: "2001:db8:1::a",
		Protocol: "mh", MHType: "BU", Fragmented: true, Options: []map[string]any{}}
	if d := cmp.Diff(want, r, cmpopts.EquateEmpty()); d != "" {
		t.Errorf("record (-want +got):\n%s", d)
	}
	line := r.Line()
	if strings.Contains(line, "BAD") || !strings.Contains(line, "fragmented") || strings.Contains(line, "error") {
		t.Errorf("line %q", line)
	}
	// The later fragment holds no header to decode: only the HAO shows.
	r = decodeHex(t, fragBU2)
	if r.Fragmented || r.ChecksumOK != nil || r.MHType != "" || r.HAO != "2001:db8:1::a" || r.Protocol != "fragment" {
		t.Errorf("second fragment: %+v", r)
	}
	// The same first fragment with M clear is an atomic fragment (RFC
	// 6946), a whole packet: verified, and here found short (the Header
	// Len claims octets that are not there), so reported as an error.
	b, _ := hex.DecodeString(fragBU)
	b[40+24+3] = 0
	r, _ = Decode(1, pcapfile.Packet{LinkType: pcapfile.LinkTypeRaw, Data: b})
	if r.Fragmented || r.ChecksumOK == nil || *r.ChecksumOK || r.Error == "" {
		t.Errorf("atomic fragment: %+v", r)
	}
}

// TestHAOAndRH2: both home addresses are reported.
func TestHAOAndRH2(t *testing.T) {
	r := decodeHex(t, roUDP)
	want := Record{Frame: 1, Src: "2001:db8:9::a", Dst: "2001:db8:8::b",
		HomeAddress: "2001:db8:1::a", HomeAddressFrom: "hao",
		HAO: "2001:db8:1::a", RH2: "2001:db8:1::b", Protocol: "udp", Options: []map[string]any{}}
	if d := cmp.Diff(want, r, cmpopts.EquateEmpty()); d != "" {
		t.Errorf("record (-want +got):\n%s", d)
	}
	if line := r.Line(); !strings.Contains(line, "hao=2001:db8:1::a") || !strings.Contains(line, "rh2=2001:db8:1::b") {
		t.Errorf("line %q", line)
	}
}
