#!/usr/bin/python3
"""Capture fixtures for `mip6ctl dump`, written by scapy (an independent
pcap/pcapng writer) from the golden packets of mip6/testdata/golden/gen.py.

Run from anywhere:  /usr/bin/python3 gen_pcap.py
Writes, beside this file:
  mip6-eth.pcap     Ethernet (link type 1): every Mobile IPv6 message kind,
                    RAs with and without the RFC 6275 §7 extensions, a BU
                    with a wrong MH checksum, and non-MIPv6 noise (TCP over
                    IPv6 and IPv4, an ICMPv6 echo) that a decoder must skip
  mip6-eth.pcapng   the same frames as pcapng
  mip6-raw.pcap     LINKTYPE_RAW (101): a few of them, bare IPv6
  mip6-encap.pcap   Ethernet: BU/BA/HoTI/HoT inside IPv6-in-IPv6 (RFC 2473),
                    BU/BA inside IPv6-in-IPv4 (protocol 41) and inside
                    IPv4/UDP port 4191 (RFC 5555 §4: the IPv6 packet right
                    after the UDP header), the latter from an IPv4 care-of
                    address (IPv4-mapped inner source, IPv4 CoA option)
  expected.json     per file, per frame (1-based over ALL frames), what the
                    decode must show; frames without Mobile IPv6 content are
                    absent
The output is deterministic (fixed timestamps and MAC addresses).
"""

import importlib.util
import json
import logging
import os
import sys

from scapy.all import (Ether, IP, IPv6, TCP, UDP, Raw, ICMPv6EchoRequest, wrpcap, wrpcapng, conf)

conf.verb = 0
# wrpcap warns about "inconsistent linktypes" for the bare Raw frames of the
# LINKTYPE_RAW file, which is given explicitly.
logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(HERE, "..", "..", "..", "mip6", "testdata", "golden", "gen.py")

sys.dont_write_bytecode = True  # no __pycache__ beside the golden script
spec = importlib.util.spec_from_file_location("golden", GOLDEN)
g = importlib.util.module_from_spec(spec)
spec.loader.exec_module(g)
g.build_all()

MN_MAC, HA_MAC = "02:00:00:00:00:10", "02:00:00:00:00:01"
T0 = 1700000000


def vec(name):
    return g.VECTORS[[v["name"] for v in g.VECTORS].index(name)]


def pkt_bytes(name):
    b = bytes.fromhex(vec(name)["hex"])
    assert bytes(g.PACKETS[name]) == b, name
    return b


def opt_entry(o):
    """Option as "type name + fields" (the golden JSON without the code)."""
    e = {"type": o["type"]}
    e.update({k: v for k, v in o.items() if k not in ("type", "code", "name")})
    if o["type"] == "Raw":
        e = {"type": "Raw", "code": o["code"], "data": o["data"]}
    return e


def expect(name, encap):
    """Expected decode of golden packet `name` reached through `encap`."""
    j = vec(name)["expect"]
    e = {"encap": encap, "ipv6_src": j["ipv6"]["src"], "ipv6_dst": j["ipv6"]["dst"]}
    for x in j["ext"]:
        if "hao" in x:
            e["home_address"] = x["hao"]
        if x.get("routing_type") == 2:
            e["home_address"] = x["home_address"]
    if "mh" in j:
        m = j["mh"]
        e["mh_type"] = m["mh_type"]
        for k in ("sequence", "lifetime_s", "status", "status_name", "cookie", "nonce_index", "keygen_token"):
            if k in m:
                e[k] = m[k]
        if "flags" in m:
            e["flags"] = list(m["flags"])
        if m["mh_type"] == "BE":
            e["be_home_address"] = m["home_address"]
        e["options"] = [opt_entry(o) for o in m.get("options", [])]
        e["checksum_ok"] = m["checksum_ok"]
    else:
        i = j["icmpv6"]
        e["icmpv6"] = i["name"]
        for k in ("identifier", "home_agents", "r", "m", "o", "h", "preference", "router_lifetime_s",
                  "cur_hop_limit"):
            if k in i:
                e[k] = i[k]
        if "options" in i:
            e["options"] = [opt_entry(o) for o in i["options"]]
        e["checksum_ok"] = i["checksum_ok"]
    return e


