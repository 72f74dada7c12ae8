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
		Cleanup: func(path string, stdout io.Writer) error {
			c, err := conf.LoadMN(path)
			if err != nil {
				return err
			}
			return mnd.Cleanup(c, stdout)
		},
	}, args, stdout, stderr)
}

// runDaemon runs the mobile node until ctx ends, reloading on request.
func runDaemon(ctx context.Context, o daemon.RunOptions) error {
	c, err := conf.LoadMN(o.Config)
	if err != nil {
		return err
	}
	log, err := daemon.NewLogger(c.Log, o.Name, o.Stderr)
	if err != nil {
		return err
	}
	defer log.Sync()
	d, err := mnd.New(c, mnd.Options{Logger: log})
	if err != nil {
		return err
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		for {
			select {
			case <-rctx.Done():
				return
			case <-o.Reload:
				nc, err := conf.LoadMN(o.Config)
				if err != nil {
					log.Error("reload: keeping the running configuration", zap.Error(err))
					continue
				}
				if err := d.Reload(nc); err != nil {
					log.Error("reload", zap.Error(err))
				}
			}
		}
	}()
	return d.Run(ctx)
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
