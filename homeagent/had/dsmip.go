//go:build linux

package had

import (
	"errors"
	"fmt"
	"net/netip"
	"os"

	"github.com/vishvananda/netlink"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/gomip6/gomip6/binding"
	"github.com/gomip6/gomip6/conf"
	"github.com/gomip6/gomip6/homeagent"
	"github.com/gomip6/gomip6/internal/daemon"
	"github.com/gomip6/gomip6/internal/rawsock"
	"github.com/gomip6/gomip6/mip6"
	"github.com/gomip6/gomip6/tunnel"
)

// This file is Dual-Stack Mobile IPv6 (RFC 5555) in the daemon: the
// signalling that reaches the home agent's IPv4 address, in UDP port 4191
// or as IPv6 in IPv4, and the answers that go back the same way. The
// protocol is the core's (homeagent, dsmip.go there); here are the
// sockets, the kernel routes of IPv4 home addresses and the proxy ARP.
//
// The Binding Update of a mobile node on an IPv4 network comes in the
// very encapsulation its data will use (RFC 5555 §4.1), so it lands on the
// tunnel forwarder's sockets, not on the AF_PACKET listener; the forwarder
// hands it over (tunnel.ForwarderConfig.Signal) before its anti-spoofing
// rules, which would drop it for want of a binding. The Binding
// Acknowledgement must leave by the same way, from the forwarder's own UDP
// port: behind a NAT nothing else gets through the mapping the Binding
// Update opened.

// sigQueue bounds the signalling waiting for the loop, as rxQueue does for
// the AF_PACKET listener: the forwarder's reader must never block.
const sigQueue = 512

// sigPacket is a Mobility Header packet taken off a tunnel socket: the
// inner IPv6 packet (a copy the daemon owns) and the outer headers.
type sigPacket struct {
	pkt   []byte
	outer tunnel.Outer
}

// dsState is what the daemon remembers of a binding registered over
// IPv4, beyond the binding cache entry: whether a NAT was seen (for the
// status), and the IPv4 home address it routed and proxied (so that it
// can withdraw them after the core released the address).
type dsState struct {
	nat  bool
	hoa4 netip.Addr
}

// onSignal is the forwarder's ForwarderConfig.Signal: a non-blocking
// hand-off to the loop; a full queue drops (the mobile node retransmits,
// RFC 6275 §11.8) and counts.
func (d *Daemon) onSignal(pkt []byte, o tunnel.Outer) {
	select {
	case d.sigq <- sigPacket{pkt: pkt, outer: o}:
	default:
		d.c.sigQueueFull.Add(1)
	}
}

// outerAddrPort is Packet.Outer for a packet that came with outer o: the
// IPv4 source and, in UDP, its source port; port 0 for IPv6 in IPv4
// (homeagent.Packet documents the convention). The zero AddrPort for
// anything that did not come over IPv4.
func outerAddrPort(o tunnel.Outer) netip.AddrPort {
	src := o.Src.Unmap()
	if !src.Is4() {
		return netip.AddrPort{}
	}
	switch o.Kind {
	case tunnel.KindUDP4:
		return netip.AddrPortFrom(src, o.SrcPort)
	case tunnel.Kind6in4:
		return netip.AddrPortFrom(src, 0)
	}
	return netip.AddrPort{}
}

// outerEndpoint is the way back to outer from this home agent's IPv4
// address local: IPv6 in UDP from port 4191 to outer's port, or with port
// 0 IPv6 in IPv4 (RFC 5555 §4: the answer goes where the question came
// from).
func outerEndpoint(local netip.Addr, outer netip.AddrPort) tunnel.Endpoint {
	if outer.Port() != 0 {
		return tunnel.Endpoint{Kind: tunnel.KindUDP4, Local: local, Remote: outer.Addr(),
			LocalPort: mip6.UDPPortDSMIP, RemotePort: outer.Port()}
	}
	return tunnel.Endpoint{Kind: tunnel.Kind6in4, Local: local, Remote: outer.Addr()}
}

