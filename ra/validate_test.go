package ra

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gomip6/gomip6/mip6"
)

var (
	allNodesAddr   = netip.MustParseAddr("ff02::1")
	allRoutersAddr = netip.MustParseAddr("ff02::2")
	fe80_3         = netip.MustParseAddr("fe80::3")
)

// Router Solicitations built with scapy: ICMPv6ND_RS() / SrcLLAddr
// 02:00:00:00:00:03 from fe80::3, and a bare one from :: (RFC 4861 §4.1).
const (
	rsWithSLLA = "85007a28 00000000 0101020000000003"
	rsBare     = "85007bb8 00000000"
)

// withChecksum copies b and sets its checksum for src and dst.
func withChecksum(b []byte, src, dst netip.Addr) []byte {
	b = append([]byte(nil), b...)
	mip6.SetICMPChecksum(b, src, dst)
	return b
}

func TestValidateRS(t *testing.T) {
	unspec := netip.IPv6Unspecified()
	good := unhex(t, rsWithSLLA)
	bare := unhex(t, rsBare)
	mod := func(b []byte, i int, v byte, src netip.Addr) []byte {
		b = append([]byte(nil), b...)
		b[i] = v
		return withChecksum(b, src, allRoutersAddr)
	}
	flip := func(b []byte, i int) []byte {
		b = append([]byte(nil), b...)
		b[i] ^= 1
		return b
	}
	for _, tc := range []struct {
		name string
		b    []byte
		src  netip.Addr
		hop  int
		ok   bool
	}{
		{"valid with SLLA", good, fe80_3, 255, true},
		{"valid from ::", bare, unspec, 255, true},
		{"hop limit 254 (forwarded)", good, fe80_3, 254, false},
		{"bad checksum", flip(good, 15), fe80_3, 255, false},
		{"checksum for another source", good, netip.MustParseAddr("fe80::4"), 255, false},
		{"code 1", mod(good, 1, 1, fe80_3), fe80_3, 255, false},
		{"short", withChecksum(bare[:6], fe80_3, allRoutersAddr), fe80_3, 255, false},
		{"zero-length option", mod(good, 9, 0, fe80_3), fe80_3, 255, false},
		{"SLLA from ::", withChecksum(good, unspec, allRoutersAddr), unspec, 255, false},
		{"not an RS", withChecksum(unhex(t, radvdHomeAgentRA), fe80_3, allRoutersAddr), fe80_3, 255, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateRS(tc.b, tc.src, allRoutersAddr, tc.hop)
			if (err == nil) != tc.ok {
				t.Errorf("ValidateRS = %v, want ok %v", err, tc.ok)
			}
		})
	}
}

func TestValidateRA(t *testing.T) {
	good := unhex(t, radvdHomeAgentRA)
	global := netip.MustParseAddr("2001:db8:100::2")
	for _, tc := range []struct {
		name string
		b    []byte
		src  netip.Addr
		hop  int
		ok   bool
	}{
		{"radvd RA", good, fe80_2, 255, true},
		{"global source", withChecksum(good, global, allNodesAddr), global, 255, false},
		{"hop limit 64", good, fe80_2, 64, false},
		{"bad checksum", good, fe80_1, 255, false},
		{"truncated option", withChecksum(good[:len(good)-1], fe80_2, allNodesAddr), fe80_2, 255, false},
		{"fixed part short", withChecksum(good[:12], fe80_2, allNodesAddr), fe80_2, 255, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ValidateRA(tc.b, tc.src, allNodesAddr, tc.hop)
			if (err == nil) != tc.ok {
				t.Errorf("ValidateRA = %v, want ok %v", err, tc.ok)
			}
		})
	}
}

// FuzzValidate feeds arbitrary ICMPv6 bodies, with a correct checksum,
// to ValidateRS and ValidateRA: no panic, and every RA accepted marshals
// back to a message that validates to the same value (parse → marshal →
// parse symmetry through the checks a received RA goes through).
func FuzzValidate(f *testing.F) {
	f.Add(unhex(f, radvdHomeAgentRA))
	f.Add(unhex(f, rsWithSLLA))
	f.Add(unhex(f, rsBare))
	f.Fuzz(func(t *testing.T, b []byte) {
		b = withChecksum(b, fe80_2, allNodesAddr)
		_ = ValidateRS(b, fe80_2, allNodesAddr, 255)
		ra, err := ValidateRA(b, fe80_2, allNodesAddr, 255)
		if err != nil {
			return
		}
		// The Home Agents List takes whatever a valid RA says: an entry
		// exactly when H is set and the lifetime in effect is not 0
		// (RFC 6275 §10.5.1).
		life := ra.RouterLifetime
		for _, o := range ra.Options {
			if hai, ok := o.(*mip6.HomeAgentInformation); ok {
				life = hai.Lifetime
				break
			}
		}
		l := NewHAList(homePrefix, nil)
		l.Update(fe80_2, ra, t0)
		if got, want := len(l.List(t0)), 0; ra.HomeAgent && life > 0 {
			if got != 1 {
				t.Fatalf("H with lifetime %v: %d entries, want 1", life, got)
			}
		} else if got != want {
			t.Fatalf("H=%v lifetime %v: %d entries, want none", ra.HomeAgent, life, got)
		}
		_ = l.DHAADReply(&mip6.HomeAgentDiscoveryRequest{}, t0)

		out, err := mip6.MarshalICMP(ra)
		if err != nil {
			// mip6 parses a Home Agent Lifetime of 0, which a receiver
			// must act on (§10.5.1), but will not send one (§7.4): the
			// one accepted input that does not marshal.
			if errors.Is(err, mip6.ErrInvalid) && hasZeroHALifetime(ra) {
				return
			}
			t.Fatalf("accepted RA does not marshal: %v", err)
		}
		out = withChecksum(out, fe80_2, allNodesAddr)
		ra2, err := ValidateRA(out, fe80_2, allNodesAddr, 255)
		if err != nil {
			t.Fatalf("re-marshalled RA rejected: %v", err)
		}
		if diff := cmp.Diff(ra, ra2, netipCmp); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
	})
}

func hasZeroHALifetime(ra *mip6.RouterAdvertisement) bool {
	for _, o := range ra.Options {
		if hai, ok := o.(*mip6.HomeAgentInformation); ok && hai.Lifetime == 0 {
			return true
		}
	}
	return false
}
