#!/usr/bin/python3
"""Golden wire vectors for package mip6, built with an independent
implementation (Debian's python3-scapy) and cross-checked three ways:

  1. every Mobility Header message and mobility option is assembled twice,
     once by scapy and once by hand in this script straight from the RFC
     diagrams (the rfc_* functions below); the two must give the same bytes;
  2. every checksum is recomputed here by a small ones-complement function
     with the pseudo-header RFC 6275 §6.1.1 asks for (home address from the
     Home Address option as source, final destination from the type 2
     routing header as destination) and compared with scapy's;
  3. the full packets are dissected by tshark (gen.py --tshark), whose text
     is committed in tshark/ and read by a person; README.md lists where
     tshark disagrees with the RFC.

Scapy is used only as a builder; where its defaults are wrong for RFC 6275
(Nonce Indices length, Binding Authorization Data length, RA preference,
HAAD R bit, BU/BA default flags, ...) the override is marked "SCAPY
OVERRIDE" in a comment. Where scapy has no class (RFC 5555 options, the RFC
5648 Binding Identifier), the option is built by hand from the RFC diagram
and marked "NO SCAPY CLASS".

Run from anywhere:  /usr/bin/python3 gen.py [--tshark]
Output: vectors.txt beside this file (and tshark/*.txt with --tshark).
The output is deterministic: rerunning gives identical files.
"""

import hashlib
import hmac
import ipaddress
import json
import os
import struct
import subprocess
import sys
import tempfile

from scapy.all import (IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrRouting, HAO,
                       MIP6MH_BRR, MIP6MH_HoTI, MIP6MH_CoTI, MIP6MH_HoT,
                       MIP6MH_CoT, MIP6MH_BU, MIP6MH_BA, MIP6MH_BE,
                       MIP6OptBRAdvice, MIP6OptAltCoA, MIP6OptNonceIndices,
                       MIP6OptBindingAuthData, MIP6OptMobNetPrefix,
                       MIP6OptMNID, MIP6OptMsgAuth, MIP6OptReplayProtection,
                       MIP6OptUnknown, PadN, ICMPv6HAADRequest,
                       ICMPv6HAADReply, ICMPv6MPSol, ICMPv6MPAdv, ICMPv6ND_RA,
                       ICMPv6NDOptPrefixInfo, ICMPv6NDOptAdvInterval,
                       ICMPv6NDOptHAInfo, ICMPv6NDOptRDNSS, ICMPv6NDOptMTU,
                       ICMPv6NDOptSrcLLAddr, Ether, Raw, wrpcap, conf)

conf.verb = 0
HERE = os.path.dirname(os.path.abspath(__file__))

# ---------------------------------------------------------------------------
# Addresses (documentation ranges, RFC 3849 / RFC 5737).
HOA = "2001:db8:1::100"        # mobile node's home address, home link 2001:db8:1::/64
HA = "2001:db8:1::1"           # home agent
HA2 = "2001:db8:1::2"          # a second home agent (HAAD reply)
COA = "2001:db8:2::100"        # care-of address
COA2 = "2001:db8:2::200"       # alternate care-of address
CN = "2001:db8:3::3"           # correspondent node
# Home-agents anycast address of 2001:db8:1::/64: RFC 2526 §2, subnet
# anycast ID 126 with the EUI-64 interface identifier format,
# interface identifier fdff:ffff:ffff:fffe.
HA_ANYCAST = "2001:db8:1:0:fdff:ffff:ffff:fffe"
ROUTER_LL = "fe80::1"
ALL_NODES = "ff02::1"
MNP = ("2001:db8:100::", 48)   # mobile network prefix (NEMO)
HOA4 = "192.0.2.100"
COA4 = "198.51.100.10"
HA4 = "203.0.113.1"

# Return routability inputs (RFC 6275 §5.2): fixed so that the tokens and
# the Binding Authorization Data authenticator below are reproducible.
KCN = bytes(range(0x40, 0x40 + 20))      # §5.2.1: 20 octets
HOME_NONCE = bytes.fromhex("1122334455667788")
CAREOF_NONCE = bytes.fromhex("99aabbccddeeff00")
HOME_NONCE_INDEX = 0x0102
CAREOF_NONCE_INDEX = 0x0304
HOME_COOKIE = bytes.fromhex("0123456789abcdef")
CAREOF_COOKIE = bytes.fromhex("fedcba9876543210")
# RFC 4285 MN-HA security association.
MNHA_KEY = bytes(range(0x10, 0x20))      # RFC 4285 §5.1: 16 octets
MNHA_SPI = 0x00000100                    # SPIs 0-255 are reserved (§5.1)
NAI = b"mn1@example.com"
MESG_ID_TS = 0xE7A1B2C300000000          # an NTP timestamp (RFC 4285 §6)


def a16(addr):
    return ipaddress.IPv6Address(addr).packed


def a4(addr):
    return ipaddress.IPv4Address(addr).packed


def fmt6(b):
    """Formats 16 octets as Go's netip.Addr.String does: RFC 5952, and an
    IPv4-mapped address as ::ffff:a.b.c.d (RFC 4291 §2.5.5.2)."""
    a = ipaddress.IPv6Address(bytes(b))
    if a.ipv4_mapped is not None:
        return "::ffff:" + str(a.ipv4_mapped)
    return str(a)


# ---------------------------------------------------------------------------
# Independent checksum: RFC 1071 ones-complement sum over the RFC 8200 §8.1
# pseudo-header (source, destination, 32-bit upper-layer length, 3 zero
# octets, next header) and the upper-layer data.

def ones_sum(data):
    if len(data) % 2:
        data += b"\x00"
    s = 0
    for i in range(0, len(data), 2):
        s += (data[i] << 8) | data[i + 1]
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def pseudo_checksum(src, dst, proto, payload):
    ph = a16(src) + a16(dst) + struct.pack("!I", len(payload)) + b"\x00\x00\x00" + bytes([proto])
    return (~ones_sum(ph + payload)) & 0xFFFF


def verify_pseudo(src, dst, proto, payload):
    ph = a16(src) + a16(dst) + struct.pack("!I", len(payload)) + b"\x00\x00\x00" + bytes([proto])
    return ones_sum(ph + payload) == 0xFFFF


def set_csum(buf, off, value):
    return buf[:off] + struct.pack("!H", value) + buf[off + 2:]


def mh_with_checksum(mh, src, dst):
    """Returns mh with its Checksum field (octets 4-5, §6.1.1) computed."""
    mh = set_csum(mh, 4, 0)
    return set_csum(mh, 4, pseudo_checksum(src, dst, 135, mh))


# ---------------------------------------------------------------------------
# Hand assembly from the RFC diagrams. Offsets in the comments are octets
# from the start of the Mobility Header (the Payload Proto octet).

def pad_bytes(n):
    """RFC 6275 §6.2.2/§6.2.3: Pad1 is a single zero octet; PadN is type 1,
    length n-2, n-2 zero octets."""
    if n == 0:
        return b""
    if n == 1:
        return b"\x00"
    return bytes([1, n - 2]) + b"\x00" * (n - 2)


def layout(start, opts, end_at_auth=False):
    """Places options after a message body ending at offset start.

    opts: list of (tlv, x, y): the option bytes and its xn+y alignment
    (x == 0: none). Padding goes immediately before the option that needs
    it (Pad1 for one octet, PadN otherwise), and a final Pad1/PadN makes the
    header a multiple of 8 octets (§6.2: "the length of the Mobility Header
    MUST be a multiple of 8 octets" via Header Len, §6.1.1).
    Returns (bytes, [(offset, tlv)...])."""
    out = b""
    pos = start
    placed = []
    for tlv, x, y in opts:
        if x:
            d = (y - pos) % x
            out += pad_bytes(d)
            pos += d
        placed.append((pos, tlv))
        out += tlv
        pos += len(tlv)
    d = (-pos) % 8
    if d and end_at_auth:
        raise ValueError("authentication option must end the header")
    out += pad_bytes(d)
    return out, placed


