// Command had is the gomip6 home agent daemon (RFC 6275 §10), run on the
// router of the home link:
//
//	had -c /etc/gomip6/had.toml [-check | -cleanup | -version]
//
// For now it validates its configuration (-check) and says honestly that
// the home agent itself is not implemented yet (issue 4).
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/gomip6/gomip6/conf"
	"github.com/gomip6/gomip6/internal/daemon"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	return daemon.Main(daemon.Daemon{
		Name:          "had",
		Role:          "home agent",
		DefaultConfig: "/etc/gomip6/had.toml",
		Issue:         4,
		Load: func(path string) (string, error) {
			c, err := conf.LoadHA(path)
			if err != nil {
				return "", err
			}
			return summary(c), nil
		},
	}, args, stdout, stderr)
}

func summary(c *conf.HA) string {
	s := fmt.Sprintf("home link %s, prefix %s, %d mobile node(s)", c.Home.Interface, c.Home.Prefix, len(c.MobileNodes))
	if c.RouterAdvertisements.Enabled {
		s += ", router advertisements on"
	} else {
		s += ", router advertisements off"
	}
	if c.IPv4 != nil {
		s += ", IPv4 " + c.IPv4.Address.String()
	}
	if c.Uplink != nil {
		s += ", " + c.Uplink.Type + " uplink to " + c.Uplink.RemoteIPv4.String()
	}
	return s
}
