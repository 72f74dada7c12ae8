package control

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"sync/atomic"
)

// Metrics writes the Prometheus text exposition format (version 0.0.4)
// that /v1/metrics serves. Every metric name must start with "mip6_"
// (SPEC.md). HELP and TYPE lines are written once per name, before its
// first sample, so a family's samples must be written together. Labels are
// given as name, value pairs.
//
// It is built per scrape by the goroutine that owns the counters, so it
// needs no locking and may allocate.
type Metrics struct {
	w    io.Writer
	seen map[string]bool
	err  error
}

// MetricsContentType is the Content-Type of the text format.
const MetricsContentType = "text/plain; version=0.0.4; charset=utf-8"

// NewMetrics returns a writer to w.
func NewMetrics(w io.Writer) *Metrics {
	return &Metrics{w: w, seen: map[string]bool{}}
}

// Counter writes one sample of a monotonically increasing counter.
func (m *Metrics) Counter(name, help string, v uint64, labels ...string) {
	m.sample(name, help, "counter", strconv.FormatUint(v, 10), labels)
}

// Gauge writes one sample of a value that goes up and down.
func (m *Metrics) Gauge(name, help string, v float64, labels ...string) {
	m.sample(name, help, "gauge", formatFloat(v), labels)
}

// CounterByLabel writes one sample of the counter family name for each
// element of counts that is not zero, in index order, labelled
// label=value(i). It is for the families the daemons count in an array
// indexed by a code (a Mobility Header type, a Binding Acknowledgement
// status, a drop reason): a scrape lists the codes that occurred, not all
// 256, and a family with no occurrence is left out whole, HELP and TYPE
// included.
func (m *Metrics) CounterByLabel(name, help string, counts []atomic.Uint64, label string, value func(i int) string) {
	for i := range counts {
		if v := counts[i].Load(); v != 0 {
			m.Counter(name, help, v, label, value(i))
		}
	}
}

// Err returns the first error met: a bad name or label, or a write error.
func (m *Metrics) Err() error { return m.err }

func (m *Metrics) sample(name, help, typ, value string, labels []string) {
	if m.err != nil {
		return
	}
	if !strings.HasPrefix(name, "mip6_") || !validName(name) {
		m.err = fmt.Errorf("control: metric name %q: want [a-zA-Z_:][a-zA-Z0-9_:]* starting with mip6_", name)
		return
	}
	if len(labels)%2 != 0 {
		m.err = fmt.Errorf("control: metric %s: odd number of label strings", name)
		return
	}
	var b strings.Builder
	if !m.seen[name] {
		m.seen[name] = true
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", name, escapeHelp(help), name, typ)
	}
	b.WriteString(name)
	if len(labels) > 0 {
		b.WriteByte('{')
		for i := 0; i < len(labels); i += 2 {
			if !validName(labels[i]) || strings.HasPrefix(labels[i], "__") {
				m.err = fmt.Errorf("control: metric %s: bad label name %q", name, labels[i])
				return
			}
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "%s=\"%s\"", labels[i], escapeLabel(labels[i+1]))
		}
		b.WriteByte('}')
	}
	b.WriteByte(' ')
	b.WriteString(value)
	b.WriteByte('\n')
	_, m.err = io.WriteString(m.w, b.String())
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		ok := c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9'
		if !ok {
			return false
		}
	}
	return true
}

var (
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
	labelEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
)

func escapeHelp(s string) string  { return helpEscaper.Replace(s) }
func escapeLabel(s string) string { return labelEscaper.Replace(s) }

func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// KernelPath is what a daemon's tunnel kernel fast path ([tunnel]
// kernel_path, tunnel/ebpf) reports: whether it runs, and its packet
// counters (tunnel.KernelStats).
type KernelPath struct {
	Up                                          bool
	Encapsulated, Decapsulated, Passed, Dropped uint64
}

// KernelPath writes k as mip6_tunnel_kernel_path_up and
// mip6_tunnel_kernel_packets_total{outcome}, the same families for had and
// mnd.
func (m *Metrics) KernelPath(k KernelPath) {
	up := 0.0
	if k.Up {
		up = 1
	}
	m.Gauge("mip6_tunnel_kernel_path_up", "Whether the tunnel's kernel fast path ([tunnel] kernel_path) runs.", up)
	for _, c := range []struct {
		outcome string
		n       uint64
	}{
		{"encapsulated", k.Encapsulated},
		{"decapsulated", k.Decapsulated},
		{"passed", k.Passed},
		{"dropped", k.Dropped},
	} {
		m.Counter("mip6_tunnel_kernel_packets_total", "Tunnel packets the kernel fast path handled (a GSO packet counts once), by outcome; passed: left to the userspace forwarder.", c.n,
			"outcome", c.outcome)
	}
}
