// Package conf reads and validates the TOML configuration of the gomip6
// daemons: had.toml (HA, the home agent), mnd.toml (MN, the mobile node)
// and cnd.toml (CN, the correspondent node).
//
// The contract (SPEC.md) is strict:
//
//   - Keys are snake_case and exact: an unknown or misspelt key, at any
//     depth, is an error that names it ("home.interfce: unknown key (did
//     you mean interface?)"). Keys are compared case-sensitively.
//   - Durations are strings such as "90s" or "10m" ([Duration]); addresses
//     and prefixes are strings parsed into netip.Addr and netip.Prefix.
//   - Every problem is reported at once, each with its key path, e.g.
//     "mobile_node[1].home_address: 2001:db8:200::10 is not inside
//     home.prefix 2001:db8:100::/64". A failed load returns [Errors].
//   - Optional keys get documented defaults (the example files in
//     examples/ list every key with its default), so a loaded
//     configuration is complete: daemons never apply defaults of their own.
//
// The loader walks the decoded TOML tree itself, driven by the toml tags of
// the exported structs, instead of decoding into the structs with
// toml.MetaData.Undecoded catching leftovers: the decoder stops at the
// first bad value, matches struct fields case-insensitively ("Interface"
// would silently count as "interface"), and Undecoded cannot name the array
// element ("mobile_node[1]") a key belongs to. The walk reports every type
// error and unknown key with its exact path and carries on.
//
// [Tunnel] is the one table had.toml and mnd.toml share: [tunnel] with
// the single key kernel_path (default false), the opt-in kernel fast path
// of package tunnel/ebpf. It is a table rather than a top-level key so
// that later data path settings have a place; any other key in it is an
// unknown key like everywhere else. On the mobile node it covers the
// home tunnel's protocol-41 encapsulations only (see [MN.Tunnel]).
//
// The package only reads and validates; it does no I/O beyond reading the
// file it is given, and never logs.
package conf
