package binding

import "fmt"

// Change is what a processed Binding Update did to a binding cache: the
// home agent's (RFC 6275 §10.3) or a correspondent's (§9.5); the caller
// makes the data path follow.
type Change uint8

// Changes.
const (
	// NoChange: the cache is as it was.
	NoChange Change = iota
	// Created: a new binding (install the data path for the home address).
	Created
	// Refreshed: same care-of address, new lifetime.
	Refreshed
	// Moved: a new care-of address (re-point the data path).
	Moved
	// Deleted: de-registration (withdraw what the binding installed).
	Deleted
)

// String names the change, as logs and metrics label it.
func (c Change) String() string {
	switch c {
	case NoChange:
		return "none"
	case Created:
		return "created"
	case Refreshed:
		return "refreshed"
	case Moved:
		return "moved"
	case Deleted:
		return "deleted"
	}
	return fmt.Sprintf("change(%d)", uint8(c))
}
