package mnd

import (
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/mdlayher/packet"
	"go.uber.org/zap"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/gomip6/gomip6/internal/daemon"
	"github.com/gomip6/gomip6/internal/ndproxy"
	"github.com/gomip6/gomip6/internal/netif"
	"github.com/gomip6/gomip6/mip6"
)

// Detecting Network Attachment (RFC 6059) in the daemon.
//
// mobilenode.Movement remembers the links it has seen (router link-local
// and link-layer address, prefixes, home or not). When an access link comes
// up, the daemon sends its Router Solicitation as before and, at the same
// moment, a unicast Neighbor Solicitation to each remembered router
// (Movement.DNAProbes), built whole and sent on an AF_PACKET socket of the
// interface to the router's remembered link-layer address. Not through
// the kernel: after a carrier loss its neighbour cache is empty, so a
// kernel-built NS would wait for a multicast resolution first, and the
// answer must be matched against the link-layer address it came from,
// which only a packet socket shows (Linux omits the Target Link-layer
// Address option when it answers a unicast NS).
//
// Routers answer a Neighbor Solicitation at once, while a solicited RA
// may be delayed up to MAX_RA_DELAY_TIME (500 ms, RFC 4861 §6.2.6), and an
// unsolicited one may be seconds away. The same socket reads the
// Neighbor Advertisements (a BPF filter passes only those addressed to
// this host); a valid solicited one whose source is a probed router goes
// to Movement.NeighborAdvertisement with the frame's source address, and a
// match there identifies the link: home at once, or the care-of address
// the kernel kept across the carrier loss registered at once. The
// router's RA, when it comes, confirms or corrects.
//
// The source of the probes is the interface's link-local address, which a
// carrier loss leaves in place: with our Source Link-layer Address
// option when it is preferred, without when it is optimistic (RFC 4429);
// while it is tentative or there is none yet, the probes wait for it.

// dnaState is the DNA state of the loop; everything here belongs to the
// loop goroutine except naCh.
type dnaState struct {
	conns map[string]*packet.Conn
	// ll is each access interface's link-local address usable as a
	// source, optimistic the ones still in optimistic DAD.
	ll         map[string]netip.Addr
	optimistic map[string]bool
	// pending: the link came up before a usable link-local address.
	pending map[string]bool
	naCh    chan naMsg
	// carrier is each access interface's carrier down count at its
	// last link event (carrier.go), carrierWarned set once the counts
	// were found missing.
	carrier       carrierWatch
	carrierWarned bool
}

// naMsg is a received Neighbor Advertisement that may answer a probe.
type naMsg struct {
	iface string
	src   netip.Addr
	mac   net.HardwareAddr
}

func (r *engine) dnaInit() {
	r.dna = dnaState{
		conns:      map[string]*packet.Conn{},
		ll:         map[string]netip.Addr{},
		optimistic: map[string]bool{},
		pending:    map[string]bool{},
		naCh:       make(chan naMsg, 16),
		carrier:    carrierWatch{},
	}
}

// dnaListen opens the DNA socket of access interface name (once).
func (r *engine) dnaListen(name string, index int) {
	if r.dna.conns[name] != nil {
		return
	}
	raw, err := bpf.Assemble(dnaFilter())
	if err != nil {
		r.log.Error("DNA filter", zap.Error(err))
		return
	}
	c, err := packet.Listen(&net.Interface{Index: index, Name: name}, packet.Datagram, unix.ETH_P_IPV6, &packet.Config{Filter: raw})
	if err != nil {
		r.log.Warn("DNA socket: link identification off on this interface", daemon.Iface(name), zap.Error(err))
		return
	}
	r.dna.conns[name] = c
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		readNA(c, name, r.done, r.dna.naCh)
	}()
}

// dnaFilter passes IPv6 packets to this host (PACKET_HOST: not our own
// outgoing ones) that are ICMPv6 Neighbor Advertisements at hop limit 255
// without extension headers, for a SOCK_DGRAM packet socket (offsets
// from the IPv6 header). parseDNAAnswer checks the rest.
func dnaFilter() []bpf.Instruction {
	return []bpf.Instruction{
		bpf.LoadExtension{Num: bpf.ExtType},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: unix.PACKET_HOST, SkipTrue: 8},
		bpf.LoadAbsolute{Off: 0, Size: 1},
		bpf.ALUOpConstant{Op: bpf.ALUOpShiftRight, Val: 4},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 6, SkipTrue: 5},
		bpf.LoadAbsolute{Off: 6, Size: 2}, // next header, hop limit
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: uint32(mip6.ProtoICMPv6)<<8 | 255, SkipTrue: 3},
		bpf.LoadAbsolute{Off: mip6.IPv6HeaderLen, Size: 1},
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: ndproxy.ICMPNeighborAdvertisement, SkipTrue: 1},
		bpf.RetConstant{Val: 512},
		bpf.RetConstant{Val: 0},
	}
}

