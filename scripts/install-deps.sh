#!/usr/bin/env bash
# Installs what tbctl's build, tests and demo need on Debian/Ubuntu, and only
# what is missing. Usage: scripts/install-deps.sh [build|run|test|bench]...
#   build  a Go toolchain (>= 1.26)
#   run    iproute2, CNI plugins, nftables (what a lab needs at run time)
#   test   tcpdump (reads back the pcapng files tbctl writes), openssh-server
#          (the remote provider's tests run sshd inside network namespaces;
#          the host's own ssh service is not started by the install)
#   bench  Mininet and iperf3 (peers the benchmarks compare against), jq
set -euo pipefail

want_go="1.26"
go_version="1.26.8"
# Where a Go toolchain fetched from the Go module proxy goes when the machine
# has no Go >= 1.26 (Debian 12 ships 1.19). scripts/go.sh looks here too.
go_dir=${TBCTL_GO_DIR:-/usr/local/lib/tbctl/go}
need_pkgs=()
fetch_go=0

have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
want_pkg() { have_pkg "$1" || need_pkgs+=("$1"); }

go_ok() {
	local v
	v=$("${1:-go}" env GOVERSION 2>/dev/null) || return 1
	v=${v#go}
	[ "$(printf '%s\n%s\n' "$want_go" "$v" | sort -V | head -1)" = "$want_go" ]
}

for what in "${@:-build run}"; do
	for w in $what; do
		case "$w" in
		build)
			if ! go_ok go && ! go_ok /usr/local/go/bin/go && ! go_ok "$go_dir/bin/go"; then
				fetch_go=1
				want_pkg curl
				want_pkg unzip
				want_pkg ca-certificates
			fi
			want_pkg git
			want_pkg make
			;;
		run)
			want_pkg iproute2
			want_pkg containernetworking-plugins
			want_pkg nftables
			want_pkg iputils-ping
			;;
		test)
			want_pkg tcpdump
			want_pkg openssh-server
			;;
		bench)
			want_pkg mininet
			want_pkg bridge-utils
			want_pkg iperf3
			want_pkg time
			want_pkg bc
			want_pkg jq
			want_pkg openssh-server
			;;
		*) echo "install-deps: unknown group $w (use build, run, test, bench)" >&2; exit 1 ;;
		esac
	done
done

if [ ${#need_pkgs[@]} -gt 0 ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "install-deps: missing packages: ${need_pkgs[*]}; run as root (sudo make ...) or install them with apt-get" >&2
		exit 2
	fi
	echo "install-deps: installing ${need_pkgs[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# Packages install services (openssh-server's sshd) but start none: a
	# policy-rc.d that denies every start, for the length of the install,
	# as Debian's container images do. One already there is left alone.
	policy=/usr/sbin/policy-rc.d
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy"
		chmod 0755 "$policy"
		trap 'rm -f "$policy"' EXIT
	fi
	apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
	if [ -n "$(trap -p EXIT)" ]; then
		rm -f "$policy"
		trap - EXIT
	fi
fi

# The Go module proxy serves every Go release as the module
# golang.org/toolchain (that is how GOTOOLCHAIN works); fetch it from there.
if [ "$fetch_go" = 1 ]; then
	arch=$(dpkg --print-architecture)
	proxy=${GOPROXY:-https://proxy.golang.org}
	proxy=${proxy%%,*}
	case "$proxy" in direct | off) proxy=https://proxy.golang.org ;; esac
	url="$proxy/golang.org/toolchain/@v/v0.0.1-go$go_version.linux-$arch.zip"
	echo "install-deps: fetching Go $go_version from $url"
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	curl -fsSL --retry 3 -o "$tmp/go.zip" "$url"
	unzip -q "$tmp/go.zip" -d "$tmp/x"
	mkdir -p "$(dirname "$go_dir")"
	rm -rf "$go_dir"
	mv "$tmp/x/golang.org/toolchain@v0.0.1-go$go_version.linux-$arch" "$go_dir"
	# Module zips keep no file modes.
	chmod +x "$go_dir"/bin/* "$go_dir"/pkg/tool/*/*
	"$go_dir/bin/go" version
fi
