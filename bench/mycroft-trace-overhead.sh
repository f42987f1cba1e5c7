#!/usr/bin/env bash
# What Mycroft-style collective tracing costs a training loop: the mycroft
# role's iteration time with trace on (completion records, state snapshots
# every 100 ms, and the live trace stream on trace_port, as by default) and
# with trace off, in pairs of runs whose order alternates (on first in odd
# pairs, off first in even ones), in one invocation. Target: tracing adds
# under 1% to iteration time. Needs root, jq and bc.
#
#   bench/mycroft-trace-overhead.sh [PAIRS]   (0 pairs: only the second part)
#
# Each run is `tbctl run` of an experiment on a generated `single`
# topology with RANKS hosts (default 4, from the environment), instance rK
# running mycroft on h(K+1) with next = the following host (wrapping):
# 16 MiB buffer, 20 ms compute, 2 channels, 60 iterations, trace true with
# trace_interval TRACE_INTERVAL (default 100ms, from the environment) or
# trace false, and nothing else different. A run's figure is the median
# across ranks of each rank's summary iter_p50_ms. The result: the median
# over PAIRS (default 10) of each side, the overhead (on - off) / off of
# those medians, and the median of the pairs' own overheads (each pair's
# runs are next to each other in time, so slow drifts of the machine
# cancel) with its distribution-free 95% confidence interval (order
# statistics k and n+1-k of the sorted pair overheads, k = floor(n/2 -
# 0.98 sqrt(n)), from the sign test; needs at least 6 pairs).
#
# Run-to-run noise on a small machine is several percent, wider than the
# 1% to be shown, so a second part alternates finer: ALT_RUNS (default 4)
# runs with trace_alternate, ALT_ITERS (default 300) iterations each, in
# which one iteration of each pair (2k, 2k+1) is traced, which one drawn
# from the run's seed (each run gets its own seed), on every rank alike.
# Within each pair the traced iteration's time is set against the other's
# (neighbours share the machine's drift; the draw cancels any effect of
# position), using the median across ranks of each iteration's iter_ms;
# the result is the mean of those differences over every run, relative to
# the mean untraced iteration, with its 95% confidence interval (± 1.96
# standard errors). TBCTL (default bin/tbctl) names the binary.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-10}
RANKS=${RANKS:-4}
TRACE_INTERVAL=${TRACE_INTERVAL:-100ms}
SIZE=$((16 << 20))
ITERS=60
ALT_RUNS=${ALT_RUNS:-4}
ALT_ITERS=${ALT_ITERS:-300}
tbctl=$(realpath -m "${TBCTL:-bin/tbctl}")
name=mycroft-trace
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
[ "$RANKS" -ge 2 ] || { echo "bench: RANKS must be at least 2" >&2; exit 2; }
command -v jq >/dev/null || { echo "bench: jq missing" >&2; exit 2; }
command -v bc >/dev/null || { echo "bench: bc missing" >&2; exit 2; }
"$tbctl" role describe mycroft >/dev/null 2>&1 || { echo "bench: $tbctl has no mycroft role" >&2; exit 2; }

