//go:build linux

package ebpf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/gomip6/gomip6/tunnel"
)

// RouteProtocol is the rtm_protocol of every route an Accelerator adds
// ("ip route show proto 0xb6"), so that a crashed run's routes can be
// found and removed (Cleanup). It is outside the values iproute2 names in
// /etc/iproute2/rt_protos.
const RouteProtocol = 0xb6

// DefaultMetric is the metric of the accelerated routes: below the
// kernel's default of 1024 that the plain routes into the tun device
// usually have, so the accelerated route wins while it exists and the
// plain one takes over when it is removed.
const DefaultMetric = 512

// ProgramName begins the names of the programs and maps an Accelerator
// loads ("bpftool prog show", "bpftool map show"), for finding
// leftovers.
const ProgramName = "gomip6_"

// ErrClosed is returned by the methods of a closed Accelerator.
var ErrClosed = errors.New("ebpf: accelerator closed")

// Config configures an Accelerator.
type Config struct {
	// Tunnel is the tunnel's configuration: Role (which inner address
	// bindings are keyed on), HopLimit, ECN and DSCP, applied as
	// Tunnel.Encap applies them.
	Tunnel tunnel.Config
	// Device is the tun device of the userspace forwarder. Accelerated
	// routes name it, so that what the encapsulation program hands back
	// (no binding, a non-TCP GSO packet) still reaches the forwarder.
	// Without it (tests) Update adds no route and Route fails.
	Device string
	// Interfaces are where tunnel packets arrive: the decapsulation
	// program is attached (tcx ingress) to each.
	Interfaces []string
	// Metric is the accelerated routes' metric; 0 means DefaultMetric.
	Metric int
}

// Accelerator is the kernel's share of a tunnel: a BPF_PROG_TYPE_LWT_XMIT
// program on routes into the tunnel encapsulates, a tcx ingress program
// on the arriving interfaces decapsulates, both from one BPF map that
// mirrors the binding table (Update, Delete, Sync). What the programs do
// not handle goes on unchanged to the userspace forwarder, which stays
// the fallback. Its methods are safe for concurrent use.
type Accelerator struct {
	cfg      Config
	table    *ebpf.Map // LPM trie: binding prefix -> outer header template
	counters *ebpf.Map // per-CPU u64 per counter slot
	encap    *ebpf.Program
	decap    *ebpf.Program
	devIndex int
	devMTU   int
	nl       *netlink.Handle // a socket of the namespace New ran in

	mu     sync.Mutex
	links  []link.Link
	routes map[routeKey]*netlink.Route
	binds  map[netip.Prefix]tunnel.Endpoint
	// follow are a mobile node's routes added with no MTU: they take
	// the tunnel MTU of its binding (followMTU, from the last Update),
	// so a path MTU to the home agent that shrank reaches the local
	// senders as a had's per-binding routes' does.
	follow    map[routeKey]RouteSpec
	followMTU int
}