def rfc_mh(mhtype, body, options=b""):
    """§6.1.1: Payload Proto (59), Header Len (8-octet units after the
    first 8), MH Type, Reserved, Checksum (zero here), Message Data."""
    total = 6 + len(body) + len(options)
    assert total % 8 == 0, total
    return bytes([59, total // 8 - 1, mhtype, 0]) + b"\x00\x00" + body + options


# Mobility options, one function per RFC diagram: (bytes, x, y).
def opt_bra(units):                 # RFC 6275 §6.2.4, 2n
    return struct.pack("!BBH", 2, 2, units), 2, 0


def opt_altcoa(addr):               # RFC 6275 §6.2.5, 8n+6
    return struct.pack("!BB", 3, 16) + a16(addr), 8, 6


def opt_nonce(hni, coni):           # RFC 6275 §6.2.6, 2n, length 4
    return struct.pack("!BBHH", 4, 4, hni, coni), 2, 0


def opt_bad(auth12):                # RFC 6275 §6.2.7, 8n+2, length 12
    assert len(auth12) == 12
    return struct.pack("!BB", 5, 12) + auth12, 8, 2


def opt_mnp(prefix, plen):          # RFC 3963 §4.3, 8n+4, length 18
    return struct.pack("!BBBB", 6, 18, 0, plen) + a16(prefix), 8, 4


def opt_mnid(subtype, ident):       # RFC 4283 §3, no alignment
    return struct.pack("!BBB", 8, 1 + len(ident), subtype) + ident, 0, 0


def opt_auth(subtype, spi, data):   # RFC 4285 §5, 4n+1 (see README)
    return struct.pack("!BBBI", 9, 5 + len(data), subtype, spi) + data, 4, 1


def opt_mesgid(ts):                 # RFC 4285 §6, 8n+2, length 8
    return struct.pack("!BBQ", 10, 8, ts), 8, 2


# NO SCAPY CLASS: RFC 5555 and RFC 5648 options, from the RFC diagrams.
def opt_ipv4hoa(plen, p, addr):     # RFC 5555 §3.1.1, 4n, length 6
    # Prefix-len (6 bits) | P (1 bit) | Reserved (9 bits) | IPv4 home address
    word = (plen << 10) | ((1 if p else 0) << 9)
    return struct.pack("!BBH", 29, 6, word) + a4(addr), 4, 0


def opt_ipv4ack(status, plen, addr):  # RFC 5555 §3.2.1, 4n, length 6
    # Status (8) | Pref-len (6) | Res (2) | IPv4 home address
    return struct.pack("!BBBB", 30, 6, status, plen << 2) + a4(addr), 4, 0


def opt_natd(f, refresh):           # RFC 5555 §3.2.2, 4n, length 6
    # F (1 bit) | Reserved (15 bits) | Refresh time (32 bits, seconds)
    return struct.pack("!BBHI", 31, 6, 0x8000 if f else 0, refresh), 4, 0


def opt_ipv4coa(addr):              # RFC 5555 §3.1.2, 4n, length 6
    # Reserved (16 bits) | IPv4 Care-of address
    return struct.pack("!BBH", 32, 6, 0) + a4(addr), 4, 0


def opt_bid(bid, status, h, coa=None):  # RFC 5648 §6.1 (see README)
    # Binding ID (16) | Status (8) | H (1) | BID-PRI/Reserved (7) | [CoA]
    data = struct.pack("!HBB", bid, status, 0x80 if h else 0)
    if coa is None:
        return struct.pack("!BB", 35, len(data)) + data, 2, 0
    data += a4(coa) if "." in coa else a16(coa)
    # With a care-of address: 8n+2, which puts the address on an 8-octet
    # boundary (and is 2n as well).
    return struct.pack("!BB", 35, len(data)) + data, 8, 2


def opt_raw(t, data):
    return struct.pack("!BB", t, len(data)) + data, 0, 0


# ---------------------------------------------------------------------------
# Return routability and RFC 4285 crypto (RFC 6275 §5.2.5, §6.2.7; RFC 4285
# §5.1), so that the authenticators in the vectors are real ones.

def hmac_sha1(key, data):
    return hmac.new(key, data, hashlib.sha1).digest()


HOME_KEYGEN = hmac_sha1(KCN, a16(HOA) + HOME_NONCE + b"\x00")[:8]    # §5.2.5
CAREOF_KEYGEN = hmac_sha1(KCN, a16(COA) + CAREOF_NONCE + b"\x01")[:8]  # §5.2.5
KBM = hashlib.sha1(HOME_KEYGEN + CAREOF_KEYGEN).digest()             # §5.2.5


def bad_authenticator(mh, auth_off, coa, cn):
    """§6.2.7: First(96, HMAC_SHA1(Kbm, care-of address | correspondent |
    MH Data)), MH Data = the MH without the Authenticator field, checksum
    taken as zero."""
    mh = set_csum(mh, 4, 0)
    data = mh[:auth_off] + mh[auth_off + 12:]
    return hmac_sha1(KBM, a16(coa) + a16(cn) + data)[:12]


def mnha_authenticator(mh, spi_end, coa, hoa):
    """RFC 4285 §5.1: First(96, HMAC_SHA1(MN-HA key, care-of address | home
    address | MH Data)), MH Data = the MH up to and including the SPI of the
    authentication option, checksum taken as zero."""
    mh = set_csum(mh, 4, 0)
    return hmac_sha1(MNHA_KEY, a16(coa) + a16(hoa) + mh[:spi_end])[:12]


# ---------------------------------------------------------------------------
# JSON helpers for the expected decode (what the RFC says the bytes mean).

BU_FLAG_BITS = [("A", 0x8000), ("H", 0x4000), ("L", 0x2000), ("K", 0x1000),
                ("M", 0x0800), ("R", 0x0400), ("P", 0x0200), ("F", 0x0100),
                ("T", 0x0080)]
BA_FLAG_BITS = [("K", 0x80), ("R", 0x40), ("P", 0x20), ("T", 0x10)]


def letters(bits, table):
    return "".join(n for n, b in table if bits & b)


def bu_bits(s):
    return sum(b for n, b in BU_FLAG_BITS if n in s)


def ba_bits(s):
    return sum(b for n, b in BA_FLAG_BITS if n in s)


STATUS_NAMES = {0: "accepted", 1: "accepted-prefix-discovery-necessary",
                128: "reason-unspecified", 129: "administratively-prohibited",
                135: "sequence-number-out-of-window", 144: "mipv6-id-mismatch",
                145: "mipv6-mesg-id-required", 146: "mipv6-auth-fail",
                174: "invalid-care-of-address"}


def j_opt(tlv):
    """Decodes one option TLV for the JSON, by the RFC layout (independent
    of the builders above: reads bytes back)."""
    t = tlv[0]
    d = tlv[2:2 + tlv[1]]
    if t == 2:
        u = struct.unpack("!H", d)[0]
        return {"type": "BindingRefreshAdvice", "code": 2, "refresh_units": u, "refresh_s": 4 * u}
    if t == 3:
        return {"type": "AlternateCareofAddress", "code": 3, "address": fmt6(d)}
    if t == 4:
        h, c = struct.unpack("!HH", d)
        return {"type": "NonceIndices", "code": 4, "home_nonce_index": h, "careof_nonce_index": c}
    if t == 5:
        return {"type": "BindingAuthorizationData", "code": 5, "authenticator": d.hex()}
    if t == 6:
        return {"type": "MobileNetworkPrefix", "code": 6, "prefix": "%s/%d" % (ipaddress.IPv6Address(d[2:]), d[1])}
    if t == 8:
        return {"type": "MNIdentifier", "code": 8, "subtype": d[0], "identifier": d[1:].decode()}
    if t == 9:
        st, spi = struct.unpack("!BI", d[:5])
        return {"type": "Authentication", "code": 9, "subtype": st, "spi": spi, "auth_data": d[5:].hex()}
    if t == 10:
        return {"type": "ReplayProtection", "code": 10, "timestamp": "0x%016x" % struct.unpack("!Q", d)[0]}
    if t == 29:
        w = struct.unpack("!H", d[:2])[0]
        return {"type": "IPv4HomeAddress", "code": 29, "prefix_len": w >> 10, "p": bool(w & 0x200),
                "address": str(ipaddress.IPv4Address(d[2:]))}
    if t == 30:
        return {"type": "IPv4AddressAck", "code": 30, "status": d[0], "prefix_len": d[1] >> 2,
                "address": str(ipaddress.IPv4Address(d[2:]))}
    if t == 31:
        f, rt = struct.unpack("!HI", d)
        return {"type": "NATDetection", "code": 31, "f": bool(f & 0x8000), "refresh_s": rt}
    if t == 32:
        return {"type": "IPv4CareofAddress", "code": 32, "address": str(ipaddress.IPv4Address(d[2:]))}
    if t == 35:
        bid, st, fl = struct.unpack("!HBB", d[:4])
        o = {"type": "BindingIdentifier", "code": 35, "bid": bid, "status": st, "h": bool(fl & 0x80)}
        if len(d) == 8:
            o["careof"] = str(ipaddress.IPv4Address(d[4:]))
        elif len(d) == 20:
            o["careof"] = fmt6(d[4:])
        return o
    return {"type": "Raw", "code": t, "data": d.hex()}


def walk_options(mh, start):
    """Independent TLV walk of the options area, skipping Pad1/PadN.
    Returns ([(offset, tlv)], padding) where padding lists (offset, kind,
    total length)."""
    out, pads = [], []
    i = start
    end = (mh[1] + 1) * 8
    while i < end:
        if mh[i] == 0:
            pads.append((i, "Pad1", 1))
            i += 1
            continue
        n = 2 + mh[i + 1]
        if mh[i] == 1:
            pads.append((i, "PadN", n))
        else:
            out.append((i, mh[i:i + n]))
        i += n
    assert i == end, (i, end)
    return out, pads


MH_BODY_LEN = {0: 2, 1: 10, 2: 10, 3: 18, 4: 18, 5: 6, 6: 6, 7: 18}
MH_NAMES = ["BRR", "HoTI", "CoTI", "HoT", "CoT", "BU", "BA", "BE"]


def j_mh(mh, src, dst):
    """Expected decode of a Mobility Header, read back from the bytes by
    the RFC 6275 §6.1 layouts."""
    t = mh[2]
    o = {"payload_proto": mh[0], "header_len": mh[1], "mh_type": MH_NAMES[t] if t < 8 else "MH(%d)" % t,
         "mh_type_code": t, "checksum": "0x%04x" % struct.unpack("!H", mh[4:6])[0],
         "pseudo_src": src, "pseudo_dst": dst,
         "checksum_ok": verify_pseudo(src, dst, 135, mh[:(mh[1] + 1) * 8])}
    b = mh[6:]
    if t in (1, 2):
        o["cookie"] = b[2:10].hex()
    elif t in (3, 4):
        o["nonce_index"] = struct.unpack("!H", b[0:2])[0]
        o["cookie"] = b[2:10].hex()
        o["keygen_token"] = b[10:18].hex()
    elif t == 5:
        seq, fl, lt = struct.unpack("!HHH", b[:6])
        o.update(sequence=seq, flags=letters(fl, BU_FLAG_BITS), lifetime_units=lt, lifetime_s=4 * lt)
    elif t == 6:
        st, fl, seq, lt = struct.unpack("!BBHH", b[:6])
        o.update(status=st, status_name=STATUS_NAMES.get(st, "status(%d)" % st),
                 flags=letters(fl, BA_FLAG_BITS), sequence=seq, lifetime_units=lt, lifetime_s=4 * lt)
    elif t == 7:
        o.update(status=b[0], home_address=fmt6(b[2:18]))
    if t in MH_BODY_LEN:
        opts, pads = walk_options(mh, 6 + MH_BODY_LEN[t])
        o["options"] = [j_opt(tlv) for _, tlv in opts]
        o["option_offsets"] = [off for off, _ in opts]
        o["padding"] = ["%s@%d/%d" % (k, off, n) for off, k, n in pads]
    else:
        o["data"] = mh[6:].hex()
    return o


# ---------------------------------------------------------------------------
# Vector store.

VECTORS = []


def add(name, layer, data, expect, note="", canonical=True, src=None, dst=None, error=None):
    v = {"name": name, "layer": layer, "hex": bytes(data).hex(), "expect": expect,
         "note": note, "canonical": canonical}
    if src:
        v["src"], v["dst"] = src, dst
    if error:
        v["error"] = error
    for w in VECTORS:
        assert w["name"] != name, name
    VECTORS.append(v)
    return v


def same(a, b, what):
    a, b = bytes(a), bytes(b)
    if a != b:
        raise SystemExit("MISMATCH %s\n scapy %s\n rfc   %s" % (what, a.hex(), b.hex()))


def scapy_mh(pkt, src, dst):
    """Builds pkt under an IPv6 header so that scapy computes its own MH
    checksum with src/dst, and returns the MH bytes."""
    full = bytes(IPv6(src=src, dst=dst) / pkt)
    return full[40:]


def check_mh(name, scapy_pkt, rfc_bytes, src, dst):
    """scapy and hand assembly agree, and scapy's checksum equals ours."""
    s = scapy_mh(scapy_pkt, src, dst)
    r = mh_with_checksum(rfc_bytes, src, dst)
    same(s, r, name)
    return r


# ---------------------------------------------------------------------------
# Mobility Header vectors (layer mh). src/dst are the pseudo-header
# addresses of §6.1.1 (already substituted: HoA for a BU with HAO, the RH2
# home address for a BA with RH2).

def mh_vectors():
    # BRR, §6.1.2: Reserved (16) only; 8 octets, Header Len 0.
    body = b"\x00\x00"
    mh = check_mh("brr", MIP6MH_BRR(res=0, res2=0), rfc_mh(0, body), CN, HOA)
    add("mh-brr", "mh", mh, j_mh(mh, CN, HOA), "BRR from a CN to the home address, §6.1.2", src=CN, dst=HOA)

    # HoTI / CoTI, §6.1.3-4: Reserved (16), Init Cookie (64).
    body = b"\x00\x00" + HOME_COOKIE
    mh = check_mh("hoti", MIP6MH_HoTI(res=0, cookie=HOME_COOKIE), rfc_mh(1, body), HOA, CN)
    add("mh-hoti", "mh", mh, j_mh(mh, HOA, CN), "HoTI, §6.1.3", src=HOA, dst=CN)
    body = b"\x00\x00" + CAREOF_COOKIE
    mh = check_mh("coti", MIP6MH_CoTI(res=0, cookie=CAREOF_COOKIE), rfc_mh(2, body), COA, CN)
    add("mh-coti", "mh", mh, j_mh(mh, COA, CN), "CoTI, §6.1.4", src=COA, dst=CN)

    # HoT / CoT, §6.1.5-6: Nonce Index (16), Init Cookie (64), Keygen Token (64).
    body = struct.pack("!H", HOME_NONCE_INDEX) + HOME_COOKIE + HOME_KEYGEN
    mh = check_mh("hot", MIP6MH_HoT(res=0, index=HOME_NONCE_INDEX, cookie=HOME_COOKIE, token=HOME_KEYGEN),
                  rfc_mh(3, body), CN, HOA)
    add("mh-hot", "mh", mh, j_mh(mh, CN, HOA),
        "HoT, §6.1.5; keygen token = First(64, HMAC_SHA1(Kcn, HoA|nonce|0)), Kcn=%s nonce=%s (§5.2.5)"
        % (KCN.hex(), HOME_NONCE.hex()), src=CN, dst=HOA)
    body = struct.pack("!H", CAREOF_NONCE_INDEX) + CAREOF_COOKIE + CAREOF_KEYGEN
    mh = check_mh("cot", MIP6MH_CoT(res=0, index=CAREOF_NONCE_INDEX, cookie=CAREOF_COOKIE, token=CAREOF_KEYGEN),
                  rfc_mh(4, body), CN, COA)
    add("mh-cot", "mh", mh, j_mh(mh, CN, COA),
        "CoT, §6.1.6; keygen token = First(64, HMAC_SHA1(Kcn, CoA|nonce|1)), nonce=%s" % CAREOF_NONCE.hex(),
        src=CN, dst=COA)

    # BU, §6.1.7: Sequence (16), A H L K M R P F T Reserved (16 bits total), Lifetime (16, 4 s units).
    def bu(name, seq, flags, units, opts=(), note="", src=HOA, dst=HA, scapy_opts=None, autopad=True,
           canonical=True, end_at_auth=False):
        body = struct.pack("!HHH", seq, bu_bits(flags), units)
        ob, placed = layout(12, list(opts), end_at_auth)
        rfc = rfc_mh(5, body, ob)
        # scapy's FlagsField("flags", "KHA", 7, "PRMKLHA") is the top 7 bits
        # of the 16-bit word, listed LSB first; its default "KHA" is
        # SCAPY OVERRIDE-d with the flags of each vector; the F and T bits
        # (RFC 5555, RFC 5845) are the top two bits of scapy's "reserved".
        fl = bu_bits(flags)
        sp = MIP6MH_BU(res=0, seq=seq, flags=fl >> 9, reserved=fl & 0x1FF, mhtime=units,
                       options=scapy_opts if scapy_opts is not None else [], autopad=1 if autopad else 0)
        mh = check_mh(name, sp, rfc, src, dst)
        add(name, "mh", mh, j_mh(mh, src, dst), note, canonical=canonical, src=src, dst=dst)
        return mh, placed

    bu("mh-bu-home", 1, "AH", 15, (),
       "home registration: A+H, lifetime 15 units = 60 s; no options, so PadN(2 data octets) pads 12 -> 16")
    for f in "AHLKMRPFT":
        bu("mh-bu-flag-%s" % f, 0x100 + ord(f), f, 1, (), "only the %s flag set (%s)" % (f, {
            "A": "RFC 6275 §6.1.7 Acknowledge", "H": "RFC 6275 §6.1.7 Home Registration",
            "L": "RFC 6275 §6.1.7 Link-Local Address Compatibility",
            "K": "RFC 6275 §6.1.7 Key Management Mobility Capability",
            "M": "RFC 5380 MAP registration", "R": "RFC 3963 §4.1 Mobile Router",
            "P": "RFC 5213 §8.1 Proxy Registration", "F": "RFC 5555 Forcing UDP encapsulation",
            "T": "RFC 5845 TLV-header format"}[f]))
    bu("mh-bu-ahlkr", 0xFFFF, "AHLKR", 0xFFFF, (),
       "A H L K R, sequence 65535, lifetime 65535 units = 262140 s (MaxLifetime)")
    bu("mh-bu-dereg", 7, "AH", 0, (), "deregistration: lifetime 0 (§11.7.2)")

    # Correspondent registration with return routability options (§6.2.5-7):
    # AltCoA 8n+6, Nonce Indices 2n, BAD 8n+2 (must be last, §6.2.7).
    name = "mh-bu-cn-rr"
    seq, flags, units = 0x1234, "A", 105  # 420 s = MAX_RR_BINDING_LIFETIME
    alt = opt_altcoa(COA2)
    ni = opt_nonce(HOME_NONCE_INDEX, CAREOF_NONCE_INDEX)
    bad0 = opt_bad(b"\x00" * 12)
    ob, placed = layout(12, [alt, ni, bad0])
    rfc = rfc_mh(5, struct.pack("!HHH", seq, bu_bits(flags), units), ob)
    auth_off = placed[2][0] + 2
    # The care-of address that will be registered is the AltCoA (§6.2.7).
    authr = bad_authenticator(rfc, auth_off, COA2, CN)
    rfc = rfc[:auth_off] + authr + rfc[auth_off + 12:]
    sp = MIP6MH_BU(res=0, seq=seq, flags=bu_bits(flags) >> 9, mhtime=units, options=[
        MIP6OptAltCoA(acoa=COA2),
        MIP6OptNonceIndices(olen=4, hni=HOME_NONCE_INDEX, coni=CAREOF_NONCE_INDEX),  # SCAPY OVERRIDE olen 16 -> 4 (§6.2.6)
        MIP6OptBindingAuthData(olen=12, authenticator=int.from_bytes(authr, "big"))])  # SCAPY OVERRIDE olen 16 -> 12 (§6.2.7)
    mh = check_mh(name, sp, rfc, HOA, CN)
    e = j_mh(mh, HOA, CN)
    add(name, "mh", mh, e,
        "BU to a CN (§6.1.7) from the home address (HAO in the packet), with AltCoA (8n+6), Nonce Indices (2n), "
        "BAD (8n+2, last). Authenticator = First(96, HMAC_SHA1(Kbm, AltCoA|CN|MH without authenticator, "
        "checksum 0)), Kbm = SHA1(home keygen token|care-of keygen token) of mh-hot/mh-cot "
        "(the care-of keygen token was made for %s; §5.2.5 tokens are per address, this vector only fixes "
        "bytes), Kbm=%s" % (COA, KBM.hex()), src=HOA, dst=CN)

    # NEMO, RFC 3963 §4.1 (R flag) with Mobile Network Prefix options, 8n+4.
    bu("mh-bu-nemo-mnp", 2, "AHR", 75, [opt_mnp(*MNP), opt_mnp("2001:db8:101::", 64)],
       "RFC 3963 mobile router BU with two MNP options (8n+4): the first sits at offset 12 without "
       "padding, the second needs PadN(2 data octets)",
       scapy_opts=[MIP6OptMobNetPrefix(plen=48, prefix=MNP[0]), MIP6OptMobNetPrefix(plen=64, prefix="2001:db8:101::")])

    # RFC 4285 authentication: MN-ID (RFC 4283, no alignment), Mesg-ID
    # (8n+2), MN-HA Authentication (4n+1, last, ends the header).
    name = "mh-bu-auth"
    seq, flags, units = 0x0042, "AHK", 150
    mnid = opt_mnid(1, NAI)
    mesg = opt_mesgid(MESG_ID_TS)
    auth0 = opt_auth(1, MNHA_SPI, b"\x00" * 12)
    ob, placed = layout(12, [mnid, mesg, auth0], end_at_auth=True)
    rfc = rfc_mh(5, struct.pack("!HHH", seq, bu_bits(flags), units), ob)
    spi_end = placed[2][0] + 7
    authr = mnha_authenticator(rfc, spi_end, COA, HOA)
    rfc = rfc[:spi_end] + authr
    sp = MIP6MH_BU(res=0, seq=seq, flags=bu_bits(flags) >> 9, mhtime=units, options=[
        MIP6OptMNID(subtype=1, id=NAI), MIP6OptReplayProtection(timestamp=MESG_ID_TS),
        MIP6OptMsgAuth(subtype=1, mspi=MNHA_SPI, authdata=authr)])
    mh = check_mh(name, sp, rfc, HOA, HA)
    add(name, "mh", mh, j_mh(mh, HOA, HA),
        "RFC 4285 BU: MN-ID NAI %s (RFC 4283 subtype 1), Mesg-ID (8n+2), MN-HA auth option (subtype 1, 4n+1) "
        "last, ending exactly at the 8-octet boundary. auth data = First(96, HMAC_SHA1(key, CoA|HoA|MH up to "
        "and including the SPI, checksum 0)), key=%s, CoA=%s" % (NAI.decode(), MNHA_KEY.hex(), COA),
        src=HOA, dst=HA)

    # DSMIPv6, RFC 5555: IPv4 home address + IPv4 care-of address (4n).
    bu("mh-bu-dsmip", 3, "AH", 100, [opt_ipv4hoa(32, False, HOA4), opt_ipv4coa(COA4)],
       "RFC 5555 §3.1: IPv4 Home Address (prefix-len 32, P=0) and IPv4 Care-of Address options (4n). "
       "NO SCAPY CLASS: options built by hand from the RFC diagrams",
       scapy_opts=[MIP6OptUnknown(otype=29, odata=opt_ipv4hoa(32, False, HOA4)[0][2:]),
                   MIP6OptUnknown(otype=32, odata=opt_ipv4coa(COA4)[0][2:]), PadN(optdata=b"\x00\x00")],
       autopad=False)
    bu("mh-bu-dsmip-request", 4, "AHF", 100, [opt_ipv4hoa(24, True, "0.0.0.0")],
       "RFC 5555 §3.1.1: dynamic IPv4 home address request (0.0.0.0, prefix-len 24, P set) and the F flag"
       " (force UDP encapsulation); NO SCAPY CLASS",
       scapy_opts=[MIP6OptUnknown(otype=29, odata=opt_ipv4hoa(24, True, "0.0.0.0")[0][2:]),
                   PadN(optdata=b"\x00" * 2)], autopad=False)

    # RFC 5648 Binding Identifier: without, with IPv4 and with IPv6 CoA.
    for nm, bid, coa, note in [("mh-bu-bid", 1, None, "length 4, no care-of address"),
                               ("mh-bu-bid-v4", 2, COA4, "length 8, IPv4 care-of address, at 8n+2"),
                               ("mh-bu-bid-v6", 3, COA2, "length 20, IPv6 care-of address, at 8n+2")]:
        o = opt_bid(bid, 0, True, coa)
        ob, placed = layout(12, [o])
        pre = ob[:placed[0][0] - 12]
        tail = ob[placed[0][0] - 12 + len(o[0]):]
        bu(nm, 10 + bid, "AH", 60, [o], "RFC 5648 §6.1 Binding Identifier with H set, " + note +
           "; NO SCAPY CLASS",
           scapy_opts=(([PadN(optdata=pre[2:])] if pre else []) + [MIP6OptUnknown(otype=35, odata=o[0][2:])] +
                       ([PadN(optdata=tail[2:])] if tail else [])),
           autopad=False)

    # Unknown option kept raw (§6.2.1: receivers skip unknown options).
    o = opt_raw(18, bytes.fromhex("00deadbeef"))
    ob, _ = layout(12, [o])
    bu("mh-bu-unknown-opt", 5, "AH", 60, [o],
       "unknown mobility option type 18 (RFC 5096 experimental) with 5 data octets, kept raw",
       scapy_opts=[MIP6OptUnknown(otype=18, odata=o[0][2:]), PadN(optdata=b"\x00" * 3)], autopad=False)

    # BA, §6.1.8: Status (8), K R P T Reserved (8), Sequence (16), Lifetime (16).
    def ba(name, status, flags, seq, units, opts=(), note="", src=HA, dst=HOA, scapy_opts=None, autopad=True):
        body = struct.pack("!BBHH", status, ba_bits(flags), seq, units)
        ob, _ = layout(12, list(opts))
        rfc = rfc_mh(6, body, ob)
        fl = ba_bits(flags)
        # SCAPY OVERRIDE: default flags "K"; FlagsField "PRK" is the top 3 bits.
        sp = MIP6MH_BA(res=0, status=status, flags=fl >> 5, res2=fl & 0x1F, seq=seq, mhtime=units,
                       options=scapy_opts if scapy_opts is not None else [], autopad=1 if autopad else 0)
        mh = check_mh(name, sp, rfc, src, dst)
        add(name, "mh", mh, j_mh(mh, src, dst), note, src=src, dst=dst)
        return mh

    ba("mh-ba-accepted-bra", 0, "K", 1, 15, [opt_bra(12)],
       "BA status 0, K, lifetime 60 s, Binding Refresh Advice 12 units = 48 s (§6.2.4, 2n, offset 12)",
       scapy_opts=[MIP6OptBRAdvice(rinter=12)])
    ba("mh-ba-135", 135, "", 0x0100, 0, (),
       "BA status 135 sequence number out of window: Sequence carries the last accepted number (§9.5.1)")
    ba("mh-ba-144", 144, "", 0x42, 0, (), "RFC 4285 MIPV6-ID-MISMATCH")
    ba("mh-ba-145", 145, "", 0x42, 0, (), "RFC 4285 MIPV6-MESG-ID-REQD")
    ba("mh-ba-146", 146, "", 0x42, 0, (), "RFC 4285 MIPV6-AUTH-FAIL")
    ba("mh-ba-kr", 0, "KR", 2, 75, (), "BA with K and R (RFC 3963 §4.2) flags")
    ba("mh-ba-dsmip", 0, "", 3, 100, [opt_ipv4ack(0, 32, HOA4), opt_natd(True, 110)],
       "RFC 5555 §3.2: IPv4 Address Acknowledgement (success, pref-len 32) and NAT detection (F set, refresh "
       "110 s); NO SCAPY CLASS",
       scapy_opts=[MIP6OptUnknown(otype=30, odata=opt_ipv4ack(0, 32, HOA4)[0][2:]),
                   MIP6OptUnknown(otype=31, odata=opt_natd(True, 110)[0][2:]), PadN(optdata=b"\x00\x00")],
       autopad=False)
    ba("mh-ba-dsmip-fail", 0, "", 4, 100, [opt_ipv4ack(132, 0, "0.0.0.0")],
       "RFC 5555 §3.2.1 IPv4 Address Acknowledgement status 132 (dynamic IPv4 home address not available)",
       scapy_opts=[MIP6OptUnknown(otype=30, odata=opt_ipv4ack(132, 0, "0.0.0.0")[0][2:]),
                   PadN(optdata=b"\x00" * 2)], autopad=False)

    # BE, §6.1.9: Status (8), Reserved (8), Home Address (128).
    for st in (1, 2):
        body = struct.pack("!BB", st, 0) + a16(HOA)
        mh = check_mh("be%d" % st, MIP6MH_BE(status=st, ha=HOA), rfc_mh(7, body), CN, COA)
        add("mh-be-%d" % st, "mh", mh, j_mh(mh, CN, COA),
            "Binding Error status %d (%s), §6.1.9" % (st, "unknown binding for HAO" if st == 1 else
                                                       "unrecognized MH type"), src=CN, dst=COA)

    # Unknown MH type (kept whole as a raw message).
    mh = mh_with_checksum(bytes([59, 1, 200, 0, 0, 0]) + bytes(range(10)), HOA, CN)
    add("mh-unknown-type", "mh", mh, j_mh(mh, HOA, CN),
        "MH type 200 (unassigned): a receiver answers BE status 2 (§9.2); a codec keeps the data raw",
        src=HOA, dst=CN)

    # Wrong checksum (one bit off).
    good = VECTORS[[v["name"] for v in VECTORS].index("mh-bu-home")]
    mh = bytearray(bytes.fromhex(good["hex"]))
    mh[5] ^= 0x01
    mh = bytes(mh)
    e = j_mh(mh, HOA, HA)
    assert not e["checksum_ok"]
    add("mh-bu-bad-checksum", "mh", mh, e, "mh-bu-home with the low bit of the checksum flipped",
        src=HOA, dst=HA)

    # Non-canonical but valid: padding spread differently (two PadN where
    # one would do, Pad1 runs). Parses to the same as mh-bu-home.
    mh = mh_with_checksum(rfc_mh(5, struct.pack("!HHH", 1, bu_bits("AH"), 15), b"\x00\x00\x00\x00"), HOA, HA)
    add("mh-bu-pad1-run", "mh", mh, j_mh(mh, HOA, HA),
        "mh-bu-home padded with four Pad1 instead of one PadN: valid (§6.2.2), not canonical",
        canonical=False, src=HOA, dst=HA)

    # Invalid inputs, each with the sentinel error a parser should return.
    bu_ok = bytes.fromhex(good["hex"])
    bad = [
        ("mh-err-truncated", bu_ok[:12], "truncated",
         "Header Len says 16 octets, only 12 present"),
        ("mh-err-short-for-type", bytes([59, 0, 5, 0, 0, 0, 0, 1, 0xC0, 0, 0, 15]) [:8], "length",
         "BU with Header Len 0 (8 octets): shorter than the 12 octets of §6.1.7, §9.2 says discard"),
        ("mh-err-nonce-len16", None, "length",
         "Nonce Indices with scapy's default length 16 instead of 4 (§6.2.6)"),
        ("mh-err-bad-len16", None, "length",
         "Binding Authorization Data with scapy's default length 16 instead of 12 (§6.2.7)"),
        ("mh-err-option-overrun", None, "truncated",
         "PadN whose length runs past the end of the header"),
    ]
    for name, data, err, note in bad:
        if name == "mh-err-nonce-len16":
            o = struct.pack("!BBHH", 4, 16, 1, 2) + b"\x00" * 12
            data = rfc_mh(5, struct.pack("!HHH", 1, bu_bits("A"), 1), o + pad_bytes((-(12 + len(o))) % 8))
            # scapy's own default, for the record:
            same(scapy_mh(MIP6MH_BU(seq=1, flags=bu_bits("A") >> 9, mhtime=1, res=0,
                                    options=[MIP6OptNonceIndices(hni=1, coni=2)]), HOA, HA)[6:18],
                 data[6:12] + struct.pack("!BBHH", 4, 16, 1, 2), "scapy nonce default")
        elif name == "mh-err-bad-len16":
            o = struct.pack("!BB", 5, 16) + b"\x11" * 16
            # PadN(4 data octets) so that the option sits at 8n+2 (offset 18).
            data = rfc_mh(5, struct.pack("!HHH", 1, bu_bits("A"), 1), pad_bytes(6) + o + pad_bytes(4))
        elif name == "mh-err-option-overrun":
            data = rfc_mh(5, struct.pack("!HHH", 1, bu_bits("A"), 1), bytes([1, 9, 0, 0]))
        if name != "mh-err-truncated":
            data = mh_with_checksum(data, HOA, HA)
        add(name, "mh", data, {}, note, canonical=False, src=HOA, dst=HA, error=err)


# ---------------------------------------------------------------------------
# Options alone (layer option): the TLV bytes, family mh or nd.

def option_vectors():
    o = [("opt-bra", opt_bra(12), MIP6OptBRAdvice(rinter=12)),
         ("opt-altcoa", opt_altcoa(COA2), MIP6OptAltCoA(acoa=COA2)),
         ("opt-nonce-indices", opt_nonce(HOME_NONCE_INDEX, CAREOF_NONCE_INDEX),
          MIP6OptNonceIndices(olen=4, hni=HOME_NONCE_INDEX, coni=CAREOF_NONCE_INDEX)),  # SCAPY OVERRIDE olen
         ("opt-bad", opt_bad(bytes(range(12))),
          MIP6OptBindingAuthData(olen=12, authenticator=int.from_bytes(bytes(range(12)), "big"))),  # SCAPY OVERRIDE
         ("opt-mnp", opt_mnp(*MNP), MIP6OptMobNetPrefix(plen=48, prefix=MNP[0])),
         ("opt-mnid-nai", opt_mnid(1, NAI), MIP6OptMNID(subtype=1, id=NAI)),
         ("opt-auth", opt_auth(1, MNHA_SPI, bytes(range(0xA0, 0xAC))),
          MIP6OptMsgAuth(subtype=1, mspi=MNHA_SPI, authdata=bytes(range(0xA0, 0xAC)))),
         ("opt-auth-mnaaa", opt_auth(2, 0x1000, bytes(range(0xB0, 0xBC))),
          MIP6OptMsgAuth(subtype=2, mspi=0x1000, authdata=bytes(range(0xB0, 0xBC)))),
         ("opt-mesg-id", opt_mesgid(MESG_ID_TS), MIP6OptReplayProtection(timestamp=MESG_ID_TS)),
         ("opt-ipv4-hoa", opt_ipv4hoa(32, False, HOA4), None),
         ("opt-ipv4-hoa-p", opt_ipv4hoa(24, True, "0.0.0.0"), None),
         ("opt-ipv4-ack", opt_ipv4ack(0, 32, HOA4), None),
         ("opt-nat-detection", opt_natd(True, 110), None),
         ("opt-nat-detection-nonat", opt_natd(False, 0xFFFFFFFF), None),
         ("opt-ipv4-coa", opt_ipv4coa(COA4), None),
         ("opt-bid", opt_bid(1, 0, False), None),
         ("opt-bid-v4", opt_bid(2, 0, True, COA4), None),
         ("opt-bid-v6", opt_bid(3, 135, False, COA2), None),
         ("opt-raw-18", opt_raw(18, bytes.fromhex("00deadbeef")), MIP6OptUnknown(otype=18, odata=bytes.fromhex("00deadbeef")))]
    for name, (tlv, x, y), sp in o:
        if sp is not None:
            same(bytes(sp), tlv, name)
        e = j_opt(tlv)
        e["alignment"] = "%dn+%d" % (x, y) if x else "none"
        add(name, "option", tlv, e, "mobility option; NO SCAPY CLASS" if sp is None else "mobility option",
            canonical=True)


def nd_opt_json(b):
    t, ln = b[0], b[1]
    if t == 1:
        return {"type": "SourceLinkLayerAddress", "code": 1, "lladdr": ":".join("%02x" % c for c in b[2:8])}
    if t == 3:
        plen, fl, vl, pl = struct.unpack("!BBII", b[2:12])
        return {"type": "PrefixInformation", "code": 3, "prefix_len": plen, "l": bool(fl & 0x80),
                "a": bool(fl & 0x40), "r": bool(fl & 0x20), "valid_s": vl, "preferred_s": pl,
                "prefix": fmt6(b[16:32])}
    if t == 5:
        return {"type": "MTU", "code": 5, "mtu": struct.unpack("!I", b[4:8])[0]}
    if t == 7:
        return {"type": "AdvertisementInterval", "code": 7, "interval_ms": struct.unpack("!I", b[4:8])[0]}
    if t == 8:
        r, pref, life = struct.unpack("!HhH", b[2:8])
        # r: RFC 3963 §7.3 Mobile Router flag, top bit of the Reserved field.
        return {"type": "HomeAgentInformation", "code": 8, "r": bool(r & 0x8000), "preference": pref,
                "lifetime_s": life}
    if t == 25:
        n = (ln - 1) // 2
        return {"type": "Raw", "code": 25, "name": "RDNSS", "lifetime_s": struct.unpack("!I", b[4:8])[0],
                "servers": [fmt6(b[8 + 16 * i:24 + 16 * i]) for i in range(n)],
                "data": b[2:8 * ln].hex()}
    return {"type": "Raw", "code": t, "data": b[2:8 * ln].hex()}


def nd_options(b):
    out = []
    while b:
        n = b[1] * 8
        out.append(nd_opt_json(b[:n]))
        b = b[n:]
    return out


# ND options (RFC 4861 §4.6, RFC 6275 §7.2-7.4), each with its RFC layout.
def nd_pio(prefix, plen, l, a, r, valid, pref):
    # Type 3, Length 4, Prefix Length, L A R Reserved1(5), Valid, Preferred, Reserved2, Prefix
    return struct.pack("!BBBBIII", 3, 4, plen, (0x80 if l else 0) | (0x40 if a else 0) | (0x20 if r else 0),
                       valid, pref, 0) + a16(prefix)


def nd_advint(ms):      # §7.3: Type 7, Length 1, Reserved (16), Advertisement Interval (32, ms)
    return struct.pack("!BBHI", 7, 1, 0, ms)


def nd_hainfo(pref, life):  # §7.4: Type 8, Length 1, Reserved (16), Preference (16, signed), Lifetime (16)
    return struct.pack("!BBHhH", 8, 1, 0, pref, life)


def nd_rdnss(life, servers):  # RFC 8106 §5.1
    return struct.pack("!BBHI", 25, 1 + 2 * len(servers), 0, life) + b"".join(a16(s) for s in servers)


def nd_mtu(mtu):
    return struct.pack("!BBHI", 5, 1, 0, mtu)


def nd_slla(mac):
    return struct.pack("!BB", 1, 1) + bytes.fromhex(mac.replace(":", ""))


def nd_option_vectors():
    o = [("ndopt-pio-r", nd_pio(HA, 64, True, True, True, 86400, 14400),
          ICMPv6NDOptPrefixInfo(prefixlen=64, L=1, A=1, R=1, validlifetime=86400, preferredlifetime=14400, prefix=HA),
          "§7.2 Prefix Information with the Router Address flag: the Prefix field holds the full router address"),
         ("ndopt-pio", nd_pio("2001:db8:1::", 64, True, True, False, 0xFFFFFFFF, 0xFFFFFFFF),
          ICMPv6NDOptPrefixInfo(prefixlen=64, prefix="2001:db8:1::"), "RFC 4861 §4.6.2, infinite lifetimes"),
         ("ndopt-advint", nd_advint(3000), ICMPv6NDOptAdvInterval(advint=3000), "§7.3, 3000 ms"),
         ("ndopt-hainfo-neg", nd_hainfo(-10, 1800),
          ICMPv6NDOptHAInfo(pref=(-10) & 0xFFFF, lifetime=1800),  # SCAPY OVERRIDE: pref is unsigned in scapy
          "§7.4 Home Agent Information, preference -10 (signed 16-bit), lifetime 1800 s"),
         ("ndopt-hainfo-min", nd_hainfo(-32768, 1), ICMPv6NDOptHAInfo(pref=0x8000, lifetime=1),
          "§7.4 preference -32768 (lowest), lifetime 1 s"),
         ("ndopt-hainfo-pos", nd_hainfo(32767, 65535), ICMPv6NDOptHAInfo(pref=32767, lifetime=65535),
          "§7.4 preference 32767, lifetime 65535 s"),
         ("ndopt-rdnss", nd_rdnss(600, ["2001:db8:1::53"]),
          ICMPv6NDOptRDNSS(lifetime=600, dns=["2001:db8:1::53"], res=0), "RFC 8106 RDNSS: kept raw by the codec"),
         ("ndopt-mtu", nd_mtu(1500), ICMPv6NDOptMTU(mtu=1500), "RFC 4861 §4.6.4")]
    for name, raw, sp, note in o:
        same(bytes(sp), raw, name)
        add(name, "option", raw, dict(nd_opt_json(raw), family="nd"), note)


# ---------------------------------------------------------------------------
# Full IPv6 packets (layer ipv6).

def pkt_json(pkt):
    """Expected walk of a full packet, read back from the bytes: IPv6
    header, extension headers, HAO, RH2, the upper layer and the checksum
    pseudo-header (RFC 6275 §6.3 / §6.1.1 and RFC 8200 §8.1)."""
    b = bytes(pkt)
    src = fmt6(b[8:24])
    dst = fmt6(b[24:40])
    o = {"ipv6": {"src": src, "dst": dst, "hop_limit": b[7], "payload_length": struct.unpack("!H", b[4:6])[0],
                  "next_header": b[6]}, "ext": []}
    nh, off = b[6], 40
    psrc, pdst = src, dst
    while nh in (0, 43, 60):
        ln = (b[off + 1] + 1) * 8
        h = b[off:off + ln]
        if nh == 60 or nh == 0:
            e = {"type": "dstopts" if nh == 60 else "hopopts", "offset": off}
            i = 2
            while i < ln:
                if h[i] == 0:
                    i += 1
                    continue
                if h[i] == 201:
                    e["hao"] = fmt6(h[i + 2:i + 18])
                    e["hao_offset"] = off + i + 2
                    psrc = e["hao"]
                i += 2 + h[i + 1]
            o["ext"].append(e)
        else:
            e = {"type": "routing", "routing_type": h[2], "segments_left": h[3], "offset": off}
            if h[2] == 2:
                e["home_address"] = fmt6(h[8:24])
                if h[3] == 1:
                    pdst = e["home_address"]
            o["ext"].append(e)
        nh, off = h[0], off + ln
    o["upper"] = {"proto": nh, "offset": off}
    o["pseudo_src"], o["pseudo_dst"] = psrc, pdst
    up = b[off:]
    if nh == 135:
        o["mh"] = j_mh(up, psrc, pdst)
    elif nh == 58:
        o["icmpv6"] = icmp_json(up, psrc, pdst)
    return o


def icmp_json(b, src, dst):
    t = b[0]
    o = {"type": t, "code": b[1], "checksum": "0x%04x" % struct.unpack("!H", b[2:4])[0],
         "checksum_ok": verify_pseudo(src, dst, 58, b)}
    if t in (144, 145, 146, 147):
        o["name"] = {144: "HAADRequest", 145: "HAADReply", 146: "MPS", 147: "MPA"}[t]
        o["identifier"], fl = struct.unpack("!HH", b[4:8])
        if t in (144, 145):
            o["r"] = bool(fl & 0x8000)  # RFC 3963 §7.1/§7.2 Mobile Router Support flag
        if t == 145:
            o["home_agents"] = [fmt6(b[8 + 16 * i:24 + 16 * i]) for i in range((len(b) - 8) // 16)]
        if t == 147:
            o["m"], o["o"] = bool(fl & 0x8000), bool(fl & 0x4000)
            o["options"] = nd_options(b[8:])
    elif t == 134:
        fl = b[5]
        lifetime = struct.unpack("!H", b[6:8])[0]
        prf = (fl >> 3) & 3
        # RFC 4191 §2.2: 01 high, 00 medium, 11 low, 10 reserved (treated
        # as medium); with Router Lifetime 0 the receiver ignores it.
        pref = "medium" if lifetime == 0 else {0: "medium", 1: "high", 2: "medium", 3: "low"}[prf]
        o.update(name="RA", cur_hop_limit=b[4], m=bool(fl & 0x80), o=bool(fl & 0x40), h=bool(fl & 0x20),
                 p=bool(fl & 0x04), preference_bits=prf, preference=pref, router_lifetime_s=lifetime,
                 reachable_time_ms=struct.unpack("!I", b[8:12])[0], retrans_timer_ms=struct.unpack("!I", b[12:16])[0],
                 options=nd_options(b[16:]))
    return o


def hao_destopts(hoa, nh):
    """RFC 6275 §6.3: Destination Options header carrying only the HAO,
    which needs 8n+6: Next Header, Hdr Ext Len 2, PadN (2 data octets),
    Option Type 201, Option Length 16, Home Address."""
    return bytes([nh, 2]) + pad_bytes(4) + bytes([201, 16]) + a16(hoa)


def rh2(hoa, nh):
    """RFC 6275 §6.4: Next Header, Hdr Ext Len 2, Routing Type 2, Segments
    Left 1, Reserved (32), Home Address."""
    return bytes([nh, 2, 2, 1]) + b"\x00" * 4 + a16(hoa)


def ipv6_hdr(src, dst, nh, plen, hlim=64):
    return struct.pack("!IHBB", 6 << 28, plen, nh, hlim) + a16(src) + a16(dst)


PACKETS = {}   # name -> scapy packet (for the tshark dissection and the pcaps)


def add_pkt(name, sp, rfc, note, canonical=True):
    same(bytes(sp), rfc, name)
    e = pkt_json(rfc)
    add(name, "ipv6", rfc, e, note, canonical=canonical)
    PACKETS[name] = sp
    return e


def mh_of(name):
    return bytes.fromhex(VECTORS[[v["name"] for v in VECTORS].index(name)]["hex"])


def packet_vectors():
    # BU from the MN away from home: IPv6 src = CoA, HAO = HoA (§11.7.1).
    mh = mh_of("mh-bu-home")  # checksum already computed with HoA/HA
    sp = (IPv6(src=COA, dst=HA, hlim=64) / IPv6ExtHdrDestOpt(options=[HAO(hoa=HOA)]) /
          MIP6MH_BU(res=0, seq=1, flags=bu_bits("AH") >> 9, mhtime=15))
    rfc = ipv6_hdr(COA, HA, 60, 24 + len(mh)) + hao_destopts(HOA, 135) + mh
    e = add_pkt("pkt-bu-hao", sp, rfc,
                "BU to the HA with a Home Address option; MH checksum pseudo-header source = HoA (§6.1.1)")
    assert e["mh"]["checksum_ok"]
    # The same checksum computed with the IPv6 source (the CoA) must fail:
    assert not verify_pseudo(COA, HA, 135, mh)

    # BU with RFC 4285 authentication and HAO.
    mh = mh_of("mh-bu-auth")
    sp = IPv6(src=COA, dst=HA) / IPv6ExtHdrDestOpt(options=[HAO(hoa=HOA)]) / MIP6MH_BU(
        res=0, seq=0x42, flags=bu_bits("AHK") >> 9, mhtime=150,
        options=[MIP6OptMNID(subtype=1, id=NAI), MIP6OptReplayProtection(timestamp=MESG_ID_TS),
                 MIP6OptMsgAuth(subtype=1, mspi=MNHA_SPI, authdata=mh[-12:])])
    rfc = ipv6_hdr(COA, HA, 60, 24 + len(mh)) + hao_destopts(HOA, 135) + mh
    add_pkt("pkt-bu-hao-auth", sp, rfc, "mh-bu-auth in its packet: CoA source, HAO")

    # BU to a CN with RR options (HAO as well, §6.1.7 / §11.7.2).
    mh = mh_of("mh-bu-cn-rr")
    sp = IPv6(src=COA, dst=CN) / IPv6ExtHdrDestOpt(options=[HAO(hoa=HOA)]) / MIP6MH_BU(
        res=0, seq=0x1234, flags=bu_bits("A") >> 9, mhtime=105,
        options=[MIP6OptAltCoA(acoa=COA2), MIP6OptNonceIndices(olen=4, hni=HOME_NONCE_INDEX, coni=CAREOF_NONCE_INDEX),
                 MIP6OptBindingAuthData(olen=12, authenticator=int.from_bytes(mh[-12:], "big"))])
    rfc = ipv6_hdr(COA, CN, 60, 24 + len(mh)) + hao_destopts(HOA, 135) + mh
    add_pkt("pkt-bu-cn-rr", sp, rfc, "mh-bu-cn-rr in its packet")

    # BA from the HA with a type 2 routing header (§9.5.4, §6.4):
    # IPv6 dst = CoA, RH2 = HoA; MH checksum pseudo-header dst = HoA.
    mh = mh_of("mh-ba-accepted-bra")
    sp = (IPv6(src=HA, dst=COA) / IPv6ExtHdrRouting(type=2, segleft=1, addresses=[HOA]) /
          MIP6MH_BA(res=0, status=0, flags=ba_bits("K") >> 5, res2=0, seq=1, mhtime=15,
                    options=[MIP6OptBRAdvice(rinter=12)]))
    rfc = ipv6_hdr(HA, COA, 43, 24 + len(mh)) + rh2(HOA, 135) + mh
    e = add_pkt("pkt-ba-rh2", sp, rfc, "BA with a type 2 routing header; checksum pseudo-header dst = HoA")
    assert e["mh"]["checksum_ok"] and not verify_pseudo(HA, COA, 135, mh)

    mh = mh_of("mh-ba-146")
    sp = (IPv6(src=HA, dst=COA) / IPv6ExtHdrRouting(type=2, segleft=1, addresses=[HOA]) /
          MIP6MH_BA(res=0, status=146, flags=0, res2=0, seq=0x42, mhtime=0))
    rfc = ipv6_hdr(HA, COA, 43, 24 + len(mh)) + rh2(HOA, 135) + mh
    add_pkt("pkt-ba-rh2-146", sp, rfc, "BA status 146 (MIPV6-AUTH-FAIL) with RH2")

    # BE from a CN to the source of the offending packet.
    mh = mh_of("mh-be-1")
    sp = IPv6(src=CN, dst=COA) / MIP6MH_BE(status=1, ha=HOA)
    rfc = ipv6_hdr(CN, COA, 135, len(mh)) + mh
    add_pkt("pkt-be", sp, rfc, "Binding Error status 1, §6.1.9")

    # RR messages (HoTI/HoT travel through the HA tunnel; these are the inner packets).
    for name, mhname, s, d, cls in [
        ("pkt-hoti", "mh-hoti", HOA, CN, lambda: MIP6MH_HoTI(res=0, cookie=HOME_COOKIE)),
        ("pkt-coti", "mh-coti", COA, CN, lambda: MIP6MH_CoTI(res=0, cookie=CAREOF_COOKIE)),
        ("pkt-hot", "mh-hot", CN, HOA, lambda: MIP6MH_HoT(res=0, index=HOME_NONCE_INDEX, cookie=HOME_COOKIE,
                                                            token=HOME_KEYGEN)),
        ("pkt-cot", "mh-cot", CN, COA, lambda: MIP6MH_CoT(res=0, index=CAREOF_NONCE_INDEX, cookie=CAREOF_COOKIE,
                                                            token=CAREOF_KEYGEN)),
        ("pkt-brr", "mh-brr", CN, HOA, lambda: MIP6MH_BRR(res=0, res2=0))]:
        mh = mh_of(mhname)
        add_pkt(name, IPv6(src=s, dst=d) / cls(), ipv6_hdr(s, d, 135, len(mh)) + mh, mhname + " in its packet")

    # DSMIPv6 from an IPv4-only network (RFC 5555 §4): the IPv6 packet that
    # rides in IPv4/UDP 4191 has the IPv4-mapped form of the IPv4 care-of
    # address as source and the HoA in a HAO; the BA comes back to the
    # IPv4-mapped address with the HoA in a RH2. The checksum pseudo-header
    # is HoA/HA either way (§6.1.1), so the MH bytes are those of
    # mh-bu-dsmip / mh-ba-dsmip.
    mapped = "::ffff:" + COA4
    mh = mh_of("mh-bu-dsmip")
    sp = IPv6(src=mapped, dst=HA) / IPv6ExtHdrDestOpt(options=[HAO(hoa=HOA)]) / MIP6MH_BU(
        res=0, seq=3, flags=bu_bits("AH") >> 9, mhtime=100, autopad=0,
        options=[MIP6OptUnknown(otype=29, odata=opt_ipv4hoa(32, False, HOA4)[0][2:]),
                 MIP6OptUnknown(otype=32, odata=opt_ipv4coa(COA4)[0][2:]), PadN(optdata=b"\x00\x00")])
    rfc = ipv6_hdr(mapped, HA, 60, 24 + len(mh)) + hao_destopts(HOA, 135) + mh
    add_pkt("pkt-bu-v4coa", sp, rfc,
            "RFC 5555 BU from an IPv4 care-of address: IPv4-mapped source, HAO, IPv4 HoA + IPv4 CoA options")
    mh = mh_of("mh-ba-dsmip")
    sp = IPv6(src=HA, dst=mapped) / IPv6ExtHdrRouting(type=2, segleft=1, addresses=[HOA]) / MIP6MH_BA(
        res=0, status=0, flags=0, res2=0, seq=3, mhtime=100, autopad=0,
        options=[MIP6OptUnknown(otype=30, odata=opt_ipv4ack(0, 32, HOA4)[0][2:]),
                 MIP6OptUnknown(otype=31, odata=opt_natd(True, 110)[0][2:]), PadN(optdata=b"\x00\x00")])
    rfc = ipv6_hdr(HA, mapped, 43, 24 + len(mh)) + rh2(HOA, 135) + mh
    add_pkt("pkt-ba-v4coa", sp, rfc,
            "RFC 5555 BA to the IPv4-mapped care-of address with RH2, IPv4 Address Ack + NAT Detection")

    # BU with a deliberately wrong MH checksum.
    mh = mh_of("mh-bu-bad-checksum")
    sp = (IPv6(src=COA, dst=HA) / IPv6ExtHdrDestOpt(options=[HAO(hoa=HOA)]) /
          MIP6MH_BU(res=0, seq=1, flags=bu_bits("AH") >> 9, mhtime=15, cksum=struct.unpack("!H", mh[4:6])[0]))
    rfc = ipv6_hdr(COA, HA, 60, 24 + len(mh)) + hao_destopts(HOA, 135) + mh
    e = add_pkt("pkt-bu-bad-checksum", sp, rfc, "pkt-bu-hao with the MH checksum off by one bit")
    assert not e["mh"]["checksum_ok"]

    # ICMPv6, §6.5-6.8.
    def icmp_pkt(name, s, d, icmp_sp, body, note, pre=b"", pre_sp=None, nh0=58, pseudo=None):
        ps, pd = pseudo or (s, d)
        body = set_csum(body, 2, 0)
        body = set_csum(body, 2, pseudo_checksum(ps, pd, 58, body))
        sp = IPv6(src=s, dst=d, hlim=64)
        if pre_sp is not None:
            sp = sp / pre_sp
        sp = sp / icmp_sp
        rfc = ipv6_hdr(s, d, nh0, len(pre) + len(body)) + pre + body
        e = add_pkt(name, sp, rfc, note)
        assert e["icmpv6"]["checksum_ok"], name
        return e

    icmp_pkt("pkt-haad-request", COA, HA_ANYCAST, ICMPv6HAADRequest(id=0x1234, R=0),  # SCAPY OVERRIDE R default 1
             struct.pack("!BBHHH", 144, 0, 0, 0x1234, 0),
             "§6.5 HAAD Request from the CoA to the home-agents anycast address (RFC 2526)")
    icmp_pkt("pkt-haad-request-r", COA, HA_ANYCAST, ICMPv6HAADRequest(id=0x1235, R=1),
             struct.pack("!BBHHH", 144, 0, 0, 0x1235, 0x8000),
             "HAAD Request with the RFC 3963 §7.1 R bit (mobile router support)")
    icmp_pkt("pkt-haad-reply", HA, COA, ICMPv6HAADReply(id=0x1234, R=0, addresses=[HA, HA2]),
             struct.pack("!BBHHH", 145, 0, 0, 0x1234, 0) + a16(HA) + a16(HA2),
             "§6.6 HAAD Reply listing two home agents")
    icmp_pkt("pkt-mps", COA, HA, ICMPv6MPSol(id=0x4321), struct.pack("!BBHHH", 146, 0, 0, 0x4321, 0),
             "§6.7 MPS from the CoA with a HAO (§11.4.2); ICMP checksum pseudo-header source = HoA",
             pre=hao_destopts(HOA, 58), pre_sp=IPv6ExtHdrDestOpt(options=[HAO(hoa=HOA)]), nh0=60,
             pseudo=(HOA, HA))
    pios = nd_pio("2001:db8:1::", 64, True, True, False, 86400, 14400) + nd_pio(HA, 64, True, True, True, 86400, 14400)
    icmp_pkt("pkt-mpa", HA, COA,
             ICMPv6MPAdv(id=0x4321, flags=0) /  # SCAPY OVERRIDE flags default M
             ICMPv6NDOptPrefixInfo(prefixlen=64, validlifetime=86400, preferredlifetime=14400, prefix="2001:db8:1::") /
             ICMPv6NDOptPrefixInfo(prefixlen=64, R=1, validlifetime=86400, preferredlifetime=14400, prefix=HA),
             struct.pack("!BBHHH", 147, 0, 0, 0x4321, 0) + pios,
             "§6.8 MPA with RH2 to the HoA; two Prefix Information options, one with R (HA address); "
             "ICMP checksum pseudo-header dst = HoA",
             pre=rh2(HOA, 58), pre_sp=IPv6ExtHdrRouting(type=2, segleft=1, addresses=[HOA]), nh0=43,
             pseudo=(HA, HOA))
    icmp_pkt("pkt-mpa-mo", HA, COA,
             ICMPv6MPAdv(id=0x4322, flags=3) /
             ICMPv6NDOptPrefixInfo(prefixlen=64, validlifetime=86400, preferredlifetime=14400, prefix="2001:db8:1::"),
             struct.pack("!BBHHH", 147, 0, 0, 0x4322, 0xC000) + nd_pio("2001:db8:1::", 64, True, True, False, 86400, 14400),
             "MPA with M and O set (§6.8)",
             pre=rh2(HOA, 58), pre_sp=IPv6ExtHdrRouting(type=2, segleft=1, addresses=[HOA]), nh0=43,
             pseudo=(HA, HOA))

    # Router advertisements, RFC 4861 §4.2 with RFC 6275 §7.1-7.4.
    mac = "02:00:00:00:00:01"
    opts = (nd_slla(mac) + nd_mtu(1500) + nd_pio(HA, 64, True, True, True, 86400, 14400) + nd_advint(3000) +
            nd_hainfo(-10, 1800) + nd_rdnss(600, ["2001:db8:1::53"]))
    # SCAPY OVERRIDE: prf default 1 (high) -> 0, H set explicitly.
    ra_sp = (ICMPv6ND_RA(chlim=64, M=0, O=0, H=1, prf=0, routerlifetime=1800, reachabletime=0, retranstimer=0) /
             ICMPv6NDOptSrcLLAddr(lladdr=mac) / ICMPv6NDOptMTU(mtu=1500) /
             ICMPv6NDOptPrefixInfo(prefixlen=64, R=1, validlifetime=86400, preferredlifetime=14400, prefix=HA) /
             ICMPv6NDOptAdvInterval(advint=3000) / ICMPv6NDOptHAInfo(pref=(-10) & 0xFFFF, lifetime=1800) /
             ICMPv6NDOptRDNSS(lifetime=600, dns=["2001:db8:1::53"], res=0))
    ra = struct.pack("!BBHBBHII", 134, 0, 0, 64, 0x20, 1800, 0, 0) + opts
    e = icmp_pkt_ra("pkt-ra-ha", ra_sp, ra,
                    "home agent RA: H bit (§7.1), R-bit prefix with the HA's address (§7.2), Advertisement "
                    "Interval 3000 ms (§7.3), HA Information preference -10 lifetime 1800 s (§7.4), RDNSS")
    ra_sp = (ICMPv6ND_RA(chlim=64, M=0, O=1, H=0, prf=0, routerlifetime=1800, reachabletime=30000, retranstimer=1000) /
             ICMPv6NDOptSrcLLAddr(lladdr=mac) /
             ICMPv6NDOptPrefixInfo(prefixlen=64, validlifetime=2592000, preferredlifetime=604800, prefix="2001:db8:2::"))
    ra = (struct.pack("!BBHBBHII", 134, 0, 0, 64, 0x40, 1800, 30000, 1000) + nd_slla(mac) +
          nd_pio("2001:db8:2::", 64, True, True, False, 2592000, 604800))
    icmp_pkt_ra("pkt-ra-plain", ra_sp, ra, "ordinary RA without Mobile IPv6 extensions (O flag set)")
    ra_sp = (ICMPv6ND_RA(chlim=0, M=1, O=1, H=1, prf=3, routerlifetime=600) /
             ICMPv6NDOptHAInfo(pref=0x8000, lifetime=1) / ICMPv6NDOptAdvInterval(advint=70))
    ra = struct.pack("!BBHBBHII", 134, 0, 0, 0, 0xE0 | (3 << 3), 600, 0, 0) + nd_hainfo(-32768, 1) + nd_advint(70)
    icmp_pkt_ra("pkt-ra-ha-edge", ra_sp, ra,
                "RA with M O H, default router preference low (11, RFC 4191 §2.2), HA preference -32768, "
                "HA lifetime 1 s, Advertisement Interval 70 ms (the §7.5 MaxRtrAdvInterval floor)")
    ra_sp = (ICMPv6ND_RA(chlim=64, M=0, O=0, H=1, prf=1, routerlifetime=0) /
             ICMPv6NDOptHAInfo(pref=5, lifetime=600))
    ra = struct.pack("!BBHBBHII", 134, 0, 0, 64, 0x20 | (1 << 3), 0, 0, 0) + nd_hainfo(5, 600)
    icmp_pkt_ra("pkt-ra-ha-not-default", ra_sp, ra,
                "home agent that is not a default router (Router Lifetime 0) but sends preference high (01): "
                "RFC 4191 §2.2 says the sender MUST send 00 then and the receiver MUST ignore the field, so it "
                "decodes as medium; not canonical (an encoder writes 00)", canonical=False)


def icmp_pkt_ra(name, ra_sp, ra, note, canonical=True):
    ra = set_csum(ra, 2, pseudo_checksum(ROUTER_LL, ALL_NODES, 58, ra))
    sp = IPv6(src=ROUTER_LL, dst=ALL_NODES, hlim=255) / ra_sp
    rfc = ipv6_hdr(ROUTER_LL, ALL_NODES, 58, len(ra), 255) + ra
    e = add_pkt(name, sp, rfc, note, canonical)
    assert e["icmpv6"]["checksum_ok"]
    return e


# ---------------------------------------------------------------------------
# Output.

def write_vectors(path):
    lines = [
        "# Golden wire vectors for package mip6. GENERATED by gen.py: do not edit, rerun it.",
        "# Format: a block per vector, blocks separated by a blank line.",
        "#   === <name>",
        "#   layer: mh | option | ipv6      (where the bytes start)",
        "#   src: / dst:                    (mh only: checksum pseudo-header addresses, already",
        "#                                   substituted per RFC 6275 §6.1.1)",
        "#   canonical: true|false          (true: minimal padding placed just before the",
        "#                                   option that needs it, then Pad1/PadN to 8n)",
        "#   error: <kind>                  (invalid input; kind is truncated | length | ...)",
        "#   note: free text",
        "#   hex: <bytes>                   (repeated; concatenate)",
        "#   json: <expected decode>        (one line, keys sorted)",
        "",
    ]
    for v in VECTORS:
        lines.append("=== " + v["name"])
        lines.append("layer: " + v["layer"])
        if "src" in v:
            lines.append("src: " + v["src"])
            lines.append("dst: " + v["dst"])
        lines.append("canonical: " + ("true" if v["canonical"] else "false"))
        if "error" in v:
            lines.append("error: " + v["error"])
        if v["note"]:
            lines.append("note: " + v["note"])
        h = v["hex"]
        for i in range(0, len(h), 64):
            lines.append("hex: " + h[i:i + 64])
        lines.append("json: " + json.dumps(v["expect"], sort_keys=True, separators=(",", ":")))
        lines.append("")
    with open(path, "w") as f:
        f.write("\n".join(lines))


def run_tshark(outdir):
    """Dissects every full packet with tshark and writes the Mobile IPv6 /
    ICMPv6 / IPv6 part of the tree, one file per vector."""
    os.makedirs(outdir, exist_ok=True)
    todo = list(PACKETS.items())
    # Every Mobility Header vector too, inside a bare IPv6 header whose
    # addresses are the vector's pseudo-header addresses.
    for v in VECTORS:
        if v["layer"] == "mh" and "error" not in v:
            mh = bytes.fromhex(v["hex"])
            todo.append((v["name"], IPv6(src=v["src"], dst=v["dst"], nh=135, plen=len(mh)) / Raw(mh)))
    for name, sp in todo:
        fr = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / sp
        fr.time = 1700000000
        with tempfile.TemporaryDirectory() as td:
            p = os.path.join(td, "x.pcap")
            wrpcap(p, [fr])
            # Check the bytes tshark sees are the vector's bytes.
            v = VECTORS[[w["name"] for w in VECTORS].index(name)]
            same(bytes(fr)[14 + (40 if v["layer"] == "mh" else 0):], bytes.fromhex(v["hex"]), "tshark frame " + name)
            out = subprocess.run(["tshark", "-r", p, "-V", "-O", "ipv6,mip6,icmpv6"],
                                 capture_output=True, text=True, check=True).stdout
        keep = []
        on = False
        for line in out.splitlines():
            if line.startswith("Internet Protocol Version 6"):
                on = True
            if on:
                keep.append(line.rstrip())
        with open(os.path.join(outdir, name + ".txt"), "w") as f:
            f.write("# tshark -V dissection of vector %s (gen.py --tshark)\n" % name)
            f.write("\n".join(keep) + "\n")


def build_all():
    mh_vectors()
    option_vectors()
    nd_option_vectors()
    packet_vectors()


if __name__ == "__main__":
    build_all()
    write_vectors(os.path.join(HERE, "vectors.txt"))
    if "--tshark" in sys.argv:
        run_tshark(os.path.join(HERE, "tshark"))
    print("%d vectors, %d packets" % (len(VECTORS), len(PACKETS)))