// handleSignal processes one Mobility Header packet that came over IPv4.
// It mirrors handlePacket: a Binding Update goes to the core with the
// outer source as seen (a NAT's public mapping behind a NAT); other known
// messages are not a home agent's business; an unknown type gets a
// Binding Error back the same way (RFC 6275 §9.2).
func (d *Daemon) handleSignal(s sigPacket) {
	switch s.outer.Kind {
	case tunnel.KindUDP4:
		d.c.sigUDP.Add(1)
	case tunnel.Kind6in4:
		d.c.sig6in4.Add(1)
	}
	outer := outerAddrPort(s.outer)
	l, err := mip6.WalkIPv6(s.pkt)
	if err != nil || !outer.IsValid() || l.Proto != mip6.ProtoMobility || l.End-l.Offset < 6 {
		d.c.malformed.Add(1)
		return
	}
	mh := s.pkt[l.Offset:l.End]
	switch mip6.MHType(mh[2]) {
	case mip6.MHBindingUpdate:
	case mip6.MHHomeTestInit, mip6.MHCareofTestInit, mip6.MHHomeTest, mip6.MHCareofTest, mip6.MHBindingAck, mip6.MHBindingRefreshRequest, mip6.MHBindingError:
		d.c.notBU.Add(1)
		return
	default:
		d.c.notBU.Add(1)
		d.sendBindingError4(l, outer, mip6.BEUnknownMHType)
		return
	}
	now := d.now()
	res := d.ha.ProcessBU(d.buf[:0], homeagent.Packet{Src: l.Src, Dst: l.Dst, HomeAddress: l.HomeAddress, MH: mh,
		Outer: outer, OuterDst: s.outer.Dst.Unmap()}, now)
	d.buf = res.BA[:0]
	d.apply(res, now)
}

// sendBindingError4 answers a packet that came over IPv4 from outer with
// a Binding Error (RFC 6275 §9.3.3), inner from this home agent to the
// packet's source, back the way it came, under the Binding Error budget.
func (d *Daemon) sendBindingError4(l mip6.PacketLayout, outer netip.AddrPort, s mip6.BEStatus) {
	mh, err := d.ha.BindingError(d.buf[:0], s, l.HomeAddress, d.cfg.Home.Address, l.Src, d.now())
	if err != nil {
		return
	}
	d.buf = mh[:0]
	if d.send4(mh, l.Src, outerEndpoint(d.cfg.IPv4.Address, outer), "binding error") {
		d.c.beSent.Add(1)
	}
}

// send4 wraps a Mobility Header in IPv6 from this home agent's address to
// dst, with no routing header (RFC 5555 §4: over IPv4 the inner packet
// goes to the home address itself), and sends it through the forwarder
// to ep.
func (d *Daemon) send4(mh []byte, dst netip.Addr, ep tunnel.Endpoint, what string) bool {
	pkt, ok := mip6.AppendMobilityPacket(d.pkt[:0], d.cfg.Home.Address, dst, netip.Addr{}, netip.Addr{}, rawsock.DefaultHopLimit, mh)
	if !ok {
		return false
	}
	d.pkt = pkt[:0]
	var err error
	switch ep.Kind {
	case tunnel.KindUDP4:
		err = d.fwd.SendUDP4(ep, pkt)
	case tunnel.Kind6in4:
		err = d.fwd.Send6in4(ep, pkt)
	default:
		return false
	}
	if err != nil {
		d.log.Debug("sending "+what, zap.Error(err), zap.Stringer("to", ep.Remote))
		return false
	}
	return true
}

// sendBRR4 sends a Binding Refresh Request to a binding over IPv4: inside
// its tunnel's encapsulation, inner to the home address (the checksum
// AppendBRR computes is for that destination).
func (d *Daemon) sendBRR4(hoa netip.Addr, ep tunnel.Endpoint) bool {
	mh, err := d.ha.AppendBRR(d.buf[:0], hoa)
	if err != nil {
		return false
	}
	d.buf = mh[:0]
	return d.send4(mh, hoa, ep, "binding refresh request")
}

