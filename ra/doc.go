// Package ra is the home agent's built-in Router Advertisement sender for
// the home link, with the Mobile IPv6 extensions of RFC 6275 §7 (issue 4
// item 5), and the Home Agents List that other home agents' RAs feed (RFC
// 6275 §10.1, §10.5.1) and that Home Agent Address Discovery replies come
// from (§10.5).
//
// The package has four parts:
//
//   - Scheduler, a pure state machine that says when the next RA is due:
//     unsolicited RAs at uniformly random intervals (RFC 4861 §6.2.4, with
//     the lower floors of RFC 6275 §7.5), a fast initial burst, delayed and
//     rate-limited answers to Router Solicitations (RFC 4861 §6.2.6, RFC
//     6275 §13 MinDelayBetweenRAs) and the final RA (RFC 4861 §6.2.5). It
//     takes the time as an argument and a random source, so it is tested
//     without sleeping.
//   - Params, the content of the RAs and Mobile Prefix Advertisements,
//     built from conf.HA.
//   - HAList, the Home Agents List, bounded (MaxHomeAgents) against
//     forged RAs, and DHAADResponder, which answers Home Agent Address
//     Discovery Requests from it with the checks and rate limits that keep
//     the replies from being an amplifier.
//   - Sender (Linux), which owns a raw ICMPv6 socket on the home link and
//     runs the scheduler in a goroutine.
//
// The wire formats are in package mip6 (RouterAdvertisement,
// PrefixInformation with the R flag, AdvertisementInterval,
// HomeAgentInformation, MobilePrefixAdvertisement). The mobile node's
// movement detection (RFC 6275 §11.5, issue 5) is not here yet.
package ra
