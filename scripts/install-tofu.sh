#!/usr/bin/env bash
# Installs the OpenTofu release tbctl's remote provider is tested with
# (pinned in tools/tofu/go.mod) as /usr/local/bin/tofu, built from source
# with the Go module proxy (no download site is needed). Does nothing when
# tofu is on PATH already. Needs root (writes /usr/local/bin); the build
# takes a few minutes. Usage: scripts/install-tofu.sh
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
go="$root/scripts/go.sh"
mod="$root/tools/tofu"
dest=/usr/local/bin/tofu

if have=$(command -v tofu); then
	echo "install-tofu: $have is there already: $("$have" version 2>/dev/null | head -n 1)"
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "install-tofu: run as root (sudo make tofu): it installs $dest" >&2
	exit 2
fi

cd "$mod"
# -mod=mod: go.sum holds only what was resolved when the pin was made; the
# build list is completed from the module proxy.
export GOFLAGS=-mod=mod CGO_ENABLED=0
want=$("$go" list -m -f '{{.Version}}' github.com/opentofu/opentofu)
tmp=$(mktemp "$dest.XXXXXX")
trap 'rm -f "$tmp"' EXIT
echo "install-tofu: building OpenTofu $want from the Go module proxy (a few minutes)"
"$go" build -trimpath -ldflags "-s -w -X github.com/opentofu/opentofu/version.dev=no" -o "$tmp" github.com/opentofu/opentofu/cmd/tofu
chmod 0755 "$tmp"
mv "$tmp" "$dest"
trap - EXIT
echo "install-tofu: installed $dest: $("$dest" version | head -n 1)"
