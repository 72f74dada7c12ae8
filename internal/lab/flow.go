package lab

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"

	"github.com/gomip6/gomip6/internal/netlab"
)

// Probe is one ICMPv6 Echo Request of the probe stream.
type Probe struct {
	Seq  int       `json:"seq"`
	Sent time.Time `json:"sent"`
	// Received is when the Echo Reply came back; zero if it never did.
	Received time.Time `json:"received,omitzero"`
}

// Answered reports whether the probe's reply came back.
func (p Probe) Answered() bool { return !p.Received.IsZero() }

// Prober sends an ICMPv6 Echo Request (RFC 4443 §4.1) from a namespace to
// one destination every interval and records which come back. The mobile
// node's kernel answers them, so no program runs on its side.
type Prober struct {
	c        *icmp.PacketConn
	dst      *net.IPAddr
	id       int
	token    [8]byte
	interval time.Duration

	mu     sync.Mutex
	probes []Probe

	stop chan struct{}
	wg   sync.WaitGroup
}

// StartProber starts a probe stream from ns to dst (an IPv6 address).
func StartProber(ns *netlab.NS, dst netip.Addr, interval time.Duration) (*Prober, error) {
	if !dst.Is6() || dst.Is4In6() {
		return nil, fmt.Errorf("lab: probe destination %s is not IPv6", dst)
	}
	p := &Prober{dst: &net.IPAddr{IP: dst.AsSlice()}, interval: interval, stop: make(chan struct{})}
	var idb [2]byte
	rand.Read(idb[:])
	rand.Read(p.token[:])
	p.id = int(binary.BigEndian.Uint16(idb[:]))
	if err := ns.Do(func() (err error) {
		p.c, err = icmp.ListenPacket("ip6:ipv6-icmp", "::")
		return err
	}); err != nil {
		return nil, fmt.Errorf("lab: probe socket in %s: %w", ns.Name, err)
	}
	// Only Echo Replies reach the socket (RFC 3542 §3.2), not every
	// Neighbor Discovery message of the namespace.
	var f ipv6.ICMPFilter
	f.SetAll(true)
	f.Accept(ipv6.ICMPTypeEchoReply)
	if err := p.c.IPv6PacketConn().SetICMPFilter(&f); err != nil {
		p.c.Close()
		return nil, fmt.Errorf("lab: probe filter: %w", err)
	}
	p.wg.Add(2)
	go p.send()
	go p.receive()
	return p, nil
}

func (p *Prober) send() {
	defer p.wg.Done()
	t := time.NewTicker(p.interval)
	defer t.Stop()
	for {
		p.mu.Lock()
		seq := len(p.probes) + 1
		p.probes = append(p.probes, Probe{Seq: seq, Sent: time.Now()})
		p.mu.Unlock()
		data := append(p.token[:], make([]byte, 8)...)
		binary.BigEndian.PutUint64(data[8:], uint64(seq))
		msg := icmp.Message{Type: ipv6.ICMPTypeEchoRequest, Body: &icmp.Echo{ID: p.id, Seq: seq & 0xffff, Data: data}}
		// The kernel computes the ICMPv6 checksum on raw ICMPv6 sockets
		// (RFC 3542 §3.1). A send error (no route for now) is a lost
		// probe like any other.
		if b, err := msg.Marshal(nil); err == nil {
			p.c.WriteTo(b, p.dst)
		}
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
	}
}

func (p *Prober) receive() {
	defer p.wg.Done()
	buf := make([]byte, 1500)
	for {
		n, _, err := p.c.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		now := time.Now()
		m, err := icmp.ParseMessage(58, buf[:n])
		if err != nil || m.Type != ipv6.ICMPTypeEchoReply {
			continue
		}
		echo, ok := m.Body.(*icmp.Echo)
		if !ok || echo.ID != p.id || len(echo.Data) < 16 || string(echo.Data[:8]) != string(p.token[:]) {
			continue
		}
		seq := int(binary.BigEndian.Uint64(echo.Data[8:16]))
		p.mu.Lock()
		if seq >= 1 && seq <= len(p.probes) && p.probes[seq-1].Received.IsZero() {
			p.probes[seq-1].Received = now
		}
		p.mu.Unlock()
	}
}

// Snapshot returns a copy of the trace so far.
func (p *Prober) Snapshot() []Probe {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Probe(nil), p.probes...)
}

// Stop stops sending, waits grace for the last replies and returns the
// trace.
func (p *Prober) Stop(grace time.Duration) []Probe {
	select {
	case <-p.stop:
	default:
		close(p.stop)
		time.Sleep(grace)
		p.c.Close()
		p.wg.Wait()
	}
	return p.Snapshot()
}

// Echo is one message of the TCP flow.
type Echo struct {
	Seq  int       `json:"seq"`
	Sent time.Time `json:"sent"`
	// Received is when its echo came back; zero if it never did.
	Received time.Time `json:"received,omitzero"`
}

// TCPTrace is what the TCP flow saw.
type TCPTrace struct {
	// Connected is when the connection was established; zero if it never
	// was (then Err says why).
	Connected time.Time
	Msgs      []Echo
	// Err is the first error of the connection (a reset, a timeout),
	// ErrAt when it happened.
	Err   error
	ErrAt time.Time
	// OutOfOrder counts echoes that did not come back in sequence.
	OutOfOrder int
}

// tcpMsgLen is the size of one message: sequence number and send time.
const tcpMsgLen = 16

