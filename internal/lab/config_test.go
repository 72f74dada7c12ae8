package lab

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gomip6/gomip6/conf"
)

// The configurations the lab writes are what had -check and mnd -check
// accept (conf.Load*), and say what the lab means.
func TestConfigsLoad(t *testing.T) {
	dir := t.TempDir()
	p, err := DefaultParams(dir)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}

	ha, err := conf.LoadHA(write("had.toml", p.HAConfig()))
	if err != nil {
		t.Fatalf("LoadHA: %v\n%s", err, p.HAConfig())
	}
	if diff := cmp.Diff(conf.Home{
		Interface:               "br0",
		Prefix:                  netip.MustParsePrefix("2001:db8:100::/64"),
		Address:                 netip.MustParseAddr("2001:db8:100::1"),
		MaxLifetime:             conf.Duration(60 * time.Second),
		MobilePrefixMinInterval: ha.Home.MobilePrefixMinInterval, // defaults, not the lab's
		MobilePrefixMaxInterval: ha.Home.MobilePrefixMaxInterval,
	}, ha.Home, cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{})); diff != "" {
		t.Errorf("had home (-want +got):\n%s", diff)
	}
	if got, want := []time.Duration{ha.RouterAdvertisements.MinInterval.Std(), ha.RouterAdvertisements.MaxInterval.Std()},
		[]time.Duration{50 * time.Millisecond, time.Second}; !cmp.Equal(got, want) || !ha.RouterAdvertisements.Enabled {
		t.Errorf("had RA intervals %v enabled %v, want %v on", got, ha.RouterAdvertisements.Enabled, want)
	}
	if len(ha.MobileNodes) != 1 {
		t.Fatalf("had: %d mobile nodes", len(ha.MobileNodes))
	}
	mn := ha.MobileNodes[0]
	if mn.ID != "laptop@home.example" || mn.HomeAddress != netip.MustParseAddr("2001:db8:100::10") || mn.SPI != 1000 || !bytes.Equal(mn.Key, p.Key) {
		t.Errorf("had mobile_node = %+v", mn)
	}
	if ha.IPv4 == nil || ha.IPv4.Address != netip.MustParseAddr("198.51.100.2") {
		t.Errorf("had ipv4 = %+v", ha.IPv4)
	}
	if ha.Control.Socket != filepath.Join(dir, "had.sock") || ha.StateFile != filepath.Join(dir, "had.state") || ha.Log.Format != "json" {
		t.Errorf("had control %+v state %q log %+v", ha.Control, ha.StateFile, ha.Log)
	}

	m, err := conf.LoadMN(write("mnd.toml", p.MNConfig()))
	if err != nil {
		t.Fatalf("LoadMN: %v\n%s", err, p.MNConfig())
	}
	if m.ID != mn.ID || m.HomeAddress != mn.HomeAddress || m.SPI != mn.SPI || !bytes.Equal(m.Key, mn.Key) || m.Algorithm != mn.Algorithm {
		t.Errorf("mnd security association %q %s %d %s differs from had's", m.ID, m.HomeAddress, m.SPI, m.Algorithm)
	}
	if m.HomeAgent != ha.Home.Address || m.HomePrefix != ha.Home.Prefix || m.HomeAgentIPv4 != ha.IPv4.Address {
		t.Errorf("mnd home agent %s prefix %s ipv4 %s", m.HomeAgent, m.HomePrefix, m.HomeAgentIPv4)
	}
	if diff := cmp.Diff([]string{"eth0"}, m.Interfaces); diff != "" {
		t.Errorf("mnd interfaces: %s", diff)
	}
	if m.Lifetime.Std() != 20*time.Second || m.Control.Socket != filepath.Join(dir, "mnd.sock") || m.RouteOptimization {
		t.Errorf("mnd lifetime %v socket %q route optimization %v", m.Lifetime, m.Control.Socket, m.RouteOptimization)
	}

	c, err := conf.LoadCN(write("cnd.toml", p.CNConfig()))
	if err != nil {
		t.Fatalf("LoadCN: %v\n%s", err, p.CNConfig())
	}
	if c.Control.Socket != filepath.Join(dir, "cnd.sock") {
		t.Errorf("cnd socket %q", c.Control.Socket)
	}

	// Every run has its own key.
	q, err := DefaultParams(dir)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(p.Key, q.Key) || len(p.Key) < conf.MinKeyLen {
		t.Errorf("keys %x and %x: not fresh per run or too short", p.Key, q.Key)
	}
}

// Without an IPv4 address for the home agent, neither file mentions
// DSMIPv6.
func TestConfigsWithoutIPv4(t *testing.T) {
	p, err := DefaultParams("/run/x")
	if err != nil {
		t.Fatal(err)
	}
	p.HomeAgentIPv4 = netip.Addr{}
	ha, err := conf.ParseHA(p.HAConfig())
	if err != nil {
		t.Fatal(err)
	}
	mn, err := conf.ParseMN(p.MNConfig())
	if err != nil {
		t.Fatal(err)
	}
	if ha.IPv4 != nil || mn.HomeAgentIPv4.IsValid() {
		t.Errorf("ipv4 %+v, home_agent_ipv4 %s", ha.IPv4, mn.HomeAgentIPv4)
	}
}

// KernelPath turns had's [tunnel] kernel_path on; it is off by default.
func TestConfigKernelPath(t *testing.T) {
	p, err := DefaultParams("/run/x")
	if err != nil {
		t.Fatal(err)
	}
	for _, on := range []bool{false, true} {
		p.KernelPath = on
		ha, err := conf.ParseHA(p.HAConfig())
		if err != nil {
			t.Fatal(err)
		}
		if ha.Tunnel.KernelPath != on {
			t.Errorf("KernelPath %v: had.toml kernel_path %v", on, ha.Tunnel.KernelPath)
		}
	}
}

// quote produces TOML strings that decode to the input, whatever it holds.
func TestQuote(t *testing.T) {
	for _, s := range []string{"", "plain", `a"b`, `c:\dir\x`, "tab\there", "nl\n", "\x7f\x00", "é laptop@home", "/tmp/a b/had.sock"} {
		var v struct{ S string }
		if _, err := toml.Decode("S = "+quote(s), &v); err != nil {
			t.Errorf("quote(%q) = %s: %v", s, quote(s), err)
			continue
		}
		if v.S != s {
			t.Errorf("quote(%q) decodes to %q", s, v.S)
		}
	}
}

func TestSites(t *testing.T) {
	for in, want := range map[string]Site{"home": SiteHome, " A": SiteA, "b": SiteB} {
		if got, err := ParseSite(in); err != nil || got != want {
			t.Errorf("ParseSite(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseSite("c"); err == nil {
		t.Error(`ParseSite("c"): no error`)
	}
	for _, tc := range []struct {
		legs []Site
		ok   bool
	}{
		{DefaultLegs, true},
		{nil, true},
		{[]Site{SiteA, SiteHome, SiteB, SiteA}, true},
		{[]Site{SiteHome}, false},
		{[]Site{SiteA, SiteA}, false},
		{[]Site{"x"}, false},
	} {
		if err := ValidateLegs(tc.legs); (err == nil) != tc.ok {
			t.Errorf("ValidateLegs(%v) = %v", tc.legs, err)
		}
	}
}
