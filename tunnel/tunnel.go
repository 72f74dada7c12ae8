package tunnel

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"sync/atomic"
	"time"
)

// Role says which inner address a tunnel keys its bindings on.
type Role uint8

// Roles.
const (
	// RoleHomeAgent: packets for a mobile node (inner destination = home
	// address or inside a mobile network prefix) are encapsulated to its
	// care-of address; decapsulated packets are checked against the
	// binding of their inner source (RFC 6275 §10.4.5 reverse tunnelling,
	// RFC 3963 §6.1 for a mobile router's prefixes).
	RoleHomeAgent Role = iota
	// RoleMobileNode: packets from our home address (or mobile network
	// prefix) are reverse-tunnelled to the home agent; decapsulated
	// packets must be for our home address and come from the home agent
	// (RFC 6275 §11.3.1).
	RoleMobileNode
)

// DSCPMode says how the outer DSCP is chosen.
type DSCPMode uint8

// DSCP modes. The zero value copies.
const (
	// DSCPCopy copies the inner DSCP to the outer header: the uniform
	// model of RFC 2983 §3, so the tunnel path honours the flow's class.
	DSCPCopy DSCPMode = iota
	// DSCPFixed writes Config.DSCPValue (the pipe model of RFC 2983 §3).
	DSCPFixed
)

// Config is a tunnel's configuration. The zero value is a home agent with
// RFC defaults, except that ICMP errors need ErrorSource.
type Config struct {
	// Role says which inner address the bindings are keyed on.
	Role Role
	// HopLimit is the outer hop limit (IPv6) or TTL (IPv4) of every
	// encapsulated packet; 0 means DefaultHopLimit (RFC 2473 §6.3).
	HopLimit uint8
	// ECN is the RFC 6040 encapsulation mode; decapsulation always
	// follows RFC 6040 §4.2.
	ECN ECNMode
	// DSCP and DSCPValue choose the outer DSCP (6 bits).
	DSCP      DSCPMode
	DSCPValue uint8
	// UDPChecksum makes KindUDP4 compute the UDP checksum. The default is
	// zero, which RFC 768 allows over IPv4: the inner IPv6 packet carries
	// its own upper-layer checksum covering its addresses (mandatory in
	// IPv6, RFC 8200 §8.1), the outer IPv4 header has its own checksum,
	// and a second pass over the payload would cost per packet on the
	// one path that needs to be fast. Received non-zero checksums are
	// verified either way.
	UDPChecksum bool
	// ErrorSource is the source address of the ICMPv6 errors the tunnel
	// originates (Packet Too Big, relayed unreachables): the tunnel
	// entry point's own address (RFC 2473 §8.1, "the tunnel entry-point
	// node address"), on a home agent its address on the home link. If
	// unset, no ICMPv6 errors are sent (and ICMPSuppressed counts them).
	ErrorSource netip.Addr
	// ICMPRate is the average number of ICMPv6 errors per second and
	// ICMPBurst the bucket size (RFC 4443 §2.4(f)); 0 means
	// DefaultICMPRate / DefaultICMPBurst, a negative rate disables them.
	ICMPRate  float64
	ICMPBurst int
	// Clock returns a monotonic time in nanoseconds for the rate limiter.
	// nil means the process's monotonic clock. It is read only when an
	// ICMPv6 error is about to be sent, never per forwarded packet.
	Clock func() int64
}

// Tunnel encapsulates and decapsulates packets for the bindings of one
// Table. Its methods are safe for concurrent use by many packet-path
// goroutines; they allocate nothing and take no locks.
type Tunnel struct {
	cfg     Config
	table   *Table
	limiter RateLimiter
	noICMP  bool
	ipid    atomic.Uint32

	// Counters are the tunnel's statistics.
	Counters Counters
}

var processStart = time.Now()

func monotonic() int64 { return int64(time.Since(processStart)) }

// New returns a tunnel over table with configuration cfg.
func New(cfg Config, table *Table) (*Tunnel, error) {
	if table == nil {
		return nil, errors.New("tunnel: nil table")
	}
	if cfg.Role > RoleMobileNode {
		return nil, fmt.Errorf("tunnel: role %d", cfg.Role)
	}
	if cfg.ECN > ECNCompatibility {
		return nil, fmt.Errorf("tunnel: ECN mode %d", cfg.ECN)
	}
	if cfg.DSCP > DSCPFixed || cfg.DSCPValue > 63 {
		return nil, fmt.Errorf("tunnel: DSCP mode %d value %d", cfg.DSCP, cfg.DSCPValue)
	}
	if cfg.HopLimit == 0 {
		cfg.HopLimit = DefaultHopLimit
	}
	if cfg.ErrorSource.IsValid() {
		a := cfg.ErrorSource.As16()
		if !cfg.ErrorSource.Is6() || cfg.ErrorSource.Zone() != "" || badUnicast16(&a) {
			return nil, fmt.Errorf("tunnel: ICMPv6 error source %v is not a global unicast IPv6 address", cfg.ErrorSource)
		}
	}
	if cfg.ICMPRate == 0 {
		cfg.ICMPRate = DefaultICMPRate
	}
	if cfg.ICMPBurst <= 0 {
		cfg.ICMPBurst = DefaultICMPBurst
	}
	if cfg.Clock == nil {
		cfg.Clock = monotonic
	}
	t := &Tunnel{cfg: cfg, table: table, noICMP: cfg.ICMPRate < 0 || !cfg.ErrorSource.IsValid()}
	if cfg.ICMPRate > 0 {
		t.limiter.init(cfg.ICMPRate, cfg.ICMPBurst)
	}
	return t, nil
}

// Table returns the tunnel's binding table.
func (t *Tunnel) Table() *Table { return t.table }

// Config returns the configuration in effect, defaults filled in.
func (t *Tunnel) Config() Config { return t.cfg }

// RateLimiter is a token bucket for ICMP errors (RFC 4443 §2.4(f)), in
// its GCRA form: one atomic "theoretical arrival time" instead of a token
// count and a timestamp, so concurrent callers need no lock. A message may
// go if now is not earlier than tat - burst*interval; sending moves tat
// one interval on. The zero value allows nothing; use NewRateLimiter.
type RateLimiter struct {
	interval  int64 // ns per token
	tolerance int64 // (burst-1) * interval
	tat       atomic.Int64
}

// NewRateLimiter returns a limiter allowing perSecond messages per second
// on average and bursts of burst.
func NewRateLimiter(perSecond float64, burst int) *RateLimiter {
	l := new(RateLimiter)
	l.init(perSecond, burst)
	return l
}

func (l *RateLimiter) init(perSecond float64, burst int) {
	iv := float64(time.Second) / perSecond
	if perSecond <= 0 || iv > math.MaxInt64/4 {
		iv = math.MaxInt64 / 4
	}
	l.interval = max(int64(iv), 1)
	l.tolerance = int64(max(burst, 1)-1) * l.interval
	l.tat.Store(math.MinInt64 / 2)
}

// Allow reports whether a message may be sent at time now (monotonic
// nanoseconds) and, if so, takes its token.
func (l *RateLimiter) Allow(now int64) bool {
	if l.interval == 0 {
		return false
	}
	for {
		tat := l.tat.Load()
		if now < tat-l.tolerance {
			return false
		}
		next := max(tat, now) + l.interval
		if l.tat.CompareAndSwap(tat, next) {
			return true
		}
	}
}
