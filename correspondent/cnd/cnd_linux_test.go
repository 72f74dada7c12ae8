package cnd

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"golang.org/x/sys/unix"

	"github.com/gomip6/gomip6/binding"
	"github.com/gomip6/gomip6/conf"
	"github.com/gomip6/gomip6/internal/control"
	"github.com/gomip6/gomip6/internal/netlab"
	"github.com/gomip6/gomip6/internal/rawsock"
	"github.com/gomip6/gomip6/internal/rodata"
	"github.com/gomip6/gomip6/mip6"
)

// The lab:
//
//	cn c0 ─── r0  rt  r1 ─── m0  mn
//	2001:db8:200::2      2001:db8:a::99 (care-of)
//	                     2001:db8:100::10 (home address, on lo)
//
// The router sends 2001:db8:100::/64 to the mobile node, standing in for
// its home agent's tunnel: HoTI leaves from the home address and the HoT
// comes back to it, as through a home agent. The "mobile node" is this
// test: it builds HoTI, CoTI, BU and data packets with package mip6 and
// computes tokens, Kbm and the authenticator with package binding, as a
// mobile node does (the real mnd does not do route optimization yet).
var (
	tCN  = netip.MustParseAddr("2001:db8:200::2")
	tCoA = netip.MustParseAddr("2001:db8:a::99")
	tHoA = netip.MustParseAddr("2001:db8:100::10")
	tHoB = netip.MustParseAddr("2001:db8:100::11") // no binding
)

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

type lab struct {
	t        *testing.T
	cn, mn   *netlab.NS
	rt       *netlab.NS
	dir      string
	d        *Daemon
	cancel   context.CancelFunc
	done     chan error
	tx       *rawsock.Sender
	rx       *rawsock.Listener
	buf      []byte
	homeTok  binding.KeygenToken
	coaTok   binding.KeygenToken
	homeIdx  uint16
	coaIdx   uint16
	seq      uint16
	lastBU   []byte
	cnSocket string
}

func newLab(t *testing.T) *lab {
	netlab.SkipUnlessRoot(t)
	nl, err := netlab.New(t)
	must(t, err)
	l := &lab{t: t, dir: t.TempDir(), buf: make([]byte, 4096), seq: 1000}
	rt, err := nl.NS("rt")
	must(t, err)
	l.rt = rt
	l.cn, err = nl.NS("cn")
	must(t, err)
	l.mn, err = nl.NS("mn")
	must(t, err)
	for _, n := range []*netlab.NS{rt, l.cn, l.mn} {
		must(t, n.DisableDAD())
	}
	must(t, nl.Link(l.cn, "c0", rt, "r0"))
	must(t, nl.Link(rt, "r1", l.mn, "m0"))
	must(t, rt.Forwarding(true, false))
	must(t, l.cn.Addr("c0", "2001:db8:200::2/64"))
	must(t, rt.Addr("r0", "2001:db8:200::1/64"))
	must(t, rt.Addr("r1", "2001:db8:a::1/64"))
	must(t, l.mn.Addr("m0", "2001:db8:a::99/64"))
	must(t, l.mn.Addr("lo", "2001:db8:100::10/128"))
	must(t, l.mn.Addr("lo", "2001:db8:100::11/128"))
	must(t, l.cn.Route("default", "via", "2001:db8:200::1"))
	must(t, l.mn.Route("default", "via", "2001:db8:a::1"))
	must(t, rt.Route("2001:db8:100::/64", "via", "2001:db8:a::99"))

	filter, err := rawsock.Assemble(rawsock.MIPv6Filter(rawsock.LinkIP, tCoA, tHoA, tHoB))
	must(t, err)
	must(t, l.mn.Do(func() (err error) {
		if l.tx, err = rawsock.NewSender(""); err != nil {
			return err
		}
		l.rx, err = rawsock.Listen(&net.Interface{Name: "any"}, rawsock.Config{Filter: filter})
		return err
	}))
	t.Cleanup(func() { l.tx.Close(); l.rx.Close() })
	return l
}

func (l *lab) start() {
	t := l.t
	l.cnSocket = filepath.Join(l.dir, "cnd.sock")
	cfg, err := conf.ParseCN([]byte(fmt.Sprintf("max_binding_lifetime = \"60s\"\n[control]\nsocket = %q\n", l.cnSocket)))
	must(t, err)
	log := zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel))
	must(t, l.cn.Do(func() (err error) {
		l.d, err = New(cfg, Options{Log: log})
		return err
	}))
	if got := l.d.Addresses(); len(got) != 1 || got[0] != tCN {
		t.Errorf("addresses found %v, want [%v]", got, tCN)
	}
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel, l.done = cancel, make(chan error, 1)
	go func() { l.done <- l.d.Run(ctx, nil) }()
	t.Cleanup(l.stop)
}

func (l *lab) stop() {
	if l.cancel == nil {
		return
	}
	l.cancel()
	l.cancel = nil
	select {
	case err := <-l.done:
		must(l.t, err)
	case <-time.After(10 * time.Second):
		l.t.Fatal("cnd did not stop")
	}
}

// send sends an IPv6 packet from the mobile node.
func (l *lab) send(pkt []byte) {
	l.t.Helper()
	must(l.t, l.tx.Send(pkt, 0))
}

// sendMH sends a Mobility Header message from src (with a Home Address
// option for hoa when valid), checksum and authenticator computed.
func (l *lab) sendMH(src, hoa netip.Addr, mh []byte) []byte {
	ps := src
	if hoa.IsValid() {
		ps = hoa
	}
	mip6.SetMHChecksum(mh, ps, tCN)
	pkt, _ := mip6.AppendMobilityPacket(nil, src, tCN, hoa, netip.Addr{}, 64, mh)
	l.send(pkt)
	return pkt
}

