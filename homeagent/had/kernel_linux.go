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

// Cleanup removes what a had that was killed left behind in the calling
// thread's network namespace: the tun device (its routes go with it). The
// proxy entries lived in the dead process; IPv6 forwarding stays on, a
// home router's normal state.
func Cleanup(tunName string, w io.Writer) error {
	if tunName == "" {
		tunName = DefaultTunName
	}
	l, err := netlink.LinkByName(tunName)
	var nf netlink.LinkNotFoundError
	if errors.As(err, &nf) {
		fmt.Fprintf(w, "had: nothing to clean up (no %s device)\n", tunName)
		return nil
	}
	if err != nil {
		return err
	}
	if l.Type() != "tuntap" {
		return fmt.Errorf("%s is a %s device, not had's tun device: not removing it", tunName, l.Type())
	}
	if err := netlink.LinkDel(l); err != nil {
		return fmt.Errorf("removing %s: %w", tunName, err)
	}
	fmt.Fprintf(w, "had: removed the tun device %s and its routes\n", tunName)
	return nil
}
