#!/usr/bin/env bash
# Deploy-and-destroy time of a chain of N linux nodes (N-1 links) three
# ways, alternating, in one invocation: tbctl's containerlab provider, the
# same containerlab file deployed with `containerlab deploy` directly, and
# tbctl's netns provider. Target: tbctl adds under 10% to containerlab's own
# time. Needs root, Docker and containerlab (make containerlab).
#
#   bench/clab-deploy.sh [N...] [-r RUNS]      default: 10 50, 3 runs
#
# The direct runs use the very file tbctl wrote for the same topology (its
# node image included), so both deploy the same containers and links; tbctl
# then also pins each container's namespace and configures addresses.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=3
sizes=()
while [ $# -gt 0 ]; do
	case "$1" in
	-r) RUNS=$2; shift 2 ;;
	*) sizes+=("$1"); shift ;;
	esac
done
[ ${#sizes[@]} -gt 0 ] || sizes=(10 50)
tbctl=${TBCTL:-bin/tbctl}
[ "$(id -u)" = 0 ] || { echo "bench: needs root" >&2; exit 2; }
command -v containerlab >/dev/null || { echo "bench: containerlab missing: make containerlab" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export CLAB_VERSION_CHECK=disable CLAB_LABDIR_BASE="$work"

chain() { # NAME N
	echo "name: $1"
	echo "addressing: {}"
	echo "topology:"
	echo "  nodes:"
	for i in $(seq "$2"); do echo "    n$i: {kind: linux}"; done
	echo "  links:"
	for i in $(seq $(($2 - 1))); do echo "    - endpoints: [\"n$i:eth2\", \"n$((i + 1)):eth1\"]"; done
}
now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc -l; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

echo "machine: $(nproc) cores, kernel $(uname -r), $("$tbctl" version), containerlab $(containerlab version | awk '$1 == "version:" {print $2}')"
"$tbctl" node image >/dev/null # built once, outside the timings
for n in "${sizes[@]}"; do
	chain "bc$n" "$n" >"$work/chain$n.yaml"
	# The containerlab file tbctl writes for it, for the direct runs.
	"$tbctl" deploy "$work/chain$n.yaml" --provider containerlab --name "bc$n-file" --quiet >/dev/null
	sed "s/^name: .*/name: bcd$n/; s/network: tb-bc$n-file-mgmt/network: bcd$n-mgmt/" "/run/tbctl/bc$n-file/clab/topology.clab.yml" >"$work/direct$n.clab.yml"
	"$tbctl" destroy "bc$n-file" >/dev/null
	: >"$work/t-clab" ; : >"$work/t-direct" ; : >"$work/t-netns"
	for r in $(seq "$RUNS"); do
		t0=$(now); "$tbctl" deploy "$work/chain$n.yaml" --provider containerlab --name "bc$n" --quiet >/dev/null
		t1=$(now); "$tbctl" destroy "bc$n" >/dev/null; t2=$(now)
		echo "$(secs "$t0" "$t1") $(secs "$t1" "$t2")" >>"$work/t-clab"
		t0=$(now); containerlab deploy -t "$work/direct$n.clab.yml" >/dev/null 2>&1
		t1=$(now); containerlab destroy -t "$work/direct$n.clab.yml" --cleanup >/dev/null 2>&1; t2=$(now)
		echo "$(secs "$t0" "$t1") $(secs "$t1" "$t2")" >>"$work/t-direct"
		t0=$(now); "$tbctl" deploy "$work/chain$n.yaml" --provider netns --name "bn$n" --quiet >/dev/null
		t1=$(now); "$tbctl" destroy "bn$n" >/dev/null; t2=$(now)
		echo "$(secs "$t0" "$t1") $(secs "$t1" "$t2")" >>"$work/t-netns"
	done
	for way in clab direct netns; do
		d=$(awk '{print $1}' "$work/t-$way" | median); x=$(awk '{print $2}' "$work/t-$way" | median)
		tot=$(awk '{print $1 + $2}' "$work/t-$way" | median)
		eval "tot_$way=$tot"
		printf '%-44s deploy %6.2f s  destroy %6.2f s  total %6.2f s  (median of %d)\n' \
			"chain $n: $(case $way in clab) echo "tbctl --provider containerlab" ;; direct) echo "containerlab deploy/destroy" ;; netns) echo "tbctl --provider netns" ;; esac)" "$d" "$x" "$tot" "$RUNS"
	done
	printf 'chain %d: tbctl adds %+.1f%% to containerlab'"'"'s own time\n' "$n" "$(echo "100 * ($tot_clab - $tot_direct) / $tot_direct" | bc -l)"
done