// TCPFlow is a TCP connection from a client namespace to an echo server in
// another, on which the client writes a small sequenced message every
// interval and reads the echoes.
type TCPFlow struct {
	ln   net.Listener
	conn net.Conn

	mu    sync.Mutex
	trace TCPTrace

	stop       chan struct{}
	writerDone chan struct{} // closed when the writer goroutine returns
	wg         sync.WaitGroup
	srv        sync.WaitGroup
	conns      []net.Conn // the server's side, guarded by mu
}

// ListenEcho starts the echo server: a listener in ns on [addr]:port, bound
// with IPV6_FREEBIND so that it can be opened before the address is
// assigned (the mobile node's daemon assigns the home address).
func ListenEcho(ns *netlab.NS, addr netip.Addr, port uint16) (*TCPFlow, error) {
	f := &TCPFlow{stop: make(chan struct{})}
	lc := net.ListenConfig{Control: func(network, address string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_FREEBIND, 1)
		}); err != nil {
			return err
		}
		return serr
	}}
	if err := ns.Do(func() (err error) {
		f.ln, err = lc.Listen(context.Background(), "tcp6", netip.AddrPortFrom(addr, port).String())
		return err
	}); err != nil {
		return nil, fmt.Errorf("lab: echo server in %s: %w", ns.Name, err)
	}
	f.srv.Add(1)
	go func() {
		defer f.srv.Done()
		for {
			c, err := f.ln.Accept()
			if err != nil {
				return
			}
			f.mu.Lock()
			f.conns = append(f.conns, c)
			f.mu.Unlock()
			f.srv.Add(1)
			go func() {
				defer f.srv.Done()
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	return f, nil
}

// Dial connects the client from ns to the echo server at [addr]:port,
// retrying until ctx is done, and starts writing a message every interval.
func (f *TCPFlow) Dial(ctx context.Context, ns *netlab.NS, addr netip.Addr, port uint16, interval time.Duration) error {
	target := netip.AddrPortFrom(addr, port).String()
	var last error
	for {
		err := ns.Do(func() (err error) {
			d := net.Dialer{Timeout: time.Second}
			f.conn, err = d.DialContext(ctx, "tcp6", target)
			return err
		})
		if err == nil {
			break
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("lab: tcp to %s from %s: %w", target, ns.Name, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
	f.mu.Lock()
	f.trace.Connected = time.Now()
	f.mu.Unlock()
	f.wg.Add(2)
	f.writerDone = make(chan struct{})
	go f.write(interval)
	go f.read()
	return nil
}

func (f *TCPFlow) fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.trace.Err == nil {
		f.trace.Err, f.trace.ErrAt = err, time.Now()
	}
}

func (f *TCPFlow) write(interval time.Duration) {
	defer f.wg.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	var b [tcpMsgLen]byte
	defer close(f.writerDone)
	for seq := 1; ; seq++ {
		// Stop wins over a tick that came at the same moment: nothing is
		// written once Stop has begun draining.
		select {
		case <-f.stop:
			return
		default:
		}
		now := time.Now()
		f.mu.Lock()
		f.trace.Msgs = append(f.trace.Msgs, Echo{Seq: seq, Sent: now})
		f.mu.Unlock()
		binary.BigEndian.PutUint64(b[:8], uint64(seq))
		binary.BigEndian.PutUint64(b[8:], uint64(now.UnixNano()))
		if _, err := f.conn.Write(b[:]); err != nil {
			f.fail(err)
			return
		}
		select {
		case <-f.stop:
			return
		case <-t.C:
		}
	}
}

func (f *TCPFlow) read() {
	defer f.wg.Done()
	var b [tcpMsgLen]byte
	next := 1
	for {
		if _, err := io.ReadFull(f.conn, b[:]); err != nil {
			if !errors.Is(err, net.ErrClosed) {
				f.fail(err)
			}
			return
		}
		now := time.Now()
		seq := int(binary.BigEndian.Uint64(b[:8]))
		f.mu.Lock()
		if seq != next {
			f.trace.OutOfOrder++
		}
		next = seq + 1
		if seq >= 1 && seq <= len(f.trace.Msgs) && f.trace.Msgs[seq-1].Received.IsZero() {
			f.trace.Msgs[seq-1].Received = now
		}
		f.mu.Unlock()
	}
}

// Snapshot returns a copy of the trace so far.
func (f *TCPFlow) Snapshot() TCPTrace {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.trace
	t.Msgs = append([]Echo(nil), f.trace.Msgs...)
	return t
}

// echoed reports whether every message written has come back.
func (f *TCPFlow) echoed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, m := range f.trace.Msgs {
		if m.Received.IsZero() {
			return false
		}
	}
	return true
}

// Stop stops writing, waits up to drain for the outstanding echoes, closes
// the connection and the server, and returns the trace.
func (f *TCPFlow) Stop(drain time.Duration) TCPTrace {
	select {
	case <-f.stop:
		return f.Snapshot()
	default:
	}
	close(f.stop)
	if f.conn != nil {
		// The writer first, so that the last message it sent is in the
		// trace before the drain waits for its echo, and no write races
		// the Close below.
		<-f.writerDone
		deadline := time.Now().Add(drain)
		for !f.echoed() && time.Now().Before(deadline) && f.Snapshot().Err == nil {
			time.Sleep(20 * time.Millisecond)
		}
		f.conn.Close()
	}
	f.wg.Wait()
	// The server's side may never see the client's FIN (the mobile node
	// may be unreachable by now): close it too.
	f.ln.Close()
	f.mu.Lock()
	for _, c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
	f.srv.Wait()
	return f.Snapshot()
}

// Port is the TCP flow's port on the home address.
const Port = 7 // echo (RFC 862)
