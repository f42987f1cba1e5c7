#!/usr/bin/env bash
# Deploy-and-destroy time of `linear N` with tbctl and with Debian's Mininet,
# alternating, several runs each, in one invocation; then linear 500 with
# tbctl alone against the 10 s / 300 MB budget. Needs root.
#
#   bench/deploy-vs-mininet.sh [N] [RUNS] [BIG_N] [BIG_RUNS]
#
# Each tbctl run is `tbctl deploy` then `tbctl destroy` of a file made by
# `tbctl topo gen linear --hosts N` (default settings: management network
# included). Each Mininet run is
# `mn --topo linear,N --switch lxbr --controller none --test build`, which
# builds the same shape (N switches in a chain, one host each) and tears it
# down. Peak RSS is the larger of the deploy's and the destroy's.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100}
RUNS=${2:-5}
BIG_N=${3:-500}
BIG_RUNS=${4:-3}
tbctl=${TBCTL:-bin/tbctl}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
[ "$(id -u)" = 0 ] || { echo "bench: needs root" >&2; exit 2; }
command -v mn >/dev/null || { echo "bench: mininet missing: make deps-bench" >&2; exit 2; }

# The kernel frees a namespace in the background after its last user is
# gone; freeing a Linux bridge costs one rcu_barrier (about 15 ms here), so
# hundreds of bridges keep a kernel worker busy for seconds after either tool
# has returned. busy tells whether that worker is still at it.
busy() {
	local p
	for p in /proc/[0-9]*; do
		case "$(cat "$p/comm" 2>/dev/null)" in kworker*) ;; *) continue ;; esac
		grep -q cleanup_net "$p/stack" 2>/dev/null && return 0
	done
	return 1
}
# settle waits until the kernel has been idle for 0.3 s and prints how long
# that took, so no run pays for the previous run's cleanup.
settle() {
	local t0 quiet=0
	t0=$(date +%s.%N)
	while [ "$quiet" -lt 3 ]; do
		if busy; then quiet=0; else quiet=$((quiet + 1)); fi
		sleep 0.1
	done
	echo "$(date +%s.%N) - $t0 - 0.3" | bc -l
}

# tb_run FILE LAB -> "seconds peak_kb"
tb_run() {
	local t0 t1 rss1 rss2
	t0=$(date +%s.%N)
	/usr/bin/time -f %M -o "$work/rss1" "$tbctl" deploy "$1" --quiet
	/usr/bin/time -f %M -o "$work/rss2" "$tbctl" destroy "$2" >/dev/null
	t1=$(date +%s.%N)
	rss1=$(tail -1 "$work/rss1"); rss2=$(tail -1 "$work/rss2")
	echo "$(echo "$t1 - $t0" | bc -l) $(( rss1 > rss2 ? rss1 : rss2 ))"
}

mn_run() {
	local t0 t1
	t0=$(date +%s.%N)
	mn --topo "linear,$1" --switch lxbr --controller none --test build >"$work/mn.log" 2>&1 ||
		{ cat "$work/mn.log" >&2; exit 1; }
	t1=$(date +%s.%N)
	echo "$t1 - $t0" | bc -l
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, kernel $(uname -r), $("$tbctl" version)"
echo "mininet: $(dpkg-query -W -f='${Version}' mininet)"
"$tbctl" topo gen linear --hosts "$N" --name "bench-$N" -o "$work/small.yaml"
: >"$work/tb"; : >"$work/mn"
settle >/dev/null
for i in $(seq "$RUNS"); do
	read -r s kb < <(tb_run "$work/small.yaml" "bench-$N"); echo "$s" >>"$work/tb"
	k=$(settle); echo "$s + $k" | bc -l >>"$work/tbk"
	printf 'run %d  tbctl   linear %d: %6.2fs (+%.2fs kernel freeing after)  peak RSS %d MB\n' "$i" "$N" "$s" "$k" $((kb / 1024))
	s=$(mn_run "$N"); echo "$s" >>"$work/mn"
	k=$(settle); echo "$s + $k" | bc -l >>"$work/mnk"
	printf 'run %d  mininet linear %d: %6.2fs (+%.2fs kernel freeing after)\n' "$i" "$N" "$s" "$k"
done
tb=$(median <"$work/tb"); mnm=$(median <"$work/mn")
tbk=$(median <"$work/tbk"); mnk=$(median <"$work/mnk")
printf 'linear %d, median of %d: tbctl %.2fs, mininet %.2fs: tbctl is %.1fx faster\n' "$N" "$RUNS" "$tb" "$mnm" "$(echo "$mnm / $tb" | bc -l)"
printf 'linear %d, counting the kernel freeing after each run: tbctl %.2fs, mininet %.2fs: tbctl is %.1fx faster\n' "$N" "$tbk" "$mnk" "$(echo "$mnk / $tbk" | bc -l)"

"$tbctl" topo gen linear --hosts "$BIG_N" --name "bench-$BIG_N" -o "$work/big.yaml"
: >"$work/big"; peak=0
for i in $(seq "$BIG_RUNS"); do
	read -r s kb < <(tb_run "$work/big.yaml" "bench-$BIG_N"); echo "$s" >>"$work/big"
	k=$(settle); echo "$k" >>"$work/bigk"
	peak=$(( kb > peak ? kb : peak ))
	printf 'run %d  tbctl   linear %d (%d namespaces): %6.2fs (+%.2fs kernel freeing after)  peak RSS %d MB\n' "$i" "$BIG_N" $((2 * BIG_N)) "$s" "$k" $((kb / 1024))
done
printf 'linear %d, median of %d: tbctl %.2fs deploy+destroy (then %.2fs of kernel freeing), peak RSS %d MB (budget: 10 s, 300 MB)\n' "$BIG_N" "$BIG_RUNS" "$(median <"$work/big")" "$(median <"$work/bigk")" $((peak / 1024))