class Capture:
    def __init__(self):
        self.frames, self.expected = [], []

    def add(self, frame, exp=None):
        frame.time = T0 + len(self.frames) * 0.001
        self.frames.append(frame)
        if exp is not None:
            exp = dict(frame=len(self.frames), **exp)
            self.expected.append(exp)


def eth(payload, src=MN_MAC, dst=HA_MAC, v4=False):
    return Ether(src=src, dst=dst, type=0x0800 if v4 else 0x86DD) / Raw(payload)


def noise_tcp6():
    return bytes(IPv6(src=g.COA, dst="2001:db8:9::9", hlim=64) /
                 TCP(sport=40000, dport=443, flags="S", seq=1000, window=65535))


def noise_tcp4():
    return bytes(IP(src=g.COA4, dst="192.0.2.9", ttl=64, id=1) / TCP(sport=40001, dport=80, flags="S", seq=2000,
                                                                       window=65535))


def noise_echo():
    return bytes(IPv6(src=g.COA, dst=g.CN, hlim=64) / ICMPv6EchoRequest(id=1, seq=1, data=b"ping"))


def build_eth():
    c = Capture()
    E = ["ethernet", "ipv6"]
    seq = [("pkt-bu-hao-auth", True), ("pkt-ba-rh2", False), (None, "tcp6"), ("pkt-be", False),
           ("pkt-hoti", True), ("pkt-hot", False), ("pkt-coti", True), ("pkt-cot", False), ("pkt-brr", False),
           (None, "tcp4"), ("pkt-haad-request", True), ("pkt-haad-reply", False), ("pkt-mps", True),
           ("pkt-mpa", False), ("pkt-ra-ha", False), ("pkt-ra-plain", False), ("pkt-bu-bad-checksum", True),
           (None, "echo"), ("pkt-bu-cn-rr", True), ("pkt-ba-rh2-146", False)]
    for name, arg in seq:
        if name is None:
            if arg == "tcp4":
                c.add(eth(noise_tcp4(), v4=True))
            else:
                c.add(eth(noise_tcp6() if arg == "tcp6" else noise_echo()))
            continue
        src, dst = (MN_MAC, HA_MAC) if arg else (HA_MAC, MN_MAC)
        # An RA without Mobile IPv6 options is no MIPv6 content: the
        # decoder must skip it like the noise frames.
        exp = None if name == "pkt-ra-plain" else expect(name, E)
        c.add(eth(pkt_bytes(name), src, dst), exp)
    return c


def build_raw():
    c = Capture()
    E = ["raw", "ipv6"]
    for name in ["pkt-bu-hao", None, "pkt-ba-rh2", "pkt-haad-request", "pkt-ra-ha"]:
        if name is None:
            c.add(Raw(noise_tcp6()))
        else:
            c.add(Raw(pkt_bytes(name)), expect(name, E))
    return c


def ip4(src, dst, proto, payload, ident):
    return bytes(IP(src=src, dst=dst, proto=proto, ttl=64, id=ident) / Raw(payload))


def ip6_outer(src, dst, payload):
    # RFC 2473 IPv6-in-IPv6: Next Header 41.
    return bytes(IPv6(src=src, dst=dst, nh=41, hlim=64) / Raw(payload))


