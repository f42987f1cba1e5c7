#!/usr/bin/env bash
# Runs the Go toolchain tbctl needs (>= 1.26): the one on PATH, the one in
# /usr/local/go, or an older go that fetches 1.26 from the module proxy.
set -euo pipefail
for g in go /usr/local/go/bin/go; do
	if v=$("$g" env GOVERSION 2>/dev/null) && [ "$(printf '1.26\n%s\n' "${v#go}" | sort -V | head -1)" = 1.26 ]; then
		exec "$g" "$@"
	fi
done
export GOTOOLCHAIN=go1.26.8
exec go "$@"
