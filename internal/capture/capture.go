// Package capture decodes captured frames for `mip6ctl dump`: it finds the
// Mobile IPv6 content of a frame — Mobility Header messages, Home Address
// options, type 2 routing headers, home agent discovery and mobile prefix
// messages, router advertisements with MIPv6 options — also inside
// IPv6-in-IPv6, IPv6-in-IPv4 (protocol 41) and IPv6-in-UDP (port 4191)
// tunnels, and describes it as a Record.
//
// Every field comes from our own codec (package mip6), which follows the
// RFCs; nothing is taken from a capture tool's dissection.
package capture

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/gomip6/gomip6/internal/pcapfile"
	"github.com/gomip6/gomip6/mip6"
)

// Record is the decode of one frame. Its JSON form is what `mip6ctl dump
// --json` prints, one object per line.
type Record struct {
	// Frame is the 1-based frame number in the capture.
	Frame int `json:"frame"`
	// Time is the capture timestamp, RFC 3339 with nanoseconds, UTC.
	Time string `json:"time,omitempty"`
	// Encapsulation lists the tunnels the Mobile IPv6 packet travelled in,
	// outermost first: "ipv6" (IPv6 in IPv6, RFC 2473), "ipv4" (6in4,
	// protocol 41, RFC 4213), "udp4" (IPv6 in UDP over IPv4, RFC 5555 §4).
	// The names are the control API's encapsulation names.
	Encapsulation []string `json:"encapsulation,omitempty"`
	// OuterSrc and OuterDst are the outermost IP header's addresses when
	// the packet was tunnelled.
	OuterSrc string `json:"outer_src,omitempty"`
	OuterDst string `json:"outer_dst,omitempty"`
	// Src and Dst are the IPv6 header's addresses of the Mobile IPv6 packet.
	Src string `json:"src"`
	Dst string `json:"dst"`
	// HomeAddress is the address of the Home Address option, or of the
	// type 2 routing header when there is no such option;
	// HomeAddressFrom says which ("hao", "rh2").
	HomeAddress     string `json:"home_address,omitempty"`
	HomeAddressFrom string `json:"home_address_from,omitempty"`
	// HAO and RH2 are the addresses of the Home Address option and of the
	// type 2 routing header, each when present. A packet can carry both:
	// route-optimised traffic between two mobile nodes goes to the
	// receiver's care-of address with its home address in a type 2
	// routing header and the sender's home address in a Home Address
	// option (RFC 6275 §6.3, §6.4, §9.3.2, §11.3.1).
	HAO string `json:"hao,omitempty"`
	RH2 string `json:"rh2,omitempty"`
	// Fragmented reports the first fragment of a fragmented packet
	// (Fragment Offset 0, M set, RFC 8200 §4.5): the upper-layer message
	// is cut, so its checksum is not verified (ChecksumOK absent) and the
	// fields are what the fragment holds; a message cut short is not an
	// error.
	Fragmented bool `json:"fragmented,omitempty"`
	// Protocol is the upper layer: "mh", "icmpv6", "tcp", "udp", or the
	// protocol number.
	Protocol string `json:"protocol"`
	// MHType is the Mobility Header type name ("BU", "BA", ...).
	MHType string `json:"mh_type,omitempty"`
	// ICMPType is the ICMPv6 message name ("HAAD-request", "RA", ...).
	ICMPType string `json:"icmp_type,omitempty"`
	// Sequence, Flags, LifetimeS and Status are the BU/BA fields (Status
	// also of BE); absent for other messages.
	Sequence   *uint16   `json:"sequence,omitempty"`
	Flags      *[]string `json:"flags,omitempty"`
	LifetimeS  *int64    `json:"lifetime_s,omitempty"`
	Status     *int      `json:"status,omitempty"`
	StatusName string    `json:"status_name,omitempty"`
	// Fields holds the other fields of the message (cookies, nonce index,
	// identifier, home agents, RA parameters, ...).
	Fields map[string]any `json:"fields,omitempty"`
	// Options are the mobility options or ND options, in order, each with
	// its "type" name and its fields.
	Options []map[string]any `json:"options"`
	// ChecksumOK tells whether the MH or ICMPv6 checksum verifies, with the
	// pseudo-header of RFC 6275 §6.1.1 (home address as source when a Home
	// Address option is present, final destination of a type 2 routing
	// header as destination); absent when it cannot be verified (a first
	// fragment, see Fragmented).
	ChecksumOK *bool `json:"checksum_ok,omitempty"`
	// Error describes what could not be decoded (malformed message); the
	// fields before it were.
	Error string `json:"error,omitempty"`
}

// maxDepth bounds tunnel nesting: a capture of IPv6 in IPv6 in IPv6 ... must
// not recurse without end.
const maxDepth = 4

