#!/usr/bin/env bash
# bench-tunnel.sh: the gomip6 tunnel's forwarding rate against the kernel's
# own IPv6 forwarding over the same path (issue 3 item 5). Needs root,
# iperf3, jq, python3, go and ethtool.
#
# It builds a line of three network namespaces,
#
#   mn  m0 ── h0  ha  h1 ── c0  cn
#
# the mobile node's home address (2001:db8:3::100) on mn, and measures, in
# one run and interleaved (kernel, gomip6, kernel, gomip6, ...), for each
# encapsulation (ipv6 = IPv6 in IPv6, 6in4, udp4 = IPv6 in UDP over IPv4)
# and both directions ("up" mn -> cn, "down" cn -> mn):
#   - TCP throughput: iperf3, one stream, SECS seconds;
#   - the 64-byte packet rate: iperf3 -u -l 64 -b 0 (an unbounded flood of
#     64-octet UDP payloads), received packets per second.
# "kernel" routes the home address plainly through ha; "gomip6" routes it
# into tun devices served by tunnel.Forwarder on mn and ha
# (tunnel/internal/benchfwd, one static binding). It prints min/median/max
# of each and the ratio of the medians to the kernel's.
#
# The four veth ends get the same GRO settings for the kernel and the
# gomip6 runs (GRO=...):
#   on   (the default) "ethtool -K gro on", as a real NIC has it. On a veth
#        this changes nothing here: a veth whose peer has TSO takes only
#        UDP (with UDP GRO forwarding on) through NAPI and GRO
#        (veth_skb_is_eligible_for_gro), and TCP's super-packets pass
#        whole anyway.
#   nic  GRO as a real NIC with interrupt moderation does it to the
#        tunnel's packets: also UDP GRO forwarding on, which lets packets
#        sent by sockets (the forwarder's raw sends) through NAPI and GRO,
#        and gro_flush_timeout 50 us, so that GRO merges across the
#        one-packet NAPI polls a veth makes. Linux then coalesces
#        IPv6-in-IPv6 and 6in4 TCP segments into super-packets, which the
#        forwarder must receive on packet sockets (-packetrx,
#        ForwarderConfig.PacketReceive, the default BENCHFWD_ARGS here):
#        through its raw sockets TCP collapses. The held packets (until
#        the next jiffy while packets keep coming) cost TCP more than the
#        coalescing saves on a veth.
#   off  the veth default.
#
# Environment: ROUNDS (3), SECS (5), KINDS ("ipv6 6in4 udp4"), DIRS
# ("up down"), TESTS ("tcp udp64"), GRO (on), BENCHFWD_ARGS (benchfwd
# flags, e.g. "-queues 2", "-hdrincl", "-packettx" or "-packetrx"; by
# default none, and "-packetrx" with GRO=nic), VARIANTS (forwarder
# configurations measured interleaved in one run, each right after a
# kernel run and compared with the median of the row's kernel runs:
# "NAME=FLAGS;NAME=FLAGS", e.g. "raw=;packettx=-packettx"; by default
# the one "gomip6=$BENCHFWD_ARGS"), OUT (a file to keep the raw results
# in; the forwarders' counters go to OUT.ha-KIND-NAME-ROUND.json and
# OUT.mn-KIND-NAME-ROUND.json).
#
# The kernel fast path of tunnel/ebpf (ForwarderConfig.EBPF; ipv6 and
# 6in4 only, not with -packetrx):
#   VARIANTS="raw=;ebpf=-ebpf auto -ebpf-route 2001:db8:2::/64"
# "-ebpf auto" decapsulates on the interface toward the far end point,
# "-ebpf-route" is the mobile node's accelerated route to the
# correspondent's prefix (the home agent's come with its binding).
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
SECS=${SECS:-5}
KINDS=${KINDS:-"ipv6 6in4 udp4"}
DIRS=${DIRS:-"up down"}
TESTS=${TESTS:-"tcp udp64"}
GRO=${GRO:-on}
case $GRO in
on | off) BENCHFWD_ARGS=${BENCHFWD_ARGS-} ;;
nic) BENCHFWD_ARGS=${BENCHFWD_ARGS--packetrx} ;;
*)
	echo "bench-tunnel: GRO=$GRO: on, nic or off" >&2
	exit 1
	;;
esac

if [ "$(id -u)" != 0 ]; then
	echo "bench-tunnel: needs root (network namespaces, tun, raw sockets)" >&2
	exit 1
fi
for tool in ip iperf3 jq python3 go ethtool; do
	command -v "$tool" >/dev/null || { echo "bench-tunnel: $tool not found" >&2; exit 1; }
done

# Unique names: this run's namespaces only, whatever else runs.
P="gmb$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')"
TMP=$(mktemp -d /tmp/bench-tunnel.XXXXXX)
PIDS=()

