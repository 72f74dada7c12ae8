package mnd

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gomip6/gomip6/internal/netlab"
)

// newDNALab is the home agent and foreign link A of the root lab (see
// root_linux_test.go), with link A's router advertising only every 20-30
// s: after the first RA (the answer to the daemon's solicitation) nothing
// but DNA can identify the link quickly.
//
//	ha h0 (home link, no mobile node)    ha hr ─── rh rt ra ─── link A ─── a0 mn
func newDNALab(t *testing.T) *rootLab {
	netlab.SkipUnlessRoot(t)
	l := &rootLab{t: t, logs: &syncBuffer{}}
	var err error
	l.nl, err = netlab.New(t)
	must(t, err)
	for _, p := range []struct {
		ns   **netlab.NS
		name string
	}{{&l.mn, "mn"}, {&l.ha, "ha"}, {&l.rt, "rt"}} {
		*p.ns, err = l.nl.NS(p.name)
		must(t, err)
	}
	for _, ns := range []*netlab.NS{l.ha, l.rt} {
		must(t, ns.DisableDAD())
	}
	must(t, l.nl.Link(l.ha, "h0", l.ha, "hx"))
	must(t, l.nl.Link(l.ha, "hr", l.rt, "rh"))
	must(t, l.nl.Link(l.rt, "ra", l.mn, "a0"))
	must(t, l.ha.Addr("h0", "2001:db8:100::1/64"))
	must(t, l.ha.Addr("hr", "2001:db8:3::1/64"))
	must(t, l.rt.Addr("rh", "2001:db8:3::2/64"))
	// Link A is a bridge (with a stub port, so that it keeps its
	// carrier): a flap takes the mobile node's port down and up, as
	// leaving and re-joining an access point does, while the router's
	// interface and radvd see nothing (a router interface coming up
	// would send an RA at once and race the probes).
	for _, args := range [][]string{
		{"link", "add", "brA", "address", "00:00:5e:00:53:0a", "type", "bridge", "forward_delay", "0"},
		{"link", "add", "stub0", "type", "veth", "peer", "name", "stub1"},
		{"link", "set", "stub0", "master", "brA", "up"},
		{"link", "set", "stub1", "up"},
		{"link", "set", "ra", "master", "brA", "up"},
		{"link", "set", "brA", "up"},
	} {
		_, err := l.rt.IP(args...)
		must(t, err)
	}
	must(t, l.rt.Addr("brA", "2001:db8:a::1/64"))
	must(t, l.ha.Route("2001:db8:a::/64", "via", "2001:db8:3::2"))
	must(t, l.rt.Route("default", "via", "2001:db8:3::1"))
	must(t, l.ha.Forwarding(true, false))
	must(t, l.rt.Forwarding(true, false))
	_, err = l.rt.StartRadvd("brA", netlab.RA{MinInterval: 20 * time.Second, MaxInterval: 30 * time.Second,
		RouterLifetime: 90 * time.Second, Prefixes: []string{"2001:db8:a::/64"}})
	must(t, err)
	l.hagent = startTestHA(t, l.ha)
	l.sock = filepath.Join(t.TempDir(), "mnd.sock")
	return l
}

// noRS drops Router Solicitations arriving at the router.
const noRS = `table inet dnalab {
	chain input {
		type filter hook input priority 0; policy accept;
		icmpv6 type nd-router-solicit drop
	}
}
`

// TestRootDNA: registered on link A, the link loses its carrier and gets
// it back (a Wi-Fi roam back to the same access point). The daemon probes
// the router it remembers with a unicast Neighbor Solicitation, its answer
// identifies the link (RFC 6059), and the care-of address, which the
// kernel kept across the carrier loss, is registered again before any
// Router Advertisement arrives.
func TestRootDNA(t *testing.T) {
	l := newDNALab(t)
	d, stop := l.start()
	l.waitFor("registration on link A", 15*time.Second, registeredIn(d, labPfxA))
	coa := d.Status().CareOfAddress
	// From now on the router leaves Router Solicitations unanswered (as
	// if each answer took the whole MAX_RA_DELAY_TIME of RFC 4861
	// §6.2.6, and longer): only DNA can be quick, and the test does not
	// race radvd's answer.
	rules := filepath.Join(t.TempDir(), "nors.nft")
	must(t, os.WriteFile(rules, []byte(noRS), 0o600))
	_, err := l.rt.Run("nft", "-f", rules)
	must(t, err)

	for i := range 3 {
		mark := len(l.logs.String())
		// Carrier loss on a0: its peer goes down (the interface itself
		// stays administratively up and keeps its addresses).
		_, err = l.rt.IP("link", "set", "dev", "ra", "down")
		must(t, err)
		l.waitFor("link down seen", 5*time.Second, func() bool { return !d.Status().Registered })
		_, err = l.rt.IP("link", "set", "dev", "ra", "up")
		must(t, err)
		l.waitFor("registration again on link A", 5*time.Second, registeredIn(d, labPfxA))
		if s := d.Status(); s.CareOfAddress != coa {
			t.Errorf("flap %d: care-of address %v, want the kept %v", i, s.CareOfAddress, coa)
		}
		logs := l.logs.String()[mark:]
		dna := strings.Index(logs, `"event":"dna"`)
		moved := strings.Index(logs, `"event":"moved"`)
		ra := strings.Index(logs, `"event":"ra"`)
		t.Logf("flap %d: link up to registered %v, link up to first RA %v", i,
			logGap(logs, `"event":"link"`, `"event":"registered"`), logGap(logs, `"event":"link"`, `"event":"ra"`))
		if dna < 0 || moved < dna || (ra >= 0 && ra < moved) {
			t.Fatalf("flap %d: the move was not made by DNA before any RA:\n%s", i, l.logs.tail(40))
		}
	}
	stop()
	l.checkClean()
}

// logGap returns the time between the last log line containing from that
// comes before the first one containing to, and that one (-1: not found).
func logGap(logs, from, to string) time.Duration {
	var start float64
	for _, line := range strings.Split(logs, "\n") {
		var e struct {
			TS float64 `json:"ts"`
		}
		if json.Unmarshal([]byte(line), &e) != nil {
			continue
		}
		switch {
		case strings.Contains(line, to) && start != 0:
			return time.Duration((e.TS - start) * float64(time.Second))
		case strings.Contains(line, from):
			start = e.TS
		}
	}
	return -1
}
