// Command had is the gomip6 home agent daemon (RFC 6275 §10), run on the
// router of the home link:
//
//	had -c /etc/gomip6/had.toml [-check | -cleanup | -version]
//
// The home agent itself is package homeagent/had; this is its command
// line: flags, logger, signals (SIGHUP reloads, SIGTERM stops).
package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"go.uber.org/zap"

	"github.com/gomip6/gomip6/conf"
	"github.com/gomip6/gomip6/homeagent/had"
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
		Run: serve,
		Cleanup: func(path string, w io.Writer) error {
			return had.CleanupFile(path, "", w)
		},
	}, args, stdout, stderr)
}

// serve runs the home agent until SIGTERM; each SIGHUP loads the
// configuration again, and a bad one is logged and ignored.
func serve(ctx context.Context, o daemon.RunOptions) error {
	return daemon.Serve(ctx, o, conf.LoadHA, func(c *conf.HA) conf.Log { return c.Log },
		func(c *conf.HA, log *zap.Logger) (func(context.Context, <-chan *conf.HA) error, error) {
			d, err := had.New(c, had.Options{Log: log})
			if err != nil {
				return nil, err
			}
			return d.Run, nil
		})
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
