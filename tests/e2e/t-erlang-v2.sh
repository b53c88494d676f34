#!/bin/sh
# The Erlang client speaks protocol version 2 (docs/PROTOCOL.md, "Version
# 2: upgrades", "The Erlang client") to a fake daemon that speaks it too
# (clients/erlang/test/rc_fake.erl): a prepared batch changes nothing
# until `commit', which switches every module at once and says when on
# CLOCK_MONOTONIC; `abort' drops what was prepared, the old code and the
# old state running on; one module that cannot be prepared gives the
# whole set up; a failure that can only show after the switch (a
# code_change/3, a test under rollback_on_test_failure) takes the node
# back and is answered `aborted'; commit and abort of a batch that is not
# prepared are errors; an application's appup upgrade is checked at the
# prepare and run at the commit.  The real daemon's side: the lead's
# tests of issue 13.
. tests/e2e/lib.sh
erl_init

# Prepares batch B of the module lines given, and waits for its done.
fake_prepare() {
	b=$1
	shift
	erl_fake_send "prepare batch=$b count=$# group=$b clients=1"
	for m in "$@"; do
		erl_fake_send "module batch=$b $m"
	done
	erl_fake_send "end batch=$b"
	erl_expect n1 "<<\"done batch=$b\">>" "rc_fake:wait(\"^done batch=$b\$\")."
}

erl_fixture "$ROOT" greet
erl_fixture "$ROOT" counter
LIB=$T/lib
E=$LIB/nine9s/ebin
erl_app_build nine9s 0.1.0 no_state_handler no_count_handler
FAKE=$T/fake.sock
erl_start n1 "{socket, \"$FAKE\"}, {poll_interval, infinity}" -pa "$E"
erl_has n1 '= {ok,' 'application:ensure_all_started(nine9s).'
port=$(erl_cmd n1 'nine9s_app:port().' | sed 's/^= //')
erl_http_is / 'Hello world!' 200
erl_expect n1 ok "rc_fake:start(\"$FAKE\", #{proto => 2})."
erl_expect n1 1 'greet:value().'
erl_has n1 '= {ok,<' 'counter:start().'
erl_cmd n1 '[counter:bump() || _ <- [1,2,3]].' >/dev/null
erl_has n1 '= {ok,' 'reloader_client:start().'
erl_has n1 'hello proto=2 min=1 ' 'rc_fake:wait("^hello ").'
erl_has n1 "stamp=md5:" 'rc_fake:wait("^register module=counter ").'
erl_log_wait n1 'attached to rc_fake/0 .* (protocol 2)'
g1=$(erl_stamp_of "$ROOT/greet.beam")
c1=$(erl_stamp_of "$ROOT/counter.beam")

# Prepare, then commit: nothing changes before the commit; after it both
# modules run their new code, the gen_server's state migrated.
erl_fixture "$ROOT" greet -DVALUE=5
g5=$(erl_stamp_of "$ROOT/greet.beam")
erl_fixture "$ROOT" counter -DV2
c2=$(erl_stamp_of "$ROOT/counter.beam")
fake_prepare 1 "module=greet path=$ROOT/greet.beam stamp=$g5 was=$g1" \
    "module=counter path=$ROOT/counter.beam stamp=$c2 was=$c1"
erl_has n1 "<<\"result batch=1 module=greet status=prepared stamp=$g5 load=" \
    'rc_fake:wait("^result batch=1 module=greet ").'
erl_has n1 "<<\"result batch=1 module=counter status=prepared stamp=$c2 load=" \
    'rc_fake:wait("^result batch=1 module=counter ").'
