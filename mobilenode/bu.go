package mobilenode

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/gomip6/gomip6/binding"
	"github.com/gomip6/gomip6/mip6"
)

// Errors of VerifyBindingAck and of the Registration's receive path. Test
// with errors.Is.
var (
	// ErrChecksum: the Mobility Header checksum failed (RFC 6275 §9.2:
	// silently discard).
	ErrChecksum = errors.New("mobilenode: Mobility Header checksum failed")
	// ErrMalformed: the message did not parse, or is not the message
	// type expected.
	ErrMalformed = errors.New("mobilenode: malformed Mobility Header")
	// ErrUnauthenticated: no MN-HA Authentication option under our SPI,
	// or its authenticator does not verify. RFC 4285 §5.1 has the mobile
	// node discard such acknowledgements.
	ErrUnauthenticated = errors.New("mobilenode: Binding Acknowledgement not authenticated")
	// ErrUnexpected: an authenticated message that matches no Binding
	// Update in flight (wrong peer, sequence number or timestamp echo,
	// or nothing outstanding). RFC 6275 §11.7.3 has it ignored.
	ErrUnexpected = errors.New("mobilenode: message matches no outstanding Binding Update")
)

// SA is the MN-HA mobility security association of RFC 4285: the SPI
// names it, Key and Algorithm compute the Authentication Data.
type SA struct {
	SPI       uint32
	Key       []byte
	Algorithm binding.Algorithm
}

// BUParams describe one home registration Binding Update (RFC 6275
// §11.7.1, de-registration §11.5.5).
type BUParams struct {
	// ID is the NAI for the MN Identifier option (RFC 4283, required
	// with RFC 4285 §5).
	ID string
	SA SA
	// HomeAddress, CareOf and HomeAgent are the binding's addresses.
	// CareOf equal to HomeAddress (with Lifetime 0) is the
	// de-registration from the home link of §11.5.5. An IPv4 CareOf is
	// a Dual-Stack MIPv6 registration from an IPv4 network (RFC 5555
	// §4.2): it goes in the IPv4 Care-of Address option (§3.1.2), and
	// the authenticator covers it in its IPv4-mapped form, as
	// binding.SetMNHAAuthenticator and the home agent take it.
	HomeAddress, CareOf, HomeAgent netip.Addr
	Sequence                       uint16
	// Lifetime is rounded down to the 4 s unit of §6.1.7 and capped at
	// mip6.MaxLifetime; 0 de-registers.
	Lifetime time.Duration
	// LinkLocal sets the L flag (§6.1.7): the home agent defends our
	// link-local address too, because its interface identifier is the
	// home address's.
	LinkLocal bool
	// Timestamp is the Replay Protection option's value (RFC 4285 §6).
	Timestamp binding.Timestamp
	// MobilePrefixes, when not empty, make this a mobile router's Binding
	// Update (NEMO, RFC 3963 §5.1): the R flag, and in explicit mode
	// (§6.1.1) one Mobile Network Prefix option per prefix. A
	// de-registration keeps the R flag and leaves the prefixes out: the
	// home agent removes them all with the binding (§6.6).
	MobilePrefixes []netip.Prefix
	// ForceUDP sets the F flag (RFC 5555 §3.1.3) on a Binding Update
	// with an IPv4 care-of address: tunnel in UDP even without a NAT.
	// It means nothing with an IPv6 care-of address and is not sent
	// then.
	ForceUDP bool
	// IPv4HomeAddress, when valid, adds the IPv4 Home Address option
	// (RFC 5555 §3.1.1, Prefix-len 32): the address the node has, or
	// 0.0.0.0 to have the home agent assign one. Not sent with a
	// de-registration (lifetime 0), which releases it with the binding.
	IPv4HomeAddress netip.Addr
}

