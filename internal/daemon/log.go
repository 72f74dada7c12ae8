package daemon

import (
	"fmt"
	"io"
	"net/netip"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/gomip6/gomip6/conf"
)

// Fixed log field keys (SPEC.md): every daemon uses these names for these
// things, so that one query finds a mobile node across had, mnd and cnd
// logs. Use the constructors below rather than the bare keys.
const (
	KeyHoA      = "hoa"      // home address
	KeyCoA      = "coa"      // care-of address (address, or address:port behind a NAT)
	KeyHA       = "ha"       // home agent address
	KeyCN       = "cn"       // correspondent node address
	KeySeq      = "seq"      // Binding Update sequence number
	KeyLifetime = "lifetime" // binding lifetime, in seconds
	KeyStatus   = "status"   // BA / BE status, by name
	KeyIface    = "iface"    // network interface name
)

// Keys of every log entry, beside the fields above.
const (
	KeyTime    = "ts"     // RFC 3339 time with nanoseconds
	KeyLevel   = "level"  // debug, info, warn, error
	KeyMessage = "msg"    // what happened
	KeyLogger  = "logger" // the daemon ("had") and its part ("had.ra")
)

// HoA is the home address field.
func HoA(a netip.Addr) zap.Field { return zap.Stringer(KeyHoA, a) }

// CoA is the care-of address field: a netip.Addr, or the netip.AddrPort a
// home agent sees for a mobile node behind a NAT (RFC 5555).
func CoA(a fmt.Stringer) zap.Field { return zap.Stringer(KeyCoA, a) }

// HA is the home agent address field.
func HA(a netip.Addr) zap.Field { return zap.Stringer(KeyHA, a) }

// CN is the correspondent node address field.
func CN(a netip.Addr) zap.Field { return zap.Stringer(KeyCN, a) }

// Seq is the Binding Update sequence number field.
func Seq(s uint16) zap.Field { return zap.Uint16(KeySeq, s) }

// Lifetime is the binding lifetime field, logged in seconds.
func Lifetime(d time.Duration) zap.Field { return zap.Duration(KeyLifetime, d) }

// Status is the status field: an mip6.Status, BEStatus or IPv4AckStatus,
// logged by name ("accepted", "sequence-number-out-of-window").
func Status(s fmt.Stringer) zap.Field { return zap.Stringer(KeyStatus, s) }

// Iface is the network interface field.
func Iface(name string) zap.Field { return zap.String(KeyIface, name) }

// EncoderConfig is the entry layout of every daemon's log: the keys above,
// levels in lower case, times in RFC 3339 with nanoseconds, durations in
// seconds, no caller and no stack traces (logs are for operators).
func EncoderConfig() zapcore.EncoderConfig {
	return zapcore.EncoderConfig{
		TimeKey:        KeyTime,
		LevelKey:       KeyLevel,
		NameKey:        KeyLogger,
		MessageKey:     KeyMessage,
		LineEnding:     zapcore.DefaultLineEnding,
		EncodeLevel:    zapcore.LowercaseLevelEncoder,
		EncodeTime:     zapcore.RFC3339NanoTimeEncoder,
		EncodeDuration: zapcore.SecondsDurationEncoder,
		EncodeName:     zapcore.FullNameEncoder,
	}
}

// NewLogger builds the logger a log section (conf.Log) describes, writing to w
// (the daemons give it os.Stderr: journald and container runtimes collect
// it). name names the logger ("had"). The section is assumed validated by
// conf; an unknown level or format is still an error, not a panic.
func NewLogger(c conf.Log, name string, w io.Writer) (*zap.Logger, error) {
	level, err := zapcore.ParseLevel(c.Level)
	if err != nil {
		return nil, fmt.Errorf("log.level: %w", err)
	}
	var enc zapcore.Encoder
	switch c.Format {
	case "json", "":
		enc = zapcore.NewJSONEncoder(EncoderConfig())
	case "console":
		enc = zapcore.NewConsoleEncoder(EncoderConfig())
	default:
		return nil, fmt.Errorf("log.format: %q is not json or console", c.Format)
	}
	core := zapcore.NewCore(enc, zapcore.Lock(zapcore.AddSync(w)), level)
	return zap.New(core).Named(name), nil
}
