//go:build linux

package nexthop

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/gomip6/gomip6/internal/netlab"
	"github.com/google/go-cmp/cmp"
)

// TestNeighRequest checks the request bytes against the kernel's
// layouts (struct nlmsghdr, struct ndmsg, struct rtattr in
// linux/netlink.h and linux/neighbour.h; RTM_GETNEIGH 30, NDA_DST 1),
// written out by hand for a little-endian host.
func TestNeighRequest(t *testing.T) {
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("expected bytes written for a little-endian host")
	}
	for _, c := range []struct {
		a    string
		want []byte
	}{
		{"2001:db8::1", []byte{
			48, 0, 0, 0, 30, 0, 1, 0, 7, 0, 0, 0, 0, 0, 0, 0, // len, RTM_GETNEIGH, NLM_F_REQUEST, seq, pid
			10, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, // AF_INET6, pads, ifindex 3, state, flags, type
			20, 0, 1, 0, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, // NDA_DST
		}},
		{"192.0.2.1", []byte{
			36, 0, 0, 0, 30, 0, 1, 0, 7, 0, 0, 0, 0, 0, 0, 0,
			2, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, // AF_INET
			8, 0, 1, 0, 192, 0, 2, 1,
		}},
	} {
		got := neighRequest(nil, 7, 3, netip.MustParseAddr(c.a))
		if d := cmp.Diff(c.want, got); d != "" {
			t.Errorf("%s (-want +got):\n%s", c.a, d)
		}
	}
}

// reply builds an RTM_NEWNEIGH (28) for seq on ifindex 3 with state and
// lladdr, for a little-endian host.
func reply(seq uint32, state uint16, dst netip.Addr, lladdr []byte) []byte {
	var b []byte
	attrs := []byte{byte(4 + dst.BitLen()/8), 0, 1, 0}
	attrs = append(attrs, dst.AsSlice()...)
	if lladdr != nil {
		attrs = append(attrs, byte(4+len(lladdr)), 0, 2, 0) // NDA_LLADDR
		attrs = append(attrs, lladdr...)
		for len(attrs)%4 != 0 {
			attrs = append(attrs, 0)
		}
	}
	l := 16 + 12 + len(attrs)
	b = append(b, byte(l), 0, 0, 0, 28, 0, 0, 0)
	b = binary.LittleEndian.AppendUint32(b, seq)
	b = append(b, 0, 0, 0, 0)
	b = append(b, 10, 0, 0, 0, 3, 0, 0, 0)
	b = binary.LittleEndian.AppendUint16(b, state)
	b = append(b, 0, 1)
	return append(b, attrs...)
}

// FuzzParseNeighReply: any bytes give an entry or none, never a panic;
// a usable entry is for the link asked, carries a link-layer address
// that is in the message, and comes back the same from the reply it
// describes.
func FuzzParseNeighReply(f *testing.F) {
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		f.Skip("replies written for a little-endian host")
	}
	a := netip.MustParseAddr("2001:db8::1")
	mac := []byte{2, 0, 0, 0, 0, 5}
	f.Add(reply(7, 0x02, a, mac))
	f.Add(append(reply(6, 0x04, a, mac), reply(7, 0x80, a, mac)...))
	f.Add(reply(7, 0x02, a, nil))
	f.Add([]byte{36, 0, 0, 0, 2, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0xfe, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		h := Hop{Ifindex: 3, Addr: a}
		e, done := parseNeighReply(b, 7, h, a)
		if !e.OK {
			if e != (Entry{}) {
				t.Fatalf("unusable entry with fields set: %+v", e)
			}
			return
		}
		if !done || e.Ifindex != 3 || !bytes.Contains(b, e.MAC[:]) {
			t.Fatalf("entry %+v done %v from %x", e, done, b)
		}
		e2, done2 := parseNeighReply(reply(7, 0x02, a, e.MAC[:]), 7, h, a)
		if e2 != e || !done2 {
			t.Fatalf("rebuilt reply gives %+v %v, want %+v", e2, done2, e)
		}
	})
}