// await reads the mobile node's listener until match accepts a packet.
func (l *lab) await(what string, match func(pkt []byte, lay mip6.PacketLayout) bool) []byte {
	l.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		l.rx.SetReadDeadline(deadline)
		n, _, err := l.rx.Read(l.buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
		must(l.t, err)
		lay, err := mip6.WalkIPv6(l.buf[:n])
		if err != nil {
			continue
		}
		if match(l.buf[:n], lay) {
			return bytes.Clone(l.buf[:n])
		}
	}
	l.t.Fatalf("no %s within 5 s", what)
	return nil
}

// awaitMH waits for a Mobility Header message of type t.
func (l *lab) awaitMH(typ mip6.MHType) (mip6.PacketLayout, mip6.MobilityMessage, []byte) {
	l.t.Helper()
	pkt := l.await(typ.String(), func(pkt []byte, lay mip6.PacketLayout) bool {
		return lay.Proto == mip6.ProtoMobility && mip6.MHType(pkt[lay.Offset+2]) == typ
	})
	lay, _ := mip6.WalkIPv6(pkt)
	mh := pkt[lay.Offset:lay.End]
	if !mip6.VerifyMHChecksum(mh, lay.PseudoSrc, lay.PseudoDst) {
		l.t.Errorf("%v checksum wrong", typ)
	}
	msg, err := mip6.ParseMessage(mh)
	must(l.t, err)
	return lay, msg, mh
}

// rr runs return routability: HoTI from the home address, CoTI from the
// care-of address.
func (l *lab) rr() {
	t := l.t
	hc, cc := binding.Cookie{1, 2, 3}, binding.Cookie{4, 5, 6}
	mh, _ := mip6.MarshalMessage(&mip6.HomeTestInit{Cookie: hc})
	l.sendMH(tHoA, netip.Addr{}, mh)
	lay, msg, _ := l.awaitMH(mip6.MHHomeTest)
	hot := msg.(*mip6.HomeTest)
	if lay.Src != tCN || lay.Dst != tHoA || hot.Cookie != hc {
		t.Fatalf("HoT %v -> %v cookie %x", lay.Src, lay.Dst, hot.Cookie)
	}
	mh, _ = mip6.MarshalMessage(&mip6.CareofTestInit{Cookie: cc})
	l.sendMH(tCoA, netip.Addr{}, mh)
	lay, msg, _ = l.awaitMH(mip6.MHCareofTest)
	cot := msg.(*mip6.CareofTest)
	if lay.Src != tCN || lay.Dst != tCoA || cot.Cookie != cc {
		t.Fatalf("CoT %v -> %v cookie %x", lay.Src, lay.Dst, cot.Cookie)
	}
	l.homeTok, l.homeIdx, l.coaTok, l.coaIdx = hot.KeygenToken, hot.NonceIndex, cot.KeygenToken, cot.NonceIndex
}

// bu sends an authenticated Binding Update with the A flag (§11.7.2).
func (l *lab) bu(lifetime time.Duration, badMAC bool) binding.Kbm {
	l.seq++
	mh, err := mip6.MarshalMessage(&mip6.BindingUpdate{Sequence: l.seq, Flags: mip6.BUFlagA, Lifetime: lifetime,
		Options: []mip6.MobilityOption{&mip6.NonceIndices{HomeNonceIndex: l.homeIdx, CareofNonceIndex: l.coaIdx}, &mip6.BindingAuthorizationData{}}})
	must(l.t, err)
	kbm := binding.KbmFromTokens(l.homeTok, l.coaTok)
	coa := tCoA
	if lifetime == 0 {
		kbm, coa = binding.KbmFromHomeToken(l.homeTok), tHoA
	}
	off, _, err := mip6.AuthenticatorOffset(mh, mip6.OptBindingAuthData)
	must(l.t, err)
	must(l.t, binding.SetBindingAuthenticator(kbm, coa, tCN, mh, off))
	if badMAC {
		mh[off+3] ^= 0x40
	}
	l.lastBU = l.sendMH(tCoA, tHoA, mh)
	return kbm
}

func (l *lab) status() Status {
	l.t.Helper()
	body, err := control.NewClient(l.cnSocket).Get(context.Background(), "/v1/status")
	must(l.t, err)
	var st Status
	must(l.t, json.Unmarshal(body, &st))
	return st
}

// udpPacket builds a UDP datagram from src to dst with the checksum over
// (csrc, dst), as a mobile node's upper layer computes it with the home
// address, behind a Home Address option for hoa when valid.
func udpPacket(src, dst, hoa netip.Addr, sport, dport uint16, payload []byte) []byte {
	csrc := src
	if hoa.IsValid() {
		csrc = hoa
	}
	udp := make([]byte, 8, 8+len(payload))
	udp = append(udp, payload...)
	binary.BigEndian.PutUint16(udp[0:], sport)
	binary.BigEndian.PutUint16(udp[2:], dport)
	binary.BigEndian.PutUint16(udp[4:], uint16(len(udp)))
	binary.BigEndian.PutUint16(udp[6:], mip6.PseudoHeaderChecksum(csrc, dst, mip6.ProtoUDP, udp))
	if !hoa.IsValid() {
		return append(mip6.AppendIPv6Header(nil, uint16(len(udp)), mip6.ProtoUDP, 64, src, dst), udp...)
	}
	b := mip6.AppendIPv6Header(nil, uint16(24+len(udp)), mip6.ProtoDestOpts, 64, src, dst)
	b = mip6.AppendHomeAddressDestOpts(b, mip6.ProtoUDP, hoa)
	return append(b, udp...)
}

