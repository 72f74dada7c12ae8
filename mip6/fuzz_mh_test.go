package mip6

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// mhWrapsSentinel reports whether err wraps one of the package's sentinels,
// as every error of a parser must.
func mhWrapsSentinel(err error) bool {
	for _, s := range []error{ErrTruncated, ErrLength, ErrInvalid, ErrAlignment, ErrAddress, ErrType, ErrChecksum} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// FuzzParseMessage checks that ParseMessage never panics, that every error
// wraps a sentinel, and that whatever parses marshals and parses back to
// the same value; the re-marshalled form is canonical, so a second round
// gives the same octets. The checksum and authenticator helpers run on the
// same input and must not panic either. Seeds: testdata/fuzz/FuzzParseMessage
// (one per message type and the error cases) and the hand vectors.
func FuzzParseMessage(f *testing.F) {
	for _, v := range mhVectors {
		f.Add(mhHex(f, v.hex))
	}
	src, dst := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
	f.Fuzz(func(t *testing.T, b []byte) {
		// Helpers that take any octets.
		_, _, _ = AuthenticatorOffset(b, OptBindingAuthData)
		_, _, _ = AuthenticatorOffset(b, OptAuthentication)
		_ = VerifyMHChecksum(b, src, dst)
		c := bytes.Clone(b)
		SetMHChecksum(c, src, dst)
		if n, err := mhLen(b); err == nil && !VerifyMHChecksum(c, src, dst) {
			t.Fatalf("SetMHChecksum over %d octets does not verify", n)
		}

		m, err := ParseMessage(b)
		if err != nil {
			if !mhWrapsSentinel(err) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			return
		}
		out, err := MarshalMessage(m)
		if err != nil {
			t.Fatalf("MarshalMessage of a parsed %T: %v", m, err)
		}
		if len(out)%8 != 0 || len(out) > MaxMHLen {
			t.Fatalf("marshalled %d octets", len(out))
		}
		m2, err := ParseMessage(out)
		if err != nil {
			t.Fatalf("ParseMessage(MarshalMessage(m)): %v\n%x", err, out)
		}
		if diff := cmp.Diff(m, m2, mhCmpOpts); diff != "" {
			t.Fatalf("parse(marshal(parse(x))) != parse(x) (-first +second):\n%s", diff)
		}
		out2, err := MarshalMessage(m2)
		if err != nil || !bytes.Equal(out, out2) {
			t.Fatalf("second marshal differs: %v\n%x\n%x", err, out, out2)
		}
	})
}

// FuzzParseMobilityOptions does the same for a bare run of options: each
// option that parses encodes alone and parses back to itself.
func FuzzParseMobilityOptions(f *testing.F) {
	for _, v := range optVectors {
		f.Add(mhHex(f, v.hex))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		opts, err := ParseMobilityOptions(b)
		if err != nil {
			if !mhWrapsSentinel(err) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			return
		}
		var all []byte
		for _, o := range opts {
			tlv, err := AppendMobilityOption(nil, o)
			if err != nil {
				t.Fatalf("AppendMobilityOption of a parsed %T: %v", o, err)
			}
			all = append(all, tlv...)
		}
		opts2, err := ParseMobilityOptions(all)
		if err != nil {
			t.Fatalf("ParseMobilityOptions(re-encoded): %v\n%x", err, all)
		}
		if diff := cmp.Diff(opts, opts2, mhCmpOpts); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
	})
}
