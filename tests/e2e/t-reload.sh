#!/bin/sh
# The real daemon and the real library, end to end: a change reloads and
# the new code runs; an identical rebuild reloads nothing; a failing or
# crashing test hook rolls back, is logged, and the old code still
# answers; a call in flight in the old version finishes there while new
# calls reach the new one, and the old version is purged after it.
# backends: inotify poll
. tests/e2e/lib.sh

mkmod "$ROOT/greet.so" greet -DGREETING='"v1"'
start   # no -w: the daemon watches what its clients load
host_start "$ROOT/greet.so"
host_wait 'event connected'
wait_log 'host\[[0-9]*\] registered greet'
wait_log 'watching .*/build (.*1 module)'
host_expect "greet v1" call greet reply

# A change: reloaded, logged with timings, the new code answers.
mkmod "$ROOT/greet.so" greet -DGREETING='"v2"'
host_wait 'event reload greet ok'
wait_log 'reloading greet (.*greet\.so) in host\[[0-9]*\] \.\.\. ok [0-9.]* ms'
host_expect "greet v2" call greet reply
[ "$(host_cmd stamp greet)" = "build-id:$(buildid "$ROOT/greet.so")" ] ||
    fail "the host's stamp is not the file's build-id"

# An identical rebuild: the daemon looks, finds the same stamp, and
# offers nothing (the offer would be sent in the same batch).
mkmod "$ROOT/greet.so" greet -DGREETING='"v2"'
wait_log 'unchanged .*greet\.so'
expect_count 'offering greet' 1
[ "$(host_count 'event reload')" -eq 1 ] || fail "identical rebuild reloaded"

# A failing test hook: rolled back and logged; the old code answers.
mkmod "$ROOT/greet.so" greet -DGREETING='"v3"' -DWITH_TEST=1
host_wait 'event reload greet rolled-back'
wait_log 'warn reloading greet (.*) in host\[[0-9]*\] \.\.\. rolled back.*reloader_test'
host_expect "greet v2" call greet reply

# A test hook that crashes: rolled back, the host lives.
mkmod "$ROOT/greet.so" greet -DGREETING='"v4"' -DCRASH_TEST
host_wait 'event reload greet rolled-back' 2
wait_log 'rolled back.*SIGSEGV'
host_expect "greet v2" call greet reply
mkmod "$ROOT/greet.so" greet -DGREETING='"v5"' -DFPE_TEST
host_wait 'event reload greet rolled-back' 3
wait_log 'rolled back.*SIGFPE'
host_expect "greet v2" call greet reply

# A good version after failures is taken.
mkmod "$ROOT/greet.so" greet -DGREETING='"v6"' -DWITH_TEST=0
host_wait 'event reload greet ok' 2
host_expect "greet v6" call greet reply

# A call in flight in the old version finishes there; new calls reach the
# new version meanwhile; the old version is purged once it returns.
host_expect "spawned 1" spawn greet slow
mkmod "$ROOT/greet.so" greet -DGREETING='"v7"'
host_wait 'event reload greet ok' 3
host_expect "greet v7" call greet reply
[ "$(host_count '^async 1')" -eq 0 ] || fail "the slow call ended early"
# v1 left at the first reload, v2 when v6 came; v6 must wait for the call.
[ "$(host_count 'event purge greet')" -eq 2 ] ||
    fail "v6 was purged with a call still inside it"
touch "$T/gate"
host_wait '^async 1: slow v6$'
host_wait 'event purge greet unmapped=1' 3
wait_log 'purged old greet'

host_stop
stop
