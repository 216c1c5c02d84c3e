#!/usr/bin/env bash
# testdata/live-bench.sh: the live engines side by side (AF_PACKET and eBPF), as root.
#
# Usage, from the repository root:
#
#   testdata/live-bench.sh [RATES] [SECONDS]
#
#   RATES    packets/s to try, comma-separated, 0 meaning as fast as the sender can
#            (default 25000,50000,100000,200000,400000,0)
#   SECONDS  per run (default 3)
#
# It runs TestLiveBench (cmd/msnaudit/watch_ebpf_bench_test.go) twice: with watch's default
# AF_PACKET ring (--buffer 64) and with a small one (--buffer 2, or LIVE_BENCH_SMALL_BUFFER),
# which shows where AF_PACKET starts losing packets on a machine whose sender cannot outrun
# the default ring. For each rate, a UDP blaster of ours (one thread per core, 8 flows,
# 64-byte datagrams to UDP 7001, sendmmsg, bounded by count and time) sends from one network
# namespace to another, first with no watch (the baseline), then under
# `msnaudit watch --engine afpacket` and `--engine ebpf` on the sender's interface (every
# packet sent crosses its egress once). The receiver has no socket: it drops each datagram
# (NO_SOCKET), quietly (no ICMP errors). Per run it prints the packets sent and counted, the
# packets lost (AF_PACKET: the kernel's ring drop counter, tp_drops; eBPF: sent minus the
# kernel's flow counters), and CPU per million packets: the watch process, the eBPF
# programs in the kernel (kernel.bpf_stats_enabled is set to 1 for the run: tc counts
# every packet; kfree_skb runs here for every packet because the receiver drops each one,
# which a gateway's traffic does not), and the whole machine (/proc/stat; only meaningful on an
# otherwise idle machine). AF_PACKET's own in-kernel copy runs in the sender's context and is
# not measured apart: it shows as a lower rate sent at "max".
# Then a markdown table and, per engine, the first rate at which it lost packets.
set -euo pipefail

rates=${1:-25000,50000,100000,200000,400000,0}
secs=${2:-3}
small=${LIVE_BENCH_SMALL_BUFFER:-2}
if [ "$(id -u)" != 0 ]; then
	echo "live-bench.sh: needs root (network namespaces, AF_PACKET, eBPF)" >&2
	exit 2
fi
cd "$(dirname "$0")/.."
for buffer in 64 "$small"; do
	echo "== AF_PACKET ring --buffer $buffer MiB"
	MSNAUDIT_LIVE_BENCH=$rates MSNAUDIT_LIVE_BENCH_SECONDS=$secs MSNAUDIT_LIVE_BENCH_BUFFER=$buffer \
		CGO_ENABLED=0 go test -count=1 -timeout 30m -run '^TestLiveBench$' -v ./cmd/msnaudit |
		sed -e 's/^ *watch_ebpf_bench_test.go:[0-9]*: //' -e 's/^        //' | grep -v '^=== RUN'
done
