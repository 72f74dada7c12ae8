package ra

import (
	"encoding/hex"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gomip6/gomip6/conf"
	"github.com/gomip6/gomip6/mip6"
)

const baseConf = `
[home]
interface = "eth1"
prefix = "2001:db8:100::/64"
address = "2001:db8:100::1"
[router_advertisements]
min_interval = "50ms"
max_interval = "1s"
`

func mustConf(t *testing.T, extra string) *conf.HA {
	t.Helper()
	c, err := conf.ParseHA([]byte(baseConf + extra))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var mac = net.HardwareAddr{2, 0, 0, 0, 0, 1}

// netipCmp compares netip values, whose fields are unexported, by ==.
var netipCmp = cmp.Options{
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
	cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
}

// unhex decodes hex written with spaces and newlines for readability.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestTimingFromConfig(t *testing.T) {
	got := TimingFromConfig(mustConf(t, ""))
	want := Timing{50 * time.Millisecond, time.Second, 50 * time.Millisecond}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("TimingFromConfig (-want +got):\n%s", diff)
	}
}

// TestRouterAdvertisementBytes checks the RAs built from had.toml byte by
// byte. The expected bytes are written from the RFC diagrams (RFC 4861
// §4.2, §4.6.1, §4.6.2, §4.6.4; RFC 6275 §7.1-7.4; RFC 3963 §7.3) and were
// cross-checked with scapy's ICMPv6ND_RA and option classes.
func TestRouterAdvertisementBytes(t *testing.T) {
	// The PIO of every case: type 3, length 4, prefix length 64, flags
	// L|A|R = 0xe0, valid 2592000 s, preferred 604800 s (RFC 4861
	// defaults), reserved, then the home agent's whole address (§7.2).
	const pio = `03 04 40 e0 00278d00 00093a80 00000000
		20010db8010000000000000000000001`
	for _, tc := range []struct {
		name   string
		extra  string
		lladdr net.HardwareAddr
		want   string
	}{
		{
			// Defaults: preference 0 and HA lifetime = router lifetime,
			// so no Home Agent Information option (§7.4 SHOULD NOT).
			name:   "defaults",
			lladdr: mac,
			want: `86 00 0000 40 20 0003 00000000 00000000` + // RA: hop limit 64, H, lifetime 3 s
				`01 01 020000000001` + // SLLA
				pio +
				`07 01 0000 000003e8`, // Advertisement Interval 1000 ms
		},
		{
			name:   "preference, MTU, NEMO",
			extra:  "ha_preference = -2\nmtu = 1500\n[[mobile_node]]\nid = \"mr@home.example\"\nhome_address = \"2001:db8:100::10\"\nspi = 1000\nkey = \"MDEyMzQ1Njc4OWFiY2RlZg==\"\nmobile_prefixes = [\"2001:db8:200::/48\"]\n",
			lladdr: mac,
			want: `86 00 0000 40 20 0003 00000000 00000000` +
				`01 01 020000000001` +
				`05 01 0000 000005dc` + // MTU 1500
				pio +
				`07 01 0000 000003e8` +
				`08 01 80 00 fffe 0003`, // HA Info: R (RFC 3963), preference -2, lifetime 3 s
		},
		{
			// Not a default router: the option must carry the HA
			// lifetime, which differs from the Router Lifetime 0.
			name:  "not a default router, no link-layer address",
			extra: "router_lifetime = \"0s\"\nha_lifetime = \"1800s\"\n",
			want: `86 00 0000 40 20 0000 00000000 00000000` +
				pio +
				`07 01 0000 000003e8` +
				`08 01 00 00 0000 0708`, // preference 0, lifetime 1800 s
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := ParamsFromConfig(mustConf(t, tc.extra), tc.lladdr)
			if err := p.Validate(); err != nil {
				t.Fatal(err)
			}
			got, err := mip6.MarshalICMP(p.RouterAdvertisement())
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(unhex(t, tc.want), got); diff != "" {
				t.Errorf("RA bytes (-want +got):\n%s", diff)
			}
			// And back through the codec: the values a receiver sees.
			ra, err := mip6.ParseRouterAdvertisement(got)
			if err != nil {
				t.Fatal(err)
			}
			if !ra.HomeAgent || ra.RouterLifetime != p.RouterLifetime {
				t.Errorf("parsed H=%v lifetime=%v", ra.HomeAgent, ra.RouterLifetime)
			}
		})
	}
}

func TestFinalRouterAdvertisementBytes(t *testing.T) {
	p := ParamsFromConfig(mustConf(t, ""), mac)
	got, err := mip6.MarshalICMP(p.FinalRouterAdvertisement())
	if err != nil {
		t.Fatal(err)
	}
	// Router Lifetime 0 (RFC 4861 §6.2.5), H clear (RFC 6275 §10.5.1), no
	// Advertisement Interval or HA Information; the prefix stays.
	want := unhex(t, `86 00 0000 40 00 0000 00000000 00000000
		01 01 020000000001
		03 04 40 e0 00278d00 00093a80 00000000 20010db8010000000000000000000001`)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("final RA (-want +got):\n%s", diff)
	}
}