// TestParseNeighReply: the answer to the request, not a late one, and
// only a usable Ethernet entry for the address asked is OK.
func TestParseNeighReply(t *testing.T) {
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("replies written for a little-endian host")
	}
	a := netip.MustParseAddr("2001:db8::1")
	h := Hop{Ifindex: 3, Addr: a}
	mac := []byte{2, 0, 0, 0, 0, 5}
	enoent := []byte{36, 0, 0, 0, 2, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 0xfe, 0xff, 0xff, 0xff, 20, 0, 0, 0, 30, 0, 1, 0, 7, 0, 0, 0, 0, 0, 0, 0}
	ok := Entry{Ifindex: 3, MAC: [6]byte(mac), OK: true}
	for _, c := range []struct {
		name string
		b    []byte
		want Entry
		done bool
	}{
		{"reachable", reply(7, 0x02, a, mac), ok, true},
		{"permanent", reply(7, 0x80, a, mac), ok, true},
		{"stale", reply(7, 0x04, a, mac), Entry{}, true},
		{"incomplete", reply(7, 0x01, a, nil), Entry{}, true},
		{"other address", reply(7, 0x02, netip.MustParseAddr("2001:db8::2"), mac), Entry{}, true},
		{"not Ethernet", reply(7, 0x02, a, make([]byte, 16)), Entry{}, true},
		{"ENOENT", enoent, Entry{}, true},
		{"late answer only", reply(6, 0x02, a, mac), Entry{}, false},
		{"late answer first", append(reply(6, 0x04, a, mac), reply(7, 0x02, a, mac)...), ok, true},
		{"truncated", reply(7, 0x02, a, mac)[:30], Entry{}, false},
		{"empty", nil, Entry{}, false},
	} {
		e, done := parseNeighReply(c.b, 7, h, a)
		if e != c.want || done != c.done {
			t.Errorf("%s: %+v %v, want %+v %v", c.name, e, done, c.want, c.done)
		}
	}
}

// TestResolverKernel asks a real kernel: neighbour entries on a veth,
// found through a gateway route, on link, missing, and on a link that is
// not Ethernet.
func TestResolverKernel(t *testing.T) {
	netlab.SkipUnlessRoot(t)
	lab, err := netlab.New(t)
	if err != nil {
		t.Fatal(err)
	}
	ns, err := lab.NS("nh")
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"link", "add", "v0", "type", "veth", "peer", "name", "v1"},
		{"link", "set", "v0", "up"},
		{"link", "set", "v1", "up"},
		{"link", "set", "lo", "up"},
		{"-6", "addr", "add", "2001:db8:1::1/64", "dev", "v0", "nodad"},
		{"-4", "addr", "add", "192.0.2.1/24", "dev", "v0"},
		{"-6", "neigh", "replace", "2001:db8:1::2", "lladdr", "02:00:00:00:00:02", "dev", "v0", "nud", "permanent"},
		{"-6", "neigh", "replace", "2001:db8:1::3", "lladdr", "02:00:00:00:00:03", "dev", "v0", "nud", "stale"},
		{"-4", "neigh", "replace", "192.0.2.2", "lladdr", "02:00:00:00:00:04", "dev", "v0", "nud", "reachable"},
		{"-6", "route", "add", "2001:db8:2::/64", "via", "2001:db8:1::2"},
		{"-4", "route", "add", "198.51.100.0/24", "via", "192.0.2.2"},
	} {
		if out, err := ns.IP(args...); err != nil {
			t.Fatalf("ip %v: %v %s", args, err, out)
		}
	}
	v0, err := ns.Run("cat", "/sys/class/net/v0/ifindex")
	if err != nil {
		t.Fatal(err)
	}
	var idx int32
	for _, ch := range v0 {
		if ch >= '0' && ch <= '9' {
			idx = idx*10 + int32(ch-'0')
		}
	}
	type result struct {
		name string
		e    Entry
	}
	var got []result
	err = ns.Do(func() error {
		r, err := NewResolver()
		if err != nil {
			return err
		}
		defer r.Close()
		for _, c := range []struct {
			name    string
			dst     string
			ifindex int
		}{
			{"via IPv6 gateway", "2001:db8:2::5", 0},
			{"via IPv4 gateway", "198.51.100.7", 0},
			{"IPv4 gateway on link", "::ffff:192.0.2.2", 0},
			{"on link, zone", "2001:db8:1::2", int(idx)},
			{"stale", "2001:db8:1::3", 0},
			{"no entry", "2001:db8:1::9", 0},
			{"no route", "2001:db8:7::1", 0},
			{"local", "2001:db8:1::1", 0},
			{"loopback link", "::1", 1},
		} {
			got = append(got, result{c.name, r.Resolve(netip.MustParseAddr(c.dst), netip.Addr{}, c.ifindex)})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	mac := func(s string) [6]byte {
		m, _ := net.ParseMAC(s)
		return [6]byte(m)
	}
	want := []result{
		{"via IPv6 gateway", Entry{Ifindex: idx, MAC: mac("02:00:00:00:00:02"), OK: true}},
		{"via IPv4 gateway", Entry{Ifindex: idx, MAC: mac("02:00:00:00:00:04"), OK: true}},
		{"IPv4 gateway on link", Entry{Ifindex: idx, MAC: mac("02:00:00:00:00:04"), OK: true}},
		{"on link, zone", Entry{Ifindex: idx, MAC: mac("02:00:00:00:00:02"), OK: true}},
		{"stale", Entry{}},
		{"no entry", Entry{}},
		{"no route", Entry{}},
		{"local", Entry{}},
		{"loopback link", Entry{}},
	}
	if d := cmp.Diff(want, got, cmp.AllowUnexported(result{})); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}