experiment() { # trace: true or false; [alternate]
	local iters=$ITERS extra="" duration=${DURATION:-10s}
	if [ "${2:-}" = alternate ]; then
		iters=$ALT_ITERS
		extra=", trace_alternate: true"
		duration=${ALT_DURATION:-$((ALT_ITERS / 8 + 5))s} # iterations take about 100 ms here
	fi
	cat <<EOT
name: $name
claim: Mycroft-style tracing adds under 1% to the iteration time of a ring AllReduce training loop
topology: {generate: {shape: single, hosts: $RANKS}}
duration: $duration
collect: {interval: off}
roles:
EOT
	local k
	for k in $(seq 0 $((RANKS - 1))); do
		echo "  r$k: {role: mycroft, node: h$((k + 1)), params: {rank: $k, ranks: $RANKS, next: h$(((k + 1) % RANKS + 1)), size: $SIZE, compute: 20ms, channels: 2, iterations: $iters, trace: $1, trace_interval: $TRACE_INTERVAL$extra}}"
	done
}
experiment true >"$work/on.yaml"
experiment false >"$work/off.yaml"
experiment true alternate >"$work/alt.yaml"

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# iter_of FILE TRACE: run it and print the median across ranks of iter_p50_ms;
# the ranks' figures go to $work/detail.
iter_of() {
	rm -rf "$work/runs"
	"$tbctl" run "$1" --out "$work/runs" --quiet >"$work/run.log" 2>&1 ||
		{ cat "$work/run.log" >&2; tail -n 5 "$work"/runs/$name/*/roles/*/stderr.log >&2 2>/dev/null; exit 1; }
	local d k
	d=$(echo "$work"/runs/$name/*/)
	: >"$work/ranks"
	for k in $(seq 0 $((RANKS - 1))); do
		jq -e '.complete' "$d/roles/r$k/summary.json" >/dev/null ||
			{ echo "bench: rank $k did not complete:" >&2; cat "$d/roles/r$k/summary.json" "$d/roles/r$k/stderr.log" >&2; exit 1; }
		if [ "$2" = true ]; then
			[ -s "$d/roles/r$k/trace.jsonl" ] || { echo "bench: rank $k wrote no trace" >&2; exit 1; }
		else
			[ ! -e "$d/roles/r$k/trace.jsonl" ] || { echo "bench: rank $k traced with trace off" >&2; exit 1; }
		fi
		jq '.iter_p50_ms' "$d/roles/r$k/summary.json" >>"$work/ranks"
	done
	if [ "$2" = true ]; then
		echo "ranks iter p50 ms: $(tr '\n' ' ' <"$work/ranks"); trace records: $(cat "$d"/roles/r*/trace.jsonl | grep -c '"type":"completion"') completion, $(cat "$d"/roles/r*/trace.jsonl | grep -c '"type":"state"') state" >"$work/detail"
	else
		echo "ranks iter p50 ms: $(tr '\n' ' ' <"$work/ranks")" >"$work/detail"
	fi
	median <"$work/ranks"
}

echo "machine: $(nproc) cores, kernel $(uname -r), $("$tbctl" version)"
echo "ring: $RANKS ranks, size $SIZE B, compute 20ms, channels 2, $ITERS iterations; trace_interval $TRACE_INTERVAL when on"
: >"$work/on"; : >"$work/off"; : >"$work/pairs"
one() { # trace: true or false; appends to $work/on or $work/off, prints the line
	local v side=off
	[ "$1" = true ] && side=on
	v=$(iter_of "$work/$side.yaml" "$1") || exit 1
	echo "$v" >>"$work/$side"
	printf 'pair %d  trace %-3s  iter p50 %8.3f ms (%s)\n' "$r" "$side" "$v" "$(cat "$work/detail")" >&2
	echo "$v"
}
for r in $(seq "$RUNS"); do
	if [ $((r % 2)) = 1 ]; then
		on=$(one true) || exit 1
		off=$(one false) || exit 1
	else
		off=$(one false) || exit 1
		on=$(one true) || exit 1
	fi
	echo "100 * ($on - $off) / $off" | bc -l >>"$work/pairs"
done
if [ "$RUNS" -gt 0 ]; then
	on=$(median <"$work/on"); off=$(median <"$work/off"); pair=$(median <"$work/pairs")
	ci=$(sort -g "$work/pairs" | awk '{a[NR]=$1} END {n=NR; k=int(n/2 - 0.98*sqrt(n)); if (k < 1) {print "n/a"; exit} printf "[%+.2f%%, %+.2f%%]", a[k], a[n+1-k]}')
	echo "95% confidence interval of the median pair overhead: $ci"
	printf 'ring AllReduce training loop, %d ranks, %d pairs: iteration p50 with trace %.3f ms, without %.3f ms (medians): tracing adds %+.2f%%; median of the pairs'"'"' overheads %+.2f%% (pairs: %s) (target: under 1%%)\n' \
		"$RANKS" "$RUNS" "$on" "$off" "$(echo "100 * ($on - $off) / $off" | bc -l)" "$pair" "$(sort -g "$work/pairs" | awk '{printf "%+.1f ", $1}')"
