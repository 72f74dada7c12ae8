package homeagent

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/gomip6/gomip6/binding"
	"github.com/gomip6/gomip6/internal/ratelimit"
	"github.com/gomip6/gomip6/mip6"
	"github.com/gomip6/gomip6/tunnel"
)

// FuzzProcessBU feeds arbitrary Mobility Headers, checksum fixed up so
// they get past §9.2, to a home agent. Whatever the input:
//   - no panic;
//   - a Reply carries a BA that parses, and re-marshals to the same
//     octets (checksum aside: the encoder leaves it zero), so
//     parse -> marshal -> parse is symmetric on what we send;
//   - a BA's checksum and MN-HA authenticator verify under the
//     association its SPI names;
//   - state changes only with status 0.
//
// The seeds are real authenticated BUs, so mutations that keep the
// authenticator valid (the trailing octets, ignored) reach acceptance.
func FuzzProcessBU(f *testing.F) {
	for _, b := range []bu{
		{seq: 1},
		{seq: 2, lifetime: -1},
		{seq: 3, flags: mip6.BUFlagH},
		{seq: 4, altCoA: coa2},
		{seq: 5, noTS: true},
		{seq: 6, badMAC: true},
		{seq: 7, id: routerID},
	} {
		f.Add(laptop.packet(f, b).MH)
	}
	f.Fuzz(func(t *testing.T, mh []byte) {
		h := newHA(t, Options{SkipDAD: true})
		mh = bytes.Clone(mh)
		mip6.SetMHChecksum(mh, laptopHoA, haAddr)
		p := Packet{Src: coa1, Dst: haAddr, HomeAddress: laptopHoA, MH: mh}
		r := h.ProcessBU(nil, p, t0)
		switch r.Verdict {
		case Drop:
			if r.BA != nil || h.Cache().Len() != 0 {
				t.Fatalf("drop %v with BA %x, cache %d", r.Drop, r.BA, h.Cache().Len())
			}
			return
		case Reply, Silent:
		default:
			t.Fatalf("verdict %v with SkipDAD", r.Verdict)
		}
		if (h.Cache().Len() != 0) != (r.Status == 0 && r.Change == Created) {
			t.Fatalf("status %v change %v, cache %d", r.Status, r.Change, h.Cache().Len())
		}
		if r.Verdict == Silent {
			return
		}
		// The BA is authenticated under the association the BU named,
		// over the BU's home address (the laptop's, from the HAO).
		as := laptop
		if off, _, err := mip6.AuthenticatorOffset(r.BA, mip6.OptAuthentication); err == nil &&
			binary.BigEndian.Uint32(r.BA[off-4:]) == routerSPI {
			as = mn{routerID, laptopHoA, routerSPI, routerKey, binding.HMACSHA256_128}
		}
		// The authenticator covers the care-of address the BU claimed
		// (its last Alternate Care-of Address option, else the source),
		// which is what the genuine node checks it with (RFC 4285
		// §5.1); before the BU authenticated, the BA still goes only
		// to the packet's source (no reflection).
		coa := p.Src
		if m, err := mip6.ParseMessage(mh); err == nil {
			for _, o := range m.(*mip6.BindingUpdate).Options {
				if a, ok := o.(*mip6.AlternateCareofAddress); ok {
					coa = a.Address
				}
			}
		}
		if r.BADst != p.Src && r.BADst != coa {
			t.Fatalf("BA to %v: neither the source %v nor the care-of address %v", r.BADst, p.Src, coa)
		}
		if r.Status == mip6.StatusAuthFailed && r.BADst != p.Src {
			t.Fatalf("146 to %v, not to the source %v", r.BADst, p.Src)
		}
		got := as.checkBA(t, r.BA, coa)
		if got.Status != r.Status {
			t.Fatalf("BA status %v, result %v", got.Status, r.Status)
		}
	})
}

