// Command mnd is the gomip6 mobile node daemon (RFC 6275 §11), run on the
// laptop:
//
//	mnd -c /etc/gomip6/mnd.toml [-check | -cleanup | -version]
//
// For now it validates its configuration (-check) and says honestly that
// the mobile node itself is not implemented yet (issue 5).
package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/gomip6/gomip6/conf"
	"github.com/gomip6/gomip6/internal/daemon"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	return daemon.Main(daemon.Daemon{
		Name:          "mnd",
		Role:          "mobile node",
		DefaultConfig: "/etc/gomip6/mnd.toml",
		Issue:         5,
		Load: func(path string) (string, error) {
			c, err := conf.LoadMN(path)
			if err != nil {
				return "", err
			}
			return summary(c), nil
		},
	}, args, stdout, stderr)
}

func summary(c *conf.MN) string {
	ha := "discovered (DHAAD)"
	if c.HomeAgent.IsValid() {
		ha = c.HomeAgent.String()
	}
	ro := "off"
	if c.RouteOptimization {
		ro = "on"
	}
	return fmt.Sprintf("%s, home address %s, home agent %s, interfaces %s, route optimization %s by default",
		c.ID, c.HomeAddress, ha, strings.Join(c.Interfaces, " "), ro)
}
