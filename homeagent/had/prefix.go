package had

import (
	"math/rand/v2"
	"net/netip"
	"time"

	"go.uber.org/zap"

	"github.com/gomip6/gomip6/binding"
	"github.com/gomip6/gomip6/homeagent"
	"github.com/gomip6/gomip6/internal/daemon"
	"github.com/gomip6/gomip6/internal/rawsock"
	"github.com/gomip6/gomip6/mip6"
)

// handleHAO handles a packet to this home agent that carries a Home
// Address option and no Mobility Header. The one such packet a home agent
// serves is the Mobile Prefix Solicitation (RFC 6275 §11.4.2), answered
// with a Mobile Prefix Advertisement (§10.6.2); and only from the care-of
// address registered for that home address: the option is the sender's
// word, the binding is what makes it true (§9.3.1). Anything else with a
// Home Address option and no binding gets a Binding Error status 1
// (§9.3.1), under the Binding Error budget; with a binding but not a
// solicitation, it is not ours to deliver (the kernel drops it).
func (d *Daemon) handleHAO(pkt []byte, l mip6.PacketLayout) {
	e, ok := d.ha.Cache().Lookup(l.HomeAddress)
	if !ok || e.CareOf != l.Src {
		d.sendBindingError(l, mip6.BEUnknownHomeAddress)
		return
	}
	icmp := pkt[l.Offset:l.End]
	if l.Proto != mip6.ProtoICMPv6 || len(icmp) < 8 || icmp[0] != mip6.ICMPMobilePrefixSolicitation ||
		!mip6.VerifyICMPChecksum(icmp, l.PseudoSrc, l.PseudoDst) {
		return
	}
	m, err := mip6.ParseICMP(icmp)
	mps, ok := m.(*mip6.MobilePrefixSolicitation)
	if err != nil || !ok {
		d.c.malformed.Add(1)
		return
	}
	// The solicitation is answered at once (§10.6.2) and acknowledges
	// an unsolicited advertisement still being retransmitted.
	if d.mpa.solicited(e.HomeAddress, d.now()) {
		d.c.mpaAcked.Add(1)
		d.log.Debug("mobile prefix advertisement answered", zap.String("event", "mpa_acknowledged"), daemon.HoA(e.HomeAddress), daemon.CoA(e.CareOf))
	}
	d.sendMPA(e.HomeAddress, e.CareOf, mps.Identifier, mpaSolicited, 1)
}

// scheduleMPA keeps the advertisement schedule in step with an accepted
// Binding Update that leaves the node away from home: a new binding gets
// its schedule; a refresh or move restarts an advertisement the node
// never answered (§10.6.2); a binding over an IPv4 care-of address gets
// none (sendMPA has no IPv4 path: RFC 5555 does not carry it).
func (d *Daemon) scheduleMPA(e binding.Entry, change homeagent.Change, now time.Time) {
	switch {
	case !e.CareOf.Is6():
		d.mpa.remove(e.HomeAddress)
	case change == homeagent.Created:
		d.mpa.add(e.HomeAddress, now)
	case d.mpa.bindingUpdate(e.HomeAddress, now):
		d.c.mpaRestarted.Add(1)
		d.log.Info("unanswered mobile prefix advertisement sent again after a binding update", zap.String("event", "mpa_restarted"),
			daemon.HoA(e.HomeAddress), daemon.CoA(e.CareOf))
	}
}

// sendDueMPAs sends the unsolicited Mobile Prefix Advertisements and
// retransmissions the schedule has due, at most mpaPerTick (housekeeping
// runs every second: PREFIX_ADV_TIMEOUT is 3 s, so a retransmission is
// at most a second late).
func (d *Daemon) sendDueMPAs(now time.Time) {
	due, gaveUp := d.mpa.take(now, mpaPerTick, d.mpaDue[:0])
	for _, x := range due {
		// Still registered, and where? (A binding that went away left
		// the schedule in withdraw; the care-of address may have moved.)
		if e, ok := d.ha.Cache().Lookup(x.hoa); ok && e.CareOf.Is6() {
			d.sendMPA(x.hoa, e.CareOf, uint16(rand.Uint32()), x.kind, x.try)
		}
	}
	clear(due)
	d.mpaDue = due[:0]
	for _, hoa := range gaveUp {
		d.c.mpaUnanswered.Add(1)
		d.log.Info("mobile prefix advertisement unanswered", zap.String("event", "mpa_unanswered"), daemon.HoA(hoa),
			zap.Int("transmissions", 1+mip6.PrefixAdvRetries))
	}
}

// sendMPA sends a Mobile Prefix Advertisement for the home prefix (§6.8,
// §10.6) to a registered mobile node: to its care-of address with a type 2
// routing header for its home address, like every packet from the home
// agent to the node away from home; the ICMPv6 checksum's pseudo-header
// destination is the home address (RFC 8200 §8.1, final destination).
// An unsolicited one matches no solicitation (the Identifier of §6.8
// is for that matching): its Identifier is random. kind and try are for
// counters and logs.
func (d *Daemon) sendMPA(hoa, coa netip.Addr, id uint16, kind mpaKind, try int) {
	mpa := d.params.MobilePrefixAdvertisement(id)
	body, err := mip6.AppendICMP(d.buf[:0], mpa)
	if err != nil {
		return
	}
	d.buf = body[:0]
	mip6.SetICMPChecksum(body, d.cfg.Home.Address, hoa)
	pkt := mip6.AppendIPv6Header(d.pkt[:0], uint16(24+len(body)), mip6.ProtoRouting, rawsock.DefaultHopLimit, d.cfg.Home.Address, coa)
	pkt = mip6.AppendRoutingHeader2(pkt, mip6.ProtoICMPv6, hoa)
	pkt = append(pkt, body...)
	d.pkt = pkt[:0]
	if err := d.tx.Send(pkt, 0); err != nil {
		d.log.Debug("sending mobile prefix advertisement", zap.Error(err), daemon.HoA(hoa))
		return
	}
	d.c.mpaSent.Add(1)
	switch kind {
	case mpaSolicited:
		d.c.mpaSolicited.Add(1)
	case mpaUnsolicited:
		d.c.mpaUnsolicited.Add(1)
	case mpaRetransmission:
		d.c.mpaRetransmitted.Add(1)
	}
	d.log.Info("mobile prefix advertisement sent", zap.String("event", "mpa_sent"), daemon.HoA(hoa), daemon.CoA(coa),
		zap.Stringer("kind", kind), zap.Int("try", try))
}
