//go:build linux

package tunnel

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/tun"

	"github.com/gomip6/gomip6/internal/netif"
	"github.com/gomip6/gomip6/internal/nexthop"
	"github.com/gomip6/gomip6/mip6"
)

// ForwarderConfig configures a Forwarder.
type ForwarderConfig struct {
	// Name is the tun device's name; "" means "gomip6%d" (the kernel
	// picks the number).
	Name string
	// MTU is the tun device's MTU, the inner MTU the kernel's routing
	// sees. 0 means DefaultPathMTU minus the largest overhead of the
	// enabled encapsulations, so that TCP's MSS fits every tunnel on an
	// Ethernet path and Packet Too Big is the exception. Per-binding path
	// MTUs still apply (Tunnel.Encap). The outbound buffers are sized for
	// it: raising the device's MTU behind the forwarder's back makes
	// larger packets fail to read (Stats.TunReadErrors).
	MTU int
	// Queues is the number of tun queues, each with its own reader
	// goroutine (IFF_MULTI_QUEUE when above 1): the kernel spreads flows
	// over them by hash. 0 means one per CPU.
	Queues int
	// TxQueueLen is the tun device's transmit queue length; 0 means
	// DefaultTxQueueLen.
	TxQueueLen int
	// IPv6, IPv4 and UDP enable the encapsulations this forwarder
	// terminates and originates: IPv6 in IPv6 (raw IPv6 sockets, protocol
	// 41), 6in4 (raw IPv4 sockets, protocol 41) and IPv6 in UDP over IPv4
	// (a UDP socket on UDPPort). A binding of a kind not enabled is
	// dropped (Stats.KindDisabled).
	IPv6, IPv4, UDP bool
	// UDPPort is the local UDP port; 0 means 4191 (RFC 5555 §4.1).
	// Bindings whose local port differs are dropped (Stats.PortMismatch).
	UDPPort uint16
	// HeaderIncluded sends IPv6-in-IPv6 and 6in4 packets with the outer
	// header written by Tunnel.Encap, through IPPROTO_RAW sockets
	// (IPV6_HDRINCL / IP_HDRINCL), instead of letting the kernel build it
	// on the protocol-41 sockets (Tunnel.Prepare). The default is faster:
	// Linux routes a header-included send with FLOWI_FLAG_KNOWN_NH, which
	// for an on-link destination allocates and frees an uncached route
	// per packet (measured: about 10% of the CPU for IPv6).
	HeaderIncluded bool
	// BatchSize is the number of packets per tun read and socket
	// receive; 0 means DefaultBatchSize.
	BatchSize int
	// SocketBuffer is SO_RCVBUF and SO_SNDBUF of the tunnel sockets; 0
	// means DefaultSocketBuffer, negative leaves the system default.
	SocketBuffer int
	// PacketReceive receives IPv6-in-IPv6 and 6in4 packets with more
	// than 1280 octets of payload on packet sockets with virtio-net
	// headers (PACKET_VNET_HDR) instead of the raw protocol-41 sockets,
	// so that TCP super-packets coalesced by GRO on the receiving
	// interface go into the tun device whole, to be segmented again by
	// the kernel, rather than broken (a raw socket hands them over with
	// an unfinished checksum and no segment size). See packetrx_linux.go
	// for the split between the sockets and what it does not cover; the
	// packet sockets see packets before netfilter's INPUT chain.
	PacketReceive bool
	// PacketSend sends IPv6-in-IPv6 and 6in4 packets, outer header
	// written by Tunnel.Encap, on a packet socket straight to the next
	// hop's Ethernet address (PACKET_QDISC_BYPASS), skipping the IP
	// output path a raw-socket send runs per packet. The next hop comes
	// from the kernel's route and neighbour tables (netlink, refreshed
	// every second: the route per end point, the neighbour entry per
	// next hop); without a usable entry a packet takes the raw
	// sockets. Sends skip netfilter's OUTPUT and POSTROUTING chains, tc
	// and IPsec. See packettx_linux.go.
	PacketSend bool
	// OnError, if set, is called (from a forwarder goroutine, rarely:
	// never per packet) when a reader stops on an unexpected error. The
	// Forwarder never logs.
	OnError func(error)
	// SignalAddrs and Signal take Mobility Header signalling off the
	// 6in4 and UDP sockets (Dual-Stack MIPv6, RFC 5555 §4): an inner
	// IPv6 packet whose destination is one of SignalAddrs (on a home
	// agent its home.address; on a mobile node its home address) and
	// whose upper-layer protocol is the Mobility Header (IsSignal) is
	// handed to Signal with the outer headers it came with, instead of
	// being decapsulated: before the binding check, so that the first
	// Binding Update of a node with no binding yet is not dropped by
	// the anti-spoofing rules. Counted in Stats.Signalled.
	//
	// Signal is called from the socket's reader goroutine: it must not
	// block (hand the packet to a channel with a non-blocking send, and
	// drop when it is full), or the tunnel's receive path stalls. pkt is
	// a copy that Signal owns and may keep. With Signal nil nothing is
	// taken off.
	SignalAddrs []netip.Addr
	Signal      func(pkt []byte, outer Outer)
	// EBPF, if set, is called with the tun device's name once the
	// forwarder runs, to start a kernel fast path next to it (opt-in;
	// tunnel/ebpf: the kernel encapsulates and decapsulates IPv6 in IPv6
	// and 6in4 with BPF programs, GSO super-packets whole, and leaves
	// what it does not handle to the forwarder, which stays the
	// fallback). The forwarder keeps it in step with the binding table
	// (Table.Changes, path MTU changes included) and closes
	// it first on Close. If it fails the forwarder runs without it and
	// says why in Stats.KernelPathError (and OnError). It cannot be
	// combined with PacketReceive: packet sockets see arriving packets
	// before the kernel path decapsulates them, so both would forward
	// them.
	EBPF func(device string) (KernelPath, error)
	// PacketReceiveFallback, with EBPF, turns PacketReceive on when the
	// kernel path does not start (an older kernel, no CAP_BPF): then the
	// GRO super-packets the programs would have taken whole reach the
	// forwarder through packet sockets, not broken through raw ones.
	PacketReceiveFallback bool
}

// KernelPath is a kernel fast path working next to a Forwarder
// (ForwarderConfig.EBPF), such as tunnel/ebpf's Accelerator.
type KernelPath interface {
	// Sync makes the kernel's copy of the bindings match t.
	Sync(t *Table) error
	// Stats returns its packet counters.
	Stats() KernelStats
	// Close removes all it added to the system.
	Close() error
}

// KernelStats are a KernelPath's packet counters. A GSO packet counts
// once, whatever the number of segments it carries.
type KernelStats struct {
	// Encapsulated and Decapsulated count packets the kernel tunnelled
	// itself; Passed those it left to the forwarder; Dropped those it
	// dropped (anti-spoofing and ECN, as Tunnel.Decap, or a failed
	// helper).
	Encapsulated, Decapsulated, Passed, Dropped uint64
}

