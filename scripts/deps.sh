#!/bin/sh
# Installs the Debian packages that building and testing reloader need,
# and only those that are missing.  Called by `make run` and `make check`.
set -eu

# Build: compiler, libev (event loop), elfutils' libelf (ELF notes),
# libmd (MD5), zlib (compressed beams).  Test: Check (unit tests), the
# Erlang VM and compiler (BEAM stamps checked against the real VM; erlc
# also builds the Erlang client, clients/erlang, and erl and epmd run its
# tests and benchmark; erlang-eunit and erlang-dev, for eunit.hrl, run
# the client's codec tests; erlang-dialyzer checks the client's types),
# binutils (readelf), clang (fuzz targets).  The example dev server:
# libmicrohttpd (its HTTP server) and curl (to talk to it, in `make run`
# and its test).
# systemd: systemd-analyze (t-systemd verifies the units and rates their
# sandbox) and systemd-socket-activate (socket activation); mandoc (the
# man pages are linted, t-install); strace (t-systemd checks the daemon's
# system calls against the system unit's filter); util-linux: unshare
# and setpriv (the sandboxed run).
PKGS="gcc make pkg-config libev-dev libelf-dev libmd-dev zlib1g-dev check
erlang-base erlang-eunit erlang-dev erlang-dialyzer binutils procps
libmicrohttpd-dev curl systemd mandoc strace util-linux"

if ! command -v dpkg-query >/dev/null 2>&1; then
	echo "deps: not a Debian system; install these by hand:" $PKGS >&2
	exit 0
fi

missing=""
for p in $PKGS; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$st" in
	*"install ok installed"*) ;;
	*) missing="$missing $p" ;;
	esac
done
[ -z "$missing" ] && exit 0

echo "deps: installing$missing"
if [ "$(id -u)" -eq 0 ]; then
	SUDO=""
elif command -v sudo >/dev/null 2>&1; then
	SUDO="sudo"
else
	echo "deps: missing packages:$missing; run as root or install sudo" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