// New loads the programs, attaches the decapsulation program to
// cfg.Interfaces and returns the Accelerator, with no binding and no
// route yet. It fails without CAP_BPF and CAP_NET_ADMIN, and on kernels
// before 6.6 (tcx) or without BPF_F_ADJ_ROOM_DECAP_L3_IPV6 (6.3): the
// caller then goes on without it.
func New(cfg Config) (a *Accelerator, err error) {
	if cfg.Metric == 0 {
		cfg.Metric = DefaultMetric
	}
	if cfg.Tunnel.HopLimit == 0 {
		cfg.Tunnel.HopLimit = tunnel.DefaultHopLimit
	}
	a = &Accelerator{cfg: cfg, routes: map[routeKey]*netlink.Route{}, binds: map[netip.Prefix]tunnel.Endpoint{},
		follow: map[routeKey]RouteSpec{}}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	// Routes are changed from whichever thread calls Update, maybe in
	// another network namespace: the netlink socket opened here stays in
	// this one.
	if a.nl, err = netlink.NewHandle(unix.NETLINK_ROUTE); err != nil {
		return nil, fmt.Errorf("ebpf: netlink: %w", err)
	}
	if cfg.Device != "" {
		dev, err := net.InterfaceByName(cfg.Device)
		if err != nil {
			return nil, fmt.Errorf("ebpf: device: %w", err)
		}
		a.devIndex, a.devMTU = dev.Index, dev.MTU
	}
	a.table, err = ebpf.NewMap(&ebpf.MapSpec{
		Name: ProgramName + "table", Type: ebpf.LPMTrie, KeySize: keySize, ValueSize: valueSize,
		MaxEntries: 1 << 16, Flags: unix.BPF_F_NO_PREALLOC,
	})
	if err != nil {
		return nil, fmt.Errorf("ebpf: binding map: %w", err)
	}
	a.counters, err = ebpf.NewMap(&ebpf.MapSpec{
		Name: ProgramName + "ctr", Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 8, MaxEntries: uint32(numCounters),
	})
	if err != nil {
		return nil, fmt.Errorf("ebpf: counter map: %w", err)
	}
	a.encap, err = ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: ProgramName + "encap", Type: ebpf.LWTXmit, License: "GPL",
		Instructions: encapInsns(cfg.Tunnel, a.table.FD(), a.counters.FD()),
	})
	if err != nil {
		return nil, fmt.Errorf("ebpf: encapsulation program: %w", err)
	}
	a.decap, err = ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: ProgramName + "decap", Type: ebpf.SchedCLS, License: "GPL",
		Instructions: decapInsns(cfg.Tunnel, a.table.FD(), a.counters.FD()),
	})
	if err != nil {
		return nil, fmt.Errorf("ebpf: decapsulation program: %w", err)
	}
	for _, name := range cfg.Interfaces {
		ifi, err := net.InterfaceByName(name)
		if err != nil {
			return nil, fmt.Errorf("ebpf: %w", err)
		}
		// A tcx link lives as long as its file descriptor: a crashed
		// process leaves no program on the interface.
		l, err := link.AttachTCX(link.TCXOptions{Interface: ifi.Index, Program: a.decap, Attach: ebpf.AttachTCXIngress})
		if err != nil {
			return nil, fmt.Errorf("ebpf: attach to %s: %w", name, err)
		}
		a.links = append(a.links, l)
	}
	return a, nil
}

// template returns the map value of endpoint e: the outer header with the
// per-packet fields zero, and e's kind.
func (a *Accelerator) template(e tunnel.Endpoint) ([valueSize]byte, error) {
	var v [valueSize]byte
	switch e.Kind {
	case tunnel.KindIPv6:
		v[0] = 0x60
		v[6] = protoIPv6Encap
		v[7] = a.cfg.Tunnel.HopLimit
		l, r := e.Local.As16(), e.Remote.As16()
		copy(v[8:], l[:])
		copy(v[24:], r[:])
	case tunnel.Kind6in4:
		v[0] = 0x45
		binary.BigEndian.PutUint16(v[6:], 0x4000) // DF (RFC 4213 §3.2.1)
		v[8] = a.cfg.Tunnel.HopLimit
		v[9] = protoIPv6Encap
		l, r := e.Local.Unmap().As4(), e.Remote.Unmap().As4()
		copy(v[12:], l[:])
		copy(v[16:], r[:])
	default:
		return v, fmt.Errorf("ebpf: %v: only IPv6 in IPv6 and 6in4 are accelerated", e.Kind)
	}
	binary.NativeEndian.PutUint32(v[valKind:], uint32(e.Kind))
	return v, nil
}

func lpmKey(p netip.Prefix) [keySize]byte {
	var k [keySize]byte
	binary.NativeEndian.PutUint32(k[:], uint32(p.Bits()))
	a := p.Masked().Addr().As16()
	copy(k[4:], a[:])
	return k
}

