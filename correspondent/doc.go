// Package correspondent is the correspondent node of RFC 6275 §9: the peer
// of a mobile node's route optimization, with no I/O of its own.
//
// A Correspondent answers return routability (§5.2, §9.4) without keeping
// any state per mobile node: a Home Test Init gets a Home Test with a home
// keygen token, a Care-of Test Init a Care-of Test with a care-of keygen
// token, both derived from the node key Kcn and the current nonce of a
// binding.NonceTable (§5.2.8: nothing is stored until a Binding Update
// proves that one node saw both tokens). It verifies Binding Updates
// (§9.5.1: Nonce Indices, Binding Authorization Data, sequence number,
// lifetime no longer than MAX_RR_BINDING_LIFETIME), keeps the binding cache,
// answers with authenticated Binding Acknowledgements, and builds the
// Binding Errors of §9.3.3 and the Binding Refresh Requests of §9.5.5.
//
// Every answer comes back as a whole IPv6 packet (IPv6 header, type 2
// routing header where one is needed, Mobility Header with its checksum),
// ready for a header-included raw socket: the daemon (package
// correspondent/cnd) only sends it.
//
// The data plane helpers (datapath.go) are the parts of §9.3 a kernel
// without Mobile IPv6 cannot do: RestoreHomeAddress turns a packet that
// arrived from a care-of address with a Home Address option back into a
// packet from the home address, InsertRoutingHeader2 sends a packet for
// a home address to its care-of address (§9.3.2), and
// AppendHomePacketTooBig carries path MTU discovery across the routing
// header. Table is the lock-free view of the binding cache they read.
//
// Security (§15.4): per-source token buckets (a /64 per bucket) for HoTI,
// CoTI and BU, an overall budget for the answers sent before a Binding
// Update is authenticated and for Binding Errors, constant-time
// authenticator checks (binding.VerifyBindingAuthenticator), answers sent
// only to the packet's own source until the authenticator verified (no
// reflection through a forged Alternate Care-of Address or Home Address
// option), no answer larger than the packet that provoked it (with one
// exception the RFC forces, see Options.StrictSize), and replay refused
// by sequence numbers that outlive the binding for as long as its nonces
// do (tombstones).
//
// A Correspondent reads no clock (every method takes the current time) and
// is owned by one goroutine; Table is safe for concurrent readers.
package correspondent
