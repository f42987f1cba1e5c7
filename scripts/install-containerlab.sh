#!/usr/bin/env bash
# Installs the containerlab release tbctl's containerlab provider is tested
# with (pinned in tools/containerlab/go.mod) as /usr/local/bin/containerlab,
# built from source with the Go module proxy. Does nothing when containerlab
# is on PATH already. Needs root (writes /usr/local/bin); the build takes
# about 3 minutes. Usage: scripts/install-containerlab.sh
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
go="$root/scripts/go.sh"
mod="$root/tools/containerlab"
dest=/usr/local/bin/containerlab

if have=$(command -v containerlab); then
	echo "install-containerlab: $have is there already: $("$have" version 2>/dev/null | awk '$1 == "version:" {print $2}')"
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "install-containerlab: run as root (sudo make containerlab): it installs $dest" >&2
	exit 2
fi

cd "$mod"
# -mod=mod: the module graph of containerlab needs the replace directives in
# tools/containerlab/go.mod and go.sum may lack entries for the build list.
export GOFLAGS=-mod=mod CGO_ENABLED=0
"$go" mod download github.com/srl-labs/containerlab
want=$("$go" list -m -f '{{.Version}}' github.com/srl-labs/containerlab)
date=$("$go" list -m -f '{{.Time}}' github.com/srl-labs/containerlab | cut -d' ' -f1)
src=$("$go" list -m -f '{{.Dir}}' github.com/srl-labs/containerlab)
tmp=$(mktemp "$dest.XXXXXX")
work=$(mktemp -d)
trap 'rm -rf "$tmp" "$work"' EXIT

# Two patches, for hosts unlike the ones containerlab is made for; on other
# hosts the built binary behaves as the release does. `containerlab version`
# says "commit: tbctl-patched". The build uses a patched copy of the release's
# source (a replace directive in a copy of this module).
#  1. containerlab reads /proc/modules to see whether ip_tables and
#     ip6_tables are loaded and aborts every deploy ("Error: open
#     /proc/modules: no such file or directory") on a kernel without loadable
#     module support (CONFIG_MODULES=n, e.g. Firecracker guests), where that
#     file does not exist. There every module is built in, so the patched
#     check answers "loaded".
#  2. Nodes are created --privileged, which fails ("unable to apply caps:
#     operation not permitted") when the capability bounding set lacks a
#     capability; see tools/containerlab/_patch/runtime/docker/.
cp "$mod/go.mod" "$mod/go.sum" "$mod/tools.go" "$work/"
cp -r "$src" "$work/containerlab"
chmod -R u+w "$work/containerlab"
km="$work/containerlab/utils/kernel_module.go"
sed -i '/f, err := os.Open("\/proc\/modules")/a\
	if os.IsNotExist(err) {\
		return true, nil // no loadable modules: what the kernel has is built in\
	}' "$km"
dk="$work/containerlab/runtime/docker/docker.go"
sed -i 's/^\tcont, err := d\.Client\.ContainerCreate($/\ttbctlUnprivileged(containerHostConfig)\n&/' "$dk"
if ! grep -q 'os.IsNotExist(err)' "$km" || [ "$(grep -c '^	tbctlUnprivileged(containerHostConfig)$' "$dk")" != 1 ]; then
	echo "install-containerlab: cannot patch containerlab in $src (not $want as expected?)" >&2
	exit 1
fi
cp -r "$mod/_patch/." "$work/containerlab/"
cd "$work"
"$go" mod edit -replace github.com/srl-labs/containerlab=./containerlab

echo "install-containerlab: building containerlab $want (takes a few minutes)"
"$go" build -trimpath -o "$tmp" \
	-ldflags "-s -w -X github.com/srl-labs/containerlab/cmd.version=${want#v} -X github.com/srl-labs/containerlab/cmd.date=$date -X github.com/srl-labs/containerlab/cmd.commit=tbctl-patched" \
	github.com/srl-labs/containerlab
chmod 755 "$tmp"
got=$("$tmp" version | awk '$1 == "version:" {print $2}')
if [ "$got" != "${want#v}" ]; then
	echo "install-containerlab: the built binary says version '$got', want ${want#v}" >&2
	exit 1
fi
mv -f "$tmp" "$dest"
echo "install-containerlab: installed $dest ($got)"
