package correspondent

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/gomip6/gomip6/mip6"
)

// scapyDecode is run by /usr/bin/python3: for each hex packet on stdin it
// prints what scapy's independent Mobile IPv6 dissector reads, and
// whether scapy computes the same Mobility Header (or UDP) checksum
// (it takes a routing header's last address as the final destination,
// RFC 8200 §8.1).
const scapyDecode = `
import sys, json
from scapy.layers.inet6 import *
from scapy.layers.inet import UDP
out = []
def hx(v):
    return v.hex() if isinstance(v, bytes) else v.to_bytes(8, "big").hex()
for line in sys.stdin.read().split():
    p = IPv6(bytes.fromhex(line))
    d = {"src": p.src, "dst": p.dst}
    if IPv6ExtHdrRouting in p:
        r = p[IPv6ExtHdrRouting]
        d["rh_type"], d["rh_len"], d["segleft"], d["rh_addr"] = r.type, r.len, r.segleft, r.addresses[0]
    for cls, name in ((MIP6MH_HoT, "hot"), (MIP6MH_CoT, "cot"), (MIP6MH_BA, "ba"), (MIP6MH_BE, "be"), (MIP6MH_BRR, "brr"), (UDP, "udp")):
        if cls in p:
            m = p[cls]
            d["type"] = name
            if name in ("hot", "cot"):
                d["index"], d["cookie"], d["token"] = m.index, hx(m.cookie), hx(m.token)
            if name == "ba":
                d["status"], d["seq"], d["lifetime_units"] = m.status, m.seq, m.mhtime
                if MIP6OptBindingAuthData in m:
                    a = m[MIP6OptBindingAuthData]
                    d["auth_len"] = a.olen
            if name == "be":
                d["status"], d["hoa"] = m.status, m.ha
            orig = m.cksum if name != "udp" else m.chksum
            q = IPv6(bytes.fromhex(line))
            if name == "udp":
                del q[UDP].chksum
            else:
                del q[cls].cksum
            q = IPv6(bytes(q))
            d["checksum_ok"] = (q[cls].chksum if name == "udp" else q[cls].cksum) == orig
            break
    out.append(d)
print(json.dumps(out))
`

// TestScapy checks the packets the correspondent sends against scapy's
// dissector (Debian's python3-scapy), an implementation independent of
// package mip6: HoT and CoT fields (§6.1.5, §6.1.6), the BA with its type
// 2 routing header (§6.4: type 2, Hdr Ext Len 2, Segments Left 1) and its
// Binding Authorization Data (length 12, §6.2.7), the Binding Error
// (§6.1.9), the Binding Refresh Request (§6.1.2), a data packet from
// InsertRoutingHeader2, and every checksum.
func TestScapy(t *testing.T) {
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		t.Skip("no /usr/bin/python3")
	}
	if err := exec.Command("/usr/bin/python3", "-c", "import scapy.layers.inet6").Run(); err != nil {
		t.Skip("no scapy")
	}
	c := newCN(t, nil, Options{})
	m := newMN()
	var pkts [][]byte
	hot := c.HandleMH(nil, m.hoti(t), t0)
	cot := c.HandleMH(nil, m.coti(t), t0)
	pkts = append(pkts, hot.Out, cot.Out)
	_, hmsg := reply(t, hot)
	_, cmsg := reply(t, cot)
	m.homeToken, m.homeIndex = hmsg.(*mip6.HomeTest).KeygenToken, hmsg.(*mip6.HomeTest).NonceIndex
	m.coaToken, m.coaIndex = cmsg.(*mip6.CareofTest).KeygenToken, cmsg.(*mip6.CareofTest).NonceIndex
	ba := c.HandleMH(nil, m.bu(t, buOpts{}), t0.Add(time.Second))
	be := c.BindingError(nil, mip6.BEUnknownHomeAddress, Packet{Src: coa1, Dst: cnAddr, HomeAddress: victim, Len: 200}, t0)
	brr, err := c.AppendBRR(nil, hoa1)
	if err != nil {
		t.Fatal(err)
	}
	_, udp := udpFrom(cnAddr, hoa1, "data path")
	hdr := mip6.AppendIPv6Header(nil, uint16(len(udp)), mip6.ProtoUDP, 64, cnAddr, hoa1)
	buf := append(make([]byte, 24), append(hdr, udp...)...)
	data, err := InsertRoutingHeader2(buf, 24, len(buf)-24, coa1)
	if err != nil {
		t.Fatal(err)
	}
	pkts = append(pkts, ba.Out, be.Out, brr, data)
	var in strings.Builder
	for _, p := range pkts {
		in.WriteString(hex.EncodeToString(p) + "\n")
	}
	cmd := exec.Command("/usr/bin/python3", "-c", scapyDecode)
	cmd.Stdin = strings.NewReader(in.String())
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("scapy: %v: %s", err, stderr.String())
	}
	var got []map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	hx := func(b []byte) string { return hex.EncodeToString(b) }
	ht, ct := hmsg.(*mip6.HomeTest), cmsg.(*mip6.CareofTest)
	want := []map[string]any{
		{"src": cnAddr.String(), "dst": hoa1.String(), "type": "hot", "index": float64(ht.NonceIndex),
			"cookie": hx(m.homeCookie[:]), "token": hx(ht.KeygenToken[:]), "checksum_ok": true},
		{"src": cnAddr.String(), "dst": coa1.String(), "type": "cot", "index": float64(ct.NonceIndex),
			"cookie": hx(m.coaCookie[:]), "token": hx(ct.KeygenToken[:]), "checksum_ok": true},
		{"src": cnAddr.String(), "dst": coa1.String(), "rh_type": float64(2), "rh_len": float64(2), "segleft": float64(1),
			"rh_addr": hoa1.String(), "type": "ba", "status": float64(0), "seq": float64(m.seq),
			"lifetime_units": float64(300 / 4), "auth_len": float64(12), "checksum_ok": true},
		{"src": cnAddr.String(), "dst": coa1.String(), "type": "be", "status": float64(1), "hoa": victim.String(), "checksum_ok": true},
		{"src": cnAddr.String(), "dst": hoa1.String(), "type": "brr", "checksum_ok": true},
		{"src": cnAddr.String(), "dst": coa1.String(), "rh_type": float64(2), "rh_len": float64(2), "segleft": float64(1),
			"rh_addr": hoa1.String(), "type": "udp", "checksum_ok": true},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("scapy reads (-want +got):\n%s", diff)
	}
}
