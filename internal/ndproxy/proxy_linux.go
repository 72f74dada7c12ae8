package ndproxy

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/gomip6/gomip6/internal/netif"

	"github.com/mdlayher/packet"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Listener is a Proxy bound to one home link interface (Linux).
//
// It receives on an AF_PACKET SOCK_DGRAM socket bound to IPv6 with the
// Filter program attached, and sends on the same socket with the link-layer
// destination given. Why not a raw ICMPv6 socket that joins the
// solicited-node groups: every proxied address would need its own group
// membership (one per distinct low 24 bits, up to 2^24 for a large binding
// cache; Linux caps a socket's memberships through optmem and sends an MLD
// report for each), a DAD probe needs the unspecified source that an
// IPv6 socket does not let us choose, and the answer to a soliciter would
// have to wait for our kernel to resolve it. The packet socket sees every
// frame before the IPv6 layer drops multicast for groups nobody joined; a
// PACKET_MR_ALLMULTI membership, dropped by the kernel with the socket,
// makes a NIC with a multicast filter pass all the solicited-node groups.
// The socket is bound to ETH_P_IPV6, so it does not see the packets it
// sends (only ETH_P_ALL taps do): our own DAD probes never look like
// another node's.
type Listener struct {
	*Proxy
	conn *packet.Conn
	ifi  *net.Interface
	wg   sync.WaitGroup
	once sync.Once
	err  error
}

type packetLink struct{ c *packet.Conn }

func (l packetLink) send(pkt []byte, dst net.HardwareAddr) error {
	_, err := l.c.WriteTo(pkt, &packet.Addr{HardwareAddr: dst})
	return err
}

// Listen starts a Proxy on the interface ifname. The socket belongs to the
// network namespace of the calling thread. It needs CAP_NET_RAW.
func Listen(ifname string, cfg Config) (*Listener, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("ndproxy: %w", err)
	}
	if cfg.MAC == nil {
		cfg.MAC = ifi.HardwareAddr
	}
	if !cfg.Source.IsValid() {
		cfg.Source = netif.LinkLocal(ifi)
	}
	prog, err := bpf.Assemble(Filter())
	if err != nil {
		return nil, fmt.Errorf("ndproxy: %w", err)
	}
	c, err := packet.Listen(ifi, packet.Datagram, unix.ETH_P_IPV6, &packet.Config{Filter: prog})
	if err != nil {
		return nil, fmt.Errorf("ndproxy: listen on %s: %w", ifname, err)
	}
	if err := allMulti(c, ifi); err != nil {
		c.Close()
		return nil, fmt.Errorf("ndproxy: %s: %w", ifname, err)
	}
	p, err := newProxy(cfg, packetLink{c})
	if err != nil {
		c.Close()
		return nil, err
	}
	l := &Listener{Proxy: p, conn: c, ifi: ifi}
	l.wg.Add(1)
	go l.read()
	return l, nil
}

// allMulti adds a PACKET_MR_ALLMULTI membership: the interface accepts all
// multicast while the socket lives (packet(7)).
func allMulti(c *packet.Conn, ifi *net.Interface) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	cerr := rc.Control(func(fd uintptr) {
		mreq := unix.PacketMreq{Ifindex: int32(ifi.Index), Type: unix.PACKET_MR_ALLMULTI}
		serr = unix.SetsockoptPacketMreq(int(fd), unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mreq)
	})
	if err := errors.Join(cerr, serr); err != nil {
		return fmt.Errorf("PACKET_MR_ALLMULTI: %w", err)
	}
	return nil
}

func (l *Listener) read() {
	defer l.wg.Done()
	buf := make([]byte, filterSnaplen)
	for {
		n, from, err := l.conn.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) || l.isClosed() {
				return
			}
			l.report(fmt.Errorf("ndproxy: receive on %s: %w", l.ifi.Name, err))
			time.Sleep(10 * time.Millisecond) // no busy loop on a persistent error
			continue
		}
		var mac net.HardwareAddr
		if a, ok := from.(*packet.Addr); ok {
			mac = a.HardwareAddr
		}
		l.handle(buf[:n], mac)
	}
}

func (l *Listener) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// Interface returns the home link interface.
func (l *Listener) Interface() *net.Interface { return l.ifi }

// Close stops answering: running DADs end with net.ErrClosed, pending
// gratuitous NAs are dropped, the socket is closed (with its ALLMULTI
// membership) and the reader goroutine is waited for. The proxied set is
// forgotten; nothing is sent (RFC 6275 §11.5.5 leaves the
// announcement to mobile nodes that come home). Later calls return the
// first result.
func (l *Listener) Close() error {
	l.once.Do(func() {
		l.stop()
		l.err = l.conn.Close()
		l.wg.Wait()
	})
	return l.err
}
