package lab

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/gomip6/gomip6/internal/netlab"
)

// Bounds on mnd's resources across the flaps, after settling, relative to
// before. File descriptors and threads must come back to what they were
// (a little slack for a netlink or control socket open at the moment of
// sampling); RSS may grow with the Go heap's high-water mark but not with
// the number of flaps.
const (
	flapFDSlack     = 2
	flapThreadSlack = 4
	flapRSSSlackKiB = 8 * 1024
	flapRSSTailKiB  = 2 * 1024
)

// TestE2ELinkFlaps flaps the mobile node's access link 1,000 times (the
// router-side port of its veth down and up, so mnd sees carrier loss and
// carrier back, as when Wi-Fi drops) while mnd runs registered on link A.
// Afterwards the binding must be correct (registered at A, had agreeing
// on the care-of address) and mnd's file descriptors, threads and RSS
// must not have grown beyond the bounds above, nor its live heap and
// goroutine stacks (from its GC trace, checkLiveHeap). mnd does not export
// its goroutine count (no go_goroutines metric); the stacks and the
// threads stand in.
func TestE2ELinkFlaps(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	r := e2eLab(ctx, t, Options{NoCND: true, Bin: gcTracedBinaries(t)})
	moveAndRegister(ctx, t, r, SiteA)
	time.Sleep(2 * time.Second) // settle: first refresh timers, RAs
	before := sample(t, r.MN)
	kinds, _ := FDKinds(r.MN.PID())
	t.Logf("mnd before: %s fds by kind %v", fmtSample(before), kinds)
	mBefore := metrics(ctx, t, r.MN)

	h := linkHandle(t, r.Topo.FA)
	port, err := h.LinkByName(mnPort)
	if err != nil {
		t.Fatal(err)
	}
	const flaps = 1000
	// Each state holds long enough for the kernel to tell mnd (a netlink
	// event each way), short enough for 1,000 flaps in about 12 s.
	// GOMIP6_FLAP_HOLD=duration changes it (0: as fast as netlink goes).
	hold := 5 * time.Millisecond
	if v := os.Getenv("GOMIP6_FLAP_HOLD"); v != "" {
		if hold, err = time.ParseDuration(v); err != nil {
			t.Fatalf("GOMIP6_FLAP_HOLD: %v", err)
		}
	}
	var samples []ProcSample
	start := time.Now()
	for i := range flaps {
		if err := h.LinkSetDown(port); err != nil {
			t.Fatalf("flap %d down: %v", i, err)
		}
		time.Sleep(hold)
		if err := h.LinkSetUp(port); err != nil {
			t.Fatalf("flap %d up: %v", i, err)
		}
		time.Sleep(hold)
		if i%100 == 99 {
			samples = append(samples, sample(t, r.MN))
		}
		if ctx.Err() != nil {
			t.Fatal(ctx.Err())
		}
	}
	dur := time.Since(start)

	reg, err := r.WaitRegistered(ctx, SiteA, 20*time.Second)
	if err != nil {
		t.Fatalf("after %d flaps: %v", flaps, err)
	}
	// Settle: what the last flaps started ends. Sampled each second for
	// up to 10 s, until the descriptors are back within the bound.
	var after ProcSample
	for i := range 10 {
		time.Sleep(time.Second)
		after = sample(t, r.MN)
		kinds, _ := FDKinds(r.MN.PID())
		t.Logf("settling %ds: %s fds by kind %v", i+1, fmtSample(after), kinds)
		if after.FDs <= before.FDs+flapFDSlack && i >= 2 {
			break
		}
	}
	d := metrics(ctx, t, r.MN).Delta(mBefore)
	t.Logf("%d flaps in %v (%.0f/s, %v held each way); registered at A %v after the last; mnd saw %g link events, sent %g BUs, %g registrations",
		flaps, dur.Round(time.Millisecond), float64(flaps)/dur.Seconds(), hold, reg.Round(time.Millisecond),
		d.Sum("mip6_mn_link_events_total"), d.Sum("mip6_mn_binding_updates_sent_total"), d.Sum("mip6_mn_registrations_total"))
	t.Logf("mnd before %s; after %s", fmtSample(before), fmtSample(after))
	var line string
	for i, s := range samples {
		line += fmt.Sprintf(" [%d] %s;", (i+1)*100, fmtSample(s))
	}
	t.Logf("during:%s", line)

	checkLiveHeap(t, r.MN, 1)

	// The binding ends correct: mnd registered from A, had agreeing.
	var st MNStatus
	if err := r.MN.Status(ctx, &st); err != nil {
		t.Fatal(err)
	}
	b, ok := haBinding(ctx, t, r)
	if !ok || mustCoA(t, b.CareOfAddress) != mustCoA(t, st.CareOfAddress) || !PrefixA.Contains(mustCoA(t, st.CareOfAddress)) {
		t.Errorf("after the flaps: mnd %+v, had binding %+v (present %v)", st, b, ok)
	}
	if d.Sum("mip6_mn_link_events_total") < float64(flaps) {
		t.Errorf("mnd counted %g link events for %d flaps: the flaps did not reach it", d.Sum("mip6_mn_link_events_total"), flaps)
	}
	if after.FDs > before.FDs+flapFDSlack {
		t.Errorf("mnd's file descriptors grew %d -> %d", before.FDs, after.FDs)
	}
	if after.Threads > before.Threads+flapThreadSlack {
		t.Errorf("mnd's threads grew %d -> %d", before.Threads, after.Threads)
	}
	if after.RSSKiB > before.RSSKiB+flapRSSSlackKiB {
		t.Errorf("mnd's RSS grew %d -> %d KiB", before.RSSKiB, after.RSSKiB)
	}
	// The daemon runs with GOGC=2 (gcTracedBinaries), so its RSS follows
	// the live heap (measured: +1.6 MiB in the first 100 flaps, +0.2 MiB
	// over the other 900); after the first 200 it must be flat.
	if len(samples) >= 2 && after.RSSKiB > samples[1].RSSKiB+flapRSSTailKiB {
		t.Errorf("mnd's RSS grew %d -> %d KiB from flap 200 to the end", samples[1].RSSKiB, after.RSSKiB)
	}
}

// linkHandle returns a netlink handle whose socket lives in ns (closed at
// the test's end).
func linkHandle(t *testing.T, ns *netlab.NS) *netlink.Handle {
	t.Helper()
	var h *netlink.Handle
	if err := ns.Do(func() (err error) {
		h, err = netlink.NewHandle(unix.NETLINK_ROUTE)
		return err
	}); err != nil {
		t.Fatalf("netlink in %s: %v", ns.Short(), err)
	}
	t.Cleanup(h.Close)
	return h
}
