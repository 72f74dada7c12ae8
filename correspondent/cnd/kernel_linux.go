package cnd

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/gomip6/gomip6/internal/netif"
	"github.com/gomip6/gomip6/internal/rodata"
	"github.com/gomip6/gomip6/mip6"
)

// openTun creates the tun device (rodata.OpenTun: batched reads and
// writes with segmentation offloads) with room for the routing header in
// its MTU and a long transmit queue, and the inbound data path's batch
// writer.
func (d *Daemon) openTun() error {
	t, err := rodata.OpenTun(d.nl, d.o.TunName, TunMTU, TunTxQueueLen)
	if err != nil {
		return err
	}
	d.tun, d.tunName, d.tunLink = t, t.Name, t.Index
	d.tunW = rodata.NewTunWriter(t)
	return nil
}

// route adds or removes the /128 of a bound home address in RouteTable.
// A new route also makes the sockets look their routes up again
// (flushRouteCache).
func (d *Daemon) route(hoa netip.Addr, add bool) error {
	r := &netlink.Route{
		LinkIndex: d.tunLink,
		Dst:       &net.IPNet{IP: hoa.AsSlice(), Mask: net.CIDRMask(128, 128)},
		Protocol:  RouteProtocol,
		Table:     RouteTable,
		Family:    unix.AF_INET6,
	}
	var err error
	if add {
		// The route is always the same (into the tun device): one that
		// exists already is left alone, without a flush.
		if err = d.nl.RouteAdd(r); err == nil {
			err = d.flushRouteCache()
		} else if errors.Is(err, unix.EEXIST) {
			err = nil
		}
	} else if err = d.nl.RouteDel(r); errors.Is(err, unix.ESRCH) {
		err = nil
	}
	if err != nil {
		d.c.routeErrors.Add(1)
		verb := "adding"
		if !add {
			verb = "removing"
		}
		return fmt.Errorf("%s route %s/128 dev %s table %d: %w", verb, hoa, d.tunName, RouteTable, err)
	}
	return nil
}

// flushRouteCache makes every socket look its route up again. A
// connected socket (a TCP connection to the home address that began
// before the binding) keeps the route it looked up, and the kernel checks
// that against a serial number of the routing table node it came from:
// a route added to RouteTable, which a rule consults, does not touch the
// main table's nodes, so the connection would go on through the home
// agent for as long as it lasts. Adding or deleting a rule renumbers
// every table (the rules' cache flush), so a copy of our rule one
// priority below it (the same lookup: harmless while it exists) is added
// and deleted.
func (d *Daemon) flushRouteCache() error {
	if d.rule == nil {
		return nil
	}
	r := *d.rule
	r.Priority = RulePriority + 1
	if err := d.nl.RuleAdd(&r); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("route cache flush: %w", err)
	}
	if err := d.nl.RuleDel(&r); err != nil {
		return fmt.Errorf("route cache flush: %w", err)
	}
	return nil
}

// flushRoutes removes every route of RouteProtocol from RouteTable.
func flushRoutes(h *netlink.Handle) error {
	rs, err := h.RouteListFiltered(unix.AF_INET6, &netlink.Route{Table: RouteTable, Protocol: RouteProtocol},
		netlink.RT_FILTER_TABLE|netlink.RT_FILTER_PROTOCOL)
	if err != nil {
		return err
	}
	var errs []error
	for i := range rs {
		if err := h.RouteDel(&rs[i]); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// markedSocket opens the signalling socket: header-included raw IPv6
// (IPPROTO_RAW, as rawsock.Sender) with SO_MARK RouteMark, so that a HoT
// or BRR to a bound home address takes the normal route through the home
// agent instead of RouteTable's route into our own tun device.
func markedSocket() (int, error) {
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
	if err != nil {
		return -1, fmt.Errorf("signalling socket: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_MARK, RouteMark); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("signalling socket SO_MARK: %w", err)
	}
	return fd, nil
}

// sendSignal sends a whole IPv6 packet on the signalling socket to its
// IPv6 destination (the first hop: the care-of address under a type 2
// routing header).
func (d *Daemon) sendSignal(pkt []byte) error {
	h := mip6.IPv6Header(pkt)
	if !h.IsValid() {
		return errors.New("not an IPv6 packet")
	}
	sa := &unix.SockaddrInet6{Addr: h.Dst().As16()}
	return unix.Sendto(d.sigx, pkt, 0, sa)
}

// addFirewall installs NFTable (netif.MobilityDropRules) for our
// addresses, replacing a leftover of a crashed run.
func (d *Daemon) addFirewall() error {
	return netif.AddNFTable("inet", NFTable, netif.MobilityDropRules(NFTable, d.addrs))
}

func delFirewall() error { return netif.DeleteNFTable("inet", NFTable) }

// Cleanup removes what a cnd that was killed left behind in the calling
// thread's network namespace: the tun device (its routes go with it),
// the rule, leftover routes and the nftables table.
func Cleanup(tunName string, w io.Writer) error {
	if tunName == "" {
		tunName = DefaultTunName
	}
	h, err := netlink.NewHandle()
	if err != nil {
		return err
	}
	defer h.Close()
	var errs []error
	did := false
	rules, err := h.RuleList(unix.AF_INET6)
	if err != nil {
		errs = append(errs, err)
	}
	for i := range rules {
		r := rules[i]
		if r.Table == RouteTable && (r.Priority == RulePriority || r.Priority == RulePriority+1) {
			if err := h.RuleDel(&r); err != nil {
				errs = append(errs, fmt.Errorf("removing rule: %w", err))
			} else {
				did = true
				fmt.Fprintf(w, "cnd: removed the rule lookup %d\n", RouteTable)
			}
		}
	}
	errs = append(errs, flushRoutes(h))
	l, err := h.LinkByName(tunName)
	var nf netlink.LinkNotFoundError
	switch {
	case errors.As(err, &nf):
	case err != nil:
		errs = append(errs, err)
	case l.Type() != "tuntap":
		errs = append(errs, fmt.Errorf("%s is a %s device, not cnd's tun device: not removing it", tunName, l.Type()))
	default:
		if err := h.LinkDel(l); err != nil {
			errs = append(errs, fmt.Errorf("removing %s: %w", tunName, err))
		} else {
			did = true
			fmt.Fprintf(w, "cnd: removed the tun device %s and its routes\n", tunName)
		}
	}
	if delFirewall() == nil {
		did = true
		fmt.Fprintf(w, "cnd: removed the nftables table inet %s\n", NFTable)
	}
	if !did {
		fmt.Fprintln(w, "cnd: nothing to clean up")
	}
	return errors.Join(errs...)
}
