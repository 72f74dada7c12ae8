package mnd

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"slices"
	"time"

	"go.uber.org/zap"
	"golang.org/x/net/bpf"

	"github.com/gomip6/gomip6/internal/daemon"
	"github.com/gomip6/gomip6/internal/netif"
	"github.com/gomip6/gomip6/internal/rawsock"
	"github.com/gomip6/gomip6/mip6"
	"github.com/gomip6/gomip6/mobilenode"
)

// The daemon's side of mobile prefix discovery (mps.go) and of the home
// agent fallback (hafallback.go).

// mpsLoop is the loop's share of mobile prefix discovery: the state and
// the packet socket that catches the advertisements.
type mpsLoop struct {
	mpsState
	l  *rawsock.Listener
	ch chan mpaMsg
	// failed: opening the socket failed once; not retried every time.
	failed bool
	// unsolicited is when an unsolicited advertisement last started a
	// solicitation.
	unsolicited time.Time
}

// mpaFilter keeps what the home agent's Mobile Prefix Advertisements look
// like on the wire (§6.8, §10.6.2): an IPv6 packet to this host whose
// first extension header is a type 2 routing header (Hdr Ext Len 2,
// Segments Left 1, RFC 6275 §6.4.1) followed by ICMPv6 type 147. A home
// agent that puts anything else before the ICMPv6 header (IPsec, which
// gomip6 does not use) is not matched. pktType adds the packet type check
// (PACKET_HOST only), which the x/net/bpf VM of the tests cannot run.
func mpaFilter(pktType bool) []bpf.Instruction {
	const reject, accept = 0, 0xffff
	var ins []bpf.Instruction
	if pktType {
		ins = append(ins, bpf.LoadExtension{Num: bpf.ExtType})
	}
	type check struct {
		off       uint32
		mask, val uint32
	}
	checks := []check{
		{0, 0xf0, 0x60},                         // version 6
		{6, 0xff, mip6.ProtoRouting},            // next header: routing
		{40, 0xff, mip6.ProtoICMPv6},            // after it: ICMPv6
		{41, 0xff, 2},                           // Hdr Ext Len 2
		{42, 0xff, 2},                           // routing type 2
		{43, 0xff, 1},                           // Segments Left 1
		{64, 0xff, mip6.ICMPMobilePrefixAdvert}, // ICMPv6 type 147
	}
	// Every failed test jumps over what is left to the final reject:
	// three instructions per check still to come, and the accept.
	k := len(checks)
	if pktType {
		ins = append(ins, bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0, SkipFalse: uint8(3*k + 1)})
	}
	for i, c := range checks {
		ins = append(ins, bpf.LoadAbsolute{Off: c.off, Size: 1}, bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: c.mask},
			bpf.JumpIf{Cond: bpf.JumpEqual, Val: c.val, SkipFalse: uint8(3*(k-1-i) + 1)})
	}
	return append(ins, bpf.RetConstant{Val: accept}, bpf.RetConstant{Val: reject})
}

// mpsOpen opens the advertisement socket, on every interface at once (the
// care-of address moves between access interfaces, and the filter is
// narrow), with its reader.
func (r *engine) mpsOpen() bool {
	if r.mps.l != nil {
		return true
	}
	if r.mps.failed {
		return false
	}
	prog, err := bpf.Assemble(mpaFilter(true))
	var l *rawsock.Listener
	if err == nil {
		l, err = rawsock.Listen(&net.Interface{Index: 0, Name: "any"}, rawsock.Config{Filter: prog})
	}
	if err != nil {
		r.mps.failed = true
		r.log.Error("mobile prefix discovery: listening for advertisements", zap.Error(err))
		return false
	}
	r.mps.l = l
	if r.mps.ch == nil {
		r.mps.ch = make(chan mpaMsg, 4)
	}
	ch := r.mps.ch
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		buf := make([]byte, 65536)
		for {
			n, _, err := l.Read(buf)
			if err != nil {
				if netif.ReadStop(err, r.done) {
					return
				}
				continue
			}
			m, ok := parseMPA(buf[:n])
			if !ok {
				continue
			}
			select {
			case ch <- m:
			case <-r.done:
				return
			}
		}
	}()
	return true
}

// mpsTeardown closes the advertisement socket.
func (r *engine) mpsTeardown() {
	if r.mps.l != nil {
		r.mps.l.Close()
		r.mps.l = nil
	}
}

// mpsAway reports whether a solicitation can go: away from home,
// registered from an IPv6 care-of address (over IPv4, RFC 5555 has no
// Home Address option to carry the home address).
func (r *engine) mpsAway() bool {
	if r.reg == nil || r.atHome || r.stopping {
		return false
	}
	e := r.reg.Entry()
	return e.BoundCareOf.Is6() && e.BoundCareOf == r.cur.CareOf && e.HasBinding(time.Now())
}

