package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/gomip6/gomip6/internal/capture"
	"github.com/gomip6/gomip6/internal/pcapfile"
)

// runDump decodes every frame of a capture and prints the Mobile IPv6 ones:
// a line each, or a JSON object each with --json.
func runDump(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mip6ctl dump", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("r", "", "capture file to read (pcap or pcapng; - for standard input)")
	asJSON := fs.Bool("json", false, "one JSON object per packet")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *file == "" || fs.NArg() != 0 {
		fmt.Fprintln(stderr, "usage: mip6ctl dump -r FILE [--json]")
		return 2
	}
	var in io.Reader = os.Stdin
	if *file != "-" {
		f, err := os.Open(*file)
		if err != nil {
			fmt.Fprintf(stderr, "mip6ctl dump: %v\n", err)
			return 1
		}
		defer f.Close()
		in = f
	}
	r, err := pcapfile.NewReader(in)
	if err != nil {
		fmt.Fprintf(stderr, "mip6ctl dump: %s: %v\n", *file, err)
		return 1
	}
	w := bufio.NewWriter(stdout)
	defer w.Flush()
	enc := json.NewEncoder(w)
	for frame := 1; ; frame++ {
		p, err := r.Next()
		if errors.Is(err, io.EOF) {
			return 0
		}
		if err != nil {
			w.Flush()
			fmt.Fprintf(stderr, "mip6ctl dump: %s: frame %d: %v\n", *file, frame, err)
			return 1
		}
		rec, ok := capture.Decode(frame, p)
		if !ok {
			continue
		}
		if *asJSON {
			if err := enc.Encode(&rec); err != nil {
				fmt.Fprintf(stderr, "mip6ctl dump: %v\n", err)
				return 1
			}
		} else {
			fmt.Fprintln(w, rec.Line())
		}
	}
}
