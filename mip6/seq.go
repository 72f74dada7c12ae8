package mip6

// SeqGreater reports whether sequence number x is greater than last in the
// modulo 2^16 arithmetic of RFC 6275 §9.5.1. The RFC defines the relation
// from the receiver's side: x is "less than or equal to" last when it lies
// in "the range of the last received number and the preceding 32768
// values, inclusive" — with last = 15, "0 through 15, as well as 32783
// through 65535". The other 32767 values, 16 through 32782, are greater:
// x is greater when x-last, modulo 2^16, is 1 to 32767.
//
// So the wrap works (SeqGreater(0, 65535)), and of two numbers exactly
// 32768 apart neither is greater than the other.
func SeqGreater(x, last uint16) bool {
	d := x - last // modulo 2^16
	return d != 0 && d < 1<<15
}

// SeqLessEq reports whether x is less than or equal to last (RFC 6275
// §9.5.1): the negation of SeqGreater, which is how a home agent or
// correspondent rejects a Binding Update with status 135.
func SeqLessEq(x, last uint16) bool { return !SeqGreater(x, last) }
