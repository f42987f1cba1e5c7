#!/usr/bin/env bash
# Bus bandwidth of the mycroft role's ring AllReduce against iperf3 between
# the same nodes, alternating, several runs each, in one invocation. Target
# (issue): the collective's bus bandwidth reaches at least 80% of what
# iperf3 achieves between the same nodes. Needs root, iperf3 and jq.
#
#   bench/mycroft-busbw.sh [RANKS] [RUNS]
#
# Both sides use a `single` topology with RANKS hosts (default 4) on one
# bridge. Each mycroft run is `tbctl run` of an experiment generating that
# topology, instance rK running mycroft on h(K+1) with next = the following
# host (wrapping): 64 MiB buffer, no compute, 2 channels, 20 iterations,
# tracing off; its figure is the median across ranks of each rank's
# summary busbw_p50_gbps (nccl-tests' busbw, GB/s = 1e9 B/s). Each iperf3
# run is `iperf3 -s -1` in h2 and `iperf3 -c H2 -t SECONDS -J` in h1 (h1 and
# h2 are ranks 0 and 1, neighbours in the ring) in a lab deployed with
# `tbctl deploy` from `tbctl topo gen single`; its figure is
# end.sum_received.bits_per_second / 8e9, in GB/s. SECONDS (default 5)
# and TBCTL (default bin/tbctl) come from the environment.
set -euo pipefail
cd "$(dirname "$0")/.."
RANKS=${1:-4}
RUNS=${2:-3}
SECS=${SECS:-5}
SIZE=$((64 << 20))
ITERS=20
tbctl=$(realpath -m "${TBCTL:-bin/tbctl}")
lab=mycroft-bw-iperf
work=$(mktemp -d)
server=
cleanup() {
	if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
	"$tbctl" destroy "$lab" >/dev/null 2>&1 || true
	# The runner destroys its lab itself; this catches one left behind by a
	# runner that was killed (labs are named EXPERIMENT-XXXX-N).
	local l
	for l in $("$tbctl" inspect --format json 2>/dev/null | jq -r '.[].name' 2>/dev/null | grep -E '^mycroft-bw-[0-9a-f]{4}-[0-9]+$'); do
		"$tbctl" destroy "$l" >/dev/null 2>&1 || true
	done
	rm -rf "$work"
}
trap cleanup EXIT
[ "$(id -u)" = 0 ] || { echo "bench: needs root" >&2; exit 2; }
[ "$RANKS" -ge 2 ] || { echo "bench: RANKS must be at least 2" >&2; exit 2; }
command -v iperf3 >/dev/null || { echo "bench: iperf3 missing: make deps-bench" >&2; exit 2; }
command -v jq >/dev/null || { echo "bench: jq missing" >&2; exit 2; }
"$tbctl" role describe mycroft >/dev/null 2>&1 || { echo "bench: $tbctl has no mycroft role" >&2; exit 2; }

# The experiment: a ring over h1..hRANKS. 20 iterations of 64 MiB take a
# few seconds; the runner waits out the whole duration, so keep it modest.
{
	cat <<EOT
name: mycroft-bw
claim: the ring AllReduce's bus bandwidth reaches 80% of iperf3's between the same nodes
topology: {generate: {shape: single, hosts: $RANKS}}
duration: ${DURATION:-20s}
collect: {interval: off}
roles:
EOT
	for k in $(seq 0 $((RANKS - 1))); do
		echo "  r$k: {role: mycroft, node: h$((k + 1)), params: {rank: $k, ranks: $RANKS, next: h$(((k + 1) % RANKS + 1)), size: $SIZE, compute: 0s, channels: 2, iterations: $ITERS, trace: false}}"
	done
} >"$work/ring.yaml"

"$tbctl" topo gen single --hosts "$RANKS" --name "$lab" -o "$work/lab.yaml" >/dev/null
"$tbctl" destroy "$lab" >/dev/null 2>&1 || true
"$tbctl" deploy "$work/lab.yaml" --quiet
dst=$("$tbctl" exec "$lab" h2 -- ip -4 -o addr show dev eth1 | awk '{sub(/\/.*/, "", $4); print $4; exit}')
[ -n "$dst" ] || { echo "bench: no address on h2:eth1" >&2; exit 1; }
"$tbctl" exec "$lab" h1 -- ping -c 1 -W 2 "$dst" >/dev/null

stop_server() {
	kill "$server" 2>/dev/null || true
	wait "$server" 2>/dev/null || true
	server=
}

iperf_run() {
	"$tbctl" exec "$lab" h2 -- timeout $((SECS + 20)) iperf3 -s -1 >"$work/iperf-s.log" 2>&1 &
	server=$!
	sleep 0.5
	"$tbctl" exec "$lab" h1 -- timeout $((SECS + 15)) iperf3 -c "$dst" -t "$SECS" -J >"$work/iperf.json" ||
		{ cat "$work/iperf.json" "$work/iperf-s.log" >&2; exit 1; }
	stop_server
	jq '.end.sum_received.bits_per_second / 8e9' "$work/iperf.json" >"$work/last"
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

ring_run() {
	rm -rf "$work/runs"
	"$tbctl" run "$work/ring.yaml" --out "$work/runs" --quiet >"$work/run.log" 2>&1 ||
		{ cat "$work/run.log" >&2; tail -n 5 "$work"/runs/mycroft-bw/*/roles/*/stderr.log >&2 2>/dev/null; exit 1; }
	local d k
	d=$(echo "$work"/runs/mycroft-bw/*/)
	: >"$work/ranks"
	for k in $(seq 0 $((RANKS - 1))); do
		jq -e '.complete' "$d/roles/r$k/summary.json" >/dev/null ||
			{ echo "bench: rank $k did not complete:" >&2; cat "$d/roles/r$k/summary.json" "$d/roles/r$k/stderr.log" >&2; exit 1; }
		jq '.busbw_p50_gbps' "$d/roles/r$k/summary.json" >>"$work/ranks"
	done
	echo "ranks busbw p50 GB/s: $(tr '\n' ' ' <"$work/ranks")" >"$work/detail"
	median <"$work/ranks" >"$work/last"
}

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, kernel $(uname -r), $("$tbctl" version)"
echo "iperf3: $(iperf3 --version | head -1); tcp congestion control: $(cat /proc/sys/net/ipv4/tcp_congestion_control)"
echo "ring: $RANKS ranks, size $SIZE B, channels 2, $ITERS iterations, compute 0, trace off; iperf3: h1 -> h2 ($dst), 1 stream, ${SECS}s"
: >"$work/ip"; : >"$work/ring"
for i in $(seq "$RUNS"); do
	iperf_run; cat "$work/last" >>"$work/ip"
	printf 'run %d  iperf3        %6.3f GB/s\n' "$i" "$(cat "$work/last")"
	ring_run; cat "$work/last" >>"$work/ring"
	printf 'run %d  mycroft busbw %6.3f GB/s (median across ranks; %s)\n' "$i" "$(cat "$work/last")" "$(cat "$work/detail")"
done
ip=$(median <"$work/ip"); ring=$(median <"$work/ring")
printf 'ring AllReduce, %d ranks on a single bridge, median of %d: iperf3 %.3f GB/s (%.2f Gbit/s), mycroft busbw %.3f GB/s: %.1f%% of iperf3 (target: at least 80%%)\n' \
	"$RANKS" "$RUNS" "$ip" "$(echo "8 * $ip" | bc -l)" "$ring" "$(echo "100 * $ring / $ip" | bc -l)"
