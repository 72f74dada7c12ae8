package main

import (
	"flag"
	"fmt"
	"io"
)

func runDump(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mip6ctl dump", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("r", "", "capture file to read (pcap or pcapng)")
	_ = fs.Bool("json", false, "one JSON object per packet")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *file == "" {
		fmt.Fprintln(stderr, "mip6ctl dump: -r FILE is required")
		return 2
	}
	fmt.Fprintln(stderr, "mip6ctl dump: decoder not wired yet")
	return 1
}
