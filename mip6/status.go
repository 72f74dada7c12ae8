package mip6

import "strconv"

// Status is the Status field of a Binding Acknowledgement (RFC 6275 §6.1.8,
// IANA "Binding Acknowledgement Status Codes"). Values below 128 accept the
// Binding Update, 128 and above reject it.
type Status uint8

// Binding Acknowledgement status codes.
const (
	StatusAccepted                     Status = 0   // RFC 6275
	StatusAcceptedPrefixDiscovery      Status = 1   // RFC 6275: accepted but prefix discovery necessary
	StatusUnspecified                  Status = 128 // RFC 6275: reason unspecified
	StatusProhibited                   Status = 129 // RFC 6275: administratively prohibited
	StatusInsufficientResources        Status = 130 // RFC 6275
	StatusHomeRegistrationNotSupported Status = 131 // RFC 6275
	StatusNotHomeSubnet                Status = 132 // RFC 6275
	StatusNotHomeAgentForThisMN        Status = 133 // RFC 6275
	StatusDADFailed                    Status = 134 // RFC 6275: duplicate address detection failed
	StatusSequenceOutOfWindow          Status = 135 // RFC 6275
	StatusExpiredHomeNonceIndex        Status = 136 // RFC 6275
	StatusExpiredCareofNonceIndex      Status = 137 // RFC 6275
	StatusExpiredNonces                Status = 138 // RFC 6275
	StatusRegistrationTypeChangeDenied Status = 139 // RFC 6275: registration type change disallowed
	StatusMobileRouterNotPermitted     Status = 140 // RFC 3963: mobile router operation not permitted
	StatusInvalidPrefix                Status = 141 // RFC 3963
	StatusNotAuthorizedForPrefix       Status = 142 // RFC 3963
	StatusForwardingSetupFailed        Status = 143 // RFC 3963
	StatusIDMismatch                   Status = 144 // RFC 4285: MIPV6-ID-MISMATCH
	StatusMesgIDRequired               Status = 145 // RFC 4285: MIPV6-MESG-ID-REQD
	StatusAuthFailed                   Status = 146 // RFC 4285: MIPV6-AUTH-FAIL
	StatusInvalidCareofAddress         Status = 174 // RFC 5555: invalid care-of address
)

var statusNames = map[Status]string{
	StatusAccepted:                     "accepted",
	StatusAcceptedPrefixDiscovery:      "accepted-prefix-discovery-necessary",
	StatusUnspecified:                  "reason-unspecified",
	StatusProhibited:                   "administratively-prohibited",
	StatusInsufficientResources:        "insufficient-resources",
	StatusHomeRegistrationNotSupported: "home-registration-not-supported",
	StatusNotHomeSubnet:                "not-home-subnet",
	StatusNotHomeAgentForThisMN:        "not-home-agent-for-this-mobile-node",
	StatusDADFailed:                    "duplicate-address-detection-failed",
	StatusSequenceOutOfWindow:          "sequence-number-out-of-window",
	StatusExpiredHomeNonceIndex:        "expired-home-nonce-index",
	StatusExpiredCareofNonceIndex:      "expired-care-of-nonce-index",
	StatusExpiredNonces:                "expired-nonces",
	StatusRegistrationTypeChangeDenied: "registration-type-change-disallowed",
	StatusMobileRouterNotPermitted:     "mobile-router-operation-not-permitted",
	StatusInvalidPrefix:                "invalid-prefix",
	StatusNotAuthorizedForPrefix:       "not-authorized-for-prefix",
	StatusForwardingSetupFailed:        "forwarding-setup-failed",
	StatusIDMismatch:                   "mipv6-id-mismatch",
	StatusMesgIDRequired:               "mipv6-mesg-id-required",
	StatusAuthFailed:                   "mipv6-auth-fail",
	StatusInvalidCareofAddress:         "invalid-care-of-address",
}

// Accepted reports whether the status accepts the Binding Update (< 128).
func (s Status) Accepted() bool { return s < 128 }

// String returns the status name, or "status(n)" for a code without one.
func (s Status) String() string {
	if n, ok := statusNames[s]; ok {
		return n
	}
	return "status(" + strconv.Itoa(int(s)) + ")"
}

// BEStatus is the Status field of a Binding Error (RFC 6275 §6.1.9).
type BEStatus uint8

// Binding Error status codes.
const (
	BEUnknownHomeAddress BEStatus = 1 // unknown binding for Home Address destination option
	BEUnknownMHType      BEStatus = 2 // unrecognized MH Type value
)

// String returns the status name, or "be-status(n)".
func (s BEStatus) String() string {
	switch s {
	case BEUnknownHomeAddress:
		return "unknown-binding-for-home-address"
	case BEUnknownMHType:
		return "unrecognized-mh-type"
	}
	return "be-status(" + strconv.Itoa(int(s)) + ")"
}

// IPv4AckStatus is the Status of an IPv4 Address Acknowledgement option
// (RFC 5555 §3.2.1).
type IPv4AckStatus uint8

// IPv4 Address Acknowledgement status codes (RFC 5555 §3.2.1).
const (
	IPv4AckSuccess              IPv4AckStatus = 0
	IPv4AckUnspecified          IPv4AckStatus = 128
	IPv4AckProhibited           IPv4AckStatus = 129
	IPv4AckIncorrectHomeAddress IPv4AckStatus = 130
	IPv4AckInvalidAddress       IPv4AckStatus = 131
	IPv4AckDynamicNotAvailable  IPv4AckStatus = 132
)

// String returns the status name, or "ipv4-ack(n)".
func (s IPv4AckStatus) String() string {
	switch s {
	case IPv4AckSuccess:
		return "success"
	case IPv4AckUnspecified:
		return "failure-reason-unspecified"
	case IPv4AckProhibited:
		return "administratively-prohibited"
	case IPv4AckIncorrectHomeAddress:
		return "incorrect-ipv4-home-address"
	case IPv4AckInvalidAddress:
		return "invalid-ipv4-address"
	case IPv4AckDynamicNotAvailable:
		return "dynamic-ipv4-home-address-not-available"
	}
	return "ipv4-ack(" + strconv.Itoa(int(s)) + ")"
}