fi

# The second part: traced and untraced iterations alternating within runs.
echo "interleaved: $ALT_RUNS runs of $ALT_ITERS iterations, one iteration of each pair traced, drawn from the seed"
: >"$work/alt"
for r in $(seq "$ALT_RUNS"); do
	rm -rf "$work/runs"
	"$tbctl" run "$work/alt.yaml" --set seed="$r" --out "$work/runs" --quiet >"$work/run.log" 2>&1 ||
		{ cat "$work/run.log" >&2; tail -n 5 "$work"/runs/$name/*/roles/*/stderr.log >&2 2>/dev/null; exit 1; }
	d=$(echo "$work"/runs/$name/*/)
	for k in $(seq 0 $((RANKS - 1))); do
		jq -e '.complete' "$d/roles/r$k/summary.json" >/dev/null ||
			{ echo "bench: rank $k did not complete:" >&2; cat "$d/roles/r$k/summary.json" "$d/roles/r$k/stderr.log" >&2; exit 1; }
	done
	# One line per iteration: iter, median across ranks of iter_ms, traced (1/0).
	jq -s -r 'group_by(.iter)[] | (map(.iter_ms) | sort) as $t | [.[0].iter,
		(if ($t | length) % 2 == 1 then $t[($t | length - 1) / 2] else ($t[($t | length) / 2 - 1] + $t[($t | length) / 2]) / 2 end),
		(if all(.[]; .traced == true) then 1 elif any(.[]; .traced == true) then "mixed" else 0 end)] | @tsv' \
		"$d"/roles/r*/series.jsonl >"$work/iters"
	grep -q mixed "$work/iters" && { echo "bench: ranks disagree on which iterations were traced" >&2; exit 1; }
	traced=$(awk '$3 == 1' "$work/iters" | wc -l)
	[ "$traced" -gt 0 ] || { echo "bench: no iteration was traced" >&2; exit 1; }
	# Each odd (untraced) iteration against the mean of its traced neighbours.
	# One line per pair of iterations (2k, 2k+1), one traced and one not:
	# the traced one's time minus the other's in ms, and the other's.
	awk '{t[$1] = $2; tr[$1] = $3} END {for (i = 0; i + 1 in t; i += 2) if (tr[i] + tr[i+1] == 1) {
		if (tr[i]) print t[i] - t[i+1], t[i+1]; else print t[i+1] - t[i], t[i] }}' \
		"$work/iters" >"$work/run-d"
	cat "$work/run-d" >>"$work/alt"
	printf 'interleaved run %d: %d comparisons, traced - untraced %+.3f%%; iteration p50 traced %.3f ms, untraced %.3f ms\n' "$r" \
		"$(wc -l <"$work/run-d")" "$(awk '{d += $1; u += $2} END {print 100 * d / u}' "$work/run-d")" \
		"$(awk '$3 == 1 {print $2}' "$work/iters" | median)" "$(awk '$3 == 0 {print $2}' "$work/iters" | median)"
done
# The overhead is the mean difference over the mean untraced time (a mean
# of per-pair ratios would be biased upwards by the noise); its interval
# is the mean difference's ± 1.96 standard errors over the same mean.
awk '{s += $1; q += $1 * $1; u += $2; n++} END {m = s / n; sd = sqrt((q - n * m * m) / (n - 1)); se = sd / sqrt(n); b = u / n;
	printf "interleaved, %d comparisons: tracing adds %+.3f%% to iteration time, 95%% confidence interval [%+.3f%%, %+.3f%%] (sd of one comparison %.2f%%; target: under 1%%)\n", n, 100 * m / b, 100 * (m - 1.96 * se) / b, 100 * (m + 1.96 * se) / b, 100 * sd / b}' "$work/alt"
