package had

import (
	"bytes"
	"net/http"
	"strconv"
	"time"

	"github.com/gomip6/gomip6/binding"
	"github.com/gomip6/gomip6/homeagent"
	"github.com/gomip6/gomip6/internal/control"
	"github.com/gomip6/gomip6/mip6"
	"github.com/gomip6/gomip6/tunnel"
)

// Status is /v1/status (SPEC.md): the bindings and the counters.
type Status struct {
	Role          string            `json:"role"`
	HomeAgent     string            `json:"home_agent"`
	Interface     string            `json:"interface"`
	Prefix        string            `json:"prefix"`
	Bindings      []BindingStatus   `json:"bindings"`
	BindingsTotal int               `json:"bindings_total"`
	Counters      map[string]uint64 `json:"counters"`
	Tunnel        tunnel.Snapshot   `json:"tunnel"`
	HomeAgents    []HomeAgentStatus `json:"home_agents,omitempty"`
	// Uplink is the 6in4 uplink of [uplink], if any.
	Uplink *UplinkStatus `json:"uplink,omitempty"`
}

// BindingStatus is one binding cache entry in /v1/status and /v1/bindings.
type BindingStatus struct {
	HomeAddress        string   `json:"home_address"`
	CareOfAddress      string   `json:"care_of_address"`
	CareOfPort         uint16   `json:"care_of_port,omitempty"`
	LifetimeRemainingS int64    `json:"lifetime_remaining_s"`
	LifetimeS          int64    `json:"lifetime_s"`
	Sequence           uint16   `json:"sequence"`
	Encapsulation      string   `json:"encapsulation"`
	MobilePrefixes     []string `json:"mobile_prefixes,omitempty"`
	Flags              string   `json:"flags"`
	// NAT: the binding was registered over IPv4 through a NAT (RFC 5555
	// §4.1); care_of_address and care_of_port are then the NAT's public
	// mapping. Known from the last Binding Update since this had
	// started (false for a binding restored from the state file until
	// its next refresh).
	NAT bool `json:"nat,omitempty"`
	// IPv4HomeAddress is the IPv4 home address the node holds (RFC 5555
	// §3.1.1), if any.
	IPv4HomeAddress string `json:"ipv4_home_address,omitempty"`
}

// HomeAgentStatus is one entry of the Home Agents List.
type HomeAgentStatus struct {
	LinkLocal  string   `json:"link_local"`
	Addresses  []string `json:"addresses"`
	Preference int16    `json:"preference"`
	LifetimeS  int64    `json:"lifetime_s"`
}

// maxListed bounds the bindings a status reply lists unless ?limit= asks
// otherwise: a million-binding cache is a 150 MB answer.
const maxListed = 10000

func (d *Daemon) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		limit := maxListed
		if v := r.URL.Query().Get("limit"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				control.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "limit: not a count"})
				return
			}
			limit = n
		}
		var st Status
		if !d.do(r.Context(), func() { st = d.status(limit) }) {
			control.WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "stopping"})
			return
		}
		control.WriteJSON(w, http.StatusOK, st)
	})
	mux.HandleFunc("GET /v1/bindings", func(w http.ResponseWriter, r *http.Request) {
		var bs []BindingStatus
		if !d.do(r.Context(), func() { bs = d.bindings(-1) }) {
			control.WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "stopping"})
			return
		}
		control.WriteJSON(w, http.StatusOK, map[string]any{"role": "ha", "bindings": bs})
	})
	mux.HandleFunc("GET /v1/metrics", d.serveMetrics)
	return mux
}

func (d *Daemon) serveMetrics(w http.ResponseWriter, r *http.Request) {
	var b bytes.Buffer
	var n int
	if !d.do(r.Context(), func() { n = d.ha.Cache().Len() }) {
		http.Error(w, "stopping", http.StatusServiceUnavailable)
		return
	}
	d.writeMetrics(&b, n)
	w.Header().Set("Content-Type", control.MetricsContentType)
	w.Write(b.Bytes())
}

// status runs on the loop.
func (d *Daemon) status(limit int) Status {
	st := Status{
		Role:          "ha",
		HomeAgent:     d.cfg.Home.Address.String(),
		Interface:     d.cfg.Home.Interface,
		Prefix:        d.cfg.Home.Prefix.String(),
		Bindings:      d.bindings(limit),
		BindingsTotal: d.ha.Cache().Len(),
		Counters:      d.counterMap(),
		Tunnel:        d.tun.Counters.Snapshot(),
		Uplink:        d.uplinkStatus(),
	}
	now := d.now()
	for _, h := range d.halist.List(now) {
		hs := HomeAgentStatus{LinkLocal: h.LinkLocal.String(), Preference: h.Preference, LifetimeS: int64(h.Lifetime / time.Second)}
		for _, a := range h.Addresses {
			hs.Addresses = append(hs.Addresses, a.String())
		}
		st.HomeAgents = append(st.HomeAgents, hs)
	}
	return st
}

