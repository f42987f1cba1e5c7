#!/usr/bin/env bash
# The demo: deploy topologies/demo.yaml, prove that every host reaches every
# other, print `tbctl inspect`, and destroy the lab, also on failure.
set -euo pipefail
tbctl=${1:-bin/tbctl}
lab=demo
topo=topologies/demo.yaml

cleanup() { "$tbctl" destroy "$lab" >/dev/null 2>&1 || true; }
trap cleanup EXIT

"$tbctl" version
"$tbctl" validate "$topo"
"$tbctl" deploy "$topo"

# Every linux host pings every other host's data-plane addresses.
addrs() { "$tbctl" inspect "$lab" --format json | python3 -c '
import json, sys
lab = json.load(sys.stdin)
for n in lab["nodes"]:
    if n["kind"] != "linux":
        continue
    for i in n["interfaces"]:
        if i["name"] != "eth0":
            for a in i.get("addresses", []):
                print(n["name"], a.split("/")[0])
'; }
mapfile -t pairs < <(addrs)
hosts=$(printf '%s\n' "${pairs[@]}" | awk '{print $1}' | sort -u)
fail=0
for src in $hosts; do
	for p in "${pairs[@]}"; do
		dst=${p#* }; owner=${p%% *}
		[ "$owner" = "$src" ] && continue
		if "$tbctl" exec "$lab" "$src" -- ping -c 1 -W 2 -q "$dst" >/dev/null; then
			echo "ping $src -> $owner ($dst): ok"
		else
			echo "ping $src -> $owner ($dst): FAILED"; fail=1
		fi
	done
done
"$tbctl" exec "$lab" h1 -- ping -c 3 -i 0.2 -q "$(printf '%s\n' "${pairs[@]}" | awk '$1=="h3"{print $2; exit}')"

"$tbctl" inspect "$lab"
"$tbctl" destroy "$lab"
trap - EXIT
[ "$fail" = 0 ] && echo "demo: every host reached every other host" || { echo "demo: some pings failed"; exit 1; }