// AppendBindingUpdate appends the whole Mobility Header of a home
// registration Binding Update to b: A and H flags (RFC 6275 §11.7.1: a
// home registration always asks for an acknowledgement), L when asked,
// the MN Identifier, Replay Protection and, last, the MN-HA Mobility
// Message Authentication option (RFC 4285 §5: it covers everything before
// it, so nothing may follow). The authenticator covers (care-of address,
// home address, header) as binding.SetMNHAAuthenticator describes, and the
// checksum is computed last (§6.1.1) with the pseudo-header the packet will
// have: the home address as source (the Home Address option's, or the
// IPv6 source when at home) and the home agent as destination.
func AppendBindingUpdate(b []byte, p *BUParams) ([]byte, error) {
	if !p.HomeAddress.Is6() || !p.CareOf.IsValid() || !p.HomeAgent.Is6() {
		return b, fmt.Errorf("mobilenode: Binding Update needs IPv6 home address, care-of address and home agent")
	}
	if p.SA.Algorithm.Size() == 0 || len(p.SA.Key) == 0 {
		return b, fmt.Errorf("mobilenode: Binding Update needs an MN-HA key and algorithm")
	}
	lt := min(max(p.Lifetime, 0), mip6.MaxLifetime)
	lt -= lt % mip6.LifetimeUnit
	flags := mip6.BUFlagA | mip6.BUFlagH
	if p.LinkLocal {
		flags |= mip6.BUFlagL
	}
	var opts []mip6.MobilityOption
	if p.CareOf.Is4() {
		opts = append(opts, &mip6.IPv4CareofAddress{Address: p.CareOf})
		if p.ForceUDP {
			flags |= mip6.BUFlagF
		}
	}
	if p.IPv4HomeAddress.Is4() && lt > 0 {
		opts = append(opts, &mip6.IPv4HomeAddress{PrefixLen: 32, Address: p.IPv4HomeAddress})
	}
	opts = append(opts, mip6.MNIdentifierNAI(p.ID))
	if len(p.MobilePrefixes) > 0 {
		flags |= mip6.BUFlagR
		if lt > 0 {
			for _, pfx := range p.MobilePrefixes {
				opts = append(opts, &mip6.MobileNetworkPrefix{Prefix: pfx})
			}
		}
	}
	opts = append(opts,
		&mip6.ReplayProtection{Timestamp: uint64(p.Timestamp)},
		&mip6.Authentication{Subtype: mip6.AuthSubtypeMNHA, SPI: p.SA.SPI, Data: make([]byte, p.SA.Algorithm.Size())},
	)
	start := len(b)
	out, err := mip6.AppendMessage(b, &mip6.BindingUpdate{Sequence: p.Sequence, Flags: flags, Lifetime: lt, Options: opts})
	if err != nil {
		return b, fmt.Errorf("mobilenode: Binding Update: %w", err)
	}
	mh := out[start:]
	off, _, err := mip6.AuthenticatorOffset(mh, mip6.OptAuthentication)
	if err == nil {
		err = binding.SetMNHAAuthenticator(p.SA.Algorithm, p.SA.Key, p.CareOf, p.HomeAddress, mh, off)
	}
	if err != nil {
		return b, fmt.Errorf("mobilenode: authenticating the Binding Update: %w", err)
	}
	// §6.1.1: with a Home Address option the pseudo-header source is
	// the home address; at home the IPv6 source is the home address
	// itself. Either way: home address to home agent.
	src, dst := mip6.MHChecksumAddrs(p.CareOf, p.HomeAgent, p.HomeAddress, netip.Addr{})
	mip6.SetMHChecksum(mh, src, dst)
	return out, nil
}

// BAInfo is what a verified Binding Acknowledgement tells the mobile node.
type BAInfo struct {
	Status   mip6.Status
	Flags    mip6.BAFlags
	Sequence uint16
	Lifetime time.Duration
	// Refresh is the Binding Refresh Advice interval (§6.2.4), 0 when
	// the option is absent.
	Refresh time.Duration
	// Timestamp is the Replay Protection option's value: our Binding
	// Update's echoed, or the home agent's clock with status 145 (RFC
	// 4285 §6). HasTimestamp is false when the option is missing.
	Timestamp    binding.Timestamp
	HasTimestamp bool
	// UDP reports a NAT Detection option (RFC 5555 §3.2.2): the home
	// agent tunnels to us in UDP (port 4191), because it saw a NAT or
	// because the F flag asked; ours must go the same way. ForceUDP is
	// the option's F flag. Keepalive is how often the NAT's mapping
	// must be refreshed: the option's refresh time, NATKeepalive when
	// it is 0 ("ignored"), 0 when it is all ones (no NAT: no keepalive
	// needed).
	UDP       bool
	ForceUDP  bool
	Keepalive time.Duration
	// HasIPv4Ack reports an IPv4 Address Acknowledgement (RFC 5555
	// §3.2.1) with its status; IPv4HomeAddress is the address granted
	// (valid only with a success status, below 128).
	HasIPv4Ack      bool
	IPv4AckStatus   mip6.IPv4AckStatus
	IPv4HomeAddress netip.Addr
}

