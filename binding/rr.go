package binding

import (
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/gomip6/gomip6/mip6"
)

// This file is the return routability procedure of RFC 6275 §5.2: node
// keys, nonces, keygen tokens, the binding management key and the Binding
// Authorization Data authenticator.

// Kcn is a correspondent node's node key (RFC 6275 §5.2.1): 20 random
// octets, the HMAC-SHA1 key of its keygen tokens. It never leaves the node.
type Kcn [mip6.KcnLen]byte

// Nonce is a correspondent node's nonce (§5.2.2). The RFC allows any length
// and recommends 64 bits; we use 64.
type Nonce [mip6.NonceLen]byte

// KeygenToken is a home or care-of keygen token (§5.2.5), carried in HoT
// and CoT (§6.1.5, §6.1.6).
type KeygenToken [mip6.KeygenTokenLen]byte

// Kbm is the binding management key (§5.2.5), the HMAC-SHA1 key of the
// Binding Authorization Data authenticator.
type Kbm [mip6.KbmLen]byte

// Cookie is the init cookie of HoTI/HoT and CoTI/CoT (§6.1.3–6.1.6), which
// lets the mobile node match a test to its init.
type Cookie [mip6.CookieLen]byte

// NewKcn draws a node key from r, or from crypto/rand when r is nil. §5.2.1
// requires the key to be random; r exists for tests.
func NewKcn(r io.Reader) (Kcn, error) {
	var k Kcn
	err := readRandom(r, k[:], "node key")
	return k, err
}

// NewCookie draws an init cookie from r, or from crypto/rand when r is nil.
// §6.1.3 and §6.1.4 make the init cookies random values: the mobile node
// accepts a HoT or CoT only if it echoes the cookie of its own init, which
// an attacker that cannot see the init must not be able to guess, so a
// counter will not do.
func NewCookie(r io.Reader) (Cookie, error) {
	var c Cookie
	err := readRandom(r, c[:], "cookie")
	return c, err
}

func readRandom(r io.Reader, b []byte, what string) error {
	if r == nil {
		r = rand.Reader
	}
	if _, err := io.ReadFull(r, b); err != nil {
		return fmt.Errorf("binding: drawing a %s: %w", what, err)
	}
	return nil
}

// HomeKeygenToken returns the home keygen token of §5.2.5:
//
//	First(64, HMAC_SHA1(Kcn, home address | nonce | 0))
//
// where the trailing 0 is one octet of value zero. An IPv4 address enters
// as its IPv4-mapped IPv6 form; hoa should be the IPv6 home address.
func HomeKeygenToken(kcn Kcn, hoa netip.Addr, nonce Nonce) KeygenToken {
	return keygenToken(&kcn, hoa, &nonce, 0)
}

// CareofKeygenToken returns the care-of keygen token of §5.2.5:
//
//	First(64, HMAC_SHA1(Kcn, care-of address | nonce | 1))
//
// The trailing octet, 1 instead of 0, is what keeps a home token from
// passing for a care-of token when the two addresses are equal.
func CareofKeygenToken(kcn Kcn, coa netip.Addr, nonce Nonce) KeygenToken {
	return keygenToken(&kcn, coa, &nonce, 1)
}

func keygenToken(kcn *Kcn, addr netip.Addr, nonce *Nonce, which byte) KeygenToken {
	m := newMAC(HMACSHA1_96, kcn[:])
	a := addr.As16()
	copy(m.buf[:16], a[:])
	copy(m.buf[16:16+mip6.NonceLen], nonce[:])
	m.buf[16+mip6.NonceLen] = which
	m.inner.Write(m.buf[:16+mip6.NonceLen+1])
	var t KeygenToken
	copy(t[:], m.sum())
	m.free()
	return t
}

// KbmFromTokens returns the binding management key of a registration
// (§5.2.5): SHA1(home keygen token | care-of keygen token).
func KbmFromTokens(home, careof KeygenToken) Kbm {
	var b [2 * mip6.KeygenTokenLen]byte
	copy(b[:], home[:])
	copy(b[mip6.KeygenTokenLen:], careof[:])
	return sha1.Sum(b[:])
}

// KbmFromHomeToken returns the binding management key of a deregistration
// (§5.2.5): SHA1(home keygen token). A mobile node going home has no care-of
// address to test, so the care-of token takes no part.
func KbmFromHomeToken(home KeygenToken) Kbm {
	return sha1.Sum(home[:])
}

