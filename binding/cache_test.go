package binding

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"slices"
	"testing"
	"time"
	"unsafe"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/gomip6/gomip6/mip6"
)

var (
	cacheT0  = time.Date(2026, 5, 17, 12, 0, 0, 0, time.UTC)
	entryOpt = []cmp.Option{
		cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{}),
		cmpopts.EquateEmpty(),
	}
)

// hoaN is the n-th home address of 2001:db8:100::/64.
func hoaN(n uint32) netip.Addr {
	a := [16]byte{0x20, 0x01, 0x0d, 0xb8, 0x01, 0x00}
	a[12], a[13], a[14], a[15] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
	return netip.AddrFrom16(a)
}

func testEntry(n uint32, expires time.Duration) Entry {
	return Entry{
		HomeAddress: hoaN(n),
		CareOf:      netip.MustParseAddr("2001:db8:a::1"),
		Sequence:    uint16(n),
		Flags:       mip6.BUFlagA | mip6.BUFlagH,
		Lifetime:    expires.Truncate(time.Second),
		Expires:     cacheT0.Add(expires),
		Timestamp:   Timestamp(uint64(n) << 32),
		Node:        n,
	}
}

func TestCacheSetLookupDelete(t *testing.T) {
	c := NewCache(0)
	e := testEntry(1, time.Minute)
	e.MobilePrefixes = []netip.Prefix{netip.MustParsePrefix("2001:db8:200::/48")}
	if _, replaced := c.Set(e); replaced {
		t.Fatal("Set on an empty cache replaced something")
	}
	got, ok := c.Lookup(e.HomeAddress)
	if !ok {
		t.Fatal("Lookup after Set: missing")
	}
	if d := cmp.Diff(e, got, entryOpt...); d != "" {
		t.Errorf("Lookup (-set +got):\n%s", d)
	}
	// The cache keeps its own copy of the prefixes.
	e.MobilePrefixes[0] = netip.MustParsePrefix("2001:db8:300::/48")
	if got, _ := c.Lookup(e.HomeAddress); got.MobilePrefixes[0].String() != "2001:db8:200::/48" {
		t.Errorf("cache aliases the caller's prefixes: %v", got.MobilePrefixes)
	}

	e2 := e
	e2.CareOf = netip.MustParseAddr("192.0.2.7") // an IPv4 care-of address stays IPv4
	e2.CareOfPort = 4191
	e2.MobilePrefixes = nil
	e2.Sequence++
	old, replaced := c.Set(e2)
	if !replaced || old.Sequence != e.Sequence || len(old.MobilePrefixes) != 1 {
		t.Errorf("replace returned %+v %v", old, replaced)
	}
	got, _ = c.Lookup(e.HomeAddress)
	if d := cmp.Diff(e2, got, entryOpt...); d != "" {
		t.Errorf("after replace (-want +got):\n%s", d)
	}
	if !got.CareOf.Is4() {
		t.Errorf("care-of %v lost its IPv4 form", got.CareOf)
	}
	if c.Len() != 1 {
		t.Errorf("Len %d", c.Len())
	}
	if _, ok := c.Delete(e.HomeAddress); !ok || c.Len() != 0 {
		t.Errorf("Delete: %v, Len %d", ok, c.Len())
	}
	if _, ok := c.Lookup(e.HomeAddress); ok {
		t.Error("Lookup after Delete found it")
	}
	if _, ok := c.Delete(e.HomeAddress); ok {
		t.Error("second Delete found it")
	}
	if _, replaced := c.Set(Entry{HomeAddress: netip.MustParseAddr("192.0.2.1")}); replaced || c.Len() != 0 {
		t.Error("an IPv4 home address was stored")
	}
}

// TestCacheExpire checks expiry order with explicit times, including
// refreshes that move an entry later or earlier and deletes in the middle
// of the heap, against a brute-force model.
func TestCacheExpire(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	c := NewCache(0)
	model := map[netip.Addr]time.Time{}
	for step := range 20000 {
		n := uint32(r.IntN(500))
		switch op := r.IntN(10); {
		case op < 6:
			e := testEntry(n, time.Duration(r.IntN(1000))*time.Second)
			c.Set(e)
			model[e.HomeAddress] = e.Expires
		case op < 8:
			_, ok := c.Delete(hoaN(n))
			if _, want := model[hoaN(n)]; ok != want {
				t.Fatalf("step %d: Delete %v = %v, model %v", step, hoaN(n), ok, want)
			}
			delete(model, hoaN(n))
		default:
			now := cacheT0.Add(time.Duration(r.IntN(1000)) * time.Second)
			got := c.Expire(now, nil)
			var want []netip.Addr
			for a, exp := range model {
				if !exp.After(now) {
					want = append(want, a)
					delete(model, a)
				}
			}
			var gotA []netip.Addr
			for _, e := range got {
				if e.Expires.After(now) {
					t.Fatalf("step %d: expired %v at %v, expires %v", step, e.HomeAddress, now, e.Expires)
				}
				gotA = append(gotA, e.HomeAddress)
			}
			slices.SortFunc(want, netip.Addr.Compare)
			slices.SortFunc(gotA, netip.Addr.Compare)
			if d := cmp.Diff(want, gotA, entryOpt...); d != "" {
				t.Fatalf("step %d: expired (-want +got):\n%s", step, d)
			}
		}
		if c.Len() != len(model) {
			t.Fatalf("step %d: Len %d, model %d", step, c.Len(), len(model))
		}
	}
	var earliest time.Time
	for _, exp := range model {
		if earliest.IsZero() || exp.Before(earliest) {
			earliest = exp
		}
	}
	next, ok := c.NextExpiry()
	if ok != (len(model) > 0) || (ok && !next.Equal(earliest)) {
		t.Errorf("NextExpiry %v %v, want %v", next, ok, earliest)
	}
}

