#!/usr/bin/env bash
# Installs what gomip6's lab and tests need on a Debian machine, as root.
# Idempotent: packages already present are left alone. Sourced or run by
# scripts/lab.sh and scripts/test.sh, so a fresh machine needs no other step.
set -euo pipefail

need_pkgs=(iproute2 nftables radvd iperf3 jq ethtool ndisc6 tcpdump tshark python3-scapy ca-certificates git)
missing=()
for p in "${need_pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ! command -v go >/dev/null 2>&1 && [ ! -x /usr/local/go/bin/go ]; then
	missing+=(golang-go)
fi
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "deps: missing packages ${missing[*]}; run as root to install them" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	# tshark asks whether non-root users may capture; answer no, quietly.
	echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Go: the module says go 1.26. A Debian golang-go older than that fetches the
# 1.26 toolchain through the Go module proxy by itself (GOTOOLCHAIN=auto).
if [ -x /usr/local/go/bin/go ]; then
	export PATH=/usr/local/go/bin:$PATH
fi
export GOTOOLCHAIN=${GOTOOLCHAIN:-auto}
go version >/dev/null
