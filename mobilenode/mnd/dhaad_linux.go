package mnd

import (
	"crypto/rand"
	"encoding/binary"
	"net"
	"net/netip"
	"time"

	"go.uber.org/zap"
	"golang.org/x/net/ipv6"

	"github.com/gomip6/gomip6/internal/daemon"
	"github.com/gomip6/gomip6/mip6"
	"github.com/gomip6/gomip6/ra"
)

// Dynamic Home Agent Address Discovery (RFC 6275 §11.4.1), used when
// mnd.toml leaves home_agent out: away from home, a Home Agent Address
// Discovery Request goes from the care-of address to the Mobile IPv6
// Home-Agents anycast address of the home subnet, retransmitted from
// INITIAL_DHAAD_TIMEOUT doubling each time; the first reply that matches
// gives the home agent (its list is in order of preference, §10.5), and the
// registration starts with it. When it does not serve the node the next
// one of the list is tried, and after the last one the discovery runs
// again (hafallback.go).

// dhaadState is the discovery in progress.
type dhaadState struct {
	// id is the outstanding request's Identifier, next when it is sent
	// again (zero: no discovery running), tries how often it was sent.
	id      uint16
	next    time.Time
	timeout time.Duration
	tries   int
	// delayed: a discovery is to start at next (a used-up home agent
	// list spaces the next round, haCandidates.rediscoverDelay); no
	// request is outstanding.
	delayed bool
}

// dhaadReply is a received Home Agent Address Discovery Reply.
type dhaadReply struct {
	src   netip.Addr
	reply *mip6.HomeAgentDiscoveryReply
}

// maxDHAADTimeout bounds the back-off: after DHAAD_RETRIES doublings the
// node keeps asking at that pace rather than giving up, since without a
// home agent it is unreachable at its home address.
const maxDHAADTimeout = mip6.InitialDHAADTimeout << mip6.DHAADRetries

// startDHAAD starts a discovery unless one runs.
func (r *engine) startDHAAD(now time.Time) {
	if r.dhaad.id != 0 || r.dhaad.delayed {
		return
	}
	r.dhaad = dhaadState{timeout: mip6.InitialDHAADTimeout}
	r.sendDHAAD(now)
}

func (r *engine) sendDHAAD(now time.Time) {
	// A new Identifier per transmission, never 0 (our "none").
	prev := r.dhaad.id
	for r.dhaad.id == 0 || r.dhaad.id == prev {
		var b [2]byte
		_, _ = rand.Read(b[:])
		r.dhaad.id = binary.BigEndian.Uint16(b[:])
	}
	r.dhaad.next = now.Add(r.dhaad.timeout)
	r.dhaad.tries++
	r.dhaad.delayed = false
	coa := r.cur.CareOf
	dst := ra.HomeAgentsAnycast(r.cfg.HomePrefix)
	msg, err := mip6.MarshalICMP(&mip6.HomeAgentDiscoveryRequest{Identifier: r.dhaad.id})
	if err == nil {
		// From the care-of address: the "from CoA" rule sends it out
		// of the access interface, not into mip0.
		_, err = r.icmp.p.WriteTo(msg, &ipv6.ControlMessage{Src: coa.AsSlice(), HopLimit: 64}, &net.IPAddr{IP: dst.AsSlice()})
	}
	if err != nil {
		r.log.Warn("home agent discovery request not sent", daemon.CoA(coa), zap.Error(err))
	} else {
		r.log.Info("home agent discovery request sent", zap.String("event", "dhaad_request"), daemon.CoA(coa),
			zap.Stringer("anycast", dst), zap.Uint16("id", r.dhaad.id), zap.Int("try", r.dhaad.tries))
	}
	r.dhaad.timeout = min(2*r.dhaad.timeout, maxDHAADTimeout)
}

// dhaadTimer retransmits a request whose reply is overdue.
func (r *engine) dhaadTimer(now time.Time) {
	if (r.dhaad.id == 0 && !r.dhaad.delayed) || now.Before(r.dhaad.next) {
		return
	}
	if r.reg != nil || r.atHome || r.cur.Kind == 0 || !r.cur.CareOf.IsValid() {
		r.dhaad = dhaadState{}
		return
	}
	r.sendDHAAD(now)
}

// onDHAADReply takes the list of a matching reply and registers with its
// first home agent.
func (r *engine) onDHAADReply(m dhaadReply) {
	if r.reg != nil || r.dhaad.id == 0 || r.dhaad.delayed || m.reply.Identifier != r.dhaad.id {
		return
	}
	if len(m.reply.HomeAgents) == 0 {
		// §11.4.1: an empty list; try again on the schedule.
		r.log.Warn("home agent discovery reply lists no home agent", zap.Stringer("from", m.src))
		return
	}
	r.dhaad = dhaadState{}
	ha := r.has.set(m.reply.HomeAgents)
	r.log.Info("home agent discovered", zap.String("event", "dhaad_reply"), daemon.HA(ha),
		zap.Stringers("home_agents", m.reply.HomeAgents), zap.Stringer("from", m.src))
	r.useHomeAgent(ha, netip.Addr{})
}
