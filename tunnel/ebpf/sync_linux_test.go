//go:build linux

package ebpf

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gomip6/gomip6/internal/netlab"
	"github.com/gomip6/gomip6/tunnel"
)

// TestSync: Sync mirrors the table into the map, kinds the programs do
// not handle left out, and removes what left the table.
func TestSync(t *testing.T) {
	a := newTestAccelerator(t, tunnel.RoleHomeAgent)
	tab := tunnel.NewTable(1)
	v6 := tunnel.Endpoint{Kind: tunnel.KindIPv6, Local: ha6, Remote: mn6}
	v4 := tunnel.Endpoint{Kind: tunnel.Kind6in4, Local: ha4, Remote: mn4}
	udp := tunnel.Endpoint{Kind: tunnel.KindUDP4, Local: ha4, Remote: mn4, LocalPort: 4191, RemotePort: 4191}
	for p, e := range map[netip.Prefix]tunnel.Endpoint{
		netip.PrefixFrom(hoa, 128): v6, mnp: v6, netip.PrefixFrom(hoa4, 128): v4, netip.PrefixFrom(other, 128): udp,
	} {
		if err := tab.Set(p, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := tab.SetIPv4(netip.MustParseAddr("192.0.2.100"), udp); err != nil {
		t.Fatal(err)
	}
	if err := a.Sync(tab); err != nil {
		t.Fatal(err)
	}
	norm := func(e tunnel.Endpoint) tunnel.Endpoint { e.PathMTU = tunnel.DefaultPathMTU; return e }
	want := map[netip.Prefix]tunnel.Endpoint{netip.PrefixFrom(hoa, 128): norm(v6), mnp: norm(v6), netip.PrefixFrom(hoa4, 128): norm(v4)}
	if d := cmp.Diff(want, a.binds, addrCmp); d != "" {
		t.Errorf("after Sync (-want +got):\n%s", d)
	}
	if got := mapEntries(t, a); got != 3 {
		t.Errorf("%d map entries, want 3", got)
	}
	tab.Delete(mnp)
	if err := a.Sync(tab); err != nil {
		t.Fatal(err)
	}
	delete(want, mnp)
	if d := cmp.Diff(want, a.binds, addrCmp); d != "" {
		t.Errorf("after Delete and Sync (-want +got):\n%s", d)
	}
	if got := mapEntries(t, a); got != 2 {
		t.Errorf("%d map entries, want 2", got)
	}
	if err := a.Update(bindingOf(t, netip.PrefixFrom(other, 128), udp)); err == nil {
		t.Error("Update accepted udp4")
	}
	a.Close()
	if err := a.Update(bindingOf(t, netip.PrefixFrom(hoa, 128), v6)); !errors.Is(err, ErrClosed) {
		t.Errorf("Update after Close: %v", err)
	}
	if err := a.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func mapEntries(t *testing.T, a *Accelerator) int {
	t.Helper()
	var k [keySize]byte
	var v [valueSize]byte
	n := 0
	it := a.table.Iterate()
	for it.Next(&k, &v) {
		n++
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestForwarderFallback: a kernel path that cannot start leaves the
// forwarder running as without it, saying why; PacketReceive is refused
// with it.
func TestForwarderFallback(t *testing.T) {
	netlab.SkipUnlessRoot(t)
	nl, err := netlab.New(t)
	must(t, err)
	ns, err := nl.NS("x")
	must(t, err)
	tn, err := tunnel.New(tunnel.Config{}, tunnel.NewTable(1))
	must(t, err)
	var reported error
	cfg := tunnel.ForwarderConfig{Name: "gmfb", IPv6: true, Queues: 1,
		EBPF:    func(string) (tunnel.KernelPath, error) { return nil, errors.New("no BPF here") },
		OnError: func(err error) { reported = err },
	}
	var f *tunnel.Forwarder
	must(t, ns.Do(func() (err error) { f, err = tunnel.NewForwarder(tn, cfg); return err }))
	defer f.Close()
	if got := f.Stats().KernelPathError; got != "no BPF here" {
		t.Errorf("KernelPathError %q", got)
	}
	if reported == nil {
		t.Error("OnError not called")
	}
	if _, err := ns.IP("link", "show", "gmfb"); err != nil {
		t.Errorf("forwarder not running: %v", err)
	}
	cfg.PacketReceive = true
	if _, err := tunnel.NewForwarder(tn, cfg); err == nil {
		t.Error("EBPF with PacketReceive accepted")
	}
}

var addrCmp = cmp.Comparer(func(a, b netip.Addr) bool { return a == b })
