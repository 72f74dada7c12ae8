// Command mip6lab builds a complete Mobile IPv6 network in network
// namespaces, runs the real gomip6 daemons in it, tours a mobile node around
// with a live flow and reports what happened (SPEC.md "mip6lab", issue 6):
//
//	mip6lab [--json] [--keep] [--keep-logs] [--bin DIR] [--legs a,b,home] [--leg-time 6s] [--radvd lab]
//
// --radvd sets how the radvd of foreign link A advertises: "lab" (the
// default: unsolicited RAs every 0.3 to 1 s), "mipv6-min" (RFC 6275 §7.5's
// minimum intervals, 30 to 70 ms) or "defaults" (radvd's own, up to 600 s
// apart: the mobile node learns of the link from the answer to its Router
// Solicitation). The report names the setting and gives, per move and as a
// median, the time from link-up on the new network to the first
// correspondent packet delivered through the new link (issue 5's handover
// time).
//
// The network: a home router running had (home link 2001:db8:100::/64), a
// correspondent (cnd, when it exists) that sends a probe stream and a TCP
// connection to the mobile node's home address, foreign link A (IPv6, radvd),
// foreign link B (IPv4 only, behind NAT44), an "internet" router between
// them, and the mobile node running mnd with one interface whose link is
// moved between the routers. It needs root; it never changes the host's own
// network (everything lives in namespaces named after a random per-run
// prefix) and removes everything on exit, Ctrl-C included.
//
// Exit status: 0 when every leg registered and the flow and TCP connection
// came through, 1 when a leg failed, 2 for a bad command line or when not
// run as root, 3 when the network could not be built.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gomip6/gomip6/internal/lab"
	"github.com/gomip6/gomip6/internal/netlab"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// geteuid is os.Geteuid; tests replace it.
var geteuid = os.Geteuid

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mip6lab", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print the report as JSON on stdout (progress goes to stderr)")
	keep := fs.Bool("keep", false, "after the tour, leave the network and daemons up for exploring until Ctrl-C")
	keepLogs := fs.Bool("keep-logs", false, "leave the daemons' logs and configuration files in place on exit")
	bin := fs.String("bin", "", "directory of the gomip6 binaries (default: next to mip6lab, then PATH)")
	legs := fs.String("legs", "a,b,home", "the links the mobile node visits after starting at home (home, a, b)")
	legTime := fs.Duration("leg-time", 6*time.Second, "time on each link")
	radvd := fs.String("radvd", string(lab.RALab), "how link A's radvd advertises: lab (every 0.3-1 s), mipv6-min (30-70 ms, RFC 6275 §7.5) or defaults (radvd's own)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: mip6lab [--json] [--keep] [--keep-logs] [--bin DIR] [--legs a,b,home] [--leg-time 6s] [--radvd lab|mipv6-min|defaults]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "mip6lab: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	var sites []lab.Site
	for _, s := range strings.Split(*legs, ",") {
		site, err := lab.ParseSite(s)
		if err != nil {
			fmt.Fprintf(stderr, "mip6lab: --legs: %v\n", err)
			return 2
		}
		sites = append(sites, site)
	}
	if err := lab.ValidateLegs(sites); err != nil {
		fmt.Fprintf(stderr, "mip6lab: --legs: %v\n", err)
		return 2
	}
	ra, err := lab.ParseRAProfile(*radvd)
	if err != nil {
		fmt.Fprintf(stderr, "mip6lab: --radvd: %v\n", err)
		return 2
	}
	if *legTime < time.Second || *legTime > time.Minute {
		fmt.Fprintln(stderr, "mip6lab: --leg-time: between 1s and 1m")
		return 2
	}
	if geteuid() != 0 {
		fmt.Fprintln(stderr, "mip6lab: must run as root: it builds its network in network namespaces (sudo scripts/lab.sh)")
		return 2
	}

	progress := stdout
	if *asJSON {
		progress = stderr
	}
	// Ctrl-C and SIGTERM end the tour (or --keep's wait); the deferred
	// Close then removes everything.
	netlab.HandleSignals = false
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	if gone, err := netlab.Sweep(10 * time.Minute); err != nil {
		fmt.Fprintf(stderr, "mip6lab: sweeping leftovers of earlier runs: %v\n", err)
	} else if len(gone) > 0 {
		fmt.Fprintf(progress, "mip6lab: removed leftovers of crashed runs: %s\n", strings.Join(gone, " "))
	}

	r, err := lab.Start(ctx, nil, lab.Options{Bin: *bin, Legs: sites, LegDuration: *legTime, RadvdA: ra, Progress: progress})
	if err != nil {
		fmt.Fprintf(stderr, "mip6lab: %v\n", err)
		return 3
	}
	defer func() {
		if err := r.Close(); err != nil {
			fmt.Fprintf(stderr, "mip6lab: cleaning up: %v\n", err)
		}
	}()
	defer r.Lab.CloseOnPanic()
	if *keepLogs {
		r.Lab.KeepLogs()
	}

	rep, err := r.Tour(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "mip6lab: %v\n", err)
		return 3
	}
	if *asJSON {
		b, err := rep.JSON()
		if err != nil {
			fmt.Fprintf(stderr, "mip6lab: %v\n", err)
			return 3
		}
		fmt.Fprintf(stdout, "%s\n", b)
	} else {
		rep.WriteText(stdout)
	}
	if *keepLogs {
		fmt.Fprintf(progress, "mip6lab: logs and configuration files kept in %s\n", r.Dir)
	}
	if *keep && ctx.Err() == nil {
		explain(progress, r, *bin)
		<-ctx.Done()
		fmt.Fprintln(progress, "mip6lab: cleaning up ...")
	}
	if !rep.OK() {
		return 1
	}
	return 0
}

// explain prints how to explore the network left up by --keep.
func explain(w io.Writer, r *lab.Run, bin string) {
	fmt.Fprintf(w, "\nThe network is up. Enter a namespace with ip netns exec NAME bash:\n")
	roles := map[string]string{
		"inet": "the internet router", "home": "home router (had), home link br0", "homehost": "a plain host on the home link",
		"cn": "the correspondent", "fa": "router of foreign link A (radvd)", "fb": "router of foreign link B (IPv4, NAT44)",
		"mn": "the mobile node (mnd), eth0",
	}
	for _, n := range r.Lab.Namespaces() {
		fmt.Fprintf(w, "  ip netns exec %-16s bash    # %s\n", n.Name, roles[n.Short()])
	}
	ctl, err := lab.FindBinary(bin, "mip6ctl")
	if err != nil {
		ctl = "mip6ctl"
	}
	fmt.Fprintln(w, "Ask the daemons:")
	for _, d := range []*lab.Daemon{r.HA, r.MN, r.CN} {
		if d == nil {
			continue
		}
		state := ""
		if !d.Running() {
			state = "    # not running: " + d.Why()
		}
		fmt.Fprintf(w, "  %s -s %s status%s\n", ctl, d.Socket, state)
	}
	fmt.Fprintf(w, "Logs and configuration files: %s\n", r.Dir)
	fmt.Fprintf(w, "The mobile node is at %s. Press Ctrl-C to remove everything.\n", r.Topo.At())
}
