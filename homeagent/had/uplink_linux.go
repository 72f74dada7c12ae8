package had

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/gomip6/gomip6/conf"
	"github.com/gomip6/gomip6/internal/control"
	"github.com/gomip6/gomip6/internal/daemon"
	"github.com/gomip6/gomip6/tunnel"
)

// This file is the home router's IPv6 uplink over 6in4 (issue 8): the
// classic tunnel-broker setup, IPv6 in IPv4 with protocol 41 (RFC 4213
// §3.5), brought up in userspace through the shared tunnel layer for a
// kernel without sit.
//
// To the tunnel layer a broker link is what a mobile router's tunnel to
// its home agent is (tunnel.RoleMobileNode with prefix bindings): one
// endpoint (the broker's IPv4 address), packets keyed on their inner
// source on the way out and on their inner destination on the way in.
// The uplink's table holds the routed prefix, and local_ipv6 as a /128
// when the routed prefix does not contain it, both bound to the 6in4
// endpoint local_ipv4 -> remote_ipv4. So:
//
//   - out: a packet the kernel routes into the tun device (the default
//     route) is encapsulated when its source is in the routed prefix or is
//     local_ipv6; anything else (a source the broker would not route back,
//     RFC 2827 ingress filtering done at our end) is dropped and counted
//     as out/no_binding;
//   - in: a 6in4 packet is accepted only from remote_ipv4 to local_ipv4
//     with an inner destination in the routed prefix or local_ipv6, from
//     any inner source (the internet), after the tunnel's martian checks;
//     anything else is dropped and counted (in/outer_src, in/outer_dst,
//     in/no_binding, in/inner_src, ...).
//
// Packet Too Big: the tun device's MTU is uplink.mtu, so the kernel
// itself answers a forwarded packet that does not fit with a Packet Too
// Big of that MTU (RFC 4443 §3.2) before the tunnel sees it. A smaller
// IPv4 path (a PPPoE hop, say) answers our DF-marked 6in4 packets with
// Fragmentation Needed, which the forwarder's ICMPv4 socket reads: the
// tunnel lowers the path MTU and relays a Packet Too Big to the inner
// source from home.address (RFC 4213 §3.2, RFC 2473 §8), and later
// packets larger than the lowered tunnel MTU get one from the tunnel
// directly.

// uplinkRouteMetric is the metric of the default route through the
// uplink: the kernel's default for user routes (IP6_RT_PRIO_USER), so
// that `ip -6 route` shows it like one added by hand.
const uplinkRouteMetric = 1024

// uplink is the running 6in4 uplink.
type uplink struct {
	cfg   conf.Uplink
	table *tunnel.Table
	tun   *tunnel.Tunnel
	fwd   *tunnel.Forwarder
	link  int
	// routes are the routes installed, removed again by close.
	routes []*netlink.Route
}

// UplinkStatus is the "uplink" object of /v1/status.
type UplinkStatus struct {
	Interface    string          `json:"interface"`
	LocalIPv4    string          `json:"local_ipv4"`
	RemoteIPv4   string          `json:"remote_ipv4"`
	LocalIPv6    string          `json:"local_ipv6"`
	RemoteIPv6   string          `json:"remote_ipv6"`
	RoutedPrefix string          `json:"routed_prefix"`
	MTU          int             `json:"mtu"`
	PathMTU      int             `json:"path_mtu"`
	Tunnel       tunnel.Snapshot `json:"tunnel"`
	Forwarder    tunnel.Stats    `json:"forwarder"`
}

// uplinkEndpoint is the 6in4 endpoint of the uplink's bindings. The path
// MTU is the tunnel MTU plus the IPv4 header (RFC 4213 §3.2: the tunnel
// MTU is the IPv4 path MTU less 20), so that the tunnel's own MTU check
// agrees with the tun device's.
func uplinkEndpoint(u *conf.Uplink) tunnel.Endpoint {
	return tunnel.Endpoint{
		Kind:    tunnel.Kind6in4,
		Local:   u.LocalIPv4,
		Remote:  u.RemoteIPv4,
		PathMTU: u.MTU + tunnel.Overhead6in4,
	}
}

// uplinkKeys are the table keys of the uplink: the routed prefix, and
// local_ipv6 as a /128 unless the routed prefix already holds it.
func uplinkKeys(u *conf.Uplink) []netip.Prefix {
	ks := []netip.Prefix{u.RoutedPrefix.Masked()}
	if !u.RoutedPrefix.Contains(u.LocalIPv6) {
		ks = append(ks, netip.PrefixFrom(u.LocalIPv6, 128))
	}
	return ks
}

