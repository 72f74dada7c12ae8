package conf

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const mnBase = `
id = "laptop@home.example"
home_address = "2001:db8:100::10"
home_prefix = "2001:db8:100::/64"
spi = 1000
key = "MDEyMzQ1Njc4OWFiY2RlZg=="
interfaces = ["eth0", "wlan0"]
`

func TestParseMNDefaults(t *testing.T) {
	c, err := ParseMN([]byte(mnBase))
	if err != nil {
		t.Fatal(err)
	}
	wantCfg := &MN{
		ID:              "laptop@home.example",
		HomeAddress:     netip.MustParseAddr("2001:db8:100::10"),
		HomePrefix:      netip.MustParsePrefix("2001:db8:100::/64"),
		SPI:             1000,
		Key:             Secret("0123456789abcdef"),
		Algorithm:       "hmac-sha1",
		Interfaces:      []string{"eth0", "wlan0"},
		TunnelInterface: "mip0",
		Lifetime:        Duration(5 * time.Minute),
		Control:         Control{Socket: "/run/gomip6/mnd.sock"},
		Log:             Log{Level: "info", Format: "json"},
	}
	if diff := cmp.Diff(wantCfg, c, cmpOpts); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
	if c.HomeAgent.IsValid() || c.HomeAgentIPv4.IsValid() || c.IPv4HomeAddress.IsValid() {
		t.Errorf("optional addresses set by default: %v %v %v", c.HomeAgent, c.HomeAgentIPv4, c.IPv4HomeAddress)
	}
}

// TestParseMNTunnel: [tunnel] kernel_path reaches MN.Tunnel, off unless
// set.
func TestParseMNTunnel(t *testing.T) {
	for _, tc := range []struct {
		extra string
		want  bool
	}{
		{"", false},
		{"[tunnel]\n", false},
		{"[tunnel]\nkernel_path = false\n", false},
		{"[tunnel]\nkernel_path = true\n", true},
	} {
		c, err := ParseMN([]byte(mnBase + tc.extra))
		if err != nil {
			t.Fatalf("%q: %v", tc.extra, err)
		}
		if d := cmp.Diff(Tunnel{KernelPath: tc.want}, c.Tunnel); d != "" {
			t.Errorf("%q (-want +got):\n%s", tc.extra, d)
		}
	}
}