// FuzzProcessBUIPv4 is FuzzProcessBU for Binding Updates that came over
// IPv4 (RFC 5555 §4), from behind a NAT: the seeds are authenticated BUs
// with an IPv4 Care-of Address option (and IPv4 Home Address options),
// mutated. Whatever the input:
//   - no panic;
//   - every answer goes back over IPv4 to where the BU came from, the
//     inner packet to the home address (no reflection elsewhere);
//   - a BA verifies under the laptop's association over the IPv4
//     Care-of Address option's address, parses, and re-marshals to the
//     same octets;
//   - an accepted binding tunnels to the outer source, in UDP exactly
//     when the BA carries a NAT Detection option, and an IPv4 Address
//     Acknowledgement answers exactly the BUs with an IPv4 Home Address
//     option.
func FuzzProcessBUIPv4(f *testing.F) {
	outer := netip.AddrPortFrom(natPublic, natPort)
	for _, b := range []bu{
		v4bu(1, natInside, outer),
		v4bu(2, v4coa, outer),
		func() bu {
			b := v4bu(3, natInside, outer)
			b.v4hoa = &mip6.IPv4HomeAddress{PrefixLen: 32, Address: netip.IPv4Unspecified()}
			return b
		}(),
		func() bu {
			b := v4bu(4, natInside, outer)
			b.flags = mip6.BUFlagA | mip6.BUFlagH | mip6.BUFlagF
			b.v4hoa = &mip6.IPv4HomeAddress{PrefixLen: 24, RequestPrefix: true, Address: routerV4}
			return b
		}(),
	} {
		b.ts = t0
		f.Add(laptop.packet(f, b).MH)
	}
	f.Fuzz(func(t *testing.T, mh []byte) {
		h := newDSMIP(t, dsmipTOML(ipv4Section), Options{SkipDAD: true})
		mh = bytes.Clone(mh)
		mip6.SetMHChecksum(mh, laptopHoA, haAddr)
		p := Packet{Src: laptopHoA, Dst: haAddr, MH: mh, Outer: outer, OuterDst: ha4}
		r := h.ProcessBU(nil, p, t0)
		if r.Verdict == Drop {
			if r.BA != nil || h.Cache().Len() != 0 {
				t.Fatalf("drop %v with BA, cache %d", r.Drop, h.Cache().Len())
			}
			return
		}
		if r.Outer != outer || r.OuterSrc != ha4 || r.BADst != laptopHoA || r.HomeAddress != laptopHoA {
			t.Fatalf("answer to %v from %v, inner to %v", r.Outer, r.OuterSrc, r.BADst)
		}
		if r.Verdict != Reply {
			return
		}
		m, err := mip6.ParseMessage(mh)
		if err != nil {
			t.Fatalf("answered a BU that does not parse: %v", err)
		}
		var coa netip.Addr
		hasHoA := false
		for _, o := range m.(*mip6.BindingUpdate).Options {
			switch o := o.(type) {
			case *mip6.IPv4CareofAddress:
				if !coa.IsValid() {
					coa = o.Address
				}
			case *mip6.IPv4HomeAddress:
				hasHoA = true
			}
		}
		if off, _, err := mip6.AuthenticatorOffset(r.BA, mip6.OptAuthentication); err != nil ||
			binary.BigEndian.Uint32(r.BA[off-4:]) != laptopSPI {
			return // answered under another association (FuzzProcessBU checks those)
		}
		got := laptop.checkBA(t, r.BA, coa)
		if got.Status != r.Status {
			t.Fatalf("BA status %v, result %v", got.Status, r.Status)
		}
		if r.Status == mip6.StatusAccepted && r.Change != Deleted {
			ep := h.Endpoint(r.Binding)
			if ep.Remote != natPublic || (got.NAT != nil) != (ep.Kind == tunnel.KindUDP4) {
				t.Fatalf("endpoint %+v with NAT option %+v", ep, got.NAT)
			}
			if (got.Ack != nil) != hasHoA {
				t.Fatalf("IPv4 Address Acknowledgement %+v, IPv4 Home Address option %v", got.Ack, hasHoA)
			}
		}
	})
}

// BenchmarkProcessBU: parse, authenticate (HMAC-SHA1-96), check, update
// the cache and marshal the authenticated BA, for a stream of refreshes
// from many nodes. The target is 100,000 a second per core, 10 µs
// each.
func BenchmarkProcessBU(b *testing.B) {
	for _, tc := range []struct {
		name  string
		m     mn
		table bool
	}{
		{"sha1", laptop, false},
		{"sha256", router, false},
		{"sha1+table", laptop, true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			o := Options{SkipDAD: true}
			if tc.table {
				o.Table = tunnel.NewTable(0)
			}
			h := newHA(b, o)
			h.limiter = ratelimit.Table{} // a benchmark from one source is not a flood
			// Pre-build distinct BUs: each needs a later timestamp
			// and sequence number than the last.
			const n = 4096
			pkts := make([]Packet, n)
			for i := range pkts {
				pkts[i] = tc.m.packet(b, bu{seq: uint16(i + 1), ts: t0.Add(time.Duration(i) * time.Millisecond)})
			}
			buf := make([]byte, 0, 256)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				j := i % n
				if j == 0 && i > 0 {
					// Start the stream again: forget the node's state.
					b.StopTimer()
					h = newHA(b, o)
					h.limiter = ratelimit.Table{}
					b.StartTimer()
				}
				now := t0.Add(time.Duration(j) * time.Millisecond)
				r := h.ProcessBU(buf[:0], pkts[j], now)
				if r.Status != 0 || r.Verdict != Reply {
					b.Fatalf("BU %d: %v %v %v", i, r.Verdict, r.Drop, r.Status)
				}
			}
		})
	}
}