// Forwarder defaults.
const (
	// DefaultBatchSize is wireguard's conn.IdealBatchSize: enough
	// buffers for one 64 KiB GSO super-packet split into MTU-sized
	// packets, and the batch recvmmsg/sendmmsg amortize a system call
	// over.
	DefaultBatchSize = 128
	// DefaultTxQueueLen raises the tun device's queue from the kernel's
	// 500 packets.
	DefaultTxQueueLen = 10000
	// DefaultSocketBuffer is the tunnel sockets' buffer size.
	DefaultSocketBuffer = 4 << 20

	// bufSize is every packet buffer: headroom and the largest IP packet.
	bufSize = Headroom + MaxPathMTU
	// replyOff is where an ICMPv6 error built in a buffer's headroom
	// starts, relative to the virtio-net header space tun.Write needs
	// (10 octets) in front of every packet it writes.
	replyOff = Headroom - errorHeaderLen
	// udpRecvBatch is the number of datagrams per UDP receive: with
	// UDP_GRO each can hold a whole 64 KiB train of segments.
	udpRecvBatch = 16
	// maxGSOSegments is the most segments we put in one UDP_SEGMENT send
	// (the kernel's UDP_MAX_SEGMENTS is at least 64).
	maxGSOSegments = 64
	// cmsgSpace is the control buffer of one message.
	cmsgSpace = 128
	// drainRoom is how many free buffers a tun read needs before we try
	// another without waiting: a 64 KiB super-packet at the minimum MTU
	// splits into 52.
	drainRoom = 64
)

// Stats are the forwarder's I/O counters (the per-packet verdicts are in
// Tunnel.Counters).
type Stats struct {
	// TunReads and TunPackets count tun read calls and the packets they
	// returned after GSO splitting; TunWrites and TunWritten the writes
	// and packets handed to them (before GRO coalescing).
	TunReads, TunPackets  uint64
	TunWrites, TunWritten uint64
	TunReadErrors         uint64
	TunWriteErrors        uint64
	// SocketReads and SocketPackets count receive calls and datagrams
	// (UDP GRO trains count as their segments in SocketPackets).
	SocketReads, SocketPackets uint64
	SocketReadErrors           uint64
	// Sends and SentPackets count sendmmsg calls and packets (a GSO send
	// counts its segments); SendErrors the packets the kernel refused.
	Sends, SentPackets uint64
	SendErrors         uint64
	// Truncated counts datagrams larger than the receive buffer.
	Truncated uint64
	// KindDisabled counts packets for a binding whose encapsulation this
	// forwarder has no socket for; PortMismatch UDP bindings whose local
	// port is not ours.
	KindDisabled, PortMismatch uint64
	// ICMPReceived counts ICMP messages read from the ICMP sockets.
	ICMPReceived uint64
	// Signalled counts packets handed to ForwarderConfig.Signal;
	// SignalSent the packets SendUDP4 and Send6in4 sent, SignalSendErrors
	// those they failed to send.
	Signalled, SignalSent, SignalSendErrors uint64
	// Keepalives counts empty UDP datagrams received (NAT keepalives,
	// see natKeepalive), which are not packets and are not decapsulated.
	Keepalives uint64
	// TunGSOWrites counts the packets from the packet sockets
	// (PacketReceive) written to the tun device with their own
	// virtio-net header: GRO super-packets, and packets whose checksum
	// the kernel left unfinished. They are in TunWrites and TunWritten too.
	TunGSOWrites uint64
	// PacketSent counts the packets sent on the packet socket
	// (PacketSend); they are in Sends and SentPackets too.
	PacketSent uint64
	// LastSendError is the last error a send returned, "" if none.
	LastSendError string
	// Kernel are the kernel fast path's counters (ForwarderConfig.EBPF),
	// KernelPathError why it is not running, "" if it runs or was not
	// asked for.
	Kernel          KernelStats
	KernelPathError string
}

type fwdCounters struct {
	tunReads, tunPackets, tunWrites, tunWritten, tunReadErr, tunWriteErr atomic.Uint64
	_                                                                    [16]byte
	sockReads, sockPackets, sockReadErr                                  atomic.Uint64
	_                                                                    [40]byte
	sends, sent, sendErr, truncated, kindDisabled, portMismatch, icmp    atomic.Uint64
	lastSendErr                                                          atomic.Pointer[string]
	signalled, signalSent, signalSendErr                                 atomic.Uint64
	keepalives                                                           atomic.Uint64
	gsoWrites, pktSent                                                   atomic.Uint64
}

// Forwarder is the I/O half of a tunnel: a tun device for the inner
// side, raw and UDP sockets for the tunnel path, and one goroutine per
// tun queue and per socket moving packets through a Tunnel in batches.
//
// Outbound, each tun queue's goroutine reads a batch (GSO super-packets
// split, then whatever else is queued), runs Tunnel.Prepare or
// Tunnel.Encap per packet, and sends the results with one sendmmsg per
// socket: IPv6-in-IPv6 and 6in4 through the protocol-41 raw sockets with
// the kernel building the outer header from control messages (or, with
// HeaderIncluded, header-included IPPROTO_RAW sockets, which receive
// nothing), UDP through a UDP socket with UDP_SEGMENT, runs of
// equal-sized packets to one endpoint going out as one GSO send. Packets
// that must be allowed to fragment go header included with DF clear.
// Packet Too Big replies go back into the tun device.
//
// Inbound, one goroutine per socket reads a batch with recvmmsg (the UDP
// socket with UDP_GRO, so a train of datagrams arrives as one), runs
// Tunnel.Input (raw IPv4, header included) or Tunnel.Decap (raw IPv6 and
// UDP, outer header from the socket address, IPV6_PKTINFO/IP_PKTINFO and
// the received traffic class) and writes what passes to the tun device in
// one batch, which tun.Write coalesces (GRO) into super-packets.
//
// ICMPv6 and ICMPv4 raw sockets feed Tunnel.HandleICMP; the relayed
// errors go into the tun device.
//
// Two options change the protocol-41 sockets: PacketReceive takes large
// packets, GRO super-packets among them, off packet sockets with
// virtio-net headers (packetrx_linux.go), and PacketSend sends on a
// packet socket to the next hop's link-layer address
// (packettx_linux.go).
//
// Memory is fixed at creation: every goroutine owns its buffers
// (BatchSize buffers of Headroom+MTU octets per tun queue, of
// Headroom+65535 per socket reader, since a UDP GRO train or a tun.Write
// coalescing into the buffer can fill that), a batch is processed before
// the next is read, and nothing is queued, so overload drops (in the
// kernel's queues, counted there) instead of growing. The sockets are
// blocking, outside the Go netpoller (see sock), one goroutine each.
type Forwarder struct {
	t     *Tunnel
	cfg   ForwarderConfig
	name  string
	devs  []tun.Device
	socks []*sock

	raw6Send *sock // IPPROTO_RAW, IPv6 header included (HeaderIncluded)
	raw6     *sock // protocol 41: receive; kernel-built sends
	raw4Send *sock // IPPROTO_RAW, IPv4 header included: DF clear sends
	raw4     *sock // protocol 41: receive; kernel-built sends with DF
	pkt6     *sock // PacketReceive: AF_PACKET, ETH_P_IPV6, virtio-net headers
	pkt4     *sock // PacketReceive: AF_PACKET, ETH_P_IP
	ptx      *packetTX
	udp      *sock
	icmp6    *sock
	icmp4    *sock

	sig signalAddrs

	ctr    fwdCounters
	closed atomic.Bool
	// sendMu orders SendUDP4 and Send6in4 (readers) before the sockets
	// close (the writer), so that they never use a descriptor number
	// that was closed and perhaps reused.
	sendMu sync.RWMutex
	wg     sync.WaitGroup
	once   sync.Once
	done   chan struct{} // closed by Close: ends the loops' waits after read errors

	kp     KernelPath    // ForwarderConfig.EBPF
	kpErr  string        // why kp is nil
	kpStop chan struct{} // stops the kp follower
	kpDone chan struct{}
}

