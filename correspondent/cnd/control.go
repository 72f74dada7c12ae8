//go:build linux

package cnd

import (
	"bytes"
	"net/http"
	"time"

	"github.com/gomip6/gomip6/binding"
	"github.com/gomip6/gomip6/correspondent"
	"github.com/gomip6/gomip6/internal/control"
	"github.com/gomip6/gomip6/mip6"
)

// Status is /v1/status (SPEC.md: {"role":"cn","bindings":[...]}).
type Status struct {
	Role              string            `json:"role"`
	RouteOptimization bool              `json:"route_optimization"`
	Addresses         []string          `json:"addresses"`
	Tun               string            `json:"tun"`
	Bindings          []BindingStatus   `json:"bindings"`
	Counters          map[string]uint64 `json:"counters"`
}

// BindingStatus is one binding cache entry, with the field names of had's.
type BindingStatus struct {
	HomeAddress        string `json:"home_address"`
	CareOfAddress      string `json:"care_of_address"`
	LifetimeRemainingS int64  `json:"lifetime_remaining_s"`
	LifetimeS          int64  `json:"lifetime_s"`
	Sequence           uint16 `json:"sequence"`
	// Encapsulation is "ipv6": a correspondent reaches the care-of
	// address with a type 2 routing header, never a tunnel.
	Encapsulation string `json:"encapsulation"`
	Packets       uint64 `json:"packets"`
}

func (d *Daemon) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		var st Status
		if !d.do(r.Context(), func() { st = d.status() }) {
			control.WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "stopping"})
			return
		}
		control.WriteJSON(w, http.StatusOK, st)
	})
	mux.HandleFunc("GET /v1/bindings", func(w http.ResponseWriter, r *http.Request) {
		var bs []BindingStatus
		if !d.do(r.Context(), func() { bs = d.bindings() }) {
			control.WriteJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "stopping"})
			return
		}
		control.WriteJSON(w, http.StatusOK, map[string]any{"role": "cn", "bindings": bs})
	})
	mux.HandleFunc("GET /v1/metrics", d.serveMetrics)
	return mux
}

func (d *Daemon) status() Status {
	st := Status{Role: "cn", RouteOptimization: d.cfg.RouteOptimization, Tun: d.tunName, Bindings: d.bindings(),
		Counters: d.counterMap()}
	for _, a := range d.addrs {
		st.Addresses = append(st.Addresses, a.String())
	}
	return st
}

func (d *Daemon) bindings() []BindingStatus {
	now := d.now()
	bs := []BindingStatus{}
	d.cn.Cache().Range(func(e binding.Entry) bool {
		b := BindingStatus{
			HomeAddress: e.HomeAddress.String(), CareOfAddress: e.CareOf.String(),
			LifetimeRemainingS: int64(max(e.Expires.Sub(now), 0) / time.Second), LifetimeS: int64(e.Lifetime / time.Second),
			Sequence: e.Sequence, Encapsulation: "ipv6",
		}
		if r := d.table.Lookup(e.HomeAddress); r != nil {
			b.Packets = r.Packets.Load()
		}
		bs = append(bs, b)
		return true
	})
	return bs
}

func (d *Daemon) counterMap() map[string]uint64 {
	c := &d.c
	m := map[string]uint64{
		"rx_packets":         c.rxPackets.Load(),
		"rx_queue_full":      c.rxQueueFull.Load(),
		"rx_socket_drops":    c.rxDrops.Load(),
		"rx_errors":          c.rxErrors.Load(),
		"malformed":          c.malformed.Load(),
		"send_errors":        c.sendErrors.Load(),
		"hot_sent":           c.sent[mip6.MHHomeTest].Load(),
		"cot_sent":           c.sent[mip6.MHCareofTest].Load(),
		"ba_sent":            c.sent[mip6.MHBindingAck].Load(),
		"be_sent":            c.sent[mip6.MHBindingError].Load(),
		"brr_sent":           c.brrSent.Load(),
		"bindings_created":   c.created.Load(),
		"bindings_refreshed": c.refreshed.Load(),
		"bindings_moved":     c.moved.Load(),
		"bindings_deleted":   c.deleted.Load(),
		"bindings_expired":   c.expired.Load(),
		"route_errors":       c.routeErrors.Load(),
		"out_packets":        c.outPackets.Load(),
		"out_no_binding":     c.outNoBinding.Load(),
		"out_errors":         c.outErrors.Load(),
		"out_send_errors":    c.outSendErrors.Load(),
		"in_packets":         c.inPackets.Load(),
		"in_no_binding":      c.inNoBinding.Load(),
		"in_errors":          c.inErrors.Load(),
		"in_routing_header2": c.inRH2.Load(),
		"ptb_translated":     c.ptbTranslated.Load(),
	}
	for i := range c.byDrop {
		if v := c.byDrop[i].Load(); v != 0 {
			m["dropped_"+correspondent.DropReason(i).String()] = v
		}
	}
	return m
}

