package mobilenode

import (
	"net/netip"
	"testing"
	"time"

	"github.com/gomip6/gomip6/binding"
	"github.com/google/go-cmp/cmp"
)

func TestBindingUpdateList(t *testing.T) {
	cn := netip.MustParseAddr("2001:db8:c::1")
	var l BindingUpdateList
	l.Put(BULEntry{Peer: cn, HomeAddress: hoa, Sequence: 1})
	l.Put(BULEntry{Peer: haAddr, HomeAddress: hoa, Home: true, Sequence: 2})
	l.Put(BULEntry{Peer: cn, HomeAddress: hoa, Sequence: 3}) // replaces
	if l.Len() != 2 {
		t.Fatalf("len %d", l.Len())
	}
	want := []BULEntry{
		{Peer: haAddr, HomeAddress: hoa, Home: true, Sequence: 2},
		{Peer: cn, HomeAddress: hoa, Sequence: 3},
	}
	if diff := cmp.Diff(want, l.Entries(), cmpOpts); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	if e, ok := l.Lookup(cn, hoa); !ok || e.Sequence != 3 {
		t.Fatalf("lookup %+v %v", e, ok)
	}
	if _, ok := l.Lookup(cn, coa1); ok {
		t.Fatal("lookup of another home address")
	}
	if !l.Delete(cn, hoa) || l.Delete(cn, hoa) || l.Len() != 1 {
		t.Fatal("delete")
	}
	e := BULEntry{Expires: t0}
	if e.HasBinding(t0) || !e.HasBinding(t0.Add(-time.Nanosecond)) {
		t.Fatal("HasBinding at the expiry instant")
	}
}

func TestConfigFromMN(t *testing.T) {
	got := mnConfig(t)
	want := Config{ID: nai, HomeAddress: hoa, HomeAgent: haAddr,
		SA: SA{SPI: spi, Key: key, Algorithm: binding.HMACSHA1_96}, Lifetime: 5 * time.Minute}
	if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	bad := []Config{
		{HomeAgent: haAddr, SA: want.SA, Lifetime: time.Minute},
		{HomeAddress: hoa, SA: want.SA, Lifetime: time.Minute},
		{HomeAddress: hoa, HomeAgent: haAddr, SA: SA{SPI: spi, Key: key}, Lifetime: time.Minute},
		{HomeAddress: hoa, HomeAgent: haAddr, SA: SA{SPI: spi, Algorithm: binding.HMACSHA1_96}, Lifetime: time.Minute},
		{HomeAddress: hoa, HomeAgent: haAddr, SA: want.SA, Lifetime: time.Second},
	}
	for i, c := range bad {
		if _, err := NewRegistration(c); err == nil {
			t.Errorf("config %d accepted", i)
		}
	}
}
