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
	if errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrClosed) {
		return true
	}
	t := time.NewTimer(ReadRetryDelay)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}
