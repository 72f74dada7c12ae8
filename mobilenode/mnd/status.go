package mnd

import (
	"io"
	"net/netip"
	"time"

	"github.com/gomip6/gomip6/internal/control"
	"github.com/gomip6/gomip6/mobilenode"
	"github.com/gomip6/gomip6/tunnel"
)

// Status is the mobile node's /v1/status object (SPEC.md "Control API").
type Status struct {
	// Role is "mn".
	Role string `json:"role"`
	// HomeAddress, HomeAgent: from mnd.toml.
	HomeAddress netip.Addr `json:"home_address"`
	// CareOfAddress is the current care-of address; empty at home and
	// before the first one.
	CareOfAddress netip.Addr `json:"care_of_address"`
	// AtHome is true on the home link (RFC 6275 §11.5.5).
	AtHome    bool       `json:"at_home"`
	HomeAgent netip.Addr `json:"home_agent"`
	// Registered is true while the home agent holds a binding for the
	// current care-of address.
	Registered bool `json:"registered"`
	// Encapsulation is how the tunnel carries packets: "ipv6" (IPv6 in
	// IPv6, RFC 2473; also at home, where no tunnel is used), or from an
	// IPv4 care-of address (RFC 5555 §4.1) "ipv4" (IPv6 in IPv4,
	// protocol 41) or "udp4" (IPv6 in UDP port 4191: behind a NAT, or
	// with force_udp; also while the first registration over IPv4 is in
	// flight, since the Binding Update itself goes in UDP).
	Encapsulation string `json:"encapsulation"`
	// NAT is true while the binding over IPv4 goes through a NAT (the
	// home agent's NAT Detection option said so), and NATKeepaliveS is
	// the keepalive interval it gave (RFC 5555 §3.2.2): the registration
	// refreshes at least that often.
	NAT           bool    `json:"nat"`
	NATKeepaliveS float64 `json:"nat_keepalive_s,omitempty"`
	// IPv4HomeAddress is the IPv4 home address in use (RFC 5555
	// §3.1.1: granted by the home agent, carried while the care-of
	// address is IPv4 and the tunnel IPv6 in UDP); absent otherwise.
	IPv4HomeAddress netip.Addr `json:"ipv4_home_address,omitzero"`
	// Interface is the access interface in use, State the home
	// registration's state (mobilenode.State names).
	Interface string `json:"interface,omitempty"`
	State     string `json:"state"`
	// Bindings is the Binding Update List (RFC 6275 §11.1).
	Bindings []BindingStatus `json:"bindings"`
	// HomeAgents is the home agent list of the last DHAAD reply, most
	// preferred first, when home_agent is left out of mnd.toml; the one
	// in use is HomeAgent (RFC 6275 §11.4.1, mps_linux.go).
	HomeAgents []netip.Addr `json:"home_agents,omitempty"`
	// HomePrefix is the home prefix as the home agent's last Mobile
	// Prefix Advertisement gave it (§11.4.3); absent before the first.
	HomePrefix *HomePrefixStatus `json:"home_prefix,omitempty"`
}

// BindingStatus is one Binding Update List entry in the status.
type BindingStatus struct {
	Peer          netip.Addr `json:"peer"`
	HomeAddress   netip.Addr `json:"home_address"`
	CareOfAddress netip.Addr `json:"care_of_address"`
	Home          bool       `json:"home_registration"`
	State         string     `json:"state"`
	Sequence      uint16     `json:"sequence"`
	// LifetimeS is the lifetime granted, LifetimeRemainingS what is left
	// of it (0 when the peer holds no binding).
	LifetimeS          float64 `json:"lifetime_s"`
	LifetimeRemainingS float64 `json:"lifetime_remaining_s"`
	// For a correspondent (route optimization, RFC 6275 §11.6):
	// Correspondent is its address (Peer too), State a
	// mobilenode.ROState name, Direct whether packets to it leave
	// directly from the care-of address instead of through the tunnel;
	// after failures, Failures in a row, Reason the last one and
	// RetryInS when the next attempt is due.
	Correspondent netip.Addr `json:"cn,omitzero"`
	Direct        bool       `json:"direct,omitempty"`
	Failures      int        `json:"failures,omitempty"`
	Reason        string     `json:"reason,omitempty"`
	RetryInS      float64    `json:"retry_in_s,omitempty"`
}