// NewForwarder creates the tun device and sockets for t in the calling
// thread's network namespace (call it from a thread locked to the
// namespace) and starts the forwarding goroutines. The tun device is up,
// with its MTU and queue length set; addresses and routes are the
// caller's.
func NewForwarder(t *Tunnel, cfg ForwarderConfig) (*Forwarder, error) {
	if t == nil {
		return nil, errors.New("tunnel: nil Tunnel")
	}
	if !cfg.IPv6 && !cfg.IPv4 && !cfg.UDP {
		return nil, errors.New("tunnel: forwarder with no encapsulation enabled")
	}
	if cfg.Name == "" {
		cfg.Name = "gomip6%d"
	}
	if cfg.MTU == 0 {
		oh := OverheadUDP4
		if cfg.IPv6 {
			oh = OverheadIPv6
		} else if !cfg.UDP {
			oh = Overhead6in4
		}
		cfg.MTU = DefaultPathMTU - oh
	}
	if cfg.MTU < MinIPv6MTU || cfg.MTU > MaxPathMTU {
		return nil, fmt.Errorf("tunnel: tun MTU %d outside [%d, %d]", cfg.MTU, MinIPv6MTU, MaxPathMTU)
	}
	if cfg.Queues <= 0 {
		cfg.Queues = runtime.NumCPU()
	}
	if cfg.TxQueueLen == 0 {
		cfg.TxQueueLen = DefaultTxQueueLen
	}
	if cfg.UDPPort == 0 {
		cfg.UDPPort = UDPPortDSMIP
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = DefaultBatchSize
	}
	if cfg.SocketBuffer == 0 {
		cfg.SocketBuffer = DefaultSocketBuffer
	}
	if cfg.EBPF != nil && cfg.PacketReceive {
		return nil, errors.New("tunnel: EBPF and PacketReceive cannot be combined")
	}
	f := &Forwarder{t: t, cfg: cfg, done: make(chan struct{})}
	if cfg.Signal != nil {
		f.sig = newSignalAddrs(cfg.SignalAddrs)
	}
	if err := f.open(); err != nil {
		f.closeAll()
		return nil, err
	}
	// The kernel path first: whether it runs decides the packet
	// sockets, which start() serves.
	if cfg.EBPF != nil && !f.startKernelPath() && cfg.PacketReceiveFallback {
		f.cfg.PacketReceive = true
		if err := f.openPacketRX(); err != nil {
			f.closeAll()
			return nil, err
		}
	}
	f.start()
	return f, nil
}

// startKernelPath starts ForwarderConfig.EBPF and a goroutine that keeps
// it in step with the table: on every change (Table.Changes, path MTUs
// included), and a second after a Sync that failed, until one succeeds.
// It reports whether the kernel path runs.
func (f *Forwarder) startKernelPath() bool {
	// Asked for before the first Sync: a change made during it is
	// signalled, not lost.
	changes := f.t.table.Changes()
	kp, err := f.cfg.EBPF(f.name)
	if err == nil {
		if err = kp.Sync(f.t.table); err != nil {
			kp.Close()
		}
	}
	if err != nil {
		f.kpErr = err.Error()
		if f.cfg.OnError != nil {
			f.cfg.OnError(fmt.Errorf("tunnel: kernel path: %w", err))
		}
		return false
	}
	f.kp = kp
	f.kpStop, f.kpDone = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(f.kpDone)
		var retry <-chan time.Time // nil while the last Sync worked
		for {
			select {
			case <-f.kpStop:
				return
			case <-changes:
			case <-retry:
			}
			retry = nil
			if err := kp.Sync(f.t.table); err != nil {
				// A route the kernel refused (the device going
				// away and back, say) is tried again without
				// waiting for the next change.
				retry = time.After(time.Second)
				if f.cfg.OnError != nil {
					f.cfg.OnError(fmt.Errorf("tunnel: kernel path: %w", err))
				}
			}
		}
	}()
	return true
}

// Name returns the tun device's name.
func (f *Forwarder) Name() string { return f.name }

// Tunnel returns the tunnel the forwarder runs.
func (f *Forwarder) Tunnel() *Tunnel { return f.t }

func (f *Forwarder) open() error {
	devs, name, err := openTUN(f.cfg.Name, f.cfg.Queues)
	if err != nil {
		return err
	}
	f.devs, f.name = devs, name
	if err := setLink(name, f.cfg.MTU, f.cfg.TxQueueLen); err != nil {
		return err
	}
	hop := int(f.t.cfg.HopLimit)
	buf := f.cfg.SocketBuffer
	add := func(s *sock, err error) (*sock, error) {
		if err == nil {
			f.socks = append(f.socks, s)
		}
		return s, err
	}
	if f.cfg.IPv6 {
		if f.cfg.HeaderIncluded {
			// RFC 3542 raw sockets strip the IPv6 header; IPV6_HDRINCL
			// (Linux 4.5) on an IPPROTO_RAW socket sends ours as built.
			if f.raw6Send, err = add(newSock(&f.closed, "raw6-send", unix.AF_INET6, unix.SOCK_RAW, unix.IPPROTO_RAW, func(fd int) error {
				setBuffers(fd, buf)
				return sockopts(fd, [3]int{unix.IPPROTO_IPV6, unix.IPV6_HDRINCL, 1})
			})); err != nil {
				return err
			}
		}
		if f.raw6, err = add(newSock(&f.closed, "raw6", unix.AF_INET6, unix.SOCK_RAW, mip6.ProtoIPv6, func(fd int) error {
			setBuffers(fd, buf)
			return sockopts(fd,
				[3]int{unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1},
				[3]int{unix.IPPROTO_IPV6, unix.IPV6_RECVTCLASS, 1},
				[3]int{unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS, hop},
				// Kernel-built sends may fragment: ActionSendFragmentable
				// goes without IPV6_DONTFRAG, everything else with it
				// (RFC 2473 §7.1).
				[3]int{unix.IPPROTO_IPV6, unix.IPV6_MTU_DISCOVER, unix.IPV6_PMTUDISC_DONT})
		})); err != nil {
			return err
		}
	}
	if f.cfg.IPv4 || f.cfg.UDP {
		// Header included: 6in4 with HeaderIncluded, and every packet that
		// must go with DF clear (ActionSendFragmentable, 6in4 and UDP),
		// with the header Encap built: the kernel sends it as it is, and
		// routers on the path may fragment it (RFC 4213 §3.2.2).
		if f.raw4Send, err = add(newSock(&f.closed, "raw4-send", unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_RAW, func(fd int) error {
			setBuffers(fd, buf)
			return sockopts(fd, [3]int{unix.IPPROTO_IP, unix.IP_HDRINCL, 1})
		})); err != nil {
			return err
		}
	}
	if f.cfg.IPv4 {
		if f.raw4, err = add(newSock(&f.closed, "raw4", unix.AF_INET, unix.SOCK_RAW, mip6.ProtoIPv6, func(fd int) error {
			setBuffers(fd, buf)
			return sockopts(fd,
				[3]int{unix.IPPROTO_IP, unix.IP_TTL, hop},
				// DF on every kernel-built packet (RFC 4213 §3.2.2 for a
				// tunnel MTU the inner packet fits), whatever the kernel's
				// PMTU cache says: the binding's path MTU is the authority.
				[3]int{unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_PROBE})
		})); err != nil {
			return err
		}
	}
	if f.cfg.UDP {
		port := int(f.cfg.UDPPort)
		if f.udp, err = add(newSock(&f.closed, "udp4", unix.AF_INET, unix.SOCK_DGRAM, unix.IPPROTO_UDP, func(fd int) error {
			setBuffers(fd, buf)
			if err := sockopts(fd,
				[3]int{unix.IPPROTO_IP, unix.IP_PKTINFO, 1},
				[3]int{unix.IPPROTO_IP, unix.IP_RECVTOS, 1},
				[3]int{unix.IPPROTO_IP, unix.IP_TTL, hop},
				// DF on every packet, whatever the kernel's PMTU cache
				// says: the binding's path MTU is the authority.
				[3]int{unix.IPPROTO_IP, unix.IP_MTU_DISCOVER, unix.IP_PMTUDISC_PROBE},
				[3]int{unix.IPPROTO_UDP, unix.UDP_GRO, 1}); err != nil {
				return err
			}
			return unix.Bind(fd, &unix.SockaddrInet4{Port: port})
		})); err != nil {
			return err
		}
	}
	if f.cfg.PacketReceive {
		if err := f.openPacketRX(); err != nil {
			return err
		}
	}
	if f.cfg.PacketSend && (f.cfg.IPv6 || f.cfg.IPv4) {
		if err := f.openPacketTX(); err != nil {
			return err
		}
	}
	if f.cfg.IPv6 {
		if f.icmp6, err = add(newSock(&f.closed, "icmp6", unix.AF_INET6, unix.SOCK_RAW, unix.IPPROTO_ICMPV6, func(fd int) error {
			// Only the error types HandleICMP acts on (RFC 4443 §3):
			// Linux's filter bits mean "block".
			var flt unix.ICMPv6Filter
			for i := range flt.Data {
				flt.Data[i] = ^uint32(0)
			}
			for _, typ := range []uint{icmp6DestUnreach, icmp6PacketTooBig, icmp6TimeExceeded, icmp6ParamProblem} {
				flt.Data[typ>>5] &^= 1 << (typ & 31)
			}
			return unix.SetsockoptICMPv6Filter(fd, unix.SOL_ICMPV6, unix.ICMPV6_FILTER, &flt)
		})); err != nil {
			return err
		}
	}
	if f.cfg.IPv4 || f.cfg.UDP {
		if f.icmp4, err = add(newSock(&f.closed, "icmp4", unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_ICMP, func(fd int) error {
			// ICMP_FILTER (SOL_RAW): a set bit blocks that type.
			mask := ^uint32(1<<icmp4DestUnreach | 1<<icmp4TimeExceeded | 1<<icmp4ParamProblem)
			return unix.SetsockoptInt(fd, unix.SOL_RAW, 1, int(int32(mask)))
		})); err != nil {
			return err
		}
	}
	return nil
}

