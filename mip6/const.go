package mip6

import (
	"strconv"
	"time"
)

// This file holds the numbers the RFCs fix: protocol numbers, IANA code
// points and the protocol constants and configuration variables of RFC 6275
// §12 and §13. Implementation choices (buffer sizes, defaults of our own)
// live with the code that makes them, never here.

// IP protocol numbers (IANA "Assigned Internet Protocol Numbers").
const (
	ProtoHopByHop   = 0   // IPv6 Hop-by-Hop Options
	ProtoIPv4       = 4   // IPv4 encapsulation
	ProtoTCP        = 6   //
	ProtoUDP        = 17  //
	ProtoIPv6       = 41  // IPv6 encapsulation (RFC 2473, RFC 4213)
	ProtoRouting    = 43  // IPv6 Routing header
	ProtoFragment   = 44  // IPv6 Fragment header
	ProtoESP        = 50  //
	ProtoAH         = 51  //
	ProtoICMPv6     = 58  //
	ProtoNoNext     = 59  // IPv6 No Next Header: the MH Payload Proto (§6.1.1)
	ProtoDestOpts   = 60  // IPv6 Destination Options
	ProtoMobility   = 135 // Mobility Header (RFC 6275 §6.1)
	ProtoHIP        = 139 // extension headers that may precede a Mobility Header
	ProtoShim6      = 140 //
	ProtoExperiment = 253 // RFC 3692 experimentation
)

// UDPPortDSMIP is the UDP port for IPv6-in-UDP encapsulation of Dual-Stack
// Mobile IPv6 (RFC 5555 §4.1, IANA "dsmipv6").
const UDPPortDSMIP = 4191

// OptHomeAddress is the Destination Option type of the Home Address option
// (RFC 6275 §6.3): the top two bits 11 make a node that does not know it
// send an ICMP Parameter Problem, code 2.
const OptHomeAddress = 201

// RoutingType2 is the routing type of the type 2 routing header (§6.4).
const RoutingType2 = 2

// MHType is the Mobility Header message type (§6.1.2, IANA "Mobility Header
// Types").
type MHType uint8

// Mobility Header types.
const (
	MHBindingRefreshRequest MHType = 0 // BRR, §6.1.2
	MHHomeTestInit          MHType = 1 // HoTI, §6.1.3
	MHCareofTestInit        MHType = 2 // CoTI, §6.1.4
	MHHomeTest              MHType = 3 // HoT, §6.1.5
	MHCareofTest            MHType = 4 // CoT, §6.1.6
	MHBindingUpdate         MHType = 5 // BU, §6.1.7
	MHBindingAck            MHType = 6 // BA, §6.1.8
	MHBindingError          MHType = 7 // BE, §6.1.9
)

var mhTypeNames = [...]string{"BRR", "HoTI", "CoTI", "HoT", "CoT", "BU", "BA", "BE"}

// String returns the customary short name ("BU", "BA", ...) or "MH(n)".
func (t MHType) String() string {
	if int(t) < len(mhTypeNames) {
		return mhTypeNames[t]
	}
	return "MH(" + strconv.Itoa(int(t)) + ")"
}

// OptionType is a mobility option type (§6.2, IANA "Mobility Options").
type OptionType uint8

// Mobility option types. Only IANA code points.
const (
	OptPad1                   OptionType = 0  // RFC 6275 §6.2.2
	OptPadN                   OptionType = 1  // RFC 6275 §6.2.3
	OptBindingRefreshAdvice   OptionType = 2  // RFC 6275 §6.2.4
	OptAlternateCareofAddress OptionType = 3  // RFC 6275 §6.2.5
	OptNonceIndices           OptionType = 4  // RFC 6275 §6.2.6
	OptBindingAuthData        OptionType = 5  // RFC 6275 §6.2.7
	OptMobileNetworkPrefix    OptionType = 6  // RFC 3963 §4.3
	OptMNIdentifier           OptionType = 8  // RFC 4283 §3
	OptAuthentication         OptionType = 9  // RFC 4285 §5
	OptReplayProtection       OptionType = 10 // RFC 4285 §6 (Mesg-ID)
	OptIPv4HomeAddress        OptionType = 29 // RFC 5555 §3.1.1
	OptIPv4AddressAck         OptionType = 30 // RFC 5555 §3.2.1
	OptNATDetection           OptionType = 31 // RFC 5555 §3.2.2
	OptIPv4CareofAddress      OptionType = 32 // RFC 5555 §3.1.2
	OptBindingIdentifier      OptionType = 35 // RFC 5648 §6.1
)

