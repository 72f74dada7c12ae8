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
package mobilenode
