package lab

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gomip6/gomip6/internal/capture"
	"github.com/gomip6/gomip6/internal/netlab"
	"github.com/gomip6/gomip6/internal/pcapfile"
	"github.com/gomip6/gomip6/mip6"
)

// TestE2EHostile sends hostile traffic into the lab while the mobile node
// is away on link A with a live flow: unauthenticated, replayed and
// foreign-home-address Binding Updates, spoofed IPv6-in-IPv6 packets to the
// home agent, forged Home Address options and type 2 routing headers
// towards had, cnd and mnd, and a flood of 20,000 Binding Updates in 5 s.
// None may create a binding or move the mobile node's, no packet may reach
// the destinations the forgeries name (captured in the victims'
// namespaces), the daemons' drop counters must move and the genuine flow
// must keep working.
//
// The packets are built with scapy (an encoder independent of ours) and
// sent from an attacker namespace on the internet through a raw socket.
func TestE2EHostile(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	r := e2eLab(ctx, t, Options{})
	atk := attacker(t, r)
	f := startFlow(ctx, t, r)
	hoa, ha := r.Params.HomeAddress, r.Params.HomeAgent

	// A genuine Binding Update, captured on the home router's uplink for
	// the replay below.
	upCap, err := StartCapture(r.Topo.Home, "up0", "ip6 proto 60", r.Dir)
	if err != nil {
		t.Fatal(err)
	}
	moveAndRegister(ctx, t, r, SiteA)
	frames, err := upCap.Stop()
	if err != nil {
		t.Fatal(err)
	}
	var genuine []byte
	for i, p := range frames {
		if rec, ok := capture.Decode(i+1, p); ok && rec.MHType == "BU" && len(rec.Encapsulation) == 0 && rec.HAO == hoa.String() {
			genuine, _ = ipv6Payload(p)
			t.Logf("captured the genuine BU: %s", rec.Line())
			break
		}
	}
	if genuine == nil {
		t.Fatalf("no Binding Update from the mobile node among %d captured frames", len(frames))
	}
	cn := CNAddr

	// Replay 1: back home, the mobile node de-registers; the replayed BU
	// (its timestamp still fresh, RFC 4285 §6) must not bring the binding
	// back.
	moveAndRegister(ctx, t, r, SiteHome)
	raw := openRaw(t, atk)
	haM := metrics(ctx, t, r.HA)
	raw.send(t, genuine)
	time.Sleep(500 * time.Millisecond)
	if b, ok := haBinding(ctx, t, r); ok {
		t.Errorf("replayed BU re-created the binding after de-registration: %s -> %s seq %d", b.HomeAddress, b.CareOfAddress, b.Sequence)
	}
	d := metrics(ctx, t, r.HA).Delta(haM)
	t.Logf("replay after de-registration, had counters:\n%s", d)
	if dropped(d) < 1 {
		t.Errorf("had's counters show no rejected BU for the replay after de-registration:\n%s", d)
	}

	// Back to A; every later attack runs against a registered node.
	moveAndRegister(ctx, t, r, SiteA)
	var st MNStatus
	if err := r.MN.Status(ctx, &st); err != nil {
		t.Fatal(err)
	}
	coa := mustCoA(t, st.CareOfAddress)
	bind0, _ := haBinding(ctx, t, r)
	f.waitFlow(t, time.Now(), 5*time.Second)
	attackStart := time.Now()

	// The victims' captures: the correspondent's link, the home link and
	// the mobile node (tunnel and mip0).
	caps := map[string]*Capture{}
	for name, c := range map[string]struct {
		ns     *netlab.NS
		ifname string
	}{"cn": {r.Topo.CN, "eth0"}, "home": {r.Topo.Home, BridgeIface}, "mn": {r.Topo.MN, "any"}} {
		cp, err := StartCapture(c.ns, c.ifname, "ip6", r.Dir)
		if err != nil {
			t.Fatal(err)
		}
		caps[name] = cp
	}

	const foreign = "2001:db8:100::66"  // a home-prefix address no node has
	const stranger = "2001:db8:100::99" // likewise, as a forged inner source
	// leaks: marker -> the destination a forgery tries to reach.
	leaks := map[string]string{}
	marker := func(name, victim string) string {
		m := "gomip6-leak-" + name
		leaks[m] = victim
		return fmt.Sprintf("b%q", m)
	}
	prog := fmt.Sprintf(`
ha, hoa, coa, cn, atk = %q, %q, %q, %q, %q
def bu(src, home, seq, opts):
    return IPv6(src=src, dst=ha)/IPv6ExtHdrDestOpt(options=[HAO(hoa=home)])/MIP6MH_BU(seq=seq, flags="AH", mhtime=15, options=opts)
auth = lambda spi: MIP6OptMsgAuth(mspi=spi, authdata=bytes(range(12)))
pkts = [
  # unauthenticated BU for the mobile node's home address
  bu(atk, hoa, 1000, []),
  # BUs for a home address nobody registered, with a made-up
  # authenticator under the real SPI and under an unknown one
  bu(atk, %q, 7, [auth(1000)]),
  bu(atk, %q, 8, [auth(4242)]),
  # the mobile node's home address, the real SPI, a made-up authenticator
  bu(atk, hoa, 2000, [auth(1000)]),
]
bus = len(pkts)
pkts += [
  # IPv6-in-IPv6 to the home agent: outer source not a care-of address
  IPv6(src=atk, dst=ha)/IPv6(src=hoa, dst=cn)/UDP(sport=4000, dport=9)/Raw(%s),
  # outer source the care-of address (spoofed), inner source not the
  # binding's home address
  IPv6(src=coa, dst=ha)/IPv6(src=%q, dst=cn)/UDP(sport=4000, dport=9)/Raw(%s),
  # Home Address options: to cnd, to had, to the mobile node
  IPv6(src=atk, dst=cn)/IPv6ExtHdrDestOpt(options=[HAO(hoa=hoa)])/ICMPv6EchoRequest(id=77, data=%s),
  IPv6(src=atk, dst=ha)/IPv6ExtHdrDestOpt(options=[HAO(hoa=hoa)])/ICMPv6EchoRequest(id=77, data=%s),
  IPv6(src=atk, dst=coa)/IPv6ExtHdrDestOpt(options=[HAO(hoa=cn)])/ICMPv6EchoRequest(id=77, data=%s),
  # type 2 routing headers: to the mobile node naming another address,
  # to cnd naming a home-link address, to had naming the home address
  IPv6(src=atk, dst=coa)/IPv6ExtHdrRouting(type=2, segleft=1, addresses=[cn])/ICMPv6EchoRequest(id=77, data=%s),
  IPv6(src=atk, dst=cn)/IPv6ExtHdrRouting(type=2, segleft=1, addresses=[%q])/ICMPv6EchoRequest(id=77, data=%s),
  IPv6(src=atk, dst=ha)/IPv6ExtHdrRouting(type=2, segleft=1, addresses=[hoa])/ICMPv6EchoRequest(id=77, data=%s),
]
print(bus)
`, ha, hoa, coa, cn, attackerAddr, foreign, foreign, marker("tunnel-outer", cn.String()),
		stranger, marker("tunnel-inner", cn.String()),
		marker("hao-cnd", hoa.String()), marker("hao-had", hoa.String()), marker("hao-mnd", cn.String()),
		marker("rh2-mnd", cn.String()), foreign, marker("rh2-cnd", foreign), marker("rh2-had", hoa.String()))
	// Controls: a plain packet to each victim with its own marker, which
	// the captures must find (a capture that sees nothing proves
	// nothing). Home-link victim: homehost's SLAAC address.
	hh, err := r.Topo.HomeHost.IP("-6", "-o", "addr", "show", "dev", "eth0", "scope", "global")
	if err != nil {
		t.Fatal(err)
	}
	var homehost string
	if f := strings.Fields(hh); len(f) >= 4 {
		homehost, _, _ = strings.Cut(f[3], "/")
	}
	controls := map[string]string{"cn": "gomip6-control-cn", "mn": "gomip6-control-mn", "home": "gomip6-control-home"}
	prog += fmt.Sprintf(`
pkts += [IPv6(src=atk, dst=d)/UDP(sport=4000, dport=9)/Raw(m) for d, m in ((cn, %q), (hoa, %q), (%q, %q))]
`, controls["cn"], controls["mn"], homehost, controls["home"])
	out, pkts := craft(ctx, t, atk, prog)
	var nBU int
	fmt.Sscan(out, &nBU)

	before := map[string]Metrics{"had": metrics(ctx, t, r.HA), "cnd": metrics(ctx, t, r.CN), "mnd": metrics(ctx, t, r.MN)}
	// Replay 2: the genuine BU again while registered (an old sequence
	// number now).
	raw.send(t, genuine)
	for _, p := range pkts {
		raw.send(t, p)
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(time.Second)
	after := map[string]Metrics{"had": metrics(ctx, t, r.HA), "cnd": metrics(ctx, t, r.CN), "mnd": metrics(ctx, t, r.MN)}
	for _, n := range []string{"had", "cnd", "mnd"} {
		t.Logf("%s counters after the forgeries:\n%s", n, after[n].Delta(before[n]))
	}
	dHA := after["had"].Delta(before["had"])
	if got, want := dropped(dHA), float64(nBU+1); got < want {
		t.Errorf("had rejected %g of the %g forged/replayed BUs (drop counters and non-accepted statuses)", got, want)
	}
	if tunnelDrops(dHA) < 2 {
		t.Errorf("had's tunnel counters show %g of the 2 spoofed tunnel packets dropped", tunnelDrops(dHA))
	}
	// mnd: had answers the replayed BU (to its care-of address, as the
	// BU's source says); the mobile node has nothing in flight that the
	// answer echoes and ignores it.
	if n := after["mnd"].Delta(before["mnd"]).Sum("mip6_mn_mobility_headers_ignored_total"); n < 1 {
		t.Errorf("mnd's counters show no ignored Mobility Header (had's answer to the replayed BU)")
	}
	// cnd: the Home Address option without a binding (RFC 6275 §9.3.1).
	if n := after["cnd"].Delta(before["cnd"]).Sum("mip6_cn_data_no_binding_total", `direction="in"`); n < 1 {
		t.Errorf("cnd's counters show no packet with a Home Address option and no binding")
	}
	checkBinding(ctx, t, r, bind0)

	// The flood: 20,000 BUs in 5 s, from 20,000 spoofed sources (half
	// inside the attacker's /64, half spread over 2001:db8:f000::/36),
	// half without authentication and half with a made-up authenticator
	// under the real SPI (the HMAC path).
	_, tmpl := craft(ctx, t, atk, fmt.Sprintf(`
pkts = [IPv6(src=%q, dst=%q)/IPv6ExtHdrDestOpt(options=[HAO(hoa=%q)])/MIP6MH_BU(seq=1, flags="AH", mhtime=15, options=o) for o in ([], [MIP6OptMsgAuth(mspi=1000, authdata=bytes(12))])]
`, attackerAddr, ha, hoa))
	flood := floodBUs(t, tmpl, hoa, ha, 20000)
	// What the home router sends back to the flood's spoofed sources:
	// had's answers, and the kernel's ICMPv6 errors (a kernel without
	// Mobile IPv6 answers a Home Address option with a Parameter
	// Problem, RFC 8200 §4.2, option type 11xxxxxx).
	backCap, err := StartCapture(r.Topo.Home, "up0", "ip6 and src host "+ha.String()+" and not dst host "+coa.String(), r.Dir)
	if err != nil {
		t.Fatal(err)
	}
	haS0 := sample(t, r.HA)
	haM0 := metrics(ctx, t, r.HA)
	// Paced to 20 packets every 5 ms, against the clock (a sender that
	// fell behind catches up instead of stretching the flood).
	floodStart := time.Now()
	for i := 0; i < len(flood); i += 20 {
		for _, p := range flood[i:min(i+20, len(flood))] {
			raw.send(t, p)
		}
		time.Sleep(time.Until(floodStart.Add(time.Duration(i/20+1) * 5 * time.Millisecond)))
	}
	floodDur := time.Since(floodStart)
	time.Sleep(time.Second)
	back, err := backCap.Stop()
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for i, p := range back {
		rec, ok := capture.Decode(i+1, p)
		switch {
		case ok && rec.MHType != "":
			kinds["MH "+rec.MHType]++
		case ok && rec.ICMPType != "":
			kinds["ICMPv6 "+rec.ICMPType]++
		default:
			if b, ok := ipv6Payload(p); ok && len(b) > 40 && b[6] == 58 {
				kinds[fmt.Sprintf("ICMPv6 type %d", b[40])]++
			} else {
				kinds["other"]++
			}
		}
	}
	neigh, _ := r.Topo.Inet.IP("-6", "neigh", "show")
	t.Logf("flood: the home router sent %d packets to other destinations than the mobile node: %v; inet's neighbour cache: %d entries",
		len(back), kinds, strings.Count(neigh, "\n"))
	haS1 := sample(t, r.HA)
	dFlood := metrics(ctx, t, r.HA).Delta(haM0)
	t.Logf("flood: %d BUs in %v (%.0f/s); had %s -> %s; had counters:\n%s", len(flood), floodDur.Round(time.Millisecond),
		float64(len(flood))/floodDur.Seconds(), fmtSample(haS0), fmtSample(haS1), dFlood)
	// On a loaded machine the sender may fall behind (seen: 8.9 s); at
	// under 1,000 packets a second it is no flood to speak of.
	if rate := float64(len(flood)) / floodDur.Seconds(); rate < 1000 {
		t.Errorf("the flood ran at %.0f packets/s: the machine is too loaded for this test", rate)
	}
	if got := dFlood.Sum("mip6_ha_signalling_received_total") + dFlood.Sum("mip6_ha_signalling_queue_full_total"); got < float64(len(flood))/2 {
		t.Errorf("had saw %g of the %d flood packets", got, len(flood))
	}
	seen := dFlood.Sum("mip6_ha_signalling_received_total")
	if got := dropped(dFlood) + dFlood.Sum("mip6_ha_signalling_queue_full_total"); got < seen*0.99 {
		t.Errorf("had's drop counters account for %g of the %g flood packets it read", got, seen)
	}
	if !r.HA.Running() {
		t.Fatalf("had died in the flood: %s", r.HA.Why())
	}
	if grow := haS1.RSSKiB - haS0.RSSKiB; grow > 32*1024 {
		t.Errorf("had's RSS grew %d KiB in the flood", grow)
	}
	checkBinding(ctx, t, r, bind0)
	var hs HAStatus
	if err := r.HA.Status(ctx, &hs); err != nil {
		t.Fatal(err)
	}
	if len(hs.Bindings) != 1 {
		t.Errorf("had holds %d bindings after the attacks, want the mobile node's only: %+v", len(hs.Bindings), hs.Bindings)
	}

	// The genuine flow kept working through all of it.
	f.waitFlow(t, time.Now(), 3*time.Second)
	fs, ts := f.stats(attackStart, time.Now())
	logFlow(t, "flow during the attacks", fs, ts)
	ffs, fts := f.stats(floodStart, floodStart.Add(floodDur))
	logFlow(t, "flow during the flood", ffs, fts)
	if !ts.Survived() {
		t.Errorf("TCP did not survive the attacks: %+v (%v)", ts, f.tcp.Snapshot().Err)
	}
	// Measured: no probe lost, longest gap 20 to 50 ms (with the
	// attacker's /64 routed, see attacker). The gap is not asserted: on a
	// loaded machine the prober itself can stall for a second (seen once:
	// a 1.04 s gap with no probe lost); lost probes are.
	if fs.Sent == 0 || fs.Lost*50 > fs.Sent {
		t.Errorf("%d of %d probes lost during the attacks (bound 2 %%)", fs.Lost, fs.Sent)
	}

	// Nothing reached the forged destinations.
	for name, cp := range caps {
		frames, err := cp.Stop()
		if err != nil {
			t.Fatal(err)
		}
		for i, p := range frames {
			for m, victim := range leaks {
				if bytes.Contains(p.Data, []byte(m)) && slices.Contains(ipv6Dsts(p), victim) {
					t.Errorf("leak in %s (frame %d): %s reached %s", name, i+1, m, victim)
				}
			}
		}
		found := false
		for _, p := range frames {
			found = found || bytes.Contains(p.Data, []byte(controls[name]))
		}
		if !found {
			t.Errorf("capture in %s: the control packet %q was not seen: the leak check there proves nothing", name, controls[name])
		}
		t.Logf("capture in %s: %d frames", name, len(frames))
	}
}

// dropped sums had's counters of BUs that changed nothing: silent drops
// and answers with a rejecting status.
func dropped(d Metrics) float64 {
	n := d.Sum("mip6_ha_binding_updates_dropped_total") + d.Sum("mip6_ha_malformed_total")
	for k, v := range d {
		if strings.HasPrefix(k, "mip6_ha_binding_updates_total{") && !strings.Contains(k, `"accepted`) {
			n += v
		}
	}
	return n
}

// tunnelDrops sums had's tunnel packets counted with another outcome than
// "ok".
func tunnelDrops(d Metrics) float64 {
	var n float64
	for k, v := range d {
		if strings.HasPrefix(k, "mip6_tunnel_packets_total{") && !strings.Contains(k, `reason="ok"`) {
			n += v
		}
	}
	return n
}

// checkBinding fails the test unless had's binding for the home address
// is still b (same care-of address and sequence number).
func checkBinding(ctx context.Context, t *testing.T, r *Run, b HABinding) {
	t.Helper()
	now, ok := haBinding(ctx, t, r)
	switch {
	case !ok:
		t.Error("the mobile node's binding is gone from had")
	case now.CareOfAddress != b.CareOfAddress || now.Sequence != b.Sequence:
		// A refresh from the mobile node itself is allowed to move the
		// sequence number, never the care-of address.
		if now.CareOfAddress != b.CareOfAddress {
			t.Errorf("binding moved: %s seq %d -> %s seq %d", b.CareOfAddress, b.Sequence, now.CareOfAddress, now.Sequence)
		} else {
			t.Logf("binding refreshed meanwhile: seq %d -> %d", b.Sequence, now.Sequence)
		}
	}
}

// craft runs a scapy program in ns that sets pkts (a list of IPv6
// packets) and returns what it printed and the packets' bytes.
func craft(ctx context.Context, t *testing.T, ns *netlab.NS, program string) (string, [][]byte) {
	t.Helper()
	out := scapy(ctx, t, ns, program+"\nfor p in pkts:\n    print('PKT ' + raw(p).hex())\n")
	var rest []string
	var pkts [][]byte
	for _, l := range strings.Split(out, "\n") {
		if h, ok := strings.CutPrefix(l, "PKT "); ok {
			b, err := hex.DecodeString(strings.TrimSpace(h))
			if err != nil {
				t.Fatalf("scapy output: %v", err)
			}
			pkts = append(pkts, b)
		} else {
			rest = append(rest, l)
		}
	}
	return strings.Join(rest, "\n"), pkts
}

// rawSock is a raw IPv6 socket (IPPROTO_RAW: the caller writes the IPv6
// header, RFC 3542 §3 and Linux raw(7)) inside a namespace.
type rawSock struct{ fd int }

func openRaw(t *testing.T, ns *netlab.NS) *rawSock {
	t.Helper()
	s := &rawSock{fd: -1}
	if err := ns.Do(func() (err error) {
		s.fd, err = unix.Socket(unix.AF_INET6, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
		return err
	}); err != nil {
		t.Fatalf("raw socket in %s: %v", ns.Short(), err)
	}
	t.Cleanup(func() { unix.Close(s.fd) })
	return s
}

// send writes one IPv6 packet as it is, to its own destination.
func (s *rawSock) send(t *testing.T, pkt []byte) {
	t.Helper()
	if len(pkt) < 40 || pkt[0]>>4 != 6 {
		t.Fatalf("not an IPv6 packet: %x", pkt)
	}
	var sa unix.SockaddrInet6
	copy(sa.Addr[:], pkt[24:40])
	if err := unix.Sendto(s.fd, pkt, 0, &sa); err != nil {
		t.Errorf("send: %v", err)
	}
}

// floodBUs makes n Binding Updates from the templates (BUs with a Home
// Address option straight after the IPv6 header): each with its own source
// address and sequence number, the Mobility Header checksum recomputed.
// The templates' own checksums (scapy's) must match ours first: the
// pseudo-header of RFC 6275 §6.1.1 takes the home address as source.
func floodBUs(t *testing.T, tmpl [][]byte, hoa, ha netip.Addr, n int) [][]byte {
	t.Helper()
	mhAt := func(p []byte) int { return 40 + (int(p[41])+1)*8 }
	for _, p := range tmpl {
		if p[6] != 60 || p[40] != 135 {
			t.Fatalf("template is not IPv6 + Destination Options + MH: %x", p)
		}
		mh := bytes.Clone(p[mhAt(p):])
		want := binary.BigEndian.Uint16(mh[4:])
		mh[4], mh[5] = 0, 0
		if got := mip6.PseudoHeaderChecksum(hoa, ha, 135, mh); got != want {
			t.Fatalf("scapy's MH checksum %#04x, ours %#04x", want, got)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	out := make([][]byte, n)
	for i := range out {
		p := bytes.Clone(tmpl[i%len(tmpl)])
		if i%4 < 2 {
			// Inside the attacker's /64.
			binary.BigEndian.PutUint64(p[16:24], rng.Uint64())
		} else {
			// 2001:db8:fXXX:XXXX::/64 prefixes, random interface IDs.
			binary.BigEndian.PutUint64(p[8:16], 0x20010db8f0000000|rng.Uint64()&0x0fffffff)
			binary.BigEndian.PutUint64(p[16:24], rng.Uint64())
		}
		mh := p[mhAt(p):]
		binary.BigEndian.PutUint16(mh[6:], uint16(rng.Uint32()))
		mh[4], mh[5] = 0, 0
		binary.BigEndian.PutUint16(mh[4:], mip6.PseudoHeaderChecksum(hoa, ha, 135, mh))
		out[i] = p
	}
	return out
}

// ipv6Payload returns the IPv6 packet of a captured frame (Ethernet,
// Linux cooked v1/v2 or raw IP).
func ipv6Payload(p pcapfile.Packet) ([]byte, bool) {
	b := p.Data
	switch p.LinkType {
	case 1: // LINKTYPE_ETHERNET
		if len(b) >= 14 && binary.BigEndian.Uint16(b[12:]) == 0x86dd {
			return b[14:], true
		}
	case 113: // LINKTYPE_LINUX_SLL
		if len(b) >= 16 && binary.BigEndian.Uint16(b[14:]) == 0x86dd {
			return b[16:], true
		}
	case 276: // LINKTYPE_LINUX_SLL2
		if len(b) >= 20 && binary.BigEndian.Uint16(b[0:]) == 0x86dd {
			return b[20:], true
		}
	case 101, 229: // LINKTYPE_RAW, LINKTYPE_IPV6
		if len(b) >= 40 && b[0]>>4 == 6 {
			return b, true
		}
	}
	return nil, false
}

// ipv6Dsts returns the destination addresses of a frame's IPv6 header and,
// for IPv6 in IPv6 (next header 41), of the inner one.
func ipv6Dsts(p pcapfile.Packet) []string {
	b, ok := ipv6Payload(p)
	var out []string
	for depth := 0; ok && depth < 2 && len(b) >= 40 && b[0]>>4 == 6; depth++ {
		a := netip.AddrFrom16([16]byte(b[24:40]))
		out = append(out, a.String())
		if b[6] != 41 {
			break
		}
		b = b[40:]
	}
	return out
}
