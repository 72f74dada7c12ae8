// Package loopcall runs a function on a daemon's event loop for another
// goroutine and waits for it: the control socket's handlers (cnd, had)
// read state that only the loop owns, so they hand the loop a function
// instead of taking a lock the loop would hold on its every event.
package loopcall

import "context"

// Call is a function on its way to the loop.
type Call struct {
	fn   func()
	done chan struct{}
}

// Run runs the function and releases the goroutine waiting in Do. The
// loop calls it when it receives the Call.
func (c Call) Run() {
	c.fn()
	close(c.done)
}

// Do hands fn to the loop that receives from calls and waits until it
// has run. It reports false, fn not run, when stop is closed (the daemon
// is stopping: its loop may never receive again) or ctx ends before the
// loop took the call; once taken, the call is waited for to the end, so
// that fn never runs after Do returned.
func Do(ctx context.Context, calls chan<- Call, stop <-chan struct{}, fn func()) bool {
	c := Call{fn: fn, done: make(chan struct{})}
	select {
	case calls <- c:
	case <-stop:
		return false
	case <-ctx.Done():
		return false
	}
	<-c.done
	return true
}
