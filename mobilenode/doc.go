// Package mobilenode is the protocol core of the mobile node (RFC 6275
// §11): the Binding Update List, the home registration state machine with
// its Binding Update construction and Binding Acknowledgement checks (RFC
// 4285 MN-HA authentication and replay protection), and the movement
// decisions of the babymdd job (which access interface, which care-of
// address, at home or not).
//
// Like package homeagent it does no I/O, reads no clock, logs nothing and
// starts no goroutines. The mnd daemon (and tests) feed it events with the
// current time — a care-of address appeared, a Mobility Header arrived, a
// Router Advertisement arrived, a timer fired — and act on what it returns:
// send this Mobility Header from this address, arm a timer for this
// instant, tell the operator this happened. Everything here is owned by one
// goroutine.
//
// # Pieces
//
//   - Registration: the home registration of RFC 6275 §11.7.1–§11.7.3 and
//     §11.8, with its Binding Update List entry (BULEntry). See the state
//     diagram on Registration.
//   - AppendBindingUpdate and VerifyBindingAck: the wire side of one
//     registration exchange, usable on their own.
//   - BindingUpdateList: the list of §11.1 keyed by peer, for the home
//     registration and later for correspondent registrations.
//   - Movement: link, address and Router Advertisement events per interface
//     in, "moved to care-of address X on interface Y", "returned home" and
//     "lost connectivity" out (§11.5).
//
// # IPv4 networks (Dual-Stack MIPv6, RFC 5555)
//
// With Config.HomeAgentIPv4 set, Moved accepts an IPv4 care-of address.
// The Binding Update then carries the IPv4 Care-of Address option (and the
// F flag with Config.ForceUDP, an IPv4 Home Address option with
// Config.IPv4HomeAddress), no Home Address option, and BUPacket.Outer says
// to send it in UDP to the home agent's IPv4 address, port 4191, from
// port 4191 (RFC 5555 §4.2). The Binding Acknowledgement's NAT Detection
// option (§3.2.2) comes out as Event.UDP, Event.NAT and Event.Keepalive:
// the daemon picks the UDP tunnel (tunnel.KindUDP4) or IPv6 in IPv4
// (tunnel.Kind6in4). The NAT keepalives are the registration's own
// refreshes, scheduled no later than one keepalive interval after the last
// Binding Update: a Binding Update through the NAT refreshes its mapping
// and, acknowledged, proves it end to end; a NAT that lost the mapping
// meanwhile shows the home agent a new port, which it follows. An IPv4
// home address granted (§3.2.1) is Event.IPv4HomeAddress, for the daemon
// to put on the tunnel device and in its tunnel.Table (SetIPv4); the
// refreshes ask for that address again.
package mobilenode
