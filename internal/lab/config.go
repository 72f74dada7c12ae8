package lab

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"time"
)

// Params are the settings the lab writes into had.toml, mnd.toml and
// cnd.toml. DefaultParams gives the lab's; tests change fields.
type Params struct {
	// ID, HomeAddress, SPI and Key are the mobile node's identity and its
	// MN-HA security association (RFC 4285), the same on both sides.
	ID          string
	HomeAddress netip.Addr
	SPI         uint32
	Key         []byte
	// HomePrefix, HomeAgent and HomeInterface describe the home link.
	HomePrefix    netip.Prefix
	HomeAgent     netip.Addr
	HomeInterface string
	// HomeAgentIPv4 is the home agent's IPv4 address for DSMIPv6 (RFC
	// 5555); zero leaves [ipv4] and home_agent_ipv4 out.
	HomeAgentIPv4 netip.Addr
	// Interfaces are the mobile node's access interfaces.
	Interfaces []string
	// Lifetime is the binding lifetime the mobile node asks for,
	// MaxLifetime the most the home agent grants (multiples of 4 s).
	Lifetime, MaxLifetime time.Duration
	// RAMinInterval and RAMaxInterval are had's router advertisement
	// intervals on the home link (RFC 6275 §7.5 allows these short ones).
	RAMinInterval, RAMaxInterval time.Duration
	// RouteOptimization is mnd's default for correspondents (and cnd's
	// switch).
	RouteOptimization bool
	// Correspondents are written into mnd.toml as [[correspondent]]
	// entries with route_optimization = true: mnd starts return
	// routability with them at its first registration instead of
	// learning them from sampled traffic (and even with
	// RouteOptimization off).
	Correspondents []netip.Addr
	// CNRouteOptimization turns cnd's route_optimization on even with
	// RouteOptimization (mnd's default) off.
	CNRouteOptimization bool
	// KernelPath turns on had's [tunnel] kernel_path (tunnel/ebpf).
	KernelPath bool
	// Dir holds the control sockets and had's state file.
	Dir string
	// LogLevel is had's and cnd's log level, MNLogLevel mnd's: "debug"
	// by default, since mnd logs the Router Advertisements it sees (the
	// timeline's "ra") at debug level.
	LogLevel, MNLogLevel string
}

// DefaultParams returns the lab's settings with a fresh random key, the
// control sockets and state file under dir.
func DefaultParams(dir string) (Params, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return Params{}, fmt.Errorf("lab: key: %w", err)
	}
	return Params{
		ID:            "laptop@home.example",
		HomeAddress:   HoA,
		SPI:           1000,
		Key:           key,
		HomePrefix:    HomePrefix,
		HomeAgent:     HAAddr,
		HomeInterface: BridgeIface,
		HomeAgentIPv4: HAIPv4,
		Interfaces:    []string{MNIface},
		// Short, so that a tour of well under a minute sees refreshes.
		Lifetime:      20 * time.Second,
		MaxLifetime:   60 * time.Second,
		RAMinInterval: 50 * time.Millisecond,
		RAMaxInterval: time.Second,
		Dir:           dir,
		LogLevel:      "info",
		MNLogLevel:    "debug",
	}, nil
}

// Socket returns the control socket path of daemon name ("had", "mnd",
// "cnd").
func (p Params) Socket(name string) string { return filepath.Join(p.Dir, name+".sock") }

// StateFile returns had's binding cache file.
func (p Params) StateFile() string { return filepath.Join(p.Dir, "had.state") }

