package rawsock

import (
	"net/netip"
	"testing"
	"time"

	"github.com/gomip6/gomip6/mip6"
	"github.com/google/go-cmp/cmp"
)

// buildMH is how the daemons build signalling packets: marshal the
// message, checksum it with the pseudo-header of RFC 6275 §6.1.1 (the home
// address as source when there is a Home Address option, the routing
// header's address as destination when there is a type 2 routing header),
// wrap it with mip6.AppendMobilityPacket.
func buildMH(t *testing.T, src, dst, hoa, rh2 netip.Addr, m mip6.MobilityMessage) []byte {
	t.Helper()
	mh, err := mip6.MarshalMessage(m)
	if err != nil {
		t.Fatal(err)
	}
	psrc, pdst := mip6.MHChecksumAddrs(src, dst, hoa, rh2)
	mip6.SetMHChecksum(mh, psrc, pdst)
	b, ok := mip6.AppendMobilityPacket(nil, src, dst, hoa, rh2, DefaultHopLimit, mh)
	if !ok {
		t.Fatal("AppendMobilityPacket refused")
	}
	return b
}

// The packets the daemons send, against scapy's bytes (frames "bu_hao",
// "ba_rh2", "brr"): layout, lengths, hop limit and the checksum with its
// pseudo-header.
func TestBuildMatchesScapy(t *testing.T) {
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
			got := buildMH(t, tt.src, tt.dst, tt.hoa, tt.rh2, tt.m)
			if diff := cmp.Diff(frame(t, tt.frame), got); diff != "" {
				t.Errorf("(-scapy +got):\n%s", diff)
			}
		})
	}
}