// TestRouteOptimization drives cnd with real packets: return
// routability, a Binding Update and its BA, the outbound data path (a UDP
// datagram from a socket on the correspondent to the home address leaves
// for the care-of address with a type 2 routing header), the inbound one
// (a datagram with a Home Address option reaches a socket as from the home
// address), a Binding Error for a home address without a binding, refused
// replays and forgeries, de-registration, and a clean shutdown.
func TestRouteOptimization(t *testing.T) {
	l := newLab(t)
	l.start()
	icmp := l.icmpWatch()

	start := time.Now()
	l.rr()
	kbm := l.bu(80*time.Second, false)
	lay, msg, mh := l.awaitMH(mip6.MHBindingAck)
	t.Logf("return routability and Binding Update: %v", time.Since(start))
	ba := msg.(*mip6.BindingAck)
	if ba.Status != mip6.StatusAccepted || ba.Sequence != l.seq || ba.Lifetime != 60*time.Second {
		// 80 s asked, max_binding_lifetime granted.
		t.Errorf("BA %+v", ba)
	}
	if lay.Dst != tCoA || lay.RH2Address != tHoA || lay.RH2SegmentsLeft != 1 {
		t.Errorf("BA to %v with routing header %v (%d)", lay.Dst, lay.RH2Address, lay.RH2SegmentsLeft)
	}
	off, _, err := mip6.AuthenticatorOffset(mh, mip6.OptBindingAuthData)
	if err != nil || !binding.VerifyBindingAuthenticator(kbm, tCoA, tCN, mh, off) {
		t.Errorf("BA authenticator does not verify under Kbm: %v", err)
	}
	st := l.status()
	if st.Role != "cn" || len(st.Bindings) != 1 || st.Bindings[0].HomeAddress != tHoA.String() || st.Bindings[0].CareOfAddress != tCoA.String() {
		t.Fatalf("status %+v", st)
	}
	if out, err := l.cn.IP("-6", "route", "show", "table", "110"); err != nil || !strings.Contains(out, "2001:db8:100::10 dev mip6cn0 proto 110") {
		t.Errorf("route table 110: %q %v", out, err)
	}
	// Return routability again with the binding in place: the HoT still
	// goes to the home address the normal way (through the home agent),
	// not into the binding's route (§6.1); rr checks where it arrives.
	l.rr()

	// Outbound: a socket on the correspondent sends to the home address.
	var out *net.UDPConn
	must(t, l.cn.Do(func() (err error) {
		out, err = net.DialUDP("udp6", nil, &net.UDPAddr{IP: tHoA.AsSlice(), Port: 6000})
		return err
	}))
	defer out.Close()
	payload := []byte("route optimized, outbound")
	_, err = out.Write(payload)
	must(t, err)
	pkt := l.await("data packet with a type 2 routing header", func(pkt []byte, lay mip6.PacketLayout) bool {
		return lay.RH2 != 0 && lay.Proto == mip6.ProtoUDP
	})
	lay, _ = mip6.WalkIPv6(pkt)
	if lay.Src != tCN || lay.Dst != tCoA || lay.RH2Address != tHoA || lay.RH2SegmentsLeft != 1 {
		t.Errorf("outbound %v -> %v via %v (%d)", lay.Src, lay.Dst, lay.RH2Address, lay.RH2SegmentsLeft)
	}
	udp := pkt[lay.Offset:lay.End]
	if mip6.PseudoHeaderChecksum(lay.PseudoSrc, lay.PseudoDst, mip6.ProtoUDP, udp) != 0 {
		t.Error("outbound UDP checksum does not verify with the home address as final destination")
	}
	if !bytes.Equal(udp[8:], payload) {
		t.Errorf("outbound payload %q", udp[8:])
	}

	// Inbound: a datagram with a Home Address option from the care-of
	// address reaches a socket on the correspondent from the home address.
	var in *net.UDPConn
	must(t, l.cn.Do(func() (err error) {
		in, err = net.ListenUDP("udp6", &net.UDPAddr{IP: tCN.AsSlice(), Port: 5000})
		return err
	}))
	defer in.Close()
	payload = []byte("route optimized, inbound")
	l.send(udpPacket(tCoA, tCN, tHoA, 4000, 5000, payload))
	in.SetReadDeadline(time.Now().Add(5 * time.Second))
	got := make([]byte, 1500)
	n, from, err := in.ReadFromUDP(got)
	if err != nil {
		t.Fatalf("inbound datagram: %v", err)
	}
	if from.AddrPort().Addr() != tHoA || from.Port != 4000 || !bytes.Equal(got[:n], payload) {
		t.Errorf("inbound datagram from %v: %q", from, got[:n])
	}

	// No binding for the Home Address option: Binding Error 1 to the
	// care-of address (§9.3.1, §9.3.3), and nothing reaches the socket.
	l.send(udpPacket(tCoA, tCN, tHoB, 4000, 5000, []byte("no binding for this home address")))
	_, msg, _ = l.awaitMH(mip6.MHBindingError)
	if be := msg.(*mip6.BindingError); be.Status != mip6.BEUnknownHomeAddress || be.HomeAddress != tHoB {
		t.Errorf("BE %+v", be)
	}
	in.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, from, err := in.ReadFromUDP(got); err == nil {
		t.Errorf("a datagram without a binding was delivered from %v: %q", from, got[:n])
	}

	// Replay of the accepted BU: BA 135. Forged BU: no answer, no change.
	l.send(l.lastBU)
	_, msg, _ = l.awaitMH(mip6.MHBindingAck)
	if ba := msg.(*mip6.BindingAck); ba.Status != mip6.StatusSequenceOutOfWindow {
		t.Errorf("replayed BU: %+v", ba)
	}
	l.bu(80*time.Second, true)
	time.Sleep(200 * time.Millisecond) // a root test of real packets: give the forgery time to do harm
	if st := l.status(); st.Bindings[0].Sequence != l.seq-1 || st.Counters["dropped_auth-failed"] != 1 {
		t.Errorf("after a forged BU: %+v", st)
	}

	// De-registration: BA, route gone.
	l.bu(0, false)
	_, msg, _ = l.awaitMH(mip6.MHBindingAck)
	if ba := msg.(*mip6.BindingAck); ba.Status != mip6.StatusAccepted || ba.Lifetime != 0 {
		t.Errorf("de-registration BA %+v", ba)
	}
	if st := l.status(); len(st.Bindings) != 0 {
		t.Errorf("bindings after de-registration: %+v", st.Bindings)
	}
	if out, _ := l.cn.IP("-6", "route", "show", "table", "110"); strings.Contains(out, "2001:db8:100::10") {
		t.Errorf("route left: %q", out)
	}
	body, err := control.NewClient(l.cnSocket).Get(context.Background(), "/v1/metrics")
	must(t, err)
	for _, want := range []string{"mip6_cn_bindings 0", `mip6_cn_data_packets_total{direction="out"} 1`,
		`mip6_cn_data_packets_total{direction="in"} 1`, `mip6_cn_mobility_headers_sent_total{type="BE"} 1`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}

	// The kernel never saw a Mobility Header or a Home Address option
	// (the nftables rules): no Parameter Problem reached the mobile
	// node, which would take it as "no route optimization here"
	// (§11.3.6).
	if pp := icmp(); pp != 0 {
		t.Errorf("%d ICMPv6 Parameter Problems from the correspondent", pp)
	}

	// Shutdown removes everything.
	l.stop()
	if out, err := l.cn.IP("link", "show", "mip6cn0"); err == nil {
		t.Errorf("tun device left: %s", out)
	}
	if out, _ := l.cn.IP("-6", "rule", "show"); strings.Contains(out, "lookup 110") {
		t.Errorf("rule left: %s", out)
	}
	if out, err := l.cn.Run("nft", "list", "tables"); err == nil && strings.Contains(out, NFTable) {
		t.Errorf("nftables table left: %s", out)
	}
}