func TestCacheExpireBoundary(t *testing.T) {
	c := NewCache(0)
	c.Set(testEntry(1, 10*time.Second))
	if got := c.Expire(cacheT0.Add(10*time.Second-1), nil); len(got) != 0 {
		t.Errorf("expired 1 ns early")
	}
	if got := c.Expire(cacheT0.Add(10*time.Second), nil); len(got) != 1 {
		t.Errorf("not expired at its expiry time")
	}
	if _, ok := c.NextExpiry(); ok {
		t.Errorf("NextExpiry on empty cache")
	}
}

func TestCacheRange(t *testing.T) {
	c := NewCache(100)
	for i := range uint32(100) {
		c.Set(testEntry(i, time.Minute))
	}
	seen := map[netip.Addr]bool{}
	c.Range(func(e Entry) bool { seen[e.HomeAddress] = true; return true })
	if len(seen) != 100 {
		t.Errorf("Range saw %d", len(seen))
	}
	n := 0
	c.Range(func(Entry) bool { n++; return n < 5 })
	if n != 5 {
		t.Errorf("Range did not stop: %d", n)
	}
}

// TestCacheSlotSize pins the record size the memory budget relies on.
func TestCacheSlotSize(t *testing.T) {
	if got := unsafe.Sizeof(slot{}); got != 72 {
		t.Errorf("slot is %d octets, want 72", got)
	}
}

// TestCacheMemory measures the heap a million bindings take: the issue
// asks for at most 300 octets each; measured about 123, and held to 160 so
// that a regression shows long before the budget is gone.
func TestCacheMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates a million entries")
	}
	const n = 1_000_000
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	c := NewCache(0) // grown by appends: the worst case
	for i := range uint32(n) {
		c.Set(testEntry(i, time.Duration(i%3600)*time.Second))
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := float64(after.HeapAlloc-before.HeapAlloc) / n
	t.Logf("%d bindings: %.1f bytes each of heap (HeapAlloc)", n, per)
	if per > 160 {
		t.Errorf("%.1f bytes per binding, held to 160 (measured ~123; the issue's budget is 300)", per)
	}
	// Lookups stay O(1): sample a few.
	for i := uint32(0); i < n; i += 99991 {
		if e, ok := c.Lookup(hoaN(i)); !ok || e.Node != i {
			t.Fatalf("Lookup %d: %+v %v", i, e, ok)
		}
	}
	runtime.KeepAlive(c)
}

func BenchmarkCacheLookup(b *testing.B) {
	const n = 1 << 20
	c := NewCache(n)
	for i := range uint32(n) {
		c.Set(testEntry(i, time.Hour))
	}
	b.ResetTimer()
	b.ReportAllocs()
	for i := range b.N {
		if _, ok := c.Lookup(hoaN(uint32(i) & (n - 1))); !ok {
			b.Fatal("missing")
		}
	}
}

func BenchmarkCacheRefresh(b *testing.B) {
	const n = 1 << 20
	c := NewCache(n)
	for i := range uint32(n) {
		c.Set(testEntry(i, time.Duration(i%3600)*time.Second))
	}
	b.ResetTimer()
	b.ReportAllocs()
	for i := range b.N {
		e := testEntry(uint32(i)&(n-1), time.Duration(3600+i%3600)*time.Second)
		c.Set(e)
	}
}

func ExampleCache() {
	c := NewCache(0)
	now := time.Date(2026, 5, 17, 12, 0, 0, 0, time.UTC)
	c.Set(Entry{
		HomeAddress: netip.MustParseAddr("2001:db8:100::10"),
		CareOf:      netip.MustParseAddr("2001:db8:a::1"),
		Lifetime:    300 * time.Second,
		Expires:     now.Add(300 * time.Second),
	})
	fmt.Println(len(c.Expire(now.Add(299*time.Second), nil)), c.Len())
	fmt.Println(len(c.Expire(now.Add(300*time.Second), nil)), c.Len())
	// Output:
	// 0 1
	// 1 0
}