// IsDeregistration reports whether a Binding Update to a correspondent
// deletes the binding, which changes what return routability covers: a
// lifetime of zero or a care-of address equal to the home address (§9.5.1,
// §6.1.7). Then Kbm comes from the home keygen token alone (§5.2.5), the
// care-of nonce index is ignored, and the authenticator is computed with
// the home address in the care-of address position (§6.2.7).
func IsDeregistration(hoa, coa netip.Addr, lifetime time.Duration) bool {
	return lifetime == 0 || hoa.As16() == coa.As16()
}

// AuthCareofAddress returns the address that goes first in the Mobility
// Data of the Binding Authorization Data authenticator (§6.2.7): the
// care-of address being registered, or the home address for a
// deregistration. coa is the care-of address the Binding Update carries:
// the Alternate Care-of Address option's when present, otherwise the IPv6
// source address.
func AuthCareofAddress(hoa, coa netip.Addr, lifetime time.Duration) netip.Addr {
	if IsDeregistration(hoa, coa, lifetime) {
		return hoa
	}
	return coa
}

// BindingAuthenticator returns the authenticator of the Binding
// Authorization Data option (§5.2.6, §6.2.7):
//
//	Mobility Data = care-of address | correspondent | MH Data
//	Authenticator = First(96, HMAC_SHA1(Kbm, Mobility Data))
//
// mh is the whole marshalled Mobility Header, a Binding Update or a Binding
// Acknowledgement, whose Header Len must match len(mh), and authOff the
// offset in it of the 12 authenticator octets (mip6.AuthenticatorOffset
// finds it). MH Data is all of mh except those 12 octets, with the Checksum
// field taken as zero whatever mh holds there; the octets at authOff are
// not read.
//
// coa is AuthCareofAddress's result: the care-of address being registered,
// or the home address for a deregistration. cn is the correspondent's
// address; when the correspondent is itself a mobile node that is its home
// address (the one in the type 2 routing header), not the IPv6
// destination. An IPv4 address enters as its IPv4-mapped IPv6 form.
//
// Kbm already covers the home address, so the Home Address option needs no
// place here (§6.2.7).
func BindingAuthenticator(kbm Kbm, coa, cn netip.Addr, mh []byte, authOff int) ([mip6.AuthenticatorLen]byte, error) {
	var a [mip6.AuthenticatorLen]byte
	m, err := bindingMAC(&kbm, coa, cn, mh, authOff)
	if err != nil {
		return a, err
	}
	copy(a[:], m.sum())
	m.free()
	return a, nil
}

// SetBindingAuthenticator computes the authenticator as
// BindingAuthenticator does and writes it into mh at authOff. The sender
// marshals the message, calls this, then computes the Mobility Header
// checksum, which covers the authenticator (§6.2.7).
func SetBindingAuthenticator(kbm Kbm, coa, cn netip.Addr, mh []byte, authOff int) error {
	m, err := bindingMAC(&kbm, coa, cn, mh, authOff)
	if err != nil {
		return err
	}
	copy(mh[authOff:authOff+mip6.AuthenticatorLen], m.sum())
	m.free()
	return nil
}

// VerifyBindingAuthenticator reports whether the 12 octets at authOff in mh
// are the authenticator BindingAuthenticator computes, comparing in
// constant time. Malformed input (offset outside mh, a Header Len that
// disagrees with len(mh), an invalid address) yields false.
func VerifyBindingAuthenticator(kbm Kbm, coa, cn netip.Addr, mh []byte, authOff int) bool {
	m, err := bindingMAC(&kbm, coa, cn, mh, authOff)
	if err != nil {
		return false
	}
	ok := subtle.ConstantTimeCompare(m.sum()[:mip6.AuthenticatorLen], mh[authOff:authOff+mip6.AuthenticatorLen]) == 1
	m.free()
	return ok
}

func bindingMAC(kbm *Kbm, coa, cn netip.Addr, mh []byte, authOff int) (*mac, error) {
	if err := checkAuthArgs("binding authenticator", coa, cn, mh, authOff, mip6.AuthenticatorLen); err != nil {
		return nil, err
	}
	m := newMAC(HMACSHA1_96, kbm[:])
	m.writeAddr(coa)
	m.writeAddr(cn)
	m.writeMH(mh[:authOff])
	m.inner.Write(mh[authOff+mip6.AuthenticatorLen:])
	return m, nil
}

