#!/usr/bin/env bash
# Time to deploy (and destroy) the quickstart's lab, the dumbbell of
# topologies/dumbbell-bottleneck.yaml, two ways in one invocation,
# alternating: on the netns provider alone, and across three SSH hosts on
# the remote provider (emulated mode: left LAN, routers, right LAN on one
# host each, two VXLAN links). The hosts are Debian's OpenSSH server in
# three network namespaces of this machine, each with a fresh host key, as
# in the integration tests; SSH goes over their management network, the
# tunnels over their data network. The remote deploy is broken down into
# its steps as tbctl reports them: connect, binary copy, deploy on the
# hosts, tunnels, host facts and clocks. The first remote deploy copies
# tbctl to the hosts (cold); the others find it there (warm). Needs root
# and openssh-server (make deps-test).
#
#   bench/remote-deploy.sh [RUNS]      default: 5
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
tbctl=${TBCTL:-bin/tbctl}
[ "$(id -u)" = 0 ] || { echo "bench: needs root" >&2; exit 2; }
[ -x /usr/sbin/sshd ] || { echo "bench: needs openssh-server: make deps-test" >&2; exit 2; }
work=$(mktemp -d)
hostbin=/var/lib/tbctl/bin/tbctl
had_bin=0; [ -e "$hostbin" ] && had_bin=1
cleanup() {
	for p in "$work"/h*/sshd.pid; do [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null || true; done
	"$tbctl" destroy bremote >/dev/null 2>&1 || true
	"$tbctl" destroy bnetns >/dev/null 2>&1 || true
	"$tbctl" destroy bssh >/dev/null 2>&1 || true
	[ "$had_bin" = 1 ] || rm -rf "$(dirname "$hostbin")"
	rm -rf "$work"
}
trap cleanup EXIT
mkdir -p /run/sshd

# Three SSH hosts: sshd in the namespaces of a one-switch lab.
"$tbctl" topo gen single --hosts 3 --name bssh -o "$work/ssh.yaml"
"$tbctl" deploy "$work/ssh.yaml" --quiet
ssh-keygen -q -t ed25519 -N "" -C "" -f "$work/client"
"$tbctl" inspect bssh --format json >"$work/ssh.json"
addr() { jq -r --arg n "$1" --arg i "$2" '.nodes[] | select(.name == $n) | .interfaces[] | select(.name == $i) | .addresses[] | select(contains(".")) | split("/")[0]' "$work/ssh.json" | head -1; }
{
	echo "defaults: {user: root, identity: $work/client}"
	echo "hosts:"
} >"$work/hosts.yaml"
names=(a b c)
for i in 1 2 3; do
	d="$work/h$i"; mkdir -p "$d"
	ssh-keygen -q -t ed25519 -N "" -C "" -f "$d/host"
	cp "$work/client.pub" "$d/authorized_keys"
	printf '%s\n' "Port 22" "HostKey $d/host" "PidFile $d/sshd.pid" "AuthorizedKeysFile $d/authorized_keys" \
		"PermitRootLogin prohibit-password" "PasswordAuthentication no" "KbdInteractiveAuthentication no" \
		"UsePAM no" "StrictModes no" "Subsystem sftp internal-sftp" >"$d/sshd_config"
	"$tbctl" exec bssh "h$i" -- /usr/sbin/sshd -f "$d/sshd_config" -E "$d/sshd.log"
	echo "  ${names[$((i - 1))]}: {address: $(addr "h$i" eth0), tunnel_address: $(addr "h$i" eth1), host_key: \"$(cat "$d/host.pub")\"}" >>"$work/hosts.yaml"
done
for i in 1 2 3; do for _ in $(seq 100); do [ -f "$work/h$i/sshd.pid" ] && break; sleep 0.05; done; done
cp topologies/dumbbell-bottleneck.yaml "$work/netns.yaml"
{ cat topologies/dumbbell-bottleneck.yaml; printf '%s\n' "remote:" "  inventory: hosts.yaml" \
	"  place: {h1: a, h2: a, sl: a, rl: b, rr: b, h3: c, h4: c, sr: c}"; } >"$work/remote.yaml"

now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc -l; }
median() { sort -n | awk '{a[NR]=$1} END {if (NR == 0) print "-"; else print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
# step NAME FILE: the seconds tbctl deploy reported for one of its actions.
step() { awk -v s="$1" 'index($0, s) == 1 { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9.]+s$/) { sub(/s$/, "", $i); print $i } }' "$2"; }

echo "machine: $(nproc) cores, kernel $(uname -r), $("$tbctl" version)"
[ "$had_bin" = 1 ] && rm -f "$hostbin" # the first remote deploy copies tbctl
: >"$work/t-netns"; : >"$work/t-remote"
for r in $(seq "$RUNS"); do
	t0=$(now); "$tbctl" deploy "$work/netns.yaml" --name bnetns --quiet
	t1=$(now); "$tbctl" destroy bnetns >/dev/null; t2=$(now)
	echo "$(secs "$t0" "$t1") $(secs "$t1" "$t2")" >>"$work/t-netns"
	t0=$(now); "$tbctl" deploy "$work/remote.yaml" --name bremote >"$work/out$r" 2>&1
	t1=$(now); "$tbctl" destroy bremote >/dev/null; t2=$(now)
	echo "$(secs "$t0" "$t1") $(secs "$t1" "$t2") $(step "connect to hosts" "$work/out$r") $(step "copy tbctl" "$work/out$r") $(step "deploy on hosts" "$work/out$r") $(step "tunnels" "$work/out$r") $(step "read host facts" "$work/out$r")" >>"$work/t-remote"
done
printf '%-44s %9s %9s\n' "quickstart lab (8 nodes, 7 links)" deploy destroy
printf '%-44s %8.2fs %8.2fs\n' "netns provider, median of $RUNS" \
	"$(awk '{print $1}' "$work/t-netns" | median)" "$(awk '{print $2}' "$work/t-netns" | median)"
printf '%-44s %8.2fs %8.2fs\n' "remote, 3 SSH hosts, first (copies tbctl)" \
	"$(awk 'NR == 1 {print $1}' "$work/t-remote")" "$(awk 'NR == 1 {print $2}' "$work/t-remote")"
if [ "$RUNS" -gt 1 ]; then
	printf '%-44s %8.2fs %8.2fs\n' "remote, 3 SSH hosts, median of the other $((RUNS - 1))" \
		"$(awk 'NR > 1 {print $1}' "$work/t-remote" | median)" "$(awk 'NR > 1 {print $2}' "$work/t-remote" | median)"
fi
echo
echo "remote deploy, by step (seconds; all hosts in parallel)"
printf '%-26s %8s %8s\n' step first others
i=3
for s in "connect to hosts" "copy tbctl to hosts" "deploy on hosts" "tunnels between hosts" "host facts and clocks"; do
	printf '%-26s %8s %8s\n' "$s" "$(awk -v c=$i 'NR == 1 {print $c}' "$work/t-remote")" "$(awk -v c=$i 'NR > 1 {print $c}' "$work/t-remote" | median)"
	i=$((i + 1))
done
echo "binary copied: $(du -h "$tbctl" | cut -f1) to 3 hosts over SFTP, verified by SHA-256 (skipped when already there)"