// bindings lists up to limit bindings (all when limit < 0); on the loop.
func (d *Daemon) bindings(limit int) []BindingStatus {
	now := d.now()
	bs := []BindingStatus{}
	d.ha.Cache().Range(func(e binding.Entry) bool {
		if limit >= 0 && len(bs) >= limit {
			return false
		}
		b := bindingStatus(e, now)
		if st, ok := d.ds[e.HomeAddress]; ok {
			b.NAT = st.nat
			if st.hoa4.IsValid() {
				b.IPv4HomeAddress = st.hoa4.String()
			}
		}
		bs = append(bs, b)
		return true
	})
	return bs
}

func bindingStatus(e binding.Entry, now time.Time) BindingStatus {
	b := BindingStatus{
		HomeAddress:        e.HomeAddress.String(),
		CareOfAddress:      e.CareOf.String(),
		CareOfPort:         e.CareOfPort,
		LifetimeRemainingS: int64(max(e.Expires.Sub(now), 0) / time.Second),
		LifetimeS:          int64(e.Lifetime / time.Second),
		Sequence:           e.Sequence,
		Encapsulation:      encapsulation(e),
		Flags:              flagString(e.Flags),
	}
	for _, p := range e.MobilePrefixes {
		b.MobilePrefixes = append(b.MobilePrefixes, p.String())
	}
	return b
}

// encapsulation names the tunnel a binding uses (SPEC.md: ipv6, ipv4,
// udp4).
func encapsulation(e binding.Entry) string {
	switch {
	case e.CareOf.Is6():
		return "ipv6"
	case e.CareOfPort != 0:
		return "udp4"
	default:
		return "ipv4"
	}
}

func flagString(f mip6.BUFlags) string {
	const names = "AHLKMRPF"
	var b []byte
	for i := range len(names) {
		if f&(0x8000>>i) != 0 {
			b = append(b, names[i])
		}
	}
	return string(b)
}

func (d *Daemon) counterMap() map[string]uint64 {
	c := &d.c
	m := map[string]uint64{
		"rx_packets":         c.rxPackets.Load(),
		"rx_queue_full":      c.rxQueueFull.Load(),
		"rx_errors":          c.rxErrors.Load(),
		"malformed":          c.malformed.Load(),
		"not_binding_update": c.notBU.Load(),
		"ba_sent":            c.baSent.Load(),
		"ba_send_errors":     c.baSendErrors.Load(),
		"brr_sent":           c.brrSent.Load(),
		"be_sent":            c.beSent.Load(),
		"mpa_sent":           c.mpaSent.Load(),
		"mpa_unsolicited":    c.mpaUnsolicited.Load(),
		"mpa_retransmitted":  c.mpaRetransmitted.Load(),
		"mpa_acknowledged":   c.mpaAcked.Load(),
		"mpa_unanswered":     c.mpaUnanswered.Load(),
		"mpa_restarted":      c.mpaRestarted.Load(),
		"dad_started":        c.dadStarted.Load(),
		"dad_duplicate":      c.dadDuplicate.Load(),
		"dad_busy":           c.dadBusy.Load(),
		"route_errors":       c.routeErrors.Load(),
		"state_saves":        c.stateSaves.Load(),
		"state_errors":       c.stateErrors.Load(),
		"bindings_created":   c.created.Load(),
		"bindings_refreshed": c.refreshed.Load(),
		"bindings_moved":     c.moved.Load(),
		"bindings_deleted":   c.deleted.Load(),
		"bindings_expired":   c.expired.Load(),
		// DSMIPv6 (RFC 5555): Mobility Header packets that came over
		// IPv4, in UDP and as IPv6 in IPv4.
		"signalling_udp4_received":   c.sigUDP.Load(),
		"signalling_ipv4_received":   c.sig6in4.Load(),
		"signalling_ipv4_queue_full": c.sigQueueFull.Load(),
	}
	for i := range c.byDrop {
		if v := c.byDrop[i].Load(); v != 0 {
			m["bu_dropped_"+homeagent.DropReason(i).String()] = v
		}
	}
	return m
}

