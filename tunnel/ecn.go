package tunnel

// ECN is the two-bit ECN field of the IPv4 TOS octet and the IPv6 traffic
// class (RFC 3168 §5): its low two bits.
type ECN uint8

// ECN codepoints, RFC 3168 §5.
const (
	NotECT ECN = 0b00 // not ECN-capable transport
	ECT1   ECN = 0b01 // ECN-capable transport, ECT(1)
	ECT0   ECN = 0b10 // ECN-capable transport, ECT(0)
	CE     ECN = 0b11 // congestion experienced
)

// String returns the RFC 3168 name.
func (e ECN) String() string {
	switch e & 3 {
	case NotECT:
		return "Not-ECT"
	case ECT1:
		return "ECT(1)"
	case ECT0:
		return "ECT(0)"
	}
	return "CE"
}

// ECNMode is the encapsulation mode of RFC 6040 §4.1.
type ECNMode uint8

// ECN modes. The zero value is normal mode.
const (
	// ECNNormal copies the inner ECN field to the outer header (RFC 6040
	// §4.1, "normal mode"), so congestion on the tunnel path is visible to
	// the decapsulator and, through the §4.2 table, to the inner flow.
	ECNNormal ECNMode = iota
	// ECNCompatibility sets the outer ECN field to Not-ECT (RFC 6040 §4.1,
	// "compatibility mode"), for a peer decapsulator that predates RFC
	// 3168 and would otherwise lose CE marks.
	ECNCompatibility
)

// EncapECN returns the outer ECN field for an inner packet whose ECN field
// is inner, per RFC 6040 §4.1 (Figure 3).
func EncapECN(mode ECNMode, inner ECN) ECN {
	if mode == ECNCompatibility {
		return NotECT
	}
	return inner & 3
}

// DecapECN combines the ECN fields of an arriving outer and inner header
// per RFC 6040 §4.2 (Figure 4) and returns the ECN field the forwarded
// inner packet must carry. drop is set for outer CE over inner Not-ECT: the
// congestion signal cannot be passed on to a transport that does not
// understand it, so the packet is dropped as the congested router would
// have. anomaly is set for the combinations Figure 4 marks "(!!!)", which
// no compliant encapsulator produces (RFC 6040 §4.2 asks to log them; we
// count them): they hint at a broken or malicious tunnel ingress.
func DecapECN(outer, inner ECN) (out ECN, drop, anomaly bool) {
	outer &= 3
	inner &= 3
	switch inner {
	case NotECT:
		switch outer {
		case NotECT:
			return NotECT, false, false
		case CE:
			return NotECT, true, true
		}
		return NotECT, false, true // ECT(0) or ECT(1) over Not-ECT
	case CE:
		return CE, false, outer == ECT1
	}
	// Inner ECT(0) or ECT(1).
	switch outer {
	case CE:
		return CE, false, false
	case ECT1:
		return ECT1, false, false
	}
	// Outer Not-ECT or ECT(0) leaves the inner field as it is; ECT(0) over
	// ECT(1) is Figure 4's "(!)": unusual, but benign, not logged.
	return inner, false, false
}

// outerTOS returns the outer TOS / traffic class octet for an inner packet
// with traffic class tc: the DSCP as configured (copied by default, the
// "uniform" model of RFC 2983 §3) and the ECN field per mode.
func (c *Config) outerTOS(tc uint8) uint8 {
	dscp := tc &^ 3
	if c.DSCP == DSCPFixed {
		dscp = c.DSCPValue << 2
	}
	return dscp | uint8(EncapECN(c.ECN, ECN(tc&3)))
}
