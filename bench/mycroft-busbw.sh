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
# tracing off, once with the role's defaults and once with recv_lowat
# (each read waits for the rest of its chunk: one wakeup per chunk); its
# figure is the median across ranks of each rank's summary busbw_p50_gbps
# (nccl-tests' busbw, GB/s = 1e9 B/s). busbw is the
# rate every ring link carries while all of them carry it at once, so it is
# set against two iperf3 figures, both in a lab deployed with `tbctl
# deploy` from `tbctl topo gen single`, from end.sum_received of `iperf3 -c
# DST -t SECONDS -J` (server `iperf3 -s -1`), in GB/s:
#   ring:  every ring link at once, hK -> h(K+1) for every K, the same load
#          pattern as the AllReduce; the figure is the mean across links.
#          This is the target's reference: on a machine with fewer cores
#          than ranks the links share the CPUs, and iperf3 shares them too.
#   pair:  h1 -> h2 alone, the rate one link reaches with the machine to
#          itself (reported for context).
#   go:    every ring link at once with bench/gostream, the plainest Go
#          program that writes to the right neighbour while reading from
#          the left through Go's net package, walking a buffer of SIZE in
#          512 KiB chunks with Go's defaults (reported for context: it is
#          what Go's default TCP path reaches here, without the
#          collective's work and without the receive low-water mark its
#          transport sets).
# Each run's busbw is also set against the iperf3 ring run just before it
# (the machine's speed drifts between runs; neighbours share it), and the
# median of those ratios is reported. SECONDS (default 5) and TBCTL (default bin/tbctl) come from the
# environment.
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
servers=
cleanup() {
	local p
	for p in $server $servers; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
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
# ring_yaml EXTRA: the experiment, EXTRA added to every rank's params.
ring_yaml() {
	cat <<EOT
name: mycroft-bw
claim: the ring AllReduce's bus bandwidth reaches 80% of iperf3's between the same nodes
topology: {generate: {shape: single, hosts: $RANKS}}
duration: ${DURATION:-20s}
collect: {interval: off}
roles:
EOT
	for k in $(seq 0 $((RANKS - 1))); do
		echo "  r$k: {role: mycroft, node: h$((k + 1)), params: {rank: $k, ranks: $RANKS, next: h$(((k + 1) % RANKS + 1)), size: $SIZE, compute: 0s, channels: 2, iterations: $ITERS, trace: false$1}}"
	done
}
ring_yaml "" >"$work/ring.yaml"
ring_yaml ", recv_lowat: true" >"$work/ring-lowat.yaml"

addr() { "$tbctl" exec "$lab" "$1" -- ip -4 -o addr show dev eth1 | awk '{sub(/\/.*/, "", $4); print $4; exit}'; }

"$tbctl" topo gen single --hosts "$RANKS" --name "$lab" -o "$work/lab.yaml" >/dev/null
"$tbctl" destroy "$lab" >/dev/null 2>&1 || true
"$tbctl" deploy "$work/lab.yaml" --quiet
declare -a addrs
for k in $(seq 1 "$RANKS"); do
	addrs[k]=$(addr "h$k")
	[ -n "${addrs[k]}" ] || { echo "bench: no address on h$k:eth1" >&2; exit 1; }
done
dst=${addrs[2]}
"$tbctl" exec "$lab" h1 -- ping -c 1 -W 2 "$dst" >/dev/null

stop_server() {
	kill "$server" 2>/dev/null || true
	wait "$server" 2>/dev/null || true
	server=
}

# iperf_pair: h1 -> h2 alone.
iperf_pair() {
	"$tbctl" exec "$lab" h2 -- timeout $((SECS + 20)) iperf3 -s -1 >"$work/iperf-s.log" 2>&1 &
	server=$!
	sleep 0.5
	"$tbctl" exec "$lab" h1 -- timeout $((SECS + 15)) iperf3 -c "$dst" -t "$SECS" -J >"$work/iperf.json" ||
		{ cat "$work/iperf.json" "$work/iperf-s.log" >&2; exit 1; }
	stop_server
	jq '.end.sum_received.bits_per_second / 8e9' "$work/iperf.json" >"$work/last"
}

# iperf_ring: hK -> h(K+1) for every K at once; the mean across links.
iperf_ring() {
	local k pids="" cpids=""
	for k in $(seq 1 "$RANKS"); do
		"$tbctl" exec "$lab" "h$k" -- timeout $((SECS + 20)) iperf3 -s -1 >"$work/iperf-s$k.log" 2>&1 &
		pids="$pids $!"
	done
	servers="$pids"
	sleep 0.5
	for k in $(seq 1 "$RANKS"); do
		"$tbctl" exec "$lab" "h$k" -- timeout $((SECS + 15)) iperf3 -c "${addrs[$((k % RANKS + 1))]}" -t "$SECS" -J >"$work/iperf$k.json" &
		cpids="$cpids $!"
	done
	for k in $cpids; do wait "$k" || { cat "$work"/iperf*.json >&2; exit 1; }; done
	for k in $pids; do wait "$k" 2>/dev/null || true; done
	servers=
	for k in $(seq 1 "$RANKS"); do jq '.end.sum_received.bits_per_second / 8e9' "$work/iperf$k.json"; done >"$work/links"
	echo "links GB/s: $(tr '\n' ' ' <"$work/links")" >"$work/detail"
	awk '{s+=$1} END {print s/NR}' "$work/links" >"$work/last"
}

# go_ring: bench/gostream on every ring link at once; the mean across
# links of what each node received.
go_ring() {
	local k pids=""
	for k in $(seq 1 "$RANKS"); do
		"$tbctl" exec "$lab" "h$k" -- timeout $((SECS + 30)) "$work/gostream" -listen :7700 \
			-right "${addrs[$((k % RANKS + 1))]}:7700" -t "${SECS}s" -size "$SIZE" >"$work/go$k.out" 2>&1 &
		pids="$pids $!"
	done
	for k in $pids; do wait "$k" || { cat "$work"/go*.out >&2; exit 1; }; done
	for k in $(seq 1 "$RANKS"); do awk '{print $2}' "$work/go$k.out"; done >"$work/links"
	awk '{s+=$1} END {print s/NR}' "$work/links" >"$work/last"
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# ring_run YAML: one mycroft run.
ring_run() {
	rm -rf "$work/runs"
	"$tbctl" run "$1" --out "$work/runs" --quiet >"$work/run.log" 2>&1 ||
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

CGO_ENABLED=0 "${GO:-scripts/go.sh}" build -o "$work/gostream" ./bench/gostream || { echo "bench: cannot build bench/gostream (set GO)" >&2; exit 2; }
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, kernel $(uname -r), $("$tbctl" version)"
echo "iperf3: $(iperf3 --version | head -1); tcp congestion control: $(cat /proc/sys/net/ipv4/tcp_congestion_control)"
echo "ring: $RANKS ranks, size $SIZE B, channels 2, $ITERS iterations, compute 0, trace off; iperf3: 1 stream per link, ${SECS}s"
: >"$work/ipr"; : >"$work/ipp"; : >"$work/gor"; : >"$work/ring"; : >"$work/ratio"; : >"$work/lring"; : >"$work/lratio"
for i in $(seq "$RUNS"); do
	iperf_ring; cat "$work/last" >>"$work/ipr"
	printf 'run %d  iperf3 every ring link at once %6.3f GB/s per link (%s)\n' "$i" "$(cat "$work/last")" "$(cat "$work/detail")"
	iperf_pair; cat "$work/last" >>"$work/ipp"
	printf 'run %d  iperf3 h1 -> h2 alone          %6.3f GB/s\n' "$i" "$(cat "$work/last")"
	go_ring; cat "$work/last" >>"$work/gor"
	printf 'run %d  plain Go stream, ring links     %6.3f GB/s per link\n' "$i" "$(cat "$work/last")"
	ring_run "$work/ring.yaml"; cat "$work/last" >>"$work/ring"
	echo "100 * $(cat "$work/last") / $(tail -n 1 "$work/ipr")" | bc -l >>"$work/ratio"
	printf 'run %d  mycroft busbw                  %6.3f GB/s (median across ranks; %s)\n' "$i" "$(cat "$work/last")" "$(cat "$work/detail")"
	ring_run "$work/ring-lowat.yaml"; cat "$work/last" >>"$work/lring"
	echo "100 * $(cat "$work/last") / $(tail -n 1 "$work/ipr")" | bc -l >>"$work/lratio"
	printf 'run %d  mycroft busbw, recv_lowat      %6.3f GB/s (median across ranks; %s)\n' "$i" "$(cat "$work/last")" "$(cat "$work/detail")"
done
ipr=$(median <"$work/ipr"); ipp=$(median <"$work/ipp"); gor=$(median <"$work/gor"); ring=$(median <"$work/ring"); ratio=$(median <"$work/ratio")
lring=$(median <"$work/lring"); lratio=$(median <"$work/lratio")
printf 'ring AllReduce, %d ranks on one bridge, medians of %d runs:\n' "$RANKS" "$RUNS"
printf '  iperf3, every ring link at once: %.3f GB/s per link; mycroft busbw %.3f GB/s = %.1f%% of it (target: at least 80%%)\n' \
	"$ipr" "$ring" "$(echo "100 * $ring / $ipr" | bc -l)"
printf '  each run against the iperf3 ring run just before it: median %.1f%% (runs: %s)\n' "$ratio" "$(awk '{printf "%.1f%% ", $1}' "$work/ratio")"
printf '  with recv_lowat: mycroft busbw %.3f GB/s = %.1f%% of iperf3; against the run before it: median %.1f%% (runs: %s)\n' \
	"$lring" "$(echo "100 * $lring / $ipr" | bc -l)" "$lratio" "$(awk '{printf "%.1f%% ", $1}' "$work/lratio")"
printf '  iperf3, one link alone:          %.3f GB/s; mycroft busbw = %.1f%% of it\n' "$ipp" "$(echo "100 * $ring / $ipp" | bc -l)"
printf '  plain Go stream, every ring link at once: %.3f GB/s per link = %.1f%% of iperf3; mycroft busbw = %.1f%% of it\n' \
	"$gor" "$(echo "100 * $gor / $ipr" | bc -l)" "$(echo "100 * $ring / $gor" | bc -l)"