// HAConfig renders had.toml.
func (p Params) HAConfig() []byte {
	var b strings.Builder
	b.WriteString("# had.toml written by mip6lab\n")
	fmt.Fprintf(&b, "state_file = %s\n\n", quote(p.StateFile()))
	fmt.Fprintf(&b, "[home]\ninterface = %s\nprefix = %s\naddress = %s\nmax_lifetime = %s\n\n",
		quote(p.HomeInterface), quote(p.HomePrefix.String()), quote(p.HomeAgent.String()), quote(dur(p.MaxLifetime)))
	// retrans_timer: the home link's RetransTimer, which the home agent's
	// DAD of a new registration waits (RFC 6275 §10.3.1); 100 ms on a LAN
	// instead of RFC 4861's unspecified 1 s.
	fmt.Fprintf(&b, "[router_advertisements]\nenabled = true\nmin_interval = %s\nmax_interval = %s\nretrans_timer = \"100ms\"\n\n",
		quote(dur(p.RAMinInterval)), quote(dur(p.RAMaxInterval)))
	fmt.Fprintf(&b, "[[mobile_node]]\nid = %s\nhome_address = %s\nspi = %d\nkey = %s\nmobile_prefixes = []\n\n",
		quote(p.ID), quote(p.HomeAddress.String()), p.SPI, quote(base64.StdEncoding.EncodeToString(p.Key)))
	if p.HomeAgentIPv4.IsValid() {
		fmt.Fprintf(&b, "[ipv4]\naddress = %s\n\n", quote(p.HomeAgentIPv4.String()))
	}
	if p.KernelPath {
		b.WriteString("[tunnel]\nkernel_path = true\n\n")
	}
	fmt.Fprintf(&b, "[control]\nsocket = %s\n\n", quote(p.Socket("had")))
	fmt.Fprintf(&b, "[log]\nlevel = %s\nformat = \"json\"\n", quote(p.logLevel()))
	return []byte(b.String())
}

// MNConfig renders mnd.toml.
func (p Params) MNConfig() []byte {
	var b strings.Builder
	b.WriteString("# mnd.toml written by mip6lab\n")
	fmt.Fprintf(&b, "id = %s\nhome_address = %s\nhome_prefix = %s\nhome_agent = %s\n",
		quote(p.ID), quote(p.HomeAddress.String()), quote(p.HomePrefix.String()), quote(p.HomeAgent.String()))
	if p.HomeAgentIPv4.IsValid() {
		fmt.Fprintf(&b, "home_agent_ipv4 = %s\n", quote(p.HomeAgentIPv4.String()))
	}
	ifs := make([]string, len(p.Interfaces))
	for i, s := range p.Interfaces {
		ifs[i] = quote(s)
	}
	fmt.Fprintf(&b, "spi = %d\nkey = %s\ninterfaces = [%s]\nlifetime = %s\nroute_optimization = %t\n\n",
		p.SPI, quote(base64.StdEncoding.EncodeToString(p.Key)), strings.Join(ifs, ", "), quote(dur(p.Lifetime)), p.RouteOptimization)
	for _, cn := range p.Correspondents {
		fmt.Fprintf(&b, "[[correspondent]]\naddress = %s\nroute_optimization = true\n\n", quote(cn.String()))
	}
	fmt.Fprintf(&b, "[control]\nsocket = %s\n\n", quote(p.Socket("mnd")))
	fmt.Fprintf(&b, "[log]\nlevel = %s\nformat = \"json\"\n", quote(p.mnLogLevel()))
	return []byte(b.String())
}

// CNConfig renders cnd.toml.
func (p Params) CNConfig() []byte {
	var b strings.Builder
	b.WriteString("# cnd.toml written by mip6lab\n")
	fmt.Fprintf(&b, "route_optimization = %t\n\n", p.RouteOptimization || p.CNRouteOptimization)
	fmt.Fprintf(&b, "[control]\nsocket = %s\n\n", quote(p.Socket("cnd")))
	fmt.Fprintf(&b, "[log]\nlevel = %s\nformat = \"json\"\n", quote(p.logLevel()))
	return []byte(b.String())
}

func (p Params) logLevel() string {
	if p.LogLevel == "" {
		return "info"
	}
	return p.LogLevel
}

func (p Params) mnLogLevel() string {
	if p.MNLogLevel == "" {
		return p.logLevel()
	}
	return p.MNLogLevel
}

// quote writes s as a TOML basic string (TOML v1.0.0 "Basic strings"):
// quote and backslash escaped, control characters as \uXXXX, the rest as
// UTF-8.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, "\\u%04X", r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// dur writes d as a duration string conf accepts ("50ms", "20s", "1m0s").
func dur(d time.Duration) string { return d.String() }
