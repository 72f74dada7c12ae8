package mip6

// SeqGreater reports whether sequence number x is greater than last in the
// modulo 2^16 arithmetic of RFC 6275 §9.5.1. The RFC defines the relation
// from the receiver's side: x is "less than or equal to" last when it lies
// in last and the 32767 values before it, inclusive (last = 15: 0..15 and
// 32784..65535). Everything else, the 32768 values 16..32783, is greater.
//
// So the wrap works (SeqGreater(0, 65535)) and the half window has one
// asymmetric edge: when x-last == 32768 modulo 2^16 each is greater than the
// other, exactly as the RFC's definition says.
func SeqGreater(x, last uint16) bool {
	d := x - last // modulo 2^16
	return d != 0 && d <= 1<<15
}

// SeqLessEq reports whether x is less than or equal to last (RFC 6275
// §9.5.1): the negation of SeqGreater, which is how a home agent or
// correspondent rejects a Binding Update with status 135.
func SeqLessEq(x, last uint16) bool { return !SeqGreater(x, last) }
