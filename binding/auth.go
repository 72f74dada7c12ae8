package binding

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"hash"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/gomip6/gomip6/mip6"
)

// This file holds the MN-HA authentication of RFC 4285 (the Mobility
// Message Authentication option, §5.1, and the timestamps of the Mobility
// Message Replay Protection option, §6) and the HMAC machinery that the
// return routability code in rr.go shares.

// Algorithm is the MAC of an MN-HA mobility security association. RFC 4285
// §5.1 defines one, HMAC-SHA1 truncated to 96 bits; HMACSHA256_128 is our
// local extension, selected per mobility SPI in the configuration, for
// deployments that want to leave SHA-1. Both ends of the association must
// agree on it out of band: nothing on the wire names the algorithm but the
// SPI.
type Algorithm uint8

// MN-HA authentication algorithms. The zero value is not an algorithm, so an
// unset configuration field cannot silently select one.
const (
	// HMACSHA1_96 is First(96, HMAC_SHA1(key, Mobility Data)), RFC 4285
	// §5.1: a 12-octet Authentication Data field.
	HMACSHA1_96 Algorithm = 1
	// HMACSHA256_128 is First(128, HMAC_SHA256(key, Mobility Data)), a
	// 16-octet Authentication Data field. Not in RFC 4285. The truncation
	// to half the hash output follows RFC 2104 §5 (keep at least half the
	// output, and at least 80 bits) and matches HMAC-SHA-256-128 of
	// RFC 4868 as used by IPsec, so a security association can be
	// mirrored from an existing IPsec setup and peers that implement the
	// common IPsec truncation interoperate.
	HMACSHA256_128 Algorithm = 2
)

// Size returns the length in octets of the Authentication Data the
// algorithm produces, or 0 for an unknown algorithm.
func (a Algorithm) Size() int {
	switch a {
	case HMACSHA1_96:
		return 12
	case HMACSHA256_128:
		return 16
	}
	return 0
}

// String returns the configuration name: "hmac-sha1", "hmac-sha256"
// or "algorithm(n)".
func (a Algorithm) String() string {
	switch a {
	case HMACSHA1_96:
		return "hmac-sha1"
	case HMACSHA256_128:
		return "hmac-sha256"
	}
	return fmt.Sprintf("algorithm(%d)", uint8(a))
}

// ParseAlgorithm parses a configuration name as String returns it, case
// insensitively.
func ParseAlgorithm(s string) (Algorithm, error) {
	switch strings.ToLower(s) {
	case "hmac-sha1":
		return HMACSHA1_96, nil
	case "hmac-sha256":
		return HMACSHA256_128, nil
	}
	return 0, fmt.Errorf("binding: unknown MN-HA algorithm %q (want hmac-sha1 or hmac-sha256)", s)
}

