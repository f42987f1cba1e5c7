#!/usr/bin/env bash
# How long 200 role instances take from the start of the "start roles" phase
# to the last one ready (target: under 2 s), against the floor of starting
# 200 tbctl processes inside the same nodes that do nothing; and the
# runner's CPU use while roles run (target: under 2% of one core).
#
#   bench/role-start.sh [INSTANCES] [RUNS]
#
# Needs root. The experiment is generated: a `single` topology of INSTANCES
# hosts, one traffic server on each.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-200}
RUNS=${2:-3}
tbctl=${TBCTL:-bin/tbctl}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
[ "$(id -u)" = 0 ] || { echo "bench: needs root" >&2; exit 2; }

{
	echo "name: bench-roles"
	echo "claim: $N role instances start and become ready quickly"
	echo "topology: {generate: {shape: single, hosts: $N}}"
	echo "duration: 10s"
	echo "roles:"
	for i in $(seq "$N"); do echo "  s$i: {role: traffic, node: h$i, params: {mode: server}}"; done
} >"$work/exp.yaml"

# stat_cpu PID: utime+stime in clock ticks
stat_cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

echo "machine: $(nproc) cores, kernel $(uname -r), $("$tbctl" version)"
for r in $(seq "$RUNS"); do
	"$tbctl" run "$work/exp.yaml" --out "$work/runs" --quiet >"$work/out.txt" 2>&1 &
	pid=$!
	# Role events are written live: wait until every instance is ready,
	# then read the runner's CPU time over 5 s of the 10 s it lets them run.
	until [ "$(cat "$work"/runs/bench-roles/*/roles/*/events.jsonl 2>/dev/null | grep -c '"event":"ready"')" -ge "$N" ] ||
		! kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
	sleep 1
	c0=$(stat_cpu "$pid"); t0=$(date +%s.%N)
	sleep 5
	c1=$(stat_cpu "$pid"); t1=$(date +%s.%N)
	wait "$pid" || { cat "$work/out.txt"; exit 1; }
	dir=$(ls -d "$work"/runs/bench-roles/* | tail -1)
	python3 - "$dir/events.jsonl" "$N" "$r" "$c0" "$c1" "$t0" "$t1" "$hz" <<'PY'
import json, sys
path, n, r, c0, c1, t0, t1, hz = sys.argv[1], int(sys.argv[2]), sys.argv[3], *map(float, sys.argv[4:])
start = ready = None
count = 0
for line in open(path):
    ev = json.loads(line)
    if ev.get("event") == "phase" and ev.get("phase") == "start roles":
        start = ev["mono_ns"]
    if ev.get("event") == "ready":
        count += 1
        ready = max(ready or 0, ev["mono_ns"])
print(f"run {r}: {count}/{n} instances ready in {(ready - start) / 1e9:.2f} s; "
      f"runner CPU while roles ran: {100 * (c1 - c0) / hz / (t1 - t0):.2f}% of one core")
PY
	rm -rf "$work/runs"
	sleep 3
done

# The floor: the same number of tbctl processes started in the nodes of a
# lab, doing nothing but printing their version, 20 at a time.
"$tbctl" topo gen single --hosts "$N" --name bench-floor -o "$work/floor.yaml"
"$tbctl" deploy "$work/floor.yaml" --quiet
t0=$(date +%s.%N)
seq "$N" | xargs -P 20 -I{} "$tbctl" exec bench-floor h{} -- "$tbctl" version >/dev/null
t1=$(date +%s.%N)
"$tbctl" destroy bench-floor >/dev/null
printf 'floor: %d x `tbctl exec NODE -- tbctl version`, 20 in parallel: %.2f s\n' "$N" "$(echo "$t1 - $t0" | bc -l)"