// icmpWatch counts the ICMPv6 Parameter Problems from the correspondent
// that reach the mobile node, until the returned function is called.
func (l *lab) icmpWatch() func() int {
	var c net.PacketConn
	must(l.t, l.mn.Do(func() (err error) {
		c, err = net.ListenPacket("ip6:ipv6-icmp", "::")
		return err
	}))
	done := make(chan int, 1)
	stop := make(chan struct{})
	go func() {
		n := 0
		b := make([]byte, 1500)
		for {
			c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			k, from, err := c.ReadFrom(b)
			if err == nil && k > 0 && b[0] == mip6.ICMPParameterProblem {
				if a, ok := netip.AddrFromSlice(from.(*net.IPAddr).IP); ok && a == tCN {
					n++
				}
			}
			select {
			case <-stop:
				c.Close()
				done <- n
				return
			default:
			}
		}
	}()
	l.t.Cleanup(func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
	})
	return func() int {
		time.Sleep(100 * time.Millisecond)
		close(stop)
		return <-done
	}
}

// TestParameterProblemWithoutFirewall is the control of the check above:
// without the nftables rules the kernel does answer a HoTI and a packet
// with a Home Address option with Parameter Problems (and cnd still
// answers the HoTI, from the packet socket).
func TestParameterProblemWithoutFirewall(t *testing.T) {
	l := newLab(t)
	l.cnSocket = filepath.Join(l.dir, "cnd.sock")
	cfg, err := conf.ParseCN([]byte(fmt.Sprintf("[control]\nsocket = %q\n", l.cnSocket)))
	must(t, err)
	must(t, l.cn.Do(func() (err error) {
		l.d, err = New(cfg, Options{Addresses: []netip.Addr{tCN}, NoFirewall: true})
		return err
	}))
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel, l.done = cancel, make(chan error, 1)
	go func() { l.done <- l.d.Run(ctx, nil) }()
	t.Cleanup(l.stop)
	icmp := l.icmpWatch()
	mh, _ := mip6.MarshalMessage(&mip6.HomeTestInit{})
	l.sendMH(tHoA, netip.Addr{}, mh)
	l.awaitMH(mip6.MHHomeTest)
	l.send(udpPacket(tCoA, tCN, tHoB, 4000, 5000, []byte("no binding for this home address")))
	l.awaitMH(mip6.MHBindingError)
	if pp := icmp(); pp != 2 {
		t.Errorf("%d Parameter Problems, want 2 (one per packet)", pp)
	}
}

