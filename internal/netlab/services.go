package netlab

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// RA describes the Router Advertisements StartRadvd sends: a plain router
// on a foreign link, as a visited network has (RFC 4861 §6.2.1), not a
// gomip6 component.
type RA struct {
	// Prefixes are on-link, autonomous prefixes (SLAAC, RFC 4862), e.g.
	// "2001:db8:a::/64".
	Prefixes []string
	// MinInterval and MaxInterval bound the interval between unsolicited
	// RAs. Zero means 1 s and 3 s, faster than the RFC 4861 defaults so
	// movement detection in the lab takes seconds, not minutes. radvd
	// accepts MaxInterval below 4 s only because RFC 6275 §7.5 allows it
	// (it sets AdvIntervalOpt, which mobile nodes use).
	MinInterval, MaxInterval time.Duration
	// RadvdDefaults leaves the interval lines out of radvd.conf (and
	// MinInterval and MaxInterval must be zero): radvd's own defaults,
	// as an untuned router in the field has (radvd.conf(5):
	// MaxRtrAdvInterval 600 s, MinRtrAdvInterval 0.33 × that,
	// MinDelayBetweenRAs 3 s, no Advertisement Interval option, Router
	// Solicitations answered with unicast RAs, AdvRASolicitedUnicast).
	// A mobile node then learns of the link from the RA answering its
	// Router Solicitation, not from the unsolicited ones.
	RadvdDefaults bool
	// RouterLifetime is the default router lifetime; zero means radvd's
	// default (3 × MaxInterval).
	RouterLifetime time.Duration
	// Extra is appended verbatim inside the interface block, e.g.
	// "AdvHomeAgentFlag on;".
	Extra string
}

// radvdConfig renders the radvd.conf for ifname.
func radvdConfig(ifname string, ra RA) (string, error) {
	if !validIfname(ifname) {
		return "", fmt.Errorf("netlab: bad interface name %q", ifname)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "interface %s {\n\tAdvSendAdvert on;\n", ifname)
	minI, maxI := ra.MinInterval, ra.MaxInterval
	if ra.RadvdDefaults {
		if minI != 0 || maxI != 0 {
			return "", fmt.Errorf("netlab: RA RadvdDefaults with intervals %v-%v", minI, maxI)
		}
		return radvdBody(&b, ra)
	}
	if maxI == 0 {
		maxI = 3 * time.Second
	}
	if minI == 0 {
		minI = min(time.Second, maxI*3/4)
	}
	if minI > maxI {
		return "", fmt.Errorf("netlab: RA MinInterval %v above MaxInterval %v", minI, maxI)
	}
	fmt.Fprintf(&b, "\tMinRtrAdvInterval %g;\n\tMaxRtrAdvInterval %g;\n", minI.Seconds(), maxI.Seconds())
	if maxI < 4*time.Second {
		// radvd refuses intervals under 4 s unless the Advertisement
		// Interval option is on (RFC 6275 §7.3, §7.5).
		b.WriteString("\tAdvIntervalOpt on;\n")
		// And let it answer Router Solicitations as fast as it advertises
		// (the default floor is 3 s).
		fmt.Fprintf(&b, "\tMinDelayBetweenRAs %g;\n", max(minI, 30*time.Millisecond).Seconds())
	}
	return radvdBody(&b, ra)
}

// radvdBody finishes the interface block of radvdConfig after the
// interval lines: router lifetime, prefixes and Extra.
func radvdBody(b *strings.Builder, ra RA) (string, error) {
	if ra.RouterLifetime > 0 {
		fmt.Fprintf(b, "\tAdvDefaultLifetime %d;\n", int(ra.RouterLifetime.Seconds()))
	}
	for _, s := range ra.Prefixes {
		p, err := netip.ParsePrefix(s)
		if err != nil || !p.Addr().Is6() || p.Addr().Is4In6() || p.Masked() != p {
			return "", fmt.Errorf("netlab: bad RA prefix %q", s)
		}
		fmt.Fprintf(b, "\tprefix %s {\n\t\tAdvOnLink on;\n\t\tAdvAutonomous on;\n\t};\n", p)
	}
	if ra.Extra != "" {
		fmt.Fprintf(b, "\t%s\n", strings.TrimSpace(ra.Extra))
	}
	b.WriteString("};\n")
	return b.String(), nil
}

// StartRadvd starts radvd inside the namespace, advertising on ifname as
// ra says. radvd is a real third-party router, as the mobile node meets in
// the field. The config and pid file go to the lab's LogDir. Turn
// forwarding on in the namespace first (radvd complains otherwise, and a
// router that advertises itself should forward).
func (n *NS) StartRadvd(ifname string, ra RA) (*Proc, error) {
	conf, err := radvdConfig(ifname, ra)
	if err != nil {
		return nil, err
	}
	if _, err := exec.LookPath("radvd"); err != nil {
		return nil, fmt.Errorf("netlab: radvd not installed (scripts/deps.sh installs it): %w", err)
	}
	base := filepath.Join(n.lab.logDir, fmt.Sprintf("radvd-%s-%s", n.short, ifname))
	if err := os.WriteFile(base+".conf", []byte(conf), 0o644); err != nil {
		return nil, fmt.Errorf("netlab: %w", err)
	}
	// Check the config first: radvd with a bad config exits at once, and
	// the reason is better in the error than in a log.
	if _, err := runCmd(context.Background(), "radvd", "-c", "-C", base+".conf"); err != nil {
		return nil, err
	}
	return n.Start("radvd", "-n", "-m", "stderr", "-d", "1", "-C", base+".conf", "-p", base+".pid")
}

// Masquerade makes the namespace a NAT44 router: IPv4 packets leaving
// through outIf get outIf's address as their source (nftables masquerade),
// as a home router in front of an IPv4-only access network does. The rules
// live in the namespace's own nftables table "gomip6_netlab" and go with the
// namespace. IPv4 forwarding must be on (Forwarding).
func (n *NS) Masquerade(outIf string) error {
	if !validIfname(outIf) {
		return fmt.Errorf("netlab: bad interface name %q", outIf)
	}
	rules := fmt.Sprintf(`table ip gomip6_netlab {
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		oifname %q masquerade
	}
}
`, outIf)
	ctx, cancel := context.WithTimeout(context.Background(), DefaultTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", n.Name, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	cmd.WaitDelay = time.Second
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("netlab: nft in %s: %w: %s", n.Name, err, strings.TrimSpace(string(out)))
	}
	return nil
}