func TestMobilePrefixAdvertisementBytes(t *testing.T) {
	p := ParamsFromConfig(mustConf(t, ""), mac)
	got, err := mip6.MarshalICMP(p.MobilePrefixAdvertisement(0x4321))
	if err != nil {
		t.Fatal(err)
	}
	// RFC 6275 §6.8: type 147, code 0, checksum, identifier, M=O=0,
	// reserved; then the §7.2 Prefix Information option.
	want := unhex(t, `93 00 0000 4321 0000
		03 04 40 e0 00278d00 00093a80 00000000 20010db8010000000000000000000001`)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("MPA (-want +got):\n%s", diff)
	}
	m, err := mip6.ParseICMP(got)
	if err != nil {
		t.Fatal(err)
	}
	wantMsg := &mip6.MobilePrefixAdvertisement{Identifier: 0x4321, Options: []mip6.NDOption{&mip6.PrefixInformation{
		Prefix: netip.MustParsePrefix("2001:db8:100::1/64"), OnLink: true, Autonomous: true, RouterAddress: true,
		ValidLifetime: 2592000 * time.Second, PreferredLifetime: 604800 * time.Second,
	}}}
	if diff := cmp.Diff(wantMsg, m, netipCmp); diff != "" {
		t.Errorf("parsed MPA (-want +got):\n%s", diff)
	}
}

func TestHomeAgentInformationOmission(t *testing.T) {
	base := Params{RouterLifetime: 1800 * time.Second}
	for _, tc := range []struct {
		name string
		p    func(Params) Params
		want *mip6.HomeAgentInformation
	}{
		{"all defaults", func(p Params) Params { return p }, nil},
		{"lifetime explicitly the router lifetime", func(p Params) Params { p.HALifetime = 1800 * time.Second; return p }, nil},
		{"preference", func(p Params) Params { p.HAPreference = 1; return p },
			&mip6.HomeAgentInformation{Preference: 1, Lifetime: 1800 * time.Second}},
		{"lifetime", func(p Params) Params { p.HALifetime = 600 * time.Second; return p },
			&mip6.HomeAgentInformation{Lifetime: 600 * time.Second}},
		{"mobile router", func(p Params) Params { p.MobileRouter = true; return p },
			&mip6.HomeAgentInformation{MobileRouter: true, Lifetime: 1800 * time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, tc.p(base).HomeAgentInformation()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestParamsValidate(t *testing.T) {
	good := ParamsFromConfig(mustConf(t, ""), mac)
	if err := good.Validate(); err != nil {
		t.Fatalf("config params: %v", err)
	}
	for _, tc := range []struct {
		name string
		f    func(*Params)
	}{
		{"no prefix", func(p *Params) { p.Prefix = netip.Prefix{} }},
		{"IPv4 prefix", func(p *Params) { p.Prefix = netip.MustParsePrefix("192.0.2.0/24") }},
		{"address outside", func(p *Params) { p.Address = netip.MustParseAddr("2001:db8:1::1") }},
		{"interval 0", func(p *Params) { p.MaxInterval = 0 }},
		{"interval not ms", func(p *Params) { p.MaxInterval = time.Second + 1 }},
		{"router lifetime above 9000s", func(p *Params) { p.RouterLifetime = 9001 * time.Second }},
		{"HA lifetime 0", func(p *Params) { p.RouterLifetime, p.HALifetime = 0, 0 }},
		{"HA lifetime too long", func(p *Params) { p.HALifetime = 65536 * time.Second }},
		{"preferred > valid", func(p *Params) { p.PreferredLifetime = p.ValidLifetime + time.Second }},
		{"MTU 1279", func(p *Params) { p.MTU = 1279 }},
		{"lifetime not seconds", func(p *Params) { p.ValidLifetime += time.Millisecond }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := good
			tc.f(&p)
			if err := p.Validate(); err == nil {
				t.Errorf("Validate accepted %+v", p)
			}
		})
	}
}

// TestRetransTimer: router_advertisements.retrans_timer goes into the RAs'
// Retrans Timer field (RFC 4861 §4.2) and survives the wire.
func TestRetransTimer(t *testing.T) {
	c := mustConf(t, "retrans_timer = \"100ms\"\n")
	b, err := mip6.AppendICMP(nil, ParamsFromConfig(c, mac).RouterAdvertisement())
	if err != nil {
		t.Fatal(err)
	}
	ra, err := mip6.ParseRouterAdvertisement(b)
	if err != nil || ra.RetransTimer != 100*time.Millisecond {
		t.Fatalf("Retrans Timer %v, %v", ra.RetransTimer, err)
	}
	if ParamsFromConfig(mustConf(t, ""), mac).RouterAdvertisement().RetransTimer != 0 {
		t.Error("unset retrans_timer is not unspecified (0)")
	}
}
