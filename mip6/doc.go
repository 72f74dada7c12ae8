// Package mip6 is the Mobile IPv6 wire codec: the Mobility Header and its
// options (RFC 6275 §6.1–6.2 and the extensions of RFC 3963, 4283, 4285,
// 5555 and 5648), the Home Address destination option and the type 2
// routing header (§6.3–6.4), the ICMPv6 home agent discovery and mobile
// prefix messages (§6.5–6.8) and the router advertisement extensions of §7.
//
// The package is pure: it does no I/O, no logging and starts no goroutines.
// It imports the standard library only.
//
// Signalling messages (Mobility Header, ICMPv6) are structs with netip.Addr
// and time.Duration fields, parsed and marshalled with the same validation
// both ways. Data-plane headers (Home Address option, type 2 routing header,
// IPv6 extension header chains) are zero-copy []byte views, checked once
// with IsValid, so the forwarding path neither allocates nor copies.
//
// Any input to a Parse function gives a value or an error wrapped with the
// "mip6: " prefix, never a panic.
package mip6
