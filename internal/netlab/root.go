package netlab

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

var (
	rootOnce   sync.Once
	rootReason string // why labs cannot run here; "" if they can
)

// probeRoot finds out whether this process can build labs: root, an "ip"
// with netns support, and the right to create network namespaces (a
// container without CAP_SYS_ADMIN has not). The last is probed by
// unsharing a network namespace on a thread that is then discarded, which
// creates nothing anyone can see.
func probeRoot() string {
	if os.Geteuid() != 0 {
		return "not root"
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return "no ip command (iproute2)"
	}
	if _, err := runCmd(context.Background(), "ip", "netns", "list"); err != nil {
		return fmt.Sprintf("ip netns unusable: %v", err)
	}
	errc := make(chan error, 1)
	go func() {
		// The thread goes back to its namespace before it is unlocked.
		// Leaving it locked would not be enough: when the goroutine ends
		// on the process's main thread, the runtime parks that thread
		// rather than ending it, and the process would keep a thread in
		// an anonymous namespace (misleading /proc/self/net readers).
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer unix.Close(orig)
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		if unix.Setns(orig, unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		} // else: stays locked, and the thread ends with the goroutine
		errc <- nil
	}()
	if err := <-errc; err != nil {
		return fmt.Sprintf("cannot create network namespaces: %v", err)
	}
	return ""
}

// SkipUnlessRoot skips t unless the process runs as root with "ip netns"
// usable and the right to create network namespaces. The probe runs once
// per process.
func SkipUnlessRoot(t testing.TB) {
	t.Helper()
	rootOnce.Do(func() { rootReason = probeRoot() })
	if rootReason != "" {
		t.Skipf("netlab: needs root and network namespaces: %s", rootReason)
	}
}
