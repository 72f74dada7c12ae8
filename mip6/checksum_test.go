package mip6

import (
	"math/rand/v2"
	"testing"
)

// naiveSum is RFC 1071 word by word, the reference for ChecksumAdd.
func naiveSum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

func TestChecksumAddMatchesRFC1071(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := 0; n < 300; n++ {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		if got, want := ChecksumFold(ChecksumAdd(0, b)), naiveSum(b); got != want {
			t.Fatalf("len %d: %#04x, want %#04x", n, got, want)
		}
	}
	// All ones: the fold must carry repeatedly.
	ff := make([]byte, 1500)
	for i := range ff {
		ff[i] = 0xff
	}
	if got, want := ChecksumFold(ChecksumAdd(0, ff)), naiveSum(ff); got != want {
		t.Fatalf("all ones: %#04x, want %#04x", got, want)
	}
}