// syncDSMIP follows an accepted registration of hoa: the NAT flag for
// the status, and the node's IPv4 home address (RFC 5555 §3.1.1), which
// the core put in the tunnel table (or released): a /32 route into the
// tun device, so that the kernel hands the tunnel what arrives for it, and
// a proxy ARP entry on the home link when the pool is on it.
func (d *Daemon) syncDSMIP(hoa netip.Addr, v4, nat bool) {
	cur, _ := d.ha.IPv4HomeAddress(hoa)
	st := d.ds[hoa]
	if st.hoa4 != cur {
		if st.hoa4.IsValid() {
			d.withdrawIPv4(hoa, st.hoa4)
		}
		if cur.IsValid() {
			if err := d.route(netip.PrefixFrom(cur, 32), true); err != nil {
				d.log.Error("route", zap.Error(err), daemon.HoA(hoa))
			}
			if d.poolOnLink {
				if err := d.proxyARP(cur, true); err != nil {
					d.log.Warn("proxy arp", zap.Error(err), daemon.HoA(hoa), daemon.Iface(d.cfg.Home.Interface))
				}
			}
			d.log.Info("ipv4 home address routed", zap.String("event", "ipv4_hoa_added"), daemon.HoA(hoa),
				zap.Stringer("ipv4_home_address", cur))
		}
	}
	st.hoa4, st.nat = cur, nat && v4
	if !st.hoa4.IsValid() && !st.nat {
		delete(d.ds, hoa)
		return
	}
	d.ds[hoa] = st
}

// dropDSMIP forgets hoa's DSMIPv6 state with its binding: the IPv4 home
// address's route and proxy entry go.
func (d *Daemon) dropDSMIP(hoa netip.Addr) {
	st, ok := d.ds[hoa]
	if !ok {
		return
	}
	delete(d.ds, hoa)
	if st.hoa4.IsValid() {
		d.withdrawIPv4(hoa, st.hoa4)
	}
}

func (d *Daemon) withdrawIPv4(hoa, a netip.Addr) {
	if d.poolOnLink {
		if err := d.proxyARP(a, false); err != nil {
			d.log.Warn("proxy arp", zap.Error(err), daemon.HoA(hoa), daemon.Iface(d.cfg.Home.Interface))
		}
	}
	if err := d.route(netip.PrefixFrom(a, 32), false); err != nil {
		d.log.Warn("route", zap.Error(err), daemon.HoA(hoa))
	}
	d.log.Info("ipv4 home address withdrawn", zap.String("event", "ipv4_hoa_removed"), daemon.HoA(hoa),
		zap.Stringer("ipv4_home_address", a))
}

// proxyARP adds or removes a proxy ARP entry (NTF_PROXY, `ip neigh add
// proxy A dev HOME`) for an IPv4 home address on the home link. Per
// address rather than the interface's proxy_arp switch, which would
// answer for everything routed elsewhere. The kernel answers for a proxy
// entry only with IPv4 forwarding on (arp_process), which New makes sure
// of when a pool is configured.
func (d *Daemon) proxyARP(a netip.Addr, add bool) error {
	n := &netlink.Neigh{LinkIndex: d.home.Index, Family: unix.AF_INET, Flags: netlink.NTF_PROXY, IP: a.AsSlice()}
	if add {
		return d.nl.NeighSet(n)
	}
	if err := d.nl.NeighDel(n); err != nil && !errors.Is(err, unix.ENOENT) {
		return err
	}
	return nil
}

