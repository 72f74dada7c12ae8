package pcapfile

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"
	"time"
)

// The fixtures were written by scapy (testdata/gen.py): three Ethernet
// frames of 63, 64 and 65 octets at 1700000000.25 s plus 0, 1, 2 s, the UDP
// source port 1000+i at offset 14+40+0.
func TestReadScapyFixtures(t *testing.T) {
	for _, name := range []string{"three.pcap", "three.pcapng"} {
		t.Run(name, func(t *testing.T) {
			f, err := os.Open("testdata/" + name)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			r, err := NewReader(f)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; ; i++ {
				p, err := r.Next()
				if err == io.EOF {
					if i != 3 {
						t.Fatalf("got %d packets, want 3", i)
					}
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				if p.LinkType != LinkTypeEthernet {
					t.Errorf("packet %d: link type %d", i, p.LinkType)
				}
				if len(p.Data) != 63+i || p.OrigLen != 63+i {
					t.Errorf("packet %d: len %d orig %d, want %d", i, len(p.Data), p.OrigLen, 63+i)
				}
				want := time.Unix(1700000000+int64(i), 250_000_000).UTC()
				if !p.Timestamp.Equal(want) {
					t.Errorf("packet %d: time %v, want %v", i, p.Timestamp, want)
				}
				if port := int(p.Data[54])<<8 | int(p.Data[55]); port != 1000+i {
					t.Errorf("packet %d: udp source port %d", i, port)
				}
			}
		})
	}
}

func TestWriterRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, LinkTypeRaw)
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Unix(1234, 567000).UTC()
	payloads := [][]byte{{0x60, 1, 2}, {}, bytes.Repeat([]byte{0xab}, 1500)}
	for _, p := range payloads {
		if err := w.WritePacket(ts, p); err != nil {
			t.Fatal(err)
		}
	}
	r, err := NewReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range payloads {
		p, err := r.Next()
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		if p.LinkType != LinkTypeRaw || !bytes.Equal(p.Data, want) || !p.Timestamp.Equal(ts) {
			t.Errorf("packet %d: got %d %x %v", i, p.LinkType, p.Data, p.Timestamp)
		}
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("after last packet: %v, want EOF", err)
	}
}

func TestCorrupt(t *testing.T) {
	good, err := os.ReadFile("testdata/three.pcap")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"magic", []byte("not a capture at all, really")},
		{"truncated record", good[:len(good)-3]},
		{"huge record", append(append([]byte{}, good[:24]...), 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := NewReader(bytes.NewReader(tc.data))
			for err == nil {
				_, err = r.Next()
			}
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("got %v, want ErrFormat", err)
			}
		})
	}
}

func FuzzReader(f *testing.F) {
	for _, name := range []string{"three.pcap", "three.pcapng"} {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := NewReader(bytes.NewReader(b))
		if err != nil {
			return
		}
		for i := 0; i < 1000; i++ {
			p, err := r.Next()
			if err != nil {
				return
			}
			if len(p.Data) > MaxSnapLen {
				t.Fatalf("packet of %d octets", len(p.Data))
			}
		}
	})
}