erl_expect n1 1 'greet:value().'
erl_expect n1 3 'counter:get().'
erl_expect n1 0 'rc_fake:count("^committed").'
erl_expect n1 ok 'T0 = element(2, lists:keyfind(time, 1, erlang:system_info(os_monotonic_time_source))), rc_fake:send("commit batch=1").'
erl_has n1 '<<"committed batch=1 at=' 'rc_fake:wait("^committed batch=1 ").'
erl_expect n1 5 'greet:value().'
erl_expect n1 '{3,upgraded}' 'counter:get().'
# at= is the switch on the OS's CLOCK_MONOTONIC (what the VM's os
# monotonic source reads), in seconds, not erlang:monotonic_time/0.
erl_expect n1 true 'T1 = element(2, lists:keyfind(time, 1, erlang:system_info(os_monotonic_time_source))), At = list_to_float(rc_fake:field("^committed batch=1 ", "at")), At >= erlang:convert_time_unit(T0, native, microsecond) / 1.0e6 - 0.000001 andalso At =< erlang:convert_time_unit(T1, native, microsecond) / 1.0e6.'
erl_log_wait n1 'batch 1: counter ok load'

# Prepare, then abort: the old code and the old state run on.
erl_fixture "$ROOT" greet -DVALUE=6
g6=$(erl_stamp_of "$ROOT/greet.beam")
erl_fixture "$ROOT" counter
fake_prepare 2 "module=greet path=$ROOT/greet.beam stamp=$g6 was=$g5" \
    "module=counter path=$ROOT/counter.beam stamp=$c1 was=$c2"
erl_has n1 "status=prepared stamp=$c1 " 'rc_fake:wait("^result batch=2 module=counter ").'
erl_fake_send 'abort batch=2 reason=counter\\x20failed\\x20in\\x20worker[7]'
erl_expect n1 '<<"aborted batch=2">>' 'rc_fake:wait("^aborted batch=2").'
erl_expect n1 5 'greet:value().'
erl_expect n1 '{3,upgraded}' 'counter:get().'
erl_expect n1 4 'counter:bump().'
erl_log_wait n1 'batch 2 aborted by reloaderd (counter failed in worker\[7\])'
# What was prepared is gone: committing it now is an error.
erl_fake_send 'commit batch=2'
erl_expect n1 '"batch 2 is not prepared here"' 'rc_fake:field("^error code=bad-result ", "msg").'
erl_expect n1 5 'greet:value().'

# One module that cannot be prepared gives the whole set up, before done.
erl_fixture "$T/other" greet not_counter -DVALUE=6
cp "$T/other/not_counter.beam" "$ROOT/counter.beam"
fake_prepare 3 "module=greet path=$ROOT/greet.beam stamp=$g6 was=$g5" \
    "module=counter path=$ROOT/counter.beam stamp=md5:00112233445566778899aabbccddeeff was=$c2"
erl_expect n1 "\"wrong module name inside: $ROOT/counter.beam holds module not_counter, not counter\"" \
    'rc_fake:field("^result batch=3 module=counter ", "reason").'
erl_expect n1 "<<\"result batch=3 module=greet status=load-failed stamp=$g5 failed=load reason=not\\\\x20prepared:\\\\x20the\\\\x20batch\\\\x20switches\\\\x20all\\\\x20or\\\\x20nothing,\\\\x20and\\\\x20counter\\\\x20failed\">>" \
    'rc_fake:wait("^result batch=3 module=greet ").'
erl_fake_send 'commit batch=3'
erl_expect n1 2 'rc_fake:count("^error code=bad-result ").'
erl_expect n1 5 'greet:value().'
erl_expect n1 '{4,upgraded}' 'counter:get().'
# So does a module the node does not have.
fake_prepare 4 "module=greet path=$ROOT/greet.beam stamp=$g6 was=$g5" \
    "module=nosuch path=/nowhere/nosuch.beam stamp=md5:00112233445566778899aabbccddeeff was=none:"
erl_has n1 'status=load-failed ' 'rc_fake:wait("^result batch=4 module=greet ").'
erl_has n1 'and\\x20nosuch\\x20failed' 'rc_fake:wait("^result batch=4 module=greet ").'
erl_fake_send 'abort batch=4'
erl_expect n1 '"batch 4 is not prepared here"' 'rc_fake:field("^error code=bad-result msg=batch\\\\x204", "msg").'

# A code_change/3 can only run once the new code is current: when it
# fails at the commit, the node goes back to the code and the state it
# had, and answers aborted.
erl_fixture "$ROOT" counter -DV3_BAD
c3=$(erl_stamp_of "$ROOT/counter.beam")
fake_prepare 5 "module=greet path=$ROOT/greet.beam stamp=$g6 was=$g5" \
    "module=counter path=$ROOT/counter.beam stamp=$c3 was=$c2"
