package tunnel

import (
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
)

func benchEncap(b *testing.B, ep Endpoint) {
	for _, size := range []int{64, 1400} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			tun, _ := newHA(b, ep, nil)
			buf, off := withHeadroom(mkInner(cnAddr, hoa, 0xba, 17, make([]byte, size-40)))
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if _, v := tun.Output(buf, off); v.Action != ActionSend {
					b.Fatal(v)
				}
			}
		})
	}
}

// BenchmarkEncapIPv6 and friends: Output (binding lookup + outer header
// in place) per packet, for a 64-octet and a 1400-octet inner packet.
func BenchmarkEncapIPv6(b *testing.B) { benchEncap(b, ep6()) }
func BenchmarkEncapIPv4(b *testing.B) { benchEncap(b, ep4()) }
func BenchmarkEncapUDP(b *testing.B)  { benchEncap(b, epUDP()) }

func benchDecap(b *testing.B, ep Endpoint) {
	for _, size := range []int{64, 1400} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			tab := NewTable(0)
			_ = tab.Set(netip.PrefixFrom(hoa, 128), Endpoint{Kind: ep.Kind, Local: ep.Remote, Remote: ep.Local, LocalPort: ep.RemotePort, RemotePort: ep.LocalPort})
			mn, _ := New(Config{Role: RoleMobileNode}, tab)
			ha, _ := newHA(b, ep, nil)
			buf, off := withHeadroom(mkInner(cnAddr, hoa, 0xba, 17, make([]byte, size-40)))
			pkt, _ := ha.Output(buf, off)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if _, v := mn.Input(pkt); v.Action != ActionSend {
					b.Fatal(v)
				}
			}
		})
	}
}

// BenchmarkDecapIPv6 and friends: Input (outer parse, checksums,
// anti-spoofing lookup, ECN) per packet.
func BenchmarkDecapIPv6(b *testing.B) { benchDecap(b, ep6()) }
func BenchmarkDecapIPv4(b *testing.B) { benchDecap(b, ep4()) }
func BenchmarkDecapUDP(b *testing.B)  { benchDecap(b, epUDP()) }

var (
	bigTableOnce sync.Once
	bigTable     *Table
	bigAddrs     []netip.Addr
)

const bigN = 1_000_000

func million(b *testing.B) (*Table, []netip.Addr) {
	bigTableOnce.Do(func() {
		bigTable = NewTable(0)
		_ = bigTable.Set(mnp, ep6())
		_ = bigTable.Set(netip.MustParsePrefix("2001:db8:4400::/56"), ep4())
		bigAddrs = make([]netip.Addr, bigN)
		for i := range bigN {
			bigAddrs[i] = homeAddr(i)
			if err := bigTable.Set(netip.PrefixFrom(bigAddrs[i], 128), ep6()); err != nil {
				b.Fatal(err)
			}
		}
	})
	return bigTable, bigAddrs
}

// BenchmarkLookup: Table.Lookup with 1,000,000 home addresses, from all
// Ps, each goroutine walking the population with a different stride. The
// address is computed, not loaded from a 24 MB array, so the cache misses
// measured are the table's own (slot, then binding), as on the packet path
// where the address is in the packet just read.
func BenchmarkLookup(b *testing.B) {
	tab, _ := million(b)
	var seed atomic.Uint64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := int(seed.Add(7919) * 104729)
		for pb.Next() {
			i += 7919
			if tab.Lookup(homeAddr(i%bigN)) == nil {
				b.Fatal("miss")
			}
		}
	})
}

// BenchmarkLookupHot: one home address over and over, the cost without
// cache misses (a flow of back-to-back packets).
func BenchmarkLookupHot(b *testing.B) {
	tab, _ := million(b)
	a := homeAddr(12345)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if tab.Lookup(a) == nil {
				b.Fatal("miss")
			}
		}
	})
}

// BenchmarkLookupMiss: an address with no binding, on a table with
// prefixes, so the prefix set is probed too.
func BenchmarkLookupMiss(b *testing.B) {
	tab, _ := million(b)
	a := netip.MustParseAddr("2001:db8:ffff::1")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if tab.Lookup(a) != nil {
				b.Fatal("hit")
			}
		}
	})
}

// BenchmarkLookupDuringUpdates: the same lookups while one writer
// goroutine keeps moving bindings between two care-of addresses and
// deleting and re-adding others (the control plane under churn).
func BenchmarkLookupDuringUpdates(b *testing.B) {
	tab, addrs := million(b)
	moved := Endpoint{Kind: KindIPv6, Local: ha6, Remote: other6}
	var stop atomic.Bool
	var writes atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; !stop.Load(); i++ {
			a := addrs[(i*7919)%bigN]
			p := netip.PrefixFrom(a, 128)
			switch i % 4 {
			case 0:
				_ = tab.Set(p, moved)
			case 1:
				_ = tab.Set(p, ep6())
			case 2:
				tab.Delete(p)
			case 3:
				_ = tab.Set(p, ep6())
			}
			writes.Add(1)
		}
	}()
	var seed atomic.Uint64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := int(seed.Add(7919) * 104729)
		for pb.Next() {
			i += 7919
			tab.Lookup(homeAddr(i % bigN))
		}
	})
	b.StopTimer()
	stop.Store(true)
	<-done
	b.ReportMetric(float64(writes.Load())/b.Elapsed().Seconds(), "writes/s")
	// Put the table back as million() built it.
	for i := range bigN {
		_ = tab.Set(netip.PrefixFrom(addrs[i], 128), ep6())
	}
}

// BenchmarkSet: control-plane insert cost into a million-entry table.
func BenchmarkSet(b *testing.B) {
	tab, addrs := million(b)
	e := ep6()
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		_ = tab.Set(netip.PrefixFrom(addrs[i%bigN], 128), e)
		i++
	}
}

// BenchmarkPTB: Packet Too Big built in place (rate limit wide open).
func BenchmarkPTB(b *testing.B) {
	tun, _ := newHA(b, ep6MTU(), func(c *Config) { c.ICMPRate = 1e12; c.ICMPBurst = 1 << 30 })
	in := bigInner()
	buf, off := withHeadroom(in)
	b.ReportAllocs()
	for b.Loop() {
		copy(buf[off:], in)
		if _, v := tun.Output(buf, off); v.Action != ActionReply {
			b.Fatal(v)
		}
	}
}