// mpsSolicit sends a solicitation now (a new exchange, or the next
// transmission of the outstanding one); why is for the log.
func (r *engine) mpsSolicit(why string, now time.Time) {
	if !r.mpsAway() || !r.mpsOpen() {
		// Not now; nor again for the same information, or the
		// timer would find it due at once.
		r.mps.id, r.mps.asked = 0, r.mps.prefix.At
		return
	}
	var id uint16
	for id == 0 || id == r.mps.id {
		var b [2]byte
		_, _ = rand.Read(b[:])
		id = binary.BigEndian.Uint16(b[:])
	}
	if !r.mps.sent(id, now) {
		r.log.Warn("no mobile prefix advertisement from the home agent; asking again when there is a reason to",
			daemon.HA(r.cfg.HomeAgent), zap.Int("solicitations", r.mps.tries))
		return
	}
	coa := r.reg.Entry().BoundCareOf
	err := r.sender.Send(buildMPS(coa, r.cfg.HomeAgent, r.cfg.HomeAddress, id), 0)
	if err != nil {
		r.d.count(func(c *Counters) { c.SendErrors++ })
		r.log.Warn("mobile prefix solicitation not sent", daemon.CoA(coa), daemon.HA(r.cfg.HomeAgent), zap.Error(err))
		return
	}
	r.d.count(func(c *Counters) { c.MPSSent++ })
	r.log.Info("mobile prefix solicitation sent", zap.String("event", "mps_sent"), daemon.HoA(r.cfg.HomeAddress),
		daemon.CoA(coa), daemon.HA(r.cfg.HomeAgent), zap.Uint16("id", id), zap.Int("try", r.mps.tries), zap.String("reason", why))
}

// mpsNext is when mpsTimer has work.
func (r *engine) mpsNext() (time.Time, bool) { return r.mps.due() }

// mpsTimer retransmits an unanswered solicitation, or starts one when the
// home prefix's valid lifetime nears its end.
func (r *engine) mpsTimer(now time.Time) {
	at, ok := r.mps.due()
	if !ok || now.Before(at) {
		return
	}
	why := "retransmission"
	if r.mps.id == 0 {
		why = "home prefix lifetime ending"
		if !r.mpsAway() {
			// Not now: back home, or between registrations. Mark
			// the information as asked about; the next
			// registration asks anew.
			r.mps.asked = r.mps.prefix.At
			return
		}
	}
	r.mpsSolicit(why, now)
}

// mpsRegistered is told of every accepted registration: status 1 asks
// for prefix discovery (§11.7.3), and the first registration of a run
// learns the prefix's lifetimes.
func (r *engine) mpsRegistered(e mobilenode.Event, now time.Time) {
	switch {
	case r.mps.id != 0:
	case e.Status == mip6.StatusAcceptedPrefixDiscovery:
		r.mpsSolicit("binding acknowledgement status 1", now)
	case r.mps.prefix.At.IsZero() && r.mps.asked.IsZero() && e.CareOf.Is6():
		r.mps.asked = now
		r.mpsSolicit("home prefix lifetime unknown", now)
	case r.mps.stale(now):
		// Its lifetime-driven solicitation went unanswered, or came
		// while the node could not send: a new registration is a new
		// chance.
		r.mpsSolicit("home prefix lifetime ending", now)
	}
}

// onMPA handles a captured Mobile Prefix Advertisement (§11.4.3).
func (r *engine) onMPA(m mpaMsg) {
	now := time.Now()
	if r.reg == nil || r.atHome {
		return
	}
	changed, err := r.mps.accept(m, r.cfg.HomeAgent, r.cfg.HomeAddress, r.cfg.HomePrefix, now)
	switch {
	case errors.Is(err, errMPAUnsolicited) && m.src == r.cfg.HomeAgent && m.home == r.cfg.HomeAddress:
		r.log.Info("unsolicited mobile prefix advertisement; soliciting", zap.String("event", "mpa_unsolicited"),
			daemon.HA(m.src), zap.Uint16("id", m.mpa.Identifier))
		// One exchange for them per INITIAL_SOLICIT_TIMER at most:
		// forged unsolicited advertisements must not make us solicit
		// at the rate they come.
		if r.mps.id == 0 && now.Sub(r.mps.unsolicited) >= mip6.InitialSolicitTimer {
			r.mps.unsolicited = now
			r.mpsSolicit("unsolicited advertisement", now)
		}
		return
	case err != nil:
		r.log.Debug("mobile prefix advertisement ignored", zap.Stringer("from", m.src), zap.Error(err))
		return
	}
	r.d.count(func(c *Counters) { c.MPAAccepted++ })
	p := r.mps.prefix
	fields := []zap.Field{zap.String("event", "mpa_received"), daemon.HA(m.src), daemon.HoA(r.cfg.HomeAddress),
		zap.Stringer("home_prefix", r.cfg.HomePrefix), zap.Bool("advertised", p.Seen),
		zap.Duration("valid_lifetime", p.Valid), zap.Duration("preferred_lifetime", p.Preferred),
		zap.Stringers("other_prefixes", p.Others)}
	switch {
	case len(p.Others) > 0 && changed:
		r.log.Warn("home link renumbered: new prefixes advertised; keeping the configured home address", fields...)
	case p.Seen && p.Valid == 0:
		r.log.Warn("home prefix withdrawn (valid lifetime 0): the home address is no longer valid", fields...)
	case changed:
		r.log.Info("home prefix information changed", fields...)
	default:
		r.log.Info("mobile prefix advertisement received", fields...)
	}
	// §11.7.1: Binding Updates from now on stay within the home
	// prefix's valid lifetime as advertised (lifetime.go).
	r.boundHome(now)
}

