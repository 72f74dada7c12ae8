package mnd

import (
	"net/netip"
	"slices"
	"time"

	"github.com/gomip6/gomip6/mip6"
	"github.com/gomip6/gomip6/mobilenode"
)

// Home agent fallback (RFC 6275 §11.4.1). A Home Agent Address Discovery
// Reply lists the home agents of the home link in order of preference
// (§10.5.1). The node registers with the first; when that one does not
// serve it, the next one is tried, and once the list is used up the
// discovery runs again. "Does not serve it" is one of two things:
//
//   - Silence: the home agent holds no binding for us and the first
//     registration went unanswered for haSilentTries transmissions on the
//     InitialBindackTimeoutFirstReg back-off (1.5 + 3 + 6 = 10.5 s, §11.8).
//     A refresh of a binding it still holds is not given up on: the
//     binding exists, and the expiry turns the refresh into such a first
//     registration if the home agent is really gone.
//   - A refusal that names the home agent as the problem, not the node
//     (§6.1.8 status codes): 129 administratively prohibited, 130
//     insufficient resources, 131 home registration not supported, 132 not
//     home subnet, 133 not home agent for this mobile node. Another home
//     agent of the link may well accept. 134 (the home address is in use
//     on the home link) and the RFC 4285 authentication failures (144,
//     146: our key or identifier) would be the same with any home agent
//     and stay final; 128 (unspecified) keeps being retried with the
//     same one.
//
// A home agent configured in mnd.toml is never replaced: the operator
// chose it, and the configuration has no other to offer.

// haSilentTries is how many Binding Updates a first registration sends to
// a discovered home agent without any answer before the next one is
// tried.
const haSilentTries = 3

// haCandidates is the home agent list of the last DHAAD reply and the
// position in it.
type haCandidates struct {
	// list is the reply's list, most preferred first; idx the one in use.
	list []netip.Addr
	idx  int
	// rounds counts the discoveries in a row whose whole list failed; it
	// spaces the next discovery (rediscoverDelay) so that a home link
	// whose home agents all refuse at once is not asked at wire speed.
	rounds int
}

// set takes the list of a new reply and returns the home agent to use:
// its first.
func (c *haCandidates) set(list []netip.Addr) netip.Addr {
	c.list, c.idx = slices.Clone(list), 0
	return c.list[0]
}

// next moves to the next home agent of the list; false when the list is
// used up, which ends the round (the caller discovers again, after
// rediscoverDelay).
func (c *haCandidates) next() (netip.Addr, bool) {
	if c.idx+1 < len(c.list) {
		c.idx++
		return c.list[c.idx], true
	}
	c.list, c.idx = nil, 0
	c.rounds++
	return netip.Addr{}, false
}

// registered resets the failed rounds: a home agent accepted us.
func (c *haCandidates) registered() { c.rounds = 0 }

// rediscoverDelay is how long after a used-up list the next discovery
// starts: none after the first round, then INITIAL_DHAAD_TIMEOUT doubling
// up to the discovery's own back-off ceiling.
func (c *haCandidates) rediscoverDelay() time.Duration {
	if c.rounds <= 1 {
		return 0
	}
	return min(mip6.InitialDHAADTimeout<<min(c.rounds-2, mip6.DHAADRetries), maxDHAADTimeout)
}

// refusedByHA reports whether a Binding Acknowledgement status says this
// home agent will not serve the node while another one might (see above).
func refusedByHA(s mip6.Status) bool {
	switch s {
	case mip6.StatusProhibited, mip6.StatusInsufficientResources, mip6.StatusHomeRegistrationNotSupported,
		mip6.StatusNotHomeSubnet, mip6.StatusNotHomeAgentForThisMN:
		return true
	}
	return false
}

// haSilent reports whether o, returned by the registration's timer, is the
// retransmission that shows its home agent silent: a first registration
// (state Registering with no binding at the home agent) whose
// haSilentTries transmissions all went unanswered. The caller then moves
// on instead of sending it.
func haSilent(o mobilenode.Output, e mobilenode.BULEntry, now time.Time) bool {
	return o.Send != nil && o.Send.RetransmitNumber >= haSilentTries &&
		e.State == mobilenode.Registering && !e.HasBinding(now)
}