// NATKeepalive is RFC 5555's NATKATIMEOUT, the NAT keepalive interval
// when the home agent does not give one.
const NATKeepalive = 110 * time.Second

// VerifyBindingAck checks a received Binding Acknowledgement as RFC 4285
// §5.1 asks of a mobile node and returns its content: the checksum with
// the pseudo-header src (the home agent) to hoa (a BA to a care-of address
// travels with a type 2 routing header naming the home address, which
// RFC 8200 §8.1 makes the pseudo-header destination), then the first
// Authentication option must be MN-HA under sa.SPI, of the algorithm's
// length, and its authenticator must verify over (coa, hoa) — the
// addresses of the Binding Update it answers, as the home agent computes
// it. Anything else is an error and the message must be ignored.
func VerifyBindingAck(mh []byte, src, hoa, coa netip.Addr, sa SA) (BAInfo, error) {
	if !mip6.VerifyMHChecksum(mh, src, hoa) {
		return BAInfo{}, ErrChecksum
	}
	msg, err := mip6.ParseMessage(mh)
	if err != nil {
		return BAInfo{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	ba, ok := msg.(*mip6.BindingAck)
	if !ok {
		return BAInfo{}, fmt.Errorf("%w: %v, not a Binding Acknowledgement", ErrMalformed, msg.MHType())
	}
	info := BAInfo{Status: ba.Status, Flags: ba.Flags, Sequence: ba.Sequence, Lifetime: ba.Lifetime}
	var auth *mip6.Authentication
	for _, o := range ba.Options {
		switch o := o.(type) {
		case *mip6.BindingRefreshAdvice:
			if info.Refresh == 0 {
				info.Refresh = o.RefreshInterval
			}
		case *mip6.ReplayProtection:
			if !info.HasTimestamp {
				info.Timestamp, info.HasTimestamp = binding.Timestamp(o.Timestamp), true
			}
		case *mip6.Authentication:
			// RFC 4285 §5: only the first Authentication option
			// is the MN-HA one; an MN-AAA option may follow.
			if auth == nil {
				auth = o
			}
		case *mip6.NATDetection:
			if !info.UDP {
				info.UDP, info.ForceUDP = true, o.ForceUDP
				switch o.RefreshTime {
				case 0:
					info.Keepalive = NATKeepalive
				case 0xffffffff * time.Second:
				default:
					info.Keepalive = o.RefreshTime
				}
			}
		case *mip6.IPv4AddressAck:
			if !info.HasIPv4Ack {
				info.HasIPv4Ack, info.IPv4AckStatus = true, o.Status
				if o.Status < 128 {
					info.IPv4HomeAddress = o.Address
				}
			}
		}
	}
	if auth == nil || auth.Subtype != mip6.AuthSubtypeMNHA || auth.SPI != sa.SPI || len(auth.Data) != sa.Algorithm.Size() {
		return BAInfo{}, ErrUnauthenticated
	}
	// The parser checked Header Len fits; octets after it are not the
	// message's (RFC 8200 §4.7) nor the MAC's.
	h := mh[:(int(mh[1])+1)*8]
	off, _, err := mip6.AuthenticatorOffset(h, mip6.OptAuthentication)
	if err != nil || !binding.VerifyMNHAAuthenticator(sa.Algorithm, sa.Key, coa, hoa, h, off) {
		return BAInfo{}, ErrUnauthenticated
	}
	return info, nil
}
