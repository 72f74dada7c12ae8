package mip6

import (
	"errors"
	"fmt"
)

// Sentinel errors. Parse and Marshal wrap them with details, so callers test
// with errors.Is.
var (
	// ErrTruncated reports input shorter than its own length fields claim.
	ErrTruncated = errors.New("mip6: truncated")
	// ErrLength reports a length field with a value the RFC does not allow.
	ErrLength = errors.New("mip6: bad length")
	// ErrInvalid reports a field value the RFC does not allow.
	ErrInvalid = errors.New("mip6: invalid field")
	// ErrAlignment reports an option that violates its alignment rule.
	ErrAlignment = errors.New("mip6: bad alignment")
	// ErrAddress reports an address of the wrong kind (family, scope).
	ErrAddress = errors.New("mip6: bad address")
	// ErrType reports a message or option type other than the one expected.
	ErrType = errors.New("mip6: unexpected type")
	// ErrChecksum reports a checksum that does not verify.
	ErrChecksum = errors.New("mip6: bad checksum")
)

// errorf wraps a sentinel with context: errorf(ErrLength, "BU: %d", n)
// yields "mip6: bad length: BU: 12" and errors.Is(err, ErrLength).
func errorf(sentinel error, format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{sentinel}, args...)...)
}
