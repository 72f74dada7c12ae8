package ra

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gomip6/gomip6/internal/netif"

	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"

	"github.com/gomip6/gomip6/mip6"
)

// allNodes and allRouters are the link-scope multicast groups of RFC 4291
// §2.7.1: RAs go to the first (RFC 4861 §6.2.4), RSs come to the second
// (§6.3.7).
var (
	allNodes   = netip.MustParseAddr("ff02::1")
	allRouters = netip.MustParseAddr("ff02::2")
)

// SenderConfig configures a Sender.
type SenderConfig struct {
	// Params is what the RAs say at first (SetParams changes it); Timing
	// when they go out.
	Params Params
	Timing Timing
	// HAList, when not nil, gets this home agent's own entry and is fed
	// with the RAs of the other home agents on the link (RFC 6275
	// §10.5.1); expired entries are removed as time passes.
	HAList *HAList
	// Rand is the scheduler's random source; nil means math/rand/v2.
	Rand Rand
	// OnError, when not nil, receives errors that do not stop the sender:
	// a failed send or receive. It runs on the sender's goroutines and
	// must not block. Library code does not log; the daemon does.
	OnError func(error)
	// OnRA, when not nil, is called with every valid RA received from
	// another router, after the Home Agents List has been updated. Same
	// rules as OnError.
	OnRA func(src netip.Addr, ra *mip6.RouterAdvertisement)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Passive listens without advertising: no RAs (not even the final
	// one), Router Solicitations ignored, but other routers' RAs still
	// read and the Home Agents List kept, with this home agent's own
	// entry (for DHAAD). For a home link where radvd advertises (RFC
	// 6275 §10.5.1: the home agent still learns the other home agents).
	Passive bool
}

// Sender is the home agent's built-in RA sender on one home link (Linux):
// a raw ICMPv6 socket bound to the interface, a goroutine that runs the
// Scheduler and sends, and one that reads Router Solicitations and other
// routers' RAs.
type Sender struct {
	cfg     SenderConfig
	ifi     *net.Interface
	conn    *ipv6.PacketConn
	sched   *Scheduler
	rs      chan struct{}
	trigger chan struct{}
	stop    chan struct{}
	// write sends an RA's bytes to all-nodes on the link: the socket's,
	// or a test's.
	write          func([]byte) error
	sendWG, readWG sync.WaitGroup

	closeOnce sync.Once
	closeErr  error

	rasSent, rsReceived, rasReceived, dropped atomic.Uint64
	params                                    atomic.Pointer[Params]
	linkLocal                                 netip.Addr
}

// SetParams changes what the RAs say from the next one on, as a
// configuration reload does (SIGHUP applies only what changed, issue 4):
// the sender keeps running, so hosts never see a final RA. The timing is
// kept. It updates the own entry of the Home Agents List too.
func (s *Sender) SetParams(p Params) error {
	if err := p.Validate(); err != nil {
		return err
	}
	s.params.Store(&p)
	if s.cfg.HAList != nil {
		s.cfg.HAList.SetSelf(p.Self(s.linkLocal))
	}
	return nil
}

// SenderStats are a Sender's counters, for metrics.
type SenderStats struct {
	// RAsSent counts RAs sent, the final one included.
	RAsSent uint64
	// RSReceived counts valid Router Solicitations received.
	RSReceived uint64
	// RAsReceived counts valid RAs received from other routers.
	RAsReceived uint64
	// Dropped counts received RSs and RAs that failed validation (RFC
	// 4861 §6.1), silently discarded.
	Dropped uint64
}

// Stats returns the counters.
func (s *Sender) Stats() SenderStats {
	return SenderStats{
		RAsSent:     s.rasSent.Load(),
		RSReceived:  s.rsReceived.Load(),
		RAsReceived: s.rasReceived.Load(),
		Dropped:     s.dropped.Load(),
	}
}

// Listen opens the raw ICMPv6 socket on ifname and starts advertising.
// The socket belongs to the network namespace of the calling thread. It
// needs CAP_NET_RAW.
func Listen(ifname string, cfg SenderConfig) (*Sender, error) {
	if err := cfg.Params.Validate(); err != nil {
		return nil, err
	}
	sched, err := NewScheduler(cfg.Timing, cfg.Rand)
	if err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("ra: %w", err)
	}
	conn, err := openSocket(ifi)
	if err != nil {
		return nil, err
	}
	s := newSender(cfg, sched)
	s.ifi, s.conn, s.write = ifi, conn, s.writeSocket
	s.linkLocal = netif.LinkLocal(ifi)
	if err := s.SetParams(cfg.Params); err != nil {
		conn.Close()
		return nil, err
	}
	s.sched.Start(cfg.Now())
	s.sendWG.Add(1)
	s.readWG.Add(1)
	go s.readLoop()
	go s.sendLoop()
	return s, nil
}

