package tunnel

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Kind is an encapsulation.
type Kind uint8

// Encapsulations.
const (
	KindNone Kind = iota // no tunnel
	// KindIPv6 is IPv6 in IPv6, next header 41 (RFC 2473).
	KindIPv6
	// Kind6in4 is IPv6 in IPv4, protocol 41 (RFC 4213 §3.5).
	Kind6in4
	// KindUDP4 is IPv6 in UDP over IPv4, port 4191 (RFC 5555 §4.1), for
	// mobile nodes behind a NAT.
	KindUDP4
)

// String names the kind as the configuration does.
func (k Kind) String() string {
	switch k {
	case KindNone:
		return "none"
	case KindIPv6:
		return "ip6ip6"
	case Kind6in4:
		return "6in4"
	case KindUDP4:
		return "udp4"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Overhead returns the octets the encapsulation puts in front of the inner
// packet, 0 for KindNone or an unknown kind.
func (k Kind) Overhead() int {
	switch k {
	case KindIPv6:
		return OverheadIPv6
	case Kind6in4:
		return Overhead6in4
	case KindUDP4:
		return OverheadUDP4
	}
	return 0
}

// outer4 reports whether the outer header is IPv4.
func (k Kind) outer4() bool { return k == Kind6in4 || k == KindUDP4 }

// minPathMTU is the smallest outer path MTU we accept for the kind: IPv6's
// minimum link MTU, or our IPv4 floor (see minPathMTU4).
func (k Kind) minPathMTU() int {
	if k.outer4() {
		return minPathMTU4
	}
	return MinIPv6MTU
}

// Endpoint is where a binding's packets go: the tunnel to one care-of
// address (on a home agent) or to the home agent (on a mobile node).
type Endpoint struct {
	// Kind is the encapsulation.
	Kind Kind
	// Local is our end of the tunnel, the outer source: IPv6 for KindIPv6,
	// IPv4 otherwise.
	Local netip.Addr
	// Remote is the far end, the outer destination: the care-of address,
	// or the NAT's public address for KindUDP4.
	Remote netip.Addr
	// LocalPort and RemotePort are the UDP ports of KindUDP4 (zero for the
	// other kinds). On a home agent LocalPort is 4191 and RemotePort the
	// port the binding update came from, which a NAT chose (RFC 5555
	// §4.1).
	LocalPort, RemotePort uint16
	// PathMTU is the outer path MTU towards Remote; 0 means
	// DefaultPathMTU, or keep the value already learned for the same
	// path.
	PathMTU int
}

// Validate reports whether e can be installed in a Table.
func (e Endpoint) Validate() error {
	switch e.Kind {
	case KindIPv6:
		if !e.Local.Is6() || e.Local.Is4In6() || !e.Remote.Is6() || e.Remote.Is4In6() {
			return fmt.Errorf("tunnel: %v endpoint needs IPv6 addresses, have %v -> %v", e.Kind, e.Local, e.Remote)
		}
	case Kind6in4, KindUDP4:
		if !e.Local.Unmap().Is4() || !e.Remote.Unmap().Is4() {
			return fmt.Errorf("tunnel: %v endpoint needs IPv4 addresses, have %v -> %v", e.Kind, e.Local, e.Remote)
		}
	default:
		return fmt.Errorf("tunnel: endpoint kind %v", e.Kind)
	}
	l, r := e.Local.As16(), e.Remote.As16()
	if e.Kind == KindIPv6 && (badUnicast16(&l) || badUnicast16(&r)) {
		return fmt.Errorf("tunnel: endpoint %v -> %v is not global unicast", e.Local, e.Remote)
	}
	if e.Kind.outer4() {
		lu, ru := e.Local.Unmap(), e.Remote.Unmap()
		if lu.IsUnspecified() || ru.IsUnspecified() || lu.IsMulticast() || ru.IsMulticast() || ru == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
			return fmt.Errorf("tunnel: endpoint %v -> %v is not unicast", e.Local, e.Remote)
		}
	}
	switch {
	case e.Kind == KindUDP4 && (e.LocalPort == 0 || e.RemotePort == 0):
		return fmt.Errorf("tunnel: udp4 endpoint needs both ports, have %d -> %d", e.LocalPort, e.RemotePort)
	case e.Kind != KindUDP4 && (e.LocalPort != 0 || e.RemotePort != 0):
		return fmt.Errorf("tunnel: %v endpoint has UDP ports", e.Kind)
	}
	if e.PathMTU != 0 && (e.PathMTU < e.Kind.minPathMTU() || e.PathMTU > MaxPathMTU) {
		return fmt.Errorf("tunnel: path MTU %d outside [%d, %d]", e.PathMTU, e.Kind.minPathMTU(), MaxPathMTU)
	}
	return nil
}

// Binding is one entry of a Table: a home address or mobile network
// prefix and its endpoint. A *Binding is immutable once published, so a
// reader holding one sees a consistent endpoint however the table changes
// meanwhile; only the learned path MTU changes in place, atomically. It is
// 64 octets with no pointers, so a million of them cost the garbage
// collector nothing to scan.
type Binding struct {
	key    [16]byte // home address, or the masked prefix
	local  [16]byte // outer source; IPv4-mapped for the IPv4 kinds
	remote [16]byte // outer destination; ditto
	mtu    atomic.Uint32
	lport  uint16
	rport  uint16
	kind   Kind
	bits   uint8  // prefix length; 128 for a home address
	prefix bool   // a mobile network prefix (bits < 128)
	base   uint16 // the path MTU installed, which AgePathMTU restores
}

// Prefix returns the home address (as a /128) or mobile network prefix;
// for an IPv4 home address (SetIPv4) the address as a /32.
func (b *Binding) Prefix() netip.Prefix {
	if b.v4key() {
		return netip.PrefixFrom(netip.AddrFrom16(b.key).Unmap(), 32)
	}
	return netip.PrefixFrom(netip.AddrFrom16(b.key), int(b.bits))
}

// v4key reports an IPv4 home address binding (SetIPv4): the key is the
// address in its IPv4-mapped form, which no IPv6 binding can have (Set
// refuses IPv4-mapped keys).
func (b *Binding) v4key() bool { return !b.prefix && isV4Mapped16(&b.key) }

// Kind returns the encapsulation.
func (b *Binding) Kind() Kind { return b.kind }

// Endpoint returns the endpoint, with the current path MTU.
func (b *Binding) Endpoint() Endpoint {
	return Endpoint{
		Kind:       b.kind,
		Local:      addrFrom16(b.local),
		Remote:     addrFrom16(b.remote),
		LocalPort:  b.lport,
		RemotePort: b.rport,
		PathMTU:    b.PathMTU(),
	}
}

// PathMTU returns the outer path MTU currently known for the endpoint.
func (b *Binding) PathMTU() int { return int(b.mtu.Load()) }

// TunnelMTU returns the largest inner packet that fits the path without
// fragmentation: path MTU minus overhead (RFC 2473 §7.1, RFC 4213 §3.2.2).
// It can be below 1280; see Tunnel.Encap for what happens then.
func (b *Binding) TunnelMTU() int { return b.PathMTU() - b.kind.Overhead() }

// LowerPathMTU lowers the path MTU to mtu if that is smaller, never below
// the kind's floor, and reports whether it changed. Readers on the packet
// path may call it concurrently: it is a compare-and-swap loop. A path
// MTU lowered this way stays low until the endpoint is installed anew:
// Table.LowerPathMTU (what RelayError uses) also records the lowering so
// that AgePathMTU raises it again after PathMTUAge.
func (b *Binding) LowerPathMTU(mtu int) bool {
	mtu = max(mtu, b.kind.minPathMTU())
	for {
		old := b.mtu.Load()
		if int(old) <= mtu {
			return false
		}
		if b.mtu.CompareAndSwap(old, uint32(mtu)) {
			return true
		}
	}
}

// raisePathMTU puts the installed path MTU back, if the path MTU is below
// it, and reports whether it did.
func (b *Binding) raisePathMTU() bool {
	for {
		old := b.mtu.Load()
		if old >= uint32(b.base) {
			return false
		}
		if b.mtu.CompareAndSwap(old, uint32(b.base)) {
			return true
		}
	}
}

// PathMTUAge is how long a path MTU learned from a Packet Too Big or
// Fragmentation Needed stays lowered before AgePathMTU raises it back to
// the installed value. RFC 8201 §4 (and RFC 1191 §6.3 for IPv4) allow an
// increase no sooner than 5 minutes after the last Packet Too Big and
// recommend 10. Raising it blindly rather than probing (a tunnel has no
// probe) costs at most one more Packet Too Big per path per period if the
// path still needs the lower value; in exchange a forged message that got
// through RelayError's checks lowers a binding's MTU for ten minutes, not
// for as long as the binding lives.
const PathMTUAge = 10 * time.Minute

// LowerPathMTU is Binding.LowerPathMTU for a binding of t, recording when
// the path MTU was lowered so that AgePathMTU raises it back after
// PathMTUAge. It reads the clock (and takes a lock) only when the MTU
// actually goes down, which takes a Packet Too Big lower than anything
// before: the per-packet path never pays for it.
func (t *Table) LowerPathMTU(b *Binding, mtu int) bool {
	if max(mtu, b.kind.minPathMTU()) >= int(b.mtu.Load()) {
		return false
	}
	t.lmu.Lock()
	defer t.lmu.Unlock()
	if !b.LowerPathMTU(mtu) {
		return false
	}
	if t.lowered == nil {
		t.lowered = make(map[*Binding]time.Time)
	}
	t.lowered[b] = t.now()
	t.changed()
	return true
}

// AgePathMTU raises back to its installed value every path MTU that
// Table.LowerPathMTU lowered at least PathMTUAge before now, and returns
// how many it raised. The control plane calls it periodically (a minute
// is fine: an MTU then comes back between 10 and 11 minutes after it was
// last lowered); it costs O(lowered bindings), never a walk of the table.
// A later Packet Too Big restarts the binding's period.
func (t *Table) AgePathMTU(now time.Time) int {
	t.lmu.Lock()
	defer t.lmu.Unlock()
	n := 0
	for b, at := range t.lowered {
		if now.Sub(at) < PathMTUAge {
			continue
		}
		delete(t.lowered, b)
		if b.raisePathMTU() {
			n++
		}
	}
	if n > 0 {
		t.changed()
	}
	return n
}

// LoweredPathMTUs returns how many bindings have a lowered path MTU that
// AgePathMTU will raise.
func (t *Table) LoweredPathMTUs() int {
	t.lmu.Lock()
	defer t.lmu.Unlock()
	return len(t.lowered)
}

// matchRemote reports whether an outer source address (table form) and
// UDP source port are this binding's remote end.
func (b *Binding) matchRemote(src *[16]byte, sport uint16) bool {
	return b.remote == *src && (b.kind != KindUDP4 || b.rport == sport)
}

// Table maps home addresses and mobile network prefixes to endpoints.
//
// Concurrency. The per-packet path only reads: Lookup takes no lock, does
// not allocate and never waits for a writer. (Table.LowerPathMTU, on the
// ICMP path, takes a lock only when a Packet Too Big actually lowers a
// path MTU.) Writes (Set, Delete) come
// from the control plane; they are meant to be made by one goroutine that
// owns the table (the binding cache), and are serialized per shard by a
// mutex anyway, so a second writer is safe, just not concurrent with the
// first on the same shard.
//
// Home addresses (/128) live in 64 shards, each an open-addressing hash
// table with linear probing: an array of atomic pointers to immutable
// Bindings. A reader loads the shard's array, hashes, and probes until it
// finds the key or an empty slot. A writer replaces a binding by storing a
// new pointer into its slot, so a reader sees the old binding or the new
// one, never a mix: packets in flight during an update go to the old
// endpoint or the new one and none are lost. A delete stores a tombstone
// (the probe chain must not break). When live entries plus tombstones pass
// half the slots, the writer builds a fresh array (doubled, or the same
// size to purge tombstones) and publishes it with one atomic store;
// readers still probing the old array finish there, and the garbage
// collector frees it when they are gone (RCU without epochs).
//
// Mobile network prefixes (RFC 3963) are few: each mobile router has a
// handful. They form an immutable set, rebuilt by the writer on each
// change and published atomically; a lookup that misses the /128 table
// tries each distinct prefix length present, longest first, with one map
// probe per length.
//
// Memory: a Binding is 64 octets (one size class, no pointers) and a slot
// 8; at a load factor between 1/4 and 1/2 (linear probing's chains stay
// short there: TestTableProbeLength) that is 80-100 octets per home address
// (measured by TestTableMemory).
type Table struct {
	seed   [2]uint64
	shards [numShards]shard
	pfx    atomic.Pointer[prefixSet]
	pmu    sync.Mutex // serializes prefix writers

	// The bindings whose path MTU LowerPathMTU lowered, and when: the
	// small set AgePathMTU walks. lmu also orders a lowering against a
	// Set that carries the lowered MTU over to a new *Binding.
	lmu     sync.Mutex
	lowered map[*Binding]time.Time
	now     func() time.Time // the clock of LowerPathMTU; tests replace it

	changes atomic.Pointer[chan struct{}] // Changes
}

// Changes returns the table's change channel: it receives a value after
// Set, SetIPv4, Delete or DeleteIPv4 changed the table, or LowerPathMTU
// or AgePathMTU changed a binding's path MTU (Binding.LowerPathMTU, which
// bypasses the table, does not signal), with changes
// coalesced (never blocking the writer) while the value is not taken.
// It is for followers that mirror the table by reading it again with
// Range, such as a kernel fast path (ForwarderConfig.EBPF). Every call
// returns the same channel, so a table has one follower: a second would
// take the first one's signals.
func (t *Table) Changes() <-chan struct{} {
	if c := t.changes.Load(); c != nil {
		return *c
	}
	c := make(chan struct{}, 1)
	if !t.changes.CompareAndSwap(nil, &c) {
		return *t.changes.Load()
	}
	return c
}

// changed signals Changes, if anyone asked for it.
func (t *Table) changed() {
	if c := t.changes.Load(); c != nil {
		select {
		case *c <- struct{}{}:
		default:
		}
	}
}

const (
	numShards  = 64 // a power of two
	shardShift = 64 - 6
	minSlots   = 16
)

// shard is one open-addressing table. The padding keeps two shards' write
// state off one cache line, so writers to different shards do not slow
// readers of the others.
type shard struct {
	slots atomic.Pointer[slotArray]
	mu    sync.Mutex
	live  int // entries, under mu
	dead  int // tombstones, under mu
	_     [64 - 8 - 8 - 16]byte
}

type slotArray struct {
	mask uint64
	s    []atomic.Pointer[Binding]
}

// tombstone marks a deleted slot; its key can never match a lookup key
// because lookups never compare against it.
var tombstone = new(Binding)

// prefixSet is an immutable snapshot of the mobile network prefixes.
type prefixSet struct {
	lens []uint8 // distinct lengths present, longest first
	m    map[prefixKey]*Binding
}

type prefixKey struct {
	a    [16]byte // masked
	bits uint8
}

// NewTable returns an empty table sized for about hint home addresses (0
// for small).
func NewTable(hint int) *Table {
	t := &Table{seed: [2]uint64{rand.Uint64() | 1, rand.Uint64() | 1}, now: time.Now}
	per := minSlots
	for per/4 < hint/numShards {
		per *= 2
	}
	for i := range t.shards {
		t.shards[i].slots.Store(newSlots(per))
	}
	t.pfx.Store(&prefixSet{})
	return t
}

func newSlots(n int) *slotArray {
	return &slotArray{mask: uint64(n - 1), s: make([]atomic.Pointer[Binding], n)}
}

// hash mixes the 16 octets with the table's random seed: two rounds of a
// 64x64->128 multiply (the "mum" step of wyhash). Keys are authenticated
// home addresses, but the seed still keeps anyone from predicting which
// addresses collide.
func (t *Table) hash(k *[16]byte) uint64 {
	a := binary.LittleEndian.Uint64(k[:8]) ^ t.seed[0]
	b := binary.LittleEndian.Uint64(k[8:]) ^ t.seed[1]
	hi, lo := bits.Mul64(a, b)
	hi, lo = bits.Mul64(hi^lo^0x9e3779b97f4a7c15, t.seed[0]^0xbf58476d1ce4e5b9)
	return hi ^ lo
}

// Lookup returns the binding of a: its home-address entry, else the
// longest mobile network prefix containing it, else nil. It is the packet
// path's call: no lock, no allocation.
func (t *Table) Lookup(a netip.Addr) *Binding {
	k := a.As16()
	return t.lookup(&k)
}

func (t *Table) lookup(k *[16]byte) *Binding {
	h := t.hash(k)
	arr := t.shards[h>>shardShift].slots.Load()
	for i := h & arr.mask; ; i = (i + 1) & arr.mask {
		b := arr.s[i].Load()
		if b == nil {
			break
		}
		if b.key == *k && b != tombstone {
			return b
		}
	}
	ps := t.pfx.Load()
	if len(ps.lens) == 0 {
		return nil
	}
	return ps.lookup(k)
}

func (ps *prefixSet) lookup(k *[16]byte) *Binding {
	for _, l := range ps.lens {
		if b := ps.m[prefixKey{mask16(*k, l), l}]; b != nil {
			return b
		}
	}
	return nil
}

// mask16 clears all but the first bits bits of a.
func mask16(a [16]byte, bits uint8) [16]byte {
	for i := range a {
		switch n := int(bits) - 8*i; {
		case n <= 0:
			a[i] = 0
		case n < 8:
			a[i] &= ^byte(0xff >> n)
		}
	}
	return a
}

// ErrNotIPv6 is returned by Set and Delete for a key that is not an IPv6
// prefix.
var ErrNotIPv6 = errors.New("tunnel: binding key must be an IPv6 prefix")

// Set installs or replaces the binding of p: a home address as a /128, or
// a mobile network prefix. Readers see the old binding until the single
// atomic store that publishes the new one. If e.PathMTU is 0 and the
// previous binding had the same path (kind, addresses, ports), the path
// MTU learned for it is kept: a binding refresh must not throw away what
// Packet Too Big messages taught (and AgePathMTU still raises it back
// when its time comes). Otherwise the path MTU is e.PathMTU, or
// DefaultPathMTU, and that is the value AgePathMTU restores.
func (t *Table) Set(p netip.Prefix, e Endpoint) error {
	if !p.IsValid() || !p.Addr().Is6() || p.Addr().Is4In6() || p.Addr().Zone() != "" {
		return ErrNotIPv6
	}
	return t.set(p.Masked(), e)
}

// SetIPv4 installs or replaces the binding of an IPv4 home address (RFC
// 5555 §3.1.1), as Set does for an IPv6 one. Its packets are IPv4: a home
// agent encapsulates those whose destination is a, a mobile node those
// whose source is a, and decapsulation checks them against it the same
// way. Only KindUDP4 carries IPv4 inner packets (RFC 5555 §4.1: the IPv4
// packet right after the UDP header); the other kinds would need IPv4 in
// IPv6 or in IPv4 (protocol 4), which this package does not do, and are
// refused.
func (t *Table) SetIPv4(a netip.Addr, e Endpoint) error {
	if !a.Is4() {
		return ErrNotIPv4
	}
	if e.Kind != KindUDP4 {
		return fmt.Errorf("tunnel: IPv4 home address %v over %v: only udp4 carries IPv4 packets", a, e.Kind)
	}
	return t.set(netip.PrefixFrom(netip.AddrFrom16(a.As16()), 128), e)
}

// DeleteIPv4 removes the binding of IPv4 home address a and reports
// whether there was one.
func (t *Table) DeleteIPv4(a netip.Addr) bool {
	if !a.Is4() {
		return false
	}
	return t.deleteHost(netip.AddrFrom16(a.As16()).As16())
}

// ErrNotIPv4 is returned by SetIPv4 for an address that is not IPv4.
var ErrNotIPv4 = errors.New("tunnel: IPv4 home address must be an IPv4 address")

// set is Set for a checked, masked key (IPv4 home addresses in their
// IPv4-mapped form). It and the other internals that change the table
// (deleteHost, deletePrefix, the path MTU's lowering and aging) signal
// Changes, once each, so that no exported entry point can forget to.
func (t *Table) set(p netip.Prefix, e Endpoint) error {
	if err := e.Validate(); err != nil {
		return err
	}
	defer t.changed()
	nb := &Binding{
		key:    p.Addr().As16(),
		local:  e.Local.As16(),
		remote: e.Remote.As16(),
		lport:  e.LocalPort,
		rport:  e.RemotePort,
		kind:   e.Kind,
		bits:   uint8(p.Bits()),
		prefix: p.Bits() < 128,
	}
	if e.Kind.outer4() {
		nb.local = netip.AddrFrom4(e.Local.Unmap().As4()).As16()
		nb.remote = netip.AddrFrom4(e.Remote.Unmap().As4()).As16()
	}
	mtu := e.PathMTU
	if mtu == 0 {
		mtu = DefaultPathMTU
	}
	nb.mtu.Store(uint32(mtu))
	nb.base = uint16(mtu)
	keep := func(old *Binding) {
		if old == nil {
			return
		}
		// Under lmu, so that a lowering of old either happens before
		// the copy (and is carried over) or finds old already replaced
		// (and only old, no longer used, is lowered).
		t.lmu.Lock()
		defer t.lmu.Unlock()
		at, lowered := t.lowered[old]
		if lowered {
			delete(t.lowered, old)
		}
		if e.PathMTU == 0 && old.samePath(nb) {
			nb.mtu.Store(old.mtu.Load())
			nb.base = old.base
			if lowered {
				t.lowered[nb] = at
			}
		}
	}
	if nb.prefix {
		t.setPrefix(nb, keep)
		return nil
	}
	h := t.hash(&nb.key)
	sh := &t.shards[h>>shardShift]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	arr := sh.slots.Load()
	if i, ok := arr.find(h, &nb.key); ok {
		keep(arr.s[i].Load())
		arr.s[i].Store(nb)
		return nil
	}
	if 2*(sh.live+sh.dead+1) > len(arr.s) {
		arr = t.rehash(sh, arr)
	}
	i := arr.free(h)
	if arr.s[i].Load() == tombstone {
		sh.dead--
	}
	arr.s[i].Store(nb)
	sh.live++
	return nil
}

func (b *Binding) samePath(o *Binding) bool {
	return b.kind == o.kind && b.local == o.local && b.remote == o.remote && b.lport == o.lport && b.rport == o.rport
}

// find returns the slot holding key k. Writers only.
func (arr *slotArray) find(h uint64, k *[16]byte) (uint64, bool) {
	for i := h & arr.mask; ; i = (i + 1) & arr.mask {
		b := arr.s[i].Load()
		if b == nil {
			return 0, false
		}
		if b != tombstone && b.key == *k {
			return i, true
		}
	}
}

// free returns the first empty or tombstoned slot of h's probe chain.
// Writers only, after find said the key is absent (so reusing a tombstone
// before the chain's end cannot duplicate a key).
func (arr *slotArray) free(h uint64) uint64 {
	for i := h & arr.mask; ; i = (i + 1) & arr.mask {
		if b := arr.s[i].Load(); b == nil || b == tombstone {
			return i
		}
	}
}

// rehash builds a new array without tombstones, doubled if the live
// entries alone would fill more than 1/4 of it, publishes it and returns it.
// Readers keep probing the old array until they next load the pointer.
func (t *Table) rehash(sh *shard, old *slotArray) *slotArray {
	n := len(old.s)
	if 4*(sh.live+1) > n {
		n *= 2
	}
	arr := newSlots(n)
	for i := range old.s {
		b := old.s[i].Load()
		if b == nil || b == tombstone {
			continue
		}
		arr.s[arr.free(t.hash(&b.key))].Store(b)
	}
	sh.dead = 0
	sh.slots.Store(arr)
	return arr
}

// Delete removes the binding of p and reports whether there was one.
// Packets already holding the *Binding finish with it.
func (t *Table) Delete(p netip.Prefix) bool {
	if !p.IsValid() || !p.Addr().Is6() || p.Addr().Is4In6() {
		return false
	}
	p = p.Masked()
	k := p.Addr().As16()
	if p.Bits() < 128 {
		return t.deletePrefix(prefixKey{k, uint8(p.Bits())})
	}
	return t.deleteHost(k)
}

// deleteHost removes the /128 entry with key k.
func (t *Table) deleteHost(k [16]byte) bool {
	h := t.hash(&k)
	sh := &t.shards[h>>shardShift]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	arr := sh.slots.Load()
	i, ok := arr.find(h, &k)
	if !ok {
		return false
	}
	t.forget(arr.s[i].Load())
	arr.s[i].Store(tombstone)
	sh.live--
	sh.dead++
	t.changed()
	return true
}

// forget drops a binding that leaves the table from the lowered set.
func (t *Table) forget(b *Binding) {
	t.lmu.Lock()
	delete(t.lowered, b)
	t.lmu.Unlock()
}

func (t *Table) setPrefix(nb *Binding, keep func(*Binding)) {
	t.pmu.Lock()
	defer t.pmu.Unlock()
	old := t.pfx.Load()
	k := prefixKey{nb.key, nb.bits}
	keep(old.m[k])
	m := make(map[prefixKey]*Binding, len(old.m)+1)
	for kk, b := range old.m {
		m[kk] = b
	}
	m[k] = nb
	t.pfx.Store(newPrefixSet(m))
}

func (t *Table) deletePrefix(k prefixKey) bool {
	t.pmu.Lock()
	defer t.pmu.Unlock()
	old := t.pfx.Load()
	if old.m[k] == nil {
		return false
	}
	t.forget(old.m[k])
	m := make(map[prefixKey]*Binding, len(old.m))
	for kk, b := range old.m {
		if kk != k {
			m[kk] = b
		}
	}
	t.pfx.Store(newPrefixSet(m))
	t.changed()
	return true
}

func newPrefixSet(m map[prefixKey]*Binding) *prefixSet {
	var seen [129]bool
	for k := range m {
		seen[k.bits] = true
	}
	ps := &prefixSet{m: m}
	for l := 128; l >= 0; l-- {
		if seen[l] {
			ps.lens = append(ps.lens, uint8(l))
		}
	}
	return ps
}

// Len returns the number of home addresses and prefixes installed.
func (t *Table) Len() int {
	n := len(t.pfx.Load().m)
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		n += sh.live
		sh.mu.Unlock()
	}
	return n
}

// Range calls fn for every binding, home addresses first, until fn returns
// false. It is for the control plane (listing, persistence); it sees each
// shard as it is at the moment it gets there.
func (t *Table) Range(fn func(*Binding) bool) {
	for i := range t.shards {
		arr := t.shards[i].slots.Load()
		for j := range arr.s {
			if b := arr.s[j].Load(); b != nil && b != tombstone && !fn(b) {
				return
			}
		}
	}
	for _, b := range t.pfx.Load().m {
		if !fn(b) {
			return
		}
	}
}
