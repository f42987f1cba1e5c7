#!/usr/bin/env bash
# Single-stream TCP throughput of tbctl's traffic role against iperf3 over
# the same veth link between two nodes, alternating, several runs each, in
# one invocation. Needs root and iperf3.
#
#   bench/traffic-vs-iperf3.sh [RUNS] [SECONDS]
#
# The lab is two linux nodes, a (198.18.50.1/30) and b (198.18.50.2/30),
# joined by one veth link, without the management network. Each iperf3 run is
# `iperf3 -s -1` in b and `iperf3 -c 198.18.50.2 -t SECONDS -J` in a (its
# end.sum_received.bits_per_second); each tbctl run is the traffic role's
# server in b and `tbctl role run traffic --param mode=tcp ...` in a (its
# summary's throughput_mbps). Both write 128 KiB per call and leave the
# socket buffers to the kernel's autotuning. TBCTL names the tbctl binary
# (default bin/tbctl, built when it lacks the traffic role).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
SECS=${2:-5}
tbctl=$(realpath -m "${TBCTL:-bin/tbctl}")
lab=traffic-bench
work=$(mktemp -d)
server=
cleanup() {
	[ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
	"$tbctl" destroy "$lab" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT
[ "$(id -u)" = 0 ] || { echo "bench: needs root" >&2; exit 2; }
command -v iperf3 >/dev/null || { echo "bench: iperf3 missing: make deps-bench" >&2; exit 2; }
command -v jq >/dev/null || { echo "bench: jq missing" >&2; exit 2; }
if ! "$tbctl" role describe traffic >/dev/null 2>&1; then
	echo "bench: building $tbctl (it has no traffic role)" >&2
	CGO_ENABLED=0 scripts/go.sh build -o "$tbctl" ./cmd/tbctl
fi

cat >"$work/lab.yaml" <<EOF
name: $lab
mgmt: {disabled: true}
topology:
  nodes:
    a: {kind: linux, interfaces: {eth1: {ipv4: [198.18.50.1/30]}}}
    b: {kind: linux, interfaces: {eth1: {ipv4: [198.18.50.2/30]}}}
  links:
    - endpoints: ["a:eth1", "b:eth1"]
EOF
"$tbctl" destroy "$lab" >/dev/null 2>&1 || true
"$tbctl" deploy "$work/lab.yaml" --quiet
"$tbctl" exec "$lab" a -- ping -c 1 -W 2 198.18.50.2 >/dev/null

# stop_server ends the background server by its PID (tbctl exec kills what
# it started when it gets SIGTERM).
stop_server() {
	kill "$server" 2>/dev/null || true
	wait "$server" 2>/dev/null || true
	server=
}

iperf_run() {
	"$tbctl" exec "$lab" b -- iperf3 -s -1 >"$work/iperf-s.log" 2>&1 &
	server=$!
	sleep 0.5
	"$tbctl" exec "$lab" a -- iperf3 -c 198.18.50.2 -t "$SECS" -J >"$work/iperf.json"
	stop_server
	jq '.end.sum_received.bits_per_second / 1e6' "$work/iperf.json" >"$work/last"
}

tbctl_run() {
	rm -rf "$work/srv" "$work/cli"
	"$tbctl" exec "$lab" b -- "$tbctl" role run traffic --param mode=server --dir "$work/srv" >"$work/srv.log" 2>&1 &
	server=$!
	sleep 0.5
	"$tbctl" exec "$lab" a -- "$tbctl" role run traffic --param mode=tcp --param target=198.18.50.2 \
		--param duration="${SECS}s" --dir "$work/cli" >"$work/cli.log" 2>&1 ||
		{ cat "$work/cli.log" >&2; exit 1; }
	stop_server
	jq '.throughput_mbps' "$work/cli/summary.json" >"$work/last"
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, kernel $(uname -r), $("$tbctl" version)"
echo "iperf3: $(iperf3 --version | head -1)"
echo "tcp congestion control: $(cat /proc/sys/net/ipv4/tcp_congestion_control)"
: >"$work/ip"; : >"$work/tb"
for i in $(seq "$RUNS"); do
	iperf_run; cat "$work/last" >>"$work/ip"
	printf 'run %d  iperf3 %8.0f Mbit/s\n' "$i" "$(cat "$work/last")"
	tbctl_run; cat "$work/last" >>"$work/tb"
	printf 'run %d  tbctl  %8.0f Mbit/s\n' "$i" "$(cat "$work/last")"
done
ip=$(median <"$work/ip"); tb=$(median <"$work/tb")
printf 'single TCP stream over veth, %ds, median of %d: iperf3 %.0f Mbit/s, tbctl traffic %.0f Mbit/s: tbctl at %.1f%% of iperf3 (target: at least 90%%)\n' \
	"$SECS" "$RUNS" "$ip" "$tb" "$(echo "100 * $tb / $ip" | bc -l)"
