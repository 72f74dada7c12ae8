//go:build tools

// Package internal pins the modules the project depends on before every
// package imports them, so go.mod stays stable while packages are written.
package internal

import (
	_ "github.com/BurntSushi/toml"
	_ "github.com/google/go-cmp/cmp"
	_ "github.com/mdlayher/packet"
	_ "github.com/vishvananda/netlink"
	_ "go.uber.org/zap"
	_ "golang.org/x/net/ipv6"
	_ "golang.org/x/sys/unix"
	_ "golang.zx2c4.com/wireguard/tun"
)