// TestDataPathRate measures both data paths with a burst of datagrams:
// outbound from a socket on the correspondent through the tun device to
// the mobile node's packet socket, inbound from the mobile node's raw
// socket to a socket on the correspondent. It logs the rates; it fails
// only when (almost) nothing gets through, since the machine is shared.
func TestDataPathRate(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	l := newLab(t)
	l.start()
	l.rr()
	l.bu(80*time.Second, false)
	l.awaitMH(mip6.MHBindingAck)
	const count, size = 20000, 1000
	payload := make([]byte, size)

	var out *net.UDPConn
	must(t, l.cn.Do(func() (err error) {
		out, err = net.DialUDP("udp6", nil, &net.UDPAddr{IP: tHoA.AsSlice(), Port: 6000})
		return err
	}))
	defer out.Close()
	l.rx.Close()
	filter, err := rawsock.Assemble(rawsock.RoutingHeader2Filter(rawsock.LinkIP, tCoA))
	must(t, err)
	must(t, l.mn.Do(func() (err error) {
		l.rx, err = rawsock.Listen(&net.Interface{Name: "any"}, rawsock.Config{Filter: filter, ReadBuffer: 16 << 20})
		return err
	}))
	got := make(chan int, 1)
	var last time.Time
	go func() {
		n := 0
		ms := make([]rawsock.Message, 64)
		for i := range ms {
			ms[i].Buf = make([]byte, 2048)
		}
		for n < count {
			l.rx.SetReadDeadline(time.Now().Add(time.Second))
			k, err := l.rx.ReadBatch(ms)
			if err != nil {
				break
			}
			n += k
			last = time.Now()
		}
		got <- n
	}()
	start := time.Now()
	for range count {
		out.Write(payload)
	}
	sent := time.Since(start)
	n := <-got
	t.Logf("outbound: %d of %d datagrams of %d octets arrived with a type 2 routing header; sent in %v (%.0f packets/s), "+
		"arrived within %v (%.0f packets/s through the data path)",
		n, count, size, sent, float64(count)/sent.Seconds(), last.Sub(start), float64(n)/last.Sub(start).Seconds())
	if n < count/10 {
		t.Errorf("outbound: only %d of %d arrived", n, count)
	}

	var in *net.UDPConn
	must(t, l.cn.Do(func() (err error) {
		in, err = net.ListenUDP("udp6", &net.UDPAddr{IP: tCN.AsSlice(), Port: 5000})
		return err
	}))
	defer in.Close()
	in.SetReadBuffer(16 << 20)
	pkt := udpPacket(tCoA, tCN, tHoA, 4000, 5000, payload)
	go func() {
		n := 0
		b := make([]byte, 2048)
		for n < count {
			in.SetReadDeadline(time.Now().Add(time.Second))
			if _, _, err := in.ReadFromUDP(b); err != nil {
				break
			}
			n++
		}
		got <- n
	}()
	start = time.Now()
	for range count {
		l.tx.Send(pkt, 0)
	}
	sent = time.Since(start)
	n = <-got
	t.Logf("inbound: %d of %d datagrams with a Home Address option reached the socket; sent in %v (%.0f packets/s)",
		n, count, sent, float64(count)/sent.Seconds())
	if n < count/10 {
		t.Errorf("inbound: only %d of %d arrived", n, count)
	}
	st := l.status()
	t.Logf("counters: out %d in %d in_errors %d out_errors %d out_send_errors %d rx_queue_full %d rx_socket_drops %d",
		st.Counters["out_packets"], st.Counters["in_packets"], st.Counters["in_errors"], st.Counters["out_errors"],
		st.Counters["out_send_errors"], st.Counters["rx_queue_full"], st.Counters["rx_socket_drops"])
}

// TestReload: a SIGHUP configuration with route optimization off drops
// the bindings and their routes; one that changes the control socket is
// refused whole.
func TestReload(t *testing.T) {
	l := newLab(t)
	l.cnSocket = filepath.Join(l.dir, "cnd.sock")
	parse := func(extra string) *conf.CN {
		cfg, err := conf.ParseCN([]byte(fmt.Sprintf("%s\n[control]\nsocket = %q\n", extra, l.cnSocket)))
		must(t, err)
		return cfg
	}
	must(t, l.cn.Do(func() (err error) {
		l.d, err = New(parse(""), Options{Addresses: []netip.Addr{tCN}})
		return err
	}))
	reload := make(chan *conf.CN)
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel, l.done = cancel, make(chan error, 1)
	go func() { l.done <- l.d.Run(ctx, reload) }()
	t.Cleanup(l.stop)
	l.rr()
	l.bu(80*time.Second, false)
	l.awaitMH(mip6.MHBindingAck)

	bad := parse("")
	bad.Control.Socket = filepath.Join(l.dir, "other.sock")
	bad.RouteOptimization = false
	reload <- bad
	if st := l.status(); len(st.Bindings) != 1 || !st.RouteOptimization {
		t.Errorf("a refused reload changed something: %+v", st)
	}
	reload <- parse("route_optimization = false")
	if st := l.status(); len(st.Bindings) != 0 || st.RouteOptimization {
		t.Errorf("after reload: %+v", st)
	}
	if out, _ := l.cn.IP("-6", "route", "show", "table", "110"); strings.Contains(out, tHoA.String()) {
		t.Errorf("route left: %q", out)
	}
	// Route optimization off: a HoTI gets nothing.
	mh, _ := mip6.MarshalMessage(&mip6.HomeTestInit{})
	l.sendMH(tHoA, netip.Addr{}, mh)
	time.Sleep(200 * time.Millisecond)
	if c := l.status().Counters["dropped_disabled"]; c != 1 {
		t.Errorf("dropped_disabled %d", c)
	}
}