erl_fake_send 'commit batch=5'
erl_has n1 'reason=after\\x20the\\x20switch:\\x20code_change\\x20failed\\x20in\\x20<' \
    'rc_fake:wait("^aborted batch=5 ").'
erl_has n1 'this\\x20node\\x20went\\x20back\\x20to\\x20the\\x20versions\\x20it\\x20ran' \
    'rc_fake:wait("^aborted batch=5 ").'
erl_expect n1 5 'greet:value().'
erl_expect n1 '{4,upgraded}' 'counter:get().'

# Offers greet built with VALUE and a failing test/0, over the stamp
# WAS, in batch B and commits it; its stamp in $g.
greet_failing() {
	erl_fixture "$ROOT" greet -DVALUE="$2" '-DTEST_RESULT={error,broken}'
	g=$(erl_stamp_of "$ROOT/greet.beam")
	fake_prepare "$1" "module=greet path=$ROOT/greet.beam stamp=$g was=$3"
	erl_fake_send "commit batch=$1"
}

# A test that fails after the switch: the new code is kept (the keep
# policy counts as prepared), and the commit names the test.
greet_failing 6 7 "$g5"
g7=$g
erl_has n1 'reason=new\\x20code\\x20kept\\x20although\\x20a\\x20test\\x20failed:\\x20greet:\\x20greet:test()\\x20returned\\x20{error,broken}' \
    'rc_fake:wait("^committed batch=6 ").'
erl_expect n1 7 'greet:value().'
# Under rollback_on_test_failure the whole batch goes back: aborted.
erl_expect n1 ok 'application:set_env(reloader_client, rollback_on_test_failure, [greet]).'
greet_failing 7 8 "$g7"
g8=$g
erl_has n1 'reason=after\\x20the\\x20switch\\x20a\\x20test\\x20failed:\\x20greet:' \
    'rc_fake:wait("^aborted batch=7 ").'
erl_expect n1 7 'greet:value().'

# A rollback goes through the two phases as well (after one, the version
# it left is the one kept: this one goes forward again).
fake_prepare 8 "module=greet path=$ROOT/greet.beam stamp=$g8 was=$g7 action=rollback"
erl_has n1 "status=prepared stamp=$g8 " 'rc_fake:wait("^result batch=8 ").'
erl_expect n1 7 'greet:value().'
erl_fake_send 'commit batch=8'
erl_has n1 '<<"committed batch=8 at=' 'rc_fake:wait("^committed batch=8 ").'
erl_expect n1 8 'greet:value().'

# An application upgraded by its appup goes through the two phases too:
# its appup is checked and translated at the prepare, run at the commit.
a1=$(erl_cmd n1 "binary_to_list(element(2, reloader_client_appup:file_stamp(\"$E/nine9s.app\")))." | sed 's/^= "\(.*\)"$/\1/')
d1=$(erl_stamp_of "$E/default_handler.beam")
erl_app_build nine9s 0.2.0 V2 appup
a2=$(erl_cmd n1 "binary_to_list(element(2, reloader_client_appup:file_stamp(\"$E/nine9s.app\")))." | sed 's/^= "\(.*\)"$/\1/')
fake_prepare 9 "module=default_handler path=$E/default_handler.beam stamp=$(erl_stamp_of "$E/default_handler.beam") was=$d1" \
    "module=app:nine9s path=$E/nine9s.app stamp=$a2 was=$a1"
erl_expect n1 "<<\"result batch=9 module=app:nine9s status=prepared stamp=$a2\">>" \
    'rc_fake:wait("^result batch=9 module=app:nine9s ").'
erl_http_is / 'Hello world!' 200
erl_fake_send 'commit batch=9'
erl_has n1 '<<"committed batch=9 at=' 'rc_fake:wait("^committed batch=9 ").'
erl_http_is / 'Hello world 2 !' 200
erl_http_is /count 1 200
erl_expect n1 0 'rc_fake:count("closed").'
erl_stop n1
