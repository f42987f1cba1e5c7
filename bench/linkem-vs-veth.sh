#!/usr/bin/env bash
# The userspace link emulator (testbed/fault/linkem, used where the kernel
# has no sch_netem) against the plain veth link it is spliced into, in one
# invocation. Needs root, iperf3 and ping.
#
#   bench/linkem-vs-veth.sh [SECONDS]
#
# Two network namespaces joined by a veth pair (198.18.60.1/30 and .2/30,
# MTU 1500). For each of two sender settings - the veth default (TSO/GSO on,
# so TCP hands the link bursts of up to 64 KiB) and TSO/GSO off on the
# sender (every frame at most 1514 bytes) - it measures, on the plain veth,
# then with the emulator inserted with zero impairment, then after it is
# removed: `iperf3 -c -t SECONDS -J` (end.sum_received) from B to A and the
# median of `ping -c 100 -i 0.01`. The measuring is done by the package's
# test TestBenchLinkemVsVeth, whose test binary serves as the relay.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-5}
[ "$(id -u)" = 0 ] || { echo "bench: needs root" >&2; exit 2; }
for b in iperf3 ping; do
	command -v $b >/dev/null || { echo "bench: $b missing: make deps-bench" >&2; exit 2; }
done
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)," \
	"kernel $(uname -r), $(scripts/go.sh env GOVERSION), $(iperf3 --version | head -1 | cut -d' ' -f1-2)"
echo "date: $(date -u +%Y-%m-%d)"
LINKEM_BENCH=1 LINKEM_BENCH_SECONDS=$SECS scripts/go.sh test -count=1 -v \
	-run '^TestBenchLinkemVsVeth$' ./testbed/fault/linkem |
	grep -v -e '^=== RUN' -e '^--- PASS' -e '^PASS' -e '^ok '
