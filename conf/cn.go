package conf

import (
	"github.com/gomip6/gomip6/mip6"
)

// CN is cnd.toml, the correspondent node's configuration (RFC 6275 §9).
type CN struct {
	// RouteOptimization makes the correspondent answer return routability
	// and accept Binding Updates from mobile nodes (RFC 6275 §9.4-9.5).
	// Default true: that is what cnd is for. Off, it answers a BU with
	// nothing and mobile nodes keep using their home agents.
	RouteOptimization bool `toml:"route_optimization"`
	// MaxBindingLifetime caps the lifetime of bindings: a multiple of
	// 4 s, at most MAX_RR_BINDING_LIFETIME, 420s (RFC 6275 §5.2.6, §12),
	// which is also the default.
	MaxBindingLifetime Duration `toml:"max_binding_lifetime"`
	// RateLimit bounds HoTI, CoTI and BU per source (RFC 6275 §15.4).
	RateLimit RateLimit `toml:"rate_limit"`

	Control Control `toml:"control"`
	Log     Log     `toml:"log"`
}

// DefaultCNSocket is the correspondent's default control socket.
const DefaultCNSocket = "/run/gomip6/cnd.sock"

func defaultCN() CN {
	return CN{
		RouteOptimization:  true,
		MaxBindingLifetime: Duration(mip6.MaxRRBindingLifetime),
		RateLimit:          defaultRateLimit(),
		Control:            Control{Socket: DefaultCNSocket},
		Log:                defaultLog(),
	}
}

// LoadCN reads and validates cnd.toml. A file that cannot be read gives
// the os error; a file with problems gives [Errors] listing all of them.
func LoadCN(path string) (*CN, error) { return load(path, ParseCN) }

// ParseCN validates the content of a cnd.toml and fills in the defaults.
func ParseCN(data []byte) (*CN, error) { return parse(data, defaultCN(), (*decoder).validateCN) }

func (d *decoder) validateCN(c *CN) {
	if k := "max_binding_lifetime"; d.usable(k) {
		d.checkLifetime(k, c.MaxBindingLifetime, mip6.MaxRRBindingLifetime)
	}
	d.checkRateLimit("rate_limit", c.RateLimit)
	d.checkControl("control", c.Control)
	d.checkLog("log", c.Log)
}
