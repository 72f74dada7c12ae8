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
		{32782, 15, true},   // the last value greater than 15
		{32783, 15, false},  // "as well as 32783 through 65535": less or equal
		{65535, 15, false},  //
		{15, 15, false},     //
		{32768, 0, false},   // 32768 apart: neither is greater ...
		{0, 32768, false},   // ... ("the preceding 32768 values, inclusive")
		{32769, 0, false},   //
		{32767, 0, true},    //
		{99, 32868, true},   // edge across the wrap
		{100, 32868, false}, //
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
// 32767 values are greater and 32769 (last and the 32768 before it) are
// less or equal.
func TestSeqWindowSize(t *testing.T) {
	for _, last := range []uint16{0, 1, 15, 32767, 32768, 65534, 65535} {
		n := 0
		for x := 0; x < 1<<16; x++ {
			if SeqGreater(uint16(x), last) {
				n++
			}
		}
		if n != 32767 {
			t.Errorf("last=%d: %d values greater, want 32767", last, n)
		}
	}
}
