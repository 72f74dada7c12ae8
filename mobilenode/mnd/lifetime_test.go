package mnd

import (
	"net/netip"
	"testing"
	"time"

	"github.com/gomip6/gomip6/mip6"
)

// TestHomePrefixValidUntil: the home address's bound is the advertised
// valid lifetime counted from the advertisement (RFC 6275 §11.4.3);
// infinity (RFC 4861 §4.6.2, all ones) and nothing known are unbounded.
func TestHomePrefixValidUntil(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name string
		p    homePrefix
		want time.Time
	}{
		{"no advertisement", homePrefix{}, time.Time{}},
		{"home prefix not listed", homePrefix{At: at, Others: nil}, time.Time{}},
		{"valid 1 h", homePrefix{At: at, Seen: true, Valid: time.Hour, Preferred: time.Minute}, at.Add(time.Hour)},
		{"withdrawn", homePrefix{At: at, Seen: true}, at},
		{"infinite", homePrefix{At: at, Seen: true, Valid: mip6.NDInfiniteLifetime, Preferred: mip6.NDInfiniteLifetime}, time.Time{}},
	} {
		if got := tt.p.validUntil(); !got.Equal(tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestHomePrefixStatusInvalid: the status says the home address is
// invalid once less than one Binding Update lifetime unit (4 s) of the
// home prefix's valid lifetime is left.
func TestHomePrefixStatusInvalid(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := homePrefix{At: at, Seen: true, Valid: 10 * time.Second, Preferred: 5 * time.Second}
	for _, tt := range []struct {
		after time.Duration
		want  bool
	}{{0, false}, {6 * time.Second, false}, {6001 * time.Millisecond, true}, {time.Hour, true}} {
		if got := p.status(mpsHome, at.Add(tt.after)).HomeAddressInvalid; got != tt.want {
			t.Errorf("after %v: home_address_invalid %v, want %v", tt.after, got, tt.want)
		}
	}
	inf := homePrefix{At: at, Seen: true, Valid: mip6.NDInfiniteLifetime, Preferred: mip6.NDInfiniteLifetime}
	if inf.status(mpsHome, at.Add(1000*time.Hour)).HomeAddressInvalid {
		t.Error("an infinite valid lifetime ran out")
	}
}

func TestAddrLifetimes(t *testing.T) {
	now := time.Unix(1000, 0)
	a := netip.MustParseAddr("2001:db8:a::1")
	l := addrLifetimes{}
	if got := l.until(a); !got.IsZero() {
		t.Errorf("unknown address: %v", got)
	}
	l.note(a, 7200, true, now)
	if got := l.until(a); !got.Equal(now.Add(2 * time.Hour)) {
		t.Errorf("7200 s: %v", got)
	}
	l.note(a.WithZone("a0"), 30, true, now)
	if got := l.until(a); !got.Equal(now.Add(30 * time.Second)) {
		t.Errorf("zoned update: %v", got)
	}
	l.note(a, infiniteLft, true, now)
	if got := l.until(a); !got.IsZero() {
		t.Errorf("infinite: %v", got)
	}
	l.note(a, 30, true, now)
	l.note(a, 0, false, now)
	if got, n := l.until(a), len(l); !got.IsZero() || n != 0 {
		t.Errorf("removed: %v, %d entries", got, n)
	}
}
