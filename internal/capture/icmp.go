package capture

import (
	"encoding/hex"
	"errors"
	"slices"
	"time"

	"github.com/gomip6/gomip6/mip6"
)

// decodeICMP describes the ICMPv6 messages of Mobile IPv6: home agent
// discovery and mobile prefix messages always, router advertisements only
// when they carry a Mobile IPv6 extension (H flag, a Prefix Information R
// flag, an Advertisement Interval or a Home Agent Information option).
func decodeICMP(r *Record, b []byte, l mip6.PacketLayout) bool {
	if len(b) < 4 {
		return false
	}
	name := ""
	switch b[0] {
	case mip6.ICMPHomeAgentDiscoveryReq:
		name = "HAADRequest"
	case mip6.ICMPHomeAgentDiscoveryReply:
		name = "HAADReply"
	case mip6.ICMPMobilePrefixSolicitation:
		name = "MPS"
	case mip6.ICMPMobilePrefixAdvert:
		name = "MPA"
	case mip6.ICMPRouterAdvertisement:
		name = "RA"
	default:
		return false
	}
	m, err := mip6.ParseICMP(b)
	if err != nil {
		if b[0] == mip6.ICMPRouterAdvertisement {
			return false // a malformed RA is not ours to report
		}
		r.ICMPType = name
		// A cut message is what a first fragment holds: too short, or
		// for a reply a list of addresses that stops mid-address.
		if !r.Fragmented || !errors.Is(err, mip6.ErrTruncated) && !errors.Is(err, mip6.ErrLength) {
			r.Error = err.Error()
		}
		return true
	}
	f := map[string]any{}
	var opts []mip6.NDOption
	switch m := m.(type) {
	case *mip6.HomeAgentDiscoveryRequest:
		f["identifier"] = m.Identifier
		if m.MobileRouter {
			f["mobile_router"] = true
		}
	case *mip6.HomeAgentDiscoveryReply:
		f["identifier"] = m.Identifier
		if m.MobileRouter {
			f["mobile_router"] = true
		}
		has := make([]string, len(m.HomeAgents))
		for i, a := range m.HomeAgents {
			has[i] = a.String()
		}
		f["home_agents"] = has
	case *mip6.MobilePrefixSolicitation:
		f["identifier"] = m.Identifier
	case *mip6.MobilePrefixAdvertisement:
		f["identifier"] = m.Identifier
		f["managed"], f["other"] = m.Managed, m.Other
		opts = m.Options
	case *mip6.RouterAdvertisement:
		if !raHasMIPv6(m) {
			return false
		}
		f["home_agent"] = m.HomeAgent
		f["cur_hop_limit"] = m.CurHopLimit
		f["router_lifetime_s"] = int64(m.RouterLifetime.Seconds())
		f["preference"] = m.Preference.String()
		if m.Managed {
			f["managed"] = true
		}
		if m.Other {
			f["other"] = true
		}
		opts = m.Options
	}
	r.ICMPType = name
	r.Fields = f
	for _, o := range opts {
		r.Options = append(r.Options, ndOption(o))
	}
	if !r.Fragmented {
		r.ChecksumOK = ptr(mip6.VerifyICMPChecksum(b, l.PseudoSrc, l.PseudoDst))
	}
	return true
}

func raHasMIPv6(ra *mip6.RouterAdvertisement) bool {
	if ra.HomeAgent {
		return true
	}
	return slices.ContainsFunc(ra.Options, func(o mip6.NDOption) bool {
		switch o := o.(type) {
		case *mip6.AdvertisementInterval, *mip6.HomeAgentInformation:
			return true
		case *mip6.PrefixInformation:
			return o.RouterAddress
		}
		return false
	})
}

func ndOption(o mip6.NDOption) map[string]any {
	switch o := o.(type) {
	case *mip6.PrefixInformation:
		m := map[string]any{
			"type":                 "PrefixInformation",
			"prefix":               o.Prefix.String(),
			"on_link":              o.OnLink,
			"autonomous":           o.Autonomous,
			"router_address":       o.RouterAddress,
			"valid_lifetime_s":     lifetimeSeconds(o.ValidLifetime),
			"preferred_lifetime_s": lifetimeSeconds(o.PreferredLifetime),
		}
		return m
	case *mip6.AdvertisementInterval:
		return map[string]any{"type": "AdvertisementInterval", "interval_ms": o.Interval.Milliseconds()}
	case *mip6.HomeAgentInformation:
		m := map[string]any{"type": "HomeAgentInformation", "preference": o.Preference, "lifetime_s": int64(o.Lifetime.Seconds())}
		if o.MobileRouter {
			m["mobile_router"] = true
		}
		return m
	case *mip6.NDLinkLayerAddress:
		t := "SourceLinkLayerAddress"
		if o.Target {
			t = "TargetLinkLayerAddress"
		}
		return map[string]any{"type": t, "address": o.Addr.String()}
	case *mip6.NDMTU:
		return map[string]any{"type": "MTU", "mtu": o.MTU}
	case *mip6.RawNDOption:
		return map[string]any{"type": "Raw", "code": int(o.Type), "data": hex.EncodeToString(o.Data)}
	}
	return map[string]any{"type": "unknown"}
}

// lifetimeSeconds gives ND lifetimes in whole seconds; infinity
// (mip6.NDInfiniteLifetime) stays the wire value 4294967295 so that JSON
// remains numeric.
func lifetimeSeconds(d time.Duration) int64 { return int64(d / time.Second) }
