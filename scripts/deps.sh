#!/bin/sh
# Installs the Debian packages that reloader needs, and only those that
# are missing: `run` what `make run` builds and runs, `check` those and
# what the tests need besides, `bench` those and what `make bench` runs
# beside reloaderd.  `list` prints a set's packages.
#
#	sh scripts/deps.sh [run | check | bench]	(default: check)
#	sh scripts/deps.sh list run | check | bench
set -eu

# make run: the compiler, libev (event loop), elfutils' libelf (ELF
# notes), libmd (MD5), zlib (compressed beams); the example dev server's
# libmicrohttpd (its HTTP server) and curl (to talk to it).
RUN_PKGS="gcc make pkg-config libev-dev libelf-dev libmd-dev zlib1g-dev
libmicrohttpd-dev curl"

# make check, besides: Check (unit tests); the Erlang VM and compiler
# (BEAM stamps checked against the real VM; erlc also builds the Erlang
# client, clients/erlang, and erl and epmd run its tests and benchmark;
# erlang-eunit and erlang-dev, for eunit.hrl, run the client's codec
# tests; erlang-dialyzer checks the client's types; erlang-inets serves
# the appup tests' web application, seed 004's nine9s, and rebar3 builds
# its releases, relups and tarballs);
# binutils (readelf) and procps (pgrep); systemd: systemd-analyze
# (t-systemd verifies the units and rates their sandbox) and
# systemd-socket-activate (socket activation); mandoc (the man pages are
# linted, t-install) and man-db (rendered, t-man); strace (t-systemd
# checks the daemon's system calls against the system unit's filter);
# util-linux: unshare and setpriv (the sandboxed run); dpkg-dev,
# debhelper and fakeroot (t-deb builds the Debian packages, make deb);
# jq (t-terminal checks that reloaderctl's JSON parses, t-ctl-json its
# types); netcat-openbsd (t-demo holds make run's port with nc -l); rsync,
# and OpenSSH's server and client (t-remote-*: a build sent by rsync, and
# reloaderctl and hosts reaching a daemon through a private sshd's
# Unix-socket forwards); erlang-inets and rebar3 (the appup and release
# tests build seed 004's web app on inets and release it with rebar3).
CHECK_PKGS="$RUN_PKGS check erlang-base erlang-eunit erlang-dev erlang-inets
rebar3 erlang-dialyzer binutils procps systemd mandoc man-db
strace util-linux dpkg-dev debhelper fakeroot jq netcat-openbsd rsync
openssh-client openssh-server"

# make bench, besides: the tools a user would pick instead, measured
# beside reloaderd (inotify-tools' inotifywait, watchman, fswatch); the
# real mochiweb reloader.erl (erlang-mochiweb); gnuplot for the plots;
# perf (linux-perf) and valgrind for the profiles the notes cite; python3
# reads the ftrace trace of make bench-trace (bench/tracesegs.py).
BENCH_PKGS="$CHECK_PKGS inotify-tools watchman fswatch erlang-mochiweb
gnuplot-nox linux-perf valgrind python3"

case ${1:-check} in
run) PKGS=$RUN_PKGS ;;
check) PKGS=$CHECK_PKGS ;;
bench) PKGS=$BENCH_PKGS ;;
list)
	case ${2:-} in
	run) echo $RUN_PKGS ;;
	check) echo $CHECK_PKGS ;;
	bench) echo $BENCH_PKGS ;;
	*) echo "usage: deps.sh list run|check|bench" >&2; exit 64 ;;
	esac
	exit 0
	;;
*)
	echo "usage: deps.sh [run | check | bench] | list run|check|bench" >&2
	exit 64
	;;
esac

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
