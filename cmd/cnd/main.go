// Command cnd is the gomip6 correspondent node daemon (RFC 6275 §9), run
// on servers that want route optimization with mobile nodes:
//
//	cnd -c /etc/gomip6/cnd.toml [-check | -cleanup | -version]
//
// The correspondent itself is package correspondent/cnd (runtime) and
// package correspondent (protocol core); this is its command line: flags,
// logger, signals (SIGHUP reloads, SIGTERM stops and removes everything).
package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"go.uber.org/zap"

	"github.com/gomip6/gomip6/conf"
	"github.com/gomip6/gomip6/correspondent/cnd"
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
			return summary(c), nil
		},
		Run: serve,
		Cleanup: func(_ string, w io.Writer) error {
			return cnd.Cleanup("", w)
		},
	}, args, stdout, stderr)
}

func summary(c *conf.CN) string {
	ro := "off"
	if c.RouteOptimization {
		ro = "on"
	}
	return fmt.Sprintf("route optimization %s, bindings up to %s", ro, c.MaxBindingLifetime)
}

// serve runs the correspondent until SIGTERM; each SIGHUP loads the
// configuration again, and a bad one is logged and ignored.
func serve(ctx context.Context, o daemon.RunOptions) error {
	return daemon.Serve(ctx, o, conf.LoadCN, func(c *conf.CN) conf.Log { return c.Log },
		func(c *conf.CN, log *zap.Logger) (func(context.Context, <-chan *conf.CN) error, error) {
			d, err := cnd.New(c, cnd.Options{Log: log})
			if err != nil {
				return nil, err
			}
			return d.Run, nil
		})
}
