package nexthop

import (
	"testing"
	"time"
)

func TestCache(t *testing.T) {
	c := NewCache[int](2)
	now := int64(time.Hour)
	if _, ok := c.Lookup(1, now); ok {
		t.Fatal("empty cache has an entry")
	}
	c.Store(1, now, Entry{Ifindex: 3, OK: true})
	if e, ok := c.Lookup(1, now+int64(Refresh)-1); !ok || !e.OK || e.Ifindex != 3 {
		t.Fatalf("usable entry before Refresh: %+v %v", e, ok)
	}
	if _, ok := c.Lookup(1, now+int64(Refresh)); ok {
		t.Fatal("usable entry still fresh at Refresh")
	}
	c.Store(2, now, Entry{})
	if e, ok := c.Lookup(2, now+int64(Retry)-1); !ok || e.OK {
		t.Fatalf("unusable entry before Retry: %+v %v", e, ok)
	}
	if _, ok := c.Lookup(2, now+int64(Retry)); ok {
		t.Fatal("unusable entry still fresh at Retry")
	}
	// Bounded: a third key empties the cache of two; storing a known key
	// does not.
	c.Store(2, now, Entry{OK: true})
	if len(c.m) != 2 {
		t.Fatalf("restoring a key changed the size to %d", len(c.m))
	}
	c.Store(3, now, Entry{OK: true})
	if len(c.m) != 1 {
		t.Fatalf("cache of 2 holds %d after a third key", len(c.m))
	}
	if a := testing.AllocsPerRun(100, func() { c.Lookup(3, now) }); a != 0 {
		t.Fatalf("Lookup allocates %v times", a)
	}
}