// readNA reads Neighbor Advertisements from c until it is closed and hands
// the valid DNA answers to ch (dropped when the loop is behind: the RA
// still comes).
func readNA(c *packet.Conn, name string, done <-chan struct{}, ch chan<- naMsg) {
	buf := make([]byte, 512)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			if netif.ReadStop(err, done) {
				return
			}
			continue
		}
		pa, ok := from.(*packet.Addr)
		if !ok || len(pa.HardwareAddr) == 0 {
			continue
		}
		src, ok := parseDNAAnswer(buf[:n])
		if !ok {
			continue
		}
		select {
		case ch <- naMsg{iface: name, src: src, mac: slices.Clone(pa.HardwareAddr)}:
		case <-done:
			return
		default:
		}
	}
}

// dnaClose closes the DNA socket of name (the interface is gone).
func (r *engine) dnaClose(name string) {
	if c := r.dna.conns[name]; c != nil {
		c.Close()
		delete(r.dna.conns, name)
	}
	delete(r.dna.ll, name)
	delete(r.dna.optimistic, name)
	delete(r.dna.pending, name)
	delete(r.dna.carrier, name)
}

// dnaTeardown closes every DNA socket.
func (r *engine) dnaTeardown() {
	for n := range r.dna.conns {
		r.dnaClose(n)
	}
}

// dnaLinkLocal records a link-local address event of access interface
// name and sends the probes that waited for one.
func (r *engine) dnaLinkLocal(name string, a netip.Addr, added bool, flags int) {
	usable := added && flags&unix.IFA_F_DADFAILED == 0 &&
		(flags&unix.IFA_F_TENTATIVE == 0 || flags&unix.IFA_F_OPTIMISTIC != 0)
	switch {
	case usable:
		r.dna.ll[name] = a.WithZone("")
		r.dna.optimistic[name] = flags&unix.IFA_F_OPTIMISTIC != 0
		if r.dna.pending[name] {
			r.dnaProbe(name)
		}
	case r.dna.ll[name] == a.WithZone(""):
		delete(r.dna.ll, name)
		delete(r.dna.optimistic, name)
	}
}

// dnaProbe sends the DNA probes of access interface name, whose link
// just came up.
func (r *engine) dnaProbe(name string) {
	delete(r.dna.pending, name)
	c := r.dna.conns[name]
	if c == nil || !r.linkUp[name] {
		return
	}
	src, ok := r.dna.ll[name]
	if !ok {
		r.dna.pending[name] = true
		return
	}
	probes := r.mov.DNAProbes(name)
	if len(probes) == 0 {
		return
	}
	var mac net.HardwareAddr
	if !r.dna.optimistic[name] {
		mac = r.hwaddr(name)
	}
	sent := 0
	for _, p := range probes {
		pkt := buildDNAProbe(src, p.Addr, mac)
		if pkt == nil {
			continue
		}
		if _, err := c.WriteTo(pkt, &packet.Addr{HardwareAddr: p.MAC}); err != nil {
			r.log.Debug("DNA probe not sent", daemon.Iface(name), zap.Stringer("router", p.Addr), zap.Error(err))
			continue
		}
		sent++
	}
	r.log.Debug("DNA probes sent", zap.String("event", "dna_probe"), daemon.Iface(name), zap.Int("routers", sent))
}

// onNA hands a Neighbor Advertisement to the movement detection.
func (r *engine) onNA(m naMsg) {
	if !slices.Contains(r.cfg.Interfaces, m.iface) {
		return
	}
	evs := r.mov.NeighborAdvertisement(m.iface, m.src, m.mac, time.Now())
	if len(evs) > 0 {
		r.log.Info("known link identified (DNA)", zap.String("event", "dna"), daemon.Iface(m.iface),
			zap.Stringer("router", m.src), zap.Stringer("mac", m.mac))
		// The routes go via this router, as if its RA had come.
		r.routers[m.iface] = m.src
	}
	r.moves(evs)
}
