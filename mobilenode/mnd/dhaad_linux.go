package mnd

import (
	"crypto/rand"
	"encoding/binary"
	"github.com/gomip6/gomip6/ra"
	"net"
	"net/netip"
	"time"

	"go.uber.org/zap"
	"golang.org/x/net/ipv6"

	"github.com/gomip6/gomip6/internal/daemon"
	"github.com/gomip6/gomip6/mip6"
)

// Dynamic Home Agent Address Discovery (RFC 6275 §11.4.1), used when
// mnd.toml leaves home_agent out: away from home, a Home Agent Address
// Discovery Request goes from the care-of address to the Mobile IPv6
// Home-Agents anycast address of the home subnet, retransmitted from
// INITIAL_DHAAD_TIMEOUT doubling each time; the first reply that matches
// gives the home agent (its list is in order of preference, §10.5), and the
// registration starts with it. The home agent found is kept for the run
// (§11.4.1 lets a node keep using it until it fails to answer).

// dhaadState is the discovery in progress.
type dhaadState struct {
	// id is the outstanding request's Identifier, next when it is sent
	// again (zero: no discovery running), tries how often it was sent.
	id      uint16
	next    time.Time
	timeout time.Duration
	tries   int
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
	if r.dhaad.id != 0 {
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
	if r.dhaad.id == 0 || now.Before(r.dhaad.next) {
		return
	}
	if r.reg != nil || r.atHome || r.cur.Kind == 0 || !r.cur.CareOf.IsValid() {
		r.dhaad = dhaadState{}
		return
	}
	r.sendDHAAD(now)
}

// onDHAADReply takes the first home agent of a matching reply.
func (r *engine) onDHAADReply(m dhaadReply) {
	if r.reg != nil || r.dhaad.id == 0 || m.reply.Identifier != r.dhaad.id {
		return
	}
	if len(m.reply.HomeAgents) == 0 {
		// §11.4.1: an empty list; try again on the schedule.
		r.log.Warn("home agent discovery reply lists no home agent", zap.Stringer("from", m.src))
		return
	}
	ha := m.reply.HomeAgents[0]
	r.dhaad = dhaadState{}
	r.cfg = withHA(r.fileCfg, ha)
	if err := r.newCores(r.cfg); err != nil {
		r.log.Error("home agent discovered but unusable", daemon.HA(ha), zap.Error(err))
		r.cfg = r.fileCfg
		return
	}
	r.log.Info("home agent discovered", zap.String("event", "dhaad_reply"), daemon.HA(ha),
		zap.Stringers("home_agents", m.reply.HomeAgents), zap.Stringer("from", m.src))
	if r.cur.Kind == 0 || r.atHome || !r.cur.CareOf.IsValid() {
		return
	}
	r.goAway(r.cur)
	r.output(r.reg.Moved(r.cur.CareOf, time.Now()))
}
