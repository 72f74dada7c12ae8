package conf

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gomip6/gomip6/mip6"
)

// The semantic checks. Each reports through the decoder, with the key path,
// and is skipped for a key whose value could not be decoded (that problem
// is already reported; a second one about the zero value left behind would
// only mislead).

// ok reports whether key is present in the file with a usable value.
func (d *decoder) ok(key string) bool { return d.defined[key] && !d.bad[key] }

// usable reports whether key's value, present or defaulted, can be checked.
func (d *decoder) usable(key string) bool { return !d.bad[key] }

// required reports a missing key and tells whether its value can be used.
func (d *decoder) required(key, hint string) bool {
	if d.parentBad(key) {
		return false // "home: want a table" says it all
	}
	if !d.defined[key] {
		if hint != "" {
			d.addf(key, "missing (required; %s)", hint)
		} else {
			d.addf(key, "missing (required)")
		}
		return false
	}
	return !d.bad[key]
}

// parentBad reports whether a table or array holding key could not be
// decoded.
func (d *decoder) parentBad(key string) bool {
	for {
		i := strings.LastIndexAny(key, ".[")
		if i < 0 {
			return false
		}
		key = key[:i]
		if d.bad[key] {
			return true
		}
	}
}

// checkIPv6Unicast reports an address that cannot be a node's global or
// unique-local IPv6 address: the home address, a home agent, a tunnel end.
func (d *decoder) checkIPv6Unicast(key string, a netip.Addr) bool {
	var why string
	switch {
	case a.Is4():
		why = "is an IPv4 address; want IPv6"
	case a.Is4In6():
		why = "is an IPv4-mapped address; want a native IPv6 address"
	case a.IsUnspecified():
		why = "is the unspecified address"
	case a.IsLoopback():
		why = "is the loopback address"
	case a.IsMulticast():
		why = "is a multicast address"
	case a.IsLinkLocalUnicast():
		// A link-local address means nothing off its link, and these
		// addresses are reached from other networks.
		why = "is link-local; want a global (or unique-local) address"
	}
	if why != "" {
		d.bad[key] = true
		d.addf(key, "%s %s", a, why)
		return false
	}
	return true
}

// checkIPv6Prefix reports a prefix that is not IPv6 or is the whole space.
func (d *decoder) checkIPv6Prefix(key string, p netip.Prefix) bool {
	switch {
	case !p.Addr().Is6() || p.Addr().Is4In6():
		d.addf(key, "%s is not an IPv6 prefix", p)
	case p.Bits() == 0:
		d.addf(key, "%s covers the whole address space", p)
	case p.Addr().IsMulticast():
		d.addf(key, "%s is a multicast prefix", p)
	default:
		return true
	}
	d.bad[key] = true
	return false
}

// checkIPv4Unicast reports an address that cannot be an IPv4 host address
// reachable by other nodes (RFC 5555 addresses, 6in4 tunnel ends).
func (d *decoder) checkIPv4Unicast(key string, a netip.Addr) bool {
	var why string
	switch {
	case a.Is4In6():
		why = fmt.Sprintf("is IPv4-mapped IPv6; write it as %s", a.Unmap())
	case !a.Is4():
		why = "is an IPv6 address; want IPv4"
	case a.IsUnspecified():
		why = "is the unspecified address"
	case a.IsLoopback():
		why = "is a loopback address"
	case a.IsMulticast():
		why = "is a multicast address"
	case a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		why = "is the limited broadcast address"
	}
	if why != "" {
		d.bad[key] = true
		d.addf(key, "%s %s", a, why)
		return false
	}
	return true
}

