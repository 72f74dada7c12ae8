package capture

import (
	"encoding/hex"
	"errors"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/gomip6/gomip6/mip6"
)

// decodeMH describes a Mobility Header message. The checksum is verified
// with the pseudo-header addresses of RFC 6275 §6.1.1 that the walker
// worked out (home address as source, final destination as destination).
func decodeMH(r *Record, b []byte, l mip6.PacketLayout) {
	if len(b) >= 3 {
		r.MHType = mip6.MHType(b[2]).String()
	}
	if !r.Fragmented {
		// A first fragment holds part of the message: the checksum
		// covers the whole, which is not there.
		src, dst := mip6.MHChecksumAddrs(l.Src, l.Dst, l.HomeAddress, rh2Final(l))
		r.ChecksumOK = ptr(mip6.VerifyMHChecksum(b, src, dst))
	}
	m, err := mip6.ParseMessage(b)
	if err != nil {
		if !r.Fragmented || !errors.Is(err, mip6.ErrTruncated) {
			r.Error = err.Error()
		}
		return
	}
	r.MHType = m.MHType().String()
	var opts []mip6.MobilityOption
	switch m := m.(type) {
	case *mip6.BindingRefreshRequest:
		opts = m.Options
	case *mip6.HomeTestInit:
		r.Fields = map[string]any{"home_init_cookie": hex.EncodeToString(m.Cookie[:])}
		opts = m.Options
	case *mip6.CareofTestInit:
		r.Fields = map[string]any{"care_of_init_cookie": hex.EncodeToString(m.Cookie[:])}
		opts = m.Options
	case *mip6.HomeTest:
		r.Fields = map[string]any{
			"home_nonce_index":  m.NonceIndex,
			"home_init_cookie":  hex.EncodeToString(m.Cookie[:]),
			"home_keygen_token": hex.EncodeToString(m.KeygenToken[:]),
		}
		opts = m.Options
	case *mip6.CareofTest:
		r.Fields = map[string]any{
			"care_of_nonce_index":  m.NonceIndex,
			"care_of_init_cookie":  hex.EncodeToString(m.Cookie[:]),
			"care_of_keygen_token": hex.EncodeToString(m.KeygenToken[:]),
		}
		opts = m.Options
	case *mip6.BindingUpdate:
		r.Sequence = ptr(m.Sequence)
		r.Flags = ptr(nonNil(m.Flags.Letters()))
		r.LifetimeS = ptr(int64(m.Lifetime / time.Second))
		opts = m.Options
	case *mip6.BindingAck:
		r.Sequence = ptr(m.Sequence)
		r.Flags = ptr(nonNil(m.Flags.Letters()))
		r.LifetimeS = ptr(int64(m.Lifetime / time.Second))
		r.Status = ptr(int(m.Status))
		r.StatusName = m.Status.String()
		opts = m.Options
	case *mip6.BindingError:
		r.Status = ptr(int(m.Status))
		r.StatusName = m.Status.String()
		r.Fields = map[string]any{"home_address": m.HomeAddress.String()}
		opts = m.Options
	case *mip6.RawMessage:
		r.Fields = map[string]any{"data": hex.EncodeToString(m.Data)}
	}
	for _, o := range opts {
		r.Options = append(r.Options, mobilityOption(o))
	}
}

// rh2Final is the final destination a type 2 routing header names while it
// is still to be processed (Segments Left 1), or the invalid address.
func rh2Final(l mip6.PacketLayout) netip.Addr {
	if l.RH2 != 0 && l.RH2SegmentsLeft == 1 {
		return l.RH2Address
	}
	return netip.Addr{}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// mobilityOption renders one option as a JSON object: "type" is the
// option's name (OptionType.String), the other keys its fields.
func mobilityOption(o mip6.MobilityOption) map[string]any {
	m := map[string]any{"type": o.OptionType().String()}
	switch o := o.(type) {
	case *mip6.BindingRefreshAdvice:
		m["refresh_interval_s"] = int64(o.RefreshInterval / time.Second)
	case *mip6.AlternateCareofAddress:
		m["address"] = o.Address.String()
	case *mip6.NonceIndices:
		m["home_nonce_index"] = o.HomeNonceIndex
		m["care_of_nonce_index"] = o.CareofNonceIndex
	case *mip6.BindingAuthorizationData:
		m["authenticator"] = hex.EncodeToString(o.Authenticator[:])
	case *mip6.MobileNetworkPrefix:
		m["prefix"] = o.Prefix.String()
	case *mip6.MNIdentifier:
		m["subtype"] = int(o.Subtype)
		if nai, ok := o.NAI(); ok {
			m["nai"] = nai
		} else {
			m["identifier"] = hex.EncodeToString(o.Identifier)
		}
	case *mip6.Authentication:
		m["subtype"] = int(o.Subtype)
		m["spi"] = o.SPI
		m["data"] = hex.EncodeToString(o.Data)
	case *mip6.ReplayProtection:
		m["timestamp"] = "0x" + strconv.FormatUint(o.Timestamp, 16)
		m["time"] = o.Time().Format(time.RFC3339Nano)
	case *mip6.IPv4HomeAddress:
		m["address"] = o.Address.String()
		m["prefix_len"] = int(o.PrefixLen)
		m["request_prefix"] = o.RequestPrefix
	case *mip6.IPv4AddressAck:
		m["status"] = int(o.Status)
		m["status_name"] = o.Status.String()
		m["address"] = o.Address.String()
		m["prefix_len"] = int(o.PrefixLen)
	case *mip6.NATDetection:
		m["udp_forced"] = o.ForceUDP
		m["refresh_time_s"] = int64(o.RefreshTime / time.Second)
	case *mip6.IPv4CareofAddress:
		m["address"] = o.Address.String()
	case *mip6.BindingIdentifier:
		m["bid"] = o.BID
		m["status"] = int(o.Status)
		m["simultaneous_home"] = o.SimultaneousHome
		m["priority"] = int(o.Priority)
		if o.CareofAddress.IsValid() {
			m["care_of_address"] = o.CareofAddress.String()
		}
	case *mip6.RawOption:
		m["type"] = "Raw"
		m["code"] = int(o.Type)
		m["data"] = hex.EncodeToString(o.Data)
	}
	return m
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
