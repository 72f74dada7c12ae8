package netif

import (
	"encoding/binary"
	"testing"
	"unsafe"
)

// TestHtons: the result, as it sits in memory, is the value's octets in
// network order (most significant first), whatever the host's order.
func TestHtons(t *testing.T) {
	for _, c := range []struct {
		v    uint16
		wire [2]byte
	}{
		{0x86dd, [2]byte{0x86, 0xdd}}, // ETH_P_IPV6
		{0x0800, [2]byte{0x08, 0x00}}, // ETH_P_IP
		{0x0003, [2]byte{0x00, 0x03}}, // ETH_P_ALL
	} {
		h := Htons(c.v)
		if got := *(*[2]byte)(unsafe.Pointer(&h)); got != c.wire {
			t.Errorf("Htons(%#04x) in memory % x, want % x", c.v, got, c.wire)
		}
	}
	// On a little-endian host (amd64, arm64) that is a swap.
	if binary.NativeEndian.Uint16([]byte{1, 0}) == 1 && Htons(0x86dd) != 0xdd86 {
		t.Errorf("little-endian Htons(0x86dd) = %#04x, want 0xdd86", Htons(0x86dd))
	}
}
