#!/bin/sh
# The daemon killed and restarted while a module changes: the library
# reconnects, registers again, the daemon compares stamps at once, and the
# client ends up on the new version.  A client that was away is caught up
# the same way.
# backends: any
. tests/e2e/lib.sh

mkmod "$ROOT/greet.so" greet -DGREETING='"v1"'
start
host_start "$ROOT/greet.so"
host_wait 'event connected'
wait_log 'registered greet'
host_expect "greet v1" call greet reply

kill -KILL "$DPID"
wait "$DPID" 2>/dev/null || true
DPID=
host_wait 'event disconnected'
mkmod "$ROOT/greet.so" greet -DGREETING='"v2"'
[ -S "$SOCK" ] || fail "the killed daemon's socket should still be there"
start   # replaces the stale socket
host_wait 'event connected' 2
wait_log 'registered greet'
host_wait 'event reload greet ok'
host_expect "greet v2" call greet reply
host_stop
stop