// Nonce lifetimes. §5.2.7 has a correspondent accept a nonce for at least
// MAX_TOKEN_LIFETIME after it first used it in a HoT or CoT, and never
// beyond MAX_NONCE_LIFETIME after that first use. Generating a fresh nonce
// every NonceRefresh, the difference of the two, and accepting each nonce
// for MAX_NONCE_LIFETIME after it was generated meets both: a nonce is
// first used no earlier than its generation and no later than NonceRefresh
// after it, so it stays acceptable between 210 and 240 seconds from its
// first use. At any instant at most NonceSlots nonces are acceptable.
const (
	NonceRefresh = mip6.MaxNonceLifetime - mip6.MaxTokenLifetime // 30 s
	NonceSlots   = int(mip6.MaxNonceLifetime / NonceRefresh)     // 8
)

// NonceState is the outcome of looking a nonce index up in a NonceTable.
type NonceState uint8

// Nonce states. The zero value is NonceUnknown, so an unset state never
// reads as valid.
const (
	// NonceUnknown: the table has no nonce with this index: never issued,
	// issued before the table was created (a restarted node), or issued so
	// long ago that a newer nonce has taken its slot.
	NonceUnknown NonceState = iota
	// NonceValid: the nonce is still acceptable.
	NonceValid
	// NonceExpired: the table still holds the nonce but its
	// MAX_NONCE_LIFETIME has passed.
	NonceExpired
)

// String returns "unknown", "valid", "expired" or "nonce-state(n)".
func (s NonceState) String() string {
	switch s {
	case NonceUnknown:
		return "unknown"
	case NonceValid:
		return "valid"
	case NonceExpired:
		return "expired"
	}
	return fmt.Sprintf("nonce-state(%d)", uint8(s))
}

// BindingStatus maps the states of the nonces a Binding Update names to the
// Binding Acknowledgement status a correspondent answers (§6.1.8, §9.5.1):
// 136 when the home nonce index is not valid, 137 when the care-of nonce
// index is not, 138 when neither is, mip6.StatusAccepted when both are. A
// deregistration names no care-of nonce (§5.2.5), so only the home state
// counts. §5.2.7 answers an unknown index the same way as an expired one:
// either way the mobile node has to run return routability again.
func BindingStatus(home, careof NonceState, dereg bool) mip6.Status {
	homeOK := home == NonceValid
	careofOK := dereg || careof == NonceValid
	switch {
	case homeOK && careofOK:
		return mip6.StatusAccepted
	case careofOK:
		return mip6.StatusExpiredHomeNonceIndex
	case homeOK:
		return mip6.StatusExpiredCareofNonceIndex
	}
	return mip6.StatusExpiredNonces
}

// NonceEntry is one nonce of a NonceTable with its index, its generation
// time and the node key it was generated under.
type NonceEntry struct {
	Index     uint16    // the nonce index sent in HoT/CoT (§6.1.5, §6.1.6)
	Nonce     Nonce     //
	Generated time.Time // when the table generated it
	kcn       Kcn
}

// HomeKeygenToken returns the home keygen token for hoa under this nonce
// and the node key it belongs to.
func (e *NonceEntry) HomeKeygenToken(hoa netip.Addr) KeygenToken {
	return keygenToken(&e.kcn, hoa, &e.Nonce, 0)
}

// CareofKeygenToken returns the care-of keygen token for coa under this
// nonce and the node key it belongs to.
func (e *NonceEntry) CareofKeygenToken(coa netip.Addr) KeygenToken {
	return keygenToken(&e.kcn, coa, &e.Nonce, 1)
}

// NonceTable is a correspondent node's node key and nonces (§5.2.1,
// §5.2.2, §5.2.7): it hands out the current nonce for HoT and CoT and finds
// the nonce a Binding Update names by its index.
//
// Memory is fixed: a ring of NonceSlots (8) entries, under a kilobyte, no
// matter how many mobile nodes use the table. A new nonce is generated when
// the current one is NonceRefresh old and overwrites the oldest slot, whose
// nonce has by then outlived MAX_NONCE_LIFETIME, so every nonce still
// acceptable is in the ring. Indices count up by one per nonce from a
// random start and wrap from 65535 to 0; a ring of 8 never holds two
// entries with the same index.
//
// Node key rotation (§5.2.7 lets a correspondent regenerate Kcn): each
// entry keeps the Kcn it was generated under, so RotateKey affects only
// nonces generated after it, tokens already handed out stay verifiable
// until their nonce expires, and a nonce index names exactly one (nonce,
// Kcn) pair. To forget every outstanding token at once, as after a key
// compromise, replace the table.
//
// The table reads no clock: every method takes the current time, which
// must not go backwards (time.Now's monotonic reading sees to that). If it
// does, the table errs towards refusing nonces: one generated "in the
// future" counts as expired, and Current replaces it.
//
// A NonceTable is not safe for concurrent use: one goroutine, the
// correspondent's mobility header handler, owns it. The zero value is
// ready to use and draws from crypto/rand.
type NonceTable struct {
	rand    io.Reader
	ready   bool
	kcn     Kcn // the key for nonces generated from now on
	next    uint16
	ring    [NonceSlots]NonceEntry
	filled  int // entries in ring in use, at most NonceSlots
	current int // ring index of the current nonce, when filled > 0
}

