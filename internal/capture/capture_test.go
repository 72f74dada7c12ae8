package capture

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gomip6/gomip6/internal/pcapfile"
)

// The captures and their expected decodes come from an independent
// implementation: internal/testdata/captures/gen_pcap.py builds them with
// scapy and states each field as the RFC defines it. This test holds the
// decoder to them, field by field, through a name mapping (the two were
// written independently and spell some keys differently).

const capDir = "../testdata/captures"

type capFile struct {
	LinkType uint32           `json:"linktype"`
	Frames   int              `json:"frames"`
	Expected []map[string]any `json:"expected"`
}

func loadExpected(t *testing.T) map[string]capFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(capDir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]capFile
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if len(m) < 4 {
		t.Fatalf("expected.json lists %d captures", len(m))
	}
	return m
}

// decodeFile decodes every frame and returns the records as generic JSON
// objects, the form mip6ctl dump --json prints.
func decodeFile(t *testing.T, name string) (map[int]map[string]any, int, uint32) {
	t.Helper()
	f, err := os.Open(filepath.Join(capDir, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapfile.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int]map[string]any{}
	var lt uint32
	frame := 0
	for {
		p, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		frame++
		lt = p.LinkType
		rec, ok := Decode(frame, p)
		if !ok {
			continue
		}
		b, err := json.Marshal(&rec)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		out[frame] = m
	}
	return out, frame, lt
}

// Keys of the expected objects and where our record keeps them: a top-level
// key, or a key of "fields".
var topKeys = map[string]string{
	"mh_type": "mh_type", "icmpv6": "icmp_type", "sequence": "sequence", "flags": "flags",
	"lifetime_s": "lifetime_s", "status": "status", "status_name": "status_name",
	"home_address": "home_address", "checksum_ok": "checksum_ok",
	"ipv6_src": "src", "ipv6_dst": "dst",
}

var fieldKeys = map[string][]string{
	"cookie":            {"home_init_cookie", "care_of_init_cookie"},
	"keygen_token":      {"home_keygen_token", "care_of_keygen_token"},
	"nonce_index":       {"home_nonce_index", "care_of_nonce_index"},
	"identifier":        {"identifier"},
	"home_agents":       {"home_agents"},
	"m":                 {"managed"},
	"o":                 {"other"},
	"h":                 {"home_agent"},
	"r":                 {"mobile_router"},
	"preference":        {"preference"},
	"router_lifetime_s": {"router_lifetime_s"},
	"cur_hop_limit":     {"cur_hop_limit"},
	"be_home_address":   {"home_address"},
}

// optionKeys maps an expected option key to ours, per option type.
var optionKeys = map[string]map[string]string{
	"BindingRefreshAdvice":   {"refresh_s": "refresh_interval_s", "refresh_units": ""},
	"IPv4HomeAddress":        {"p": "request_prefix"},
	"NATDetection":           {"f": "udp_forced", "refresh_s": "refresh_time_s"},
	"MNIdentifier":           {"identifier": "nai"},
	"Authentication":         {"auth_data": "data"},
	"NonceIndices":           {"careof_nonce_index": "care_of_nonce_index"},
	"PrefixInformation":      {"a": "autonomous", "l": "on_link", "r": "router_address", "preferred_s": "preferred_lifetime_s", "valid_s": "valid_lifetime_s", "prefix": "", "prefix_len": ""},
	"SourceLinkLayerAddress": {"lladdr": "address"},
	"HomeAgentInformation":   {"r": "mobile_router"},
}

// encapNames turns the expected layer list (["ethernet","ipv4","udp","ipv6"])
// into our list of tunnels (["udp4"]).
func encapNames(layers []any) []any {
	out := []any{}
	var ip []string
	for _, l := range layers {
		switch l {
		case "ipv4", "ipv6":
			ip = append(ip, l.(string))
		case "udp":
			ip[len(ip)-1] = "udp4"
		}
	}
	for _, l := range ip[:len(ip)-1] {
		out = append(out, l)
	}
	return out
}

func same(a, b any) bool {
	// JSON numbers are float64 on both sides; missing booleans are false.
	if a == nil {
		a = false
	}
	if b == nil {
		b = false
	}
	return fmt.Sprint(a) == fmt.Sprint(b)
}

func TestDumpMatchesIndependentDecode(t *testing.T) {
	for name, want := range loadExpected(t) {
		t.Run(name, func(t *testing.T) {
			got, frames, lt := decodeFile(t, name)
			if frames != want.Frames || lt != want.LinkType {
				t.Fatalf("%d frames of link type %d, want %d of %d", frames, lt, want.Frames, want.LinkType)
			}
			var wantFrames []int
			for _, e := range want.Expected {
				wantFrames = append(wantFrames, int(e["frame"].(float64)))
			}
			var gotFrames []int
			for f := range got {
				gotFrames = append(gotFrames, f)
			}
			slices.Sort(gotFrames)
			if !slices.Equal(gotFrames, wantFrames) {
				t.Fatalf("decoded frames %v, want %v", gotFrames, wantFrames)
			}
			for _, e := range want.Expected {
				f := int(e["frame"].(float64))
				checkRecord(t, f, e, got[f])
			}
		})
	}
}

func checkRecord(t *testing.T, frame int, want, got map[string]any) {
	t.Helper()
	fields, _ := got["fields"].(map[string]any)
	for k, v := range want {
		switch {
		case k == "frame":
		case k == "encap":
			enc := encapNames(v.([]any))
			g, _ := got["encapsulation"].([]any)
			if g == nil {
				g = []any{}
			}
			if !same(enc, g) {
				t.Errorf("frame %d: encapsulation %v, want %v", frame, g, enc)
			}
		case k == "options":
			checkOptions(t, frame, v.([]any), got["options"].([]any))
		case topKeys[k] != "":
			if !same(v, got[topKeys[k]]) {
				t.Errorf("frame %d: %s = %v, want %v", frame, k, got[topKeys[k]], v)
			}
		case fieldKeys[k] != nil:
			found := false
			for _, fk := range fieldKeys[k] {
				if gv, ok := fields[fk]; ok {
					found = true
					if !same(v, gv) {
						t.Errorf("frame %d: %s (%s) = %v, want %v", frame, k, fk, gv, v)
					}
				}
			}
			if !found && !same(v, nil) {
				t.Errorf("frame %d: %s missing (want %v); fields %v", frame, k, v, fields)
			}
		default:
			t.Errorf("frame %d: expected key %q has no mapping in this test", frame, k)
		}
	}
}

func checkOptions(t *testing.T, frame int, want, got []any) {
	t.Helper()
	if len(want) != len(got) {
		t.Errorf("frame %d: %d options, want %d: %v", frame, len(got), len(want), got)
		return
	}
	for i := range want {
		w, g := want[i].(map[string]any), got[i].(map[string]any)
		typ := w["type"].(string)
		if g["type"] != typ {
			t.Errorf("frame %d option %d: type %v, want %s", frame, i, g["type"], typ)
			continue
		}
		m := optionKeys[typ]
		for k, v := range w {
			if k == "type" {
				continue
			}
			gk, mapped := m[k]
			if !mapped {
				gk = k
			}
			if gk == "" {
				continue
			}
			if !same(v, g[gk]) {
				t.Errorf("frame %d option %d (%s): %s = %v, want %v", frame, i, typ, gk, g[gk], v)
			}
		}
		if typ == "PrefixInformation" {
			p := fmt.Sprintf("%v/%v", w["prefix"], w["prefix_len"])
			if g["prefix"] != p {
				t.Errorf("frame %d option %d: prefix %v, want %s", frame, i, g["prefix"], p)
			}
		}
	}
}

// TestDecodeTruncations feeds every prefix of every captured frame: a
// truncated frame must give a record or nothing, never a panic.
func TestDecodeTruncations(t *testing.T) {
	for _, name := range []string{"mip6-eth.pcap", "mip6-encap.pcap", "mip6-raw.pcap"} {
		f, err := os.Open(filepath.Join(capDir, name))
		if err != nil {
			t.Fatal(err)
		}
		r, err := pcapfile.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		for {
			p, err := r.Next()
			if err != nil {
				break
			}
			data := slices.Clone(p.Data)
			for n := range data {
				p.Data = data[:n]
				rec, _ := Decode(1, p)
				_ = rec.Line()
			}
		}
		f.Close()
	}
}

func FuzzDecode(f *testing.F) {
	for _, name := range []string{"mip6-eth.pcap", "mip6-encap.pcap"} {
		fh, err := os.Open(filepath.Join(capDir, name))
		if err != nil {
			f.Fatal(err)
		}
		r, err := pcapfile.NewReader(fh)
		if err != nil {
			f.Fatal(err)
		}
		for {
			p, err := r.Next()
			if err != nil {
				break
			}
			f.Add(uint32(p.LinkType), slices.Clone(p.Data))
		}
		fh.Close()
	}
	f.Fuzz(func(t *testing.T, lt uint32, data []byte) {
		rec, ok := Decode(1, pcapfile.Packet{LinkType: lt, Data: data})
		if !ok {
			return
		}
		if _, err := json.Marshal(&rec); err != nil {
			t.Fatalf("record does not marshal: %v", err)
		}
		_ = rec.Line()
	})
}