// Decode looks for Mobile IPv6 content in one captured frame. It returns
// false when the frame carries none (or no IP at all).
func Decode(frame int, p pcapfile.Packet) (Record, bool) {
	r := Record{Frame: frame, Options: []map[string]any{}}
	if !p.Timestamp.IsZero() {
		r.Time = p.Timestamp.UTC().Format(time.RFC3339Nano)
	}
	ip, ok := linkPayload(p.LinkType, p.Data)
	if !ok {
		return r, false
	}
	return r, decodeIP(&r, ip, 0)
}

// linkPayload strips the link-layer header and returns the IP packet.
func linkPayload(linkType uint32, b []byte) ([]byte, bool) {
	switch linkType {
	case pcapfile.LinkTypeEthernet:
		if len(b) < 14 {
			return nil, false
		}
		et := binary.BigEndian.Uint16(b[12:])
		b = b[14:]
		// 802.1Q / 802.1ad tags, up to two.
		for i := 0; i < 2 && (et == 0x8100 || et == 0x88a8); i++ {
			if len(b) < 4 {
				return nil, false
			}
			et = binary.BigEndian.Uint16(b[2:])
			b = b[4:]
		}
		if et != 0x86dd && et != 0x0800 {
			return nil, false
		}
		return b, true
	case pcapfile.LinkTypeRaw, pcapfile.LinkTypeIPv4, pcapfile.LinkTypeIPv6:
		return b, true
	case pcapfile.LinkTypeNull:
		if len(b) < 4 {
			return nil, false
		}
		return b[4:], true
	case pcapfile.LinkTypeLinuxSLL:
		if len(b) < 16 {
			return nil, false
		}
		return b[16:], true
	case pcapfile.LinkTypeLinuxSLL2:
		if len(b) < 20 {
			return nil, false
		}
		return b[20:], true
	}
	return nil, false
}

// decodeIP dispatches on the IP version nibble.
func decodeIP(r *Record, b []byte, depth int) bool {
	if len(b) < 1 || depth > maxDepth {
		return false
	}
	switch b[0] >> 4 {
	case 6:
		return decodeIPv6(r, b, depth)
	case 4:
		return decodeIPv4(r, b, depth)
	}
	return false
}

// setOuter records the outermost tunnel's addresses once.
func setOuter(r *Record, src, dst netip.Addr) {
	if r.OuterSrc == "" {
		r.OuterSrc, r.OuterDst = src.String(), dst.String()
	}
}

