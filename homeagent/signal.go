package homeagent

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/gomip6/gomip6/binding"
	"github.com/gomip6/gomip6/mip6"
)

// This file holds the messages the home agent sends of its own accord,
// which the daemon triggers: Binding Refresh Requests (RFC 6275 §6.1.2,
// §9.5.5) and Binding Errors (§6.1.9, §9.3.3).

// RefreshRequestFraction places a binding's Binding Refresh Request: it
// is due when 1/RefreshRequestFraction of the granted lifetime is left.
// The BA told the node to refresh at three quarters of it (Binding Refresh
// Advice, see refreshAdvice), so by seven eighths a node that follows the
// advice has had an eighth of the lifetime for its Binding Update and the
// retransmissions of RFC 6275 §11.8; a node still silent then has lost its
// BU or forgot, and a Binding Refresh Request (§9.5.5: sent when the
// binding is "still in active use" and about to expire) saves the binding
// and the traffic through it.
const RefreshRequestFraction = 8

// refreshTime is when e is due its Binding Refresh Request, Unix ns.
func refreshTime(e *binding.Entry) int64 {
	return e.Expires.UnixNano() - int64(e.Lifetime/RefreshRequestFraction)
}

// RefreshDue removes from the refresh schedule and returns the bindings
// due a Binding Refresh Request at now: those with at most
// 1/RefreshRequestFraction of their lifetime left, not expired, and not
// returned before for the same registration. Each registration is
// returned once: a refresh or move schedules the binding again, a
// de-registration or expiry removes it. The slice is reused by the next
// call.
//
// Whether to send one is the caller's decision: RFC 6275 §9.5.5 asks for
// it only when the binding is in active use (the daemon can tell from the
// data plane's counters); AppendBRR builds the message. The cost is
// O(k log n) for k bindings due, nothing when none is: the schedule is a
// heap ordered by due time.
func (h *HomeAgent) RefreshDue(now time.Time) []binding.Entry {
	h.due = h.due[:0]
	t := now.UnixNano()
	for len(h.refreshQ) > 0 {
		ni := h.refreshQ[0]
		n := &h.nodes[ni]
		if n.refreshAt > t {
			break
		}
		h.heapRemove(0)
		if e, ok := h.cache.Lookup(n.hoa); ok && e.Expires.After(now) && e.Node == ni {
			h.due = append(h.due, e)
		}
	}
	return h.due
}

// NextRefresh is when RefreshDue next has work, for the caller's timer.
func (h *HomeAgent) NextRefresh() (time.Time, bool) {
	if len(h.refreshQ) == 0 {
		return time.Time{}, false
	}
	return time.Unix(0, h.nodes[h.refreshQ[0]].refreshAt), true
}

// AppendBRR appends to buf a Binding Refresh Request (RFC 6275 §6.1.2)
// for the binding of home address hoa, with its checksum computed from
// this home agent's address (home.address) to hoa: §9.5.5 sends it to the
// home address, which routes it into the binding's tunnel, and the
// pseudo-header of §6.1.1 takes those two addresses.
//
// It carries no mobility option, the MN-HA authentication option
// included: RFC 4285 §4 defines that option for Binding Updates and
// Binding Acknowledgements only, a mobile node has no rule to verify it
// on anything else, and a Binding Refresh Request needs no protection:
// all a forged one can make the node do is send a Binding Update, which
// is itself authenticated (RFC 6275 §11.7.4; our mobilenode answers one
// only when registered and no Binding Update is in flight). It also
// arrives through the tunnel, whose outer source the node checks.
//
// It fails only for a hoa that is not a unicast IPv6 address.
func (h *HomeAgent) AppendBRR(buf []byte, hoa netip.Addr) ([]byte, error) {
	if !unicast6(hoa) {
		return buf, fmt.Errorf("homeagent: Binding Refresh Request to %v: not a unicast IPv6 address", hoa)
	}
	start := len(buf)
	out, err := mip6.AppendMessage(buf, &mip6.BindingRefreshRequest{})
	if err != nil {
		return buf, fmt.Errorf("homeagent: Binding Refresh Request: %w", err)
	}
	mip6.SetMHChecksum(out[start:], h.addr, hoa)
	return out, nil
}

// ErrRateLimited is returned by BindingError when the Binding Error
// budget (Options.BindingErrorRate) is spent.
var ErrRateLimited = errors.New("homeagent: rate limited")

// AppendBindingError appends to buf a Binding Error (RFC 6275 §6.1.9)
// with the given status, about a packet from dst to src: §9.3.3 sends it
// to the offending packet's IPv6 Source Address (dst here) from the
// address it was sent to (src), and the checksum's pseudo-header takes
// those. hoa is the address of the offending packet's Home Address
// option, or the zero Addr when it had none: the message then carries the
// unspecified address (§6.1.9).
//
// The statuses are mip6.BEUnknownHomeAddress (1: a Home Address option
// for which there is no binding, §9.3.1) and mip6.BEUnknownMHType (2: a
// Mobility Header of a type we do not know, §9.2). Status 0 is refused.
// §9.3.3 forbids the message when the offending source is not a unicast
// address: dst must be a unicast IPv6 address (not unspecified, loopback,
// multicast or IPv4-mapped), or an error is returned and nothing
// appended. It applies no rate limit: HomeAgent.BindingError does.
func AppendBindingError(buf []byte, status mip6.BEStatus, hoa, src, dst netip.Addr) ([]byte, error) {
	if err := checkBindingError(status, hoa, src, dst); err != nil {
		return buf, err
	}
	if !hoa.IsValid() {
		hoa = netip.IPv6Unspecified()
	}
	start := len(buf)
	out, err := mip6.AppendMessage(buf, &mip6.BindingError{Status: status, HomeAddress: hoa})
	if err != nil {
		return buf, fmt.Errorf("homeagent: Binding Error: %w", err)
	}
	mip6.SetMHChecksum(out[start:], src, dst)
	return out, nil
}

