package netif

import (
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// CurrentNetns opens the network namespace of the calling thread, for
// InNetns: a daemon records it in New so that what it installed is
// removed in the same namespace whichever thread shuts it down (tests run
// daemons in-process in namespaces of their own).
func CurrentNetns() (*os.File, error) {
	return os.Open("/proc/thread-self/ns/net")
}

// InNetns runs f on a thread in the network namespace ns, so that the
// commands f starts (nft, ip) act there; nil ns runs f where it is. The
// thread goes back to its own namespace before it is released; if it
// cannot, it stays locked and ends with its goroutine.
func InNetns(ns *os.File, f func() error) error {
	if ns == nil {
		return f()
	}
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		cur, err := CurrentNetns()
		if err != nil {
			runtime.UnlockOSThread()
			done <- err
			return
		}
		defer cur.Close()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			done <- err
			return
		}
		err = f()
		if unix.Setns(int(cur.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		done <- err
	}()
	return <-done
}
