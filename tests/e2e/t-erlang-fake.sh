#!/bin/sh
# The Erlang client against a fake daemon (clients/erlang/test/rc_fake.erl)
# that sees what it registers (OTP's own modules with origin=otp) and
# sends what the real one never would: a rollback to the previous
# version, with the gen_server state migrated down; a rollback with no
# previous version kept; reloads of a module the node has not loaded, of
# the client's own modules, of a beam that vanished; a batch where one
# module fails (none is loaded); and lines the client does not
# understand: each gets a clear error back and a log line, an error
# from the daemon is never answered, and the client carries on.
. tests/e2e/lib.sh
erl_init

# Sends a batch of one module line and waits for its done.
fake_batch() {
	b=$1
	shift
	erl_fake_send "reload batch=$b count=1" "module batch=$b $*" "end batch=$b"
	erl_expect n1 "<<\"done batch=$b\">>" "rc_fake:wait(\"^done batch=$b\$\")."
}

erl_fixture "$ROOT" greet
erl_fixture "$ROOT" counter
FAKE=$T/fake.sock
erl_start n1 "{socket, \"$FAKE\"}, {poll_interval, 200}"
erl_expect n1 ok "rc_fake:start(\"$FAKE\")."
erl_expect n1 1 'greet:value().'
erl_has n1 '= {ok,<' 'counter:start().'
erl_cmd n1 '[counter:bump() || _ <- [1,2,3]].' >/dev/null
erl_expect n1 3 'counter:get().'
erl_has n1 '= {ok,' 'reloader_client:start().'
erl_has n1 "lib=reloader_client/0.1.0" 'rc_fake:wait("^hello proto=2 min=1 pid=[0-9]+ name=nonode@nohost ").'
erl_has n1 "stamp=md5:" 'rc_fake:wait("^register module=counter ").'
erl_expect n1 "\"$ROOT/greet.beam\"" 'rc_fake:field("^register module=greet ", "path").'
erl_expect n1 0 'rc_fake:count("^register module=reloader_client").'
# OTP's own modules (their beam under code:root_dir()) say origin=otp,
# so that reloaderctl list can hide them; the node's own do not.
erl_expect n1 '"otp"' 'rc_fake:field("^register module=lists ", "origin").'
erl_expect n1 0 'rc_fake:count("^register module=greet .*origin=").'

# An upgrade: the record gains a field, the count is kept.
v1=$(erl_stamp_of "$ROOT/counter.beam")
erl_fixture "$ROOT" counter -DV2
v2=$(erl_stamp_of "$ROOT/counter.beam")
fake_batch 1 "module=counter path=$ROOT/counter.beam stamp=$v2 was=$v1"
erl_has n1 "module=counter status=ok stamp=$v2 load=" 'rc_fake:wait("^result batch=1 ").'
erl_has n1 " state=" 'rc_fake:wait("^result batch=1 ").'
erl_expect n1 '{3,upgraded}' 'counter:get().'

# A rollback: back to version 1, its state migrated down first.
fake_batch 2 "module=counter path=$ROOT/counter.beam stamp=$v1 was=$v2 action=rollback"
erl_has n1 "module=counter status=ok stamp=$v1 " 'rc_fake:wait("^result batch=2 ").'
erl_expect n1 3 'counter:get().'
erl_expect n1 4 'counter:bump().'

# Nothing kept to roll back to: greet was never reloaded.
g1=$(erl_stamp_of "$ROOT/greet.beam")
fake_batch 3 "module=greet path=$ROOT/greet.beam stamp=md5:00112233445566778899aabbccddeeff was=$g1 action=rollback"
erl_expect n1 "<<\"result batch=3 module=greet status=load-failed stamp=$g1 failed=load reason=no\\\\x20previous\\\\x20version\\\\x20kept\">>" \
    'rc_fake:wait("^result batch=3 ").'

