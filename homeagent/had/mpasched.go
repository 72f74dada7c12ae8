package had

import (
	"net/netip"
	"time"

	"github.com/gomip6/gomip6/mip6"
)

// mpaSchedule decides when each registered mobile node away from home gets
// an unsolicited Mobile Prefix Advertisement (RFC 6275 §10.6.2). It does no
// I/O and reads no clock: every method takes the current time, so the loop
// drives it with real time and a test with made-up times. It is owned by
// the loop (not safe for concurrent use).
//
// The rules, from §10.6.2:
//   - A solicitation is answered at once (handleHAO); it also acknowledges
//     an outstanding unsolicited advertisement, the one answer §10.6.2
//     names ("until it is acknowledged by the receipt of a Mobile Prefix
//     Solicitation"), which a mobile node gives for every unsolicited one
//     (§11.4.3).
//   - Every node gets one at least every MaxMobPfxAdvInterval: after each
//     exchange the next is scheduled RAND_ADV_DELAY ahead, MinMobPfxAdvInterval
//     plus a random part below |min(MaxMobPfxAdvInterval, preferred
//     lifetime) - MinMobPfxAdvInterval|, so that the nodes' refreshes do
//     not come in bursts.
//   - When the home prefix's information changes (a reload with other
//     lifetimes), every node is told at once, paced by the caller (see
//     changedAll for why not after RAND_ADV_DELAY).
//   - An unanswered advertisement is retransmitted PREFIX_ADV_TIMEOUT
//     later, the wait doubling each time, PREFIX_ADV_RETRIES times; then
//     had gives up until the next scheduled one, or until the node sends
//     another Binding Update without returning home, which starts the
//     retransmissions again ("SHOULD begin transmitting the unsolicited
//     Advertisement again").
//   - A binding that expires or is deleted cancels everything.
//
// Every transmission carries the home prefix's information as it is when
// it goes out: a change while one is outstanding is folded into the next
// retransmission, which §10.6.2 asks for ("combine ... into a new
// Advertisement"), and restarts the retry count for it.
type mpaSchedule struct {
	min, max time.Duration
	// preferred is the home prefix's preferred lifetime (MaxScheduleDelay
	// is at most it, so a refresh comes before it runs out).
	preferred time.Duration
	rnd       func(n int64) int64
	nodes     map[netip.Addr]*mpaNode
}

// mpaNode is one mobile node's schedule.
type mpaNode struct {
	due time.Time
	// tries counts the transmissions of the outstanding unsolicited
	// advertisement, 0 when none is outstanding.
	tries int
	// wait is the time before the next retransmission.
	wait time.Duration
	// unanswered says the retransmissions ran out without an answer.
	unanswered bool
}

// mpaKind says what a transmission is, for counters and logs.
type mpaKind int

const (
	mpaSolicited mpaKind = iota
	mpaUnsolicited
	mpaRetransmission
)

func (k mpaKind) String() string {
	switch k {
	case mpaSolicited:
		return "solicited"
	case mpaUnsolicited:
		return "unsolicited"
	default:
		return "retransmission"
	}
}

// mpaDue is a transmission take asks for.
type mpaDue struct {
	hoa  netip.Addr
	kind mpaKind
	// try is 1 for the first transmission, 2 for the first retransmission
	// and so on.
	try int
}

// newMPASchedule returns an empty schedule; rnd returns a uniform value in
// [0, n).
func newMPASchedule(min, max, preferred time.Duration, rnd func(int64) int64) *mpaSchedule {
	return &mpaSchedule{min: min, max: max, preferred: preferred, rnd: rnd, nodes: make(map[netip.Addr]*mpaNode)}
}

// setIntervals changes MinMobPfxAdvInterval, MaxMobPfxAdvInterval and the
// preferred lifetime (a reload); schedules already computed stay.
func (s *mpaSchedule) setIntervals(min, max, preferred time.Duration) {
	s.min, s.max, s.preferred = min, max, preferred
}

// randAdvDelay is RAND_ADV_DELAY of §10.6.2: MinMobPfxAdvInterval plus a
// random part below |MaxScheduleDelay - MinMobPfxAdvInterval|, where
// MaxScheduleDelay is the least of MaxMobPfxAdvInterval and the preferred
// lifetime. (With a preferred lifetime under MinMobPfxAdvInterval the
// absolute value makes the delay longer, not shorter: the text's formula,
// kept; the mobile node solicits by itself before its lifetimes end,
// §11.4.2.)
func (s *mpaSchedule) randAdvDelay() time.Duration {
	maxSched := min(s.max, s.preferred)
	span := maxSched - s.min
	if span < 0 {
		span = -span
	}
	if span == 0 {
		return s.min
	}
	return s.min + time.Duration(s.rnd(int64(span)))
}

