//go:build linux

package tunnel

import (
	"testing"
	"time"

	"github.com/gomip6/gomip6/internal/netlab"
)

// TestPacketSendLab runs the lab line with PacketSend on both forwarders:
// traffic both ways, Packet Too Big, the anti-spoofing drops and the ICMP
// relay work as on the raw sockets, and, once the first packets through
// the raw sockets have had the kernel resolve the neighbours, the
// tunnel's packets leave on the packet sockets without a send error.
func TestPacketSendLab(t *testing.T) {
	netlab.SkipUnlessRoot(t)
	for _, kind := range []Kind{KindIPv6, Kind6in4} {
		t.Run(kind.String(), func(t *testing.T) {
			ps := func(c *ForwarderConfig) { c.PacketSend = true }
			l := newLabWith(t, kind, ps, ps)
			t.Run("ping", func(t *testing.T) {
				must(t, l.cn.Ping(labHoA, 5*time.Second))
				must(t, l.mn.Ping(labCN, 5*time.Second))
			})
			// The first packets went through the raw sockets, which had
			// the kernel resolve the neighbours; the next hops are looked
			// up again nexthop.Retry later. Ping until both ends send on the
			// packet sockets.
			deadline := time.Now().Add(5 * time.Second)
			for l.haF.Stats().PacketSent == 0 || l.mnF.Stats().PacketSent == 0 {
				if time.Now().After(deadline) {
					t.Fatalf("nothing sent on the packet sockets: ha %+v mn %+v", l.haF.Stats(), l.mnF.Stats())
				}
				must(t, l.cn.Ping(labHoA, 5*time.Second))
			}
			t.Run("tcp", l.testTCP)
			t.Run("ptb", l.testPTB)
			t.Run("spoof", l.testSpoof)
			t.Run("icmp relay", l.testICMPRelay)
			for name, f := range map[string]*Forwarder{"ha": l.haF, "mn": l.mnF} {
				st := f.Stats()
				if st.PacketSent < 1000 || st.SendErrors != 0 {
					t.Errorf("%s: %d packets sent on the packet socket (of %d), %d send errors (%s)", name, st.PacketSent, st.SentPackets, st.SendErrors, st.LastSendError)
				}
			}
		})
	}
}