# A module this node has not loaded, one of the client's own, a beam
# that vanished: each refused with its reason, the batch still done.
erl_fake_send "reload batch=4 count=3" \
    "module batch=4 module=nosuch path=/nowhere/nosuch.beam stamp=md5:00112233445566778899aabbccddeeff was=md5:ffeeddccbbaa99887766554433221100" \
    "module batch=4 module=reloader_client path=$ERL_EBIN/reloader_client.beam stamp=md5:00112233445566778899aabbccddeeff was=none:" \
    "module batch=4 module=greet path=$T/gone/greet.beam stamp=md5:00112233445566778899aabbccddeeff was=$g1" \
    "end batch=4"
erl_expect n1 '<<"done batch=4">>' 'rc_fake:wait("^done batch=4").'
erl_expect n1 '"load-failed"' 'rc_fake:field("^result batch=4 module=nosuch ", "status").'
erl_expect n1 '"module nosuch is not loaded in this node; nothing to reload"' \
    'rc_fake:field("^result batch=4 module=nosuch ", "reason").'
erl_expect n1 '"reloader_client never reloads its own modules"' \
    'rc_fake:field("^result batch=4 module=reloader_client ", "reason").'
erl_expect n1 "\"$g1\"" 'rc_fake:field("^result batch=4 module=greet ", "stamp").'
erl_has n1 "\"beam vanished: $T/gone/greet.beam no longer exists" \
    'rc_fake:field("^result batch=4 module=greet ", "reason").'
erl_expect n1 1 'greet:value().'

# One bad module fails the whole batch: greet is not loaded either.
erl_fixture "$ROOT" greet -DVALUE=5
g5=$(erl_stamp_of "$ROOT/greet.beam")
erl_fixture "$T/other" greet not_counter -DVALUE=6
cp "$T/other/not_counter.beam" "$ROOT/counter.beam"
erl_fake_send "reload batch=5 count=2" \
    "module batch=5 module=greet path=$ROOT/greet.beam stamp=$g5 was=$g1" \
    "module batch=5 module=counter path=$ROOT/counter.beam stamp=md5:00112233445566778899aabbccddeeff was=$v1" \
    "end batch=5"
erl_expect n1 '<<"done batch=5">>' 'rc_fake:wait("^done batch=5").'
erl_expect n1 "\"wrong module name inside: $ROOT/counter.beam holds module not_counter, not counter\"" \
    'rc_fake:field("^result batch=5 module=counter ", "reason").'
erl_expect n1 '"not loaded: the batch loads all or nothing, and counter failed"' \
    'rc_fake:field("^result batch=5 module=greet ", "reason").'
erl_expect n1 "\"$g1\"" 'rc_fake:field("^result batch=5 module=greet ", "stamp").'
erl_expect n1 1 'greet:value().'
erl_expect n1 4 'counter:get().'

# Lines the client does not understand: an error back naming what was
# wrong and which line it was, a log line, and the client carries on.
n=$(erl_cmd n1 'length(rc_fake:lines()).')
erl_fake_send "frobnicate x=1"
erl_expect n1 '"unknown verb \"frobnicate\""' 'rc_fake:field("^error code=unknown-verb ", "msg").'
erl_log_wait n1 'warning .*does not understand.*unknown verb "frobnicate"'
erl_fake_send "Reload batch=1"
erl_has n1 'a line must start with a verb' 'rc_fake:field("^error code=syntax ", "msg").'
erl_fake_send 'ping id=a\\q'
erl_has n1 'field \"id\": bad escape' 'rc_fake:field("^error code=bad-field ", "msg").'
# A daemon that chose protocol 1 sends no version 2 verbs.
erl_fake_send "prepare batch=50 count=0"
erl_expect n1 '"unknown verb \"prepare\""' 'rc_fake:field("^error code=unknown-verb msg=unknown\\\\x20verb\\\\x20\"prepare", "msg").'
erl_fake_send "reload count=1"
erl_expect n1 '"\"reload\" needs a field \"batch\""' 'rc_fake:field("^error code=missing-field ", "msg").'
erl_fake_send "module batch=99 module=greet path=/x stamp=none: was=none:"
erl_has n1 'msg=batch\\x2099\\x20is\\x20not\\x20open' 'rc_fake:wait("^error code=bad-field msg=batch").'
erl_log_wait n1 'warning .*cannot parse.*Reload batch=1'