// TestCleanup: what a killed cnd leaves is removed by Cleanup, run in the
// same namespace. The tun device is not persistent, so it and its routes
// go with the dead process's descriptor; the rule and the nftables table
// stay until Cleanup.
func TestCleanup(t *testing.T) {
	l := newLab(t)
	l.cnSocket = filepath.Join(l.dir, "cnd.sock")
	cfg, err := conf.ParseCN([]byte(fmt.Sprintf("[control]\nsocket = %q\n", l.cnSocket)))
	must(t, err)
	must(t, l.cn.Do(func() (err error) {
		l.d, err = New(cfg, Options{Addresses: []netip.Addr{tCN}})
		if err != nil {
			return err
		}
		return l.d.route(tHoA, true)
	}))
	// The "crash": the daemon's state stays as it is; only its
	// descriptors go (a dead process's would).
	d := l.d
	d.tun.Close()
	d.rx.Close()
	d.tx.Close()
	d.ctl.Close()
	t.Cleanup(func() { d.nl.Close(); d.netns.Close(); unix.Close(d.sigx) })
	if s, _ := l.cn.IP("-6", "rule", "show"); !strings.Contains(s, "lookup 110") {
		t.Fatalf("no rule before cleanup: %s", s)
	}
	if s, err := l.cn.Run("nft", "list", "tables"); err != nil || !strings.Contains(s, NFTable) {
		t.Fatalf("no nftables table before cleanup: %s %v", s, err)
	}
	var out bytes.Buffer
	must(t, l.cn.Do(func() error { return Cleanup("", &out) }))
	t.Logf("cleanup said:\n%s", &out)
	if s, err := l.cn.IP("link", "show", "mip6cn0"); err == nil {
		t.Errorf("tun device left: %s", s)
	}
	if s, _ := l.cn.IP("-6", "rule", "show"); strings.Contains(s, "lookup 110") {
		t.Errorf("rule left: %s", s)
	}
	if s, _ := l.cn.IP("-6", "route", "show", "table", "110"); strings.Contains(s, tHoA.String()) {
		t.Errorf("route left: %s", s)
	}
	if s, err := l.cn.Run("nft", "list", "tables"); err == nil && strings.Contains(s, NFTable) {
		t.Errorf("nftables table left: %s", s)
	}
	out.Reset()
	must(t, l.cn.Do(func() error { return Cleanup("", &out) }))
	if !strings.Contains(out.String(), "nothing to clean up") {
		t.Errorf("second cleanup said %q", &out)
	}
}

// TestRefreshAndExpiry: a binding in use gets a Binding Refresh Request at
// its home address when an eighth of its lifetime is left (§9.5.5), and
// its route goes when it expires. It takes one 8-second lifetime.
func TestRefreshAndExpiry(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	l := newLab(t)
	l.cnSocket = filepath.Join(l.dir, "cnd.sock")
	cfg, err := conf.ParseCN([]byte(fmt.Sprintf("max_binding_lifetime = \"8s\"\n[control]\nsocket = %q\n", l.cnSocket)))
	must(t, err)
	must(t, l.cn.Do(func() (err error) {
		l.d, err = New(cfg, Options{Addresses: []netip.Addr{tCN}})
		return err
	}))
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel, l.done = cancel, make(chan error, 1)
	go func() { l.done <- l.d.Run(ctx, nil) }()
	t.Cleanup(l.stop)
	l.rr()
	l.bu(80*time.Second, false)
	start := time.Now()
	l.awaitMH(mip6.MHBindingAck)
	var out *net.UDPConn
	must(t, l.cn.Do(func() (err error) {
		out, err = net.DialUDP("udp6", nil, &net.UDPAddr{IP: tHoA.AsSlice(), Port: 6000})
		return err
	}))
	defer out.Close()
	out.Write([]byte("in use"))
	deadline := time.Now().Add(10 * time.Second)
	var brrAt time.Duration
	for time.Now().Before(deadline) && brrAt == 0 {
		l.rx.SetReadDeadline(deadline)
		n, _, err := l.rx.Read(l.buf)
		if err != nil {
			break
		}
		lay, err := mip6.WalkIPv6(l.buf[:n])
		if err == nil && lay.Proto == mip6.ProtoMobility && mip6.MHType(l.buf[lay.Offset+2]) == mip6.MHBindingRefreshRequest {
			if lay.Dst != tHoA || lay.RH2 != 0 {
				t.Errorf("BRR to %v with routing header %v", lay.Dst, lay.RH2 != 0)
			}
			brrAt = time.Since(start)
		}
	}
	if brrAt < 6900*time.Millisecond || brrAt > 7500*time.Millisecond {
		t.Fatalf("BRR after %v, want at 7 s (an eighth of 8 s left)", brrAt)
	}
	t.Logf("BRR %v after the BA", brrAt)
	time.Sleep(8*time.Second - time.Since(start) + 1500*time.Millisecond)
	st := l.status()
	if len(st.Bindings) != 0 || st.Counters["bindings_expired"] != 1 || st.Counters["brr_sent"] != 1 {
		t.Errorf("after expiry: %+v", st)
	}
	if s, _ := l.cn.IP("-6", "route", "show", "table", "110"); strings.Contains(s, tHoA.String()) {
		t.Errorf("route left: %s", s)
	}
}