def build_encap():
    c = Capture()
    # IPv6-in-IPv6 between CoA and HA (RFC 6275 §5.2.3: HoTI/HoT are
    # reverse-tunnelled; BU/BA are not normally, but a decoder must reach
    # them the same way).
    E66 = ["ethernet", "ipv6", "ipv6"]
    c.add(eth(ip6_outer(g.COA, g.HA, pkt_bytes("pkt-bu-hao"))), expect("pkt-bu-hao", E66))
    c.add(eth(ip6_outer(g.HA, g.COA, pkt_bytes("pkt-ba-rh2")), HA_MAC, MN_MAC), expect("pkt-ba-rh2", E66))
    c.add(eth(ip6_outer(g.COA, g.HA, pkt_bytes("pkt-hoti"))), expect("pkt-hoti", E66))
    c.add(eth(ip6_outer(g.HA, g.COA, pkt_bytes("pkt-hot")), HA_MAC, MN_MAC), expect("pkt-hot", E66))
    # IPv6-in-IPv4, protocol 41 (RFC 4213 §3.5 / RFC 5555 §4 without NAT).
    E64 = ["ethernet", "ipv4", "ipv6"]
    c.add(eth(ip4(g.COA4, g.HA4, 41, pkt_bytes("pkt-bu-hao"), 11), v4=True), expect("pkt-bu-hao", E64))
    c.add(eth(ip4(g.HA4, g.COA4, 41, pkt_bytes("pkt-ba-rh2"), 12), HA_MAC, MN_MAC, v4=True),
          expect("pkt-ba-rh2", E64))
    # Noise: plain IPv4 UDP to another port (discard, RFC 863).
    c.add(eth(bytes(IP(src=g.COA4, dst="192.0.2.9", ttl=64, id=13) / UDP(sport=40002, dport=9) /
                    Raw(b"noise")), v4=True))
    # IPv4/UDP 4191 (RFC 5555 §4.1): a BU from an IPv4 care-of address and
    # the BA back; the UDP source port is what a NAT would leave.
    EU = ["ethernet", "ipv4", "udp", "ipv6"]
    for name, s, d, sport, dport, ident, mn in [
            ("pkt-bu-v4coa", g.COA4, g.HA4, 49152, 4191, 14, True),
            ("pkt-ba-v4coa", g.HA4, g.COA4, 4191, 49152, 15, False)]:
        inner = pkt_bytes(name)
        fr = bytes(IP(src=s, dst=d, ttl=64, id=ident) / UDP(sport=sport, dport=dport) / Raw(inner))
        c.add(eth(fr, *((MN_MAC, HA_MAC) if mn else (HA_MAC, MN_MAC)), v4=True), expect(name, EU))
    # The IPv6-in-UDP BU again behind the UDP checksum being zero (allowed
    # for IPv4, RFC 768) to check the decoder does not insist on it.
    inner = pkt_bytes("pkt-bu-v4coa")
    u = bytearray(bytes(IP(src=g.COA4, dst=g.HA4, ttl=64, id=16) / UDP(sport=49153, dport=4191) / Raw(inner)))
    u[26:28] = b"\x00\x00"
    c.add(eth(bytes(u), v4=True), expect("pkt-bu-v4coa", EU))
    return c


def main():
    out = {}
    for fname, cap, link in [("mip6-eth.pcap", build_eth(), 1), ("mip6-raw.pcap", build_raw(), 101),
                             ("mip6-encap.pcap", build_encap(), 1)]:
        path = os.path.join(HERE, fname)
        if link == 101:
            wrpcap(path, cap.frames, linktype=101)
        else:
            wrpcap(path, cap.frames)
        out[fname] = {"linktype": link, "frames": len(cap.frames), "expected": cap.expected}
        if fname == "mip6-eth.pcap":
            wrpcapng(os.path.join(HERE, "mip6-eth.pcapng"), cap.frames)
            out["mip6-eth.pcapng"] = {"linktype": link, "frames": len(cap.frames), "expected": cap.expected,
                                      "same_as": "mip6-eth.pcap"}
    for f in out:
        size = os.path.getsize(os.path.join(HERE, f))
        assert size < 8192, (f, size)
    with open(os.path.join(HERE, "expected.json"), "w") as fh:
        json.dump(out, fh, indent=1, sort_keys=True)
        fh.write("\n")
    print(", ".join("%s: %d frames" % (f, out[f]["frames"]) for f in out))


if __name__ == "__main__":
    main()
