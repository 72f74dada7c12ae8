package netlab_test

import (
	"fmt"
	"log"
	"net/netip"
	"time"

	"github.com/gomip6/gomip6/internal/netlab"
)

// A host and a router, a ping between them and a daemon in the router's
// namespace. In a test, pass t to New (and call netlab.SkipUnlessRoot(t)
// first) instead of deferring Close.
func Example() {
	lab, err := netlab.New(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer lab.Close()
	defer lab.CloseOnPanic()

	host, _ := lab.NS("host")
	rtr, _ := lab.NS("rtr")
	for _, n := range []*netlab.NS{host, rtr} {
		n.DisableDAD() // links usable at once
	}
	if err := lab.Link(host, "eth0", rtr, "eth0"); err != nil {
		log.Fatal(err)
	}
	host.Addr("eth0", "2001:db8:1::2/64")
	rtr.Addr("eth0", "2001:db8:1::1/64")
	rtr.Forwarding(true, false)
	host.Route("default", "via", "2001:db8:1::1")

	if err := host.Ping(netip.MustParseAddr("2001:db8:1::1"), 5*time.Second); err != nil {
		log.Fatal(err)
	}
	ra, err := rtr.StartRadvd("eth0", netlab.RA{Prefixes: []string{"2001:db8:1::/64"}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("radvd logs to", ra.Log)
	fmt.Printf("enter the host with: ip netns exec %s bash\n", host.Name)
}
