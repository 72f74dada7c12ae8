package ndproxy

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
	"unsafe"

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
	rc   syscall.RawConn
	ifi  *net.Interface
	wg   sync.WaitGroup
	once sync.Once
	err  error

	// The reader goroutine's recvfrom state: the raw system call, so
	// that a read allocates nothing (packet.Conn.ReadFrom makes a
	// sockaddr and a packet.Addr per packet, and every NS of the link
	// comes through here).
	rbuf   []byte
	rsa    unix.RawSockaddrLinklayer
	rsalen uint32
	rn     int
	rerrno syscall.Errno
	recvFn func(fd uintptr) bool
}

// packetLink sends on the packet socket with sendto(2) and a link-layer
// sockaddr kept in the struct, for the same reason: the answer to an NS
// must not allocate either. Sends take turns.
type packetLink struct {
	rc      syscall.RawConn
	ifindex int

	mu     sync.Mutex
	sa     unix.RawSockaddrLinklayer
	pkt    []byte
	errno  syscall.Errno
	sendFn func(fd uintptr) bool
}

func newPacketLink(rc syscall.RawConn, ifindex int) *packetLink {
	l := &packetLink{rc: rc, ifindex: ifindex}
	l.sendFn = l.sendto
	return l
}

func (l *packetLink) send(pkt []byte, dst net.HardwareAddr) error {
	if len(pkt) == 0 || len(dst) > len(l.sa.Addr) {
		return fmt.Errorf("ndproxy: send of %d octets to a %d-octet link-layer address", len(pkt), len(dst))
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sa = unix.RawSockaddrLinklayer{Family: unix.AF_PACKET, Protocol: netif.Htons(unix.ETH_P_IPV6),
		Ifindex: int32(l.ifindex), Halen: uint8(len(dst))}
	copy(l.sa.Addr[:], dst)
	l.pkt, l.errno = pkt, 0
	err := l.rc.Write(l.sendFn)
	l.pkt = nil
	if err != nil {
		return err
	}
	if l.errno != 0 {
		return fmt.Errorf("sendto: %w", l.errno)
	}
	return nil
}

// sendto is the RawConn.Write callback: one non-blocking sendto; false
// waits for writability on EAGAIN.
func (l *packetLink) sendto(fd uintptr) bool {
	_, _, e := unix.Syscall6(unix.SYS_SENDTO, fd, uintptr(unsafe.Pointer(&l.pkt[0])), uintptr(len(l.pkt)),
		unix.MSG_DONTWAIT, uintptr(unsafe.Pointer(&l.sa)), unix.SizeofSockaddrLinklayer)
	if e == unix.EAGAIN || e == unix.EINTR {
		return false
	}
	l.errno = e
	return true
}

// Listen starts a Proxy on the interface ifname. The socket belongs to the
// network namespace of the calling thread. It needs CAP_NET_RAW.
func Listen(ifname string, cfg Config) (*Listener, error) {
	l, err := open(ifname, cfg)
	if err != nil {
		return nil, err
	}
	l.wg.Add(1)
	go l.read()
	return l, nil
}

// open is Listen without the reader goroutine.
func open(ifname string, cfg Config) (*Listener, error) {
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
	rc, err := c.SyscallConn()
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("ndproxy: %w", err)
	}
	p, err := newProxy(cfg, newPacketLink(rc, ifi.Index))
	if err != nil {
		c.Close()
		return nil, err
	}
	l := &Listener{Proxy: p, conn: c, rc: rc, ifi: ifi, rbuf: make([]byte, filterSnaplen)}
	l.recvFn = l.recvfrom
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
	for {
		pkt, mac, err := l.readOne()
		if err != nil {
			if l.isClosed() {
				return
			}
			if !errors.Is(err, net.ErrClosed) {
				l.report(fmt.Errorf("ndproxy: receive on %s: %w", l.ifi.Name, err))
			}
			// Close closes the socket: the read after the wait ends
			// the loop.
			if netif.ReadStop(err, nil) {
				return
			}
			continue
		}
		l.handle(pkt, mac)
	}
}

// readOne reads one packet into the Listener's buffer and returns it and
// its link-layer source, both views valid until the next call. Only the
// reader goroutine calls it. It does not allocate.
func (l *Listener) readOne() (pkt []byte, mac net.HardwareAddr, err error) {
	l.rn, l.rerrno = 0, 0
	if err := l.rc.Read(l.recvFn); err != nil {
		return nil, nil, err
	}
	if l.rerrno != 0 {
		return nil, nil, fmt.Errorf("recvfrom: %w", l.rerrno)
	}
	return l.rbuf[:l.rn], l.rsa.Addr[:min(int(l.rsa.Halen), len(l.rsa.Addr))], nil
}

// recvfrom is the RawConn.Read callback: one non-blocking recvfrom; false
// waits for readability on EAGAIN.
func (l *Listener) recvfrom(fd uintptr) bool {
	l.rsalen = unix.SizeofSockaddrLinklayer
	r, _, e := unix.Syscall6(unix.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&l.rbuf[0])), uintptr(len(l.rbuf)),
		unix.MSG_DONTWAIT, uintptr(unsafe.Pointer(&l.rsa)), uintptr(unsafe.Pointer(&l.rsalen)))
	if e == unix.EAGAIN || e == unix.EINTR {
		return false
	}
	l.rn, l.rerrno = int(r), e
	return true
}

func (l *Listener) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// Interface returns the home link interface as Listen found it: its index
// and name hold, its HardwareAddr may be old (LinkLayer is the address
// the NAs carry now).
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
