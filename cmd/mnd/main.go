// Command mnd is the gomip6 mobile node daemon (RFC 6275 §11), run on the
// laptop:
//
//	mnd -c /etc/gomip6/mnd.toml [-check | -cleanup | -version]
//
// It keeps the home address of mnd.toml reachable wherever the laptop is:
// movement detection on the access interfaces, home registration with the
// home agent, the mip0 tunnel device and the routes that make applications
// use the home address. The daemon itself is package mobilenode/mnd; this
// is its command line (internal/daemon): SIGTERM or SIGINT de-registers and
// removes everything it installed, SIGHUP reloads mnd.toml (keeping the
// running configuration if the new one is bad), -cleanup removes what a
// crashed run left.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"go.uber.org/zap"

	"github.com/gomip6/gomip6/conf"
	"github.com/gomip6/gomip6/internal/daemon"
	"github.com/gomip6/gomip6/mobilenode/mnd"
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
		Run: runDaemon,
		Cleanup: func(path string, w io.Writer) error {
			c, err := conf.LoadMN(path)
			if err != nil {
				return err
			}
			return mnd.Cleanup(c, w)
		},
	}, args, stdout, stderr)
}

// runDaemon runs the mobile node until ctx ends; daemon.Serve turns
// SIGHUPs into configurations, which mnd's Reload applies (or refuses,
// keeping the running one).
func runDaemon(ctx context.Context, o daemon.RunOptions) error {
	return daemon.Serve(ctx, o, conf.LoadMN, func(c *conf.MN) conf.Log { return c.Log },
		func(c *conf.MN, log *zap.Logger) (func(context.Context, <-chan *conf.MN) error, error) {
			d, err := mnd.New(c, mnd.Options{Logger: log})
			if err != nil {
				return nil, err
			}
			return func(ctx context.Context, reload <-chan *conf.MN) error {
				go func() {
					for {
						select {
						case <-ctx.Done():
							return
						case nc := <-reload:
							if err := d.Reload(nc); err != nil {
								log.Error("reload", zap.Error(err))
							}
						}
					}
				}()
				return d.Run(ctx)
			}, nil
		})
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
