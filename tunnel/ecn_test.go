package tunnel

import (
	"fmt"
	"testing"
)

// TestDecapECNMatrix is RFC 6040 §4.2 Figure 4, all 16 cells, typed in
// from the RFC (rows: arriving inner; columns: arriving outer Not-ECT,
// ECT(0), ECT(1), CE). "(!!!)" cells are anomalies; "(!)" is not logged.
//
//	+---------+------------------------------------------------+
//	|Arriving |            Arriving Outer Header               |
//	|   Inner +---------+------------+------------+------------+
//	|  Header | Not-ECT | ECT(0)     | ECT(1)     |     CE     |
//	+---------+---------+------------+------------+------------+
//	| Not-ECT | Not-ECT |Not-ECT(!!!)|Not-ECT(!!!)| <drop>(!!!)|
//	|  ECT(0) |  ECT(0) | ECT(0)     | ECT(1)     |     CE     |
//	|  ECT(1) |  ECT(1) | ECT(1) (!) | ECT(1)     |     CE     |
//	|    CE   |      CE |     CE     |     CE(!!!)|     CE     |
//	+---------+---------+------------+------------+------------+
func TestDecapECNMatrix(t *testing.T) {
	type cell struct {
		out     ECN
		drop    bool
		anomaly bool
	}
	outers := [4]ECN{NotECT, ECT0, ECT1, CE}
	inners := [4]ECN{NotECT, ECT0, ECT1, CE}
	want := [4][4]cell{
		{{NotECT, false, false}, {NotECT, false, true}, {NotECT, false, true}, {NotECT, true, true}},
		{{ECT0, false, false}, {ECT0, false, false}, {ECT1, false, false}, {CE, false, false}},
		{{ECT1, false, false}, {ECT1, false, false}, {ECT1, false, false}, {CE, false, false}},
		{{CE, false, false}, {CE, false, false}, {CE, false, true}, {CE, false, false}},
	}
	for i, in := range inners {
		for j, o := range outers {
			out, drop, anomaly := DecapECN(o, in)
			w := want[i][j]
			if drop != w.drop || anomaly != w.anomaly || (!drop && out != w.out) {
				t.Errorf("inner %v outer %v: got %v drop=%v anomaly=%v, want %v drop=%v anomaly=%v",
					in, o, out, drop, anomaly, w.out, w.drop, w.anomaly)
			}
		}
	}
}

// TestEncapECN is RFC 6040 §4.1 Figure 3: normal mode copies the inner ECN
// field, compatibility mode sends Not-ECT.
func TestEncapECN(t *testing.T) {
	for _, in := range []ECN{NotECT, ECT0, ECT1, CE} {
		if got := EncapECN(ECNNormal, in); got != in {
			t.Errorf("normal %v -> %v", in, got)
		}
		if got := EncapECN(ECNCompatibility, in); got != NotECT {
			t.Errorf("compatibility %v -> %v", in, got)
		}
	}
}

// TestDecapECNInPacket runs the matrix through Decap: the inner traffic
// class gets the combined ECN field with its DSCP unchanged, and the drop
// cell is counted as ReasonECN.
func TestDecapECNInPacket(t *testing.T) {
	for _, in := range []ECN{NotECT, ECT0, ECT1, CE} {
		for _, o := range []ECN{NotECT, ECT0, ECT1, CE} {
			t.Run(fmt.Sprintf("%v/%v", in, o), func(t *testing.T) {
				tun, _ := newHA(t, ep6(), nil)
				pkt := mkInner(hoa, cnAddr, 0xa0|uint8(in), 59, []byte("z"))
				got, v := tun.Decap(pkt, &Outer{Kind: KindIPv6, Src: coa6, Dst: ha6, TOS: 0x28<<2 | uint8(o)})
				want, drop, _ := DecapECN(o, in)
				if drop {
					if v != (Verdict{ActionDrop, ReasonECN}) {
						t.Fatalf("verdict %+v", v)
					}
					s := tun.Counters.Snapshot()
					if s.Get(In, ReasonECN).Packets != 1 {
						t.Error("ECN drop not counted")
					}
					return
				}
				if v.Action != ActionSend {
					t.Fatalf("verdict %+v", v)
				}
				if tc := got[0]<<4 | got[1]>>4; tc != 0xa0|uint8(want) {
					t.Errorf("inner traffic class %#x, want %#x", tc, 0xa0|uint8(want))
				}
				if got[0]>>4 != 6 || got[1]&0x0f != 0 {
					t.Error("version or flow label clobbered")
				}
			})
		}
	}
}

func TestECNString(t *testing.T) {
	got := fmt.Sprint(NotECT, ECT1, ECT0, CE)
	if got != "Not-ECT ECT(1) ECT(0) CE" {
		t.Error(got)
	}
}
