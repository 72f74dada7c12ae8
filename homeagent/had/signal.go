package had

import (
	"net/netip"

	"go.uber.org/zap"

	"github.com/gomip6/gomip6/internal/daemon"
	"github.com/gomip6/gomip6/internal/rawsock"
	"github.com/gomip6/gomip6/mip6"
)

// sendBindingError answers the packet laid out by l with a Binding Error
// (RFC 6275 §9.3.3): to its Source Address (the care-of address when a Home
// Address option was present), with that option's home address in the
// message, rate limited.
func (d *Daemon) sendBindingError(l mip6.PacketLayout, s mip6.BEStatus) {
	if !l.Src.IsGlobalUnicast() || !d.beLimit.Allow(d.now().UnixNano()) {
		return
	}
	hoa := l.HomeAddress
	if !hoa.IsValid() {
		hoa = netip.IPv6Unspecified()
	}
	mh, err := mip6.AppendMessage(d.buf[:0], &mip6.BindingError{Status: s, HomeAddress: hoa})
	if err != nil {
		return
	}
	d.buf = mh[:0]
	mip6.SetMHChecksum(mh, d.cfg.Home.Address, l.Src)
	pkt, ok := mip6.AppendMobilityPacket(d.pkt[:0], d.cfg.Home.Address, l.Src, netip.Addr{}, netip.Addr{}, rawsock.DefaultHopLimit, mh)
	if !ok {
		return
	}
	d.pkt = pkt[:0]
	if err := d.tx.Send(pkt, 0); err != nil {
		d.log.Debug("sending binding error", zap.Error(err))
		return
	}
	d.c.beSent.Add(1)
	d.log.Debug("binding error sent", daemon.Status(s), zap.Stringer("to", l.Src), daemon.HoA(l.HomeAddress))
}

// housekeeping runs every second on the loop: other home agents' entries
// whose lifetime ran out leave the Home Agents List (§10.5.1).
func (d *Daemon) housekeeping() {
	d.halist.Expire(d.now())
}
