package had

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/gomip6/gomip6/internal/daemon"
	"github.com/gomip6/gomip6/internal/netif"
	"github.com/gomip6/gomip6/ra"
)

// This file keeps had in step with its home link interface. What had
// says on the home link about itself comes from the interface: its
// link-layer address goes into the Source Link-layer Address option of
// the RAs (RFC 4861 §4.6.1) and into the Target Link-layer Address option
// of every proxy NA (RFC 6275 §10.4.1), and the NAs leave from its
// link-local address. All three can change while had runs: an operator
// sets a new MAC address, a Linux bridge without a fixed address takes
// the lowest of its ports' and changes it when that port leaves, and an
// interface taken down and up again gets its link-local address anew
// (from the new MAC address, if that changed meanwhile). Without
// following them, the home link's hosts would keep sending the mobile
// nodes' traffic to an address nobody has.
//
// Netlink link and address subscriptions (RTM_NEWLINK, RTM_NEWADDR) feed
// the loop, which owns the RA parameters and the proxy's settings; the
// proxy reads its link-layer address through an atomic pointer, so its
// receive path takes no lock for this. On a new MAC address had
//
//   - rebuilds the RA parameters and hands them to the RA sender;
//   - gives the proxy the new address, which then multicasts gratuitous
//     NAs with Override for every proxied home address (RFC 4861 §7.2.6
//     foresees exactly this; RFC 6275 §10.4.1 lets the home agent repeat
//     them), so that the hosts' neighbour caches follow at once instead of
//     after Neighbor Unreachability Detection;
//   - sends one unsolicited RA, whose Source Link-layer Address option
//     updates the hosts' entry for the router (RFC 4861 §6.3.4).
//
// When the interface comes back up (administratively, or its carrier),
// the same announcements go out once the link-local address is usable
// again (DAD done): hosts may have dropped the router meanwhile, and the
// scheduled RAs may be minutes away (MaxRtrAdvInterval up to 1800 s). The
// sockets need nothing: the proxy's packet socket is bound to the
// interface index, which stays, and the kernel re-attaches it on
// NETDEV_UP (it reports ENETDOWN once, logged); the RA sender's and
// DHAAD's raw sockets keep their group memberships over a down/up.
//
// A carrier blip shorter than a second may never reach had: the kernel's
// linkwatch reports non-urgent carrier changes at most once a second and
// then only the state they ended in. Nothing is lost by that: the
// neighbours whose own carrier went flushed their caches and resolve
// again (the proxy answers), and they solicit the router.
//
// The MTU: had advertises router_advertisements.mtu when configured, not
// the interface's MTU, so an MTU change needs nothing here.
//
// An administrative down removes the interface's IPv6 addresses (unless
// net.ipv6.conf.IF.keep_addr_on_down); home.address is the operator's to
// configure, not had's, so had warns when it is missing and goes on.

// linkQueue bounds the netlink updates waiting for the loop. The
// subscription's reader blocks while it is full (nothing is lost); the
// kernel then drops for it (ENOBUFS), which ends the subscription and
// makes had subscribe again, listing the current state.
const linkQueue = 64

// linkWatch is the loop's view of the home interface.
type linkWatch struct {
	linkCh  chan netlink.LinkUpdate
	addrCh  chan netlink.AddrUpdate
	done    chan struct{} // closed to end the subscriptions
	running bool          // IFF_UP and IFF_RUNNING (carrier)
	// announce is owed: the link came back, waiting for a usable
	// link-local address.
	announce bool
	// haveAddr says home.address is on the interface (for the warning).
	haveAddr bool
}

// openLinkWatch subscribes to the link and address updates of New's
// network namespace (d.netns); the first updates describe the
// interface as it is (ListExisting), so that a change between New's look
// at the interface and the subscription is not missed.
func (d *Daemon) openLinkWatch() error {
	d.lw = &linkWatch{running: true, haveAddr: true}
	if err := d.subscribeLink(); err != nil {
		return fmt.Errorf("home link watch: %w", err)
	}
	return nil
}

