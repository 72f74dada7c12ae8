package mip6

import (
	"net/netip"
)

// HomeAddressOptionLen is the length of the Home Address option including
// its Option Type and Option Length octets: 2 + 16 (RFC 6275 §6.3).
const HomeAddressOptionLen = 18

// HomeAddressDestOptsLen is the length of the Destination Options header
// AppendHomeAddressDestOpts builds: 24 octets, Hdr Ext Len 2.
const HomeAddressDestOptsLen = 24

// HomeAddressOption is a zero-copy view of the Home Address destination
// option (RFC 6275 §6.3), starting at its Option Type octet:
//
//	|  Option Type  | Option Length |
//	|        Home Address (16 octets)       |
//
// Option Type is 201 (0xC9): its top bits 11 make a node that does not
// know the option discard the packet and send an ICMP Parameter Problem,
// code 2, so a packet with a home address never reaches a node that would
// misread its source. Option Length is 16.
//
// A receiver swaps the option's address and the IPv6 Source Address
// before handing the packet up (§9.3.1), and a sender does the reverse; the
// view lets both happen in place:
//
//	src := ip.Src()
//	ip.SetSrc(hao.Address())
//	hao.SetAddress(src)
type HomeAddressOption []byte

// IsValid reports whether o holds an option of type 201 and length 16.
func (o HomeAddressOption) IsValid() bool {
	return len(o) >= HomeAddressOptionLen && o[0] == OptHomeAddress && o[1] == 16
}

// Address returns the Home Address. It does not allocate.
func (o HomeAddressOption) Address() netip.Addr {
	return netip.AddrFrom16([16]byte(o[2:18]))
}

// SetAddress overwrites the Home Address in place. a should be an IPv6
// address; see IPv6Header.SetSrc.
func (o HomeAddressOption) SetAddress(a netip.Addr) {
	a16 := a.As16()
	copy(o[2:18], a16[:])
}

// DestOptsHeader is a zero-copy view of a Destination Options header (RFC
// 8200 §4.6) that may hold a Home Address option among others:
//
//	|  Next Header  |  Hdr Ext Len  |        Options ...            |
//
// Call IsValid first: it checks the length and the option TLVs, so the
// other methods can trust them.
type DestOptsHeader []byte

// IsValid reports whether h holds a whole Destination Options header with
// well-formed options: each option fits inside the header, and a Home
// Address option, if present, has length 16 and appears once (RFC 6275
// §6.3: "MUST NOT appear more than once" per packet).
func (h DestOptsHeader) IsValid() bool {
	_, err := FindHomeAddress(h)
	return err == nil
}

// NextHeader returns the type of the header that follows.
func (h DestOptsHeader) NextHeader() uint8 { return h[0] }

// SetNextHeader sets the Next Header.
func (h DestOptsHeader) SetNextHeader(p uint8) { h[0] = p }

// Len returns the header length in octets, (Hdr Ext Len + 1) * 8.
func (h DestOptsHeader) Len() int { return (int(h[1]) + 1) * 8 }

// HomeAddressOption returns a view of the Home Address option inside h, or
// nil when there is none. h must be valid.
func (h DestOptsHeader) HomeAddressOption() HomeAddressOption {
	off, err := FindHomeAddress(h)
	if err != nil || off == 0 {
		return nil
	}
	return HomeAddressOption(h[off-2 : off+16])
}

// FindHomeAddress returns the offset, within the Destination Options header
// hdr, of the 16-octet address of its Home Address option, or 0 when the
// header holds none. It accepts any layout (Pad1, PadN and other options
// before or after) and checks the header: hdr must hold Hdr Ext Len's worth
// of octets, every option must fit inside it, and a Home Address option
// must have length 16 and appear once (RFC 6275 §6.3). It does not check
// the 8n+6 alignment, which is the sender's duty (§6.3) and does not affect
// how the option reads. It does not allocate.
func FindHomeAddress(hdr []byte) (int, error) {
	if len(hdr) < 8 {
		return 0, errWalkExtShort
	}
	n := (int(hdr[1]) + 1) * 8
	if len(hdr) < n {
		return 0, errWalkOptsShort
	}
	return findHomeAddressTLV(hdr[:n])
}

// AppendHomeAddressDestOpts appends the canonical 24-octet Destination
// Options header carrying only a Home Address option for hoa:
//
//	octet 0      Next Header = next
//	octet 1      Hdr Ext Len = 2 (3 x 8 octets)
//	octets 2-5   PadN, 2 octets of padding: type 1, length 2, 0, 0
//	octets 6-7   Option Type 201, Option Length 16
//	octets 8-23  Home Address
//
// The PadN puts the option at offset 6, the 8n+6 alignment of RFC 6275 §6.3,
// which makes the address 8-octet aligned. hoa should be an IPv6 unicast
// address; the caller vouches for it.
func AppendHomeAddressDestOpts(b []byte, next uint8, hoa netip.Addr) []byte {
	a := hoa.As16()
	b = append(b, next, 2, 1, 2, 0, 0, OptHomeAddress, 16)
	return append(b, a[:]...)
}
