#!/usr/bin/python3
"""Independent test vectors for package binding.

Computes, with nothing but the Python standard library (hashlib, hmac,
ipaddress, struct, datetime), the return routability values of RFC 6275
§5.2.5-5.2.6 / §6.2.7, the MN-HA authenticators of RFC 4285 §5.1 and the
NTP timestamps of RFC 4285 §6, for fixed inputs, and writes them to
rr_vectors.json next to this script. The Mobility Headers are built here
byte by byte from the RFC layouts, not by the Go codec, and carry a real
Mobility Header checksum (RFC 6275 §6.1.1) computed after the
authenticator, as §6.2.7 prescribes.

Run from anywhere: /usr/bin/python3 binding/testdata/gen_vectors.py
"""

import datetime
import hashlib
import hmac
import ipaddress
import json
import os
import struct

MH_PROTO = 135
NO_NEXT = 59


def a16(s):
    """The 16 octets of an IPv6 address."""
    return ipaddress.IPv6Address(s).packed


def hmac_first(key, data, digest, nbytes):
    return hmac.new(key, data, digest).digest()[:nbytes]


# ---------------------------------------------------------------- MH bytes


def pad(n):
    """Pad1 (one zero octet) or PadN (type 1, length n-2, zeros): §6.2.2-3."""
    if n == 0:
        return b""
    if n == 1:
        return b"\x00"
    return bytes([1, n - 2]) + bytes(n - 2)


