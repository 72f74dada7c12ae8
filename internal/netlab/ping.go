package netlab

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// Ping sends ICMP (ICMPv6 for an IPv6 dst) Echo Requests from inside the
// namespace, one every 100 ms, until an Echo Reply from dst arrives or
// timeout passes. It needs no ping binary: the raw socket is opened with Do,
// so it lives in the namespace. A nil error means dst answered.
func (n *NS) Ping(dst netip.Addr, timeout time.Duration) error {
	network, laddr := "ip4:icmp", "0.0.0.0"
	var reqType, replyType icmp.Type = ipv4.ICMPTypeEcho, ipv4.ICMPTypeEchoReply
	proto := 1 // RFC 792
	if dst.Is6() && !dst.Is4In6() {
		network, laddr = "ip6:ipv6-icmp", "::"
		reqType, replyType = ipv6.ICMPTypeEchoRequest, ipv6.ICMPTypeEchoReply
		proto = 58 // RFC 4443
	}
	dst = dst.Unmap()
	var c *icmp.PacketConn
	if err := n.Do(func() (err error) {
		c, err = icmp.ListenPacket(network, laddr)
		return err
	}); err != nil {
		return fmt.Errorf("netlab: ping socket in %s: %w", n.Name, err)
	}
	defer c.Close()

	var idb [2]byte
	rand.Read(idb[:])
	id := int(binary.BigEndian.Uint16(idb[:]))
	deadline := time.Now().Add(timeout)
	buf := make([]byte, 1500)
	to := &net.IPAddr{IP: dst.AsSlice(), Zone: dst.Zone()}
	for seq := 1; time.Now().Before(deadline); seq++ {
		msg := icmp.Message{Type: reqType, Body: &icmp.Echo{ID: id, Seq: seq, Data: []byte("gomip6 netlab")}}
		// The kernel fills in the ICMPv6 checksum on raw ICMPv6 sockets
		// (RFC 3542 §3.1); Marshal computes the ICMPv4 one.
		b, err := msg.Marshal(nil)
		if err != nil {
			return err
		}
		if _, err := c.WriteTo(b, to); err != nil {
			// No route yet (or an unreachable neighbour): retry until
			// the deadline, like ping does.
			time.Sleep(100 * time.Millisecond)
			continue
		}
		wait := time.Now().Add(100 * time.Millisecond)
		if wait.After(deadline) {
			wait = deadline
		}
		c.SetReadDeadline(wait)
		for {
			nr, from, err := c.ReadFrom(buf)
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					break
				}
				return fmt.Errorf("netlab: ping %s from %s: %w", dst, n.Name, err)
			}
			ip, ok := from.(*net.IPAddr)
			if !ok {
				continue
			}
			src, _ := netip.AddrFromSlice(ip.IP)
			if src.Unmap() != dst.WithZone("") {
				continue
			}
			m, err := icmp.ParseMessage(proto, buf[:nr])
			if err != nil || m.Type != replyType {
				continue
			}
			if e, ok := m.Body.(*icmp.Echo); ok && e.ID == id {
				return nil
			}
		}
	}
	return fmt.Errorf("netlab: ping %s from %s: no reply in %v", dst, n.Name, timeout)
}
