// Package binding holds Mobile IPv6 bindings and the cryptography that
// authorizes them.
//
// The binding cache (cache.go, state.go): a home agent's home
// registrations, sharded, with an expiry heap per shard and a crash-safe
// state file so a restart loses no binding. One goroutine owns a Cache; the
// data plane reads its own lock-free mirror (tunnel.Table).
//
// The cryptography: the return routability procedure of RFC 6275 §5.2 between a
// mobile node and a correspondent node, and the MN-HA authentication and
// replay protection of RFC 4285 between a mobile node and its home agent.
//
// Return routability (rr.go): a correspondent keeps a node key Kcn and a
// small ring of nonces (NonceTable); from them it derives the home and
// care-of keygen tokens it sends in HoT and CoT. The mobile node hashes the
// two tokens into the binding management key Kbm, and both ends compute the
// Binding Authorization Data authenticator over the marshalled Mobility
// Header (BindingAuthenticator, VerifyBindingAuthenticator).
//
// MN-HA authentication (auth.go): the Mobility Message Authentication option
// of RFC 4285 §5.1 with HMAC-SHA1-96, plus HMAC-SHA256-128 as a local
// extension selected per mobility SPI in the configuration
// (MNHAAuthenticator, VerifyMNHAAuthenticator), and the NTP timestamps of
// the Mobility Message Replay Protection option with the checks of RFC 4285
// §5.1 and §6 (Timestamp, ReplayGuard).
//
// Everything here works on bytes and values the caller passes in: the
// functions read no clock (callers pass the current time), do no I/O
// except drawing from the io.Reader they are given for keys and nonces, and
// log nothing. The authenticator functions take the whole marshalled
// Mobility Header and the offset of the authenticator inside it, so they
// need no knowledge of the Mobility Header codec beyond that offset, and
// they allocate nothing per call in the steady state.
//
// The functions are safe for concurrent use. Cache, NonceTable and
// ReplayGuard hold state and are not: each belongs to one goroutine.
package binding
