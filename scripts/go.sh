#!/usr/bin/env bash
# Runs the Go toolchain tbctl needs (>= 1.26): the one on PATH, the one in
# /usr/local/go, or the one scripts/install-deps.sh fetched from the Go module
# proxy.
set -euo pipefail
for g in go /usr/local/go/bin/go "${TBCTL_GO_DIR:-/usr/local/lib/tbctl/go}/bin/go"; do
	if v=$("$g" env GOVERSION 2>/dev/null) && [ "$(printf '1.26\n%s\n' "${v#go}" | sort -V | head -1)" = 1.26 ]; then
		exec "$g" "$@"
	fi
done
echo "go.sh: no Go >= 1.26 found; run scripts/install-deps.sh build (as root)" >&2
exit 2