func (f *Forwarder) start() {
	for i, d := range f.devs {
		q := f.newTxPath(d)
		f.wg.Add(1)
		go func() { defer f.wg.Done(); f.run(fmt.Sprintf("tun queue %d", i), q.loop) }()
	}
	rx := 0
	startRx := func(name string, s *sock, kind Kind) {
		p := f.newRxPath(s, kind, f.devs[rx%len(f.devs)], s == f.pkt6 || s == f.pkt4)
		rx++
		f.wg.Add(1)
		go func() { defer f.wg.Done(); f.run(name, p.loop) }()
	}
	if f.raw6 != nil {
		startRx("raw6", f.raw6, KindIPv6)
	}
	if f.raw4 != nil {
		startRx("raw4", f.raw4, Kind6in4)
	}
	if f.pkt6 != nil {
		startRx("packet6", f.pkt6, KindIPv6)
	}
	if f.pkt4 != nil {
		startRx("packet4", f.pkt4, Kind6in4)
	}
	if f.udp != nil {
		startRx("udp4", f.udp, KindUDP4)
	}
	for _, ic := range []struct {
		s  *sock
		v4 bool
	}{{f.icmp6, false}, {f.icmp4, true}} {
		if ic.s == nil {
			continue
		}
		p := &icmpPath{f: f, s: ic.s, v4: ic.v4, dev: f.devs[0], in: make([]byte, bufSize), out: make([]byte, replyOff+MinIPv6MTU), wb: make([][]byte, 1)}
		f.wg.Add(1)
		go func() { defer f.wg.Done(); f.run("icmp", p.loop) }()
	}
}

// run runs a reader loop; an error before Close is reported.
func (f *Forwarder) run(name string, loop func() error) {
	err := loop()
	if err != nil && !f.closed.Load() && f.cfg.OnError != nil {
		f.cfg.OnError(fmt.Errorf("tunnel: %s reader stopped: %w", name, err))
	}
}

// Close stops the goroutines and releases the tun device and sockets.
func (f *Forwarder) Close() error {
	var err error
	f.once.Do(func() {
		// The kernel path first: its routes go, and the tun device
		// takes their traffic while the forwarder still runs.
		if f.kp != nil {
			close(f.kpStop)
			<-f.kpDone
			err = f.kp.Close()
		}
		f.closed.Store(true)
		close(f.done)
		// Wake the socket readers, close the tun queues (which wakes
		// their readers), wait for every goroutine, and only then close
		// the sockets, whose descriptors the goroutines use until they
		// return.
		for _, s := range f.socks {
			s.shutdown()
		}
		err = errors.Join(err, f.closeAll())
	})
	return err
}

