package control

import (
	"bytes"
	"math"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestMetricsFormat(t *testing.T) {
	var b bytes.Buffer
	m := NewMetrics(&b)
	m.Counter("mip6_bu_received_total", "Binding Updates received.", 7)
	m.Counter("mip6_tunnel_drops_total", "Dropped packets by reason.", 3, "reason", "spoofed outer source")
	m.Counter("mip6_tunnel_drops_total", "Dropped packets by reason.", 1, "reason", `bad "quote" \ and`+"\nnewline")
	m.Gauge("mip6_bindings", "Bindings in the cache.\nSecond line", 2.5)
	m.Gauge("mip6_inf", "x", math.Inf(1))
	if err := m.Err(); err != nil {
		t.Fatal(err)
	}
	want := `# HELP mip6_bu_received_total Binding Updates received.
# TYPE mip6_bu_received_total counter
mip6_bu_received_total 7
# HELP mip6_tunnel_drops_total Dropped packets by reason.
# TYPE mip6_tunnel_drops_total counter
mip6_tunnel_drops_total{reason="spoofed outer source"} 3
mip6_tunnel_drops_total{reason="bad \"quote\" \\ and\nnewline"} 1
# HELP mip6_bindings Bindings in the cache.\nSecond line
# TYPE mip6_bindings gauge
mip6_bindings 2.5
# HELP mip6_inf x
# TYPE mip6_inf gauge
mip6_inf +Inf
`
	if d := cmp.Diff(want, b.String()); d != "" {
		t.Fatalf("output (-want +got):\n%s", d)
	}
}

func TestMetricsErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		labels []string
	}{
		{"bu_total", nil},                 // no mip6_ prefix
		{"mip6_bad-name", nil},            // dash
		{"mip6_ok", []string{"odd"}},      // odd labels
		{"mip6_ok", []string{"1x", "v"}},  // label starts with a digit
		{"mip6_ok", []string{"__r", "v"}}, // reserved label prefix
	} {
		m := NewMetrics(&bytes.Buffer{})
		m.Counter(tc.name, "h", 1, tc.labels...)
		if m.Err() == nil {
			t.Errorf("%s %v: no error", tc.name, tc.labels)
		}
	}
}

// TestCounterByLabel: only the non-zero elements are written, in index
// order, under one HELP/TYPE header; a family with no occurrence writes
// nothing at all, not even its header.
func TestCounterByLabel(t *testing.T) {
	var counts [5]atomic.Uint64
	counts[1].Store(4)
	counts[3].Store(1)
	var none [3]atomic.Uint64
	names := []string{"zero", "one", "two", "three", "four"}
	var b bytes.Buffer
	m := NewMetrics(&b)
	m.CounterByLabel("mip6_none_total", "Never written.", none[:], "code", func(i int) string { return names[i] })
	m.CounterByLabel("mip6_codes_total", "Codes seen.", counts[:], "code", func(i int) string { return names[i] })
	if err := m.Err(); err != nil {
		t.Fatal(err)
	}
	want := `# HELP mip6_codes_total Codes seen.
# TYPE mip6_codes_total counter
mip6_codes_total{code="one"} 4
mip6_codes_total{code="three"} 1
`
	if d := cmp.Diff(want, b.String()); d != "" {
		t.Errorf("output (-want +got):\n%s", d)
	}

	// The samples go through Counter: a bad label name is an error.
	m = NewMetrics(&bytes.Buffer{})
	m.CounterByLabel("mip6_codes_total", "h", counts[:], "1code", func(i int) string { return names[i] })
	if m.Err() == nil {
		t.Error("bad label name: no error")
	}
}
