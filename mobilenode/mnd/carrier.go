package mnd

import "encoding/binary"

// This file is the pure half of the missed-flap check (carrier_linux.go
// wires it in): the kernel counts every carrier transition of a device
// (IFLA_CARRIER_UP_COUNT and IFLA_CARRIER_DOWN_COUNT, Linux 4.16), but its
// link events only say the state at the time they were built. A quick
// flap (carrier lost and back within the kernel's linkwatch delay) can
// reach the daemon as a single "up", or as its "up" before its "down"
// when the events of two states are read late; either way the daemon
// would see nothing change and not look for a new network (RFC 6059
// probes, a Router Solicitation). A down count that moved since the last
// event says the link went away, whatever the events said.

// Link attributes of RTM_NEWLINK (include/uapi/linux/if_link.h).
const (
	iflaCarrierUpCount   = 47 // IFLA_CARRIER_UP_COUNT, u32
	iflaCarrierDownCount = 48 // IFLA_CARRIER_DOWN_COUNT, u32
	ifinfomsgLen         = 16 // struct ifinfomsg
	rtattrHeaderLen      = 4  // struct rtattr: len, type
)

// carrierCounts reads the carrier up and down counts from the payload of
// an RTM_NEWLINK message (struct ifinfomsg and its attributes, after the
// netlink header), in host byte order as netlink is. ok is false when the
// message is malformed or lacks either count (a kernel before 4.16).
func carrierCounts(msg []byte) (up, down uint32, ok bool) {
	if len(msg) < ifinfomsgLen {
		return 0, 0, false
	}
	var haveUp, haveDown bool
	b := msg[ifinfomsgLen:]
	for len(b) >= rtattrHeaderLen {
		l := int(binary.NativeEndian.Uint16(b[0:2]))
		typ := binary.NativeEndian.Uint16(b[2:4]) &^ (1<<15 | 1<<14) // NLA_F_NESTED, NLA_F_NET_BYTEORDER
		if l < rtattrHeaderLen || l > len(b) {
			return 0, 0, false
		}
		v := b[rtattrHeaderLen:l]
		switch typ {
		case iflaCarrierUpCount:
			if len(v) != 4 {
				return 0, 0, false
			}
			up, haveUp = binary.NativeEndian.Uint32(v), true
		case iflaCarrierDownCount:
			if len(v) != 4 {
				return 0, 0, false
			}
			down, haveDown = binary.NativeEndian.Uint32(v), true
		}
		// RTA_ALIGN: attributes start on 4-octet boundaries.
		next := (l + 3) &^ 3
		if next >= len(b) {
			break
		}
		b = b[next:]
	}
	if !haveUp || !haveDown {
		return 0, 0, false
	}
	return up, down, true
}

// carrierWatch remembers each access interface's carrier down count at
// its last link event.
type carrierWatch map[string]uint32

// flapped records down, the down count of name at a link event, and
// reports whether the carrier went down since the previous event. The
// first event of an interface only sets the baseline; so does a count
// that went backwards (the interface was deleted and created again with
// the same name).
func (w carrierWatch) flapped(name string, down uint32) bool {
	prev, seen := w[name]
	w[name] = down
	return seen && down > prev
}