// writeMetrics writes /v1/metrics (Prometheus text, names mip6_...).
func (d *Daemon) writeMetrics(b *bytes.Buffer, bindings int) {
	m := control.NewMetrics(b)
	c := &d.c
	m.Gauge("mip6_ha_bindings", "Bindings in the binding cache.", float64(bindings))
	m.Counter("mip6_ha_signalling_received_total", "Packets read by the signalling socket.", c.rxPackets.Load())
	m.Counter("mip6_ha_signalling_queue_full_total", "Signalling packets dropped because the queue was full.", c.rxQueueFull.Load())
	m.Counter("mip6_ha_malformed_total", "Signalling packets that did not parse.", c.malformed.Load())
	if d.cfg.IPv4 != nil {
		const h = "Mobility Header packets received over IPv4 (RFC 5555), by encapsulation."
		m.Counter("mip6_ha_signalling_ipv4_received_total", h, c.sigUDP.Load(), "encapsulation", "udp4")
		m.Counter("mip6_ha_signalling_ipv4_received_total", h, c.sig6in4.Load(), "encapsulation", "ipv4")
		m.Counter("mip6_ha_signalling_ipv4_queue_full_total", "Signalling packets over IPv4 dropped because the queue was full.", c.sigQueueFull.Load())
	}
	m.CounterByLabel("mip6_ha_binding_updates_total", "Binding Updates answered or accepted, by status.", c.byStatus[:], "status",
		func(i int) string { return mip6.Status(i).String() })
	m.CounterByLabel("mip6_ha_binding_updates_dropped_total", "Binding Updates dropped without an answer, by reason.", c.byDrop[:], "reason",
		func(i int) string { return homeagent.DropReason(i).String() })
	m.Counter("mip6_ha_binding_acks_sent_total", "Binding Acknowledgements sent.", c.baSent.Load())
	m.Counter("mip6_ha_binding_errors_sent_total", "Binding Errors sent.", c.beSent.Load())
	m.Counter("mip6_ha_binding_refresh_requests_sent_total", "Binding Refresh Requests sent.", c.brrSent.Load())
	const mpaHelp = "Mobile Prefix Advertisements sent (RFC 6275 §10.6), by kind."
	m.Counter("mip6_ha_mobile_prefix_advertisements_total", mpaHelp, c.mpaSolicited.Load(), "kind", "solicited")
	m.Counter("mip6_ha_mobile_prefix_advertisements_total", mpaHelp, c.mpaUnsolicited.Load(), "kind", "unsolicited")
	m.Counter("mip6_ha_mobile_prefix_advertisements_total", mpaHelp, c.mpaRetransmitted.Load(), "kind", "retransmission")
	m.Counter("mip6_ha_mobile_prefix_advertisements_acknowledged_total", "Unsolicited Mobile Prefix Advertisements answered by a solicitation.", c.mpaAcked.Load())
	m.Counter("mip6_ha_mobile_prefix_advertisements_unanswered_total", "Unsolicited Mobile Prefix Advertisements given up after PREFIX_ADV_RETRIES retransmissions.", c.mpaUnanswered.Load())
	m.Counter("mip6_ha_bindings_created_total", "Bindings created.", c.created.Load())
	m.Counter("mip6_ha_bindings_moved_total", "Bindings moved to a new care-of address.", c.moved.Load())
	m.Counter("mip6_ha_bindings_deleted_total", "Bindings deleted by de-registration or reload.", c.deleted.Load())
	m.Counter("mip6_ha_bindings_expired_total", "Bindings expired.", c.expired.Load())
	m.Counter("mip6_ha_dad_total", "Duplicate Address Detection runs started.", c.dadStarted.Load())
	m.Counter("mip6_ha_dad_duplicate_total", "Home addresses found in use on the home link.", c.dadDuplicate.Load())
	s := d.tun.Counters.Snapshot()
	for dir := range tunnel.NumDirections {
		for r := range tunnel.NumReasons {
			cnt := s.Get(tunnel.Direction(dir), tunnel.Reason(r))
			if cnt.Packets == 0 {
				continue
			}
			m.Counter("mip6_tunnel_packets_total", "Tunnel packets by direction and outcome.", cnt.Packets,
				"direction", tunnel.Direction(dir).String(), "reason", tunnel.Reason(r).String())
		}
	}
	fs := d.fwd.Stats()
	m.Counter("mip6_tunnel_send_errors_total", "Tunnel packets the kernel refused to send.", fs.SendErrors)
	d.writeKernelPathMetrics(m, fs)
	if d.cfg.IPv4 != nil {
		m.Counter("mip6_tunnel_signalling_taken_total", "Mobility Header packets taken off the tunnel sockets for the home agent (RFC 5555).", fs.Signalled)
		m.Counter("mip6_tunnel_signalling_sent_total", "Mobility Header packets sent through the tunnel sockets (RFC 5555).", fs.SignalSent)
		m.Counter("mip6_tunnel_signalling_send_errors_total", "Mobility Header packets the tunnel sockets failed to send.", fs.SignalSendErrors)
		m.Counter("mip6_tunnel_nat_keepalives_total", "Empty UDP datagrams (NAT keepalives) received on the DSMIPv6 port (RFC 5555).", fs.Keepalives)
	}
	d.writeUplinkMetrics(m)
	ps := d.proxy.Stats()
	m.Gauge("mip6_ha_proxied_addresses", "Addresses the proxy answers for on the home link.", float64(ps.Proxied))
	m.Counter("mip6_ha_proxy_solicited_na_total", "Neighbor Advertisements sent in answer to solicitations.", ps.SolicitedNAs)
	m.Counter("mip6_ha_proxy_unsolicited_na_total", "Gratuitous Neighbor Advertisements sent.", ps.UnsolicitedNAs)
	if d.ras != nil {
		rs := d.ras.Stats()
		m.Counter("mip6_ra_sent_total", "Router Advertisements sent.", rs.RAsSent)
		m.Counter("mip6_ra_rs_received_total", "Router Solicitations received.", rs.RSReceived)
	}
}
