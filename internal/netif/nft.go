package netif

import (
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"time"
)

// The kernels gomip6 runs on have no Mobile IPv6: they answer every
// Mobility Header, Home Address option and type 2 routing header they
// receive with an ICMPv6 Parameter Problem (RFC 8200 §4) after the
// daemon's AF_PACKET socket has already taken the packet. Those answers
// are noise at best and, for forged packets, reflection towards whatever
// source the forger wrote. A daemon stops them with an nftables table of
// its own that drops such packets at the input hook, after routing and
// before the IPv6 input path that would answer them: the daemon's packet
// socket has seen them by then. Not at prerouting: with br_netfilter
// (bridge-nf-call-ip6tables), prerouting runs for frames on a bridge's
// ports, before the bridge device's packet taps, and a home agent on a
// bridged home link (br0, the usual home router) would lose the Binding
// Updates sent from the home link.

// NFT runs nft with script on standard input, in the network namespace of
// the calling thread, for at most 10 s.
func NFT(script string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("nft: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// MobilityDropRules returns an nftables table (family inet, named table)
// that drops, at input, packets to any of addrs that carry a Mobility
// Header (after any extension headers: meta l4proto) or whose first
// extension header is a Destination Options header with the Home Address
// option at offset 6, its place in every implementation (octet 40+2+4:
// Pad4 first; see rawsock.IPv6Filter).
func MobilityDropRules(table string, addrs []netip.Addr) string {
	as := make([]string, len(addrs))
	for i, a := range addrs {
		as[i] = a.String()
	}
	set := "{ " + strings.Join(as, ", ") + " }"
	return fmt.Sprintf(`table inet %[1]s {
	chain input {
		type filter hook input priority -300; policy accept;
		ip6 daddr %[2]s meta l4proto 135 drop
		ip6 daddr %[2]s ip6 nexthdr 60 @nh,368,8 201 drop
	}
}
`, table, set)
}

// AddNFTable installs script after deleting any table of the same family
// and name a crashed run left behind.
func AddNFTable(family, table, script string) error {
	_ = DeleteNFTable(family, table)
	return NFT(script)
}

// DeleteNFTable deletes the table; an error when there is none.
func DeleteNFTable(family, table string) error {
	return NFT(fmt.Sprintf("delete table %s %s\n", family, table))
}
