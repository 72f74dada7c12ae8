//go:build linux

package tunnel

import (
	"os/exec"
	"testing"
	"time"

	"github.com/gomip6/gomip6/internal/netlab"
)

// TestPacketReceiveLab runs the lab line with PacketReceive on both
// forwarders and GRO working on the tunnel link, so that the receiving
// ends get IPv6-in-IPv6 and 6in4 TCP super-packets with unfinished
// checksums: the transfer must arrive intact both ways (through the raw
// sockets alone it collapses: measured about 100 kbit/s), some
// super-packets must have gone into a tun device whole, and Packet Too
// Big, the anti-spoofing drops (small packets on the raw sockets, large
// ones on the packet sockets) and the ICMP relay work as without it.
// Also with PacketSend.
func TestPacketReceiveLab(t *testing.T) {
	netlab.SkipUnlessRoot(t)
	if _, err := exec.LookPath("ethtool"); err != nil {
		t.Skip("ethtool not installed")
	}
	for _, c := range []struct {
		kind Kind
		send bool
	}{{KindIPv6, false}, {Kind6in4, false}, {KindIPv6, true}, {Kind6in4, true}} {
		kind := c.kind
		name := kind.String()
		if c.send {
			name += " PacketSend"
		}
		t.Run(name, func(t *testing.T) {
			pr := func(fc *ForwarderConfig) { fc.PacketReceive, fc.PacketSend = true, c.send }
			l := newLabWith(t, kind, pr, pr)
			// A veth coalesces (GRO) only in NAPI mode, which GRO on
			// selects, only what a sender without TSO sends
			// (veth_skb_is_eligible_for_gro), and in batches only when
			// the NAPI poll is not run right after each packet's send
			// (threaded NAPI).
			for _, x := range []struct {
				ns  *netlab.NS
				dev string
			}{{l.mn, "m0"}, {l.ha, "h0"}} {
				if out, err := x.ns.Run("ethtool", "-K", x.dev, "gro", "on", "tso", "off"); err != nil {
					t.Skipf("ethtool: %v: %s", err, out)
				}
				if out, err := x.ns.Run("sh", "-c", "echo 1 > /sys/class/net/"+x.dev+"/threaded"); err != nil {
					t.Skipf("threaded NAPI: %v: %s", err, out)
				}
			}
			t.Run("ping", func(t *testing.T) {
				must(t, l.cn.Ping(labHoA, 5*time.Second))
				must(t, l.mn.Ping(labCN, 5*time.Second))
			})
			t.Run("tcp", l.testTCP)
			if n := l.haF.Stats().TunGSOWrites + l.mnF.Stats().TunGSOWrites; n == 0 {
				t.Error("no super-packet went into a tun device whole: GRO did not happen, the test shows nothing")
			}
			t.Run("ptb", l.testPTB)
			t.Run("spoof", l.testSpoof)
			t.Run("spoof large", func(t *testing.T) {
				// Over 1280 octets of outer payload: the packet socket's.
				cnOut := labCN
				if kind != KindIPv6 {
					cnOut = labCN4
				}
				before := l.haT.Counters.Snapshot().Get(In, ReasonOuterSrc).Packets
				pkt := l.forgeSize(t, cnOut, labHoA, 1300)
				must(t, l.cn.Do(func() error { return sendRaw(pkt, l.haOut) }))
				deadline := time.Now().Add(3 * time.Second)
				for l.haT.Counters.Snapshot().Get(In, ReasonOuterSrc).Packets == before {
					if time.Now().After(deadline) {
						t.Fatalf("a large forged packet was not counted as %v", ReasonOuterSrc)
					}
					time.Sleep(10 * time.Millisecond)
				}
			})
			t.Run("icmp relay", l.testICMPRelay)
			if st := l.haF.Stats(); st.TunWriteErrors != 0 {
				t.Errorf("ha stats %+v", st)
			}
		})
	}
}