// reservedAnycast explains why a (inside p) must not be given to a node:
// the all-zero interface identifier is the Subnet-Router anycast address
// (RFC 4291 §2.6.1) and the top 128 interface identifiers of a subnet are
// reserved subnet anycast addresses (RFC 2526 §2), among them the Mobile
// IPv6 Home-Agents anycast address (ID 126) that DHAAD requests go to
// (RFC 6275 §10.5). Returns "" for an ordinary address.
func reservedAnycast(a netip.Addr, p netip.Prefix) string {
	if !p.Contains(a) || p.Bits() >= 127 {
		return ""
	}
	if a == p.Addr() {
		return fmt.Sprintf("is the Subnet-Router anycast address of %s (RFC 4291 §2.6.1)", p)
	}
	b := a.As16()
	var reserved bool
	if p.Bits() == 64 {
		// EUI-64 format interface identifiers (RFC 2526 §2): the
		// universal/local bit is 0, all others 1 but the low 7.
		reserved = b[8] == 0xfd && b[9] == 0xff && b[10] == 0xff && b[11] == 0xff &&
			b[12] == 0xff && b[13] == 0xff && b[14] == 0xff && b[15]&0x80 != 0
	} else if p.Bits() <= 121 {
		// Other formats: every host bit above the low 7 is 1.
		reserved = true
		for i := p.Bits(); i < 121; i++ {
			if b[i/8]&(0x80>>(i%8)) == 0 {
				reserved = false
				break
			}
		}
	}
	if !reserved {
		return ""
	}
	if b[15]&0x7f == 0x7e {
		return fmt.Sprintf("is the Mobile IPv6 Home-Agents anycast address of %s (RFC 2526, RFC 6275 §10.5)", p)
	}
	return fmt.Sprintf("is a reserved subnet anycast address of %s (RFC 2526 §2)", p)
}

// checkHomePrefixLen applies to the home prefix of both ends: a subnet
// needs room below the 128 reserved anycast identifiers of RFC 2526 for
// its Home-Agents anycast address (DHAAD, RFC 6275 §10.5) and for hosts.
func (d *decoder) checkHomePrefixLen(key string, p netip.Prefix) bool {
	if p.Bits() > 120 {
		d.bad[key] = true
		d.addf(key, "%s is longer than /120: a home subnet needs its 128 reserved anycast addresses "+
			"(RFC 2526), the Home-Agents anycast address among them (RFC 6275 §10.5), and room for hosts", p)
		return false
	}
	return true
}

// checkLifetime checks a binding lifetime carried in a BU or BA: positive,
// at most 65535 units of 4 s, and a whole number of units.
//
// A value that is not a multiple of 4 s is refused rather than rounded: the
// wire cannot carry it (RFC 6275 §6.1.7, §6.1.8), and rounding either way
// would silently grant or request something other than what the operator
// wrote. The message names the two nearest values that work.
func (d *decoder) checkLifetime(key string, v Duration, most time.Duration) {
	l := v.Std()
	switch {
	case l <= 0:
		d.addf(key, "must be positive")
	case l > most:
		switch most {
		case mip6.MaxLifetime:
			d.addf(key, "%s exceeds %s, the longest lifetime a BU or BA can carry (65535 units of 4s, RFC 6275 §6.1.7)", l, most)
		case mip6.MaxRRBindingLifetime:
			d.addf(key, "%s exceeds %s, MAX_RR_BINDING_LIFETIME (RFC 6275 §12)", l, most)
		default:
			d.addf(key, "%s exceeds %s", l, most)
		}
	case l%mip6.LifetimeUnit != 0:
		lo := l / mip6.LifetimeUnit * mip6.LifetimeUnit
		hi := lo + mip6.LifetimeUnit
		if lo == 0 {
			d.addf(key, "%s is not a multiple of %s (BU and BA lifetimes are in units of 4s, RFC 6275 §6.1.7); use %s", l, mip6.LifetimeUnit, hi)
		} else {
			d.addf(key, "%s is not a multiple of %s (BU and BA lifetimes are in units of 4s, RFC 6275 §6.1.7); use %s or %s", l, mip6.LifetimeUnit, lo, hi)
		}
	default:
		return
	}
	d.bad[key] = true
}

// checkSeconds checks a duration carried in a field counting whole seconds
// from lo to hi (RA lifetimes, NAT keepalive refresh time).
func (d *decoder) checkSeconds(key string, v Duration, lo, hi time.Duration) bool {
	l := v.Std()
	switch {
	case l%time.Second != 0:
		d.addf(key, "%s is not a whole number of seconds (the field counts seconds)", l)
	case l < lo || l > hi:
		d.addf(key, "%s is outside %s to %s", l, lo, hi)
	default:
		return true
	}
	d.bad[key] = true
	return false
}