// newUplinkTunnel builds the uplink's table and tunnel. ICMPv6 errors
// (Packet Too Big from a lowered path MTU, relayed unreachables) leave
// from errSrc, the home agent's address on the home link: the senders the
// uplink serves are the home link's hosts and this router (and mobile
// nodes, through the home agent), and a source on the home link is one
// they all reach.
func newUplinkTunnel(u *conf.Uplink, errSrc netip.Addr) (*tunnel.Tunnel, error) {
	table := tunnel.NewTable(0)
	ep := uplinkEndpoint(u)
	for _, k := range uplinkKeys(u) {
		if err := table.Set(k, ep); err != nil {
			return nil, fmt.Errorf("uplink: %w", err)
		}
	}
	return tunnel.New(tunnel.Config{Role: tunnel.RoleMobileNode, ErrorSource: errSrc}, table)
}

// openUplink brings up the [uplink]: tunnel and forwarder on their own
// tun device, local_ipv6 on it with remote_ipv6 as its point-to-point
// peer, the default IPv6 route to remote_ipv6 through it, and an
// unreachable route for the routed prefix. Called by New, in the
// daemon's namespace, after IPv6 forwarding is on.
func (d *Daemon) openUplink() error {
	cfg := d.cfg.Uplink
	u := &uplink{cfg: *cfg}
	d.up = u
	var err error
	if u.tun, err = newUplinkTunnel(cfg, d.cfg.Home.Address); err != nil {
		return err
	}
	u.table = u.tun.Table()
	if u.fwd, err = tunnel.NewForwarder(u.tun, tunnel.ForwarderConfig{
		Name: cfg.Interface, MTU: cfg.MTU, IPv4: true, PacketReceive: true,
		OnError: func(err error) {
			d.log.Error("uplink forwarder stopped", zap.Error(err), daemon.Iface(cfg.Interface))
		},
	}); err != nil {
		return fmt.Errorf("uplink: %w", err)
	}
	l, err := d.nl.LinkByName(u.fwd.Name())
	if err != nil {
		return fmt.Errorf("uplink device: %w", err)
	}
	u.link = l.Attrs().Index

	// The tunnel link is point to point: local_ipv6/128 with the broker's
	// end as peer (the kernel adds the /128 route to the peer). A tun
	// device is IFF_NOARP, so the address needs no DAD.
	addr := &netlink.Addr{IPNet: hostNet(cfg.LocalIPv6), Peer: hostNet(cfg.RemoteIPv6)}
	if err := d.nl.AddrAdd(l, addr); err != nil {
		return fmt.Errorf("uplink: adding %s peer %s on %s: %w", cfg.LocalIPv6, cfg.RemoteIPv6, u.fwd.Name(), err)
	}

	// Default route via the broker's end. Added, not replaced: a default
	// route that is already there belongs to someone else, and replacing
	// it would lose it at shutdown.
	def := &netlink.Route{
		LinkIndex: u.link,
		Dst:       &net.IPNet{IP: net.IPv6zero, Mask: net.CIDRMask(0, 128)},
		Gw:        cfg.RemoteIPv6.AsSlice(),
		Flags:     int(netlink.FLAG_ONLINK),
		Protocol:  RouteProtocol,
		Priority:  uplinkRouteMetric,
		Family:    unix.AF_INET6,
	}
	if err := d.nl.RouteAdd(def); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("uplink: a default IPv6 route with metric %d already exists; remove it, had routes IPv6 through the uplink", uplinkRouteMetric)
		}
		return fmt.Errorf("uplink: adding the default route via %s dev %s: %w", cfg.RemoteIPv6, u.fwd.Name(), err)
	}
	u.routes = append(u.routes, def)

	// The routed prefix is ours: what of it is not on a link here (or
	// bound to a mobile node) is unreachable, answered with a Destination
	// Unreachable instead of sent back up the default route to the broker
	// (RFC 7084 WPD-5). The home prefix's connected route and the home
	// agent's /128 and mobile network prefix routes are more specific.
	if cfg.RoutedPrefix.Masked() != d.cfg.Home.Prefix.Masked() {
		un := unreachableRoute(cfg.RoutedPrefix)
		if err := d.nl.RouteReplace(un); err != nil {
			return fmt.Errorf("uplink: adding unreachable route %s: %w", cfg.RoutedPrefix, err)
		}
		u.routes = append(u.routes, un)
	}
	d.log.Info("uplink up", daemon.Iface(u.fwd.Name()), zap.String("local_ipv4", cfg.LocalIPv4.String()),
		zap.String("remote_ipv4", cfg.RemoteIPv4.String()), zap.String("local_ipv6", cfg.LocalIPv6.String()),
		zap.String("remote_ipv6", cfg.RemoteIPv6.String()), zap.String("routed_prefix", cfg.RoutedPrefix.String()),
		zap.Int("mtu", cfg.MTU))
	return nil
}

// unreachableRoute is the route that makes the unused part of the routed
// prefix unreachable, marked with RouteProtocol so that Cleanup finds it.
func unreachableRoute(p netip.Prefix) *netlink.Route {
	p = p.Masked()
	return &netlink.Route{
		Dst:      &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), 128)},
		Type:     unix.RTN_UNREACHABLE,
		Protocol: RouteProtocol,
		Priority: uplinkRouteMetric,
		Family:   unix.AF_INET6,
	}
}