// bindingStatus converts a BUL entry at now.
func bindingStatus(e mobilenode.BULEntry, now time.Time) BindingStatus {
	b := BindingStatus{
		Peer:          e.Peer,
		HomeAddress:   e.HomeAddress,
		CareOfAddress: e.BoundCareOf,
		Home:          e.Home,
		State:         e.State.String(),
		Sequence:      e.Sequence,
	}
	if e.HasBinding(now) {
		b.LifetimeS = e.Lifetime.Seconds()
		b.LifetimeRemainingS = e.Expires.Sub(now).Truncate(time.Second).Seconds()
	}
	return b
}

// Counters are the daemon's event counters, for /v1/metrics.
type Counters struct {
	BUSent         uint64
	BAReceived     uint64
	MHIgnored      uint64
	Registrations  uint64
	Moves          uint64
	ReturnedHome   uint64
	LinkEvents     uint64
	RAReceived     uint64
	RAInvalid      uint64
	ParamProblems  uint64
	SendErrors     uint64
	RouteErrors    uint64
	LostConnection uint64
	// LivenessRefreshes counts the refresh Binding Updates sent because
	// the tunnel went one-way (liveness.go); CarrierFlaps the carrier
	// losses seen only in the link's carrier down count (carrier.go).
	LivenessRefreshes, CarrierFlaps uint64
	// RoutersUnreachable counts default routers that Neighbor
	// Unreachability Detection found unreachable (nud_linux.go).
	RoutersUnreachable uint64
	// NeighResubscribes counts neighbour event subscriptions that ended
	// (a receive error) and were made again.
	NeighResubscribes uint64
	// Mobile prefix discovery and home agent fallback (mps_linux.go):
	// Mobile Prefix Solicitations sent, Mobile Prefix Advertisements
	// accepted, and moves to another home agent of the DHAAD list.
	MPSSent, MPAAccepted, HAFallbacks uint64
	// Route optimization (ro_linux.go): Home and Care-of Test Inits
	// sent, return routability runs completed and attempts failed,
	// Binding Updates to correspondents, Mobility Headers from them,
	// switches to the direct path and back to the tunnel (and those of
	// the direct-path liveness check among the latter), data packets
	// sent with the Home Address option and received with a type 2
	// routing header, packets the direct path handed back to the
	// tunnel, type 2 routed packets for another home address
	// (dropped), data path errors, and Packet Too Big messages
	// translated for the local sockets.
	RRSent, RROK, RRFailed, ROBUSent, ROMHReceived uint64
	RODirect, ROFallbacks, RODirectSilent          uint64
	ROPacketsOut, ROPacketsIn, ROViaTunnel         uint64
	RORH2Dropped, ROErrors, ROPacketTooBig         uint64
}