// checkIfname applies Linux's rule for interface names (dev_valid_name):
// 1 to 15 bytes (IFNAMSIZ with its NUL), not "." or "..", no '/', ':' or
// white space.
func (d *decoder) checkIfname(key, name string) bool {
	var why string
	switch {
	case name == "":
		why = "empty interface name"
	case len(name) > 15:
		why = fmt.Sprintf("interface name %q is longer than 15 bytes (Linux IFNAMSIZ)", name)
	case name == "." || name == "..":
		why = fmt.Sprintf("%q is not a valid interface name", name)
	case strings.ContainsFunc(name, func(r rune) bool { return r == '/' || r == ':' || unicode.IsSpace(r) }):
		why = fmt.Sprintf("interface name %q contains '/', ':' or white space", name)
	}
	if why != "" {
		d.bad[key] = true
		d.addf(key, "%s", why)
		return false
	}
	return true
}

// checkNAI checks a mobile node identifier, carried as an NAI (RFC 4282) in
// the MN Identifier option (RFC 4283 §3). It is "NAI-ish": printable, no
// white space, at most 253 octets (RFC 4282 §2.2; the option's 8-bit length
// would allow 254), and if it has a realm ("user@realm"), the realm is a
// domain name.
func (d *decoder) checkNAI(key, id string) bool {
	var why string
	switch {
	case id == "":
		why = "empty identifier"
	case len(id) > 253:
		why = fmt.Sprintf("identifier is %d octets; an NAI is at most 253 (RFC 4282 §2.2)", len(id))
	case !utf8.ValidString(id):
		why = "identifier is not valid UTF-8"
	case strings.ContainsFunc(id, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }):
		why = fmt.Sprintf("identifier %q contains white space or control characters", id)
	default:
		if i := strings.LastIndexByte(id, '@'); i >= 0 {
			if msg := checkRealm(id[i+1:]); msg != "" {
				why = fmt.Sprintf("identifier %q: realm %s", id, msg)
			}
		}
	}
	if why != "" {
		d.bad[key] = true
		d.addf(key, "%s", why)
		return false
	}
	return true
}

func checkRealm(r string) string {
	if r == "" {
		return "after '@' is empty"
	}
	for l := range strings.SplitSeq(r, ".") {
		if l == "" || len(l) > 63 {
			return fmt.Sprintf("%q is not a domain name (empty or over-long label)", r)
		}
		for _, c := range l {
			if c > unicode.MaxASCII {
				continue // internationalised realms (RFC 4282 §2.4)
			}
			if !(c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
				return fmt.Sprintf("%q is not a domain name (character %q)", r, c)
			}
		}
	}
	return ""
}

// Algorithms are the authentication algorithms of an MN-HA security
// association, as written in the configuration: RFC 4285
// §5.1 defines HMAC_SHA1; HMAC-SHA256 is selectable per SPI (issue 4).
var Algorithms = []string{"hmac-sha1", "hmac-sha256"}

// MinKeyLen is the shortest MN-HA key accepted. RFC 4285 §5.1 sets the key
// of its security association to 16 octets, so 16 is what interoperates
// with other implementations; longer keys are allowed (HMAC takes any
// length, and RFC 2104 §2-3 advises at least the hash output: 20 octets for
// SHA-1, 32 for SHA-256). Shorter keys would make the MN-HA authenticator
// only as strong as a guessable secret.
const MinKeyLen = 16

// checkSA checks the SPI, key and algorithm of an MN-HA security association.
func (d *decoder) checkSA(prefix string, spi uint32, key Secret, alg string) {
	if k := join(prefix, "spi"); d.required(k, "the RFC 4285 mobility SPI, 256 or above") && spi < 256 {
		d.bad[k] = true
		d.addf(k, "%d is reserved (RFC 4285 §5.1 reserves SPIs 0-255); use 256 or above", spi)
	}
	if k := join(prefix, "key"); d.required(k, "base64 MN-HA shared key; generate one with: head -c 32 /dev/urandom | base64") && len(key) < MinKeyLen {
		d.bad[k] = true
		d.addf(k, "decodes to %d bytes; want at least %d (RFC 4285 §5.1 keys are 16 octets)", len(key), MinKeyLen)
	}
	if k := join(prefix, "algorithm"); d.usable(k) && !slices.Contains(Algorithms, alg) {
		d.bad[k] = true
		d.addf(k, "%q is not one of %s", alg, strings.Join(Algorithms, ", "))
	}
}

