package mnd

import (
	"encoding/base64"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/gomip6/gomip6/conf"
	"github.com/gomip6/gomip6/mip6"
	"github.com/gomip6/gomip6/mobilenode"
)

// TestEngineLifetimeBounds drives the engine's wiring of the lifetime
// bounds without sockets: a registered node whose home prefix the home
// agent withdraws (a Mobile Prefix Advertisement with valid lifetime 0)
// stops registering, logs "home_address_invalid" and shows it in the
// status; the care-of address's bound comes from the kernel's lifetime of
// the address and applies to the move's first Binding Update.
func TestEngineLifetimeBounds(t *testing.T) {
	mn, err := conf.ParseMN([]byte(fmt.Sprintf(`
id = "mn@example"
home_address = "2001:db8:100::10"
home_prefix = "2001:db8:100::/64"
home_agent = "2001:db8:100::1"
spi = 1000
key = %q
interfaces = ["a0", "b0"]
lifetime = "60s"
`, base64.StdEncoding.EncodeToString(testKey))))
	must(t, err)
	core, logs := observer.New(zap.InfoLevel)
	r := &engine{d: &Daemon{}, fileCfg: mn, cfg: mn, log: zap.New(core), addrLft: addrLifetimes{}}
	must(t, r.newCores(r.cfg))
	r.mov, err = mobilenode.NewMovement(mobilenode.MovementConfig{Interfaces: mn.Interfaces, HomePrefix: mn.HomePrefix, HomeAddress: mn.HomeAddress})
	must(t, err)

	// Link a0 with a router advertising 2001:db8:a::/64 valid 30 s, and
	// the care-of address formed from it.
	now := time.Now()
	coaA := netip.MustParseAddr("2001:db8:a::10")
	ra := func(p string, valid time.Duration) *mip6.RouterAdvertisement {
		return &mip6.RouterAdvertisement{RouterLifetime: 30 * time.Minute,
			Options: []mip6.NDOption{pio(p, valid, valid)}}
	}
	routerA := netip.MustParseAddr("fe80::a")
	r.mov.LinkUp("a0", now)
	r.mov.RouterAdvertisement("a0", routerA, ra("2001:db8:a::/64", 30*time.Second), now)
	evs := r.mov.AddressAdded("a0", coaA, now)
	if len(evs) != 1 || evs[0].Kind != mobilenode.MovedTo || evs[0].CareOf != coaA {
		t.Fatalf("movement: %+v", evs)
	}
	// The kernel's lifetime for the address (an RTM_NEWADDR).
	r.addrLft.note(coaA, 30, true, now)
	// What moves does first: the bounds, then Moved.
	r.boundMoves(evs)
	r.cur = evs[0]
	o := r.reg.Moved(coaA, now)
	if o.Send == nil || o.Send.Lifetime != 28*time.Second {
		t.Fatalf("first Binding Update: %+v", o.Send)
	}
	ba := acceptBA(t, o.Send, now)
	if _, err := r.reg.HandleMH(mobilenode.Packet{Src: r.cfg.HomeAgent, Dst: coaA, RoutingHome: r.cfg.HomeAddress, MH: ba}, now); err != nil {
		t.Fatal(err)
	}
	if e := r.reg.Entry(); r.reg.State() != mobilenode.Registered || e.Lifetime != 28*time.Second {
		t.Fatalf("state %v entry %+v", r.reg.State(), e)
	}

	// The home agent withdraws the home prefix (§11.4.3: valid 0).
	r.mps.id = 0x1234
	r.onMPA(mpaMsg{src: r.cfg.HomeAgent, home: r.cfg.HomeAddress,
		mpa: &mip6.MobilePrefixAdvertisement{Identifier: 0x1234, Options: []mip6.NDOption{pio("2001:db8:100::1/64", 0, 0)}}})
	if st := r.reg.State(); st != mobilenode.AddressInvalid {
		t.Fatalf("state %v after the withdrawal", st)
	}
	if n := logs.FilterField(zap.String("event", "home_address_invalid")).Len(); n != 1 {
		t.Errorf("%d home_address_invalid logs: %v", n, logMessages(logs))
	}
	var st Status
	r.haStatus(&st, time.Now())
	if st.HomePrefix == nil || !st.HomePrefix.HomeAddressInvalid {
		t.Errorf("status home_prefix %+v", st.HomePrefix)
	}
	// The movement's next decisions change nothing and log no more.
	r.boundMoves(nil)
	if n := logs.FilterField(zap.String("event", "home_address_invalid")).Len(); n != 1 || r.reg.State() != mobilenode.AddressInvalid {
		t.Errorf("after boundMoves: %d logs, state %v", n, r.reg.State())
	}

	// A fresh registration core (a reload) on the link: the care-of
	// prefix about to end stops it with "care_of_invalid".
	must(t, r.newCores(r.cfg))
	r.mps.mpsState = mpsState{}
	o = r.reg.Moved(coaA, now)
	if o.Send == nil {
		t.Fatal("no Binding Update")
	}
	must(t, func() error {
		_, err := r.reg.HandleMH(mobilenode.Packet{Src: r.cfg.HomeAgent, Dst: coaA, RoutingHome: r.cfg.HomeAddress, MH: acceptBA(t, o.Send, now)}, now)
		return err
	}())
	r.addrLft.note(coaA, 2, true, now)
	r.boundMoves(nil)
	if st := r.reg.State(); st != mobilenode.AddressInvalid || logs.FilterField(zap.String("event", "care_of_invalid")).Len() != 1 {
		t.Fatalf("state %v, logs %v", st, logMessages(logs))
	}
}

func logMessages(o *observer.ObservedLogs) string {
	var s []string
	for _, e := range o.All() {
		s = append(s, e.Message)
	}
	return strings.Join(s, "; ")
}
