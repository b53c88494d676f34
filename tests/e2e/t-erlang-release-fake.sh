#!/bin/sh
# Issue 14's release flow, the client's side: seed 004's nine9s built by
# rebar3 as releases 0.1.0 and 0.2.0 (its relup from the seed's appup,
# and tarballs); the 0.1.0 release runs with reloader_client in it,
# attached to the fake daemon (clients/erlang/test/rc_fake.erl, in
# another node), which sends the `releases' requests the real daemon
# relays from `reloaderctl releases': unpack and install 0.2.0 (/count
# answers), which_releases shows it current, then permanent; installing
# 0.1.0 again downgrades (/count is 404).  With the real daemon and
# reloaderctl: t-erlang-release.sh.
. tests/e2e/lib.sh
erl_init
erl_dist
command -v rebar3 >/dev/null ||
    fail "rebar3 is not installed (make deps installs it)"
FAKE=$T/fake.sock

# Sends a releases request and waits for its end; prints that line.
releases() {
	req=$1
	shift
	erl_fake_send "releases req=$req $*"
	erl_cmd n1 "rc_fake:wait(\"^releases-done req=$req \")."
}

erl_rel_build 0.1.0 "$FAKE"
erl_rel_build 0.2.0 "$FAKE"
erl_start n1 "{socket, none}"
erl_expect n1 ok "rc_fake:start(\"$FAKE\")."
erl_rel_start
erl_has n1 'name=rel ' 'rc_fake:wait("^hello ").'
port=$(erl_rel_eval 'nine9s_app:port().')
erl_http_is / 'Hello world!' 200
erl_http_is /count 'not found' 404

# which_releases: 0.1.0, permanent.
releases 1 op=list | grep -q 'status=ok' || fail "list failed"
erl_expect n1 '<<"release req=1 name=nine9s vsn=0.1.0 status=permanent">>' \
    'rc_fake:wait("^release req=1 ").'

# The upgrade: the tarball where the seed puts it (a relx tarball holds
# releases/0.2.0/nine9s.rel), unpacked, 0.2.0 installed.
mkdir -p "$T/target/releases/0.2.0"
cp "$T/proj/_build/default/rel/nine9s/nine9s-0.2.0.tar.gz" \
    "$T/target/releases/0.2.0/nine9s.tar.gz"
releases 2 op=unpack arg=0.2.0/nine9s | grep -q 'status=ok' ||
    fail "unpack failed: $(erl_cmd n1 'rc_fake:wait("^releases-done req=2 ").')"
erl_expect n1 '<<"release req=2 name=nine9s vsn=0.2.0 status=unpacked">>' \
    'rc_fake:wait("^release req=2 name=nine9s vsn=0.2.0 ").'
releases 3 op=install arg=0.2.0 | grep -q 'status=ok' ||
    fail "install failed: $(erl_cmd n1 'rc_fake:wait("^releases-done req=3 ").')"
erl_expect n1 '<<"release req=3 name=nine9s vsn=0.2.0 status=current">>' \
    'rc_fake:wait("^release req=3 name=nine9s vsn=0.2.0 ").'
erl_http_is / 'Hello world 2 !' 200
erl_http_is /count 1 200
releases 4 op=permanent arg=0.2.0 | grep -q 'status=ok' || fail "permanent failed"
erl_expect n1 '<<"release req=4 name=nine9s vsn=0.2.0 status=permanent">>' \
    'rc_fake:wait("^release req=4 name=nine9s vsn=0.2.0 ").'
erl_expect n1 '<<"release req=4 name=nine9s vsn=0.1.0 status=old">>' \
    'rc_fake:wait("^release req=4 name=nine9s vsn=0.1.0 ").'

# Installing 0.1.0 again is the downgrade, by the relup's down section.
releases 5 op=install arg=0.1.0 | grep -q 'status=ok' ||
    fail "the downgrade failed: $(erl_cmd n1 'rc_fake:wait("^releases-done req=5 ").')"
erl_http_is /count 'not found' 404
erl_http_is / 'Hello world!' 200
erl_expect n1 '<<"release req=5 name=nine9s vsn=0.1.0 status=current">>' \
    'rc_fake:wait("^release req=5 name=nine9s vsn=0.1.0 ").'

# What release_handler refuses is answered with its reason.
releases 6 op=install arg=9.9.9 | grep -q 'status=error reason=install_release:' ||
    fail "an install of a release that is not there did not fail"
erl_stop n1