// subscribeLink opens both subscriptions, in the namespace of New
// whichever thread runs it (the loop resubscribes after an error).
func (d *Daemon) subscribeLink() error {
	lw := d.lw
	lw.linkCh = make(chan netlink.LinkUpdate, linkQueue)
	lw.addrCh = make(chan netlink.AddrUpdate, linkQueue)
	lw.done = make(chan struct{})
	done, iface := lw.done, d.cfg.Home.Interface
	errcb := func(err error) {
		select {
		case <-done:
			return // the socket closed under the reader: the end, not an error
		default:
		}
		d.log.Warn("home link watch", zap.Error(err), daemon.Iface(iface))
	}
	return netif.InNetns(d.netns, func() error {
		err := netlink.LinkSubscribeWithOptions(lw.linkCh, lw.done, netlink.LinkSubscribeOptions{ListExisting: true, ErrorCallback: errcb})
		if err == nil {
			err = netlink.AddrSubscribeWithOptions(lw.addrCh, lw.done, netlink.AddrSubscribeOptions{ListExisting: true, ErrorCallback: errcb})
		}
		if err != nil {
			close(lw.done)
		}
		return err
	})
}

// closeLinkWatch ends the subscriptions. Their readers may be blocked on
// a full channel: drained until they close it.
func (d *Daemon) closeLinkWatch() {
	if d.lw != nil {
		d.stopSubscriptions()
	}
}

// stopSubscriptions closes the current subscriptions and drains their
// channels in the background until the library closes them.
func (d *Daemon) stopSubscriptions() {
	lw := d.lw
	select {
	case <-lw.done:
	default:
		close(lw.done)
	}
	go func(l chan netlink.LinkUpdate, a chan netlink.AddrUpdate) {
		for l != nil || a != nil {
			select {
			case _, ok := <-l:
				if !ok {
					l = nil
				}
			case _, ok := <-a:
				if !ok {
					a = nil
				}
			}
		}
	}(lw.linkCh, lw.addrCh)
}

// resubscribe follows a subscription that ended (its reader hit an error,
// typically ENOBUFS after the loop fell behind): both are opened again,
// and their listing of the current state catches what was missed.
func (d *Daemon) resubscribe() {
	d.stopSubscriptions()
	if err := d.subscribeLink(); err != nil {
		// Without updates had goes on with what it knows; the next
		// housekeeping tick does not retry (a namespace that refuses a
		// netlink socket will not change its mind): logged loudly.
		d.log.Error("home link watch: subscribing again failed; MAC address and link state changes are no longer followed",
			zap.Error(err), daemon.Iface(d.cfg.Home.Interface))
		d.lw.linkCh, d.lw.addrCh = nil, nil
		return
	}
	d.log.Info("home link watch: subscribed again", daemon.Iface(d.cfg.Home.Interface))
}

// onLink handles an RTM_NEWLINK or RTM_DELLINK on the loop.
func (d *Daemon) onLink(u netlink.LinkUpdate) {
	a := u.Attrs()
	if a == nil || a.Index != d.home.Index {
		return
	}
	if u.Header.Type == unix.RTM_DELLINK {
		d.log.Error("the home interface was removed: had cannot serve the home link until it is restarted", daemon.Iface(d.cfg.Home.Interface))
		return
	}
	lw := d.lw
	if len(a.HardwareAddr) > 0 && !bytes.Equal(a.HardwareAddr, d.home.HardwareAddr) {
		d.setLinkLayer(a.HardwareAddr)
	}
	running := u.Flags&unix.IFF_UP != 0 && u.Flags&unix.IFF_RUNNING != 0
	switch {
	case running && !lw.running:
		lw.running = true
		d.log.Info("home link up", zap.String("event", "home_link_up"), daemon.Iface(d.cfg.Home.Interface))
		lw.announce = true
		d.announceIfReady()
	case !running && lw.running:
		lw.running = false
		lw.announce = false
		d.log.Warn("home link down: no router advertisements or proxy answers until it is back", zap.String("event", "home_link_down"),
			daemon.Iface(d.cfg.Home.Interface))
	}
}

// setLinkLayer follows a new MAC address of the home interface: the RA
// parameters, the proxy's NAs, and an announcement of both.
func (d *Daemon) setLinkLayer(mac net.HardwareAddr) {
	old := d.home.HardwareAddr
	home := *d.home
	home.HardwareAddr = append(net.HardwareAddr(nil), mac...)
	d.home = &home
	d.setParams(ra.ParamsFromConfig(d.cfg, d.home.HardwareAddr))
	if _, err := d.proxy.SetLinkLayer(d.home.HardwareAddr); err != nil {
		d.log.Warn("proxy neighbor discovery: new link-layer address refused", zap.Error(err), daemon.Iface(d.cfg.Home.Interface))
	}
	d.log.Info("home interface link-layer address changed", zap.String("event", "home_mac_changed"), daemon.Iface(d.cfg.Home.Interface),
		zap.Stringer("old", old), zap.Stringer("new", mac))
	d.lw.announce = true
	d.announceIfReady()
}

