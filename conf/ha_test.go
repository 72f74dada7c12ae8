package conf

import (
	"errors"
	"io/fs"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const haBase = `
[home]
interface = "eth1"
prefix = "2001:db8:100::/64"
address = "2001:db8:100::1"

[[mobile_node]]
id = "laptop@home.example"
home_address = "2001:db8:100::10"
spi = 1000
key = "MDEyMzQ1Njc4OWFiY2RlZg=="

[[mobile_node]]
id = "phone@home.example"
home_address = "2001:db8:100::11"
spi = 1001
key = "ZmVkY2JhOTg3NjU0MzIxMA=="
`

const haUplink = `
[uplink]
type = "6in4"
local_ipv4 = "192.168.1.2"
remote_ipv4 = "203.0.113.1"
local_ipv6 = "2001:db8:ff::2"
remote_ipv6 = "2001:db8:ff::1"
routed_prefix = "2001:db8:100::/48"
`

func TestParseHADefaults(t *testing.T) {
	c, err := ParseHA([]byte(haBase))
	if err != nil {
		t.Fatal(err)
	}
	wantCfg := &HA{
		StateFile: "/var/lib/gomip6/had.state",
		Home: Home{
			Interface:               "eth1",
			Prefix:                  netip.MustParsePrefix("2001:db8:100::/64"),
			Address:                 netip.MustParseAddr("2001:db8:100::1"),
			MaxLifetime:             Duration(10 * time.Minute),
			MobilePrefixMinInterval: Duration(600 * time.Second),
			MobilePrefixMaxInterval: Duration(86400 * time.Second),
		},
		RouterAdvertisements: RouterAdvertisements{
			Enabled:                 true,
			MinInterval:             Duration(750 * time.Millisecond), // 0.75 × 1s
			MaxInterval:             Duration(time.Second),
			MinDelayBetweenRAs:      Duration(750 * time.Millisecond), // min(3s, min_interval)
			RouterLifetime:          Duration(3 * time.Second),        // 3 × max_interval
			HALifetime:              Duration(3 * time.Second),        // router_lifetime
			PrefixValidLifetime:     Duration(2592000 * time.Second),
			PrefixPreferredLifetime: Duration(604800 * time.Second),
		},
		MobileNodes: []MobileNode{{
			ID:          "laptop@home.example",
			HomeAddress: netip.MustParseAddr("2001:db8:100::10"),
			SPI:         1000,
			Key:         Secret("0123456789abcdef"),
			Algorithm:   "hmac-sha1",
		}, {
			ID:          "phone@home.example",
			HomeAddress: netip.MustParseAddr("2001:db8:100::11"),
			SPI:         1001,
			Key:         Secret("fedcba9876543210"),
			Algorithm:   "hmac-sha1",
		}},
		RateLimit: RateLimit{Rate: 10, Burst: 20},
		Control:   Control{Socket: "/run/gomip6/had.sock"},
		Log:       Log{Level: "info", Format: "json"},
	}
	if diff := cmp.Diff(wantCfg, c, cmpOpts); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
}

func TestParseHASectionDefaults(t *testing.T) {
	c, err := ParseHA([]byte(haBase + "\n[ipv4]\naddress = \"192.0.2.1\"\n" + haUplink))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&HAIPv4{Address: netip.MustParseAddr("192.0.2.1"), NATKeepalive: Duration(110 * time.Second)}, c.IPv4, cmpOpts); diff != "" {
		t.Errorf("[ipv4] (-want +got):\n%s", diff)
	}
	wantUp := &Uplink{
		Type:         "6in4",
		Interface:    "mip6up0",
		LocalIPv4:    netip.MustParseAddr("192.168.1.2"),
		RemoteIPv4:   netip.MustParseAddr("203.0.113.1"),
		LocalIPv6:    netip.MustParseAddr("2001:db8:ff::2"),
		RemoteIPv6:   netip.MustParseAddr("2001:db8:ff::1"),
		RoutedPrefix: netip.MustParsePrefix("2001:db8:100::/48"),
		MTU:          1480,
	}
	if diff := cmp.Diff(wantUp, c.Uplink, cmpOpts); diff != "" {
		t.Errorf("[uplink] (-want +got):\n%s", diff)
	}
}

