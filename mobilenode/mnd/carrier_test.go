package mnd

import (
	"encoding/binary"
	"testing"
)

// rtattr returns a netlink attribute (struct rtattr, host byte order)
// with its padding to 4 octets.
func rtattr(typ uint16, v []byte) []byte {
	b := make([]byte, 4, 4+len(v)+3)
	binary.NativeEndian.PutUint16(b[0:2], uint16(4+len(v)))
	binary.NativeEndian.PutUint16(b[2:4], typ)
	b = append(b, v...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func u32(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }

// newlink builds the payload of an RTM_NEWLINK message: a struct
// ifinfomsg (AF_UNSPEC, index 7, IFF_UP|IFF_LOWER_UP) and attrs.
func newlink(attrs ...[]byte) []byte {
	b := make([]byte, 16)
	binary.NativeEndian.PutUint32(b[4:8], 7)
	binary.NativeEndian.PutUint32(b[8:12], 0x10001)
	for _, a := range attrs {
		b = append(b, a...)
	}
	return b
}

// TestCarrierCounts: the counts are found among other attributes, in any
// order and after odd-length ones (padding), with the nested flag bits
// ignored as the kernel's parser does; a message without either count
// (a kernel before 4.16) or a malformed one gives nothing.
func TestCarrierCounts(t *testing.T) {
	name := rtattr(3, []byte("a0\x00")) // IFLA_IFNAME, 3 octets + 1 pad
	mtu := rtattr(4, u32(1500))         // IFLA_MTU
	operstate := rtattr(16, []byte{6})  // IFLA_OPERSTATE, 1 octet + 3 pad
	tests := []struct {
		name     string
		msg      []byte
		up, down uint32
		ok       bool
	}{
		{"typical", newlink(name, mtu, rtattr(47, u32(5)), rtattr(48, u32(4)), operstate), 5, 4, true},
		{"reversed, after padding", newlink(operstate, rtattr(48, u32(9)), name, rtattr(47, u32(10))), 10, 9, true},
		{"last attribute unpadded", newlink(rtattr(47, u32(1)), rtattr(48, u32(0))), 1, 0, true},
		{"byte-order flag", newlink(rtattr(47|1<<14, u32(2)), rtattr(48, u32(2))), 2, 2, true},
		{"no down count", newlink(name, rtattr(47, u32(5))), 0, 0, false},
		{"no counts", newlink(name, mtu, operstate), 0, 0, false},
		{"short count", newlink(rtattr(47, u32(5)), rtattr(48, []byte{1, 0})), 0, 0, false},
		{"attribute past the end", append(newlink(rtattr(47, u32(5))), 0xff, 0, 48, 0), 0, 0, false},
		{"attribute length below its header", append(newlink(rtattr(47, u32(5))), 2, 0, 48, 0), 0, 0, false},
		{"short ifinfomsg", make([]byte, 15), 0, 0, false},
		{"empty", nil, 0, 0, false},
	}
	for _, tt := range tests {
		up, down, ok := carrierCounts(tt.msg)
		if up != tt.up || down != tt.down || ok != tt.ok {
			t.Errorf("%s: carrierCounts = %d, %d, %v; want %d, %d, %v", tt.name, up, down, ok, tt.up, tt.down, tt.ok)
		}
	}
}

// TestCarrierWatch feeds the link events of one interface (their
// carrier down counts) and checks which report a flap: the first event
// sets the baseline; an event after a down the events showed (count
// already taken at that event) reports nothing; a coalesced flap (count
// moved, no down event) reports one; a count that went backwards (the
// interface created again) is a new baseline; interfaces are
// independent.
func TestCarrierWatch(t *testing.T) {
	w := carrierWatch{}
	steps := []struct {
		iface string
		down  uint32
		want  bool
	}{
		{"a0", 3, false}, // first event: baseline
		{"a0", 3, false}, // up, nothing happened
		{"a0", 4, true},  // up again, the carrier went down in between
		{"a0", 5, true},  // the down event, read late: counted at this event
		{"a0", 5, false}, // and its up: no second flap
		{"b0", 9, false}, // another interface: own baseline
		{"a0", 7, true},  // two flaps coalesced: one event, one flap
		{"a0", 0, false}, // recreated: the count started over
		{"a0", 1, true},
		{"b0", 9, false},
	}
	for i, s := range steps {
		if got := w.flapped(s.iface, s.down); got != s.want {
			t.Errorf("step %d (%s down %d): flapped = %v, want %v", i, s.iface, s.down, got, s.want)
		}
	}
}

// FuzzCarrierCounts: any RTM_NEWLINK payload gives counts or nothing,
// never a panic; counts found are found again in a message that holds
// just them, after the same ifinfomsg.
func FuzzCarrierCounts(f *testing.F) {
	f.Add(newlink(rtattr(3, []byte("a0\x00")), rtattr(47, u32(5)), rtattr(48, u32(4))))
	f.Add(newlink(rtattr(48, u32(9)), rtattr(16, []byte{6}), rtattr(47, u32(10))))
	f.Add(newlink(rtattr(47, u32(1))))
	f.Fuzz(func(t *testing.T, b []byte) {
		up, down, ok := carrierCounts(b)
		if !ok {
			if up != 0 || down != 0 {
				t.Fatalf("no counts but %d, %d", up, down)
			}
			return
		}
		again := append(append(append([]byte(nil), b[:ifinfomsgLen]...), rtattr(47, u32(up))...), rtattr(48, u32(down))...)
		up2, down2, ok2 := carrierCounts(again)
		if !ok2 || up2 != up || down2 != down {
			t.Fatalf("counts %d, %d; again %d, %d, %v", up, down, up2, down2, ok2)
		}
	})
}
