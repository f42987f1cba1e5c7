#!/usr/bin/env bash
# What the mycroft role's recv_lowat costs where ranks share CPUs and
# compute: the ring of experiments/mycroft-diagnosis.yaml (8 ranks, 4 MiB,
# 256 KiB chunks, 2 channels, 30 ms of compute per iteration, on a
# leaf-spine fabric) with no faults, run with recv_lowat off and on in
# alternating pairs of `tbctl run`, in one invocation. recv_lowat wakes the
# receiver once per chunk (SO_RCVLOWAT); bench/mycroft-busbw.sh measures
# what it gains in bus bandwidth. Needs root and jq.
#
#   bench/mycroft-recv-lowat.sh [PAIRS]
#
# Each run lasts SECONDS_PER_RUN (default 20) after a 3 s warm-up; its figures are
# the percentiles of every AllReduce's duration on every rank (the
# completion records of trace.jsonl), and the counts of AllReduces. The
# order within each pair alternates (off first, then on first). TBCTL
# (default bin/tbctl) names the binary.
set -euo pipefail
cd "$(dirname "$0")/.."
PAIRS=${1:-3}
SECS=${SECONDS_PER_RUN:-20}
tbctl=$(realpath -m "${TBCTL:-bin/tbctl}")
name=mycroft-lowat
work=$(mktemp -d)
cleanup() {
	# The runner destroys its lab itself; this catches one left behind by a
	# runner that was killed (labs are named EXPERIMENT-XXXX-N).
	local l
	for l in $("$tbctl" inspect --format json 2>/dev/null | jq -r '.[].name' 2>/dev/null | grep -E "^$name-[0-9a-f]{4}-[0-9]+\$"); do
		"$tbctl" destroy "$l" >/dev/null 2>&1 || true
	done
	rm -rf "$work"
}
trap cleanup EXIT
[ "$(id -u)" = 0 ] || { echo "bench: needs root" >&2; exit 2; }
command -v jq >/dev/null || { echo "bench: jq missing" >&2; exit 2; }
{ "$tbctl" role describe mycroft 2>/dev/null || true; } | grep recv_lowat >/dev/null || { echo "bench: $tbctl has no mycroft role with recv_lowat" >&2; exit 2; }

# exp LOWAT: the experiment.
exp() {
	cat <<EOT
name: $name
claim: recv_lowat does not stretch the AllReduces of computing ranks that share CPUs
topology: {generate: {shape: leaf-spine, spines: 2, leaves: 3, hosts: 3}}
warmup: 3s
duration: ${SECS}s
collect: {interval: off}
roles:
EOT
	for k in $(seq 0 7); do
		echo "  r$k: {role: mycroft, node: h$((k + 1)), params: {rank: $k, ranks: 8, next: h$(((k + 1) % 8 + 1)), size: 4194304, compute: 30ms, channels: 2, chunk: 262144, recv_lowat: $1}}"
	done
}
exp false >"$work/off.yaml"
exp true >"$work/on.yaml"

# one MODE: a run; appends its AllReduce durations (ms) to $work/MODE.all
# and prints its summary.
one() {
	rm -rf "$work/runs"
	"$tbctl" run "$work/$1.yaml" --out "$work/runs" --quiet >"$work/run.log" 2>&1 ||
		{ cat "$work/run.log" >&2; exit 1; }
	local d
	d=$(echo "$work"/runs/$name/*/)
	cat "$d"/roles/r*/trace.jsonl | jq -r 'select(.type == "completion") | .duration_ns / 1e6' >"$work/durs"
	cat "$work/durs" >>"$work/$1.all"
	printf '%-4s %s\n' "$1" "$(pct <"$work/durs")"
}

# pct: percentiles of the numbers on stdin.
pct() {
	sort -g | awk '{a[NR]=$1} END {
		if (NR == 0) { print "no AllReduce"; exit }
		printf "AllReduces %5d  p25 %6.1f  p50 %6.1f  p75 %6.1f  p90 %6.1f  p99 %6.1f ms", NR,
			a[int(NR*.25)+1], a[int(NR*.5)+1], a[int(NR*.75)+1], a[int(NR*.9)+1], a[int(NR*.99)+1] }'
}

echo "machine: $(nproc) cores, kernel $(uname -r), $("$tbctl" version)"
echo "ring: 8 ranks, 4 MiB, 256 KiB chunks, 2 channels, compute 30ms, leaf-spine, no faults; ${SECS}s per run"
: >"$work/off.all"
: >"$work/on.all"
for i in $(seq "$PAIRS"); do
	if [ $((i % 2)) = 1 ]; then order="off on"; else order="on off"; fi
	for m in $order; do printf 'pair %d  ' "$i"; one "$m"; done
done
echo "all runs, recv_lowat off: $(pct <"$work/off.all")"
echo "all runs, recv_lowat on:  $(pct <"$work/on.all")"