cleanup() {
	set +e
	for pid in "${PIDS[@]}"; do
		kill "$pid" 2>/dev/null
	done
	for pid in "${PIDS[@]}"; do
		wait "$pid" 2>/dev/null
	done
	for n in mn ha cn; do
		ip netns del "$P-$n" 2>/dev/null
	done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

go build -o "$TMP/benchfwd" ./tunnel/internal/benchfwd

HOA=2001:db8:3::100
CN=2001:db8:2::2
MN6=2001:db8:1::2 HA6=2001:db8:1::1
MN4=192.0.2.2 HA4=192.0.2.1

nsx() { local n=$1; shift; ip netns exec "$P-$n" "$@"; }

for n in mn ha cn; do
	ip netns add "$P-$n"
	ip -n "$P-$n" link set lo up
	nsx "$n" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
done
ip -n "$P-mn" link add m0 type veth peer name h0 netns "$P-ha"
ip -n "$P-ha" link add h1 type veth peer name c0 netns "$P-cn"
nsx ha sysctl -qw net.ipv6.conf.all.forwarding=1 net.ipv4.ip_forward=1
ip -n "$P-mn" addr add $MN6/64 dev m0 nodad
ip -n "$P-mn" addr add $MN4/24 dev m0
ip -n "$P-ha" addr add $HA6/64 dev h0 nodad
ip -n "$P-ha" addr add $HA4/24 dev h0
ip -n "$P-ha" addr add 2001:db8:2::1/64 dev h1 nodad
ip -n "$P-cn" addr add $CN/64 dev c0 nodad
for x in "mn m0" "ha h0" "ha h1" "cn c0"; do
	set -- $x
	ip -n "$P-$1" link set "$2" up
done
# After "up": a veth switches its receive path to NAPI (and so GRO) when
# GRO is turned on while both ends are up.
for x in "mn m0" "ha h0" "ha h1" "cn c0"; do
	set -- $x
	case $GRO in
	on) nsx "$1" ethtool -K "$2" gro on ;;
	off) nsx "$1" ethtool -K "$2" gro off ;;
	nic)
		nsx "$1" ethtool -K "$2" gro on rx-udp-gro-forwarding on
		nsx "$1" sh -c "echo 50000 >/sys/class/net/$2/gro_flush_timeout"
		;;
	esac
done
ip -n "$P-cn" -6 route add default via 2001:db8:2::1
ip -n "$P-mn" addr add $HOA/128 dev lo nodad

# The kernel's routes have metric 100, ahead of everything a forwarder
# adds (the plain routes into gmtun0 have the default 1024, tunnel/ebpf's
# accelerated ones 512 and exist while a "-ebpf" forwarder runs): a
# kernel run adds them, a tunnel run removes them.
kernel_routes() {
	ip -n "$P-mn" -6 route replace 2001:db8:2::/64 via $HA6 src $HOA metric 100
	ip -n "$P-ha" -6 route replace $HOA/128 via $MN6 metric 100
}
tunnel_routes() {
	ip -n "$P-mn" -6 route replace 2001:db8:2::/64 dev gmtun0 src $HOA
	ip -n "$P-ha" -6 route replace $HOA/128 dev gmtun0
	ip -n "$P-mn" -6 route del 2001:db8:2::/64 metric 100
	ip -n "$P-ha" -6 route del $HOA/128 metric 100
}

# Background processes are started with "ip netns exec" itself, not through
# a shell function, so that $! is the process (ip execs it) and kill
# reaches it.
ip netns exec "$P-cn" iperf3 -s -B $CN >"$TMP/iperf3-server.log" 2>&1 &
PIDS+=($!)

FWD_PIDS=()
start_fwd() {
	local kind=$1 args=$2 ml hl
	case $kind in
	ipv6) ml=$MN6 hl=$HA6 ;;
	*) ml=$MN4 hl=$HA4 ;;
	esac
	# shellcheck disable=SC2086
	ip netns exec "$P-mn" "$TMP/benchfwd" -role mn -kind "$kind" -hoa $HOA -local $ml -remote $hl $args >"$TMP/mn.out" 2>&1 &
	FWD_PIDS=($!)
	PIDS+=($!)
	# shellcheck disable=SC2086
	ip netns exec "$P-ha" "$TMP/benchfwd" -role ha -kind "$kind" -hoa $HOA -local $hl -remote $ml -error-source 2001:db8:2::1 $args >"$TMP/ha.out" 2>&1 &
	FWD_PIDS+=($!)
	PIDS+=($!)
	for _ in $(seq 100); do
		if grep -q '^ready' "$TMP/mn.out" && grep -q '^ready' "$TMP/ha.out"; then
			return 0
		fi
		sleep 0.05
	done
	echo "bench-tunnel: forwarders did not start:" >&2
	cat "$TMP/mn.out" "$TMP/ha.out" >&2
	exit 1
}
stop_fwd() {
	kill "${FWD_PIDS[@]}" 2>/dev/null || true
	wait "${FWD_PIDS[@]}" 2>/dev/null || true
	FWD_PIDS=()
}

