package netif

import (
	"errors"
	"net"
	"os"
	"time"
)

// ReadRetryDelay is how long a socket reader waits after a read error
// before it reads again.
const ReadRetryDelay = 10 * time.Millisecond

// ReadStop decides what a socket reader does after the read error err:
// stop (true) when the socket was closed or done is; otherwise it waits
// ReadRetryDelay, so that a persistent error (ENOBUFS, a dead interface)
// is no busy loop, and the caller reads again.
func ReadStop(err error, done <-chan struct{}) bool {
	return closed(err) || wait(ReadRetryDelay, done)
}

// The waits of a Backoff: the first after an error, and the longest.
const (
	MinBackoff = time.Millisecond
	MaxBackoff = time.Second
)

// Backoff is ReadStop for a data-path loop, whose wait grows while its
// reads keep failing: MinBackoff after the first error, doubling up to
// MaxBackoff, back to MinBackoff after a read that worked (Reset). A
// lone error (a malformed packet refused) costs the loop little; a
// persistent one (a device gone bad) is no busy loop, and costs at most
// MaxBackoff of delay once it clears. The zero value is ready; not safe
// for concurrent use (one per loop).
type Backoff struct {
	next time.Duration
}

// Stop decides what the loop does after the read error err: stop (true)
// when the file was closed or done is; otherwise it waits its turn and
// the caller reads again.
func (b *Backoff) Stop(err error, done <-chan struct{}) bool {
	if closed(err) {
		return true
	}
	d := max(b.next, MinBackoff)
	b.next = min(2*d, MaxBackoff)
	return wait(d, done)
}

// Reset starts the waits over, after a read that worked.
func (b *Backoff) Reset() { b.next = 0 }

// closed reports an error that ends a reader for good: its socket or
// file was closed.
func closed(err error) bool {
	return errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrClosed)
}

// wait waits d and returns false, or returns true as soon as done is
// closed.
func wait(d time.Duration, done <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}