// newSender returns a Sender without socket or goroutines: Listen adds
// them, a test its own write.
func newSender(cfg SenderConfig, sched *Scheduler) *Sender {
	return &Sender{cfg: cfg, sched: sched, rs: make(chan struct{}, 1), trigger: make(chan struct{}, 1), stop: make(chan struct{})}
}

// Trigger asks for an RA with the current parameters as soon as
// MinDelayBetweenRAs allows (Scheduler.Trigger has the rules): for a
// change of what the RAs say, like a new link-layer address, or a link
// that came back, so that hosts need not wait for the next scheduled RA.
// It does not block; a passive or closed sender ignores it.
func (s *Sender) Trigger() {
	select {
	case s.trigger <- struct{}{}:
	default: // one is already asked for
	}
}

// openSocket opens the raw ICMPv6 socket on ifi: bound to the device so
// that only the home link's packets arrive, member of all-routers to
// receive RSs, multicast hop limit 255, no loopback of our own RAs, and
// an ICMPv6 filter that passes RS and RA only.
func openSocket(ifi *net.Interface) (*ipv6.PacketConn, error) {
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = unix.BindToDevice(int(fd), ifi.Name)
		})
		return errors.Join(err, serr)
	}}
	c, err := lc.ListenPacket(context.Background(), "ip6:ipv6-icmp", "::")
	if err != nil {
		return nil, fmt.Errorf("ra: raw ICMPv6 socket: %w", err)
	}
	p := ipv6.NewPacketConn(c)
	var f ipv6.ICMPFilter
	f.SetAll(true)
	f.Accept(ipv6.ICMPTypeRouterSolicitation)
	f.Accept(ipv6.ICMPTypeRouterAdvertisement)
	steps := []func() error{
		func() error { return p.SetICMPFilter(&f) },
		func() error { return p.SetMulticastInterface(ifi) },
		func() error { return p.SetMulticastHopLimit(ndHopLimit) },
		func() error { return p.SetHopLimit(ndHopLimit) },
		func() error { return p.SetMulticastLoopback(false) },
		func() error {
			return p.JoinGroup(ifi, &net.IPAddr{IP: net.IP(allRouters.AsSlice())})
		},
		func() error {
			return p.SetControlMessage(ipv6.FlagHopLimit|ipv6.FlagDst|ipv6.FlagInterface, true)
		},
	}
	for _, step := range steps {
		if err := step(); err != nil {
			p.Close()
			return nil, fmt.Errorf("ra: socket on %s: %w", ifi.Name, err)
		}
	}
	return p, nil
}

func (s *Sender) report(err error) {
	if err != nil && s.cfg.OnError != nil {
		s.cfg.OnError(err)
	}
}

// send marshals ra and sends it to all-nodes with hop limit 255. The
// kernel fills the ICMPv6 checksum (raw ICMPv6 sockets always do, RFC 3542
// §3.1) and picks the interface's link-local address as source, as RFC
// 4861 §4.2 requires of RAs.
func (s *Sender) send(ra *mip6.RouterAdvertisement) error {
	b, err := mip6.MarshalICMP(ra)
	if err != nil {
		return err
	}
	if err := s.write(b); err != nil {
		return err
	}
	s.rasSent.Add(1)
	return nil
}

// writeSocket sends b on the raw socket to all-nodes, hop limit 255.
func (s *Sender) writeSocket(b []byte) error {
	cm := &ipv6.ControlMessage{HopLimit: ndHopLimit, IfIndex: s.ifi.Index}
	// No zone in dst: a zone name is looked up in the namespace of the
	// calling thread, which need not be the socket's; the interface index
	// in the control message (IPV6_PKTINFO) picks the link.
	dst := &net.IPAddr{IP: net.IP(allNodes.AsSlice())}
	if _, err := s.conn.WriteTo(b, cm, dst); err != nil {
		return fmt.Errorf("ra: send RA on %s: %w", s.ifi.Name, err)
	}
	return nil
}