def mh(mh_type, body):
    """A Mobility Header (§6.1.1) around body, checksum field zero."""
    total = 6 + len(body)
    assert total % 8 == 0, total
    return bytearray(struct.pack("!BBBBH", NO_NEXT, total // 8 - 1, mh_type, 0, 0) + body)


def inet_checksum(data):
    if len(data) % 2:
        data += b"\x00"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def set_mh_checksum(msg, src, dst):
    """RFC 6275 §6.1.1: the RFC 8200 §8.1 pseudo-header then the MH."""
    msg[4:6] = b"\x00\x00"
    pseudo = a16(src) + a16(dst) + struct.pack("!I", len(msg)) + b"\x00\x00\x00" + bytes([MH_PROTO])
    msg[4:6] = struct.pack("!H", inet_checksum(pseudo + bytes(msg)))


def bu_fixed(seq, flags, lifetime_units):
    """Binding Update message data before options (§6.1.7)."""
    return struct.pack("!HHH", seq, flags, lifetime_units)


def ba_fixed(status, kflag, seq, lifetime_units):
    """Binding Acknowledgement message data before options (§6.1.8)."""
    return struct.pack("!BBHH", status, 0x80 if kflag else 0, seq, lifetime_units)


# ------------------------------------------------------ return routability


def home_token(kcn, hoa, nonce):
    # §5.2.5: First(64, HMAC_SHA1(Kcn, (home address | nonce | 0)))
    return hmac_first(kcn, a16(hoa) + nonce + b"\x00", hashlib.sha1, 8)


def careof_token(kcn, coa, nonce):
    # §5.2.5: First(64, HMAC_SHA1(Kcn, (care-of address | nonce | 1)))
    return hmac_first(kcn, a16(coa) + nonce + b"\x01", hashlib.sha1, 8)


def rr_authenticator(kbm, coa, cn, msg, off):
    # §6.2.7: Mobility Data = care-of address | correspondent | MH Data,
    # MH Data = the MH without the Authenticator, Checksum taken as zero.
    data = bytearray(msg)
    data[4:6] = b"\x00\x00"
    mh_data = bytes(data[:off]) + bytes(data[off + 12:])
    return hmac_first(kbm, a16(coa) + a16(cn) + mh_data, hashlib.sha1, 12)


def rr_message(kind, seq, lifetime_units, hni, coni):
    """A BU or BA carrying the RR options; returns (msg, authenticator offset)."""
    if kind == "bu":
        # 12: Nonce Indices (2n), 18: Binding Authorization Data (8n+2).
        body = bu_fixed(seq, 0x8000, lifetime_units)  # A flag
        body += struct.pack("!BBHH", 4, 4, hni, coni)
    else:
        body = ba_fixed(0, False, seq, lifetime_units)
        body += pad(6)
    assert 6 + len(body) == 18
    body += bytes([5, 12]) + bytes(12)
    return mh(5 if kind == "bu" else 6, body), 20


def rr_case(name, kind, kcn, hoa, coa, cn, hni, coni, hnonce, cnonce, seq, lifetime_units, dereg):
    ht = home_token(kcn, hoa, hnonce)
    ct = careof_token(kcn, coa, cnonce)
    kbm = hashlib.sha1(ht).digest() if dereg else hashlib.sha1(ht + ct).digest()
    auth_coa = hoa if dereg else coa  # §6.2.7: the home address when deregistering
    msg, off = rr_message(kind, seq, lifetime_units, hni, coni)
    # Garbage in the checksum field first: it must not matter.
    msg[4:6] = b"\xde\xad"
    auth = rr_authenticator(kbm, auth_coa, cn, msg, off)
    msg[off:off + 12] = auth
    # The checksum covers the authenticator. Its pseudo-header has the
    # addresses the upper layer sees: the home address on the mobile node's
    # side (Home Address option in a BU, type 2 routing header in a BA).
    if kind == "bu":
        set_mh_checksum(msg, hoa, cn)
    else:
        set_mh_checksum(msg, cn, hoa)
    return {
        "name": name, "kind": kind,
        "kcn": kcn.hex(), "hoa": hoa, "coa": coa, "cn": cn,
        "home_index": hni, "careof_index": coni,
        "home_nonce": hnonce.hex(), "careof_nonce": cnonce.hex(),
        "home_token": ht.hex(), "careof_token": ct.hex(),
        "dereg": dereg, "kbm": kbm.hex(), "auth_coa": auth_coa,
        "mh": bytes(msg).hex(), "auth_off": off, "authenticator": auth.hex(),
    }


# ------------------------------------------------------------ RFC 4285


def mnha_message(kind, alg, spi, ts, seq):
    """A BU or BA with the replay protection and MN-HA options."""
    if kind == "bu":
        body = bu_fixed(seq, 0x8000 | 0x4000, 100)  # A, H
    else:
        body = ba_fixed(0, False, seq, 100)
    body += pad(6)  # replay option at 8n+2
    assert 6 + len(body) == 18
    body += struct.pack("!BBQ", 10, 8, ts)
    size = 12 if alg == "hmac-sha1" else 16
    # Authentication option at 4n+1 (SPI 4-aligned), placed so the header
    # ends on an 8-octet boundary: 29 for 12 octets of data, 33 for 16.
    start = 29 if size == 12 else 33
    body += pad(start - 6 - len(body))
    body += struct.pack("!BBBI", 9, 5 + size, 1, spi)
    off = 6 + len(body)
    body += bytes(size)
    return mh(5 if kind == "bu" else 6, body), off, size


def mnha_case(name, kind, alg, key, coa, hoa, spi, ts, seq):
    msg, off, size = mnha_message(kind, alg, spi, ts, seq)
    msg[4:6] = b"\xbe\xef"
    data = bytearray(msg[:off])
    data[4:6] = b"\x00\x00"  # RFC 4285 §5.1: Checksum set to 0
    digest = hashlib.sha1 if alg == "hmac-sha1" else hashlib.sha256
    auth = hmac_first(key, a16(coa) + a16(hoa) + bytes(data), digest, size)
    msg[off:off + size] = auth
    ha = "2001:db8:1::1"
    if kind == "bu":
        set_mh_checksum(msg, hoa, ha)
    else:
        set_mh_checksum(msg, ha, hoa)
    return {
        "name": name, "kind": kind, "alg": alg, "key": key.hex(),
        "coa": coa, "hoa": hoa, "spi": spi, "timestamp": ts,
        "mh": bytes(msg).hex(), "auth_off": off, "authenticator": auth.hex(),
    }


NTP_EPOCH = datetime.datetime(1900, 1, 1, tzinfo=datetime.timezone.utc)
UNIX_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def ntp(dt, nsec):
    secs = int((dt - NTP_EPOCH).total_seconds()) % (1 << 32)
    frac = ((nsec << 32) + 500_000_000) // 1_000_000_000  # nearest 2^-32 s
    return secs << 32 | frac


def ntp_case(y, mo, d, h, mi, s, nsec):
    dt = datetime.datetime(y, mo, d, h, mi, s, tzinfo=datetime.timezone.utc)
    return {
        "utc": dt.isoformat(), "unix": int((dt - UNIX_EPOCH).total_seconds()),
        "nsec": nsec, "ntp": "%016x" % ntp(dt, nsec),
    }


def main():
    kcn = bytes.fromhex("00112233445566778899aabbccddeeff01234567")
    hoa, coa, cn = "2001:db8:1::100", "2001:db8:2::200", "2001:db8:3::300"
    hn = bytes.fromhex("0102030405060708")
    cnn = bytes.fromhex("f0e0d0c0b0a09080")
    rr = [
        rr_case("bu-register", "bu", kcn, hoa, coa, cn, 0x1234, 0x1235, hn, cnn, 7, 105, False),
        rr_case("ba-register", "ba", kcn, hoa, coa, cn, 0x1234, 0x1235, hn, cnn, 7, 105, False),
        rr_case("bu-dereg-lifetime0", "bu", kcn, hoa, coa, cn, 0xffff, 0, hn, cnn, 8, 0, True),
        # Equal addresses: only the trailing octet tells the two tokens apart.
        rr_case("bu-dereg-at-home", "bu", bytes(range(20)), hoa, hoa, "2001:db8:3::1",
                0, 1, bytes(8), bytes(8), 0xffff, 10, True),
    ]
    key16 = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
    long_key = bytes(range(0x40, 0x40 + 80))  # > 64 octets: hashed first (RFC 2104 §2)
    ts = 0xEC8F4A2D80000000
    mnha = [
        mnha_case("bu-sha1", "bu", "hmac-sha1", key16, "2001:db8:2::200", "2001:db8:1::100", 256, ts, 42),
        mnha_case("ba-sha1", "ba", "hmac-sha1", key16, "2001:db8:2::200", "2001:db8:1::100", 256, ts, 42),
        mnha_case("bu-sha256", "bu", "hmac-sha256", key16, "2001:db8:2::200", "2001:db8:1::100", 0x10000, ts + 1, 43),
        mnha_case("bu-sha256-longkey", "bu", "hmac-sha256", long_key, "::ffff:192.0.2.7", "2001:db8:1::100", 0xFFFFFFFF, ts + 2, 44),
        mnha_case("bu-sha1-longkey", "bu", "hmac-sha1", long_key, "2001:db8:2::200", "2001:db8:1::100", 300, ts + 3, 45),
    ]
    ntps = [
        ntp_case(1970, 1, 1, 0, 0, 0, 0),
        ntp_case(2000, 1, 1, 0, 0, 0, 0),
        ntp_case(2026, 5, 17, 12, 34, 56, 500_000_000),
        ntp_case(2026, 5, 17, 12, 34, 56, 999_999_999),
        ntp_case(2036, 2, 7, 6, 28, 15, 999_999_999),
        ntp_case(2036, 2, 7, 6, 28, 16, 0),  # era 1 begins: seconds wrap to 0
        ntp_case(2040, 1, 1, 0, 0, 0, 1),
        ntp_case(1968, 1, 20, 3, 14, 8, 0),  # earliest instant of the window
    ]
    out = {
        "comment": "generated by gen_vectors.py (Python stdlib only); do not edit",
        "rr": rr, "mnha": mnha, "ntp": ntps,
    }
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "rr_vectors.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
