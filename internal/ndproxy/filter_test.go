package ndproxy

import (
	"testing"

	"golang.org/x/net/bpf"
)

func TestFilter(t *testing.T) {
	vm, err := bpf.NewVM(Filter())
	if err != nil {
		t.Fatal(err)
	}
	ns := unhex(t, scapyVectors[0].hex)
	na := unhex(t, scapyVectors[3].hex)
	mod := func(b []byte, f func([]byte)) []byte {
		c := append([]byte(nil), b...)
		f(c)
		return c
	}
	tests := []struct {
		name string
		pkt  []byte
		want bool
	}{
		{"NS", ns, true},
		{"DAD NS", unhex(t, scapyVectors[1].hex), true},
		{"NA", na, true},
		{"RS", mod(ns, func(b []byte) { b[40] = 133 }), false},
		{"RA", mod(ns, func(b []byte) { b[40] = 134 }), false},
		{"echo", mod(ns, func(b []byte) { b[40] = 128 }), false},
		{"hop limit 64", mod(ns, func(b []byte) { b[7] = 64 }), false},
		{"UDP", mod(ns, func(b []byte) { b[6] = 17 }), false},
		{"hop-by-hop first", mod(ns, func(b []byte) { b[6] = 0 }), false},
		{"IPv4", mod(ns, func(b []byte) { b[0] = 0x45 }), false},
		{"40 octets", ns[:40], false},
		{"41 octets", ns[:41], true},
		{"empty", nil, false},
	}
	for _, tt := range tests {
		n, err := vm.Run(tt.pkt)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got := n > 0; got != tt.want {
			t.Errorf("%s: accepted %v (%d), want %v", tt.name, got, n, tt.want)
		}
		// The VM returns the program's value; the kernel cuts it to the
		// packet length.
		if n > 0 && n != filterSnaplen {
			t.Errorf("%s: snaplen %d, want %d", tt.name, n, filterSnaplen)
		}
	}
	if _, err := bpf.Assemble(Filter()); err != nil {
		t.Fatal(err)
	}
}
