package had

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/gomip6/gomip6/binding"
	"github.com/gomip6/gomip6/conf"
)

// addRoutes points a binding's home address and mobile network prefixes
// into the tun device, where the forwarder encapsulates them toward the
// care-of address. The /128 is more specific than the home prefix's
// on-link route, so the kernel forwards packets that the proxy drew to
// this router (§10.4.1) into the tunnel instead of back onto the home link.
func (d *Daemon) addRoutes(e binding.Entry) error {
	errs := []error{d.route(netip.PrefixFrom(e.HomeAddress, 128), true)}
	for _, p := range e.MobilePrefixes {
		errs = append(errs, d.route(p, true))
	}
	return errors.Join(errs...)
}

func (d *Daemon) delRoutes(e binding.Entry) error {
	errs := []error{d.route(netip.PrefixFrom(e.HomeAddress, 128), false)}
	for _, p := range e.MobilePrefixes {
		errs = append(errs, d.route(p, false))
	}
	return errors.Join(errs...)
}

// updatePrefixRoutes follows a move whose mobile network prefixes
// changed (RFC 3963 §6.2): new ones routed, dropped ones withdrawn.
func (d *Daemon) updatePrefixRoutes(old, cur binding.Entry) error {
	var errs []error
	for _, p := range cur.MobilePrefixes {
		errs = append(errs, d.route(p, true))
	}
	for _, p := range old.MobilePrefixes {
		if !hasPrefix(cur.MobilePrefixes, p) {
			errs = append(errs, d.route(p, false))
		}
	}
	return errors.Join(errs...)
}

func hasPrefix(ps []netip.Prefix, p netip.Prefix) bool {
	for _, q := range ps {
		if q == p {
			return true
		}
	}
	return false
}

func (d *Daemon) route(p netip.Prefix, add bool) error {
	r := &netlink.Route{
		LinkIndex: d.tunLink,
		Dst:       &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())},
		Protocol:  RouteProtocol,
		Family:    unix.AF_INET6,
	}
	if p.Addr().Is4() {
		r.Family = unix.AF_INET
	}
	var err error
	if add {
		err = d.nl.RouteReplace(r)
	} else if err = d.nl.RouteDel(r); errors.Is(err, unix.ESRCH) {
		err = nil // already gone (the device went down, or never added)
	}
	if err != nil {
		d.c.routeErrors.Add(1)
		verb := "adding"
		if !add {
			verb = "removing"
		}
		return fmt.Errorf("%s route %s dev %s: %w", verb, p, d.fwd.Name(), err)
	}
	return nil
}

// Cleanup is had's -cleanup without the configuration: CleanupWith(nil,
// tunName, w).
func Cleanup(tunName string, w io.Writer) error { return CleanupWith(nil, tunName, w) }

// CleanupFile is had's -cleanup with the configuration file at path:
// CleanupWith with it when it loads, without it (said on w) when it does
// not, since what is left to clean must not depend on a configuration
// that may be the reason had crashed.
func CleanupFile(path, tunName string, w io.Writer) error {
	cfg, err := conf.LoadHA(path)
	if err != nil {
		fmt.Fprintf(w, "had: configuration %s not usable (%v): cleaning up without it\n", path, err)
		cfg = nil
	}
	return CleanupWith(cfg, tunName, w)
}

// CleanupWith removes what a killed had left in the kernel, with the
// configuration cfg it ran with when known (nil: not known). A killed had
// leaves little (the uplink's unreachable route is one thing, see
// cleanupUplink; its nftables table another): its tun device is not
// persistent (no TUNSETPERSIST), so the kernel deletes it, and every route
// had installed with it (all point into it: the home addresses' /128s,
// the mobile network prefixes, the IPv4 home addresses' /32s), when the
// dead process's descriptors close; the IPv6 proxy entries lived in the
// process. IPv6 forwarding stays on, a home router's normal state.
//
// The IPv4 home addresses' proxy ARP entries (dsmip.go) are the
// exception that needs cfg: they are on the home interface, not the tun
// device, and the kernel cannot mark a proxy entry as had's (netlink's
// NDA_PROTOCOL is not kept for them by the library had uses), so they are
// recognised by where they are: the proxy entries of home.interface
// inside ipv4.home_pool, which had hands out alone. Without cfg (or
// without a pool) none are looked for, and CleanupWith says so.
//
// Nothing is touched when a device named tunName exists: it belongs to a
// running had, or to something else.
func CleanupWith(cfg *conf.HA, tunName string, w io.Writer) error {
	if tunName == "" {
		tunName = DefaultTunName
	}
	if _, err := netlink.LinkByName(tunName); err == nil {
		return fmt.Errorf("a device named %s exists: had's tun device is not persistent, so it belongs to a running had or to something else; not removing it", tunName)
	}
	upName := ""
	if cfg != nil && cfg.Uplink != nil {
		upName = cfg.Uplink.Interface
	}
	n, err := cleanupUplink(upName, w)
	if err != nil {
		return err
	}
	n += cleanupFirewall(w)
	m, err := cleanupKernelPath(tunName, w)
	n += m
	if err != nil {
		return err
	}
	m, err = cleanupProxyARP(cfg, w)
	n += m
	if err != nil {
		return err
	}
	if n > 0 {
		fmt.Fprintf(w, "had: the tun device %s and its routes go with the process\n", tunName)
		return nil
	}
	fmt.Fprintf(w, "had: nothing to clean up: the tun device %s and its routes go with the process\n", tunName)
	return nil
}

// cleanupProxyARP removes the proxy ARP entries of IPv4 home addresses
// that a killed had left on the home interface (see CleanupWith), and
// returns how many.
func cleanupProxyARP(cfg *conf.HA, w io.Writer) (int, error) {
	if cfg == nil {
		fmt.Fprintf(w, "had: without the configuration the proxy ARP entries of IPv4 home addresses cannot be told from others and are left alone (ip -4 neigh show proxy lists them)\n")
		return 0, nil
	}
	if cfg.IPv4 == nil || !cfg.IPv4.HomePool.IsValid() {
		return 0, nil // no pool: had made no proxy entries
	}
	pool := cfg.IPv4.HomePool.Masked()
	l, err := netlink.LinkByName(cfg.Home.Interface)
	if err != nil {
		return 0, fmt.Errorf("home.interface %q: %w", cfg.Home.Interface, err)
	}
	ns, err := netlink.NeighProxyList(l.Attrs().Index, unix.AF_INET)
	if err != nil {
		return 0, fmt.Errorf("listing proxy ARP entries on %s: %w", cfg.Home.Interface, err)
	}
	var errs []error
	n := 0
	for i := range ns {
		a, ok := netip.AddrFromSlice(ns[i].IP)
		if !ok || !pool.Contains(a.Unmap()) {
			continue
		}
		e := &netlink.Neigh{LinkIndex: l.Attrs().Index, Family: unix.AF_INET, Flags: netlink.NTF_PROXY, IP: ns[i].IP}
		if err := netlink.NeighDel(e); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("removing the proxy ARP entry %v on %s: %w", a.Unmap(), cfg.Home.Interface, err))
			continue
		}
		n++
		fmt.Fprintf(w, "had: removed the proxy ARP entry %v on %s (an IPv4 home address of ipv4.home_pool %v), left by a had that did not shut down\n",
			a.Unmap(), cfg.Home.Interface, pool)
	}
	return n, errors.Join(errs...)
}
