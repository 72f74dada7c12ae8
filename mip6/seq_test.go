package mip6

import "testing"

func TestSeqGreater(t *testing.T) {
	for _, tc := range []struct {
		x, last uint16
		want    bool
	}{
		{1, 0, true},
		{0, 0, false},
		{0, 1, false},
		{0, 65535, true},    // the wrap 65535 -> 0
		{65535, 0, false},   // and back
		{16, 15, true},      // RFC 6275 §9.5.1 example, last = 15
		{32783, 15, true},   // the last value greater than 15
		{32784, 15, false},  // first of 32784..65535, "less or equal"
		{65535, 15, false},  //
		{15, 15, false},     //
		{32768, 0, true},    // the half-window edge, one way ...
		{0, 32768, true},    // ... and the other: both greater (RFC)
		{32769, 0, false},   //
		{32767, 0, true},    //
		{100, 32868, true},  // edge across the wrap
		{101, 32868, false}, //
	} {
		if got := SeqGreater(tc.x, tc.last); got != tc.want {
			t.Errorf("SeqGreater(%d, %d) = %v, want %v", tc.x, tc.last, got, tc.want)
		}
		if got := SeqLessEq(tc.x, tc.last); got == tc.want {
			t.Errorf("SeqLessEq(%d, %d) = %v, want %v", tc.x, tc.last, got, !tc.want)
		}
	}
}

// TestSeqWindowSize checks the RFC's window exactly: for every last value,
// 32768 values are greater and 32768 are less or equal.
func TestSeqWindowSize(t *testing.T) {
	for _, last := range []uint16{0, 1, 15, 32767, 32768, 65534, 65535} {
		n := 0
		for x := 0; x < 1<<16; x++ {
			if SeqGreater(uint16(x), last) {
				n++
			}
		}
		if n != 32768 {
			t.Errorf("last=%d: %d values greater, want 32768", last, n)
		}
	}
}