// add starts the schedule of a new binding (or one restored): its first
// unsolicited advertisement RAND_ADV_DELAY from now, since none was sent
// yet in the last MaxMobPfxAdvInterval. A node already known keeps its
// schedule.
func (s *mpaSchedule) add(hoa netip.Addr, now time.Time) {
	if _, ok := s.nodes[hoa]; ok {
		return
	}
	s.nodes[hoa] = &mpaNode{due: now.Add(s.randAdvDelay())}
}

// remove cancels a binding's advertisements: §10.6.2, "If a home
// registration expires, cancel any scheduled advertisements"; the same
// for a de-registration or a move to an IPv4 care-of address.
func (s *mpaSchedule) remove(hoa netip.Addr) {
	delete(s.nodes, hoa)
}

// solicited records a Mobile Prefix Solicitation from hoa (answered at
// once by the caller): it acknowledges an outstanding advertisement, and
// the node is up to date, so the next one is RAND_ADV_DELAY away. It
// reports whether an advertisement was outstanding.
func (s *mpaSchedule) solicited(hoa netip.Addr, now time.Time) (acked bool) {
	n, ok := s.nodes[hoa]
	if !ok {
		n = &mpaNode{}
		s.nodes[hoa] = n
	}
	acked = n.tries > 0
	*n = mpaNode{due: now.Add(s.randAdvDelay())}
	return acked
}

// bindingUpdate records an accepted Binding Update from hoa that keeps it
// away from home (a refresh or a move). If the node never answered the
// last unsolicited advertisement, §10.6.2 has the home agent begin
// transmitting it again: due now. It reports whether it did.
func (s *mpaSchedule) bindingUpdate(hoa netip.Addr, now time.Time) bool {
	n, ok := s.nodes[hoa]
	if !ok {
		s.add(hoa, now)
		return false
	}
	if !n.unanswered {
		return false
	}
	*n = mpaNode{due: now}
	return true
}

// changedAll records that the home prefix's information changed (§10.6.2:
// lifetimes reconfigured, flags changed): every node gets a new
// advertisement, with a full set of retransmissions. It is due at once,
// not RAND_ADV_DELAY later as §10.6.2's algorithm would have it: that
// delay is at least MinMobPfxAdvInterval (10 minutes by default), and a
// shortened lifetime told that late may already have run out on the
// node; the burst that delay avoids is avoided by the caller's pacing
// (mpaPerTick a second), which §10.6.2 allows ("MAY further reduce the
// rate").
func (s *mpaSchedule) changedAll(now time.Time) {
	for _, n := range s.nodes {
		*n = mpaNode{due: now}
	}
}

// take appends to due up to limit transmissions due at now (in no
// particular order) and records them as sent. Nodes whose retransmissions ran
// out are moved to their next scheduled advertisement and returned in
// gaveUp (for the log), not counted against limit.
func (s *mpaSchedule) take(now time.Time, limit int, due []mpaDue) (_ []mpaDue, gaveUp []netip.Addr) {
	for hoa, n := range s.nodes {
		if len(due) >= limit {
			break
		}
		if now.Before(n.due) {
			continue
		}
		switch {
		case n.tries == 0:
			n.tries, n.wait, n.unanswered = 1, mip6.PrefixAdvTimeout, false
			due = append(due, mpaDue{hoa: hoa, kind: mpaUnsolicited, try: 1})
		case n.tries <= mip6.PrefixAdvRetries:
			// §10.6.2: PREFIX_ADV_TIMEOUT before the first
			// retransmission, doubled for every one after it.
			n.tries++
			n.wait *= 2
			due = append(due, mpaDue{hoa: hoa, kind: mpaRetransmission, try: n.tries})
		default:
			// PREFIX_ADV_RETRIES retransmissions unanswered: wait for
			// the next scheduled one (or a Binding Update).
			*n = mpaNode{due: now.Add(s.randAdvDelay()), unanswered: true}
			gaveUp = append(gaveUp, hoa)
			continue
		}
		// The last retransmission too gets its wait: the answer may
		// still come, and giving up is only decided after it.
		n.due = now.Add(n.wait)
	}
	return due, gaveUp
}