// closeAll closes the tun queues, waits for the goroutines and closes the
// sockets.
func (f *Forwarder) closeAll() error {
	var errs []error
	for _, d := range f.devs {
		if err := d.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	f.wg.Wait()
	f.sendMu.Lock()
	defer f.sendMu.Unlock()
	f.closed.Store(true)
	for _, s := range f.socks {
		if err := s.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	f.socks = nil
	f.ptx.close()
	return errors.Join(errs...)
}

// Stats returns the I/O counters.
func (f *Forwarder) Stats() Stats {
	c := &f.ctr
	s := Stats{
		TunReads: c.tunReads.Load(), TunPackets: c.tunPackets.Load(),
		TunWrites: c.tunWrites.Load(), TunWritten: c.tunWritten.Load(),
		TunReadErrors: c.tunReadErr.Load(), TunWriteErrors: c.tunWriteErr.Load(),
		SocketReads: c.sockReads.Load(), SocketPackets: c.sockPackets.Load(),
		SocketReadErrors: c.sockReadErr.Load(),
		Sends:            c.sends.Load(), SentPackets: c.sent.Load(), SendErrors: c.sendErr.Load(),
		Truncated: c.truncated.Load(), KindDisabled: c.kindDisabled.Load(),
		PortMismatch: c.portMismatch.Load(), ICMPReceived: c.icmp.Load(),
		Signalled: c.signalled.Load(), SignalSent: c.signalSent.Load(), SignalSendErrors: c.signalSendErr.Load(),
		Keepalives:   c.keepalives.Load(),
		TunGSOWrites: c.gsoWrites.Load(), PacketSent: c.pktSent.Load(),
	}
	if p := c.lastSendErr.Load(); p != nil {
		s.LastSendError = *p
	}
	if f.kp != nil {
		s.Kernel = f.kp.Stats()
	}
	s.KernelPathError = f.kpErr
	return s
}

// fatal reports whether a read error means the descriptor is gone.
func fatal(err error) bool {
	return errors.Is(err, os.ErrClosed) || errors.Is(err, unix.EBADF) || errors.Is(err, unix.EBADFD)
}

// flushSend sends a batch and counts the outcome.
func (f *Forwarder) flushSend(m *sockBatch, pkts int) error {
	if m.N == 0 {
		return nil
	}
	failed, last, err := m.flush()
	f.ctr.sends.Add(1)
	f.ctr.sent.Add(uint64(pkts))
	if failed > 0 {
		f.ctr.sendErr.Add(uint64(failed))
		if last != nil {
			s := last.Error()
			f.ctr.lastSendErr.Store(&s)
		}
	}
	return err
}

// ---- outbound: tun → tunnel ----

// sender is one socket's send batch on one tun queue's goroutine.
type sender struct {
	m    *sockBatch
	pkts int
}

// start begins the next message of the batch with pkt, flushing the batch
// first when it is full, and returns the message's index: the caller adds
// the destination and control data.
func (s *sender) start(f *Forwarder, pkt []byte) int {
	if s.m.Full(1) {
		f.flushSend(s.m, s.pkts)
		s.pkts = 0
	}
	i := s.m.Begin()
	s.m.AddIov(i, pkt)
	s.pkts++
	return i
}

func newSender(s *sock, msgs, iovs int) *sender {
	if s == nil {
		return nil
	}
	return &sender{m: newSockBatch(s, msgs, iovs, cmsgSpace)}
}

// txPath is one tun queue's outbound loop and its buffers.
type txPath struct {
	f     *Forwarder
	dev   tun.Device
	bufs  [][]byte
	sizes []int

	// hdr6 and hdr4 send header-included packets, kern6 and kern4 let
	// the kernel build the header, udp is the UDP socket.
	hdr6, kern6, hdr4, kern4, udp *sender

	run udpRun

	// PacketSend: the packet socket's batch, the next hops by tunnel
	// end point, the one in use, and the batch's time for their age.
	pkt *sender
	l2  *nexthop.Cache[l2Key]
	cur nexthop.Entry
	now int64

	replies [][]byte
}

func (f *Forwarder) newTxPath(d tun.Device) *txPath {
	n := f.cfg.BatchSize
	q := &txPath{f: f, dev: d, bufs: make([][]byte, n), sizes: make([]int, n), replies: make([][]byte, 0, n)}
	for i := range q.bufs {
		q.bufs[i] = make([]byte, Headroom+f.cfg.MTU)
	}
	q.hdr6 = newSender(f.raw6Send, n, n)
	q.kern6 = newSender(f.raw6, n, n)
	q.hdr4 = newSender(f.raw4Send, n, n)
	q.kern4 = newSender(f.raw4, n, n)
	q.udp = newSender(f.udp, n, n)
	if f.ptx != nil {
		q.pkt = newSender(f.ptx.sock, n, n)
		q.l2 = nexthop.NewCache[l2Key](l2Max, f.ptx.nh)
	}
	return q
}

func (q *txPath) loop() error {
	// The queue's descriptor, for readiness checks only (File().Fd()
	// would switch it to blocking mode).
	pfd := []unix.PollFd{{Fd: -1, Events: unix.POLLIN}}
	if file := q.dev.File(); file != nil {
		if rc, err := file.SyscallConn(); err == nil {
			rc.Control(func(fd uintptr) { pfd[0].Fd = int32(fd) })
		}
	}
	var backoff netif.Backoff
	for {
		n, err := q.dev.Read(q.bufs, q.sizes, Headroom)
		if err != nil {
			if q.f.closed.Load() || fatal(err) {
				return err
			}
			// A malformed super-packet (tun.Read refuses it whole) is
			// the sender's problem: count and go on, after a wait
			// that grows while the errors repeat (no busy loop on
			// one that persists).
			q.f.ctr.tunReadErr.Add(1)
			if n == 0 {
				if backoff.Stop(err, q.f.done) {
					return err
				}
				continue
			}
		}
		backoff.Reset()
		q.f.ctr.tunReads.Add(1)
		// tun.Read returns one packet, or one GSO super-packet split: for
		// small packets that is a read and a send per packet. Take what
		// else is queued, as long as poll(2) says there is some, so that
		// the sends go out in one sendmmsg per socket. (A read deadline
		// in the past would not do: the netpoller fails such a read
		// before trying it.) Stop while there is still room for a whole
		// super-packet: tun.Read drops one that does not fit.
		for pfd[0].Fd >= 0 && n < len(q.bufs)-drainRoom {
			if r, err := unix.Poll(pfd, 0); r <= 0 || err != nil || pfd[0].Revents&unix.POLLIN == 0 {
				break
			}
			m, err := q.dev.Read(q.bufs[n:], q.sizes[n:], Headroom)
			if err != nil {
				if q.f.closed.Load() || fatal(err) {
					return err
				}
				q.f.ctr.tunReadErr.Add(1)
				break
			}
			q.f.ctr.tunReads.Add(1)
			n += m
		}
		q.f.ctr.tunPackets.Add(uint64(n))
		if q.f.ptx != nil {
			q.now = q.f.ptx.clock()
		}
		for i := range n {
			q.handle(q.bufs[i][:Headroom+q.sizes[i]], Headroom)
		}
		if err := q.flush(); err != nil {
			return err
		}
	}
}

// handle runs one inner packet at buf[off:] through the tunnel and queues
// the result. It allocates nothing.
func (q *txPath) handle(buf []byte, off int) {
	t := q.f.t
	inner := buf[off:]
	if len(inner) > 0 && inner[0]>>4 == 4 {
		q.handle4(buf, off)
		return
	}
	if _, ok := innerLen(inner); !ok {
		t.Encap(buf, off, nil) // counts it as malformed
		return
	}
	keyOff := ip6Dst
	if t.cfg.Role == RoleMobileNode {
		keyOff = ip6Src
	}
	k := addr16(inner, keyOff)
	b := t.table.lookup(&k)
	if b == nil {
		t.Encap(buf, off, nil) // counts no_binding
		return
	}
	switch {
	case q.pkt != nil && (b.kind == KindIPv6 && q.kern6 != nil || b.kind == Kind6in4 && q.kern4 != nil) && q.l2For(b):
		q.sendPacket(buf, off, b)
	case b.kind == KindUDP4 && q.udp != nil:
		q.sendUDP(buf, off, b)
	case b.kind == Kind6in4 && q.kern4 != nil && !q.f.cfg.HeaderIncluded:
		pkt, p, v := t.Prepare(buf, off, b)
		switch v.Action {
		case ActionSend:
			q.addKernel4(pkt, b, p.TOS)
		case ActionSendFragmentable:
			// The protocol-41 socket sends with DF (IP_PMTUDISC_PROBE).
			q.addFragmentable4(buf, off, pkt, b)
		default:
			q.verdict(buf, pkt, v)
		}
	case b.kind == Kind6in4 && q.kern4 != nil:
		q.encap4(buf, off, b)
	case b.kind == KindIPv6 && q.hdr6 != nil:
		pkt, v := t.Encap(buf, off, b)
		switch v.Action {
		case ActionSend:
			s := q.hdr6
			i := s.start(q.f, pkt)
			s.m.setName6(i, &b.remote)
		case ActionSendFragmentable:
			// IPv6 routers do not fragment: the kernel must, at the
			// source, from the payload (RFC 2473 §7.1).
			q.addKernel6(pkt[OverheadIPv6:], b, ip6TrafficClass(pkt), false)
		default:
			q.verdict(buf, pkt, v)
		}
	case b.kind == KindIPv6 && q.kern6 != nil:
		pkt, p, v := t.Prepare(buf, off, b)
		if v.Action == ActionSend || v.Action == ActionSendFragmentable {
			q.addKernel6(pkt, b, p.TOS, v.Action == ActionSend)
			return
		}
		q.verdict(buf, pkt, v)
	default:
		q.f.ctr.kindDisabled.Add(1)
	}
}

// handle4 is handle for an IPv4 packet: an IPv4 home address's
// (Table.SetIPv4), which only the UDP encapsulation carries.
func (q *txPath) handle4(buf []byte, off int) {
	t := q.f.t
	inner := buf[off:]
	if _, ok := inner4Len(inner); !ok {
		t.Encap(buf, off, nil) // counts it as malformed
		return
	}
	keyOff := ip4Dst
	if t.cfg.Role == RoleMobileNode {
		keyOff = ip4Src
	}
	b := t.table.lookup4(inner, keyOff)
	if b == nil || b.kind != KindUDP4 {
		t.Encap(buf, off, b) // counts no_binding or kind
		return
	}
	if q.udp == nil {
		q.f.ctr.kindDisabled.Add(1)
		return
	}
	q.sendUDP(buf, off, b)
}

// sendUDP queues the inner packet at buf[off:], IPv6 or IPv4, on b's UDP
// encapsulation (RFC 5555 §4.1), a KindUDP4 binding of this forwarder's
// port.
func (q *txPath) sendUDP(buf []byte, off int, b *Binding) {
	if b.lport != q.f.cfg.UDPPort {
		q.f.ctr.portMismatch.Add(1)
		return
	}
	// Prepare makes the one MTU decision (RFC 2473 §7.1, RFC 4213
	// §3.2.2) for this packet, whichever socket it then takes.
	pkt, p, v := q.f.t.Prepare(buf, off, b)
	switch v.Action {
	case ActionSend:
		q.addUDP(pkt, b, p.TOS)
	case ActionSendFragmentable:
		// The UDP socket sends with DF; this packet needs DF clear
		// (too big, and an IPv4 inner packet with DF clear, RFC 2473
		// §7.1(a)): the outer packet goes with DF clear too, header
		// included.
		q.addFragmentable4(buf, off, pkt, b)
	default:
		// A Packet Too Big for an IPv6 inner packet; an IPv4 one only
		// ever drops (prepare4 builds no ICMPv4).
		q.verdict(buf, pkt, v)
	}
}

// addFragmentable4 queues on the header-included IPv4 socket an inner
// packet that Prepare found over b's tunnel MTU but allowed to fragment
// (ActionSendFragmentable: RFC 2473 §7.1(a), RFC 4213 §3.2.2, an IPv4
// inner packet with DF clear): the outer IPv4 (and UDP) header is
// written here into the headroom, with DF clear, without deciding about
// the MTU a second time. b is a 6in4 or UDP binding (IPv6 in IPv6 has
// its own path) and off is Headroom, which covers every overhead.
func (q *txPath) addFragmentable4(buf []byte, off int, pkt []byte, b *Binding) {
	out := buf[off-b.kind.Overhead() : off+len(pkt)]
	if pkt[0]>>4 == 4 {
		q.f.t.writeOuter4(out, b, pkt, false)
	} else {
		q.f.t.writeOuter(out, b, pkt, false)
	}
	q.addHdr4(out, b)
}

// encap4 encapsulates with Encap (6in4 or UDP, header and DF bit ours)
// and queues the result on the header-included IPv4 socket.
func (q *txPath) encap4(buf []byte, off int, b *Binding) {
	pkt, v := q.f.t.Encap(buf, off, b)
	if v.Action != ActionSend && v.Action != ActionSendFragmentable {
		q.verdict(buf, pkt, v)
		return
	}
	q.addHdr4(pkt, b)
}

// addHdr4 queues pkt, outer IPv4 header included, on the header-included
// IPv4 socket to b's remote end point.
func (q *txPath) addHdr4(pkt []byte, b *Binding) {
	s := q.hdr4
	i := s.start(q.f, pkt)
	s.m.setName4(i, &b.remote, 0)
}

// verdict handles what is neither a send nor a drop: a Packet Too Big
// built in place goes back into the tun device.
func (q *txPath) verdict(buf, pkt []byte, v Verdict) {
	if v.Action != ActionReply {
		return
	}
	if w, ok := writeSlice(buf, pkt, replyOff); ok {
		q.replies = append(q.replies, w)
	}
}

// writeSlice returns the slice of buf, of which pkt is a subslice, that
// starts off octets in front of pkt and ends with it, as tun.Write wants
// it (it writes the virtio-net header in front of the packet, and
// coalesces into the room behind it), if buf has that much room in front.
func writeSlice(buf, pkt []byte, off int) ([]byte, bool) {
	pos := cap(buf) - cap(pkt)
	if pos < off || pos+len(pkt) > cap(buf) {
		return nil, false
	}
	return buf[pos-off : pos+len(pkt)], true
}

// addKernel6 queues an inner packet on the protocol-41 raw IPv6 socket,
// where the kernel builds the outer header: source by IPV6_PKTINFO, traffic
// class by IPV6_TCLASS, hop limit from the socket, and fragmentation only
// if allowed (IPV6_DONTFRAG).
func (q *txPath) addKernel6(pkt []byte, b *Binding, tos uint8, dontFrag bool) {
	s := q.kern6
	i := s.start(q.f, pkt)
	s.m.setName6(i, &b.remote)
	c := s.m.Control(i)
	d, n := putCmsg(c, unix.IPPROTO_IPV6, unix.IPV6_PKTINFO, unix.SizeofInet6Pktinfo)
	copy(d[:16], b.local[:])
	clear(d[16:])
	d, l := putCmsg(c[n:], unix.IPPROTO_IPV6, unix.IPV6_TCLASS, 4)
	putNativeInt(d, int(tos))
	n += l
	if dontFrag {
		d, l = putCmsg(c[n:], unix.IPPROTO_IPV6, unix.IPV6_DONTFRAG, 4)
		putNativeInt(d, 1)
		n += l
	}
	s.m.SetControl(i, n)
}

// addKernel4 queues an inner packet on the protocol-41 raw IPv4 socket,
// where the kernel builds the header: source by IP_PKTINFO, TOS by IP_TOS,
// TTL from the socket, DF from IP_PMTUDISC_PROBE.
func (q *txPath) addKernel4(pkt []byte, b *Binding, tos uint8) {
	s := q.kern4
	i := s.start(q.f, pkt)
	s.m.setName4(i, &b.remote, 0)
	n := putPktinfo4(s.m.Control(i), &b.local, tos)
	s.m.SetControl(i, n)
}

// putPktinfo4 writes IP_PKTINFO (source address) and IP_TOS control
// messages and returns their length.
func putPktinfo4(c []byte, local *[16]byte, tos uint8) int {
	d, n := putCmsg(c, unix.IPPROTO_IP, unix.IP_PKTINFO, unix.SizeofInet4Pktinfo)
	clear(d)
	copy(d[4:8], local[12:16]) // ipi_spec_dst: the source to use
	d, l := putCmsg(c[n:], unix.IPPROTO_IP, unix.IP_TOS, 4)
	putNativeInt(d, int(tos))
	return n + l
}

// udpRun is the UDP GSO train being built: its message, segment count,
// segment size and total, endpoint and TOS.
type udpRun struct {
	open                 bool
	msg, segs, size, tot int
	local, remote        [16]byte
	rport                uint16
	tos                  uint8
}

// addUDP adds an inner packet to the UDP send batch. Consecutive packets
// to the same endpoint with the same TOS and size (the last of a run may
// be shorter) share one message sent with UDP_SEGMENT: the kernel (or the
// NIC, or nobody on a veth, whose peer can take the whole train with
// UDP_GRO) cuts it into datagrams at the segment size (UDP GSO, Linux
// 4.18). The segments stay where they are: one I/O vector each.
func (q *txPath) addUDP(pkt []byte, b *Binding, tos uint8) {
	s := q.udp
	r := &q.run
	if r.open && r.remote == b.remote && r.rport == b.rport && r.local == b.local && r.tos == tos &&
		len(pkt) <= r.size && r.segs < maxGSOSegments && r.tot+len(pkt) <= MaxPathMTU-OverheadUDP4 && s.m.NIov < len(s.m.Iovs) {
		s.m.AddIov(r.msg, pkt)
		r.segs++
		r.tot += len(pkt)
		s.pkts++
		if len(pkt) < r.size {
			q.closeRun() // a short segment ends a GSO train
		}
		return
	}
	q.closeRun()
	i := s.start(q.f, pkt)
	s.m.setName4(i, &b.remote, b.rport)
	*r = udpRun{true, i, 1, len(pkt), len(pkt), b.local, b.remote, b.rport, tos}
}

// closeRun finishes the control data of the open GSO run.
func (q *txPath) closeRun() {
	r := &q.run
	if !r.open {
		return
	}
	r.open = false
	m := q.udp.m
	c := m.Control(r.msg)
	n := putPktinfo4(c, &r.local, r.tos)
	if r.segs > 1 {
		d, l := putCmsg(c[n:], unix.SOL_UDP, unix.UDP_SEGMENT, 2)
		putNativeUint16(d, uint16(r.size))
		n += l
	}
	m.SetControl(r.msg, n)
}

// flush sends every socket's batch and writes the replies.
func (q *txPath) flush() error {
	q.closeRun()
	for _, s := range []*sender{q.hdr6, q.kern6, q.hdr4, q.kern4, q.udp, q.pkt} {
		if s == nil || s.m.N == 0 {
			continue
		}
		if s == q.pkt {
			q.f.ctr.pktSent.Add(uint64(s.pkts))
		}
		err := q.f.flushSend(s.m, s.pkts)
		s.pkts = 0
		if err != nil {
			return err
		}
	}
	if len(q.replies) > 0 {
		q.f.tunWrite(q.dev, q.replies, replyOff)
		q.replies = q.replies[:0]
	}
	return nil
}

// tunWrite writes a batch to a tun queue and counts it.
func (f *Forwarder) tunWrite(d tun.Device, bufs [][]byte, off int) {
	f.ctr.tunWrites.Add(1)
	f.ctr.tunWritten.Add(uint64(len(bufs)))
	if _, err := d.Write(bufs, off); err != nil {
		f.ctr.tunWriteErr.Add(1)
	}
}

// ---- inbound: tunnel → tun ----

// rxPath is one socket's receive loop.
type rxPath struct {
	f    *Forwarder
	kind Kind
	dev  tun.Device
	m    *sockBatch
	bufs [][]byte
	// wbufs are the tun.Write batch: slices of bufs (raw sockets, whole
	// UDP datagrams) or of cbufs (segments of a UDP GRO train, copied
	// apart because tun.Write needs room in front of every packet and
	// coalesces into the buffer behind it).
	wbufs [][]byte
	cbufs [][]byte
	ncopy int
	lport uint16
	// vnet: a packet socket's receive (PacketReceive), each packet
	// behind a virtio-net header; file is the tun queue's, for writing
	// packets with a header of our own (vnetPacket).
	vnet bool
	file *os.File
}

func (f *Forwarder) newRxPath(s *sock, kind Kind, d tun.Device, vnet bool) *rxPath {
	msgs := f.cfg.BatchSize
	if kind == KindUDP4 {
		msgs = min(msgs, udpRecvBatch)
	}
	p := &rxPath{f: f, kind: kind, dev: d, bufs: make([][]byte, msgs), wbufs: make([][]byte, 0, f.cfg.BatchSize), lport: f.cfg.UDPPort,
		vnet: vnet, file: d.File()}
	p.m = newSockBatch(s, msgs, msgs, cmsgSpace)
	for i := range p.bufs {
		if vnet {
			// Room for the virtio-net and link-layer headers in front
			// of the largest IP packet.
			p.bufs[i] = make([]byte, bufSize+vnetRoom)
			// The virtio-net header lands in the headroom, the
			// link-layer header and the outer packet from Headroom on.
			p.m.PrepareRecv(i, p.bufs[i][Headroom-vnetHdrLen:])
			continue
		}
		p.bufs[i] = make([]byte, bufSize)
		p.m.PrepareRecv(i, p.bufs[i][Headroom:])
	}
	if kind == KindUDP4 {
		p.cbufs = make([][]byte, f.cfg.BatchSize)
		for i := range p.cbufs {
			p.cbufs[i] = make([]byte, bufSize)
		}
	}
	return p
}

func (p *rxPath) loop() error {
	var backoff netif.Backoff
	for {
		if err := p.m.recv(); err != nil {
			if p.f.closed.Load() || fatal(err) {
				return err
			}
			p.f.ctr.sockReadErr.Add(1)
			// No busy loop on an error that persists.
			if backoff.Stop(err, p.f.done) {
				return err
			}
			continue
		}
		backoff.Reset()
		p.f.ctr.sockReads.Add(1)
		p.handleBatch()
	}
}

// handleBatch decapsulates the received batch and writes it to the tun
// device. It allocates nothing.
func (p *rxPath) handleBatch() {
	for i := range p.m.N {
		h := &p.m.Hdrs[i]
		n := int(h.Len)
		data := p.bufs[i][Headroom : Headroom+n]
		if h.Hdr.Flags&unix.MSG_TRUNC != 0 {
			p.f.ctr.truncated.Add(1)
			continue
		}
		if p.vnet {
			p.vnetPacket(i, n)
			continue
		}
		switch p.kind {
		case Kind6in4:
			p.f.ctr.sockPackets.Add(1)
			// Tunnel.Input, with the signalling check between the
			// outer header and decapsulation.
			var o rawOuter
			inner, r := parseOuterRaw(&o, data)
			if r != ReasonOK {
				p.f.t.Counters.add(In, r, len(data))
				continue
			}
			if p.f.signal(inner, &o) {
				continue
			}
			inner, v := p.f.t.decap(inner, &o)
			p.pass(p.bufs[i], inner, v)
		case KindIPv6:
			p.f.ctr.sockPackets.Add(1)
			var o rawOuter
			p.outer6(&o, i)
			inner, v := p.f.t.decap(data, &o)
			p.pass(p.bufs[i], inner, v)
		case KindUDP4:
			p.udpDatagram(i, data)
		}
	}
	p.flush()
}

// pass queues a decapsulated packet for the tun device.
func (p *rxPath) pass(buf, inner []byte, v Verdict) {
	if v.Action != ActionSend {
		return
	}
	if w, ok := writeSlice(buf, inner, Headroom); ok {
		p.wbufs = append(p.wbufs, w)
		if len(p.wbufs) == cap(p.wbufs) {
			p.flush()
		}
	}
}

func (p *rxPath) flush() {
	if len(p.wbufs) > 0 {
		p.f.tunWrite(p.dev, p.wbufs, Headroom)
		p.wbufs = p.wbufs[:0]
	}
	p.ncopy = 0
}

// outer6 fills o from message i of a raw IPv6 receive: the source from
// the socket address, our address from IPV6_PKTINFO, the traffic class
// from IPV6_TCLASS (the socket strips the header itself, RFC 3542 §3).
func (p *rxPath) outer6(o *rawOuter, i int) {
	sa := &p.m.Names[i]
	o.kind, o.valid, o.src = KindIPv6, true, sa.Addr
	c := p.m.Control(i)[:p.m.Hdrs[i].Hdr.Controllen]
	for {
		level, typ, data, rest, ok := nextCmsg(c)
		if !ok {
			return
		}
		switch {
		case level == unix.IPPROTO_IPV6 && typ == unix.IPV6_PKTINFO && len(data) >= 16:
			o.dst, o.hasDst = [16]byte(data[:16]), true
		case level == unix.IPPROTO_IPV6 && typ == unix.IPV6_TCLASS:
			o.tos = uint8(nativeInt(data))
		}
		c = rest
	}
}

// udpDatagram decapsulates one UDP receive: a single datagram, or with
// UDP_GRO a train of segments of the size the UDP_GRO control message
// gives (the last may be shorter), each an inner IPv6 packet (RFC 5555
// §4.1).
func (p *rxPath) udpDatagram(i int, data []byte) {
	sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(&p.m.Names[i]))
	port := (*[2]byte)(unsafe.Pointer(&sa.Port))
	o := rawOuter{kind: KindUDP4, v4: true, valid: true, sport: uint16(port[0])<<8 | uint16(port[1]), dport: p.lport}
	o.src[10], o.src[11] = 0xff, 0xff
	copy(o.src[12:], sa.Addr[:])
	gso := 0
	c := p.m.Control(i)[:p.m.Hdrs[i].Hdr.Controllen]
	for {
		level, typ, d, rest, ok := nextCmsg(c)
		if !ok {
			break
		}
		switch {
		case level == unix.IPPROTO_IP && typ == unix.IP_PKTINFO && len(d) >= unix.SizeofInet4Pktinfo:
			o.dst[10], o.dst[11] = 0xff, 0xff
			copy(o.dst[12:], d[8:12]) // ipi_addr: the header's destination
			o.hasDst = true
		case level == unix.IPPROTO_IP && typ == unix.IP_TOS && len(d) >= 1:
			o.tos = d[0]
		case level == unix.SOL_UDP && typ == unix.UDP_GRO:
			gso = nativeInt(d)
		}
		c = rest
	}
	if natKeepalive(data) {
		p.f.ctr.sockPackets.Add(1)
		p.f.ctr.keepalives.Add(1)
		return
	}
	if gso <= 0 || gso >= len(data) {
		p.f.ctr.sockPackets.Add(1)
		if p.f.signal(data, &o) {
			return
		}
		inner, v := p.f.t.decap(data, &o)
		p.pass(p.bufs[i], inner, v)
		return
	}
	for len(data) > 0 {
		seg := data[:min(gso, len(data))]
		data = data[len(seg):]
		p.f.ctr.sockPackets.Add(1)
		if p.f.signal(seg, &o) {
			continue
		}
		inner, v := p.f.t.decap(seg, &o)
		if v.Action != ActionSend {
			continue
		}
		if p.ncopy == len(p.cbufs) || len(p.wbufs) == cap(p.wbufs) {
			p.flush()
		}
		w := p.cbufs[p.ncopy][:Headroom+len(inner)]
		p.ncopy++
		copy(w[Headroom:], inner)
		p.wbufs = append(p.wbufs, w)
	}
}

// ---- ICMP errors from the tunnel path ----

type icmpPath struct {
	f   *Forwarder
	s   *sock
	v4  bool
	dev tun.Device
	in  []byte
	out []byte
	wb  [][]byte
}

func (p *icmpPath) loop() error {
	for {
		if p.s.isClosed() {
			return os.ErrClosed
		}
		n, err := unix.Read(p.s.fd, p.in)
		switch {
		case err == unix.EINTR || err == unix.EAGAIN || (err == nil && n == 0):
			continue // timeout or shutdown: the check above decides
		case err != nil:
			if fatal(err) {
				return err
			}
			continue
		}
		p.f.ctr.icmp.Add(1)
		pkt, v := p.f.t.HandleICMP(p.out[replyOff:], p.in[:n], p.v4)
		if v.Action == ActionReply {
			p.wb[0] = p.out[:replyOff+len(pkt)]
			p.f.tunWrite(p.dev, p.wb, replyOff)
		}
	}
}

// ---- signalling on the tunnel sockets (RFC 5555 §4) ----

// signal hands inner to ForwarderConfig.Signal, copied, if it is
// Mobility Header signalling for one of our addresses, and reports whether
// it did. Only packets to our own addresses pay more than a comparison.
func (f *Forwarder) signal(inner []byte, o *rawOuter) bool {
	if len(f.sig) == 0 {
		return false
	}
	// The address comparison first: every tunnelled packet comes here,
	// and only signalling to our own addresses should pay for more.
	if !f.sig.match(inner) {
		return false
	}
	n, ok := innerLen(inner)
	if !ok {
		return false
	}
	out := o.outer()
	if !o.hasDst {
		out.Dst = netip.Addr{}
	}
	f.ctr.signalled.Add(1)
	f.cfg.Signal(append([]byte(nil), inner[:n]...), out)
	return true
}

// ErrClosed is returned by SendUDP4 and Send6in4 after Close.
var ErrClosed = errors.New("tunnel: forwarder closed")

// SendUDP4 sends inner, an IPv6 packet, in UDP over IPv4 to ep (a KindUDP4
// endpoint: ep.Remote port ep.RemotePort) from ep.Local, through the
// forwarder's own UDP socket: so it leaves from the forwarder's port
// (4191), and a NAT on the path maps it as it maps the tunnel's packets.
// That is what RFC 5555 §4 needs for signalling: a home agent's Binding
// Acknowledgement must go back through the mapping the Binding Update came
// in by, and a mobile node's Binding Update must create (and its refreshes
// keep alive) the mapping its tunnel then uses. ep.LocalPort must be the
// forwarder's UDP port. The kernel builds the IPv4 and UDP headers, with
// DF set; the call may block briefly when the socket's buffer is full (at
// most the socket's send timeout). Safe for concurrent use; an error after
// Close is ErrClosed.
func (f *Forwarder) SendUDP4(ep Endpoint, inner []byte) error {
	if ep.Kind != KindUDP4 {
		return fmt.Errorf("tunnel: SendUDP4 to a %v endpoint", ep.Kind)
	}
	if ep.LocalPort != f.cfg.UDPPort {
		return fmt.Errorf("tunnel: SendUDP4 from port %d, the forwarder's is %d", ep.LocalPort, f.cfg.UDPPort)
	}
	return f.sendSignal(f.udp, ep, inner)
}

// Send6in4 sends inner, an IPv6 packet, as IPv6 in IPv4 (protocol 41, RFC
// 4213) to ep.Remote from ep.Local (a Kind6in4 endpoint), through the
// forwarder's protocol-41 socket. See SendUDP4.
func (f *Forwarder) Send6in4(ep Endpoint, inner []byte) error {
	if ep.Kind != Kind6in4 {
		return fmt.Errorf("tunnel: Send6in4 to a %v endpoint", ep.Kind)
	}
	return f.sendSignal(f.raw4, ep, inner)
}

// sendSignal sends inner on s to ep with ep.Local as the source.
func (f *Forwarder) sendSignal(s *sock, ep Endpoint, inner []byte) error {
	if err := ep.Validate(); err != nil {
		return err
	}
	if n, ok := innerLen(inner); !ok || n != len(inner) {
		return fmt.Errorf("tunnel: signalling packet of %d octets is not one IPv6 packet", len(inner))
	}
	f.sendMu.RLock()
	defer f.sendMu.RUnlock()
	if f.closed.Load() {
		return ErrClosed
	}
	if s == nil {
		return fmt.Errorf("tunnel: %v not enabled on this forwarder", ep.Kind)
	}
	local := netip.AddrFrom4(ep.Local.Unmap().As4()).As16()
	var oob [cmsgSpace]byte
	n := putPktinfo4(oob[:], &local, 0)
	sa := &unix.SockaddrInet4{Port: int(ep.RemotePort), Addr: ep.Remote.Unmap().As4()}
	if _, err := unix.SendmsgN(s.fd, inner, oob[:n], sa, 0); err != nil {
		f.ctr.signalSendErr.Add(1)
		return fmt.Errorf("tunnel: sending signalling to %v: %w", netip.AddrPortFrom(ep.Remote, ep.RemotePort), err)
	}
	f.ctr.signalSent.Add(1)
	return nil
}