// setParams makes p the RA content: the sender's, the Home Agents List's
// own entry (with the link-local address as it is now: the sender keeps
// the one of its start) and the Mobile Prefix Advertisements'.
func (d *Daemon) setParams(p ra.Params) {
	d.params = p
	if d.ras != nil {
		if err := d.ras.SetParams(p); err != nil {
			d.log.Warn("router advertisements unchanged", zap.Error(err))
		}
	}
	if ll := d.linkLocal(); ll.IsValid() {
		d.halist.SetSelf(p.Self(ll))
	}
}

// onAddr handles an RTM_NEWADDR or RTM_DELADDR on the loop: the home
// interface's link-local address (the proxy's NA source; usable once DAD
// is done) and home.address.
func (d *Daemon) onAddr(u netlink.AddrUpdate) {
	if u.LinkIndex != d.home.Index {
		return
	}
	a, ok := netip.AddrFromSlice(u.LinkAddress.IP)
	if !ok {
		return
	}
	a = a.Unmap()
	lw := d.lw
	switch {
	case a == d.cfg.Home.Address:
		if u.NewAddr != lw.haveAddr {
			lw.haveAddr = u.NewAddr
			if u.NewAddr {
				d.log.Info("home.address is back on the home interface", daemon.HA(a), daemon.Iface(d.cfg.Home.Interface))
			} else {
				d.log.Warn("home.address was removed from the home interface (had does not configure it): the home link is unreachable from the tunnels until it is added again",
					daemon.HA(a), daemon.Iface(d.cfg.Home.Interface))
			}
		}
	case a.Is6() && a.IsLinkLocalUnicast() && u.NewAddr && u.Flags&(unix.IFA_F_TENTATIVE|unix.IFA_F_DADFAILED) == 0:
		if changed, err := d.proxy.SetSource(a); err != nil {
			d.log.Warn("proxy neighbor discovery: new source refused", zap.Error(err))
		} else if changed {
			d.log.Info("home interface link-local address changed", daemon.Iface(d.cfg.Home.Interface), zap.Stringer("link_local", a))
			d.halist.SetSelf(d.params.Self(a))
		}
		d.announceIfReady()
	}
}

// announceIfReady sends the announcements owed (lw.announce) once the
// link is up and has a usable link-local address: the RA's source and
// the NAs' (a tentative address cannot be used, RFC 4862 §5.4).
func (d *Daemon) announceIfReady() {
	lw := d.lw
	if !lw.announce || !lw.running || !d.linkLocal().IsValid() {
		return
	}
	lw.announce = false
	n := d.proxy.Announce()
	d.unsolicitedRA()
	d.log.Info("home link told", zap.String("event", "home_link_announced"), daemon.Iface(d.cfg.Home.Interface),
		zap.Stringer("mac", d.home.HardwareAddr), zap.Int("proxied", n))
}

// linkLocal returns the home interface's first usable link-local address
// (not tentative, RFC 4862 §5.4), the zero Addr when it has none. Through
// the netlink handle of New, so in had's namespace whichever thread asks
// (net.Interface.Addrs would ask the calling thread's).
func (d *Daemon) linkLocal() netip.Addr {
	l, err := d.nl.LinkByIndex(d.home.Index)
	if err != nil {
		return netip.Addr{}
	}
	as, err := d.nl.AddrList(l, netlink.FAMILY_V6)
	if err != nil {
		return netip.Addr{}
	}
	for _, a := range as {
		ip, ok := netip.AddrFromSlice(a.IP)
		if ok && ip.Is6() && ip.IsLinkLocalUnicast() && a.Flags&(unix.IFA_F_TENTATIVE|unix.IFA_F_DADFAILED) == 0 {
			return ip
		}
	}
	return netip.Addr{}
}

// unsolicitedRA asks the RA sender for an RA with the current parameters
// as soon as it may send one (RFC 4861 §6.2.4 lets a router send
// unsolicited RAs when its information changed): the sender keeps it
// MinDelayBetweenRAs from its scheduled RAs and answers to solicitations
// (ra.Sender.Trigger), so a flapping link does not flood either. Nothing
// with router advertisements off: a passive sender (radvd advertises)
// ignores the trigger.
func (d *Daemon) unsolicitedRA() {
	if d.ras != nil {
		d.ras.Trigger()
	}
}