// Update adds or changes binding b (a home address /128 or a mobile
// network prefix) in the map both programs read. On a home agent it also
// adds the accelerated route for b's prefix into the tunnel, with b's
// tunnel MTU (Binding.TunnelMTU, from the path MTU it has now); a mobile
// node's routes (what it sends through its home agent) are the caller's:
// Route. Kinds other than IPv6 in IPv6 and 6in4, and IPv4 home addresses,
// are refused (the forwarder keeps them).
func (a *Accelerator) Update(b *tunnel.Binding) error {
	p, e := b.Prefix(), b.Endpoint()
	if !p.Addr().Is6() || p.Addr().Is4In6() {
		return fmt.Errorf("ebpf: %v: not an IPv6 prefix", p)
	}
	v, err := a.template(e)
	if err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.table == nil {
		return ErrClosed
	}
	k := lpmKey(p)
	if err := a.table.Put(k[:], v[:]); err != nil {
		return fmt.Errorf("ebpf: %v: %w", p, err)
	}
	if a.cfg.Tunnel.Role == tunnel.RoleMobileNode && b.TunnelMTU() != a.followMTU {
		a.followMTU = b.TunnelMTU()
		for _, rs := range a.follow {
			rs.MTU = a.followMTU
			if err := a.route(rs); err != nil {
				a.followMTU = 0 // tried again at the next Update
				return err
			}
		}
	}
	if a.cfg.Tunnel.Role == tunnel.RoleHomeAgent && a.devIndex != 0 {
		if err := a.route(RouteSpec{Dst: p, MTU: b.TunnelMTU()}); err != nil {
			// All of the binding stays with the forwarder, and no map
			// entry outlives the binding unknown to binds; the next
			// Sync tries again.
			a.table.Delete(k[:])
			delete(a.binds, p)
			return err
		}
	}
	a.binds[p] = e
	return nil
}

// binding returns the endpoint the map has for p.
func (a *Accelerator) binding(p netip.Prefix) (tunnel.Endpoint, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	e, ok := a.binds[p.Masked()]
	return e, ok
}

// Delete removes the binding of p and, on a home agent, its route.
func (a *Accelerator) Delete(p netip.Prefix) error {
	p = p.Masked()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.table == nil {
		return ErrClosed
	}
	k := lpmKey(p)
	err := a.table.Delete(k[:])
	if errors.Is(err, ebpf.ErrKeyNotExist) {
		err = nil
	}
	delete(a.binds, p)
	if a.cfg.Tunnel.Role == tunnel.RoleHomeAgent {
		err = errors.Join(err, a.unroute(a.key(RouteSpec{Dst: p})))
	}
	return err
}

// Sync makes the map (and a home agent's routes) match t: bindings of t
// are updated, bindings no longer in t deleted. Bindings of kinds the
// programs do not handle are left to the forwarder.
func (a *Accelerator) Sync(t *tunnel.Table) error {
	want := map[netip.Prefix]*tunnel.Binding{}
	t.Range(func(b *tunnel.Binding) bool {
		if k := b.Kind(); k == tunnel.KindIPv6 || k == tunnel.Kind6in4 {
			if p := b.Prefix(); p.Addr().Is6() && !p.Addr().Is4In6() {
				want[p] = b
			}
		}
		return true
	})
	var errs []error
	a.mu.Lock()
	var gone []netip.Prefix
	for p, e := range a.binds {
		if w, ok := want[p]; !ok {
			gone = append(gone, p)
		} else if w.Endpoint() == e {
			delete(want, p)
		}
	}
	a.mu.Unlock()
	for _, p := range gone {
		errs = append(errs, a.Delete(p))
	}
	for _, b := range want {
		errs = append(errs, a.Update(b))
	}
	return errors.Join(errs...)
}

// RouteSpec is an accelerated route into the tunnel (AddRoute). Like any
// IPv6 route, it is identified in the kernel by (Table, Dst, Metric):
// AddRoute replaces the route with that key, whatever its protocol or
// device, in one RTM_NEWROUTE with NLM_F_REPLACE, so a plain route into
// the tun device becomes an accelerated one (and back, when the caller
// replaces it again) without an instant with no route to Dst.
type RouteSpec struct {
	// Dst is the destination: on a mobile node what goes through the
	// home agent (a default route, the home prefix).
	Dst netip.Prefix
	// Src is the preferred source address (RTA_PREFSRC; zero for none,
	// else an address of this node): a mobile node's home address.
	Src netip.Addr
	// MTU is the tunnel MTU: 0, or at least the device's MTU, means the
	// device's; on a mobile node 0 means its binding's tunnel MTU
	// (tunnel.Binding.TunnelMTU, as the last Update gave it), followed
	// as the path MTU to the home agent changes.
	MTU int
	// Metric is the route's metric; 0 means Config.Metric.
	Metric int
	// Table is the routing table; 0 means the main table.
	Table int
}

