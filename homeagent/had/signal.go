package had

import (
	"net/netip"
	"time"

	"go.uber.org/zap"

	"github.com/gomip6/gomip6/internal/daemon"
	"github.com/gomip6/gomip6/internal/rawsock"
	"github.com/gomip6/gomip6/mip6"
)

// sendBindingError answers the packet laid out by l with a Binding Error
// (RFC 6275 §9.3.3): to its Source Address (the care-of address when a Home
// Address option was present), with that option's home address in the
// message, under the home agent's Binding Error budget.
func (d *Daemon) sendBindingError(l mip6.PacketLayout, s mip6.BEStatus) {
	mh, err := d.ha.BindingError(d.buf[:0], s, l.HomeAddress, d.cfg.Home.Address, l.Src, d.now())
	if err != nil {
		return
	}
	d.buf = mh[:0]
	if d.send(mh, l.Src, netip.Addr{}, "binding error") {
		d.c.beSent.Add(1)
	}
}

// send wraps a Mobility Header in IPv6 from this home agent's address to
// dst, with a type 2 routing header for rh2 when valid, and sends it.
func (d *Daemon) send(mh []byte, dst, rh2 netip.Addr, what string) bool {
	pkt, ok := mip6.AppendMobilityPacket(d.pkt[:0], d.cfg.Home.Address, dst, netip.Addr{}, rh2, rawsock.DefaultHopLimit, mh)
	if !ok {
		return false
	}
	d.pkt = pkt[:0]
	if err := d.tx.Send(pkt, 0); err != nil {
		d.log.Debug("sending "+what, zap.Error(err), zap.Stringer("to", dst))
		return false
	}
	return true
}

// refreshRequests sends a Binding Refresh Request (RFC 6275 §6.1.2,
// §9.5.5) for each binding that reached 7/8 of its lifetime without a
// refresh: the mobile node should have refreshed at the 3/4 the BA advised,
// so its refresh (or our BA) was probably lost. RFC 6275 asks for one only
// for a binding in active use; the data plane keeps no per-binding
// counters, so every binding about to lapse is asked once per registration
// (one small message, authenticated-BU-shaped answer). It travels like a
// BA: to the care-of address with a type 2 routing header, the mobile
// node's signalling path, or for a binding over IPv4 in its tunnel's
// encapsulation (RFC 5555 §4); its checksum is from this home agent to the
// home address, as §6.1.1 takes it with the routing header.
func (d *Daemon) refreshRequests(now time.Time) {
	for _, e := range d.ha.RefreshDue(now) {
		if !e.CareOf.Is6() {
			// DSMIPv6 (RFC 5555 §4): inside the binding's own
			// encapsulation, inner to the home address.
			if d.sendBRR4(e.HomeAddress, d.ha.Endpoint(e)) {
				d.c.brrSent.Add(1)
				d.log.Info("binding refresh request sent", zap.String("event", "brr_sent"), daemon.HoA(e.HomeAddress), daemon.CoA(careOf(e)))
			}
			continue
		}
		mh, err := d.ha.AppendBRR(d.buf[:0], e.HomeAddress)
		if err != nil {
			continue
		}
		d.buf = mh[:0]
		if d.send(mh, e.CareOf, e.HomeAddress, "binding refresh request") {
			d.c.brrSent.Add(1)
			d.log.Info("binding refresh request sent", zap.String("event", "brr_sent"), daemon.HoA(e.HomeAddress), daemon.CoA(e.CareOf))
		}
	}
}

// housekeeping runs every second on the loop: other home agents' entries
// whose lifetime ran out leave the Home Agents List (§10.5.1), learned
// path MTUs age, unsolicited Mobile Prefix Advertisements due go out.
func (d *Daemon) housekeeping() {
	now := d.now()
	d.halist.Expire(now)
	d.sendDueMPAs(now)
	if now.Sub(d.lastAging) >= time.Minute {
		// Learned path MTUs go back up after tunnel.PathMTUAge (RFC 8201
		// §4), so a forged Packet Too Big cannot shrink a tunnel for good.
		d.table.AgePathMTU(now)
		d.lastAging = now
	}
}