// maxSunPath is the longest unix socket path Linux takes (sun_path is 108
// bytes with the terminating NUL).
const maxSunPath = 107

func (d *decoder) checkAbsPath(key, p string) bool {
	var why string
	switch {
	case p == "":
		why = "empty path"
	case !filepath.IsAbs(p):
		why = fmt.Sprintf("%q is not an absolute path (daemons run from /, so a relative path would be a surprise)", p)
	case strings.HasSuffix(p, string(os.PathSeparator)):
		why = fmt.Sprintf("%q names a directory; want a file path", p)
	}
	if why != "" {
		d.bad[key] = true
		d.addf(key, "%s", why)
		return false
	}
	return true
}

func (d *decoder) checkControl(prefix string, c Control) {
	if k := join(prefix, "socket"); d.usable(k) && d.checkAbsPath(k, c.Socket) && len(c.Socket) > maxSunPath {
		d.bad[k] = true
		d.addf(k, "path is %d bytes; a unix socket path is at most %d on Linux", len(c.Socket), maxSunPath)
	}
	if k := join(prefix, "metrics_listen"); d.ok(k) {
		if msg := checkListen(c.MetricsListen); msg != "" {
			d.bad[k] = true
			d.addf(k, "%s", msg)
		}
	}
}

// checkListen checks a TCP listen address: host:port with a numeric port
// and an IP literal, "localhost" or an empty host (all addresses). Host
// names other than localhost are refused: resolving them at start-up
// would make the daemon depend on DNS.
func checkListen(s string) string {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Sprintf("%q is not host:port (e.g. \"127.0.0.1:9641\", \"[::1]:9641\", \":9641\")", s)
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n == 0 {
		return fmt.Sprintf("%q: port %q is not a number from 1 to 65535", s, port)
	}
	if host == "" || host == "localhost" {
		return ""
	}
	if a, err := netip.ParseAddr(host); err != nil || a.Zone() != "" {
		return fmt.Sprintf("%q: host %q is not an IP address or localhost", s, host)
	}
	return ""
}

func (d *decoder) checkLog(prefix string, l Log) {
	if k := join(prefix, "level"); d.usable(k) && !slices.Contains(LogLevels, l.Level) {
		d.bad[k] = true
		d.addf(k, "%q is not one of %s", l.Level, strings.Join(LogLevels, ", "))
	}
	if k := join(prefix, "format"); d.usable(k) && !slices.Contains(LogFormats, l.Format) {
		d.bad[k] = true
		d.addf(k, "%q is not one of %s", l.Format, strings.Join(LogFormats, ", "))
	}
}

func (d *decoder) checkRateLimit(prefix string, r RateLimit) {
	if k := join(prefix, "rate"); d.usable(k) && r.Rate < 1 {
		d.bad[k] = true
		d.addf(k, "%d: want at least 1 message per second", r.Rate)
	}
	if k := join(prefix, "burst"); d.usable(k) && r.Burst < 1 {
		d.bad[k] = true
		d.addf(k, "%d: want at least 1", r.Burst)
	}
}

// overlaps finds, among prefixes that are each nested in or disjoint from
// the others (as all CIDR prefixes are), every one that overlaps an earlier
// one in address order. It runs in O(n log n), so a home agent with a
// hundred thousand mobile routers loads quickly. It returns pairs of
// indices into ps: (later, earlier-containing-or-equal).
func overlaps(ps []netip.Prefix) [][2]int {
	idx := make([]int, len(ps))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		if c := ps[a].Addr().Compare(ps[b].Addr()); c != 0 {
			return c
		}
		return ps[a].Bits() - ps[b].Bits()
	})
	var out [][2]int
	cur := -1 // the prefix seen so far that reaches furthest
	for _, i := range idx {
		if cur >= 0 && ps[cur].Contains(ps[i].Addr()) {
			out = append(out, [2]int{i, cur})
			continue
		}
		if cur < 0 || lastAddr(ps[i]).Compare(lastAddr(ps[cur])) > 0 {
			cur = i
		}
	}
	return out
}

// lastAddr is the highest address inside p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// within reports whether inner lies entirely inside outer.
func within(inner, outer netip.Prefix) bool {
	return outer.Bits() <= inner.Bits() && outer.Contains(inner.Addr())
}