// checkBindingError is AppendBindingError's refusals, without building
// anything.
func checkBindingError(status mip6.BEStatus, hoa, src, dst netip.Addr) error {
	switch {
	case status == 0:
		return errors.New("homeagent: Binding Error status 0")
	case !unicast6(dst):
		return fmt.Errorf("homeagent: no Binding Error to %v: not a unicast IPv6 address (RFC 6275 §9.3.3)", dst)
	case !unicast6(src):
		return fmt.Errorf("homeagent: Binding Error from %v: not a unicast IPv6 address", src)
	case hoa.IsValid() && (!hoa.Is6() || hoa.Zone() != ""):
		return fmt.Errorf("homeagent: Binding Error home address %v: not IPv6", hoa)
	}
	return nil
}

// BindingError is AppendBindingError under the home agent's Binding Error
// budget (Options.BindingErrorRate, RFC 6275 §9.3.3 asks for ICMPv6's
// rate limiting, RFC 4443 §2.4(f)): over it, it returns buf and
// ErrRateLimited, counted in Stats.BindingErrorsLimited. A message refused
// for its addresses takes no token.
func (h *HomeAgent) BindingError(buf []byte, status mip6.BEStatus, hoa, src, dst netip.Addr, now time.Time) ([]byte, error) {
	// Validate first, so an invalid request does not spend the budget.
	if err := checkBindingError(status, hoa, src, dst); err != nil {
		return buf, err
	}
	if !h.beLimit.Allow(now) {
		h.stats.BindingErrorsLimited++
		return buf, ErrRateLimited
	}
	return AppendBindingError(buf, status, hoa, src, dst)
}

// unicast6 reports whether a is an IPv6 address that names one node
// somewhere: not unspecified, loopback, multicast or IPv4-mapped.
func unicast6(a netip.Addr) bool {
	return a.Is6() && !a.Is4In6() && !a.IsUnspecified() && !a.IsLoopback() && !a.IsMulticast()
}

// schedule (re)queues node ni's binding e for its Binding Refresh
// Request.
func (h *HomeAgent) schedule(ni uint32, e *binding.Entry) {
	n := &h.nodes[ni]
	n.refreshAt = refreshTime(e)
	if n.qpos < 0 {
		n.qpos = int32(len(h.refreshQ))
		h.refreshQ = append(h.refreshQ, ni)
		h.heapUp(int(n.qpos))
		return
	}
	h.heapFix(int(n.qpos))
}

// unschedule forgets node ni's refresh: its binding is gone.
func (h *HomeAgent) unschedule(ni uint32) {
	if int(ni) >= len(h.nodes) {
		return
	}
	n := &h.nodes[ni]
	if n.qpos >= 0 {
		h.heapRemove(int(n.qpos))
	}
	n.refreshAt = 0
}

// The refresh schedule is a binary min-heap of node indexes on
// refreshAt, each node remembering its position (qpos) so that a refresh
// or de-registration fixes it in O(log n).

func (h *HomeAgent) heapLess(i, j int) bool {
	return h.nodes[h.refreshQ[i]].refreshAt < h.nodes[h.refreshQ[j]].refreshAt
}

func (h *HomeAgent) heapSwap(i, j int) {
	q := h.refreshQ
	q[i], q[j] = q[j], q[i]
	h.nodes[q[i]].qpos = int32(i)
	h.nodes[q[j]].qpos = int32(j)
}

func (h *HomeAgent) heapUp(j int) {
	for j > 0 {
		i := (j - 1) / 2
		if !h.heapLess(j, i) {
			break
		}
		h.heapSwap(i, j)
		j = i
	}
}

func (h *HomeAgent) heapDown(i int) bool {
	i0, n := i, len(h.refreshQ)
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		j := l
		if r := l + 1; r < n && h.heapLess(r, l) {
			j = r
		}
		if !h.heapLess(j, i) {
			break
		}
		h.heapSwap(i, j)
		i = j
	}
	return i > i0
}

func (h *HomeAgent) heapFix(i int) {
	if !h.heapDown(i) {
		h.heapUp(i)
	}
}

// heapRemove takes the element at position i out of the heap.
func (h *HomeAgent) heapRemove(i int) {
	last := len(h.refreshQ) - 1
	h.nodes[h.refreshQ[i]].qpos = -1
	if i != last {
		h.refreshQ[i] = h.refreshQ[last]
		h.nodes[h.refreshQ[i]].qpos = int32(i)
	}
	h.refreshQ = h.refreshQ[:last]
	if i != last {
		h.heapFix(i)
	}
}
