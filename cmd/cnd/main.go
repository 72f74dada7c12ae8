// Command cnd is the gomip6 correspondent node daemon (RFC 6275 §9), run
// on servers that want route optimization with mobile nodes:
//
//	cnd -c /etc/gomip6/cnd.toml [-check | -cleanup | -version]
//
// For now it validates its configuration (-check) and says honestly that
// the correspondent node itself is not implemented yet (issue 7).
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
		Name:          "cnd",
		Role:          "correspondent node",
		DefaultConfig: "/etc/gomip6/cnd.toml",
		Issue:         7,
		Load: func(path string) (string, error) {
			c, err := conf.LoadCN(path)
			if err != nil {
				return "", err
			}
			ro := "off"
			if c.RouteOptimization {
				ro = "on"
			}
			return fmt.Sprintf("route optimization %s, bindings up to %s", ro, c.MaxBindingLifetime), nil
		},
	}, args, stdout, stderr)
}