// routeKey is a route's identity in the kernel: what RTM_NEWROUTE with
// NLM_F_REPLACE replaces.
type routeKey struct {
	table  int
	dst    netip.Prefix
	metric int
}

// key returns r's identity with the defaults applied.
func (a *Accelerator) key(r RouteSpec) routeKey {
	k := routeKey{table: r.Table, dst: r.Dst.Masked(), metric: r.Metric}
	if k.table == 0 {
		k.table = unix.RT_TABLE_MAIN
	}
	if k.metric == 0 {
		k.metric = a.cfg.Metric
	}
	return k
}

// Route adds an accelerated route to dst into the tunnel with
// Config.Metric in the main table: AddRoute with source address hint src
// and tunnel MTU mtu.
func (a *Accelerator) Route(dst netip.Prefix, src netip.Addr, mtu int) error {
	return a.AddRoute(RouteSpec{Dst: dst, Src: src, MTU: mtu})
}

// Unroute removes the accelerated route to dst that Route added.
func (a *Accelerator) Unroute(dst netip.Prefix) error {
	return a.DeleteRoute(RouteSpec{Dst: dst})
}

// AddRoute adds (or replaces) the accelerated route r into the tunnel:
// on a mobile node, what goes through the home agent, in the table and
// at the metric its routing plan has for it.
func (a *Accelerator) AddRoute(r RouteSpec) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cfg.Tunnel.Role == tunnel.RoleMobileNode && r.MTU == 0 {
		a.follow[a.key(r)] = r
		r.MTU = a.followMTU
	}
	return a.route(r)
}

// DeleteRoute removes the accelerated route with r's key (Table, Dst,
// Metric) if AddRoute added it; the other fields do not matter. A route
// that a caller has replaced in the meantime with a route of its own
// under the same key is not removed: the deletion names RouteProtocol,
// which the kernel matches (ip6_route_del).
func (a *Accelerator) DeleteRoute(r RouteSpec) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.follow, a.key(r))
	return a.unroute(a.key(r))
}

func (a *Accelerator) route(rs RouteSpec) error {
	k := a.key(rs)
	dst, mtu := k.dst, rs.MTU
	if a.nl == nil {
		return ErrClosed
	}
	if a.devIndex == 0 {
		return fmt.Errorf("ebpf: route %v: no Config.Device", dst)
	}
	enc := &xmitEncap{fd: a.encap.FD(), name: ProgramName + "encap"}
	// No LWT_BPF_XMIT_HEADROOM: the kernel subtracts it from the MTU of
	// the route's device, the tun device, whose MTU is already the
	// tunnel MTU (ForwarderConfig.MTU), and bpf_lwt_push_ip_encap makes
	// room itself when a packet has too little. An MTU is set (locked,
	// or forwarding would ignore it: ip6_dst_mtu_maybe_forward) only
	// below the device's: a binding whose path MTU was lowered.
	//
	// The kernel lowers a TCP super-packet's segment size by the outer
	// header when it encapsulates it (handle_gso_type), on top of the
	// tun MTU's allowance: the tunnel's TCP segments are 40 octets
	// (IPv6) or 20 (6in4) shorter than they could be, about 3%.
	if mtu > 0 && mtu >= a.devMTU {
		mtu = 0
	}
	r := &netlink.Route{
		LinkIndex: a.devIndex,
		Dst:       prefixNet(dst),
		Protocol:  RouteProtocol,
		Priority:  k.metric,
		Table:     k.table,
		Encap:     enc,
		MTU:       mtu,
		MTULock:   mtu > 0,
		Family:    unix.AF_INET6,
	}
	if rs.Src.IsValid() {
		r.Src = rs.Src.AsSlice()
	}
	if err := a.nl.RouteReplace(r); err != nil {
		return fmt.Errorf("ebpf: route %v: %w", dst, err)
	}
	a.routes[k] = r
	return nil
}

func (a *Accelerator) unroute(k routeKey) error {
	r, ok := a.routes[k]
	if !ok {
		return nil
	}
	delete(a.routes, k)
	if err := a.nl.RouteDel(r); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("ebpf: route %v: %w", k.dst, err)
	}
	return nil
}

