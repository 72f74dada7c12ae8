package conf

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Duration is a time.Duration written in the configuration as a string
// that time.ParseDuration accepts: "90s", "10m", "50ms", "1h30m". A bare
// number is refused: "600" could mean seconds or milliseconds, and the
// daemons mix both (RA intervals in ms, lifetimes in 4 s units).
type Duration time.Duration

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// String formats d like time.Duration ("10m0s").
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalText writes d in the form UnmarshalText reads.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText parses a duration string. Negative durations are refused:
// no setting of any daemon is a negative time.
func (d *Duration) UnmarshalText(b []byte) error {
	s := string(b)
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration (write it with a unit, e.g. \"90s\" or \"10m\")", s)
	}
	if v < 0 {
		return fmt.Errorf("%q is negative", s)
	}
	*d = Duration(v)
	return nil
}

// Secret is a shared key, written in the configuration in standard base64
// with padding (what `head -c 32 /dev/urandom | base64` prints). Its String
// method hides the value so that a configuration printed or logged by
// mistake does not leak it; MarshalText does give the base64 text back.
type Secret []byte

// String returns a placeholder, never the key.
func (s Secret) String() string {
	if len(s) == 0 {
		return "[empty]"
	}
	return fmt.Sprintf("[redacted, %d bytes]", len(s))
}

// MarshalText returns the key in standard base64.
func (s Secret) MarshalText() ([]byte, error) {
	return []byte(base64.StdEncoding.EncodeToString(s)), nil
}

// UnmarshalText decodes standard base64 (with padding).
func (s *Secret) UnmarshalText(b []byte) error {
	v, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		return errors.New("not valid base64 (generate a key with: head -c 32 /dev/urandom | base64)")
	}
	*s = v
	return nil
}

// Problem is one thing wrong with a configuration file.
type Problem struct {
	// Key is the key path the problem is about, in TOML dotted form with
	// array indices: "home.prefix", "mobile_node[1].home_address". It is
	// empty for problems with the file as a whole (TOML syntax).
	Key string
	// Msg says what is wrong and, where it can, what would be right.
	Msg string
}

// String returns "key: msg", or msg alone when Key is empty.
func (p Problem) String() string {
	if p.Key == "" {
		return p.Msg
	}
	return p.Key + ": " + p.Msg
}

// Errors lists every problem found in one configuration file, in the
// order of the schema (the order of the example files). A load that finds
// any problem returns Errors and no configuration.
type Errors []Problem

// Error joins the problems one per line.
func (e Errors) Error() string {
	lines := make([]string, len(e))
	for i, p := range e {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Log is the log section every daemon has (its table is named log).
type Log struct {
	// Level is the lowest level logged: "debug", "info" (default), "warn"
	// or "error".
	Level string `toml:"level"`
	// Format is "json" (default: one JSON object per line, with the fixed
	// field keys of SPEC.md) or "console" (tab-separated, for eyes).
	Format string `toml:"format"`
}

// Log levels and formats accepted by [Log].
var (
	LogLevels  = []string{"debug", "info", "warn", "error"}
	LogFormats = []string{"json", "console"}
)

func defaultLog() Log { return Log{Level: "info", Format: "json"} }

// Control is the [control] section every daemon has.
type Control struct {
	// Socket is the absolute path of the daemon's control socket (unix
	// socket, mode 0600, HTTP + JSON under /v1/).
	Socket string `toml:"socket"`
	// MetricsListen is an optional TCP address ("127.0.0.1:9641",
	// "[::1]:9641", ":9641") on which /v1/metrics is also served in
	// Prometheus text format. Empty: metrics only on the socket.
	MetricsListen string `toml:"metrics_listen,omitempty"`
}

// Tunnel is the [tunnel] section of had.toml: how the home agent's
// protocol-41 tunnel (IPv6 in IPv6, RFC 2473; 6in4, RFC 4213)
// forwards packets.
type Tunnel struct {
	// KernelPath turns on the kernel fast path (tunnel/ebpf): BPF
	// programs encapsulate and decapsulate in the kernel, TCP
	// super-packets whole, and the userspace forwarder keeps what they do
	// not handle (UDP encapsulation, IPv4 inner packets). Opt-in, default
	// false: it needs Linux 6.6, CAP_BPF and CAP_NET_ADMIN; when it
	// cannot be loaded the daemon logs a warning and runs without it.
	// had.toml and mnd.toml both have it (mnd: IPv6 in IPv6 and 6in4
	// to its home agent; UDP encapsulation stays in userspace).
	KernelPath bool `toml:"kernel_path"`
}

// RateLimit bounds the signalling one source address may make the daemon
// process, so that a flood from one host cannot starve the others
// (RFC 6275 §15.4 for the correspondent, issue 4 for the home agent). It
// is a token bucket per source: Rate messages per second, Burst at once.
type RateLimit struct {
	// Rate is the sustained number of messages per second per source.
	Rate int `toml:"rate"`
	// Burst is how many messages a source may send at once.
	Burst int `toml:"burst"`
}

// Defaults of [RateLimit]: a mobile node sends at most MAX_UPDATE_RATE (3)
// Binding Updates a second (RFC 6275 §11.8), a correspondent sees HoTI, CoTI
// and BU per move; 10 a second leaves room for several mobile nodes behind
// one NAT address.
const (
	DefaultRate  = 10
	DefaultBurst = 20
)

func defaultRateLimit() RateLimit { return RateLimit{Rate: DefaultRate, Burst: DefaultBurst} }
