// Package ratelimit holds the token buckets the daemons put in front of
// everything an unauthenticated packet can make them do: answering
// Neighbor Solicitations and DHAAD requests, processing Binding Updates,
// sending Binding Errors (RFC 6275 §15.4, RFC 4443 §2.4(f)).
//
// Every bucket is the generic cell rate algorithm: one "theoretical
// arrival time" (tat) instead of a token count and a timestamp. A message
// at t is allowed when tat - t is at most tau, the burst tolerance
// ((burst - 1) × interval), and moves tat to max(tat, t) + interval. One
// int64 per bucket makes a table of a million buckets 8 MB.
//
// Nothing here reads a clock (Allow takes the time) or is safe for
// concurrent use: each bucket belongs to the goroutine that owns the
// state it protects.
package ratelimit

import (
	"hash/maphash"
	"net/netip"
	"time"
)

// Bucket is one token bucket. The zero value allows everything.
type Bucket struct {
	tat      int64 // Unix ns
	interval int64 // ns between tokens: 1 s / rate; 0: no limit
	tau      int64 // (burst - 1) × interval
}

// NewBucket returns a bucket allowing rate messages a second on average,
// in bursts of burst (at least 1). A rate below 1 gives the zero Bucket,
// which allows everything.
func NewBucket(rate, burst int) Bucket {
	if rate < 1 {
		return Bucket{}
	}
	iv := max(int64(time.Second)/int64(rate), 1)
	return Bucket{interval: iv, tau: int64(max(burst, 1)-1) * iv}
}

// Limited reports whether the bucket limits anything.
func (b *Bucket) Limited() bool { return b.interval != 0 }

// Allow reports whether a message may go at now, and if so takes a token.
func (b *Bucket) Allow(now time.Time) bool {
	if b.interval == 0 {
		return true
	}
	ok, tat := allow(b.tat, now.UnixNano(), b.interval, b.tau)
	b.tat = tat
	return ok
}

func allow(tat, t, interval, tau int64) (bool, int64) {
	tat = max(tat, t)
	if tat-t > tau {
		return false, tat
	}
	return true, tat + interval
}

// Table is a bucket per key in a fixed table indexed by a keyed hash of
// the key: its memory does not depend on how many sources a flood makes
// up, there is nothing to evict, and the random hash key keeps an
// attacker from aiming a collision at a chosen victim. Keys that share a
// slot share its budget. The zero value allows everything.
type Table struct {
	tat           []int64
	interval, tau int64
	seed          maphash.Seed
	mask          uint64
}

// NewTable returns a table of at least n buckets (rounded up to a power
// of two; n < 1 means 65536), each allowing rate messages a second in
// bursts of burst. A rate below 1 gives the zero Table, which allows
// everything.
func NewTable(rate, burst, n int) Table {
	b := NewBucket(rate, burst)
	if !b.Limited() {
		return Table{}
	}
	if n < 1 {
		n = 1 << 16
	}
	size := 1
	for size < n {
		size <<= 1
	}
	return Table{tat: make([]int64, size), interval: b.interval, tau: b.tau,
		seed: maphash.MakeSeed(), mask: uint64(size - 1)}
}

// Limited reports whether the table limits anything.
func (t *Table) Limited() bool { return t.tat != nil }

// AllowAddr takes a token from the bucket of address a, whole.
func (t *Table) AllowAddr(a netip.Addr, now time.Time) bool {
	if t.tat == nil {
		return true
	}
	k := a.Unmap().As16()
	return t.allow(k[:], now)
}

// AllowSource takes a token from the bucket of source address src: its
// /64 for IPv6, since an interface identifier per address is free to make
// up and per-address buckets would not limit an attacker at all, and the
// whole address for IPv4 (a NAT's public address). Nodes sharing a /64
// with a flooding host share its bucket.
func (t *Table) AllowSource(src netip.Addr, now time.Time) bool {
	if t.tat == nil {
		return true
	}
	a := src.Unmap()
	if a.Is4() {
		k := a.As4()
		return t.allow(k[:], now)
	}
	k := a.As16()
	return t.allow(k[:8], now)
}

func (t *Table) allow(key []byte, now time.Time) bool {
	i := maphash.Bytes(t.seed, key) & t.mask
	ok, tat := allow(t.tat[i], now.UnixNano(), t.interval, t.tau)
	t.tat[i] = tat
	return ok
}

// NewBucketOr is NewBucket with the daemons' option conventions: a zero
// rate takes defRate, a burst of zero or less takes defBurst, and a
// negative rate means no bound.
func NewBucketOr(rate, burst, defRate, defBurst int) Bucket {
	if rate == 0 {
		rate = defRate
	}
	if burst <= 0 {
		burst = defBurst
	}
	return NewBucket(rate, burst)
}
