package had

import (
	"fmt"
	"io"
	"net/netip"

	"go.uber.org/zap"

	"github.com/gomip6/gomip6/internal/netif"
)

// NFTable is the nftables table (family inet) had installs so that the
// kernel, which has no Mobile IPv6, does not answer the Binding Updates
// and Home Address options sent to the home agent with Parameter Problems
// (netif.MobilityDropRules): had's packet socket has taken them already.
// Without it every forged Binding Update of a flood draws an ICMPv6 error
// towards its forged source.
const NFTable = "gomip6_had"

// addFirewall installs NFTable for the home agent's address, in the
// calling thread's namespace (New's). Without nft, or when it fails, had
// runs on and says what the kernel will do.
func (d *Daemon) addFirewall() {
	err := netif.AddNFTable("inet", NFTable, netif.MobilityDropRules(NFTable, []netip.Addr{d.cfg.Home.Address}))
	if err != nil {
		d.log.Warn("nftables table not installed: the kernel will answer Binding Updates with Parameter Problems", zap.String("table", NFTable), zap.Error(err))
		return
	}
	d.fw = true
}

// delFirewall removes NFTable from New's namespace (d.netns).
func (d *Daemon) delFirewall() error {
	if !d.fw {
		return nil
	}
	d.fw = false
	if err := netif.InNetns(d.netns, func() error { return netif.DeleteNFTable("inet", NFTable) }); err != nil {
		return fmt.Errorf("removing nftables table %s: %w", NFTable, err)
	}
	return nil
}

// cleanupFirewall removes a table a killed had left behind.
func cleanupFirewall(w io.Writer) int {
	if netif.DeleteNFTable("inet", NFTable) != nil {
		return 0
	}
	fmt.Fprintf(w, "had: removed the nftables table inet %s\n", NFTable)
	return 1
}