// ICMPv6 message types of Mobile IPv6 (§6.5–6.8) and of Neighbor Discovery.
const (
	ICMPRouterSolicitation       = 133 // RFC 4861 §4.1
	ICMPRouterAdvertisement      = 134 // RFC 4861 §4.2, extended by §7.1
	ICMPHomeAgentDiscoveryReq    = 144 // §6.5
	ICMPHomeAgentDiscoveryReply  = 145 // §6.6
	ICMPMobilePrefixSolicitation = 146 // §6.7
	ICMPMobilePrefixAdvert       = 147 // §6.8
	ICMPParameterProblem         = 4   // RFC 4443 §3.4
)

// Neighbor Discovery option types used by Mobile IPv6.
const (
	NDOptSourceLinkLayer       = 1 // RFC 4861 §4.6.1
	NDOptTargetLinkLayer       = 2 // RFC 4861 §4.6.1
	NDOptPrefixInformation     = 3 // RFC 4861 §4.6.2, R bit §7.2
	NDOptMTU                   = 5 // RFC 4861 §4.6.4
	NDOptAdvertisementInterval = 7 // §7.3
	NDOptHomeAgentInformation  = 8 // §7.4
)

// LifetimeUnit is the unit of the Lifetime fields of BU and BA and of the
// Binding Refresh Advice interval (§6.1.7, §6.1.8, §6.2.4).
const LifetimeUnit = 4 * time.Second

// MaxLifetime is the largest lifetime a BU or BA can carry: 65535 units of
// 4 s, 262140 s.
const MaxLifetime = 0xffff * LifetimeUnit

// Protocol constants, RFC 6275 §12.
const (
	DHAADRetries          = 4                 // DHAAD_RETRIES, retransmissions
	InitialBindackTimeout = 1 * time.Second   // INITIAL_BINDACK_TIMEOUT
	InitialDHAADTimeout   = 3 * time.Second   // INITIAL_DHAAD_TIMEOUT
	InitialSolicitTimer   = 3 * time.Second   // INITIAL_SOLICIT_TIMER
	MaxBindackTimeout     = 32 * time.Second  // MAX_BINDACK_TIMEOUT
	MaxDeleteBCETimeout   = 10 * time.Second  // MAX_DELETE_BCE_TIMEOUT
	MaxNonceLifetime      = 240 * time.Second // MAX_NONCE_LIFETIME
	MaxTokenLifetime      = 210 * time.Second // MAX_TOKEN_LIFETIME
	MaxRRBindingLifetime  = 420 * time.Second // MAX_RR_BINDING_LIFETIME
	MaxUpdateRate         = 3                 // MAX_UPDATE_RATE, BUs per second
	PrefixAdvRetries      = 3                 // PREFIX_ADV_RETRIES
	PrefixAdvTimeout      = 3 * time.Second   // PREFIX_ADV_TIMEOUT
)

// Protocol configuration variables, RFC 6275 §13: their defaults and, where
// the RFC gives one, their floor.
const (
	DefaultMaxMobPfxAdvInterval          = 86400 * time.Second     // MaxMobPfxAdvInterval
	DefaultMinDelayBetweenRAs            = 3 * time.Second         // MinDelayBetweenRAs
	MinMinDelayBetweenRAs                = 30 * time.Millisecond   // its floor
	DefaultMinMobPfxAdvInterval          = 600 * time.Second       // MinMobPfxAdvInterval
	DefaultInitialBindackTimeoutFirstReg = 1500 * time.Millisecond // InitialBindackTimeoutFirstReg
)

// Router advertisement interval floors for a home agent's link, RFC 6275
// §7.5: MinRtrAdvInterval down to 0.03 s and MaxRtrAdvInterval down to
// 0.07 s (RFC 4861 allows 3 s and 4 s).
const (
	MinMinRtrAdvInterval = 30 * time.Millisecond
	MinMaxRtrAdvInterval = 70 * time.Millisecond
)

// Return routability sizes, §5.2.
const (
	KcnLen           = 20 // §5.2.1: 20 octets, HMAC-SHA1 key
	NonceLen         = 8  // §5.2.2: 64 bits recommended
	KeygenTokenLen   = 8  // §5.2.5: First(64, HMAC_SHA1(...))
	CookieLen        = 8  // §6.1.3-6.1.6: init cookies are 64 bits
	KbmLen           = 20 // §5.2.5: SHA1 output
	AuthenticatorLen = 12 // §5.2.6, §6.2.7: First(96, HMAC_SHA1(...))
)