// TestRADerivedDefaults checks the RA defaults that follow max_interval
// (RFC 4861 §6.2.1 with the floors of RFC 6275 §7.5).
func TestRADerivedDefaults(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		max                        string
		minI, delay, rl, hal       time.Duration
		explicitMin, explicitDelay string
	}{
		// Below 9 s: 0.75 × max; router lifetime rounded up to seconds.
		{max: "70ms", minI: 52 * ms, delay: 52 * ms, rl: time.Second, hal: time.Second},
		{max: "1s", minI: 750 * ms, delay: 750 * ms, rl: 3 * time.Second, hal: 3 * time.Second},
		{max: "8999ms", minI: 6749 * ms, delay: 3 * time.Second, rl: 27 * time.Second, hal: 27 * time.Second},
		// From 9 s: 0.33 × max (RFC 4861's default).
		{max: "9s", minI: 2970 * ms, delay: 2970 * ms, rl: 27 * time.Second, hal: 27 * time.Second},
		{max: "600s", minI: 198 * time.Second, delay: 3 * time.Second, rl: 1800 * time.Second, hal: 1800 * time.Second},
		// An explicit min_interval drives the delay default.
		{max: "1s", explicitMin: "40ms", minI: 40 * ms, delay: 40 * ms, rl: 3 * time.Second, hal: 3 * time.Second},
		{max: "1s", explicitDelay: "100ms", minI: 750 * ms, delay: 100 * ms, rl: 3 * time.Second, hal: 3 * time.Second},
	} {
		t.Run(tc.max+tc.explicitMin+tc.explicitDelay, func(t *testing.T) {
			s := haBase + "\n[router_advertisements]\nmax_interval = \"" + tc.max + "\"\n"
			if tc.explicitMin != "" {
				s += "min_interval = \"" + tc.explicitMin + "\"\n"
			}
			if tc.explicitDelay != "" {
				s += "min_delay_between_ras = \"" + tc.explicitDelay + "\"\n"
			}
			c, err := ParseHA([]byte(s))
			if err != nil {
				t.Fatal(err)
			}
			ra := c.RouterAdvertisements
			got := []time.Duration{ra.MinInterval.Std(), ra.MinDelayBetweenRAs.Std(), ra.RouterLifetime.Std(), ra.HALifetime.Std()}
			if diff := cmp.Diff([]time.Duration{tc.minI, tc.delay, tc.rl, tc.hal}, got); diff != "" {
				t.Errorf("min_interval, min_delay_between_ras, router_lifetime, ha_lifetime (-want +got):\n%s", diff)
			}
		})
	}
}