// xmitEncap is a route's "encap bpf xmit PROGRAM" (LWTUNNEL_ENCAP_BPF
// with LWT_BPF_XMIT: the program's descriptor and name, as
// include/uapi/linux/lwtunnel.h nests them). netlink.BpfEncap says the
// same, but its Encode assigns a package variable of the netlink library
// that the library's event subscriptions read on their own goroutines: a
// data race in a daemon that follows address events (mnd).
type xmitEncap struct {
	fd   int
	name string
}

func (e *xmitEncap) Type() int { return nl.LWTUNNEL_ENCAP_BPF }

func (e *xmitEncap) Decode([]byte) error {
	return errors.New("ebpf: decoding a route's bpf encap is not supported")
}

func (e *xmitEncap) Encode() ([]byte, error) {
	x := nl.NewRtAttr(nl.LWT_BPF_XMIT, nil)
	x.AddRtAttr(nl.LWT_BPF_PROG_FD, nl.Uint32Attr(uint32(e.fd)))
	x.AddRtAttr(nl.LWT_BPF_PROG_NAME, nl.ZeroTerminated(e.name))
	return x.Serialize(), nil
}

func (e *xmitEncap) String() string { return "bpf xmit " + e.name }

func (e *xmitEncap) Equal(x netlink.Encap) bool {
	o, ok := x.(*xmitEncap)
	return ok && *o == *e
}

func prefixNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// Counters are the programs' packet counters, summed over CPUs. A GSO
// packet counts once however many segments it carries.
type Counters struct {
	// ByReason counts packets per direction (tunnel.Out: encapsulated by
	// the route program; tunnel.In: arrived at the ingress program) and
	// tunnel.Reason, as tunnel.Counters does: ReasonOK forwarded by the
	// kernel, the others dropped (ReasonHeadroom: a helper failed).
	ByReason [tunnel.NumDirections][tunnel.NumReasons]uint64
	// Passed counts packets left unchanged for the userspace forwarder
	// (no binding, kinds and headers the programs do not handle).
	Passed [tunnel.NumDirections]uint64
}

// Counters reads the counters.
func (a *Accelerator) Counters() (Counters, error) {
	var c Counters
	// Held through the lookups: Close closes the map's descriptor, and
	// a number reused meanwhile would read another object.
	a.mu.Lock()
	defer a.mu.Unlock()
	m := a.counters
	if m == nil {
		return c, ErrClosed
	}
	for slot := range numCounters {
		var per []uint64
		if err := m.Lookup(uint32(slot), &per); err != nil {
			return c, fmt.Errorf("ebpf: counters: %w", err)
		}
		var sum uint64
		for _, v := range per {
			sum += v
		}
		if slot < int(tunnel.NumDirections)*int(tunnel.NumReasons) {
			c.ByReason[slot/int(tunnel.NumReasons)][slot%int(tunnel.NumReasons)] = sum
		} else {
			c.Passed[slot-int(tunnel.NumDirections)*int(tunnel.NumReasons)] = sum
		}
	}
	return c, nil
}

// Close removes every route and attachment the Accelerator added and
// unloads its programs and maps.
func (a *Accelerator) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	var errs []error
	for k := range a.routes {
		errs = append(errs, a.unroute(k))
	}
	for _, l := range a.links {
		errs = append(errs, l.Close())
	}
	a.links = nil
	for _, c := range []interface{ Close() error }{a.encap, a.decap, a.table, a.counters} {
		if c != nil {
			errs = append(errs, c.Close())
		}
	}
	a.encap, a.decap, a.table, a.counters = nil, nil, nil, nil
	if a.nl != nil {
		a.nl.Close()
		a.nl = nil
	}
	return errors.Join(errs...)
}

