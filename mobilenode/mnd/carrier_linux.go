package mnd

import (
	"errors"

	"github.com/vishvananda/netlink/nl"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"github.com/gomip6/gomip6/internal/daemon"
)

// queryCarrierDown asks the kernel for the carrier down count of the
// interface index (RTM_GETLINK): the link events of
// netlink.LinkSubscribe are decoded without it. The request goes on a
// socket of the calling thread's network namespace, which for the loop
// is the daemon's.
func queryCarrierDown(index int) (uint32, error) {
	req := nl.NewNetlinkRequest(unix.RTM_GETLINK, unix.NLM_F_ACK)
	m := nl.NewIfInfomsg(unix.AF_UNSPEC)
	m.Index = int32(index)
	req.AddData(m)
	msgs, err := req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWLINK)
	if err != nil {
		return 0, err
	}
	if len(msgs) != 1 {
		return 0, errors.New("mnd: RTM_GETLINK: not one answer")
	}
	_, down, ok := carrierCounts(msgs[0])
	if !ok {
		return 0, errors.New("mnd: RTM_GETLINK: no carrier counts (Linux before 4.16)")
	}
	return down, nil
}

// carrierFlapped reports, at a link event of the access interface name
// that finds it up as the daemon already believed, whether its carrier
// went down since the previous event (carrier.go): a flap the events
// did not show. Every event of the interface updates the count, so a
// down the events did show is not counted twice. Without the count
// (an old kernel, a failed query) nothing is reported: the events alone
// decide, as before.
func (r *engine) carrierFlapped(name string, index int) bool {
	down, err := queryCarrierDown(index)
	if err != nil {
		if !r.dna.carrierWarned {
			r.dna.carrierWarned = true
			r.log.Warn("carrier counts unavailable: quick link flaps may go unnoticed", daemon.Iface(name), zap.Error(err))
		}
		return false
	}
	return r.dna.carrier.flapped(name, down)
}