// TestParseHAProblems has a failing case for every rule, asserting the key
// path of each problem, and passing cases at the boundaries.
func TestParseHAProblems(t *testing.T) {
	ra := func(kv string) []string { return []string{"", "[router_advertisements]\n" + kv} }
	v4 := func(kv string) []string { return []string{"", "[ipv4]\n" + kv} }
	top := func(kv string) []string { return []string{"[home]", kv + "\n[home]"} }
	mn1 := func(old, repl string) []string {
		// Edits the second mobile node, whose lines are unique.
		return []string{old, repl}
	}
	tests := []struct {
		name  string
		edits []string
		want  []want
	}{
		{"valid base", nil, nil},

		// [home]
		{"interface missing", []string{`interface = "eth1"`, ``}, []want{{"home.interface", "missing"}}},
		{"interface too long", []string{`"eth1"`, `"abcdefghijklmnop"`}, []want{{"home.interface", "longer than 15"}}},
		{"interface with slash", []string{`"eth1"`, `"eth/1"`}, []want{{"home.interface", "'/'"}}},
		{"interface not a string", []string{`"eth1"`, `1`}, []want{{"home.interface", "want a string, got integer 1"}}},
		{"prefix missing", []string{`prefix = "2001:db8:100::/64"`, ``}, []want{{"home.prefix", "missing"}}},
		{"prefix IPv4", []string{`"2001:db8:100::/64"`, `"192.0.2.0/24"`}, []want{{"home.prefix", "not an IPv6 prefix"}}},
		{"prefix host bits", []string{`"2001:db8:100::/64"`, `"2001:db8:100::1/64"`}, []want{{"home.prefix", "did you mean 2001:db8:100::/64"}}},
		{"prefix without length", []string{`"2001:db8:100::/64"`, `"2001:db8:100::"`}, []want{{"home.prefix", "no prefix length"}}},
		{"prefix garbage", []string{`"2001:db8:100::/64"`, `"home"`}, []want{{"home.prefix", "not a prefix"}}},
		{"prefix not /64 with RAs", []string{`"2001:db8:100::/64"`, `"2001:db8:100::/48"`}, []want{{"home.prefix", "is not a /64"}}},
		{"prefix /48 without RAs", append([]string{`"2001:db8:100::/64"`, `"2001:db8:100::/48"`}, ra("enabled = false")...), nil},
		{"prefix longer than /120", append([]string{`"2001:db8:100::/64"`, `"2001:db8:100::/124"`}, ra("enabled = false")...),
			[]want{{"home.prefix", "longer than /120"}}},
		{"prefix /0", []string{`"2001:db8:100::/64"`, `"::/0"`}, []want{{"home.prefix", "whole address space"}}},
		{"address missing", []string{`address = "2001:db8:100::1"`, ``}, []want{{"home.address", "missing"}}},
		{"address outside prefix", []string{`"2001:db8:100::1"`, `"2001:db8:200::1"`},
			[]want{{"home.address", "2001:db8:200::1 is not inside home.prefix 2001:db8:100::/64"}}},
		{"address IPv4", []string{`"2001:db8:100::1"`, `"192.0.2.1"`}, []want{{"home.address", "want IPv6"}}},
		{"address IPv4-mapped", []string{`"2001:db8:100::1"`, `"::ffff:192.0.2.1"`}, []want{{"home.address", "IPv4-mapped"}}},
		{"address link-local", []string{`"2001:db8:100::1"`, `"fe80::1"`}, []want{{"home.address", "link-local"}}},
		{"address multicast", []string{`"2001:db8:100::1"`, `"ff02::1"`}, []want{{"home.address", "multicast"}}},
		{"address with zone", []string{`"2001:db8:100::1"`, `"2001:db8:100::1%eth1"`}, []want{{"home.address", "zone"}}},
		{"address is a prefix", []string{`"2001:db8:100::1"`, `"2001:db8:100::1/64"`}, []want{{"home.address", "is a prefix"}}},
		{"address empty", []string{`"2001:db8:100::1"`, `""`}, []want{{"home.address", "empty address"}}},
		{"address subnet-router anycast", []string{`"2001:db8:100::1"`, `"2001:db8:100::"`}, []want{{"home.address", "Subnet-Router anycast"}}},
		{"address HA anycast", []string{`"2001:db8:100::1"`, `"2001:db8:100:0:fdff:ffff:ffff:fffe"`}, []want{{"home.address", "Home-Agents anycast"}}},
		{"address reserved anycast", []string{`"2001:db8:100::1"`, `"2001:db8:100:0:fdff:ffff:ffff:ff80"`}, []want{{"home.address", "reserved subnet anycast"}}},
		{"address just below the reserved anycast range", []string{`"2001:db8:100::1"`, `"2001:db8:100:0:fdff:ffff:ffff:ff7f"`}, nil},
		{"address with u/l bit set is not reserved", []string{`"2001:db8:100::1"`, `"2001:db8:100:0:ffff:ffff:ffff:fffe"`}, nil},
		{"max_lifetime 0", []string{`address = "2001:db8:100::1"`, "address = \"2001:db8:100::1\"\nmax_lifetime = \"0s\""},
			[]want{{"home.max_lifetime", "must be positive"}}},
		{"max_lifetime 90s", []string{`address = "2001:db8:100::1"`, "address = \"2001:db8:100::1\"\nmax_lifetime = \"90s\""},
			[]want{{"home.max_lifetime", "use 1m28s or 1m32s"}}},
		{"max_lifetime 2s", []string{`address = "2001:db8:100::1"`, "address = \"2001:db8:100::1\"\nmax_lifetime = \"2s\""},
			[]want{{"home.max_lifetime", "use 4s"}}},
		{"max_lifetime too long", []string{`address = "2001:db8:100::1"`, "address = \"2001:db8:100::1\"\nmax_lifetime = \"262144s\""},
			[]want{{"home.max_lifetime", "exceeds 72h49m0s"}}},
		{"max_lifetime at the limit", []string{`address = "2001:db8:100::1"`, "address = \"2001:db8:100::1\"\nmax_lifetime = \"262140s\""}, nil},
		{"max_lifetime as integer", []string{`address = "2001:db8:100::1"`, "address = \"2001:db8:100::1\"\nmax_lifetime = 600"},
			[]want{{"home.max_lifetime", `want a duration string such as "90s"`}}},
		{"max_lifetime without unit", []string{`address = "2001:db8:100::1"`, "address = \"2001:db8:100::1\"\nmax_lifetime = \"600\""},
			[]want{{"home.max_lifetime", "not a duration"}}},
		{"max_lifetime negative", []string{`address = "2001:db8:100::1"`, "address = \"2001:db8:100::1\"\nmax_lifetime = \"-4s\""},
			[]want{{"home.max_lifetime", "negative"}}},
		{"mobile prefix intervals reversed", []string{`address = "2001:db8:100::1"`,
			"address = \"2001:db8:100::1\"\nmobile_prefix_min_interval = \"2h\"\nmobile_prefix_max_interval = \"1h\""},
			[]want{{"home.mobile_prefix_min_interval", "longer than"}}},
		{"mobile prefix interval zero", []string{`address = "2001:db8:100::1"`, "address = \"2001:db8:100::1\"\nmobile_prefix_max_interval = \"0s\""},
			[]want{{"home.mobile_prefix_max_interval", "positive"}}},

		// [router_advertisements]
		{"RA at the RFC 6275 floors", ra("min_interval = \"30ms\"\nmax_interval = \"70ms\""), nil},
		{"RA min below floor", ra(`min_interval = "29ms"`), []want{{"router_advertisements.min_interval", "below 30ms"}}},
		{"RA max below floor", ra(`max_interval = "69ms"`), []want{{"router_advertisements.max_interval", "below 70ms"}}},
		{"RA max above 1800s", ra(`max_interval = "1801s"`), []want{{"router_advertisements.max_interval", "above 30m0s"}}},
		{"RA min above 0.75 max", ra("min_interval = \"751ms\"\nmax_interval = \"1s\""),
			[]want{{"router_advertisements.min_interval", "more than 0.75"}}},
		{"RA min at 0.75 max", ra("min_interval = \"750ms\"\nmax_interval = \"1s\""), nil},
		{"RA min not whole ms", ra(`min_interval = "1500us"`), []want{{"router_advertisements.min_interval", "whole number of milliseconds"}}},
		{"RA min zero", ra(`min_interval = "0s"`), []want{{"router_advertisements.min_interval", "positive"}}},
		{"RA delay below floor", ra(`min_delay_between_ras = "20ms"`), []want{{"router_advertisements.min_delay_between_ras", "below 30ms"}}},
		{"RA delay above min_interval", ra("min_interval = \"50ms\"\nmin_delay_between_ras = \"2s\""),
			[]want{{"router_advertisements.min_delay_between_ras", "longer than min_interval"}}},
		{"RA router_lifetime fraction", ra(`router_lifetime = "1500ms"`), []want{{"router_advertisements.router_lifetime", "whole number of seconds"}}},
		{"RA router_lifetime below max", ra("max_interval = \"3s\"\nrouter_lifetime = \"2s\""),
			[]want{{"router_advertisements.router_lifetime", "shorter than max_interval"}}},
		{"RA router_lifetime above 9000s", ra(`router_lifetime = "9001s"`), []want{{"router_advertisements.router_lifetime", "outside"}}},
		{"RA router_lifetime 0 leaves ha_lifetime 0", ra(`router_lifetime = "0s"`), []want{{"router_advertisements.ha_lifetime", "must not be used"}}},
		{"RA router_lifetime 0 with ha_lifetime", ra("router_lifetime = \"0s\"\nha_lifetime = \"30s\""), nil},
		{"RA ha_lifetime 0", ra(`ha_lifetime = "0s"`), []want{{"router_advertisements.ha_lifetime", "must not be used"}}},
		{"RA ha_lifetime too long", ra(`ha_lifetime = "65536s"`), []want{{"router_advertisements.ha_lifetime", "outside"}}},
		{"RA ha_lifetime at the limit", ra(`ha_lifetime = "65535s"`), nil},
		{"RA ha_preference out of range", ra(`ha_preference = 32768`), []want{{"router_advertisements.ha_preference", "out of range"}}},
		{"RA ha_preference negative", ra(`ha_preference = -32768`), nil},
		{"RA preferred above valid", ra("prefix_valid_lifetime = \"1h\"\nprefix_preferred_lifetime = \"2h\""),
			[]want{{"router_advertisements.prefix_preferred_lifetime", "longer than prefix_valid_lifetime"}}},
		{"RA valid infinite", ra(`prefix_valid_lifetime = "4294967295s"`), nil},
		{"RA valid beyond infinite", ra(`prefix_valid_lifetime = "4294967296s"`), []want{{"router_advertisements.prefix_valid_lifetime", "outside"}}},
		{"RA mtu too small", ra(`mtu = 1279`), []want{{"router_advertisements.mtu", "below 1280"}}},
		{"RA mtu 1280", ra(`mtu = 1280`), nil},
		{"RA enabled not a bool", ra(`enabled = "yes"`), []want{{"router_advertisements.enabled", "want true or false"}}},

		// [[mobile_node]]
		{"node id missing", mn1(`id = "phone@home.example"`, ``), []want{{"mobile_node[1].id", "missing"}}},
		{"node id with space", mn1(`"phone@home.example"`, `"my phone@home.example"`), []want{{"mobile_node[1].id", "white space"}}},
		{"node id too long", mn1(`"phone@home.example"`, `"`+strings.Repeat("a", 241)+`@home.example"`), []want{{"mobile_node[1].id", "at most 253"}}},
		{"node id at the length limit", mn1(`"phone@home.example"`, `"`+strings.Repeat("a", 240)+`@home.example"`), nil},
		{"node id empty realm", mn1(`"phone@home.example"`, `"phone@"`), []want{{"mobile_node[1].id", "after '@' is empty"}}},
		{"node id bad realm", mn1(`"phone@home.example"`, `"phone@home_example"`), []want{{"mobile_node[1].id", "not a domain name"}}},
		{"node id without realm", mn1(`"phone@home.example"`, `"phone"`), nil},
		{"node id duplicate", mn1(`"phone@home.example"`, `"laptop@home.example"`), []want{{"mobile_node[1].id", "already used by mobile_node[0]"}}},
		{"node home_address missing", mn1(`home_address = "2001:db8:100::11"`, ``), []want{{"mobile_node[1].home_address", "missing"}}},
		{"node home_address outside prefix", mn1(`"2001:db8:100::11"`, `"2001:db8:200::10"`),
			[]want{{"mobile_node[1].home_address", "2001:db8:200::10 is not inside home.prefix 2001:db8:100::/64"}}},
		{"node home_address is the HA's", mn1(`"2001:db8:100::11"`, `"2001:db8:100::1"`), []want{{"mobile_node[1].home_address", "home agent's own address"}}},
		{"node home_address duplicate", mn1(`"2001:db8:100::11"`, `"2001:db8:100::10"`), []want{{"mobile_node[1].home_address", "already the home address of mobile_node[0]"}}},
		{"node home_address anycast", mn1(`"2001:db8:100::11"`, `"2001:db8:100:0:fdff:ffff:ffff:fffe"`), []want{{"mobile_node[1].home_address", "Home-Agents anycast"}}},
		{"node home_address link-local", mn1(`"2001:db8:100::11"`, `"fe80::11"`), []want{{"mobile_node[1].home_address", "link-local"}}},
		{"node spi missing", mn1(`spi = 1001`, ``), []want{{"mobile_node[1].spi", "missing"}}},
		{"node spi reserved", mn1(`spi = 1001`, `spi = 255`), []want{{"mobile_node[1].spi", "255 is reserved"}}},
		{"node spi 256", mn1(`spi = 1001`, `spi = 256`), nil},
		{"node spi negative", mn1(`spi = 1001`, `spi = -1`), []want{{"mobile_node[1].spi", "out of range"}}},
		{"node spi too big", mn1(`spi = 1001`, `spi = 4294967296`), []want{{"mobile_node[1].spi", "out of range"}}},
		{"node spi largest", mn1(`spi = 1001`, `spi = 4294967295`), nil},
		{"node spi duplicate", mn1(`spi = 1001`, `spi = 1000`), []want{{"mobile_node[1].spi", "already the SPI of mobile_node[0]"}}},
		{"node spi as string", mn1(`spi = 1001`, `spi = "1001"`), []want{{"mobile_node[1].spi", `want an integer, got string "1001"`}}},
		{"node key missing", mn1(`key = "ZmVkY2JhOTg3NjU0MzIxMA=="`, ``), []want{{"mobile_node[1].key", "missing"}}},
		{"node key not base64", mn1(`"ZmVkY2JhOTg3NjU0MzIxMA=="`, `"not base64!"`), []want{{"mobile_node[1].key", "not valid base64"}}},
		{"node key 15 bytes", mn1(`"ZmVkY2JhOTg3NjU0MzIxMA=="`, `"MDEyMzQ1Njc4OWFiY2Rl"`), []want{{"mobile_node[1].key", "decodes to 15 bytes"}}},
		{"node algorithm", mn1(`spi = 1001`, "spi = 1001\nalgorithm = \"md5\""), []want{{"mobile_node[1].algorithm", `"md5" is not one of`}}},
		{"node algorithm sha256", mn1(`spi = 1001`, "spi = 1001\nalgorithm = \"hmac-sha256\""), nil},
		{"node mobile prefix overlaps home", mn1(`spi = 1001`, "spi = 1001\nmobile_prefixes = [\"2001:db8:100::/56\"]"),
			[]want{{"mobile_node[1].mobile_prefixes[0]", "overlaps home.prefix"}}},
		{"node mobile prefixes overlap each other", []string{
			`spi = 1000`, "spi = 1000\nmobile_prefixes = [\"2001:db8:200:1::/64\"]",
			`spi = 1001`, "spi = 1001\nmobile_prefixes = [\"2001:db8:300::/64\", \"2001:db8:200::/48\"]"},
			[]want{{"mobile_node[0].mobile_prefixes[0]", "overlaps 2001:db8:200::/48 at mobile_node[1].mobile_prefixes[1]"}}},
		{"node mobile prefix listed twice", []string{
			`spi = 1000`, "spi = 1000\nmobile_prefixes = [\"2001:db8:200::/64\"]",
			`spi = 1001`, "spi = 1001\nmobile_prefixes = [\"2001:db8:200::/64\"]"},
			[]want{{"mobile_node[1].mobile_prefixes[0]", "already listed at mobile_node[0].mobile_prefixes[0]"}}},
		{"node mobile prefixes disjoint", []string{
			`spi = 1000`, "spi = 1000\nmobile_prefixes = [\"2001:db8:200::/64\", \"2001:db8:200:1::/64\"]",
			`spi = 1001`, "spi = 1001\nmobile_prefixes = [\"2001:db8:201::/48\"]"}, nil},
		{"node mobile prefix IPv4", mn1(`spi = 1001`, "spi = 1001\nmobile_prefixes = [\"10.0.0.0/8\"]"),
			[]want{{"mobile_node[1].mobile_prefixes[0]", "not an IPv6 prefix"}}},
		{"node mobile prefixes not an array", mn1(`spi = 1001`, "spi = 1001\nmobile_prefixes = \"2001:db8:200::/64\""),
			[]want{{"mobile_node[1].mobile_prefixes", "want an array"}}},
		{"node mobile prefix bad element", mn1(`spi = 1001`, "spi = 1001\nmobile_prefixes = [\"2001:db8:200::/64\", 5]"),
			[]want{{"mobile_node[1].mobile_prefixes[1]", "want a prefix string"}}},
		{"node ipv4 home address without pool", mn1(`spi = 1001`, "spi = 1001\nipv4_home_address = \"198.51.100.10\""),
			[]want{{"mobile_node[1].ipv4_home_address", "set ipv4.home_pool"}}},
		{"node ipv4 home address outside pool", append(mn1(`spi = 1001`, "spi = 1001\nipv4_home_address = \"198.51.101.10\""),
			v4("address = \"192.0.2.1\"\nhome_pool = \"198.51.100.0/24\"")...),
			[]want{{"mobile_node[1].ipv4_home_address", "not inside ipv4.home_pool"}}},
		{"node ipv4 home address is the network address", append(mn1(`spi = 1001`, "spi = 1001\nipv4_home_address = \"198.51.100.0\""),
			v4("address = \"192.0.2.1\"\nhome_pool = \"198.51.100.0/24\"")...),
			[]want{{"mobile_node[1].ipv4_home_address", "network or broadcast"}}},
		{"node ipv4 home address duplicate", append([]string{
			`spi = 1000`, "spi = 1000\nipv4_home_address = \"198.51.100.10\"",
			`spi = 1001`, "spi = 1001\nipv4_home_address = \"198.51.100.10\""},
			v4("address = \"192.0.2.1\"\nhome_pool = \"198.51.100.0/24\"")...),
			[]want{{"mobile_node[1].ipv4_home_address", "already the IPv4 home address of mobile_node[0]"}}},
		{"node ipv4 home address IPv6", mn1(`spi = 1001`, "spi = 1001\nipv4_home_address = \"2001:db8::1\""),
			[]want{{"mobile_node[1].ipv4_home_address", "want IPv4"}}},
		{"node with an unknown key", mn1(`spi = 1001`, "spi = 1001\nspii = 1"), []want{{"mobile_node[1].spii", "did you mean spi?"}}},
		{"no mobile nodes", []string{haBase[strings.Index(haBase, "[[mobile_node]]"):], ""}, nil},

		// [ipv4]
		{"ipv4 valid", v4("address = \"192.0.2.1\"\nhome_pool = \"198.51.100.0/24\"\nnat_keepalive = \"30s\""), nil},
		{"ipv4 address missing", v4(`home_pool = "198.51.100.0/24"`), []want{{"ipv4.address", "missing"}}},
		{"ipv4 address IPv6", v4(`address = "2001:db8::1"`), []want{{"ipv4.address", "want IPv4"}}},
		{"ipv4 address mapped", v4(`address = "::ffff:192.0.2.1"`), []want{{"ipv4.address", "write it as 192.0.2.1"}}},
		{"ipv4 address broadcast", v4(`address = "255.255.255.255"`), []want{{"ipv4.address", "broadcast"}}},
		{"ipv4 address multicast", v4(`address = "224.0.0.1"`), []want{{"ipv4.address", "multicast"}}},
		{"ipv4 address unspecified", v4(`address = "0.0.0.0"`), []want{{"ipv4.address", "unspecified"}}},
		{"ipv4 address loopback", v4(`address = "127.0.0.1"`), []want{{"ipv4.address", "loopback"}}},
		{"ipv4 pool IPv6", v4("address = \"192.0.2.1\"\nhome_pool = \"2001:db8::/64\""), []want{{"ipv4.home_pool", "not an IPv4 prefix"}}},
		{"ipv4 pool holds the HA", v4("address = \"192.0.2.1\"\nhome_pool = \"192.0.2.0/24\""), []want{{"ipv4.home_pool", "contains ipv4.address"}}},
		{"ipv4 keepalive fraction", v4("address = \"192.0.2.1\"\nnat_keepalive = \"1500ms\""), []want{{"ipv4.nat_keepalive", "whole number of seconds"}}},
		{"ipv4 keepalive zero", v4("address = \"192.0.2.1\"\nnat_keepalive = \"0s\""), []want{{"ipv4.nat_keepalive", "outside"}}},
		{"ipv4 not a table", top(`ipv4 = "192.0.2.1"`), []want{{"ipv4", "want a table"}}},

		// [uplink]
		{"uplink valid", []string{"", haUplink}, nil},
		{"uplink type", []string{"", strings.Replace(haUplink, `"6in4"`, `"gre"`, 1)}, []want{{"uplink.type", `"gre" is not a supported tunnel type`}}},
		{"uplink type missing", []string{"", strings.Replace(haUplink, `type = "6in4"`, ``, 1)}, []want{{"uplink.type", "missing"}}},
		{"uplink everything missing", []string{"", "[uplink]"}, []want{
			{"uplink.type", "missing"}, {"uplink.local_ipv4", "missing"}, {"uplink.remote_ipv4", "missing"},
			{"uplink.local_ipv6", "missing"}, {"uplink.remote_ipv6", "missing"}, {"uplink.routed_prefix", "missing"}}},
		{"uplink local_ipv4 IPv6", []string{"", strings.Replace(haUplink, `"192.168.1.2"`, `"2001:db8::2"`, 1)}, []want{{"uplink.local_ipv4", "want IPv4"}}},
		{"uplink ipv4 ends equal", []string{"", strings.Replace(haUplink, `"192.168.1.2"`, `"203.0.113.1"`, 1)}, []want{{"uplink.remote_ipv4", "also uplink.local_ipv4"}}},
		{"uplink ipv6 ends equal", []string{"", strings.Replace(haUplink, `"2001:db8:ff::2"`, `"2001:db8:ff::1"`, 1)}, []want{{"uplink.remote_ipv6", "also uplink.local_ipv6"}}},
		{"uplink remote_ipv6 IPv4", []string{"", strings.Replace(haUplink, `"2001:db8:ff::1"`, `"203.0.113.1"`, 1)}, []want{{"uplink.remote_ipv6", "want IPv6"}}},
		{"uplink end on the home link", []string{"", strings.Replace(haUplink, `"2001:db8:ff::2"`, `"2001:db8:100::2"`, 1)}, []want{{"uplink.local_ipv6", "inside home.prefix"}}},
		{"uplink routed prefix misses home", []string{"", strings.Replace(haUplink, `"2001:db8:100::/48"`, `"2001:db8:1000::/48"`, 1)},
			[]want{{"uplink.routed_prefix", "does not contain home.prefix"}}},
		{"uplink remote_ipv6 in the routed prefix", []string{"", strings.Replace(haUplink, `"2001:db8:ff::1"`, `"2001:db8:100:5::1"`, 1)},
			[]want{{"uplink.remote_ipv6", "inside uplink.routed_prefix"}}},
		{"uplink local_ipv6 in the routed prefix", []string{"", strings.Replace(haUplink, `"2001:db8:ff::2"`, `"2001:db8:100:5::2"`, 1)}, nil},
		{"uplink routed prefix equal to home", []string{"", strings.Replace(haUplink, `"2001:db8:100::/48"`, `"2001:db8:100::/64"`, 1)}, nil},
		{"uplink routed prefix IPv4", []string{"", strings.Replace(haUplink, `"2001:db8:100::/48"`, `"10.0.0.0/8"`, 1)}, []want{{"uplink.routed_prefix", "not an IPv6 prefix"}}},
		{"uplink mtu small", []string{"", haUplink + "mtu = 1279"}, []want{{"uplink.mtu", "outside 1280"}}},
		{"uplink mtu 1280", []string{"", haUplink + "mtu = 1280"}, nil},
		{"uplink mtu large", []string{"", haUplink + "mtu = 65516"}, []want{{"uplink.mtu", "outside 1280"}}},
		{"uplink interface is the home link", []string{"", haUplink + `interface = "eth1"`}, []want{{"uplink.interface", "is home.interface"}}},
		{"uplink interface bad", []string{"", haUplink + `interface = "a b"`}, []want{{"uplink.interface", "white space"}}},

		// [rate_limit], [control], [log], state_file
		{"rate zero", []string{"", "[rate_limit]\nrate = 0\nburst = 0"}, []want{{"rate_limit.rate", "at least 1"}, {"rate_limit.burst", "at least 1"}}},
		{"socket relative", []string{"", "[control]\nsocket = \"had.sock\""}, []want{{"control.socket", "not an absolute path"}}},
		{"socket empty", []string{"", "[control]\nsocket = \"\""}, []want{{"control.socket", "empty path"}}},
		{"socket directory", []string{"", "[control]\nsocket = \"/run/gomip6/\""}, []want{{"control.socket", "names a directory"}}},
		{"socket too long", []string{"", "[control]\nsocket = \"/" + strings.Repeat("x", 107) + "\""}, []want{{"control.socket", "at most 107"}}},
		{"socket at the length limit", []string{"", "[control]\nsocket = \"/" + strings.Repeat("x", 106) + "\""}, nil},
		{"metrics not host:port", []string{"", "[control]\nmetrics_listen = \"9641\""}, []want{{"control.metrics_listen", "not host:port"}}},
		{"metrics port 0", []string{"", "[control]\nmetrics_listen = \":0\""}, []want{{"control.metrics_listen", "port"}}},
		{"metrics host name", []string{"", "[control]\nmetrics_listen = \"example.com:9641\""}, []want{{"control.metrics_listen", "not an IP address or localhost"}}},
		{"metrics IPv6", []string{"", "[control]\nmetrics_listen = \"[::1]:9641\""}, nil},
		{"metrics all addresses", []string{"", "[control]\nmetrics_listen = \":9641\""}, nil},
		{"metrics localhost", []string{"", "[control]\nmetrics_listen = \"localhost:9641\""}, nil},
		{"log level", []string{"", "[log]\nlevel = \"verbose\""}, []want{{"log.level", `"verbose" is not one of debug, info, warn, error`}}},
		{"log format", []string{"", "[log]\nformat = \"text\""}, []want{{"log.format", `"text" is not one of json, console`}}},
		{"log console", []string{"", "[log]\nformat = \"console\"\nlevel = \"debug\""}, nil},
		{"state_file relative", top(`state_file = "had.state"`), []want{{"state_file", "not an absolute path"}}},

		// Unknown keys and wrong shapes, top-level and nested.
		{"unknown top-level key", top(`colour = "blue"`), []want{{"colour", "unknown key"}}},
		{"unknown nested key", []string{`interface = "eth1"`, `interfce = "eth1"`},
			[]want{{"home.interfce", "unknown key (did you mean interface?)"}, {"home.interface", "missing"}}},
		{"key in the wrong case", []string{`interface = "eth1"`, `Interface = "eth1"`},
			[]want{{"home.Interface", "did you mean interface?"}, {"home.interface", "missing"}}},
		{"unknown table", []string{"", "[homme]\nx = 1"}, []want{{"homme", "unknown table (did you mean home?)"}}},
		{"unknown array of tables", []string{"", "[[mobile_nodes]]\nid = \"x\""}, []want{{"mobile_nodes", "unknown array of tables (did you mean mobile_node?)"}}},
		{"quoted unknown key", top(`"a.b" = 1`), []want{{`"a.b"`, "unknown key"}}},
		{"mobile_node as a table", []string{haBase[strings.Index(haBase, "[[mobile_node]]"):], "[mobile_node]\nid = \"x\""},
			[]want{{"mobile_node", "want an array of tables, got a table"}}},
		{"home as a string", []string{haBase, `home = "eth1"`}, []want{{"home", "want a table, got string"}}},

		// [tunnel]
		{"tunnel kernel_path", []string{"", "[tunnel]\nkernel_path = true"}, nil},
		{"tunnel kernel_path not a bool", []string{"", "[tunnel]\nkernel_path = \"yes\""}, []want{{"tunnel.kernel_path", "want true or false"}}},
		{"tunnel unknown key", []string{"", "[tunnel]\nkernelpath = true"}, []want{{"tunnel.kernelpath", "did you mean kernel_path?"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseHA([]byte(edit(t, haBase, tc.edits...)))
			checkProblems(t, err, tc.want)
		})
	}
}

// TestParseHAManyProblems: a file with many problems reports every one of
// them, each with its key path, not just the first.
func TestParseHAManyProblems(t *testing.T) {
	const bad = `
state_file = "relative"
colour = "blue"

[home]
interfce = "eth1"
prefix = "2001:db8:100::/56"
address = "2001:db8:200::1"
max_lifetime = "90s"

[router_advertisements]
min_interval = "20ms"
max_interval = "1s"

[[mobile_node]]
id = "a@home.example"
home_address = "2001:db8:100::10"
spi = 100
key = "c2hvcnQ="

[[mobile_node]]
id = "a@home.example"
home_address = "2001:db8:200::10"
spi = "1000"
key = "!!"
mobile_prefixes = ["2001:db8:100:1::/64", "2001:db8:101::1/64"]

[ipv4]
address = "2001:db8::1"

[control]
socket = "run/had.sock"

[log]
level = "verbose"
`
	_, err := ParseHA([]byte(bad))
	checkProblems(t, err, []want{
		{"state_file", "not an absolute path"},
		{"colour", "unknown key"},
		{"home.interfce", "did you mean interface?"},
		{"home.interface", "missing"},
		{"home.prefix", "not a /64"},
		{"home.address", "not inside home.prefix"},
		{"home.max_lifetime", "not a multiple of 4s"},
		{"router_advertisements.min_interval", "below 30ms"},
		{"mobile_node[0].spi", "reserved"},
		{"mobile_node[0].key", "decodes to 5 bytes"},
		{"mobile_node[1].id", "already used"},
		{"mobile_node[1].home_address", "not inside home.prefix"},
		{"mobile_node[1].spi", "want an integer"},
		{"mobile_node[1].key", "not valid base64"},
		{"mobile_node[1].mobile_prefixes[0]", "overlaps home.prefix"},
		{"mobile_node[1].mobile_prefixes[1]", "did you mean 2001:db8:101::/64?"},
		{"ipv4.address", "want IPv4"},
		{"control.socket", "not an absolute path"},
		{"log.level", "not one of"},
	})
	// Error() gives one problem per line, key first.
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 19 {
		t.Errorf("Error() has %d lines, want 19:\n%v", len(lines), err)
	}
	if !strings.HasPrefix(lines[0], "state_file: ") {
		t.Errorf("first line %q: want the problems in schema order, state_file first", lines[0])
	}
}

func TestParseHASyntaxError(t *testing.T) {
	_, err := ParseHA([]byte("[home]\ninterface = \"eth1\nprefix = 1\n"))
	var ce Errors
	if !errors.As(err, &ce) || len(ce) != 1 {
		t.Fatalf("got %v, want one problem", err)
	}
	if ce[0].Key != "" || !strings.Contains(ce[0].Msg, "TOML syntax, line 2") {
		t.Errorf("got %+v, want a TOML syntax problem on line 2", ce[0])
	}
}

func TestParseHAEmpty(t *testing.T) {
	_, err := ParseHA(nil)
	checkProblems(t, err, []want{{"home.interface", "missing"}, {"home.prefix", "missing"}, {"home.address", "missing"}})
}

func TestLoadMissingFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "none.toml")
	for name, load := range map[string]func(string) error{
		"HA": func(p string) error { _, err := LoadHA(p); return err },
		"MN": func(p string) error { _, err := LoadMN(p); return err },
		"CN": func(p string) error { _, err := LoadCN(p); return err },
	} {
		if err := load(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Load%s(missing) = %v, want fs.ErrNotExist", name, err)
		}
	}
}

func TestRetransTimer(t *testing.T) {
	base := "[home]\ninterface = \"eth1\"\nprefix = \"2001:db8:100::/64\"\naddress = \"2001:db8:100::1\"\n[router_advertisements]\n"
	for _, tc := range []struct {
		v    string
		want string // "" = valid
	}{
		{`"100ms"`, ""},
		{`"0s"`, ""},
		{`"1500us"`, "not a whole number of milliseconds"},
		{`"5ms"`, "outside 10ms..10s"},
		{`"11s"`, "outside 10ms..10s"},
	} {
		_, err := ParseHA([]byte(base + "retrans_timer = " + tc.v + "\n"))
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), "router_advertisements.retrans_timer: ") || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("retrans_timer = %s: %v, want %q", tc.v, err, tc.want)
		}
	}
}
