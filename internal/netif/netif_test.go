package netif

import (
	"net"
	"testing"
)

// The loopback interface has ::1 but no link-local address: LinkLocal must
// not return a non-link-local one.
func TestLinkLocalLoopback(t *testing.T) {
	ifi, err := net.InterfaceByName("lo")
	if err != nil {
		t.Skip("no lo:", err)
	}
	if a := LinkLocal(ifi); a.IsValid() && !a.IsLinkLocalUnicast() {
		t.Fatalf("LinkLocal(lo) = %v", a)
	}
}
