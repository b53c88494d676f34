#!/bin/sh
# Issue 14's release flow with the real daemon and reloaderctl: seed
# 004's nine9s 0.1.0 runs as a rebar3 release with reloader_client in
# it; `reloaderctl releases rel unpack 0.2.0/nine9s', `install 0.2.0'
# upgrade it by its relup (/count answers), `list' shows 0.2.0 current,
# `permanent 0.2.0' makes it so, `install 0.1.0' downgrades; after each
# install `reloaderctl list' has every module current from the running
# version's directory, none stale; a step that
# release_handler refuses exits 70 with its reason.  Needs the daemon to
# relay `releases' to the client (its side: t-erlang-release-fake.sh).
. tests/e2e/lib.sh
erl_init
erl_dist
command -v rebar3 >/dev/null ||
    fail "rebar3 is not installed (make deps installs it)"

# Runs reloaderctl releases on node "rel" and asserts its exit status.
rel() {
	want=$1
	shift
	ctl releases rel "$@"
	[ "$ctl_rc" -eq "$want" ] ||
	    ctl_fail "reloaderctl releases rel $* exited $ctl_rc, not $want"
}

# Waits until reloaderctl list -v has default_handler registered from
# nine9s-VSN's ebin and current, and asserts that nothing is stale and
# that OTP's modules (under the same root) are left out, but not the
# release's own.
list_runs() {
	tries=500
	until ctl list -v 'rel*' &&
	    grep -q "default_handler .*current" "$T/ctl.out" &&
	    grep -q "lib/nine9s-$1/ebin/default_handler.beam" "$T/ctl.out"; do
		tries=$((tries - 1))
		[ "$tries" -gt 0 ] ||
		    ctl_fail "list does not show nine9s $1's default_handler current"
		sleep 0.02
	done
	ctl_has out ', 0 stale'
	ctl_has out "OTP's own modules not shown"
	ctl_hasnt out ' application_controller '
}

# Asserts that the last reloaderctl printed a line matching a regexp.
rel_has() {
	grep -q "$1" "$T/ctl.out" || ctl_fail "no line '$1' in its output"
}

# Usage errors need no daemon.
rel 64 frob
rel 64 install
rel 64 list extra
ctl releases
[ "$ctl_rc" -eq 64 ] || ctl_fail "releases without a node exited $ctl_rc"

erl_rel_build 0.1.0 "$SOCK"
erl_rel_build 0.2.0 "$SOCK"
start
erl_rel_start
wait_log 'rel\[[0-9]*\] attached'
port=$(erl_rel_eval 'nine9s_app:port().')
erl_http_is /count 'not found' 404

rel 0 list
rel_has '^nine9s  *0\.1\.0  *permanent'
mkdir -p "$T/target/releases/0.2.0"
cp "$T/proj/_build/default/rel/nine9s/nine9s-0.2.0.tar.gz" \
    "$T/target/releases/0.2.0/nine9s.tar.gz"
rel 0 unpack 0.2.0/nine9s
rel_has '^nine9s  *0\.2\.0  *unpacked'
rel 0 install 0.2.0
rel_has '^nine9s  *0\.2\.0  *current'
# reloaderctl list follows: the node runs 0.2.0's beams, registered from
# 0.2.0's directory, each current; none is stale.
list_runs 0.2.0
erl_http_is / 'Hello world 2 !' 200
erl_http_is /count 1 200
rel 0 permanent 0.2.0
rel_has '^nine9s  *0\.2\.0  *permanent'
rel 0 install 0.1.0
rel_has '^nine9s  *0\.1\.0  *current'
list_runs 0.1.0
ctl_hasnt out ' count_handler '
erl_http_is /count 'not found' 404
erl_http_is / 'Hello world!' 200
rel 70 install 9.9.9
grep -q 'install_release' "$T/ctl.err" || ctl_fail "no reason for the refused install"
ctl releases nosuch list
[ "$ctl_rc" -eq 65 ] || ctl_fail "releases of no such client exited $ctl_rc, not 65"
