package netlab

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// NS is a network namespace of a lab.
type NS struct {
	// Name is the full namespace name, "<prefix>-<short>", as "ip netns"
	// knows it: "ip netns exec NAME sh" enters it.
	Name string

	short string
	lab   *Lab
}

// Short returns the short name the namespace was created with.
func (n *NS) Short() string { return n.short }

// String returns the full namespace name.
func (n *NS) String() string { return n.Name }

// NS creates the namespace "<prefix>-<short>", brings its loopback up and
// turns IPv6 and IPv4 forwarding off (a new namespace may inherit IPv4
// settings from the root one; a host must not forward unless a test says
// so). short is 1 to 32 characters of [a-z0-9_.-], starting with a letter or
// digit, and unique in the lab.
func (l *Lab) NS(short string) (*NS, error) {
	if !shortRE.MatchString(short) {
		return nil, fmt.Errorf("netlab: bad namespace short name %q (want [a-z0-9][a-z0-9_.-]{0,31})", short)
	}
	n := &NS{Name: l.prefix + "-" + short, short: short, lab: l}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil, errors.New("netlab: lab is closed")
	}
	for _, o := range l.nss {
		if o.short == short {
			l.mu.Unlock()
			return nil, fmt.Errorf("netlab: namespace %q already exists in the lab", short)
		}
	}
	// Track it before it exists: if "ip netns add" half-succeeds, Close
	// still tries to delete it.
	l.nss = append(l.nss, n)
	l.mu.Unlock()

	ctx := context.Background()
	if _, err := runCmd(ctx, "ip", "netns", "add", n.Name); err != nil {
		l.forget(n)
		return nil, err
	}
	if _, err := runCmd(ctx, "ip", "-n", n.Name, "link", "set", "lo", "up"); err != nil {
		return nil, err
	}
	if err := n.Forwarding(false, false); err != nil {
		return nil, err
	}
	return n, nil
}

// forget drops n from the lab after "ip netns add" failed, so Close does not
// delete a namespace of the same name that someone else owns.
func (l *Lab) forget(n *NS) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, o := range l.nss {
		if o == n {
			l.nss = append(l.nss[:i], l.nss[i+1:]...)
			return
		}
	}
}

// Sysctl sets a network sysctl inside the namespace. key is dotted
// ("net.ipv6.conf.all.accept_dad") or a path under /proc/sys
// ("net/ipv6/conf/eth0.100/forwarding", for names holding dots). Only keys
// under "net" are accepted: those are per namespace, anything else would
// change the host.
func (n *NS) Sysctl(key, value string) error {
	p := key
	if !strings.Contains(p, "/") {
		p = strings.ReplaceAll(p, ".", "/")
	}
	p = filepath.Clean(p)
	if !strings.HasPrefix(p, "net/") || strings.Contains(p, "..") {
		return fmt.Errorf("netlab: sysctl %q is not a per-namespace net.* key", key)
	}
	return n.Do(func() error {
		// /proc/sys/net resolves to the namespace of the thread that opens
		// the file, which Do has switched.
		if err := os.WriteFile("/proc/sys/"+p, []byte(value+"\n"), 0o644); err != nil {
			return fmt.Errorf("netlab: sysctl %s=%s in %s: %w", key, value, n.Name, err)
		}
		return nil
	})
}

// ReadSysctl returns the value of a network sysctl inside the namespace
// (key as for Sysctl), without the trailing newline.
func (n *NS) ReadSysctl(key string) (string, error) {
	p := key
	if !strings.Contains(p, "/") {
		p = strings.ReplaceAll(p, ".", "/")
	}
	p = filepath.Clean(p)
	if !strings.HasPrefix(p, "net/") || strings.Contains(p, "..") {
		return "", fmt.Errorf("netlab: sysctl %q is not a per-namespace net.* key", key)
	}
	var v string
	err := n.Do(func() error {
		b, err := os.ReadFile("/proc/sys/" + p)
		v = strings.TrimSpace(string(b))
		return err
	})
	return v, err
}

// Forwarding sets IPv6 forwarding (net.ipv6.conf.all.forwarding, which the
// kernel also copies to "default" and to every interface) and IPv4
// forwarding (net.ipv4.ip_forward) inside the namespace. Note that IPv6
// forwarding also makes Linux ignore Router Advertisements on the
// namespace's interfaces unless accept_ra is 2.
func (n *NS) Forwarding(v6, v4 bool) error {
	b := func(v bool) string {
		if v {
			return "1"
		}
		return "0"
	}
	if err := n.Sysctl("net.ipv6.conf.all.forwarding", b(v6)); err != nil {
		return err
	}
	return n.Sysctl("net.ipv4.ip_forward", b(v4))
}

