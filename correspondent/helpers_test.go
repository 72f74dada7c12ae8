package correspondent

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gomip6/gomip6/binding"
	"github.com/gomip6/gomip6/conf"
	"github.com/gomip6/gomip6/mip6"
)

var (
	cnAddr  = netip.MustParseAddr("2001:db8:200::2")
	hoa1    = netip.MustParseAddr("2001:db8:100::10")
	coa1    = netip.MustParseAddr("2001:db8:a::99")
	coa2    = netip.MustParseAddr("2001:db8:b::99")
	victim  = netip.MustParseAddr("2001:db8:666::1")
	t0      = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	seedKey = [32]byte{1, 2, 3, 4, 5, 6, 7, 8}
)

// newCN builds a correspondent whose random source is a ChaCha8 stream
// with seedKey, so tests can recompute Kcn and the nonces independently.
func newCN(t testing.TB, mod func(*conf.CN), o Options) *Correspondent {
	t.Helper()
	cfg, err := conf.ParseCN([]byte("[control]\nsocket = \"/run/test-cnd.sock\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if mod != nil {
		mod(cfg)
	}
	if o.Rand == nil {
		o.Rand = rand.NewChaCha8(seedKey)
	}
	c, err := New(cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// seedStream returns what newCN's random source draws, in order: Kcn (20
// octets), the first nonce index (2), then one nonce (8) per generation.
func seedStream() (kcn [20]byte, index uint16, nonce func() [8]byte) {
	r := rand.NewChaCha8(seedKey)
	r.Read(kcn[:])
	var ib [2]byte
	r.Read(ib[:])
	return kcn, binary.BigEndian.Uint16(ib[:]), func() (n [8]byte) {
		r.Read(n[:])
		return n
	}
}

// rfcToken computes a keygen token straight from RFC 6275 §5.2.5, with
// crypto/hmac, independent of package binding:
//
//	Home Keygen Token := First(64, HMAC_SHA1(Kcn, (home address | nonce | 0)))
//	Care-of Keygen Token := First(64, HMAC_SHA1(Kcn, (care-of address | nonce | 1)))
func rfcToken(kcn [20]byte, addr netip.Addr, nonce [8]byte, which byte) [8]byte {
	m := hmac.New(sha1.New, kcn[:])
	a := addr.As16()
	m.Write(a[:])
	m.Write(nonce[:])
	m.Write([]byte{which})
	var t [8]byte
	copy(t[:], m.Sum(nil))
	return t
}

// rfcAuthenticator computes the Binding Authorization Data authenticator
// from §5.2.6 and §6.2.7 with crypto/hmac:
//
//	Kbm = SHA1(home keygen token | care-of keygen token)   (§5.2.5)
//	Mobility Data = care-of address | correspondent | MH Data
//	Authenticator = First(96, HMAC_SHA1(Kbm, Mobility Data))
//
// where MH Data is the Mobility Header with the Checksum zero and without
// the 12 Authenticator octets.
func rfcAuthenticator(kbm [20]byte, coa, cn netip.Addr, mh []byte, off int) [12]byte {
	m := hmac.New(sha1.New, kbm[:])
	a, c := coa.As16(), cn.As16()
	m.Write(a[:])
	m.Write(c[:])
	data := append([]byte(nil), mh...)
	data[4], data[5] = 0, 0
	m.Write(data[:off])
	m.Write(data[off+12:])
	var r [12]byte
	copy(r[:], m.Sum(nil))
	return r
}

// mn is the mobile node's side of return routability, built from package
// binding's functions and package mip6's messages, as a real mobile node
// would compute it.
type mn struct {
	hoa, coa   netip.Addr
	homeCookie binding.Cookie
	coaCookie  binding.Cookie
	homeToken  binding.KeygenToken
	coaToken   binding.KeygenToken
	homeIndex  uint16
	coaIndex   uint16
	seq        uint16
}

func newMN() *mn {
	return &mn{hoa: hoa1, coa: coa1, homeCookie: binding.Cookie{0xc0, 0x0c, 1}, coaCookie: binding.Cookie{0xc0, 0x0c, 2}, seq: 100}
}

// mhPacket marshals msg with its checksum for the given pseudo-header.
func mhBytes(t testing.TB, msg mip6.MobilityMessage, src, dst netip.Addr) []byte {
	t.Helper()
	mh, err := mip6.MarshalMessage(msg)
	if err != nil {
		t.Fatal(err)
	}
	mip6.SetMHChecksum(mh, src, dst)
	return mh
}

func (m *mn) hoti(t testing.TB) Packet {
	return Packet{Src: m.hoa, Dst: cnAddr, MH: mhBytes(t, &mip6.HomeTestInit{Cookie: m.homeCookie}, m.hoa, cnAddr)}
}

func (m *mn) coti(t testing.TB) Packet {
	return Packet{Src: m.coa, Dst: cnAddr, MH: mhBytes(t, &mip6.CareofTestInit{Cookie: m.coaCookie}, m.coa, cnAddr)}
}

// reply checks that r is a Reply packet and returns its layout and message.
func reply(t testing.TB, r Result) (mip6.PacketLayout, mip6.MobilityMessage) {
	t.Helper()
	if r.Verdict != Reply {
		t.Fatalf("verdict %v (drop %v, err %v), want reply", r.Verdict, r.Drop, r.Err)
	}
	l, err := mip6.WalkIPv6(r.Out)
	if err != nil || l.Proto != mip6.ProtoMobility {
		t.Fatalf("reply packet: %v, proto %d", err, l.Proto)
	}
	if l.Dst != r.Dst {
		t.Errorf("IPv6 destination %v, Result.Dst %v", l.Dst, r.Dst)
	}
	mh := r.Out[l.Offset:l.End]
	if !mip6.VerifyMHChecksum(mh, l.PseudoSrc, l.PseudoDst) {
		t.Errorf("reply checksum wrong")
	}
	msg, err := mip6.ParseMessage(mh)
	if err != nil {
		t.Fatal(err)
	}
	return l, msg
}

// runRR runs HoTI/HoT and CoTI/CoT against c and keeps the tokens.
func (m *mn) runRR(t testing.TB, c *Correspondent, now time.Time) {
	t.Helper()
	_, msg := reply(t, c.HandleMH(nil, m.hoti(t), now))
	hot, ok := msg.(*mip6.HomeTest)
	if !ok || hot.Cookie != m.homeCookie {
		t.Fatalf("HoT %#v", msg)
	}
	m.homeToken, m.homeIndex = hot.KeygenToken, hot.NonceIndex
	_, msg = reply(t, c.HandleMH(nil, m.coti(t), now))
	cot, ok := msg.(*mip6.CareofTest)
	if !ok || cot.Cookie != m.coaCookie {
		t.Fatalf("CoT %#v", msg)
	}
	m.coaToken, m.coaIndex = cot.KeygenToken, cot.NonceIndex
}

// buOpts tweak a Binding Update.
type buOpts struct {
	lifetime  time.Duration // 0 means 300 s; use dereg for 0
	dereg     bool
	flags     mip6.BUFlags // added to A
	noA       bool
	altCoA    netip.Addr
	noNonces  bool
	noAuth    bool
	badMAC    bool
	homeIndex *uint16
	coaIndex  *uint16
	src       netip.Addr // IPv6 source; default m.coa
	noHAO     bool
}

// bu builds an authenticated Binding Update as a mobile node does
// (§11.7.2): Kbm from the tokens, authenticator over care-of address,
// correspondent and MH, then the checksum.
func (m *mn) bu(t testing.TB, o buOpts) Packet {
	t.Helper()
	lt := o.lifetime
	if lt == 0 {
		lt = 300 * time.Second
	}
	if o.dereg {
		lt = 0
	}
	flags := mip6.BUFlagA | o.flags
	if o.noA {
		flags &^= mip6.BUFlagA
	}
	hi, ci := m.homeIndex, m.coaIndex
	if o.homeIndex != nil {
		hi = *o.homeIndex
	}
	if o.coaIndex != nil {
		ci = *o.coaIndex
	}
	var opts []mip6.MobilityOption
	if o.altCoA.IsValid() {
		opts = append(opts, &mip6.AlternateCareofAddress{Address: o.altCoA})
	}
	ni := &mip6.NonceIndices{HomeNonceIndex: hi, CareofNonceIndex: ci}
	bad := &mip6.BindingAuthorizationData{}
	switch {
	case o.noNonces:
		opts = append(opts, bad)
	case o.noAuth:
		opts = append(opts, ni)
	default:
		opts = append(opts, ni, bad)
	}
	m.seq++
	mh, err := mip6.MarshalMessage(&mip6.BindingUpdate{Sequence: m.seq, Flags: flags, Lifetime: lt, Options: opts})
	if err != nil {
		t.Fatal(err)
	}
	coa := m.coa
	if o.altCoA.IsValid() {
		coa = o.altCoA
	}
	var kbm binding.Kbm
	if binding.IsDeregistration(m.hoa, coa, lt) {
		kbm = binding.KbmFromHomeToken(m.homeToken)
	} else {
		kbm = binding.KbmFromTokens(m.homeToken, m.coaToken)
	}
	if !o.noAuth {
		off, _, err := mip6.AuthenticatorOffset(mh, mip6.OptBindingAuthData)
		if err != nil {
			t.Fatal(err)
		}
		if err := binding.SetBindingAuthenticator(kbm, binding.AuthCareofAddress(m.hoa, coa, lt), cnAddr, mh, off); err != nil {
			t.Fatal(err)
		}
		if o.badMAC {
			mh[off] ^= 1
		}
	}
	src := m.coa
	if o.src.IsValid() {
		src = o.src
	}
	p := Packet{Src: src, Dst: cnAddr, HomeAddress: m.hoa, MH: mh}
	if o.noHAO {
		p.HomeAddress = netip.Addr{}
	}
	ps := p.HomeAddress
	if !ps.IsValid() {
		ps = src
	}
	mip6.SetMHChecksum(mh, ps, cnAddr)
	return p
}

// addrCmp compares netip.Addr values, whose fields are unexported.
var addrCmp = cmp.Comparer(func(a, b netip.Addr) bool { return a == b })