// NewNonceTable returns a table drawing its node keys, nonces and first
// index from r, or from crypto/rand when r is nil.
func NewNonceTable(r io.Reader) (*NonceTable, error) {
	t := &NonceTable{rand: r}
	if err := t.init(); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *NonceTable) init() error {
	if t.ready {
		return nil
	}
	kcn, err := NewKcn(t.rand)
	if err != nil {
		return err
	}
	// A random first index makes a restarted correspondent unlikely to
	// reuse the indices of its previous life, so a Binding Update built
	// from old tokens meets "unknown" rather than an unrelated nonce.
	var idx [2]byte
	if err := readRandom(t.rand, idx[:], "nonce index"); err != nil {
		return err
	}
	t.kcn, t.next, t.ready = kcn, uint16(idx[0])<<8|uint16(idx[1]), true
	return nil
}

// Current returns the nonce to put in a HoT or CoT sent at now, generating
// a fresh one when the current nonce is NonceRefresh old or there is none.
// The error comes only from the random source.
func (t *NonceTable) Current(now time.Time) (NonceEntry, error) {
	if err := t.init(); err != nil {
		return NonceEntry{}, err
	}
	if t.filled > 0 {
		e := &t.ring[t.current]
		if age := now.Sub(e.Generated); age >= 0 && age < NonceRefresh {
			return *e, nil
		}
	}
	e := NonceEntry{Index: t.next, Generated: now, kcn: t.kcn}
	if err := readRandom(t.rand, e.Nonce[:], "nonce"); err != nil {
		return NonceEntry{}, err
	}
	slot := 0
	if t.filled > 0 {
		slot = (t.current + 1) % NonceSlots
	}
	t.ring[slot] = e
	t.current = slot
	t.filled = min(t.filled+1, NonceSlots)
	t.next++
	return e, nil
}

// Lookup finds the nonce with the given index as of now. The entry is
// returned only with NonceValid: a nonce is valid from its generation until
// MaxNonceLifetime after it, exclusive.
func (t *NonceTable) Lookup(index uint16, now time.Time) (NonceEntry, NonceState) {
	for i := range t.filled {
		e := &t.ring[i]
		if e.Index != index {
			continue
		}
		if age := now.Sub(e.Generated); age >= 0 && age < mip6.MaxNonceLifetime {
			return *e, NonceValid
		}
		return NonceEntry{}, NonceExpired
	}
	return NonceEntry{}, NonceUnknown
}

// RotateKey draws a new node key for the nonces generated from now on;
// outstanding nonces keep the key they were made with. The error comes
// only from the random source, and leaves the old key in place.
func (t *NonceTable) RotateKey() error {
	if err := t.init(); err != nil {
		return err
	}
	kcn, err := NewKcn(t.rand)
	if err != nil {
		return err
	}
	t.kcn = kcn
	return nil
}

// BindingKey is the correspondent's side of §5.2.5 and §9.5.1 for a
// received Binding Update: it finds the nonces named by the Nonce Indices
// option, regenerates the keygen tokens for hoa and coa, and derives Kbm.
// The status is mip6.StatusAccepted when Kbm is usable, otherwise the
// BindingStatus code to answer (136, 137 or 138). For a deregistration
// (IsDeregistration) careofIndex and coa are ignored.
func (t *NonceTable) BindingKey(hoa, coa netip.Addr, homeIndex, careofIndex uint16, dereg bool, now time.Time) (Kbm, mip6.Status) {
	he, hs := t.Lookup(homeIndex, now)
	var ce NonceEntry
	cs := NonceValid
	if !dereg {
		ce, cs = t.Lookup(careofIndex, now)
	}
	if st := BindingStatus(hs, cs, dereg); st != mip6.StatusAccepted {
		return Kbm{}, st
	}
	home := he.HomeKeygenToken(hoa)
	if dereg {
		return KbmFromHomeToken(home), mip6.StatusAccepted
	}
	return KbmFromTokens(home, ce.CareofKeygenToken(coa)), mip6.StatusAccepted
}