// writeMetrics writes the Prometheus text of st, c and the tunnel's
// counters.
func writeMetrics(w io.Writer, st Status, c Counters, tc *tunnel.Snapshot, kp *control.KernelPath) error {
	m := control.NewMetrics(w)
	if kp != nil {
		m.KernelPath(*kp)
	}
	b := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	m.Gauge("mip6_mn_registered", "1 while the home agent holds a binding for the current care-of address.", b(st.Registered))
	m.Gauge("mip6_mn_at_home", "1 while the mobile node is on its home link.", b(st.AtHome))
	m.Counter("mip6_mn_binding_updates_sent_total", "Binding Updates sent to the home agent.", c.BUSent)
	m.Counter("mip6_mn_binding_acks_received_total", "Binding Acknowledgements, Refresh Requests and Errors from the home agent that were acted on.", c.BAReceived)
	m.Counter("mip6_mn_mobility_headers_ignored_total", "Mobility Headers received and ignored (unauthenticated, unexpected, malformed).", c.MHIgnored)
	m.Counter("mip6_mn_registrations_total", "Registrations the home agent accepted.", c.Registrations)
	m.Counter("mip6_mn_moves_total", "Moves to a new care-of address.", c.Moves)
	m.Counter("mip6_mn_returned_home_total", "Returns to the home link.", c.ReturnedHome)
	m.Counter("mip6_mn_connectivity_lost_total", "Times no access interface was usable.", c.LostConnection)
	m.Counter("mip6_mn_link_events_total", "Link up and down events of the access interfaces.", c.LinkEvents)
	m.Counter("mip6_mn_liveness_refreshes_total", "Refresh Binding Updates sent because data went out through the tunnel and nothing came back.", c.LivenessRefreshes)
	m.Counter("mip6_mn_mobile_prefix_solicitations_total", "Mobile Prefix Solicitations sent to the home agent.", c.MPSSent)
	m.Counter("mip6_mn_mobile_prefix_advertisements_total", "Mobile Prefix Advertisements from the home agent accepted.", c.MPAAccepted)
	m.Counter("mip6_mn_home_agent_fallbacks_total", "Moves to the next home agent of the DHAAD list (silence or refusal).", c.HAFallbacks)
	m.Counter("mip6_mn_neighbour_resubscribes_total", "Neighbour event subscriptions that ended on a receive error and were made again.", c.NeighResubscribes)
	m.Counter("mip6_mn_routers_unreachable_total", "Default routers of access links found unreachable by neighbor unreachability detection.", c.RoutersUnreachable)
	m.Counter("mip6_mn_carrier_flaps_total", "Carrier losses of access interfaces seen only in the carrier down count (a flap the link events missed).", c.CarrierFlaps)
	m.Counter("mip6_mn_router_advertisements_total", "Valid Router Advertisements received.", c.RAReceived)
	m.Counter("mip6_mn_router_advertisements_invalid_total", "Router Advertisements that failed RFC 4861 validation.", c.RAInvalid)
	m.Counter("mip6_mn_parameter_problems_total", "ICMPv6 Parameter Problems about our Home Address option.", c.ParamProblems)
	m.Counter("mip6_mn_send_errors_total", "Signalling packets the kernel refused to send.", c.SendErrors)
	m.Counter("mip6_mn_route_errors_total", "Route, rule or address changes that failed.", c.RouteErrors)
	m.Counter("mip6_mn_ro_tests_sent_total", "Home and Care-of Test Inits sent to correspondents.", c.RRSent)
	m.Counter("mip6_mn_ro_tests_ok_total", "Return routability runs that got both keygen tokens.", c.RROK)
	m.Counter("mip6_mn_ro_failed_total", "Route optimization attempts given up (timeout, Binding Error, refusal, Parameter Problem).", c.RRFailed)
	m.Counter("mip6_mn_ro_binding_updates_sent_total", "Binding Updates sent to correspondents.", c.ROBUSent)
	m.Counter("mip6_mn_ro_mobility_headers_received_total", "Mobility Headers received from correspondents.", c.ROMHReceived)
	m.Counter("mip6_mn_ro_direct_total", "Switches of a correspondent to the direct path.", c.RODirect)
	m.Counter("mip6_mn_ro_fallbacks_total", "Switches of a correspondent back to the home tunnel.", c.ROFallbacks)
	m.Counter("mip6_mn_ro_direct_silent_total", "Correspondents sent back to the home tunnel because their direct path brought nothing back.", c.RODirectSilent)
	m.Counter("mip6_mn_ro_packets_total", "Data packets on the direct path.", c.ROPacketsOut, "direction", "out")
	m.Counter("mip6_mn_ro_packets_total", "Data packets on the direct path.", c.ROPacketsIn, "direction", "in")
	m.Counter("mip6_mn_ro_via_tunnel_total", "Packets routed to the direct path that found no binding and went through the tunnel.", c.ROViaTunnel)
	m.Counter("mip6_mn_ro_rh2_dropped_total", "Type 2 routed packets for another home address, dropped.", c.RORH2Dropped)
	m.Counter("mip6_mn_ro_errors_total", "Direct path packets that could not be processed or sent.", c.ROErrors)
	m.Counter("mip6_mn_ro_packet_too_big_total", "Packet Too Big messages about direct packets passed on to the local sockets.", c.ROPacketTooBig)
	if tc != nil {
		for d := tunnel.Direction(0); d < tunnel.NumDirections; d++ {
			for r := tunnel.Reason(0); r < tunnel.NumReasons; r++ {
				if v := tc.Get(d, r); v.Packets != 0 {
					m.Counter("mip6_tunnel_packets_total", "Packets through the tunnel by direction and outcome.", v.Packets, "direction", d.String(), "reason", r.String())
				}
			}
		}
		for d := tunnel.Direction(0); d < tunnel.NumDirections; d++ {
			for r := tunnel.Reason(0); r < tunnel.NumReasons; r++ {
				if v := tc.Get(d, r); v.Packets != 0 {
					m.Counter("mip6_tunnel_bytes_total", "Octets through the tunnel by direction and outcome.", v.Bytes, "direction", d.String(), "reason", r.String())
				}
			}
		}
	}
	return m.Err()
}
