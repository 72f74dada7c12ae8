package had

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"go.uber.org/zap"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"

	"github.com/gomip6/gomip6/internal/netif"
	"github.com/gomip6/gomip6/mip6"
	"github.com/gomip6/gomip6/ra"
)

// dhaad answers Dynamic Home Agent Address Discovery (RFC 6275 §10.5): a
// raw ICMPv6 socket that lets only type 144 through, joined to the home
// prefix's Home-Agents anycast address on the home interface, so that the
// kernel takes requests for that address as its own (Linux anycast
// membership, IPV6_JOIN_ANYCAST; the router's forwarding is on, which
// Linux requires for it). The kernel ignores an unknown informational
// ICMPv6 type, so nothing else answers.
type dhaad struct {
	c    *net.IPConn
	p    *ipv6.PacketConn
	resp *ra.DHAADResponder
	// src is home.address, the replies' source: copied at open, since
	// the loop replaces d.cfg on reload while dhaadLoop runs (a reload
	// cannot change home.address).
	src net.IP
}

func (d *Daemon) openDHAAD() error {
	resp, err := ra.NewDHAADResponder(d.halist, ra.DHAADConfig{Source: d.cfg.Home.Address})
	if err != nil {
		return err
	}
	c, err := net.ListenIP("ip6:ipv6-icmp", &net.IPAddr{IP: net.IPv6unspecified})
	if err != nil {
		return fmt.Errorf("dhaad: %w", err)
	}
	x := &dhaad{c: c, p: ipv6.NewPacketConn(c), resp: resp, src: d.cfg.Home.Address.AsSlice()}
	var f ipv6.ICMPFilter
	f.SetAll(true)
	f.Accept(ipv6.ICMPType(mip6.ICMPHomeAgentDiscoveryReq))
	err = errors.Join(
		x.p.SetICMPFilter(&f),
		x.p.SetControlMessage(ipv6.FlagDst|ipv6.FlagInterface, true),
		x.p.SetHopLimit(64),
	)
	if err == nil {
		err = joinAnycast(c, resp.Anycast(), d.home.Index)
	}
	if err != nil {
		c.Close()
		return fmt.Errorf("dhaad: %w", err)
	}
	d.dhaad = x
	return nil
}

func joinAnycast(c *net.IPConn, a netip.Addr, ifindex int) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		mreq := unix.IPv6Mreq{Multiaddr: a.As16(), Interface: uint32(ifindex)}
		serr = unix.SetsockoptIPv6Mreq(int(fd), unix.IPPROTO_IPV6, unix.IPV6_JOIN_ANYCAST, &mreq)
	})
	if err = errors.Join(err, serr); err != nil {
		return fmt.Errorf("joining the Home-Agents anycast address %s: %w", a, err)
	}
	return nil
}

// dhaadLoop answers requests until the socket closes. The responder is
// safe for concurrent use and reads the Home Agents List under its lock,
// so this runs beside the loop without going through it.
func (d *Daemon) dhaadLoop() {
	defer d.wg.Done()
	b := make([]byte, 1500)
	var out []byte
	src := d.dhaad.src
	for {
		n, cm, peer, err := d.dhaad.p.ReadFrom(b)
		if err != nil {
			if netif.ReadStop(err, d.closing) {
				return
			}
			continue
		}
		ip, ok := peer.(*net.IPAddr)
		if !ok || cm == nil {
			continue
		}
		from, _ := netip.AddrFromSlice(ip.IP)
		to, _ := netip.AddrFromSlice(cm.Dst)
		rep, ok := d.dhaad.resp.Reply(out[:0], b[:n], from.Unmap(), to.Unmap(), d.now())
		if !ok {
			continue
		}
		out = rep
		if _, err := d.dhaad.p.WriteTo(rep, &ipv6.ControlMessage{Src: src}, &net.IPAddr{IP: ip.IP}); err != nil {
			d.log.Debug("dhaad reply", zap.Error(err), zap.Stringer("to", from))
			continue
		}
		d.log.Debug("dhaad reply sent", zap.Stringer("to", from))
	}
}