// scapyMN is a mobile node written with scapy and Python's hmac/hashlib
// alone, from RFC 6275 (§5.2.5, §5.2.6, §6.1, §6.2.6, §6.2.7, §11.7.2),
// with nothing of gomip6: HoTI from the home address, CoTI from the care-of
// address, Kbm = SHA1(home token | care-of token), a BU with the A flag,
// Nonce Indices, Binding Authorization Data (First(96, HMAC_SHA1(Kbm,
// care-of | correspondent | MH with checksum zero))) and a Home Address
// option; then it checks the BA's status and authenticator. scapy's own
// Nonce Indices and Binding Authorization Data defaults have wrong
// lengths (16), so the lengths are given: 4 and 12.
const scapyMN = `
import sys, json, time, hmac, hashlib, socket
from scapy.all import conf, send, AsyncSniffer, raw
from scapy.layers.inet6 import *
conf.verb = 0
conf.L3socket6 = L3RawSocket6
cn, hoa, coa = sys.argv[1:4]
def a16(s):
    return socket.inet_pton(socket.AF_INET6, s)
res = {}
got = []
sn = AsyncSniffer(iface="m0", store=False, prn=got.append,
    lfilter=lambda p: IPv6 in p and (MIP6MH_HoT in p or MIP6MH_CoT in p or MIP6MH_BA in p))
sn.start()
time.sleep(0.5)
send(IPv6(src=hoa, dst=cn)/MIP6MH_HoTI(cookie=b"\x11"*8))
send(IPv6(src=coa, dst=cn)/MIP6MH_CoTI(cookie=b"\x22"*8))
def wait(cls):
    for _ in range(50):
        for p in list(got):
            if cls in p:
                return p
        time.sleep(0.1)
    raise SystemExit("no %s" % cls.__name__)
hot = wait(MIP6MH_HoT)[MIP6MH_HoT]
cot = wait(MIP6MH_CoT)[MIP6MH_CoT]
res["hot_cookie_ok"] = hot.cookie == b"\x11"*8
res["cot_cookie_ok"] = cot.cookie == b"\x22"*8
ht = hot.token if isinstance(hot.token, bytes) else hot.token.to_bytes(8, "big")
ct = cot.token if isinstance(cot.token, bytes) else cot.token.to_bytes(8, "big")
kbm = hashlib.sha1(ht + ct).digest()
bu = MIP6MH_BU(seq=4242, flags="A", mhtime=60//4, cksum=0,
    options=[MIP6OptNonceIndices(olen=4, hni=hot.index, coni=cot.index), MIP6OptBindingAuthData(olen=12, authenticator=0)])
mh = raw(bu)
res["bu_len"] = len(mh)
mac = hmac.new(kbm, a16(coa) + a16(cn) + mh[:-12], hashlib.sha1).digest()[:12]
bu.options[-1].authenticator = int.from_bytes(mac, "big")
bu.cksum = None
send(IPv6(src=coa, dst=cn)/IPv6ExtHdrDestOpt(options=[HAO(hoa=hoa)])/bu)
ba = wait(MIP6MH_BA)
res["ba_dst"] = ba[IPv6].dst
res["rh2_addr"] = ba[IPv6ExtHdrRouting].addresses[0] if IPv6ExtHdrRouting in ba else ""
b = ba[MIP6MH_BA]
res["ba_status"], res["ba_seq"] = b.status, b.seq
bmh = bytearray(raw(b))
auth = bytes(bmh[-12:])
bmh[4:6] = b"\x00\x00"
res["ba_auth_ok"] = hmac.compare_digest(auth, hmac.new(kbm, a16(coa) + a16(cn) + bytes(bmh[:-12]), hashlib.sha1).digest()[:12])
sn.stop()
print(json.dumps(res))
`

// TestScapyMobileNode: cnd serves a mobile node built from the RFC with
// scapy, octet for octet, with none of gomip6's code on that side.
func TestScapyMobileNode(t *testing.T) {
	if err := exec.Command("/usr/bin/python3", "-c", "import scapy.layers.inet6").Run(); err != nil {
		t.Skip("no python3-scapy")
	}
	l := newLab(t)
	l.start()
	out, err := l.mn.Run("/usr/bin/python3", "-c", scapyMN, tCN.String(), tHoA.String(), tCoA.String())
	if err != nil {
		t.Fatalf("scapy mobile node: %v\n%s", err, out)
	}
	var res map[string]any
	if err := json.Unmarshal([]byte(out[strings.LastIndex(strings.TrimSpace(out), "\n")+1:]), &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	want := map[string]any{"hot_cookie_ok": true, "cot_cookie_ok": true, "bu_len": float64(32), "ba_dst": tCoA.String(),
		"rh2_addr": tHoA.String(), "ba_status": float64(0), "ba_seq": float64(4242), "ba_auth_ok": true}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("scapy mobile node (-want +got):\n%s", diff)
	}
	if st := l.status(); len(st.Bindings) != 1 || st.Bindings[0].Sequence != 4242 {
		t.Errorf("status %+v", st)
	}
}