# A line longer than the protocol allows is dropped and answered
# too-long; one of exactly 16384 bytes is taken.
erl_expect n1 ok 'rc_fake:send(rc_fake:long_line(20000)).'
erl_has n1 'line longer than 16384 bytes' 'rc_fake:field("^error code=too-long ", "msg").'
erl_expect n1 ok 'rc_fake:send(rc_fake:long_line(16384)).'
erl_has n1 '= <<"pong id=xxxx' 'rc_fake:wait("^pong id=xxxx").'

# An error from the daemon is logged, never answered.
errs=$(erl_cmd n1 'rc_fake:count("^error ").')
erl_fake_send 'error code=bad-result msg=done\\x20too\\x20early line=3' 'ping id=after'
erl_expect n1 '<<"pong id=after">>' 'rc_fake:wait("^pong id=after").'
[ "$(erl_cmd n1 'rc_fake:count("^error ").')" = "$errs" ] ||
    erl_fail n1 "the client answered an error with an error"
erl_log_wait n1 'warning .*reloaderd reports an error about line 3: bad-result: done too early'

# Paths are escaped: a module loaded from a directory whose name has a
# space and a backslash is registered under its exact path.
odd="$T/odd dir\\x"
erl_fixture "$odd" greet spacey
erl_expect n1 '{module,spacey}' "code:load_abs(\"$T/odd dir\\\\x/spacey\")."
erl_has n1 'path=/' 'rc_fake:wait("^register module=spacey ").'
erl_has n1 'odd\\x20dir\\\\x/spacey.beam ' 'rc_fake:wait("^register module=spacey ").'
erl_expect n1 "\"$T/odd dir\\\\x/spacey.beam\"" 'rc_fake:field("^register module=spacey ", "path").'

# The socket path when none is set: $RELOADER_SOCKET, then
# $XDG_RUNTIME_DIR, then by uid, as the daemon and libreloader have it.
erl_expect n1 ok 'application:unset_env(reloader_client, socket).'
erl_expect n1 '"/r/s.sock"' 'os:putenv("RELOADER_SOCKET", "/r/s.sock"), reloader_client_config:socket_path().'
erl_expect n1 '"/x/y/reloader.sock"' 'os:unsetenv("RELOADER_SOCKET"), os:putenv("XDG_RUNTIME_DIR", "/x/y"), reloader_client_config:socket_path().'
uid=$(id -u)
if [ "$uid" -eq 0 ]; then want=/run/reloader/reloader.sock; else want=/tmp/reloader-$uid.sock; fi
erl_expect n1 "\"$want\"" 'os:unsetenv("XDG_RUNTIME_DIR"), reloader_client_config:socket_path().'

# Still attached and working: a last reload goes through.
erl_fixture "$ROOT" greet -DVALUE=7
g7=$(erl_stamp_of "$ROOT/greet.beam")
fake_batch 6 "module=greet path=$ROOT/greet.beam stamp=$g7 was=$g1"
erl_expect n1 7 'greet:value().'

# --- Result words, and the step that failed (failed=, issue 10) -------

# Prints the stamp of the code node n1 runs for a module.
cur_stamp() {
	erl_cmd n1 "reloader_client_load:current_stamp($1)." |
	    sed 's/^= <<"\(.*\)">>$/\1/'
}

# A version the node already runs, loaded by hand (as c/1 does): ok,
# quietly: no reason, nothing in the node's log at info or above.
erl_fixture "$ROOT" greet -DVALUE=8
g8=$(erl_stamp_of "$ROOT/greet.beam")
erl_expect n1 '{module,greet}' "code:load_abs(\"$ROOT/greet\")."
fake_batch 7 "module=greet path=$ROOT/greet.beam stamp=$g8 was=$g7"
erl_expect n1 "<<\"result batch=7 module=greet status=ok stamp=$g8\">>" \
    'rc_fake:wait("^result batch=7 ").'
[ "$(erl_log_count n1 'batch 7:')" -eq 0 ] ||
    erl_fail n1 "a version the node already ran was logged"

