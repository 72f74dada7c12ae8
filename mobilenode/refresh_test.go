package mobilenode

import (
	"testing"
	"time"

	"github.com/gomip6/gomip6/homeagent"
	"github.com/gomip6/gomip6/tunnel"
)

// TestRefreshAfterRebinding: behind a NAT that lost its mapping, Refresh
// sends a Binding Update at once (not at the next keepalive), and the home
// agent moves the binding to the new mapping.
func TestRefreshAfterRebinding(t *testing.T) {
	l := newLabV4(t, nil)
	r := l.mn
	if _, ok := r.Refresh(l.now); ok {
		t.Fatal("Refresh with no binding sent a Binding Update")
	}
	l.nat = natMapping(40001)
	l.exchange(r.Moved(natInside, l.now).Send)
	if ep := l.endpoint(); ep.Kind != tunnel.KindUDP4 || ep.RemotePort != 40001 {
		t.Fatalf("endpoint %+v", ep)
	}
	l.nat = natMapping(40002)
	l.now = l.now.Add(5 * time.Second) // well before the 110 s keepalive
	o, ok := r.Refresh(l.now)
	if !ok || o.Send == nil || r.State() != Refreshing || o.Send.OuterSrc != natInside {
		t.Fatalf("Refresh: ok %v send %v state %v", ok, o.Send != nil, r.State())
	}
	if _, again := r.Refresh(l.now); again {
		t.Error("a second Refresh while one is in flight sent another Binding Update")
	}
	l.exchange(o.Send)
	if ep := l.endpoint(); l.last.Change != homeagent.Moved || ep.RemotePort != 40002 || ep.Remote != natPublic || r.State() != Registered {
		t.Fatalf("after Refresh: change %v endpoint %+v state %v", l.last.Change, ep, r.State())
	}
}