func hostNet(a netip.Addr) *net.IPNet {
	return &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(a.BitLen(), a.BitLen())}
}

// closeUplink removes the uplink's routes and closes its forwarder (the
// tun device, and with it the address and whatever routes still point
// into it, goes away).
func (d *Daemon) closeUplink() error {
	u := d.up
	if u == nil {
		return nil
	}
	var errs []error
	for i := len(u.routes) - 1; i >= 0; i-- {
		if err := d.nl.RouteDel(u.routes[i]); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("uplink: removing route %s: %w", u.routes[i].Dst, err))
		}
	}
	u.routes = nil
	if u.fwd != nil {
		// Close is idempotent, and u.fwd stays: a metrics request in
		// flight during shutdown may still read its counters.
		errs = append(errs, u.fwd.Close())
	}
	return errors.Join(errs...)
}

// uplinkChanged reports whether a reload changes the [uplink], which needs
// a restart (the tun device, its address and the default route are set up
// once).
func uplinkChanged(a, b *conf.Uplink) bool {
	if a == nil || b == nil {
		return a != b
	}
	return *a != *b
}

// uplinkStatus is the "uplink" object of /v1/status; nil without one.
func (d *Daemon) uplinkStatus() *UplinkStatus {
	u := d.up
	if u == nil || u.fwd == nil {
		return nil
	}
	s := &UplinkStatus{
		Interface:    u.fwd.Name(),
		LocalIPv4:    u.cfg.LocalIPv4.String(),
		RemoteIPv4:   u.cfg.RemoteIPv4.String(),
		LocalIPv6:    u.cfg.LocalIPv6.String(),
		RemoteIPv6:   u.cfg.RemoteIPv6.String(),
		RoutedPrefix: u.cfg.RoutedPrefix.String(),
		MTU:          u.cfg.MTU,
		Tunnel:       u.tun.Counters.Snapshot(),
		Forwarder:    u.fwd.Stats(),
	}
	if b := u.table.Lookup(u.cfg.RoutedPrefix.Addr()); b != nil {
		s.PathMTU = b.PathMTU()
	}
	return s
}

// writeUplinkMetrics adds the uplink's counters to /v1/metrics.
func (d *Daemon) writeUplinkMetrics(m *control.Metrics) {
	u := d.up
	if u == nil || u.fwd == nil {
		return
	}
	s := u.tun.Counters.Snapshot()
	for dir := range tunnel.NumDirections {
		for r := range tunnel.NumReasons {
			cnt := s.Get(tunnel.Direction(dir), tunnel.Reason(r))
			if cnt.Packets == 0 {
				continue
			}
			m.Counter("mip6_uplink_packets_total", "Uplink (6in4) tunnel packets by direction and outcome.", cnt.Packets,
				"direction", tunnel.Direction(dir).String(), "reason", tunnel.Reason(r).String())
		}
	}
	m.Counter("mip6_uplink_packet_too_big_sent_total", "Packet Too Big messages the uplink tunnel sent or relayed.", s.PTBSent.Packets)
	m.Counter("mip6_uplink_path_mtu_lowered_total", "Uplink path MTU reductions from ICMP errors.", s.PathMTULowered)
	m.Counter("mip6_uplink_send_errors_total", "Uplink packets the kernel refused to send.", u.fwd.Stats().SendErrors)
}

// cleanupUplink is the uplink's part of -cleanup. A killed had's tun
// device goes with the process, and so do the address and the default
// route on it; the unreachable route for the routed prefix does not (it
// points at no device), and is removed here: a route of type unreachable
// with had's RouteProtocol. Nothing is touched when a device named
// tunName exists: it belongs to a running had, whose route that is. It
// returns how many routes it removed.
func cleanupUplink(tunName string, w io.Writer) (int, error) {
	if tunName == "" {
		tunName = conf.DefaultUplinkInterface
	}
	if _, err := netlink.LinkByName(tunName); err == nil {
		return 0, fmt.Errorf("a device named %s exists: had's uplink device is not persistent, so it belongs to a running had or to something else; not removing its routes", tunName)
	}
	rs, err := netlink.RouteListFiltered(unix.AF_INET6, &netlink.Route{Protocol: RouteProtocol, Type: unix.RTN_UNREACHABLE},
		netlink.RT_FILTER_PROTOCOL|netlink.RT_FILTER_TYPE)
	if err != nil {
		return 0, fmt.Errorf("listing routes: %w", err)
	}
	var errs []error
	n := 0
	for i := range rs {
		r := &rs[i]
		if err := netlink.RouteDel(r); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("removing unreachable route %s: %w", r.Dst, err))
			continue
		}
		n++
		fmt.Fprintf(w, "had: removed the uplink's unreachable route %s (proto %d), left by a had that did not shut down\n", r.Dst, RouteProtocol)
	}
	return n, errors.Join(errs...)
}