# A forced reload (reloaderctl reload) loads it again, and keeps the
# version before it for a rollback (issue 10, path 4).
fake_batch 8 "module=greet path=$ROOT/greet.beam stamp=$g8 was=$g8 force=yes"
erl_has n1 "status=ok stamp=$g8 load=" 'rc_fake:wait("^result batch=8 ").'
fake_batch 9 "module=greet path=$ROOT/greet.beam stamp=$g7 was=$g8 action=rollback"
erl_has n1 "status=ok stamp=$g7 load=" 'rc_fake:wait("^result batch=9 ").'
erl_expect n1 7 'greet:value().'

# An action the client does not know: load-failed, nothing tried.
fake_batch 10 "module=greet path=$ROOT/greet.beam stamp=$g8 was=$g7 action=frob"
erl_has n1 "status=load-failed stamp=$g7 failed=load reason=unknown\\\\x20action\\\\x20\\\"frob\\\"" \
    'rc_fake:wait("^result batch=10 ").'

# Builds greet with erlc's ARGS and offers it, its stamp in $g, in
# batch B over the stamp WAS.
greet_batch() {
	b=$1
	was=$2
	shift 2
	erl_fixture "$ROOT" greet "$@"
	g=$(erl_stamp_of "$ROOT/greet.beam")
	fake_batch "$b" "module=greet path=$ROOT/greet.beam stamp=$g was=$was"
}

# A failing test/0: test-failed, failed=test, the new code kept; under
# rollback_on_test_failure, rolled-back, failed=test.
greet_batch 11 "$g7" -DVALUE=9 '-DTEST_RESULT={error,broken}'
g9=$g
erl_has n1 "status=test-failed stamp=$g9 failed=test reason=greet:test()\\\\x20returned\\\\x20{error,broken},\\\\x20not\\\\x20ok " \
    'rc_fake:wait("^result batch=11 ").'
erl_expect n1 9 'greet:value().'
erl_expect n1 ok 'application:set_env(reloader_client, rollback_on_test_failure, [greet]).'
greet_batch 12 "$g9" -DVALUE=10 '-DTEST_RESULT={error,broken}'
erl_has n1 "status=rolled-back stamp=$g9 failed=test reason=greet:test()\\\\x20returned" \
    'rc_fake:wait("^result batch=12 ").'
erl_expect n1 9 'greet:value().'

# A code_change/3 that fails: rolled-back, failed=code-change.  A
# rollback whose code_change/3 fails likewise, and its reason says that
# the rollback failed and which version still runs.
c1=$(cur_stamp counter)
erl_fixture "$ROOT" counter -DV3_BAD
c3=$(erl_stamp_of "$ROOT/counter.beam")
fake_batch 13 "module=counter path=$ROOT/counter.beam stamp=$c3 was=$c1"
erl_has n1 "status=rolled-back stamp=$c1 failed=code-change reason=code_change\\\\x20failed\\\\x20in\\\\x20<" \
    'rc_fake:wait("^result batch=13 ").'
erl_expect n1 4 'counter:get().'
erl_fixture "$ROOT" counter -DV2 -DNO_DOWN
c2=$(erl_stamp_of "$ROOT/counter.beam")
fake_batch 14 "module=counter path=$ROOT/counter.beam stamp=$c2 was=$c1"
erl_has n1 "status=ok stamp=$c2 " 'rc_fake:wait("^result batch=14 ").'
fake_batch 15 "module=counter path=$ROOT/counter.beam stamp=$c1 was=$c2 action=rollback"
erl_has n1 "status=rolled-back stamp=$c2 failed=code-change reason=the\\\\x20rollback\\\\x20failed:\\\\x20code_change\\\\x20failed\\\\x20in\\\\x20<" \
    'rc_fake:wait("^result batch=15 ").'
erl_has n1 ":\\\\x20no_way_down;\\\\x20$c2\\\\x20still\\\\x20runs " 'rc_fake:wait("^result batch=15 ").'
erl_expect n1 '{4,upgraded}' 'counter:get().'

