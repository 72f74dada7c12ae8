package ndproxy

import "golang.org/x/net/bpf"

// filterSnaplen is how much of an accepted packet the filter keeps. NS and
// NA are small (24 octets plus options); a longer packet is cut, fails its
// checksum and is dropped, which is the right fate for it anyway.
const filterSnaplen = 2048

// Filter returns the classic BPF program of the Proxy's AF_PACKET socket,
// for packets that start at the IPv6 header (a SOCK_DGRAM packet socket,
// whatever the link): version 6, Next Header 58 (ICMPv6 directly after the
// fixed header), Hop Limit 255 (RFC 4861 §7.1: anything else is dropped by
// the receiver anyway) and ICMPv6 type 135 or 136. Everything else,
// including packets too short to hold the ICMPv6 type, is rejected in the
// kernel, so the reader sees only candidate NSs and NAs; ParsePacket
// checks the rest. The destination address is not matched: NSs for a
// proxied address go to one of up to 2^24 solicited-node groups, or unicast
// to the home address, and NAs that end a DAD go to all-nodes or to us.
func Filter() []bpf.Instruction {
	const reject, accept = 0, filterSnaplen
	return []bpf.Instruction{
		/* 0 */ bpf.LoadAbsolute{Off: 0, Size: 1},
		/* 1 */ bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0xf0},
		/* 2 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0x60, SkipFalse: 8}, // -> 11
		/* 3 */ bpf.LoadAbsolute{Off: 6, Size: 1},
		/* 4 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: 58, SkipFalse: 6},
		/* 5 */ bpf.LoadAbsolute{Off: 7, Size: 1},
		/* 6 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: HopLimit, SkipFalse: 4},
		/* 7 */ bpf.LoadAbsolute{Off: 40, Size: 1},
		/* 8 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: ICMPNeighborSolicitation, SkipTrue: 1},
		/* 9 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: ICMPNeighborAdvertisement, SkipFalse: 1},
		/* 10 */ bpf.RetConstant{Val: accept},
		/* 11 */ bpf.RetConstant{Val: reject},
	}
}
