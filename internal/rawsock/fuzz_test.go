package rawsock

import (
	"encoding/hex"
	"testing"

	"github.com/gomip6/gomip6/mip6"
	"golang.org/x/net/bpf"
)

// model is the documented semantics of IPv6Filter for LinkIP without
// destinations, written as plain Go: the same walk, and like classic BPF
// it rejects the packet at the first octet it would read past the end.
func model(b []byte, m Match) bool {
	at := func(i int) (int, bool) {
		if i >= len(b) {
			return 0, false
		}
		return int(b[i]), true
	}
	v, ok := at(0)
	if !ok || v>>4 != 6 {
		return false
	}
	nh, ok := at(6)
	if !ok {
		return false
	}
	off := 40
	advance := func(length func(int) int) bool {
		n, ok1 := at(off)
		l, ok2 := at(off + 1)
		if !ok1 || !ok2 {
			return false
		}
		nh, off = n, off+length(l)
		return true
	}
	for range MaxFilterHeaders {
		switch nh {
		case mip6.ProtoMobility:
			if m&MatchMH == 0 {
				return false
			}
			_, ok := at(off + 7)
			return ok
		case mip6.ProtoDestOpts, mip6.ProtoRouting:
			pos, want, bit := 6, mip6.OptHomeAddress, MatchHAO
			if nh == mip6.ProtoRouting {
				pos, want, bit = 2, mip6.RoutingType2, MatchRH2
			}
			if m&bit != 0 {
				v, ok := at(off + pos)
				if !ok {
					return false
				}
				if v == want {
					return true
				}
			}
			if !advance(func(l int) int { return (l + 1) * 8 }) {
				return false
			}
		case mip6.ProtoHopByHop:
			if !advance(func(l int) int { return (l + 1) * 8 }) {
				return false
			}
		case mip6.ProtoFragment:
			hi, ok1 := at(off + 2)
			lo, ok2 := at(off + 3)
			if !ok1 || !ok2 || (hi<<8|lo)&0xfff8 != 0 {
				return false
			}
			// The fragment header's length octet is reserved; the
			// program still loads it (advance is shared), so a frame
			// cut right after the Next Header octet is rejected.
			if !advance(func(int) int { return 8 }) {
				return false
			}
		case mip6.ProtoAH:
			if !advance(func(l int) int { return (l + 2) * 4 }) {
				return false
			}
		default:
			return false
		}
	}
	return false
}

// FuzzFilter checks the BPF programs, run in the x/net/bpf VM, against the
// Go model of their documented semantics, and against mip6.WalkIPv6 for
// the layouts the documentation promises to catch.
func FuzzFilter(f *testing.F) {
	for _, s := range frames {
		b, _ := hex.DecodeString(s)
		f.Add(b)
	}
	matches := []Match{MatchMH, MatchHAO, MatchRH2, MatchAll, MatchMH | MatchRH2}
	vms := make([]*bpf.VM, len(matches))
	for i, m := range matches {
		ins, err := IPv6Filter(IPv6Spec{Match: m, AnyDestination: true, AnyPacketType: true})
		if err != nil {
			f.Fatal(err)
		}
		if vms[i], err = bpf.NewVM(ins); err != nil {
			f.Fatal(err)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got := make([]bool, len(matches))
		for i, m := range matches {
			n, err := vms[i].Run(b)
			if err != nil {
				t.Fatal(err)
			}
			got[i] = n != 0
			if want := model(b, m); got[i] != want {
				t.Fatalf("match %#x: filter %v, model %v", uint8(m), got[i], want)
			}
		}
		l, err := mip6.WalkIPv6(b)
		if err != nil {
			return
		}
		// A valid packet with the Mobile IPv6 header first in its
		// chain (the common layouts) is always caught.
		if l.Proto == mip6.ProtoMobility && l.Offset == 40 && l.End-l.Offset >= 8 && !got[0] {
			t.Errorf("MH right after the IPv6 header not caught")
		}
		if l.HAO == 40+8 && !got[1] {
			t.Errorf("HAO at offset 6 of the first header not caught")
		}
		if l.RH2 == 40 && !got[2] {
			t.Errorf("RH2 as the first header not caught")
		}
		if (l.Proto == mip6.ProtoMobility && got[0]) || (l.HAO != 0 && got[1]) || (l.RH2 != 0 && got[2]) {
			if !got[3] {
				t.Errorf("MatchAll rejects what a single match accepts")
			}
		}
	})
}