# Old code a process still runs refuses a third version: failed=purge,
# for the whole batch.  `purged' is sent when, and only when, the
# process has left it; the newest version then loads when offered again.
erl_fixture "$ROOT" lingo
erl_has n1 '= <' 'P = lingo:start().'
l1=$(erl_stamp_of "$ROOT/lingo.beam")
erl_fixture "$ROOT" lingo -DVALUE=2
l2=$(erl_stamp_of "$ROOT/lingo.beam")
fake_batch 16 "module=lingo path=$ROOT/lingo.beam stamp=$l2 was=$l1"
erl_has n1 "status=ok stamp=$l2 reason=old\\\\x20code\\\\x20kept:" 'rc_fake:wait("^result batch=16 ").'
erl_fixture "$ROOT" lingo -DVALUE=3
l3=$(erl_stamp_of "$ROOT/lingo.beam")
erl_fixture "$ROOT" greet -DVALUE=11
g11=$(erl_stamp_of "$ROOT/greet.beam")
erl_fake_send "reload batch=17 count=2" \
    "module batch=17 module=lingo path=$ROOT/lingo.beam stamp=$l3 was=$l2" \
    "module batch=17 module=greet path=$ROOT/greet.beam stamp=$g11 was=$g9" \
    "end batch=17"
erl_expect n1 '<<"done batch=17">>' 'rc_fake:wait("^done batch=17").'
erl_has n1 "status=load-failed stamp=$l2 failed=purge reason=old\\\\x20code\\\\x20still\\\\x20in\\\\x20use" \
    'rc_fake:wait("^result batch=17 module=lingo ").'
erl_has n1 "status=load-failed stamp=$g9 failed=purge reason=not\\\\x20loaded:" \
    'rc_fake:wait("^result batch=17 module=greet ").'
# A retry of the purge now (what the timer sends), then a ping: had the
# retry sent purged, it would have come before the pong.
erl_expect n1 purge 'reloader_client ! purge.'
erl_fake_send 'ping id=lingers'
erl_expect n1 '<<"pong id=lingers">>' 'rc_fake:wait("^pong id=lingers").'
erl_expect n1 0 'rc_fake:count("^purged module=lingo ").'
erl_expect n1 stop 'P ! stop.'
erl_has n1 "<<\"purged module=lingo stamp=$l1 unmapped=yes after=" \
    'rc_fake:wait("^purged module=lingo ").'
erl_fake_send "reload batch=18 count=2" \
    "module batch=18 module=lingo path=$ROOT/lingo.beam stamp=$l3 was=$l2" \
    "module batch=18 module=greet path=$ROOT/greet.beam stamp=$g11 was=$g9" \
    "end batch=18"
erl_expect n1 '<<"done batch=18">>' 'rc_fake:wait("^done batch=18").'
erl_has n1 "status=ok stamp=$l3 " 'rc_fake:wait("^result batch=18 module=lingo ").'
erl_has n1 "status=ok stamp=$g11 " 'rc_fake:wait("^result batch=18 module=greet ").'
erl_expect n1 3 'lingo:version().'
erl_expect n1 1 'rc_fake:count("^purged module=lingo ").'

# The same when the old code is a version loaded by hand (l/1), which
# the client never reported: the purge it waits for is still sent.
erl_fixture "$ROOT" lingo hand
erl_has n1 '= <' 'H = hand:start().'
erl_fixture "$ROOT" lingo hand -DVALUE=2
erl_expect n1 '{module,hand}' 'c:l(hand).'
h2=$(erl_stamp_of "$ROOT/hand.beam")
erl_fixture "$ROOT" lingo hand -DVALUE=3
h3=$(erl_stamp_of "$ROOT/hand.beam")
fake_batch 19 "module=hand path=$ROOT/hand.beam stamp=$h3 was=$h2"
erl_has n1 "status=load-failed stamp=$h2 failed=purge " 'rc_fake:wait("^result batch=19 ").'
erl_expect n1 stop 'H ! stop.'
erl_has n1 '<<"purged module=hand stamp=none: unmapped=yes after=' \
    'rc_fake:wait("^purged module=hand ").'
fake_batch 20 "module=hand path=$ROOT/hand.beam stamp=$h3 was=$h2"
erl_has n1 "status=ok stamp=$h3 " 'rc_fake:wait("^result batch=20 ").'
erl_expect n1 3 'hand:version().'
erl_expect n1 0 'rc_fake:count("closed").'
erl_stop n1
