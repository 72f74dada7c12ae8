package mnd

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// TestCarrierConstants: carrier.go's attribute numbers are the kernel's
// (include/uapi/linux/if_link.h, as x/sys/unix has them).
func TestCarrierConstants(t *testing.T) {
	if iflaCarrierUpCount != unix.IFLA_CARRIER_UP_COUNT || iflaCarrierDownCount != unix.IFLA_CARRIER_DOWN_COUNT || ifinfomsgLen != unix.SizeofIfInfomsg {
		t.Errorf("constants %d %d %d, kernel %d %d %d", iflaCarrierUpCount, iflaCarrierDownCount, ifinfomsgLen,
			unix.IFLA_CARRIER_UP_COUNT, unix.IFLA_CARRIER_DOWN_COUNT, unix.SizeofIfInfomsg)
	}
}

// TestRootCarrierFlaps: the router side of link A flaps its end of the
// veth (down and up at once, as a switch port that resets), which takes
// the mobile node's carrier away and back. Each flap must be noticed,
// from the link events or, when they coalesced it, from the carrier down
// count, and must make the daemon look for the network again (DNA probe
// or Router Solicitation); the node ends registered on A.
func TestRootCarrierFlaps(t *testing.T) {
	l := newRootLab(t)
	d, _ := l.startOnA()
	// The router keeps its address on ra across the flaps, as a switch
	// port reset would leave the router's (an administrative down
	// removes IPv6 addresses by default).
	must(t, l.rt.Sysctl("net/ipv6/conf/ra/keep_addr_on_down", "1"))
	downCount := func() (down uint32) {
		must(t, l.mn.Do(func() error {
			lk, err := netlink.LinkByName("a0")
			if err != nil {
				return err
			}
			down, err = queryCarrierDown(lk.Attrs().Index)
			return err
		}))
		return down
	}
	down0 := downCount()
	const flaps = 10
	byEvents, byCount := 0, 0
	for i := range flaps {
		c0 := d.Counters()
		must(t, l.rt.Do(func() error {
			lk, err := netlink.LinkByName("ra")
			if err != nil {
				return err
			}
			if err := netlink.LinkSetDown(lk); err != nil {
				return err
			}
			return netlink.LinkSetUp(lk)
		}))
		l.waitFor("the flap noticed", 5*time.Second, func() bool {
			c := d.Counters()
			return c.LinkEvents >= c0.LinkEvents+2
		})
		c := d.Counters()
		if c.CarrierFlaps > c0.CarrierFlaps {
			byCount++
		} else {
			byEvents++
		}
		l.waitFor(fmt.Sprintf("registration on link A after flap %d", i), 20*time.Second, func() bool {
			return registeredIn(d, labPfxA)() && d.Status().State == "registered"
		})
	}
	down1 := downCount()
	t.Logf("%d flaps (carrier down count %d -> %d): %d seen in the link events, %d only in the carrier down count", flaps, down0, down1, byEvents, byCount)
	if down1-down0 < flaps {
		t.Errorf("the carrier down count moved by %d for %d flaps: the flaps did not take the carrier away", down1-down0, flaps)
	}
	if n := strings.Count(l.logs.String(), `"event":"link_flap"`); n != byCount {
		t.Errorf("%d link_flap events logged, want %d", n, byCount)
	}
	must(t, l.cn.Ping(labHoA, 5*time.Second))
}
