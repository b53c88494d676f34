#!/bin/sh
# The state hook: a counter keeps its count across reloads through
# reloader_code_change, even when the new version's state gains a field;
# a state hook that fails or crashes rolls back with the state untouched.
# backends: any
. tests/e2e/lib.sh

mkmod "$ROOT/counter.so" counter
start
host_start "$ROOT/counter.so"
host_wait 'event connected'
wait_log 'registered counter'
host_expect "count=1 v1" call counter reply
host_expect "count=2 v1" call counter reply

mkmod "$ROOT/counter.so" counter -DV2
host_wait 'event reload counter ok'
wait_log 'reloading counter (.*) in host\[[0-9]*\] \.\.\. ok [0-9.]* ms - code_change \.\.\. ok'
host_expect "count=3 v2" call counter reply

mkmod "$ROOT/counter.so" counter -DV2 -DFAIL_CC
host_wait 'event reload counter rolled-back'
wait_log 'rolled back.*reloader_code_change'
host_expect "count=4 v2" call counter reply

mkmod "$ROOT/counter.so" counter -DV2 -DCRASH_CC
host_wait 'event reload counter rolled-back' 2
wait_log 'rolled back.*SIGSEGV'
host_expect "count=5 v2" call counter reply

host_stop
stop
