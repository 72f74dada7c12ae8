package daemon

import (
	"net"
	"os"
)

// Notify sends state to the service manager (sd_notify(3)): "READY=1" when
// the daemon serves, "STOPPING=1" when it shuts down, "RELOADING=1" before
// a reload and "READY=1" after it. Outside systemd (NOTIFY_SOCKET unset) it
// does nothing. The protocol is one datagram on the unix socket systemd
// names, an abstract one when the name starts with '@'; no library needed.
func Notify(state string) error {
	addr := os.Getenv("NOTIFY_SOCKET")
	if addr == "" {
		return nil
	}
	if addr[0] == '@' {
		addr = "\x00" + addr[1:]
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Write([]byte(state))
	return err
}
