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

// Cleanup is had's -cleanup. A killed had leaves almost nothing in the
// kernel to remove (the uplink's unreachable route is the exception, see
// cleanupUplink): its tun device is not persistent (no TUNSETPERSIST), so the
// kernel deletes it, and every route had installed with it (all point
// into it), when the dead process's descriptors close; the proxy entries
// lived in the process. IPv6 forwarding stays on, a home router's normal
// state. Cleanup says so, and checks that no device of had's name is left.
func Cleanup(tunName string, w io.Writer) error {
	if tunName == "" {
		tunName = DefaultTunName
	}
	if _, err := netlink.LinkByName(tunName); err == nil {
		return fmt.Errorf("a device named %s exists: had's tun device is not persistent, so it belongs to a running had or to something else; not removing it", tunName)
	}
	n, err := cleanupUplink("", w)
	if err != nil {
		return err
	}
	n += cleanupFirewall(w)
	if n > 0 {
		fmt.Fprintf(w, "had: the tun device %s and its routes go with the process\n", tunName)
		return nil
	}
	fmt.Fprintf(w, "had: nothing to clean up: the tun device %s and its routes go with the process\n", tunName)
	return nil
}