func decodeIPv4(r *Record, b []byte, depth int) bool {
	if len(b) < 20 {
		return false
	}
	ihl := int(b[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(b[2:]))
	if ihl < 20 || total < ihl || total > len(b) {
		return false
	}
	// A non-first fragment holds no header we could read.
	if binary.BigEndian.Uint16(b[6:])&0x1fff != 0 {
		return false
	}
	src := netip.AddrFrom4([4]byte(b[12:16]))
	dst := netip.AddrFrom4([4]byte(b[16:20]))
	payload := b[ihl:total]
	switch b[9] {
	case mip6.ProtoIPv6: // 6in4, RFC 4213
		setOuter(r, src, dst)
		r.Encapsulation = append(r.Encapsulation, "ipv4")
		return decodeIP(r, payload, depth+1)
	case mip6.ProtoUDP:
		if len(payload) < 8 {
			return false
		}
		sp := binary.BigEndian.Uint16(payload[0:])
		dp := binary.BigEndian.Uint16(payload[2:])
		if sp != mip6.UDPPortDSMIP && dp != mip6.UDPPortDSMIP {
			return false
		}
		inner := payload[8:]
		// RFC 5555 §4.1 puts the IPv6 packet right after the UDP header.
		// RFC 5845 (BU flag T) may put a 4-octet TLV header first: type 1
		// is an IPv6 packet (types 2-3 IPv4/GRE are not ours).
		if len(inner) >= 4 && inner[0]>>4 != 6 && inner[0] == 1 {
			inner = inner[4:]
		}
		setOuter(r, src, dst)
		r.Encapsulation = append(r.Encapsulation, "udp4")
		return decodeIP(r, inner, depth+1)
	}
	return false
}

func decodeIPv6(r *Record, b []byte, depth int) bool {
	l, err := mip6.WalkIPv6(b)
	if err != nil {
		// Still worth a line if the fixed header is there: the error names
		// the malformed extension header.
		if len(b) >= mip6.IPv6HeaderLen && b[0]>>4 == 6 && mightBeMIPv6(b) {
			h := mip6.IPv6Header(b)
			r.Src, r.Dst = h.Src().String(), h.Dst().String()
			r.Protocol = protoName(h.NextHeader())
			r.Error = err.Error()
			return true
		}
		return false
	}
	switch l.Proto {
	case mip6.ProtoIPv6:
		setOuter(r, l.Src, l.Dst)
		r.Encapsulation = append(r.Encapsulation, "ipv6")
		return decodeIP(r, b[l.Offset:l.End], depth+1)
	case mip6.ProtoIPv4:
		// IPv4 in IPv6: the DSMIPv6 home agent tunnels a mobile node's IPv4
		// traffic this way (RFC 5555 §4.3); not Mobile IPv6 content itself.
		return false
	}
	r.Src, r.Dst = l.Src.String(), l.Dst.String()
	r.Protocol = protoName(l.Proto)
	found := false
	if l.RH2 != 0 {
		r.RH2 = l.RH2Address.String()
		r.HomeAddress, r.HomeAddressFrom = r.RH2, "rh2"
		found = true
	}
	if l.HAO != 0 {
		// The sender's home address, when both are there.
		r.HAO = l.HomeAddress.String()
		r.HomeAddress, r.HomeAddressFrom = r.HAO, "hao"
		found = true
	}
	if l.NonFirstFragment {
		return found
	}
	// Fragment Offset 0 with the M flag (the low bit of octet 3 of the
	// Fragment header): the rest of the upper layer is in later
	// fragments. An atomic fragment (M clear, RFC 6946) is whole.
	r.Fragmented = l.Fragment != 0 && b[l.Fragment+3]&1 != 0
	upper := b[l.Offset:l.End]
	switch l.Proto {
	case mip6.ProtoMobility:
		decodeMH(r, upper, l)
		return true
	case mip6.ProtoICMPv6:
		if decodeICMP(r, upper, l) {
			return true
		}
	}
	return found
}

// mightBeMIPv6 tells whether a packet the walker rejected is worth
// reporting: its first header is one a Mobile IPv6 packet starts with.
func mightBeMIPv6(b []byte) bool {
	switch b[6] {
	case mip6.ProtoMobility, mip6.ProtoDestOpts, mip6.ProtoRouting:
		return true
	}
	return false
}

func protoName(p uint8) string {
	switch p {
	case mip6.ProtoMobility:
		return "mh"
	case mip6.ProtoICMPv6:
		return "icmpv6"
	case mip6.ProtoTCP:
		return "tcp"
	case mip6.ProtoUDP:
		return "udp"
	case mip6.ProtoNoNext:
		return "none"
	case mip6.ProtoFragment:
		return "fragment"
	case mip6.ProtoESP:
		return "esp"
	}
	return fmt.Sprint(p)
}

func ptr[T any](v T) *T { return &v }

// Line renders the record as one human-readable line.
func (r *Record) Line() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%5d ", r.Frame)
	if len(r.Encapsulation) > 0 {
		fmt.Fprintf(&sb, "[%s %s>%s] ", strings.Join(r.Encapsulation, "/"), r.OuterSrc, r.OuterDst)
	}
	fmt.Fprintf(&sb, "%s > %s", r.Src, r.Dst)
	switch {
	case r.HAO != "" || r.RH2 != "":
		if r.HAO != "" {
			fmt.Fprintf(&sb, " hao=%s", r.HAO)
		}
		if r.RH2 != "" {
			fmt.Fprintf(&sb, " rh2=%s", r.RH2)
		}
	case r.HomeAddress != "":
		fmt.Fprintf(&sb, " %s=%s", r.HomeAddressFrom, r.HomeAddress)
	}
	switch {
	case r.MHType != "":
		fmt.Fprintf(&sb, " MH %s", r.MHType)
	case r.ICMPType != "":
		fmt.Fprintf(&sb, " ICMPv6 %s", r.ICMPType)
	default:
		fmt.Fprintf(&sb, " %s", r.Protocol)
	}
	if r.Sequence != nil {
		fmt.Fprintf(&sb, " seq=%d", *r.Sequence)
	}
	if r.Flags != nil {
		f := strings.Join(*r.Flags, "")
		if f == "" {
			f = "-"
		}
		fmt.Fprintf(&sb, " flags=%s", f)
	}
	if r.LifetimeS != nil {
		fmt.Fprintf(&sb, " lifetime=%ds", *r.LifetimeS)
	}
	if r.Status != nil {
		fmt.Fprintf(&sb, " status=%d(%s)", *r.Status, r.StatusName)
	}
	for _, k := range sortedKeys(r.Fields) {
		fmt.Fprintf(&sb, " %s=%v", k, r.Fields[k])
	}
	for _, o := range r.Options {
		sb.WriteString(" <")
		sb.WriteString(fmt.Sprint(o["type"]))
		for _, k := range sortedKeys(o) {
			if k != "type" {
				fmt.Fprintf(&sb, " %s=%v", k, o[k])
			}
		}
		sb.WriteString(">")
	}
	if r.Fragmented {
		sb.WriteString(" fragmented (first fragment, cksum not verified)")
	}
	if r.ChecksumOK != nil {
		if *r.ChecksumOK {
			sb.WriteString(" cksum ok")
		} else {
			sb.WriteString(" cksum BAD")
		}
	}
	if r.Error != "" {
		fmt.Fprintf(&sb, " error: %s", r.Error)
	}
	return sb.String()
}
