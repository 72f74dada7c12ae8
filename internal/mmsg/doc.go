// Package mmsg is the one implementation of preallocated message batches
// for sendmmsg(2) and recvmmsg(2), shared by the tunnel forwarder and the
// route-optimized data path (internal/rodata): message headers, I/O
// vectors, socket addresses and control buffers allocated once and reused,
// so that a batch costs one system call and no allocation per packet.
//
// It does no I/O of its own beyond the system calls on a descriptor the
// caller gives: how to wait for a full socket buffer (a blocking socket
// with SO_SNDTIMEO, or the Go netpoller through syscall.RawConn) is the
// caller's.
package mmsg
