// Command mip6ctl is the operator's tool for gomip6 daemons: it reads their
// control sockets (status, bindings, metrics) and decodes captures of
// Mobile IPv6 traffic (dump).
//
//	mip6ctl [-s SOCKET] status [--json]
//	mip6ctl [-s SOCKET] bindings [--json]
//	mip6ctl [-s SOCKET] metrics
//	mip6ctl dump -r FILE.pcap [--json]
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/gomip6/gomip6/internal/control"
)

// defaultSockets are tried in order when -s is not given (SPEC.md paths).
var defaultSockets = []string{"/run/gomip6/had.sock", "/run/gomip6/mnd.sock", "/run/gomip6/cnd.sock"}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage:
  mip6ctl [-s SOCKET] status [--json]     daemon state (role, bindings, counters)
  mip6ctl [-s SOCKET] bindings [--json]   the binding cache or binding update list
  mip6ctl [-s SOCKET] metrics             Prometheus metrics
  mip6ctl dump -r FILE [--json]           decode Mobile IPv6 packets in a pcap/pcapng capture
`)
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mip6ctl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sock := fs.String("s", "", "control socket of the daemon (default: the first of "+strings.Join(defaultSockets, ", ")+" that exists)")
	fs.Usage = func() { usage(stderr) }
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		usage(stderr)
		return 2
	}
	cmd, rest := fs.Arg(0), fs.Args()[1:]
	switch cmd {
	case "dump":
		return runDump(rest, stdout, stderr)
	case "status", "bindings", "metrics":
		return runQuery(cmd, *sock, rest, stdout, stderr)
	case "help", "-h", "--help":
		usage(stdout)
		return 0
	}
	fmt.Fprintf(stderr, "mip6ctl: unknown command %q\n", cmd)
	usage(stderr)
	return 2
}

func runQuery(cmd, sock string, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mip6ctl "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print the daemon's JSON as it is")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if sock == "" {
		for _, p := range defaultSockets {
			if _, err := os.Stat(p); err == nil {
				sock = p
				break
			}
		}
		if sock == "" {
			fmt.Fprintf(stderr, "mip6ctl: no control socket found (tried %s); is a daemon running? use -s\n", strings.Join(defaultSockets, ", "))
			return 1
		}
	}
	route := map[string]string{"status": "/v1/status", "bindings": "/v1/bindings", "metrics": "/v1/metrics"}[cmd]
	body, err := control.NewClient(sock).Get(context.Background(), route)
	if err != nil {
		fmt.Fprintf(stderr, "mip6ctl: %v\n", err)
		if errors.Is(err, control.ErrNoDaemon) {
			return 1
		}
		return 1
	}
	if *asJSON || cmd == "metrics" {
		stdout.Write(body)
		return 0
	}
	var v map[string]any
	if err := json.Unmarshal(body, &v); err != nil {
		stdout.Write(body)
		return 0
	}
	printHuman(stdout, v)
	return 0
}

// printHuman prints a status object as "key: value" lines, with bindings as
// an indented list; the JSON form is the stable interface, this one is for
// eyes.
func printHuman(w io.Writer, v map[string]any) {
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		switch x := v[k].(type) {
		case []any:
			fmt.Fprintf(w, "%s: %d\n", k, len(x))
			for _, e := range x {
				b, _ := json.Marshal(e)
				fmt.Fprintf(w, "  %s\n", b)
			}
		case map[string]any:
			b, _ := json.Marshal(x)
			fmt.Fprintf(w, "%s: %s\n", k, b)
		default:
			fmt.Fprintf(w, "%s: %v\n", k, x)
		}
	}
}