// haDiscovered reports whether the home agent in use came from DHAAD, the
// only case the fallback replaces it.
func (r *engine) haDiscovered() bool {
	return !r.fileCfg.HomeAgent.IsValid() && r.reg != nil && len(r.has.list) > 0
}

// haSilentFallback is told of every Output before it is acted on: when it
// shows the home agent silent (haSilent), the BU is not sent and the
// next home agent is tried. It reports whether it took over.
func (r *engine) haSilentFallback(o mobilenode.Output) bool {
	now := time.Now()
	if r.stopping || !r.haDiscovered() || !haSilent(o, r.reg.Entry(), now) {
		return false
	}
	r.log.Warn("home agent does not answer; trying the next one", zap.String("event", "ha_fallback"),
		daemon.HA(r.cfg.HomeAgent), zap.Int("binding_updates", o.Send.RetransmitNumber))
	r.haNext(now)
	return true
}

// haRefused is told of a registration refused with status s.
func (r *engine) haRefused(s mip6.Status) {
	if !r.haDiscovered() || !refusedByHA(s) || r.stopping || r.atHome {
		return
	}
	// A refused de-registration (on the way home, or at shutdown) is
	// no reason to register elsewhere.
	if st := r.reg.State(); st != mobilenode.Failed && st != mobilenode.Registering && st != mobilenode.Refreshing {
		return
	}
	r.log.Warn("home agent refused the registration; trying the next one", zap.String("event", "ha_fallback"),
		daemon.HA(r.cfg.HomeAgent), daemon.Status(s))
	r.haNext(time.Now())
}

// haNext moves to the next home agent of the list and registers with it,
// or, past its end, drops the home agent and discovers again.
func (r *engine) haNext(now time.Time) {
	old := r.cfg.HomeAgent
	r.d.count(func(c *Counters) { c.HAFallbacks++ })
	// One that cannot even be set up (newCores failed) is passed over
	// like one that does not answer.
	for ha, ok := r.has.next(); ok; ha, ok = r.has.next() {
		if r.useHomeAgent(ha, old) {
			return
		}
	}
	r.reg = nil
	r.cfg = r.fileCfg
	r.mps.mpsState = mpsState{}
	r.dhaad = dhaadState{}
	delay := r.has.rediscoverDelay()
	r.log.Warn("no home agent of the list serves us; discovering again", zap.String("event", "ha_rediscover"),
		daemon.HA(old), zap.Duration("in", delay))
	if r.cur.Kind != mobilenode.MovedTo || r.atHome || !r.cur.CareOf.IsValid() {
		return
	}
	if delay == 0 {
		r.startDHAAD(now)
		return
	}
	r.dhaad = dhaadState{timeout: mip6.InitialDHAADTimeout, next: now.Add(delay), delayed: true}
}

// useHomeAgent registers with ha, found by DHAAD, instead of the home agent
// old (invalid: none yet), and reports whether ha could be used at all.
func (r *engine) useHomeAgent(ha, old netip.Addr) bool {
	r.cfg = withHA(r.fileCfg, ha)
	if err := r.newCores(r.cfg); err != nil {
		r.log.Error("home agent unusable", daemon.HA(ha), zap.Error(err))
		r.cfg, r.reg = r.fileCfg, nil
		return false
	}
	// What the old home agent said of the prefix is not this one's word.
	r.mps.mpsState = mpsState{}
	if old.IsValid() {
		r.log.Info("home agent changed", zap.String("event", "ha_changed"), daemon.HA(ha),
			zap.Stringer("previous", old), zap.Stringers("home_agents", r.has.list))
	}
	if r.cur.Kind != mobilenode.MovedTo || r.atHome || !r.cur.CareOf.IsValid() {
		return true
	}
	r.goAway(r.cur)
	// The new registration's first Binding Update is bounded by the
	// care-of address's valid lifetime too (lifetime.go).
	r.boundMoves(nil)
	r.output(r.reg.Moved(r.cur.CareOf, time.Now()))
	return true
}

// haStatus fills the status's home agent list.
func (r *engine) haStatus(st *Status, now time.Time) {
	if !r.fileCfg.HomeAgent.IsValid() {
		st.HomeAgents = slices.Clone(r.has.list)
	}
	st.HomePrefix = r.mps.prefix.status(r.cfg.HomePrefix, now)
}
