package binding

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gomip6/gomip6/mip6"
)

// entries lists a cache sorted by home address.
func entries(c *Cache) []Entry {
	var es []Entry
	c.Range(func(e Entry) bool { es = append(es, e); return true })
	slices.SortFunc(es, func(a, b Entry) int { return a.HomeAddress.Compare(b.HomeAddress) })
	return es
}

func stateCache() *Cache {
	c := NewCache(0)
	for i := range uint32(50) {
		e := testEntry(i, time.Duration(i+1)*time.Minute)
		if i%7 == 0 {
			e.MobilePrefixes = []netip.Prefix{
				netip.MustParsePrefix("2001:db8:200::/48"),
				netip.MustParsePrefix("2001:db8:300:1::/64"),
			}
			e.Flags |= mip6.BUFlagR
		}
		if i%5 == 0 {
			e.CareOf = netip.MustParseAddr("198.51.100.9")
			e.CareOfPort = 40000 + uint16(i)
		}
		c.Set(e)
	}
	return c
}

func TestStateRoundTrip(t *testing.T) {
	c := stateCache()
	var buf bytes.Buffer
	if err := c.WriteState(&buf); err != nil {
		t.Fatal(err)
	}
	got, err := ReadState(bytes.NewReader(buf.Bytes()), cacheT0)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(entries(c), entries(got), entryOpt...); d != "" {
		t.Errorf("round trip (-saved +loaded):\n%s", d)
	}
	// Loaded 10.5 minutes later, the first ten (1..10 min) lapsed.
	later, err := ReadState(bytes.NewReader(buf.Bytes()), cacheT0.Add(10*time.Minute+30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if later.Len() != 40 {
		t.Errorf("%d entries survive, want 40", later.Len())
	}
	later.Range(func(e Entry) bool {
		if !e.Expires.After(cacheT0.Add(10*time.Minute + 30*time.Second)) {
			t.Errorf("expired entry loaded: %+v", e)
		}
		return true
	})
}

// TestStateLayout checks the header and one record against the format
// description, octet by octet, rather than against the decoder.
func TestStateLayout(t *testing.T) {
	c := NewCache(0)
	c.Set(Entry{
		HomeAddress:    netip.MustParseAddr("2001:db8:100::10"),
		CareOf:         netip.MustParseAddr("192.0.2.1"),
		CareOfPort:     0x1234,
		Sequence:       0xbeef,
		Flags:          mip6.BUFlagA | mip6.BUFlagH | mip6.BUFlagR,
		Lifetime:       300 * time.Second,
		Expires:        time.Unix(0, 0x0102030405060708),
		Timestamp:      0x1112131415161718,
		Node:           0x21222324,
		MobilePrefixes: []netip.Prefix{netip.MustParsePrefix("2001:db8:200::/48")},
	})
	var buf bytes.Buffer
	if err := c.WriteState(&buf); err != nil {
		t.Fatal(err)
	}
	var want []byte
	want = append(want, "gomip6bc"...)
	want = append(want, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1)
	want = append(want, 0x20, 0x01, 0x0d, 0xb8, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10)
	want = append(want, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1)
	want = append(want, 1, 2, 3, 4, 5, 6, 7, 8)
	want = append(want, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18)
	want = append(want, 0, 0, 0x01, 0x2c) // 300 s
	want = append(want, 0x21, 0x22, 0x23, 0x24)
	want = append(want, 0xbe, 0xef, 0xc4, 0x00, 0x12, 0x34) // seq, A|H|R, port
	want = append(want, 1, 1)                               // IPv4 care-of, one prefix
	want = append(want, 0x20, 0x01, 0x0d, 0xb8, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 48)
	want = binary.BigEndian.AppendUint32(want, crc32.Checksum(want, crc32.MakeTable(crc32.Castagnoli)))
	if d := cmp.Diff(want, buf.Bytes()); d != "" {
		t.Errorf("layout (-want +got):\n%s", d)
	}
}

// TestStateCorrupt: every truncation and every single-bit flip of a valid
// file is an error wrapping ErrCorruptState, never a panic or a cache.
func TestStateCorrupt(t *testing.T) {
	var buf bytes.Buffer
	c := NewCache(0)
	for i := range uint32(3) {
		e := testEntry(i, time.Hour)
		if i == 1 {
			e.MobilePrefixes = []netip.Prefix{netip.MustParsePrefix("2001:db8:200::/48")}
		}
		c.Set(e)
	}
	if err := c.WriteState(&buf); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	for n := range len(good) {
		if _, err := ReadState(bytes.NewReader(good[:n]), cacheT0); !errors.Is(err, ErrCorruptState) {
			t.Fatalf("truncated to %d: %v", n, err)
		}
	}
	for i := range len(good) * 8 {
		b := slices.Clone(good)
		b[i/8] ^= 1 << (i % 8)
		if got, err := ReadState(bytes.NewReader(b), cacheT0); !errors.Is(err, ErrCorruptState) {
			t.Fatalf("bit %d flipped: %v, %d entries", i, err, got.Len())
		}
	}
	if _, err := ReadState(bytes.NewReader(append(slices.Clone(good), 0)), cacheT0); !errors.Is(err, ErrCorruptState) {
		t.Errorf("trailing octet: %v", err)
	}
}

func TestStateFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "had.state")
	c, err := LoadStateFile(path, cacheT0)
	if err != nil || c.Len() != 0 {
		t.Fatalf("missing file: %v, %v", c, err)
	}
	orig := stateCache()
	if err := SaveStateFile(orig, path); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600: the file names every mobile node's whereabouts", fi.Mode())
	}
	// Overwrite: still one file, no temporaries left.
	if err := SaveStateFile(orig, path); err != nil {
		t.Fatal(err)
	}
	if names, _ := os.ReadDir(dir); len(names) != 1 {
		t.Errorf("directory holds %d files", len(names))
	}
	got, err := LoadStateFile(path, cacheT0)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(entries(orig), entries(got), entryOpt...); d != "" {
		t.Errorf("file round trip (-saved +loaded):\n%s", d)
	}
	if err := os.WriteFile(path, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadStateFile(path, cacheT0); !errors.Is(err, ErrCorruptState) {
		t.Errorf("garbage file: %v", err)
	}
	if err := SaveStateFile(orig, filepath.Join(dir, "no", "such", "dir")); err == nil {
		t.Error("save into a missing directory succeeded")
	}
}

// FuzzReadState: any input is a cache or an error; a cache read back is
// written and read again to the same entries. The target fixes up the
// trailing checksum so that mutations reach the record decoder instead of
// all dying at the CRC.
func FuzzReadState(f *testing.F) {
	var buf bytes.Buffer
	stateCache().WriteState(&buf)
	f.Add(buf.Bytes())
	f.Add([]byte("gomip6bc"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if n := len(b) - 4; n >= 0 {
			b = slices.Clone(b)
			binary.BigEndian.PutUint32(b[n:], crc32.Checksum(b[:n], castagnoli))
		}
		c, err := ReadState(bytes.NewReader(b), cacheT0)
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := c.WriteState(&out); err != nil {
			t.Fatal(err)
		}
		c2, err := ReadState(bytes.NewReader(out.Bytes()), cacheT0)
		if err != nil {
			t.Fatalf("re-read: %v", err)
		}
		if d := cmp.Diff(entries(c), entries(c2), entryOpt...); d != "" {
			t.Fatalf("asymmetric (-first +second):\n%s", d)
		}
	})
}