func TestParseMNProblems(t *testing.T) {
	add := func(kv string) []string { return []string{"", kv} }
	top := func(kv string) []string {
		return []string{`id = "laptop@home.example"`, "id = \"laptop@home.example\"\n" + kv}
	}
	tests := []struct {
		name  string
		edits []string
		want  []want
	}{
		{"valid base", nil, nil},
		{"full valid", top(`home_agent = "2001:db8:100::1"
home_agent_ipv4 = "192.0.2.1"
algorithm = "hmac-sha256"
tunnel_interface = "mip1"
lifetime = "262140s"
ipv4_home_address = "0.0.0.0"
force_udp = true
route_optimization = true
route_optimization_allow = ["2001:db8:300::/48"]
route_optimization_deny = ["2001:db8:300:1::/64"]`), nil},

		{"id missing", []string{`id = "laptop@home.example"`, ``}, []want{{"id", "missing"}}},
		{"id control character", []string{`"laptop@home.example"`, `"lap\ttop"`}, []want{{"id", "white space or control"}}},
		{"id empty", []string{`"laptop@home.example"`, `""`}, []want{{"id", "empty identifier"}}},
		{"id realm with two dots", []string{`"laptop@home.example"`, `"laptop@home..example"`}, []want{{"id", "not a domain name"}}},
		{"id with @ in the user name", []string{`"laptop@home.example"`, `"a@b@home.example"`}, nil},

		{"home_prefix missing", []string{`home_prefix = "2001:db8:100::/64"`, ``}, []want{{"home_prefix", "missing"}}},
		{"home_prefix too long", []string{`"2001:db8:100::/64"`, `"2001:db8:100::/121"`}, []want{{"home_prefix", "longer than /120"}}},
		{"home_prefix /120", []string{`"2001:db8:100::/64"`, `"2001:db8:100::/120"`}, nil},
		{"home_prefix IPv4", []string{`"2001:db8:100::/64"`, `"10.0.0.0/8"`}, []want{{"home_prefix", "not an IPv6 prefix"}}},
		{"home_address missing", []string{`home_address = "2001:db8:100::10"`, ``}, []want{{"home_address", "missing"}}},
		{"home_address outside", []string{`"2001:db8:100::10"`, `"2001:db8:200::10"`},
			[]want{{"home_address", "2001:db8:200::10 is not inside home_prefix 2001:db8:100::/64"}}},
		{"home_address subnet-router anycast", []string{`"2001:db8:100::10"`, `"2001:db8:100::"`}, []want{{"home_address", "Subnet-Router anycast"}}},
		{"home_address reserved anycast, non-64 prefix", []string{`"2001:db8:100::10"`, `"2001:db8:100::ffff"`, `"2001:db8:100::/64"`, `"2001:db8:100::/112"`},
			[]want{{"home_address", "reserved subnet anycast"}}},
		{"home_address HA anycast, non-64 prefix", []string{`"2001:db8:100::10"`, `"2001:db8:100::fffe"`, `"2001:db8:100::/64"`, `"2001:db8:100::/112"`},
			[]want{{"home_address", "Home-Agents anycast"}}},
		{"home_address below anycast, non-64 prefix", []string{`"2001:db8:100::10"`, `"2001:db8:100::ff7f"`, `"2001:db8:100::/64"`, `"2001:db8:100::/112"`}, nil},
		{"home_address multicast", []string{`"2001:db8:100::10"`, `"ff0e::10"`}, []want{{"home_address", "multicast"}}},
		{"home_address loopback", []string{`"2001:db8:100::10"`, `"::1"`}, []want{{"home_address", "loopback"}}},

		{"home_agent outside", top(`home_agent = "2001:db8:200::1"`), []want{{"home_agent", "not inside home_prefix"}}},
		{"home_agent is home address", top(`home_agent = "2001:db8:100::10"`), []want{{"home_agent", "is home_address"}}},
		{"home_agent IPv4", top(`home_agent = "192.0.2.1"`), []want{{"home_agent", "want IPv6"}}},
		{"home_agent empty", top(`home_agent = ""`), []want{{"home_agent", "leave the key out"}}},
		{"home_agent_ipv4 IPv6", top(`home_agent_ipv4 = "2001:db8::1"`), []want{{"home_agent_ipv4", "want IPv4"}}},

		{"spi reserved", []string{`spi = 1000`, `spi = 0`}, []want{{"spi", "0 is reserved"}}},
		{"spi missing", []string{`spi = 1000`, ``}, []want{{"spi", "missing"}}},
		{"key short", []string{`"MDEyMzQ1Njc4OWFiY2RlZg=="`, `"MDEyMzQ1Njc4OWFiY2Rl"`}, []want{{"key", "decodes to 15 bytes"}}},
		{"key missing", []string{`key = "MDEyMzQ1Njc4OWFiY2RlZg=="`, ``}, []want{{"key", "missing"}}},
		{"algorithm", top(`algorithm = "HMAC-SHA1"`), []want{{"algorithm", "not one of"}}},

		{"interfaces missing", []string{`interfaces = ["eth0", "wlan0"]`, ``}, []want{{"interfaces", "missing"}}},
		{"interfaces empty", []string{`["eth0", "wlan0"]`, `[]`}, []want{{"interfaces", "empty"}}},
		{"interfaces duplicate", []string{`["eth0", "wlan0"]`, `["eth0", "wlan0", "eth0"]`}, []want{{"interfaces[2]", "already listed at interfaces[0]"}}},
		{"interfaces bad name", []string{`["eth0", "wlan0"]`, `["eth0", "wlan:0"]`}, []want{{"interfaces[1]", "':'"}}},
		{"interfaces element not a string", []string{`["eth0", "wlan0"]`, `["eth0", 1]`}, []want{{"interfaces[1]", "want a string"}}},
		{"interfaces a string", []string{`["eth0", "wlan0"]`, `"eth0"`}, []want{{"interfaces", "want an array"}}},
		{"tunnel_interface among interfaces", top(`tunnel_interface = "wlan0"`), []want{{"tunnel_interface", "also interfaces[1]"}}},
		{"tunnel_interface bad", top(`tunnel_interface = ".."`), []want{{"tunnel_interface", "not a valid interface name"}}},

		{"lifetime not multiple", top(`lifetime = "5m1s"`), []want{{"lifetime", "use 5m0s or 5m4s"}}},
		{"lifetime zero", top(`lifetime = "0s"`), []want{{"lifetime", "positive"}}},
		{"lifetime too long", top(`lifetime = "73h"`), []want{{"lifetime", "exceeds"}}},

		{"ipv4 home address given", top(`ipv4_home_address = "198.51.100.10"`), nil},
		{"ipv4 home address IPv6 unspecified", top(`ipv4_home_address = "::"`), []want{{"ipv4_home_address", "want IPv4"}}},
		{"ipv4 home address multicast", top(`ipv4_home_address = "224.0.0.1"`), []want{{"ipv4_home_address", "multicast"}}},
		{"force_udp without IPv4 home agent", top(`force_udp = true`), []want{{"force_udp", "needs home_agent_ipv4"}}},
		{"force_udp false alone", top(`force_udp = false`), nil},

		{"correspondent address", add("[[correspondent]]\naddress = \"2001:db8:300::80\"\nroute_optimization = true"), nil},
		{"correspondent both", add("[[correspondent]]\naddress = \"2001:db8:300::80\"\nprefix = \"2001:db8:300::/64\"\nroute_optimization = true"),
			[]want{{"correspondent[0]", "both address and prefix"}}},
		{"correspondent neither", add("[[correspondent]]\nroute_optimization = true"), []want{{"correspondent[0]", "neither address nor prefix"}}},
		{"correspondent decision missing", add("[[correspondent]]\naddress = \"2001:db8:300::80\""),
			[]want{{"correspondent[0].route_optimization", "missing"}}},
		{"correspondent multicast", add("[[correspondent]]\naddress = \"ff0e::1\"\nroute_optimization = false"),
			[]want{{"correspondent[0].address", "multicast"}}},
		{"correspondent prefix IPv4", add("[[correspondent]]\nprefix = \"10.0.0.0/8\"\nroute_optimization = false"),
			[]want{{"correspondent[0].prefix", "not an IPv6 prefix"}}},
		{"correspondent twice", add("[[correspondent]]\naddress = \"2001:db8:300::80\"\nroute_optimization = true\n" +
			"[[correspondent]]\nprefix = \"2001:db8:300::80/128\"\nroute_optimization = false"),
			[]want{{"correspondent[1].prefix", "already has a rule at correspondent[0].address"}}},
		{"allow and deny the same", top("route_optimization_allow = [\"2001:db8:300::/48\"]\nroute_optimization_deny = [\"2001:db8:300::/48\"]"),
			[]want{{"route_optimization_deny[0]", "already has a rule at route_optimization_allow[0]"}}},
		{"allow duplicates a correspondent", append(top(`route_optimization_allow = ["2001:db8:300::/48"]`),
			add("[[correspondent]]\nprefix = \"2001:db8:300::/48\"\nroute_optimization = true")...),
			[]want{{"route_optimization_allow[0]", "already has a rule at correspondent[0].prefix"}}},
		{"allow bad prefix", top(`route_optimization_allow = ["2001:db8:300::1/48"]`), []want{{"route_optimization_allow[0]", "did you mean 2001:db8:300::/48?"}}},
		{"deny address without length", top(`route_optimization_deny = ["2001:db8:300::1"]`), []want{{"route_optimization_deny[0]", "write e.g. 2001:db8:300::1/128"}}},

		{"control socket", add("[control]\nsocket = \"mnd.sock\""), []want{{"control.socket", "absolute"}}},
		{"log format", add("[log]\nformat = \"JSON\""), []want{{"log.format", "not one of"}}},
		{"unknown key", top(`route_optimisation = true`), []want{{"route_optimisation", "did you mean route_optimization?"}}},
		{"unknown array of tables", add("[[correspondents]]\naddress = \"2001:db8:300::80\""), []want{{"correspondents", "did you mean correspondent?"}}},
		{"unknown key in correspondent", add("[[correspondent]]\naddress = \"2001:db8:300::80\"\nroute_optimization = true\nro = true"),
			[]want{{"correspondent[0].ro", "unknown key"}}},
		{"uplink is had's", add("[uplink]\ntype = \"6in4\""), []want{{"uplink", "unknown table"}}},
		{"tunnel kernel_path", add("[tunnel]\nkernel_path = true"), nil},
		{"tunnel kernel_path not a bool", add("[tunnel]\nkernel_path = 1"), []want{{"tunnel.kernel_path", "want true or false"}}},
		{"tunnel unknown key", add("[tunnel]\nkernel_path = true\nqueues = 2"), []want{{"tunnel.queues", "unknown key"}}},
		{"tunnel misspelt key", add("[tunnel]\nkernel-path = true"), []want{{"tunnel.kernel-path", "did you mean kernel_path?"}}},
		{"tunnel not a table", top(`tunnel = true`), []want{{"tunnel", "want a table"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseMN([]byte(edit(t, mnBase, tc.edits...)))
			checkProblems(t, err, tc.want)
		})
	}
}

func TestParseMNManyProblems(t *testing.T) {
	_, err := ParseMN([]byte(`
id = "lap top"
home_address = "2001:db8:200::10"
home_prefix = "2001:db8:100::/64"
spi = 7
interfaces = []
lifetime = "10s"
force_udp = true
[[correspondent]]
route_optimization = true
[log]
level = "trace"
`))
	checkProblems(t, err, []want{
		{"id", "white space"},
		{"home_address", "not inside home_prefix"},
		{"spi", "reserved"},
		{"key", "missing"},
		{"interfaces", "empty"},
		{"lifetime", "use 8s or 12s"},
		{"force_udp", "needs home_agent_ipv4"},
		{"correspondent[0]", "neither"},
		{"log.level", "not one of"},
	})
}

func TestRouteOptimizationFor(t *testing.T) {
	c, err := ParseMN([]byte(mnBase + `
route_optimization = false
route_optimization_allow = ["2001:db8:300::/48", "2001:db8:500:1::/64"]
route_optimization_deny = ["2001:db8:300:6::/64", "2001:db8:500::/48"]
[[correspondent]]
address = "2001:db8:300:6::80"
route_optimization = true
[[correspondent]]
prefix = "2001:db8:300:6:1::/80"
route_optimization = false
`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		cn   string
		want bool
	}{
		{"2001:db8:999::1", false},       // no rule: route_optimization
		{"2001:db8:300::1", true},        // allow /48
		{"2001:db8:300:6::1", false},     // deny /64 inside the allowed /48
		{"2001:db8:300:6::80", true},     // [[correspondent]] address inside the deny
		{"2001:db8:300:6:1::5", false},   // [[correspondent]] prefix /80
		{"2001:db8:500::1", false},       // deny /48
		{"2001:db8:500:1::1", true},      // allow /64 inside the denied /48
		{"2001:db8:500:1:ffff::1", true}, // still inside the allow /64
	} {
		if got := c.RouteOptimizationFor(netip.MustParseAddr(tc.cn)); got != tc.want {
			t.Errorf("RouteOptimizationFor(%s) = %v, want %v", tc.cn, got, tc.want)
		}
	}
	// With no rules at all, route_optimization decides.
	for _, def := range []bool{false, true} {
		c := MN{RouteOptimization: def}
		if got := c.RouteOptimizationFor(netip.MustParseAddr("2001:db8::1")); got != def {
			t.Errorf("no rules, route_optimization = %v: got %v", def, got)
		}
	}
}

func TestCorrespondentCovers(t *testing.T) {
	a := Correspondent{Address: netip.MustParseAddr("2001:db8::1")}
	if got, wantP := a.Covers(), netip.MustParsePrefix("2001:db8::1/128"); got != wantP {
		t.Errorf("address entry covers %v, want %v", got, wantP)
	}
	p := Correspondent{Prefix: netip.MustParsePrefix("2001:db8::/48")}
	if got := p.Covers(); got != p.Prefix {
		t.Errorf("prefix entry covers %v, want %v", got, p.Prefix)
	}
}