// DisableDAD turns Duplicate Address Detection (RFC 4862 §5.4) off for
// interfaces created in the namespace from now on (and, through "all", for
// existing ones), so link-local addresses are usable at once. Addr already
// adds its IPv6 addresses with nodad; this is for the link-local addresses
// and for addresses a daemon under test configures itself.
func (n *NS) DisableDAD() error {
	// The kernel uses the larger of "all" and the interface's value, so
	// both must be 0; "default" seeds interfaces created later.
	if err := n.Sysctl("net.ipv6.conf.all.accept_dad", "0"); err != nil {
		return err
	}
	return n.Sysctl("net.ipv6.conf.default.accept_dad", "0")
}

// WaitDAD waits until no IPv6 address in the namespace is tentative, that
// is until Duplicate Address Detection has finished everywhere (about a
// second after a link comes up with the kernel's defaults), polling every
// 20 ms for up to timeout. Until then a router cannot resolve neighbours on
// behalf of forwarded packets: a tentative address is not assigned yet
// (RFC 4862 §5.4) and Linux, which sources such a Neighbor Solicitation
// (RFC 4861 §7.2.2) from the link-local address, sends none, so the first
// forwarded packets are lost.
func (n *NS) WaitDAD(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		out, err := runCmd(context.Background(), "ip", "-n", n.Name, "-6", "addr", "show", "tentative")
		if err != nil {
			return err
		}
		if strings.TrimSpace(out) == "" {
			return nil
		}
		if strings.Contains(out, "dadfailed") {
			return fmt.Errorf("netlab: duplicate address in %s:\n%s", n.Name, out)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("netlab: DAD not finished in %s after %v:\n%s", n.Name, timeout, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// validIfname reports whether name is a valid Linux interface name: 1 to 15
// bytes (IFNAMSIZ is 16 with the NUL), not "." or "..", without '/', ':' or
// white space (the kernel's dev_valid_name).
func validIfname(name string) bool {
	if name == "" || len(name) > 15 || name == "." || name == ".." {
		return false
	}
	for _, c := range []byte(name) {
		if c == '/' || c == ':' || c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

// Link creates a veth pair, aIf in a and bIf in b, and brings both ends up.
// The pair is created inside a with its peer placed straight into b, so the
// root namespace never sees either end (and no name in it can clash).
// a and b may be the same namespace.
func (l *Lab) Link(a *NS, aIf string, b *NS, bIf string) error {
	if a == nil || b == nil || a.lab != l || b.lab != l {
		return errors.New("netlab: Link needs two namespaces of this lab")
	}
	for _, name := range []string{aIf, bIf} {
		if !validIfname(name) {
			return fmt.Errorf("netlab: bad interface name %q (1 to 15 characters, no '/', ':' or space)", name)
		}
	}
	if a == b && aIf == bIf {
		return fmt.Errorf("netlab: both ends of a link named %q in %s", aIf, a.Name)
	}
	ctx := context.Background()
	if _, err := runCmd(ctx, "ip", "-n", a.Name, "link", "add", aIf, "type", "veth", "peer", "name", bIf, "netns", b.Name); err != nil {
		return err
	}
	if _, err := runCmd(ctx, "ip", "-n", a.Name, "link", "set", aIf, "up"); err != nil {
		return err
	}
	_, err := runCmd(ctx, "ip", "-n", b.Name, "link", "set", bIf, "up")
	return err
}

// Addr adds an address in CIDR notation ("2001:db8:1::2/64") to ifname. IPv6
// addresses are added with nodad, so they are usable at once instead of
// after a second of Duplicate Address Detection.
func (n *NS) Addr(ifname, cidr string) error {
	p, err := netip.ParsePrefix(cidr)
	if err != nil {
		return fmt.Errorf("netlab: address %q: %w", cidr, err)
	}
	if !validIfname(ifname) {
		return fmt.Errorf("netlab: bad interface name %q", ifname)
	}
	args := []string{"-n", n.Name}
	if p.Addr().Is6() && !p.Addr().Is4In6() {
		args = append(args, "-6", "addr", "add", p.String(), "dev", ifname, "nodad")
	} else {
		args = append(args, "-4", "addr", "add", p.String(), "dev", ifname)
	}
	_, err = runCmd(context.Background(), "ip", args...)
	return err
}

// routeFamily returns "-6" or "-4" from the first argument that is an
// address or prefix, or "" if there is none (then ip's default applies).
func routeFamily(args []string) string {
	for _, a := range args {
		var addr netip.Addr
		if p, err := netip.ParsePrefix(a); err == nil {
			addr = p.Addr()
		} else if x, err := netip.ParseAddr(a); err == nil {
			addr = x
		} else {
			continue
		}
		if addr.Is4() || addr.Is4In6() {
			return "-4"
		}
		return "-6"
	}
	return ""
}

// Route runs "ip [-6|-4] route add ARGS..." inside the namespace, e.g.
// Route("default", "via", "2001:db8:1::1"). The family comes from the first
// address in args ("default" alone would mean IPv4 to ip).
func (n *NS) Route(args ...string) error {
	a := []string{"-n", n.Name}
	if f := routeFamily(args); f != "" {
		a = append(a, f)
	}
	a = append(a, "route", "add")
	a = append(a, args...)
	_, err := runCmd(context.Background(), "ip", a...)
	return err
}

// IP runs "ip ARGS..." inside the namespace (ip -n NAME ARGS...) and returns
// its combined output.
func (n *NS) IP(args ...string) (string, error) {
	return runCmd(context.Background(), "ip", append([]string{"-n", n.Name}, args...)...)
}

// NeighMAC returns the link-layer address of the namespace's IPv6
// neighbour entry for a on ifname ("" when the entry has none, as an
// INCOMPLETE or FAILED one) and the entry as "ip neigh" printed it.
func (n *NS) NeighMAC(ifname string, a netip.Addr) (mac, entry string, err error) {
	out, err := n.IP("-6", "neigh", "show", a.String(), "dev", ifname)
	if err != nil {
		return "", "", err
	}
	entry = strings.TrimSpace(out)
	return neighLLAddr(entry), entry, nil
}

// neighLLAddr returns the word after "lladdr" in an "ip neigh" line, or "".
func neighLLAddr(line string) string {
	f := strings.Fields(line)
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "lladdr" {
			return f[i+1]
		}
	}
	return ""
}

// nsExecArgs is how commands are started inside a namespace.
var nsExecArgs = []string{"ip", "netns", "exec"}

// Run runs a command inside the namespace ("ip netns exec", which also
// mounts the namespace's /sys) and returns its combined output. It is
// bounded by DefaultTimeout; a non-zero exit is an error that quotes the
// output.
func (n *NS) Run(args ...string) (string, error) {
	return n.RunContext(context.Background(), args...)
}

// RunContext is Run bounded by ctx as well as by DefaultTimeout.
func (n *NS) RunContext(ctx context.Context, args ...string) (string, error) {
	if len(args) == 0 {
		return "", errors.New("netlab: Run needs a command")
	}
	argv := append(append(append([]string(nil), nsExecArgs[1:]...), n.Name), args...)
	return runCmd(ctx, nsExecArgs[0], argv...)
}

// Do runs f on an OS thread switched into the namespace and switches the
// thread back afterwards. Sockets and other descriptors f creates belong to
// the namespace for their whole life, wherever they are used later; that is
// the way to give a Go test or tool a socket inside the lab.
//
// f runs on another goroutine (locked to its thread), so it must not call
// t.FailNow or t.Fatal; a panic in f is re-raised in the caller. Goroutines
// f starts run in the root namespace (Go never starts threads from a locked
// one). If the thread cannot be switched back, it is discarded rather than
// returned to the Go scheduler.
func (n *NS) Do(f func() error) error {
	type result struct {
		err   error
		panic any
		ok    bool
	}
	done := make(chan result, 1)
	go func() {
		var r result
		defer func() {
			if !r.ok {
				r.panic = recover()
				if r.panic == nil {
					r.panic = "netlab: Do: f called runtime.Goexit"
				}
			}
			done <- r
		}()
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			r.err, r.ok = fmt.Errorf("netlab: %w", err), true
			runtime.UnlockOSThread()
			return
		}
		defer orig.Close()
		target, err := os.Open(filepath.Join("/run/netns", n.Name))
		if err != nil {
			r.err, r.ok = fmt.Errorf("netlab: namespace %s: %w", n.Name, err), true
			runtime.UnlockOSThread()
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			r.err, r.ok = fmt.Errorf("netlab: setns %s: %w", n.Name, err), true
			runtime.UnlockOSThread()
			return
		}
		// Switch back even if f panics; leave the thread locked (so the
		// runtime kills it when this goroutine ends) if that fails.
		defer func() {
			if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err == nil {
				runtime.UnlockOSThread()
			} else if r.err == nil {
				r.err = fmt.Errorf("netlab: setns back from %s: %w", n.Name, err)
			}
		}()
		r.err = f()
		r.ok = true
	}()
	r := <-done
	if r.panic != nil {
		panic(r.panic)
	}
	return r.err
}