// MarshalText implements encoding.TextMarshaler, so configuration files
// carry the algorithm by name.
func (a Algorithm) MarshalText() ([]byte, error) {
	if a.Size() == 0 {
		return nil, fmt.Errorf("binding: cannot marshal unknown MN-HA %v", a)
	}
	return []byte(a.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler with ParseAlgorithm.
func (a *Algorithm) UnmarshalText(b []byte) error {
	v, err := ParseAlgorithm(string(b))
	if err != nil {
		return err
	}
	*a = v
	return nil
}

// MinMobilitySPI is the smallest mobility SPI a security association may
// use: RFC 4285 §5.1 reserves 0–255.
const MinMobilitySPI = 256

// SetMNHAAuthenticator computes the Authentication Data of an MN-HA
// Mobility Message Authentication option (RFC 4285 §5.1) and writes it into
// mh at authOff:
//
//	Mobility Data       = care-of address | home address | MH Data
//	Authentication Data = First(alg.Size()*8, HMAC(key, Mobility Data))
//
// mh is the whole marshalled Mobility Header (its Header Len must match
// len(mh)) and authOff the offset of the Authentication Data, just after
// the Mobility SPI field. MH Data is mh from its first octet up to and
// including the SPI, that is mh[:authOff], with the Checksum field taken
// as zero whatever mh holds there. So the sender marshals the message,
// calls SetMNHAAuthenticator, and computes the checksum last, over the
// finished header.
//
// RFC 4285 §5.1 names only "care-of address" and "home address". We take
// them as the addresses of the binding the message is about: coa is the
// care-of address being registered, which for a Binding Update that
// carries an Alternate Care-of Address option is that option's address
// rather than the IPv6 source (RFC 6275 §6.2.5 makes it the address the
// binding uses), and hoa the mobile node's home address. For a Binding
// Acknowledgement the home agent uses the same two addresses as the Binding
// Update it answers. An IPv4 address enters as its IPv4-mapped IPv6 form.
// The Option Length octet precedes the SPI, so it is covered: a codec that
// checks that the Authentication Data is exactly alg.Size() octets long
// closes the option against extension.
func SetMNHAAuthenticator(alg Algorithm, key []byte, coa, hoa netip.Addr, mh []byte, authOff int) error {
	m, err := mnhaMAC(alg, key, coa, hoa, mh, authOff)
	if err != nil {
		return err
	}
	copy(mh[authOff:authOff+alg.Size()], m.sum()[:alg.Size()])
	m.free()
	return nil
}

// AppendMNHAAuthenticator appends to dst the Authentication Data that
// SetMNHAAuthenticator would write, leaving mh unchanged.
func AppendMNHAAuthenticator(dst []byte, alg Algorithm, key []byte, coa, hoa netip.Addr, mh []byte, authOff int) ([]byte, error) {
	m, err := mnhaMAC(alg, key, coa, hoa, mh, authOff)
	if err != nil {
		return dst, err
	}
	dst = append(dst, m.sum()[:alg.Size()]...)
	m.free()
	return dst, nil
}

// VerifyMNHAAuthenticator reports whether the alg.Size() octets at authOff
// in mh are the Authentication Data computed as SetMNHAAuthenticator
// describes. The comparison takes constant time. Malformed input (unknown
// algorithm, empty key, offsets outside mh, a Header Len that disagrees
// with len(mh)) yields false.
func VerifyMNHAAuthenticator(alg Algorithm, key []byte, coa, hoa netip.Addr, mh []byte, authOff int) bool {
	m, err := mnhaMAC(alg, key, coa, hoa, mh, authOff)
	if err != nil {
		return false
	}
	n := alg.Size()
	ok := subtle.ConstantTimeCompare(m.sum()[:n], mh[authOff:authOff+n]) == 1
	m.free()
	return ok
}

// mnhaMAC validates the arguments and returns a MAC that has absorbed the
// Mobility Data; the caller takes its sum and frees it.
func mnhaMAC(alg Algorithm, key []byte, coa, hoa netip.Addr, mh []byte, authOff int) (*mac, error) {
	n := alg.Size()
	if n == 0 {
		return nil, fmt.Errorf("%w: MN-HA authenticator: unknown %v", mip6.ErrInvalid, alg)
	}
	if len(key) == 0 {
		return nil, fmt.Errorf("%w: MN-HA authenticator: empty key", mip6.ErrInvalid)
	}
	if err := checkAuthArgs("MN-HA authenticator", coa, hoa, mh, authOff, n); err != nil {
		return nil, err
	}
	m := newMAC(alg, key)
	m.writeAddr(coa)
	m.writeAddr(hoa)
	m.writeMH(mh[:authOff])
	return m, nil
}

// mhChecksumOff is the offset of the Checksum field in a Mobility Header
// (RFC 6275 §6.1.1); mhMinLen is the shortest Mobility Header, Header Len 0.
const (
	mhChecksumOff = 4
	mhMinLen      = 8
)

// checkAuthArgs checks what every authenticator function needs: two valid
// addresses, a whole Mobility Header whose Header Len (in 8-octet units,
// not counting the first 8, §6.1.1) matches len(mh), and an n-octet
// authenticator inside mh after the Checksum field.
func checkAuthArgs(what string, a, b netip.Addr, mh []byte, authOff, n int) error {
	if !a.IsValid() || !b.IsValid() {
		return fmt.Errorf("%w: %s: missing address", mip6.ErrAddress, what)
	}
	if len(mh) < mhMinLen {
		return fmt.Errorf("%w: %s: Mobility Header of %d octets", mip6.ErrTruncated, what, len(mh))
	}
	if hl := (int(mh[1]) + 1) * 8; hl != len(mh) {
		return fmt.Errorf("%w: %s: Header Len says %d octets, have %d", mip6.ErrLength, what, hl, len(mh))
	}
	if authOff < mhChecksumOff+2 || authOff > len(mh)-n {
		return fmt.Errorf("%w: %s: offset %d for %d octets in a %d-octet Mobility Header", mip6.ErrInvalid, what, authOff, n, len(mh))
	}
	return nil
}

// mac is HMAC (RFC 2104) over SHA-1 or SHA-256 whose hash states and pads
// are reused across keys, so computing an authenticator allocates nothing
// once the pools are warm. crypto/hmac fixes the key at construction, and
// every binding has its own key, so it would allocate its hash states and
// pads on every call.
type mac struct {
	inner, outer hash.Hash
	pool         *sync.Pool
	sha256       bool
	ipad, opad   [64]byte // the block size of SHA-1 and SHA-256
	// buf holds addresses, the inner digest and the result. Keeping it in
	// the pooled struct keeps the slices handed to hash.Hash.Write (an
	// interface call, so its argument escapes) off the per-call heap.
	buf [sha256.Size]byte
}

var sha1Pool, sha256Pool sync.Pool

func init() {
	sha1Pool.New = func() any { return &mac{inner: sha1.New(), outer: sha1.New(), pool: &sha1Pool} }
	sha256Pool.New = func() any {
		return &mac{inner: sha256.New(), outer: sha256.New(), pool: &sha256Pool, sha256: true}
	}
}

// newMAC returns a MAC keyed with key, SHA-1 unless alg is HMACSHA256_128.
func newMAC(alg Algorithm, key []byte) *mac {
	p := &sha1Pool
	if alg == HMACSHA256_128 {
		p = &sha256Pool
	}
	m := p.Get().(*mac)
	m.setKey(key)
	return m
}

// setKey starts a MAC under key. The key is only copied, never handed to
// an interface method, so it does not escape and callers' keys can live on
// their stacks.
func (m *mac) setKey(key []byte) {
	m.ipad = [64]byte{}
	switch {
	case len(key) <= len(m.ipad):
		copy(m.ipad[:], key)
	case m.sha256:
		// RFC 2104 §2: a key longer than the block is hashed first.
		h := sha256.Sum256(key)
		copy(m.ipad[:], h[:])
	default:
		h := sha1.Sum(key)
		copy(m.ipad[:], h[:])
	}
	m.opad = m.ipad
	for i := range m.ipad {
		m.ipad[i] ^= 0x36
		m.opad[i] ^= 0x5c
	}
	m.inner.Reset()
	m.inner.Write(m.ipad[:])
}

// writeAddr absorbs the 16 octets of a (IPv4 as IPv4-mapped, zone dropped).
func (m *mac) writeAddr(a netip.Addr) {
	a16 := a.As16()
	copy(m.buf[:16], a16[:])
	m.inner.Write(m.buf[:16])
}

// writeMH absorbs b, a prefix of a Mobility Header that reaches past the
// Checksum field, with the Checksum taken as zero (RFC 6275 §6.2.7,
// RFC 4285 §5.1).
func (m *mac) writeMH(b []byte) {
	m.inner.Write(b[:mhChecksumOff])
	m.buf[0], m.buf[1] = 0, 0
	m.inner.Write(m.buf[:2])
	m.inner.Write(b[mhChecksumOff+2:])
}

// sum finishes the MAC. The result lives in m.buf until m is reused.
func (m *mac) sum() []byte {
	d := m.inner.Sum(m.buf[:0])
	m.outer.Reset()
	m.outer.Write(m.opad[:])
	m.outer.Write(d)
	return m.outer.Sum(m.buf[:0])
}

// free wipes the key material and returns m to its pool.
func (m *mac) free() {
	m.ipad = [64]byte{}
	m.opad = [64]byte{}
	m.buf = [sha256.Size]byte{}
	m.inner.Reset()
	m.outer.Reset()
	m.pool.Put(m)
}

// Timestamp is the 64-bit timestamp of the Mobility Message Replay
// Protection option (RFC 4285 §6), in NTP format (RFC 5905 §6): seconds
// since 1900-01-01 00:00:00 UTC in the high 32 bits, the fraction of a
// second in units of 2^-32 s in the low 32 bits.
//
// The seconds wrap in 2036 (NTP era 1). Time resolves the era with the rule
// of RFC 4330 §3, so timestamps stand for instants from 1968-01-20 to
// 2104-02-26; After compares modulo 2^64, so ordering works across the 2036
// wrap.
type Timestamp uint64

// TimestampFromTime returns the NTP timestamp of t, with the nanoseconds
// rounded to the nearest 2^-32 s (the conversion is the codec's:
// mip6.ReplayProtectionAt).
func TimestampFromTime(t time.Time) Timestamp {
	return Timestamp(mip6.ReplayProtectionAt(t).Timestamp)
}

// Time returns the instant ts stands for, in UTC, with the era rule of RFC
// 4330 §3 (the codec's mip6.ReplayProtection.Time).
func (ts Timestamp) Time() time.Time {
	return (&mip6.ReplayProtection{Timestamp: uint64(ts)}).Time()
}

// After reports whether ts is later than u, comparing modulo 2^64 (serial
// number arithmetic, RFC 1982 style): right whenever the two are less than
// 68 years apart, which includes pairs on either side of the 2036 wrap.
func (ts Timestamp) After(u Timestamp) bool { return int64(ts-u) > 0 }

// DefaultReplaySkew is how far a received timestamp may be from the
// receiver's clock when the security association sets no value: RFC 4285
// §5.1 gives 7 seconds as the default "close enough" and asks for more
// than 3.
const DefaultReplaySkew = 7 * time.Second

// Errors from ReplayGuard.Check. RFC 4285 §6 has the home agent answer both
// with a Binding Acknowledgement of status 145 (mip6.StatusMesgIDRequired)
// carrying its own current time in the replay protection option, from which
// the mobile node can correct its clock.
var (
	// ErrTimestampSkew reports a timestamp farther from the receiver's
	// clock than the allowed skew.
	ErrTimestampSkew = errors.New("binding: timestamp not close enough to the current time")
	// ErrTimestampReplay reports a timestamp not later than the last one
	// accepted from the same mobile node.
	ErrTimestampReplay = errors.New("binding: timestamp not later than the last accepted")
)

// ReplayGuard is the timestamp replay protection state of one MN-HA
// security association (RFC 4285 §6): the allowed clock skew and the last
// timestamp accepted. It holds no clock; callers pass the current time.
// The zero value is ready to use with DefaultReplaySkew. It is not safe
// for concurrent use; it belongs to the binding cache entry that owns the
// association.
type ReplayGuard struct {
	// Skew is the "close enough" of RFC 4285 §5.1: how far a timestamp
	// may be from now in either direction. Zero or negative means
	// DefaultReplaySkew.
	Skew time.Duration

	last Timestamp
	have bool
}

// Check reports whether a message carrying ts may be accepted at now: ts
// must be within Skew of now (ErrTimestampSkew) and later than the last
// accepted timestamp (ErrTimestampReplay). It changes nothing: call Accept
// once the message has been authenticated and accepted, so that neither a
// forged nor a rejected message moves the window.
func (g *ReplayGuard) Check(ts Timestamp, now time.Time) error {
	skew := g.Skew
	if skew <= 0 {
		skew = DefaultReplaySkew
	}
	if d := ts.Time().Sub(now); d > skew || d < -skew {
		return fmt.Errorf("%w: %v off, allowed %v", ErrTimestampSkew, d, skew)
	}
	if g.have && !ts.After(g.last) {
		return fmt.Errorf("%w: %#x after %#x", ErrTimestampReplay, uint64(ts), uint64(g.last))
	}
	return nil
}

// Accept records ts as the last accepted timestamp. A timestamp not later
// than the recorded one leaves the record alone, so the window only moves
// forward.
func (g *ReplayGuard) Accept(ts Timestamp) {
	if !g.have || ts.After(g.last) {
		g.last, g.have = ts, true
	}
}

// Last returns the last accepted timestamp and whether there is one.
func (g *ReplayGuard) Last() (Timestamp, bool) { return g.last, g.have }