// expireEvery is how often the Home Agents List is swept when nothing else
// wakes the send loop.
const expireEvery = time.Second

func (s *Sender) sendLoop() {
	defer s.sendWG.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	if s.cfg.Passive {
		s.passiveLoop()
		return
	}
	for {
		now := s.cfg.Now()
		if s.sched.Due(now) {
			s.report(s.send(s.params.Load().RouterAdvertisement()))
			s.sched.Sent(now)
			continue
		}
		if s.cfg.HAList != nil {
			s.cfg.HAList.Expire(now)
		}
		timer.Reset(min(s.sched.Next().Sub(now), expireEvery))
		select {
		case <-s.stop:
			s.final()
			return
		case <-s.rs:
			s.sched.Solicited(s.cfg.Now())
		case <-s.trigger:
			s.sched.Trigger(s.cfg.Now())
		case <-timer.C:
		}
	}
}

// final sends the final RA (RFC 4861 §6.2.5), waiting first if the rate
// limit demands; that wait is at most MinDelayBetweenRAs.
func (s *Sender) final() {
	now := s.cfg.Now()
	if d := s.sched.Stop(now).Sub(now); d > 0 {
		time.Sleep(d)
	}
	s.report(s.send(s.params.Load().FinalRouterAdvertisement()))
}

// passiveLoop is sendLoop without sending: it only expires the Home
// Agents List.
func (s *Sender) passiveLoop() {
	t := time.NewTicker(expireEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-s.rs: // nobody to answer
		case <-s.trigger: // nothing to send
		case <-t.C:
			if s.cfg.HAList != nil {
				s.cfg.HAList.Expire(s.cfg.Now())
			}
		}
	}
}

func (s *Sender) readLoop() {
	defer s.readWG.Done()
	buf := make([]byte, 65536)
	for {
		n, cm, src, err := s.conn.ReadFrom(buf)
		if err != nil {
			select {
			case <-s.stop:
				return
			default:
			}
			if !errors.Is(err, net.ErrClosed) {
				s.report(fmt.Errorf("ra: receive on %s: %w", s.ifi.Name, err))
			}
			if netif.ReadStop(err, s.stop) {
				return
			}
			continue
		}
		ip, ok := src.(*net.IPAddr)
		if !ok || cm == nil {
			continue
		}
		from, _ := netip.AddrFromSlice(ip.IP)
		to, _ := netip.AddrFromSlice(cm.Dst)
		if cm.IfIndex != 0 && cm.IfIndex != s.ifi.Index {
			continue
		}
		b := buf[:n]
		switch {
		case n > 0 && b[0] == mip6.ICMPRouterSolicitation:
			if ValidateRS(b, from.Unmap(), to.Unmap(), cm.HopLimit) != nil {
				s.dropped.Add(1) // invalid ND is silently discarded (RFC 4861 §6.1)
				continue
			}
			s.rsReceived.Add(1)
			select {
			case s.rs <- struct{}{}:
			default: // an answer is already coming
			}
		case n > 0 && b[0] == mip6.ICMPRouterAdvertisement:
			m, err := ValidateRA(b, from.Unmap(), to.Unmap(), cm.HopLimit)
			if err != nil {
				s.dropped.Add(1)
				continue
			}
			s.rasReceived.Add(1)
			if s.cfg.HAList != nil {
				s.cfg.HAList.Update(from, m, s.cfg.Now())
			}
			if s.cfg.OnRA != nil {
				s.cfg.OnRA(from, m)
			}
		}
	}
}

// Close stops advertising: it sends the final RA with Router Lifetime 0
// (RFC 4861 §6.2.5), closes the socket and waits for the goroutines. It
// returns the socket's close error; later calls return the same.
func (s *Sender) Close() error {
	s.closeOnce.Do(func() {
		close(s.stop)
		s.sendWG.Wait() // the final RA goes out before the socket closes
		s.closeErr = s.conn.Close()
		s.readWG.Wait()
	})
	return s.closeErr
}