func (d *Daemon) serveMetrics(w http.ResponseWriter, r *http.Request) {
	var n int
	var st correspondent.Stats
	if !d.do(r.Context(), func() { n, st = d.cn.Cache().Len(), d.cn.Stats() }) {
		http.Error(w, "stopping", http.StatusServiceUnavailable)
		return
	}
	var b bytes.Buffer
	m := control.NewMetrics(&b)
	c := &d.c
	m.Gauge("mip6_cn_bindings", "Bindings in the binding cache.", float64(n))
	m.Counter("mip6_cn_signalling_received_total", "Packets read by the packet socket.", c.rxPackets.Load())
	m.Counter("mip6_cn_signalling_queue_full_total", "Packets dropped because the signalling queue was full.", c.rxQueueFull.Load())
	m.Counter("mip6_cn_socket_drops_total", "Packets the kernel dropped because the packet socket's queue was full.", c.rxDrops.Load())
	m.Counter("mip6_cn_malformed_total", "Packets that did not parse.", c.malformed.Load())
	mhType := func(i int) string { return mip6.MHType(i).String() }
	m.CounterByLabel("mip6_cn_mobility_headers_received_total", "Mobility Headers received, by type.", c.mhReceived[:], "type", mhType)
	m.CounterByLabel("mip6_cn_mobility_headers_sent_total", "Mobility Headers sent, by type.", c.sent[:], "type", mhType)
	m.Counter("mip6_cn_binding_refresh_requests_sent_total", "Binding Refresh Requests sent.", c.brrSent.Load())
	m.Counter("mip6_cn_send_errors_total", "Signalling the kernel refused to send.", c.sendErrors.Load())
	m.CounterByLabel("mip6_cn_binding_updates_total", "Binding Updates answered or accepted, by status.", c.byStatus[:], "status",
		func(i int) string { return mip6.Status(i).String() })
	m.CounterByLabel("mip6_cn_dropped_total", "Mobility Headers dropped without an answer, by reason.", c.byDrop[:], "reason",
		func(i int) string { return correspondent.DropReason(i).String() })
	m.Counter("mip6_cn_bindings_created_total", "Bindings created.", c.created.Load())
	m.Counter("mip6_cn_bindings_moved_total", "Bindings moved to a new care-of address.", c.moved.Load())
	m.Counter("mip6_cn_bindings_deleted_total", "Bindings deleted by de-registration or reload.", c.deleted.Load())
	m.Counter("mip6_cn_bindings_expired_total", "Bindings expired.", c.expired.Load())
	m.Counter("mip6_cn_replies_limited_total", "Answers withheld by the overall budget.", st.RepliesLimited)
	m.Counter("mip6_cn_binding_errors_limited_total", "Binding Errors withheld by their budget.", st.BindingErrorsLimited)
	m.Counter("mip6_cn_amplification_refused_total", "Answers withheld for being larger than their request.", st.Amplification)
	m.Counter("mip6_cn_data_packets_total", "Data packets through the route optimization data path.", c.outPackets.Load(), "direction", "out")
	m.Counter("mip6_cn_data_packets_total", "Data packets through the route optimization data path.", c.inPackets.Load(), "direction", "in")
	m.Counter("mip6_cn_data_no_binding_total", "Data packets with no binding to use.", c.outNoBinding.Load(), "direction", "out")
	m.Counter("mip6_cn_data_no_binding_total", "Data packets with no binding to use.", c.inNoBinding.Load(), "direction", "in")
	m.Counter("mip6_cn_data_errors_total", "Data packets that could not be rewritten or sent.", c.outErrors.Load()+c.outSendErrors.Load(), "direction", "out")
	m.Counter("mip6_cn_data_errors_total", "Data packets that could not be rewritten or sent.", c.inErrors.Load(), "direction", "in")
	m.Counter("mip6_cn_packet_too_big_translated_total", "Packet Too Big messages about routed packets passed on to local sockets.", c.ptbTranslated.Load())
	w.Header().Set("Content-Type", control.MetricsContentType)
	w.Write(b.Bytes())
}
