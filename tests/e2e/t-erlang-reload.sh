#!/bin/sh
# An Erlang node with reloader_client and the real daemon: a recompiled
# module runs its new code and the daemon logs ok with timings; a failing
# test/0 is reported and the new code kept (or, where the policy says
# so, rolled back); a gen_server whose state
# record gains a field keeps its count across the upgrade, and one whose
# code_change/3 fails is rolled back with its state; under a hard purge
# policy a process lingering in old code is killed at the next version,
# and named (soft purge: t-erlang-purge.sh); beams that cannot be loaded
# (another module inside, a newer OTP's code) are refused and the old
# code keeps running.
# backends: inotify poll
. tests/e2e/lib.sh
erl_init

erl_fixture "$ROOT" greet -DTEST_RESULT=ok
erl_fixture "$ROOT" greet strict -DTEST_RESULT=ok
erl_fixture "$ROOT" counter
erl_fixture "$ROOT" lingo hardy
start -w build
erl_start n1 "{poll_interval, 100}, {purge_retry, 100}, {hard_purge, [hardy]}, {rollback_on_test_failure, [strict]}"
erl_expect n1 1 'greet:value().'
erl_expect n1 1 'strict:value().'
erl_has n1 '= {ok,<' 'counter:start().'
erl_expect n1 '[1,2,3]' '[counter:bump() || _ <- [1,2,3]].'
erl_has n1 '= <' 'H = hardy:start().'
erl_has n1 '= {ok,' 'reloader_client:start().'
wait_log 'nonode@nohost\[[0-9]*\] attached (client [0-9]*, uid [0-9]*, reloader_client/0.1.0)'
for m in greet strict counter hardy; do
	wait_log "nonode@nohost\[[0-9]*\] registered $m (build/$m.beam)"
done
expect_count 'registered reloader_client' 0

# A recompiled module: reloaded, logged with its timings, the new code
# runs; its test/0 passed.
erl_fixture "$ROOT" greet -DVALUE=2 -DTEST_RESULT=ok
wait_log 'info reloading greet (build/greet\.beam) in nonode@nohost\[[0-9]*\] \.\.\. ok [0-9.]* ms - test \.\.\. ok [0-9.]* ms$'
erl_expect n1 2 'greet:value().'
erl_log_wait n1 'info reloader_client: batch [0-9]*: greet ok load [0-9.]* ms test [0-9.]* ms'

# A failing test/0: reported with its reason; the new code is kept.
erl_fixture "$ROOT" greet -DVALUE=3 '-DTEST_RESULT={error,broken}'
wait_log 'warn reloading greet (build/greet\.beam) .* ok [0-9.]* ms - test \.\.\. failed [0-9.]* ms (kept): "\?greet:test() returned {error,broken}, not ok"\?$'
erl_expect n1 3 'greet:value().'

# The same under the policy rollback_on_test_failure: rolled back, the
# old code runs.
erl_fixture "$ROOT" greet strict -DVALUE=2 '-DTEST_RESULT={error,broken}'
wait_log 'warn reloading strict (build/strict\.beam) .* rolled back [0-9.]* ms - test \.\.\. failed [0-9.]* ms: "\?.*strict:test() returned {error,broken}, not ok'
erl_expect n1 1 'strict:value().'

# A gen_server whose state record gains a field: code_change/3 runs
# between sys:suspend and sys:resume, and the count carries on.
erl_fixture "$ROOT" counter -DV2
wait_log 'info reloading counter (build/counter\.beam) .* ok [0-9.]* ms - code_change \.\.\. ok [0-9.]* ms$'
erl_expect n1 '{3,upgraded}' 'counter:get().'
erl_expect n1 4 'counter:bump().'

# A code_change/3 that fails: rolled back to the last version, the
# state as it was.
erl_fixture "$ROOT" counter -DV3_BAD
wait_log 'warn reloading counter (build/counter\.beam) .* rolled back [0-9.]* ms - code_change \.\.\. failed [0-9.]* ms: "\?code_change failed in <[0-9.]*>: refused"\?$'
erl_expect n1 '{4,upgraded}' 'counter:get().'

# Hard purge, the policy for hardy: the lingering process is killed at
# the next version, and named.
erl_fixture "$ROOT" lingo hardy -DVALUE=2
wait_log 'info reloading hardy (build/hardy\.beam) .* ok [0-9.]* ms: "\?old code kept: 1 process still runs it'
erl_expect n1 true 'is_process_alive(H).'
erl_fixture "$ROOT" lingo hardy -DVALUE=3
wait_log 'info reloading hardy (build/hardy\.beam) .* ok [0-9.]* ms: "\?hard purge killed 1 process that ran old code: <[0-9.]*> (hardy:loop/0)"\?$'
erl_expect n1 false 'is_process_alive(H).'
erl_expect n1 3 'hardy:version().'

# Beams the VM will not load: another module inside, a newer OTP's
# code.  Refused, named, and the old code runs on.
erl_fixture "$T/other" greet not_greet -DVALUE=9
cp "$T/other/not_greet.beam" "$ROOT/greet.bea#"
mv "$ROOT/greet.bea#" "$ROOT/greet.beam"
wait_log "warn reloading greet (build/greet\.beam) .* load failed: \"\\?wrong module name inside: $ROOT/greet\.beam holds module not_greet, not greet\"\\?\$"
erl_expect n1 3 'greet:value().'
erl_fixture "$T/other" greet -DVALUE=10
erl_expect n1 ok "rc_node:newer_otp(\"$T/other/greet.beam\", \"$ROOT/greet.beam\")."
wait_log "warn reloading greet (build/greet\.beam) .* load failed: \"\\?compiled by a newer OTP: $ROOT/greet\.beam uses opcode 999, and this VM (OTP [0-9]*) knows up to [0-9]*; recompile it with this OTP's erlc\"\\?\$"
erl_expect n1 3 'greet:value().'

# And after all that, a good build is taken.
erl_fixture "$ROOT" greet -DVALUE=11
wait_log 'info reloading greet (build/greet\.beam) in nonode@nohost\[[0-9]*\] \.\.\. ok [0-9.]* ms$'
erl_expect n1 11 'greet:value().'
expect_count ' reports an error' 0
erl_stop n1
stop