// TestDataPathAllocs: the per-packet work of both directions, as the
// daemon runs it with a real tun device and sockets, allocates nothing.
// The measured work ends where the packet leaves the process, as in the
// daemon's loops: inbound, classifyTo queues on a TunWriter (readLoop's
// d.tunW) and the writer's Flush writes to the tun device; outbound,
// outbound queues on a Sender and its Flush is the sendmmsg. Every flush
// must have sent its packet, and the packets must arrive (the
// correspondent's socket, the mobile node's link): allocations counted on
// an error path, or on packets only queued, would prove nothing.
func TestDataPathAllocs(t *testing.T) {
	l := newLab(t)
	l.start()
	l.rr()
	l.bu(80*time.Second, false)
	l.awaitMH(mip6.MHBindingAck)
	in := udpPacket(tCoA, tCN, tHoA, 4000, 5000, []byte("inbound"))
	work := make([]byte, bufSize)
	outPkt := udpPacket(tCN, tHoA, netip.Addr{}, 6000, 6000, []byte("outbound"))
	obuf := make([]byte, bufSize)
	// A sender and a tun writer of the test's own: the daemon's belong
	// to its loops, which are running.
	var tx *rodata.Sender
	must(t, l.cn.Do(func() (err error) { tx, err = rodata.NewSender(); return err }))
	defer tx.Close()
	tw := rodata.NewTunWriter(l.d.tun)
	// Where the packets arrive, with room for all of them queued: they
	// are counted after the measurement (reading during it would count
	// the reader's allocations too).
	var sock *net.UDPConn
	must(t, l.cn.Do(func() (err error) {
		sock, err = net.ListenUDP("udp6", &net.UDPAddr{IP: tCN.AsSlice(), Port: 5000})
		return err
	}))
	defer sock.Close()
	must(t, sock.SetReadBuffer(4<<20))
	filter, err := rawsock.Assemble(rawsock.RoutingHeader2Filter(rawsock.LinkIP, tCoA))
	must(t, err)
	var mnRx *rawsock.Listener
	must(t, l.mn.Do(func() (err error) {
		mnRx, err = rawsock.Listen(&net.Interface{Name: "m0"}, rawsock.Config{Filter: filter, ReadBuffer: 4 << 20})
		return err
	}))
	defer mnRx.Close()

	const runs = 200
	var calls, sent, failed, inErrs int
	var sendErr, tunErr error
	beforeIn := l.d.c.inPackets.Load()
	n := testing.AllocsPerRun(runs, func() {
		calls++
		copy(work, in)
		l.d.classifyTo(work[:len(in)], tw)
		if err := tw.Flush(); err != nil {
			inErrs++
			tunErr = err
		}
		copy(obuf[headroom:], outPkt)
		l.d.outbound(tx, obuf, len(outPkt))
		s, f, err := tx.Flush()
		sent, failed = sent+s, failed+f
		if err != nil {
			sendErr = err
		}
	})
	if n != 0 {
		t.Errorf("%v allocations per packet pair", n)
	}
	// AllocsPerRun makes one warm-up call on top of runs.
	if sent != calls || failed != 0 || sendErr != nil {
		t.Errorf("outbound: %d calls, %d sent, %d failed, last error %v", calls, sent, failed, sendErr)
	}
	if got := l.d.c.inPackets.Load() - beforeIn; got != uint64(calls) || inErrs != 0 || l.d.c.inErrors.Load() != 0 {
		t.Errorf("inbound: %d calls, %d restored, %d tun write errors (last %v), inErrors %d", calls, got, inErrs, tunErr, l.d.c.inErrors.Load())
	}

	// Count the arrivals: inbound, datagrams from the home address on
	// the correspondent's socket; outbound, packets with the routing
	// header on the mobile node's link.
	buf := make([]byte, 2048)
	// count calls read until it fails (a second without a packet) and
	// counts the packets it matched.
	count := func(read func() (match bool, err error)) int {
		n := 0
		for {
			match, err := read()
			if err != nil {
				return n
			}
			if match {
				n++
			}
		}
	}
	arrivedIn := count(func() (bool, error) {
		sock.SetReadDeadline(time.Now().Add(time.Second))
		n, from, err := sock.ReadFromUDP(buf)
		return err == nil && from.AddrPort().Addr() == tHoA && string(buf[:n]) == "inbound", err
	})
	arrivedOut := count(func() (bool, error) {
		mnRx.SetReadDeadline(time.Now().Add(time.Second))
		n, _, err := mnRx.Read(buf)
		if err != nil {
			return false, err
		}
		lay, err := mip6.WalkIPv6(buf[:n])
		return err == nil && lay.Src == tCN && lay.RH2Address == tHoA && lay.Proto == mip6.ProtoUDP &&
			string(buf[lay.Offset+8:lay.End]) == "outbound", nil
	})
	if arrivedIn != calls || arrivedOut != calls {
		t.Errorf("arrived: %d inbound, %d outbound, want %d each", arrivedIn, arrivedOut, calls)
	}
}

// TestPathMTU: a router on the way to the care-of address with a smaller
// MTU answers the (routing header included) packet with a Packet Too Big
// to us; cnd passes it on, 24 octets smaller and about the packet as the
// socket sent it, so the socket's next datagrams are fragmented to fit
// and reach the mobile node.
func TestPathMTU(t *testing.T) {
	l := newLab(t)
	l.start()
	l.rr()
	l.bu(80*time.Second, false)
	l.awaitMH(mip6.MHBindingAck)
	_, err := l.rt.IP("link", "set", "r1", "mtu", "1400")
	must(t, err)
	_, err = l.mn.IP("link", "set", "m0", "mtu", "1400")
	must(t, err)
	var out *net.UDPConn
	must(t, l.cn.Do(func() (err error) {
		out, err = net.DialUDP("udp6", nil, &net.UDPAddr{IP: tHoA.AsSlice(), Port: 6000})
		return err
	}))
	defer out.Close()
	payload := make([]byte, 1400) // 1448 octets: fits the tun device, not the path with the routing header
	deadline := time.Now().Add(5 * time.Second)
	frags := 0
	for time.Now().Before(deadline) && frags < 2 {
		out.Write(payload) // the first ones are lost or refused (EMSGSIZE once, RFC 8201)
		end := time.Now().Add(300 * time.Millisecond)
		for time.Now().Before(end) && frags < 2 {
			l.rx.SetReadDeadline(end)
			n, _, err := l.rx.Read(l.buf)
			if err != nil {
				break
			}
			lay, err := mip6.WalkIPv6(l.buf[:n])
			if err == nil && lay.RH2 != 0 && lay.Fragment != 0 && lay.RH2Address == tHoA && n <= 1400 {
				frags++
			}
		}
	}
	st := l.status()
	if frags < 2 {
		t.Fatalf("no fragmented datagram reached the mobile node; counters %v", st.Counters)
	}
	if st.Counters["ptb_translated"] == 0 {
		t.Errorf("ptb_translated %d", st.Counters["ptb_translated"])
	}
	if r, err := l.cn.IP("-6", "route", "get", tHoA.String()); err != nil || !strings.Contains(r, "mtu 1376") {
		t.Errorf("route to the home address: %q %v", r, err)
	}
}
