package rawsock

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/gomip6/gomip6/mip6"
	"github.com/google/go-cmp/cmp"
)

// BuildMH against scapy's bytes (frames "bu_hao" and "ba_rh2"): layout,
// lengths and the checksum with its pseudo-header (RFC 6275 §6.1.1, home
// address as source; final destination from the type 2 routing header).
func TestBuildMHMatchesScapy(t *testing.T) {
	tests := []struct {
		name          string
		src, dst, hoa netip.Addr
		rh2           netip.Addr
		m             mip6.MobilityMessage
		frame         string
	}{
		{
			name: "BU with HAO", src: addrA, dst: addrB, hoa: hoaA,
			m:     &mip6.BindingUpdate{Sequence: 7, Flags: mip6.BUFlagH | mip6.BUFlagL | mip6.BUFlagK, Lifetime: 40 * time.Second},
			frame: "bu_hao",
		},
		{
			name: "BA with RH2", src: addrB, dst: addrA, rh2: hoaA,
			m:     &mip6.BindingAck{Status: 0, Flags: mip6.BAFlagK, Sequence: 7, Lifetime: 40 * time.Second},
			frame: "ba_rh2",
		},
		{
			name: "BRR bare", src: addrB, dst: addrA,
			m:     &mip6.BindingRefreshRequest{},
			frame: "brr",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := BuildMH(tt.src, tt.dst, tt.hoa, tt.rh2, tt.m)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(frame(t, tt.frame), got); diff != "" {
				t.Errorf("BuildMH (-scapy +got):\n%s", diff)
			}
		})
	}
}

var addrCmp = cmp.Comparer(func(a, b netip.Addr) bool { return a == b })

func TestAppendMHBoth(t *testing.T) {
	prefix := []byte("xx")
	hoaB := netip.MustParseAddr("2001:db8:4::b")
	m := &mip6.BindingUpdate{Sequence: 1, Flags: mip6.BUFlagA, Lifetime: 8 * time.Second}
	b, err := AppendMH(prefix, MHPacket{Src: addrA, Dst: addrB, HomeAddress: hoaA, RH2: hoaB, HopLimit: 9, Message: m})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, prefix) {
		t.Fatalf("prefix lost")
	}
	pkt := b[len(prefix):]
	l, err := mip6.WalkIPv6(pkt)
	if err != nil {
		t.Fatal(err)
	}
	// RFC 6275 §6.3: the Destination Options header with the HAO comes
	// after the routing header.
	want := mip6.PacketLayout{
		Src: addrA, Dst: addrB, End: len(pkt), Proto: mip6.ProtoMobility, Offset: 40 + 24 + 24,
		HAO: 40 + 24 + 8, HomeAddress: hoaA,
		RH2: 40, RH2SegmentsLeft: 1, RH2Address: hoaB,
		PseudoSrc: hoaA, PseudoDst: hoaB,
	}
	if diff := cmp.Diff(want, l, addrCmp); diff != "" {
		t.Errorf("layout (-want +got):\n%s", diff)
	}
	if pkt[7] != 9 {
		t.Errorf("hop limit %d", pkt[7])
	}
	mh := pkt[l.Offset:]
	if !mip6.VerifyMHChecksum(mh, hoaA, hoaB) {
		t.Errorf("checksum does not verify")
	}
	got, err := mip6.ParseMessage(mh)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(mip6.MobilityMessage(m), got); diff != "" {
		t.Errorf("message (-want +got):\n%s", diff)
	}

	// SetChecksum puts back a checksum that was spoilt.
	mh[4] ^= 0xff
	if mip6.VerifyMHChecksum(mh, hoaA, hoaB) {
		t.Fatalf("spoilt checksum verifies")
	}
	if err := SetChecksum(pkt); err != nil {
		t.Fatal(err)
	}
	if !mip6.VerifyMHChecksum(mh, hoaA, hoaB) {
		t.Errorf("SetChecksum did not fix the checksum")
	}
}

func TestBuildMHErrors(t *testing.T) {
	v4 := netip.MustParseAddr("192.0.2.1")
	zoned := netip.MustParseAddr("fe80::1%eth0")
	m := &mip6.BindingRefreshRequest{}
	for _, tt := range []struct {
		name               string
		src, dst, hoa, rh2 netip.Addr
		m                  mip6.MobilityMessage
	}{
		{"no src", netip.Addr{}, addrB, netip.Addr{}, netip.Addr{}, m},
		{"v4 dst", addrA, v4, netip.Addr{}, netip.Addr{}, m},
		{"zoned src", zoned, addrB, netip.Addr{}, netip.Addr{}, m},
		{"v4 hoa", addrA, addrB, v4, netip.Addr{}, m},
		{"4in6 rh2", addrA, addrB, netip.Addr{}, netip.MustParseAddr("::ffff:192.0.2.1"), m},
		{"nil message", addrA, addrB, netip.Addr{}, netip.Addr{}, nil},
		{"bad lifetime", addrA, addrB, hoaA, netip.Addr{}, &mip6.BindingUpdate{Lifetime: 3 * time.Second}},
	} {
		if _, err := BuildMH(tt.src, tt.dst, tt.hoa, tt.rh2, tt.m); err == nil {
			t.Errorf("%s: no error", tt.name)
		}
	}
	if err := SetChecksum(frame(t, "tcp")); err == nil {
		t.Errorf("SetChecksum on TCP: no error")
	}
	if err := SetChecksum([]byte{0x60}); !errors.Is(err, mip6.ErrTruncated) {
		t.Errorf("SetChecksum on 1 octet: %v", err)
	}
}
