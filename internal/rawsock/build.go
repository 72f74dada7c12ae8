package rawsock

// DefaultHopLimit is the Hop Limit of the signalling packets the daemons
// send header-included (built with mip6.AppendMobilityPacket): Linux's
// default (net.ipv6.conf.*.hop_limit). Mobility signalling goes end to end
// across the Internet, so it is not 255 as for ND.
const DefaultHopLimit = 64
