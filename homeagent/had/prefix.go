package had

import (
	"net/netip"

	"go.uber.org/zap"

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
	d.sendMPA(e.HomeAddress, e.CareOf, mps.Identifier)
}

// sendMPA sends a Mobile Prefix Advertisement for the home prefix (§6.8,
// §10.6) to a registered mobile node: to its care-of address with a type 2
// routing header for its home address, like every packet from the home
// agent to the node away from home; the ICMPv6 checksum's pseudo-header
// destination is the home address (RFC 8200 §8.1, final destination).
func (d *Daemon) sendMPA(hoa, coa netip.Addr, id uint16) {
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
	d.log.Info("mobile prefix advertisement sent", zap.String("event", "mpa_sent"), daemon.HoA(hoa), daemon.CoA(coa))
}
