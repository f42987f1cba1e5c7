#!/usr/bin/env bash
# The CPU that collection costs: the runner's CPU time while the roles of a
# 20-node lab run (a server role on each host), with every collector at the
# default 100 ms (interface counters, qdiscs, per-node cgroups, and a
# Prometheus scrape of each role) and with collection off, alternating, in
# one invocation. Target: under 2% of one core for the collectors.
#
#   bench/collect-overhead.sh [NODES] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-20}
RUNS=${2:-3}
tbctl=${TBCTL:-bin/tbctl}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
[ "$(id -u)" = 0 ] || { echo "bench: needs root" >&2; exit 2; }
hosts=$((N - 1)) # a single topology: one bridge and N-1 hosts

experiment() { # interval
	cat <<EOT
name: bench-collect
claim: collectors cost little CPU
topology: {generate: {shape: single, hosts: $hosts}}
duration: 12s
collect: {interval: $1}
roles:
EOT
	# A role on every host, each with a Prometheus endpoint to scrape.
	for h in $(seq "$hosts"); do
		echo "  sink$h: {role: traffic, node: h$h, params: {mode: server}}"
	done
}
experiment 100ms >"$work/on.yaml"
experiment off >"$work/off.yaml"
hz=$(getconf CLK_TCK)

# cpu_of FILE: run it, and print the runner's CPU (% of one core) over 8 s
# of the measured window.
cpu_of() {
	"$tbctl" run "$1" --out "$work/runs" --quiet >"$work/out.txt" 2>&1 &
	local pid=$!
	until [ "$(cat "$work"/runs/bench-collect/*/roles/*/events.jsonl 2>/dev/null | grep -c '"event":"ready"')" -ge "$hosts" ] ||
		! kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
	sleep 1
	local c0 c1 t0 t1
	c0=$(awk '{print $14 + $15}' "/proc/$pid/stat"); t0=$(date +%s.%N)
	sleep 8
	c1=$(awk '{print $14 + $15}' "/proc/$pid/stat"); t1=$(date +%s.%N)
	wait "$pid" || { cat "$work/out.txt" >&2; exit 1; }
	rm -rf "$work/runs"
	echo "100 * ($c1 - $c0) / $hz / ($t1 - $t0)" | bc -l
}

echo "machine: $(nproc) cores, kernel $(uname -r), $("$tbctl" version)"
for r in $(seq "$RUNS"); do
	on=$(cpu_of "$work/on.yaml"); sleep 2
	off=$(cpu_of "$work/off.yaml"); sleep 2
	printf 'run %d: %d-node lab, runner CPU with collectors every 100 ms %.2f%%, with collection off %.2f%% of one core\n' "$r" "$N" "$on" "$off"
done