# measure TEST DIR: prints one number (bits/s or packets/s), 0 on failure.
measure() {
	local test=$1 dir=$2 args=(-c $CN -B $HOA -t "$SECS" -J)
	[ "$dir" = down ] && args+=(-R)
	[ "$test" = udp64 ] && args+=(-u -l 64 -b 0)
	if ! nsx mn timeout $((SECS + 20)) iperf3 "${args[@]}" >"$TMP/run.json" 2>/dev/null; then
		echo 0
		return
	fi
	case $test in
	tcp) jq '.end.sum_received.bits_per_second // 0' "$TMP/run.json" ;;
	udp64) jq '(.end.sum_received.bytes // 0) / 64 / (.end.sum_received.seconds // 1)' "$TMP/run.json" ;;
	esac
}

IFS=';' read -r -a VARS <<<"${VARIANTS:-gomip6=$BENCHFWD_ARGS}"
for v in "${VARS[@]}"; do
	case ${v%%=*} in
	"" | kernel | *[!A-Za-z0-9_-]*)
		echo "bench-tunnel: variant name \"${v%%=*}\" (in \"$v\"): letters, digits, - and _, not kernel" >&2
		exit 1
		;;
	esac
done

RESULTS="$TMP/results"
: >"$RESULTS"
kernel_routes
echo "bench-tunnel: $(nproc) CPUs, $(uname -r), $ROUNDS rounds of ${SECS}s runs, veth GRO $GRO, forwarders: ${VARS[*]}, load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for round in $(seq "$ROUNDS"); do
	for kind in $KINDS; do
		for v in "${VARS[@]}"; do
			name=${v%%=*}
			start_fwd "$kind" "${v#*=}"
			for dir in $DIRS; do
				for test in $TESTS; do
					kernel_routes
					k=$(measure "$test" "$dir")
					tunnel_routes
					g=$(measure "$test" "$dir")
					kernel_routes
					echo "$round $kind $dir $test kernel $k" >>"$RESULTS"
					echo "$round $kind $dir $test $name $g" >>"$RESULTS"
					printf 'round %d %-5s %-4s %-5s kernel %-14.0f %s %.0f\n' "$round" "$kind" "$dir" "$test" "$k" "$name" "$g" >&2
				done
			done
			stop_fwd
			if [ -n "${OUT:-}" ]; then
				# The forwarders' counters (JSON after "ready"), for a
				# look at batch sizes and drops.
				cp "$TMP/ha.out" "$OUT.ha-$kind-$name-$round.json"
				cp "$TMP/mn.out" "$OUT.mn-$kind-$name-$round.json"
			fi
		done
	done
done
[ -n "${OUT:-}" ] && cp "$RESULTS" "$OUT"

python3 - "$RESULTS" <<'EOF'
import statistics, sys
from collections import defaultdict
runs = defaultdict(list)
variants = []
for line in open(sys.argv[1]):
    _, kind, d, test, mode, v = line.split()
    runs[(kind, d, test, mode)].append(float(v))
    if mode != "kernel" and mode not in variants:
        variants.append(mode)
targets = {("tcp", "ipv6"): 0.2, ("tcp", "6in4"): 0.2, ("tcp", "udp4"): 0.35}
def fmt(test, v):
    return f"{v/1e9:7.2f}G" if test == "tcp" else f"{v/1e3:7.0f}k"
w = max(len(v) for v in variants)
print(f"{'kind':5} {'dir':4} {'test':5} {'forwarder':{w}} | {'kernel min/med/max':28} | {'gomip6 min/med/max':28} | ratio target")
for kind, d, test in sorted({k[:3] for k in runs}, key=lambda k: (k[2], k[0], k[1])):
    k = runs[(kind, d, test, "kernel")]
    km = statistics.median(k)
    for v in variants:
        g = runs[(kind, d, test, v)]
        gm = statistics.median(g)
        ratio = gm / km if km else 0
        target = targets.get((test, kind), 0.45 if test == "udp64" else None)
        mark = "" if target is None else (f" >= {target}: " + ("met" if ratio >= target else "NOT met"))
        print(f"{kind:5} {d:4} {test:5} {v:{w}} | {' '.join(fmt(test, x) for x in (min(k), km, max(k))):28} | "
              f"{' '.join(fmt(test, x) for x in (min(g), gm, max(g))):28} | {ratio:5.2f}{mark}")
print("tcp in bit/s (G = 1e9), udp64 in received 64-octet packets/s (k = 1e3);")
print("the kernel column is every kernel run of the row, whichever forwarder followed it")
EOF
