//go:build linux

package had

import (
	"errors"
	"fmt"
	"io"
	"net"

	"go.uber.org/zap"

	"github.com/gomip6/gomip6/internal/control"
	"github.com/gomip6/gomip6/tunnel"
	"github.com/gomip6/gomip6/tunnel/ebpf"
)

// useKernelPath sets up fc for [tunnel] kernel_path (tunnel/ebpf): the
// kernel encapsulates toward the bindings and decapsulates what the
// mobile nodes send, and the userspace forwarder keeps the rest (UDP
// encapsulation, IPv4 inner packets, packets before their binding).
// tc is the tunnel's configuration, which the BPF programs apply as
// Tunnel.Encap does. With kernel_path off fc is left as it is.
//
// It first removes the accelerated routes a killed had left behind into
// its tun device (ebpf.Cleanup; those of other devices, a mobile node's
// in the same namespace, are not had's), whether or not the kernel path
// is on now: they hold a program nothing keeps in step with the bindings
// any more.
func (d *Daemon) useKernelPath(fc *tunnel.ForwarderConfig, tc tunnel.Config) {
	if _, err := ebpf.Cleanup(fc.Name); err != nil {
		d.log.Warn("removing a previous run's kernel path routes", zap.Error(err))
	}
	if !d.cfg.Tunnel.KernelPath {
		return
	}
	// Packet sockets see arriving packets before the ingress program
	// decapsulates them, so both would forward them (tunnel refuses the
	// combination). GRO super-packets, the reason for PacketReceive, are
	// what the ingress program decapsulates whole; if it does not
	// start, the forwarder takes them through packet sockets again.
	fc.PacketReceiveFallback = fc.PacketReceive
	fc.PacketReceive = false
	fc.EBPF = func(dev string) (tunnel.KernelPath, error) {
		ifs, err := arrivalInterfaces(dev)
		if err != nil {
			return nil, &ebpf.Error{Err: err}
		}
		// Start's errors, and its Syncs', are *ebpf.Error.
		kp, err := ebpf.Start(ebpf.Config{Tunnel: tc, Interfaces: ifs}, nil)(dev)
		if err != nil {
			return nil, err
		}
		d.log.Info("tunnel kernel path on", zap.String("tun", dev), zap.Strings("ingress", ifs))
		return kp, nil
	}
	// A kernel path that cannot load or keep up is not the forwarder
	// stopping: had runs on without it (the forwarder does the work, as
	// with kernel_path off), so it is a warning.
	fc.OnError = ebpf.OnError(func(err error) {
		d.log.Warn("tunnel kernel path: running without it where it failed", zap.Error(err))
	}, fc.OnError)
}

// arrivalInterfaces returns the interfaces the ingress (decapsulation)
// program goes on: where tunnel packets from mobile nodes can arrive.
// Their care-of addresses can be anywhere, so that is every interface
// that is up but the loopback and the tun device itself; on an
// interface without tunnel traffic the program only passes packets on
// (it leaves alone whatever is not a tunnel packet of a binding in its
// map). Interfaces that come up later (the 6in4 uplink device,
// created after the forwarder) are not covered: their tunnel packets
// take the userspace forwarder, as without the kernel path.
func arrivalInterfaces(tun string) ([]string, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	var names []string
	for _, ifi := range ifs {
		if ifi.Flags&net.FlagUp == 0 || ifi.Flags&net.FlagLoopback != 0 || ifi.Name == tun {
			continue
		}
		names = append(names, ifi.Name)
	}
	if len(names) == 0 {
		return nil, errors.New("no interface up for tunnel packets to arrive on")
	}
	return names, nil
}

// writeKernelPathMetrics writes the kernel path's counters (tunnel
// ForwarderConfig.EBPF) when [tunnel] kernel_path is on.
func (d *Daemon) writeKernelPathMetrics(m *control.Metrics, fs tunnel.Stats) {
	if !d.cfg.Tunnel.KernelPath {
		return
	}
	k := fs.Kernel
	m.KernelPath(control.KernelPath{Up: fs.KernelPathError == "", Encapsulated: k.Encapsulated,
		Decapsulated: k.Decapsulated, Passed: k.Passed, Dropped: k.Dropped})
}

// cleanupKernelPath removes the accelerated routes (ebpf.RouteProtocol)
// into tun device tunName that a killed had left behind, for
// CleanupWith, and returns how many there were.
func cleanupKernelPath(tunName string, w io.Writer) (int, error) {
	n, err := ebpf.Cleanup(tunName)
	if n > 0 {
		fmt.Fprintf(w, "had: removed %d kernel path route(s) (proto %#x)\n", n, ebpf.RouteProtocol)
	}
	return n, err
}
