package ra

import (
	"fmt"
	"net/netip"

	"github.com/gomip6/gomip6/mip6"
)

// ndHopLimit is the hop limit of every ND message: sent with 255, and a
// received one with anything else has crossed a router and is discarded
// (RFC 4861 §6.1.1, §6.1.2).
const ndHopLimit = 255

// rsLen is the fixed part of a Router Solicitation: Type, Code, Checksum
// and Reserved (RFC 4861 §4.1).
const rsLen = 8

// ValidateRS checks a received Router Solicitation b (from the ICMPv6 Type
// octet on) with its IP source, destination and hop limit, as RFC 4861
// §6.1.1 requires: hop limit 255 (it was not forwarded), a valid checksum,
// Code 0, at least 8 octets, options of nonzero length that fit, and no
// Source Link-layer Address option when the source is the unspecified
// address. A router silently discards an RS that fails.
func ValidateRS(b []byte, src, dst netip.Addr, hopLimit int) error {
	if err := validateIP(b, src, dst, hopLimit, rsLen); err != nil {
		return err
	}
	if b[0] != mip6.ICMPRouterSolicitation {
		return fmt.Errorf("ra: ICMPv6 type %d is not a Router Solicitation", b[0])
	}
	if b[1] != 0 {
		return fmt.Errorf("ra: Router Solicitation with code %d (RFC 4861 §6.1.1)", b[1])
	}
	opts, err := mip6.ParseNDOptions(b[rsLen:])
	if err != nil {
		return fmt.Errorf("ra: Router Solicitation: %w", err)
	}
	if src.IsUnspecified() {
		for _, o := range opts {
			if o.NDOptionType() == mip6.NDOptSourceLinkLayer {
				return fmt.Errorf("ra: Router Solicitation from :: with a source link-layer address (RFC 4861 §6.1.1)")
			}
		}
	}
	return nil
}

// ValidateRA checks a received Router Advertisement b (from the ICMPv6 Type
// octet on) as RFC 4861 §6.1.2 requires: link-local source (routers are
// known by their link-local addresses), hop limit 255, a valid checksum,
// and then what mip6.ParseRouterAdvertisement checks (Code 0, at least 16
// octets, well-formed options). It returns the parsed RA.
func ValidateRA(b []byte, src, dst netip.Addr, hopLimit int) (*mip6.RouterAdvertisement, error) {
	if !src.IsLinkLocalUnicast() {
		return nil, fmt.Errorf("ra: Router Advertisement from %v, not a link-local address (RFC 4861 §6.1.2)", src)
	}
	if err := validateIP(b, src, dst, hopLimit, 0); err != nil {
		return nil, err
	}
	m, err := mip6.ParseRouterAdvertisement(b)
	if err != nil {
		return nil, fmt.Errorf("ra: %w", err)
	}
	return m, nil
}

// validateIP checks what the two messages share: hop limit, checksum and a
// minimum length.
func validateIP(b []byte, src, dst netip.Addr, hopLimit, minLen int) error {
	if hopLimit != ndHopLimit {
		return fmt.Errorf("ra: hop limit %d, want 255 (RFC 4861 §6.1)", hopLimit)
	}
	if len(b) < max(minLen, 4) {
		return fmt.Errorf("ra: ICMPv6 message of %d octets", len(b))
	}
	if !src.Is6() || !dst.Is6() {
		return fmt.Errorf("ra: addresses %v > %v are not IPv6", src, dst)
	}
	if !mip6.VerifyICMPChecksum(b, src.WithZone(""), dst.WithZone("")) {
		return fmt.Errorf("ra: bad ICMPv6 checksum from %v", src)
	}
	return nil
}
