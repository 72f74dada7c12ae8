#!/usr/bin/python3
# Writes the fixtures of pcapfile's tests with scapy, an independent
# writer of both formats. Run: /usr/bin/python3 gen.py
from scapy.all import Ether, IPv6, UDP, Raw, wrpcap, wrpcapng

pkts = []
for i in range(3):
    p = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / \
        IPv6(src="2001:db8::1", dst="2001:db8::2") / UDP(sport=1000 + i, dport=4191) / Raw(b"x" * (i + 1))
    p.time = 1700000000 + i + 0.25
    pkts.append(p)
wrpcap("three.pcap", pkts)
wrpcapng("three.pcapng", pkts)