// Cleanup removes, in the current network namespace, the routes into the
// tun devices named devices that an Accelerator of a process that did not
// close it left behind (RouteProtocol, in any table): they hold its
// encapsulation program. It returns how many it removed. Routes into
// other devices are left alone: they may belong to another Accelerator
// in the same namespace (a home agent and a mobile node side by side,
// each with its own tun device). A device that does not exist has no
// routes. Attachments need no cleanup: tcx links go with the process.
func Cleanup(devices ...string) (int, error) {
	n := 0
	var errs []error
	for _, dev := range devices {
		l, err := netlink.LinkByName(dev)
		if err != nil {
			if !errors.As(err, new(netlink.LinkNotFoundError)) {
				errs = append(errs, fmt.Errorf("ebpf: cleanup: %s: %w", dev, err))
			}
			continue
		}
		// RT_FILTER_TABLE with RT_TABLE_UNSPEC: every table, not only
		// main (a mobile node's policy tables).
		rs, err := netlink.RouteListFiltered(unix.AF_INET6,
			&netlink.Route{Protocol: RouteProtocol, LinkIndex: l.Attrs().Index, Table: unix.RT_TABLE_UNSPEC},
			netlink.RT_FILTER_PROTOCOL|netlink.RT_FILTER_OIF|netlink.RT_FILTER_TABLE)
		if err != nil {
			errs = append(errs, fmt.Errorf("ebpf: cleanup: %s: %w", dev, err))
			continue
		}
		for i := range rs {
			// Deleting does not match on the encap, and encoding
			// vishvananda's BpfEncap writes a package variable its
			// subscription goroutines read (a race: xmitEncap).
			rs[i].Encap = nil
			if err := netlink.RouteDel(&rs[i]); err != nil && !errors.Is(err, unix.ESRCH) {
				errs = append(errs, fmt.Errorf("ebpf: cleanup: %s: %w", dev, err))
				continue
			}
			n++
		}
	}
	return n, errors.Join(errs...)
}

// Stats returns the counters summed as tunnel.KernelStats (zero if they
// cannot be read), for Forwarder.Stats.
func (a *Accelerator) Stats() tunnel.KernelStats {
	c, err := a.Counters()
	if err != nil {
		return tunnel.KernelStats{}
	}
	s := tunnel.KernelStats{
		Encapsulated: c.ByReason[tunnel.Out][tunnel.ReasonOK],
		Decapsulated: c.ByReason[tunnel.In][tunnel.ReasonOK],
		Passed:       c.Passed[tunnel.Out] + c.Passed[tunnel.In],
	}
	for d := range c.ByReason {
		for r := tunnel.ReasonOK + 1; r < tunnel.NumReasons; r++ {
			s.Dropped += c.ByReason[d][r]
		}
	}
	return s
}

// Error marks the errors of the kernel path among those a Forwarder
// reports (ForwarderConfig.OnError): those of the function Start returns
// (the programs could not load or attach) and of its KernelPath's Sync
// (the kernel refused a map entry or a route). They do not stop the
// forwarder, which carries what the kernel path does not: a daemon logs
// them as warnings and runs on.
type Error struct{ Err error }

func (e *Error) Error() string { return e.Err.Error() }

// Unwrap returns the error marked.
func (e *Error) Unwrap() error { return e.Err }

// markedPath is the KernelPath Start hands the forwarder: the
// Accelerator with its Sync errors marked.
type markedPath struct{ *Accelerator }

func (s markedPath) Sync(t *tunnel.Table) error {
	if err := s.Accelerator.Sync(t); err != nil {
		return &Error{err}
	}
	return nil
}

// Start returns a ForwarderConfig.EBPF function: it creates an
// Accelerator with cfg on the forwarder's tun device and, if started is
// not nil, hands it to started (a mobile node adds its Routes there).
// Its errors, and its KernelPath's Sync errors, are *Error.
func Start(cfg Config, started func(*Accelerator) error) func(device string) (tunnel.KernelPath, error) {
	return func(device string) (tunnel.KernelPath, error) {
		cfg.Device = device
		a, err := New(cfg)
		if err != nil {
			return nil, &Error{err}
		}
		if started != nil {
			if err := started(a); err != nil {
				a.Close()
				return nil, &Error{err}
			}
		}
		return markedPath{a}, nil
	}
}

// OnError returns a ForwarderConfig.OnError that hands the kernel path's
// errors (*Error) to kernelPath and the others to rest (if not nil): a
// kernel path that cannot load or keep up is not the forwarder stopping
// (it runs on without it), so a daemon only warns about it.
func OnError(kernelPath, rest func(error)) func(error) {
	return func(err error) {
		if errors.As(err, new(*Error)) {
			kernelPath(err)
			return
		}
		if rest != nil {
			rest(err)
		}
	}
}
