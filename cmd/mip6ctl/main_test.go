package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestDumpCommand(t *testing.T) {
	var out, errb bytes.Buffer
	if rc := run([]string{"dump", "-r", "../../internal/testdata/captures/mip6-eth.pcap", "--json"}, &out, &errb); rc != 0 {
		t.Fatalf("rc %d: %s", rc, errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 16 {
		t.Fatalf("%d records, want 16 (20 frames less 3 noise and a plain RA):\n%s", len(lines), out.String())
	}
	var first map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"frame", "mh_type", "sequence", "flags", "lifetime_s", "home_address", "options", "checksum_ok"} {
		if _, ok := first[k]; !ok {
			t.Errorf("first record lacks %q: %s", k, lines[0])
		}
	}
	out.Reset()
	if rc := run([]string{"dump", "-r", "../../internal/testdata/captures/mip6-encap.pcap"}, &out, &errb); rc != 0 {
		t.Fatalf("rc %d: %s", rc, errb.String())
	}
	if !strings.Contains(out.String(), "[udp4 198.51.100.10>203.0.113.1]") || !strings.Contains(out.String(), "MH BU seq=3 flags=AH") {
		t.Errorf("text output:\n%s", out.String())
	}
}

func TestDumpErrors(t *testing.T) {
	var out, errb bytes.Buffer
	if rc := run([]string{"dump"}, &out, &errb); rc != 2 {
		t.Errorf("no -r: rc %d", rc)
	}
	if rc := run([]string{"dump", "-r", "/nonexistent.pcap"}, &out, &errb); rc != 1 {
		t.Errorf("missing file: rc %d", rc)
	}
	if rc := run([]string{"dump", "-r", "main.go"}, &out, &errb); rc != 1 {
		t.Errorf("not a capture: rc %d", rc)
	}
	if rc := run([]string{"frobnicate"}, &out, &errb); rc != 2 {
		t.Errorf("unknown command: rc %d", rc)
	}
}
