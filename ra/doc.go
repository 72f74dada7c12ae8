// Package ra will hold router advertisement handling: the home agent's
// built-in RA sender with the Mobile IPv6 options (RFC 6275 §7, issue 4)
// and the mobile node's movement detection (RFC 6275 §11.5, issue 5).
//
// The wire format of RAs and their options is in package mip6
// (RouterAdvertisement, PrefixInformation with the R flag,
// AdvertisementInterval, HomeAgentInformation). Nothing is implemented here
// yet; the package exists so the layout of the module is settled.
package ra