// poolOnLink reports whether the IPv4 home pool lies on the home link:
// inside (or overlapping) a subnet of one of the home interface's IPv4
// addresses. Hosts there resolve a home address with ARP, so the home
// agent must answer for it to intercept its packets, as a Mobile IPv4
// home agent does for its mobile nodes away (proxy ARP, RFC 5944 §4.6);
// a pool routed to the home agent from elsewhere needs only the routes.
func poolOnLink(pool netip.Prefix, linkPrefixes []netip.Prefix) bool {
	if !pool.IsValid() {
		return false
	}
	for _, p := range linkPrefixes {
		if p.Addr().Is4() && p.Overlaps(pool) {
			return true
		}
	}
	return false
}

// ipv4Prefixes lists the IPv4 addresses, with their prefix length, of
// interface index (0: every interface).
func (d *Daemon) ipv4Prefixes(index int) ([]netip.Prefix, error) {
	var link netlink.Link
	if index != 0 {
		l, err := d.nl.LinkByIndex(index)
		if err != nil {
			return nil, err
		}
		link = l
	}
	as, err := d.nl.AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		return nil, err
	}
	var ps []netip.Prefix
	for _, a := range as {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok || a.IPNet == nil {
			continue
		}
		bits, _ := a.IPNet.Mask.Size()
		ps = append(ps, netip.PrefixFrom(ip.Unmap(), bits))
	}
	return ps, nil
}

// openDSMIP prepares what [ipv4] needs beyond the forwarder's sockets:
// it checks that the IPv4 address is one of this host's (had does not
// add it: the operator's network configuration does; without it nothing
// reaches the sockets, so a warning, not an error, since it may come
// later), decides proxy ARP for the pool, and turns on IPv4 forwarding
// when there is a pool (the home link's IPv4 traffic for the mobile nodes
// is forwarded into the tun device).
func (d *Daemon) openDSMIP() error {
	v4 := d.cfg.IPv4
	if v4 == nil {
		return nil
	}
	all, err := d.ipv4Prefixes(0)
	if err != nil {
		return err
	}
	found := false
	for _, p := range all {
		found = found || p.Addr() == v4.Address
	}
	if !found {
		d.log.Warn("ipv4.address is not an address of this host: mobile nodes on IPv4 networks cannot reach the home agent until it is added",
			zap.Stringer("ipv4_address", v4.Address))
	}
	if !v4.HomePool.IsValid() {
		return nil
	}
	home, err := d.ipv4Prefixes(d.home.Index)
	if err != nil {
		return err
	}
	d.poolOnLink = poolOnLink(v4.HomePool, home)
	return enableIPv4Forwarding(d.log)
}

// enableIPv4Forwarding turns on IPv4 forwarding, for IPv4 home addresses.
func enableIPv4Forwarding(log *zap.Logger) error {
	const p = "/proc/sys/net/ipv4/conf/all/forwarding"
	b, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	if len(b) > 0 && b[0] == '1' {
		return nil
	}
	if err := os.WriteFile(p, []byte("1"), 0o644); err != nil {
		return err
	}
	log.Info("enabled IPv4 forwarding (net.ipv4.conf.all.forwarding=1) for the IPv4 home pool")
	return nil
}

// sameIPv4 reports whether two [ipv4] sections are the same: any change
// (the address the forwarder's sockets serve, the pool whose addresses
// are routed and proxied, the keepalive time given out) needs a restart.
func sameIPv4(a, b *conf.HAIPv4) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// careOf is a binding's care-of address for the logs: with its UDP port
// for a binding that tunnels in UDP (the NAT's public mapping).
func careOf(e binding.Entry) fmt.Stringer {
	if e.CareOfPort != 0 {
		return netip.AddrPortFrom(e.CareOf, e.CareOfPort)
	}
	return e.CareOf
}

// closeDSMIP removes the proxy ARP entries at shutdown (the routes go
// with the tun device). It runs after the loop, which owned d.ds.
func (d *Daemon) closeDSMIP() error {
	if !d.poolOnLink || d.nl == nil {
		return nil
	}
	var errs []error
	for _, st := range d.ds {
		if st.hoa4.IsValid() {
			errs = append(errs, d.proxyARP(st.hoa4, false))
		}
	}
	return errors.Join(errs...)
}
