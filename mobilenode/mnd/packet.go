package mnd

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/gomip6/gomip6/conf"
	"github.com/gomip6/gomip6/internal/rawsock"
	"github.com/gomip6/gomip6/mip6"
	"github.com/gomip6/gomip6/mobilenode"
	"github.com/gomip6/gomip6/ra"
	"github.com/gomip6/gomip6/tunnel"
)

// reloadable reports what of new cannot be applied without a restart.
func reloadable(old, new *conf.MN) error {
	var bad []string
	if old.ID != new.ID {
		bad = append(bad, "id")
	}
	if old.HomeAddress != new.HomeAddress {
		bad = append(bad, "home_address")
	}
	if old.HomePrefix != new.HomePrefix {
		bad = append(bad, "home_prefix")
	}
	if old.HomeAgent != new.HomeAgent {
		bad = append(bad, "home_agent")
	}
	if !slices.Equal(old.Interfaces, new.Interfaces) {
		bad = append(bad, "interfaces")
	}
	// The forwarder's IPv4 sockets exist only with home_agent_ipv4, and
	// the registration core holds the three for its Binding Updates.
	if old.HomeAgentIPv4 != new.HomeAgentIPv4 {
		bad = append(bad, "home_agent_ipv4")
	}
	if old.ForceUDP != new.ForceUDP {
		bad = append(bad, "force_udp")
	}
	if old.IPv4HomeAddress != new.IPv4HomeAddress {
		bad = append(bad, "ipv4_home_address")
	}
	if old.TunnelInterface != new.TunnelInterface {
		bad = append(bad, "tunnel_interface")
	}
	// The accelerator is set up with the forwarder (kernelpath_linux.go).
	if old.Tunnel.KernelPath != new.Tunnel.KernelPath {
		bad = append(bad, "tunnel.kernel_path")
	}
	if old.Control.Socket != new.Control.Socket {
		bad = append(bad, "control.socket")
	}
	if len(bad) > 0 {
		return fmt.Errorf("mnd: reload: %v cannot change without a restart; keeping the running configuration", bad)
	}
	return nil
}

// buildBU returns the IPv6 packet of a Binding Update: the fixed header,
// a Destination Options header with the Home Address option when
// p.HomeAddress is valid, and the Mobility Header, whose checksum the core
// already computed with the home address as pseudo-header source.
func buildBU(p *mobilenode.BUPacket) []byte {
	b, _ := mip6.AppendMobilityPacket(make([]byte, 0, 64+len(p.MH)), p.Src, p.Dst, p.HomeAddress, netip.Addr{}, rawsock.DefaultHopLimit, p.MH)
	return b
}

// encapsulation names a tunnel kind as SPEC.md's status does: "ipv6",
// "ipv4" or "udp4".
func encapsulation(k tunnel.Kind) string {
	switch k {
	case tunnel.KindIPv6:
		return "ipv6"
	case tunnel.Kind6in4:
		return "ipv4"
	case tunnel.KindUDP4:
		return "udp4"
	}
	return "none"
}

// parseMH extracts a Mobility Header and its addresses from a captured
// IPv6 packet. A type 2 routing header with Segments Left 1 names the home
// address the message is for (RFC 6275 §6.4): it is the checksum's
// pseudo-header destination.
func parseMH(pkt []byte) (mobilenode.Packet, bool) {
	lay, err := mip6.WalkIPv6(pkt)
	if err != nil || lay.Proto != mip6.ProtoMobility || lay.Offset >= lay.End {
		return mobilenode.Packet{}, false
	}
	p := mobilenode.Packet{Src: lay.Src, Dst: lay.Dst, MH: slices.Clone(pkt[lay.Offset:lay.End])}
	if lay.RH2 != 0 && lay.RH2SegmentsLeft == 1 {
		p.RoutingHome = lay.RH2Address
	}
	return p, true
}

// withHA returns a copy of c with home agent ha.
func withHA(c *conf.MN, ha netip.Addr) *conf.MN {
	n := *c
	n.HomeAgent = ha
	return &n
}

// placeholderHA is what configuration checks use as the home agent while
// it is not known yet (DHAAD): the home subnet's Home-Agents anycast
// address, a valid address inside the home prefix. It is never sent to.
func placeholderHA(c *conf.MN) netip.Addr {
	if c.HomeAgent.IsValid() {
		return c.HomeAgent
	}
	return ra.HomeAgentsAnycast(c.HomePrefix)
}
