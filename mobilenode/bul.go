package mobilenode

import (
	"net/netip"
	"slices"
	"time"

	"github.com/gomip6/gomip6/binding"
)

// BULEntry is one entry of the Binding Update List (RFC 6275 §11.1): what
// the mobile node told one peer about one home address, and what came of
// it.
type BULEntry struct {
	// Peer is the node the Binding Updates go to: the home agent for a
	// home registration, a correspondent otherwise.
	Peer netip.Addr
	// HomeAddress is the home address the binding is for.
	HomeAddress netip.Addr
	// Home is true for a home registration (H flag, §11.7.1).
	Home bool
	// State is the registration state (see Registration).
	State State

	// The last Binding Update sent (§11.1: "the care-of address sent in
	// that Binding Update", "the initial value of the Lifetime field",
	// "the maximum value of the Sequence Number field sent", "the time at
	// which a Binding Update was last sent").
	CareOf       netip.Addr
	Sequence     uint16
	LifetimeSent time.Duration
	SentAt       time.Time
	// Timestamp is the Replay Protection value it carried (RFC 4285
	// §6), which the acknowledgement must echo.
	Timestamp binding.Timestamp

	// The binding the peer acknowledged: its care-of address, the
	// lifetime granted and when it expires (§11.7.3 counts the lifetime
	// from when the Binding Update was sent, so a slow acknowledgement
	// never makes the mobile node believe in a binding the peer has
	// already dropped). Expires is zero when the peer is not known to
	// hold a binding.
	BoundCareOf netip.Addr
	Lifetime    time.Duration
	Expires     time.Time
	// RefreshAt is when the next refresh goes out (§11.7.1, honouring
	// the Binding Refresh Advice of §6.2.4).
	RefreshAt time.Time
	// UDP reports that the binding to an IPv4 care-of address tunnels in
	// UDP (RFC 5555 §4.1: the home agent's NAT Detection option), and
	// Keepalive the NAT keepalive interval it gave (0: none needed);
	// RefreshAt is never later than one Keepalive after the last
	// Binding Update. IPv4HomeAddress is the IPv4 home address granted
	// (RFC 5555 §3.2.1), if any.
	UDP             bool
	Keepalive       time.Duration
	IPv4HomeAddress netip.Addr

	// Retransmission state (§11.8): when the Binding Update in flight
	// is sent again, zero when none is in flight, and the timeout in
	// use, doubled after every retransmission up to MaxBindackTimeout.
	Retransmit time.Time
	Backoff    time.Duration
}

// HasBinding reports whether the peer is known to hold a binding at now.
func (e *BULEntry) HasBinding(now time.Time) bool { return e.Expires.After(now) }

// BindingUpdateList is the Binding Update List of RFC 6275 §11.1: one
// entry per (peer, home address). It holds copies; a Registration keeps
// its own entry and the daemon puts a copy here for status reports. Not
// safe for concurrent use.
type BindingUpdateList struct {
	entries []BULEntry
}

func (l *BindingUpdateList) index(peer, hoa netip.Addr) int {
	return slices.IndexFunc(l.entries, func(e BULEntry) bool { return e.Peer == peer && e.HomeAddress == hoa })
}

// Put adds e, or replaces the entry for the same peer and home address.
func (l *BindingUpdateList) Put(e BULEntry) {
	if i := l.index(e.Peer, e.HomeAddress); i >= 0 {
		l.entries[i] = e
		return
	}
	l.entries = append(l.entries, e)
}

// Lookup returns the entry for peer and hoa.
func (l *BindingUpdateList) Lookup(peer, hoa netip.Addr) (BULEntry, bool) {
	if i := l.index(peer, hoa); i >= 0 {
		return l.entries[i], true
	}
	return BULEntry{}, false
}

// Delete removes the entry for peer and hoa and reports whether there was
// one.
func (l *BindingUpdateList) Delete(peer, hoa netip.Addr) bool {
	i := l.index(peer, hoa)
	if i < 0 {
		return false
	}
	l.entries = slices.Delete(l.entries, i, i+1)
	return true
}

// Entries returns a copy of all entries, home registrations first, in the
// order they were added.
func (l *BindingUpdateList) Entries() []BULEntry {
	out := slices.Clone(l.entries)
	slices.SortStableFunc(out, func(a, b BULEntry) int {
		switch {
		case a.Home == b.Home:
			return 0
		case a.Home:
			return -1
		}
		return 1
	})
	return out
}

// Len returns the number of entries.
func (l *BindingUpdateList) Len() int { return len(l.entries) }
