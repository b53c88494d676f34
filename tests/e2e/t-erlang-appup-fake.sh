#!/bin/sh
# Applications upgraded by their appup (issue 14), against the fake
# daemon (clients/erlang/test/rc_fake.erl), which sends what the real
# one will once it offers `.app' files: seed 004's nine9s (on inets'
# httpd, clients/erlang/test/nine9s) runs 0.1.0; a batch bringing
# 0.2.0's beams and .app upgrades it by the seed's appup (state_handler
# added under nine9s_sup, count_handler and the /count route), one
# result line for the application; a rollback of app:nine9s goes down by
# the appup's down instructions with the code the client kept; an appup
# whose apply fails leaves nine9s on 0.1.0 and says why; seed 001's
# tt13 keeps its count through {update, tt13, {advanced, []}}.  With the
# real daemon: t-erlang-appup.sh.
. tests/e2e/lib.sh
erl_init
LIB=$T/lib

# Prints the content stamp of a file, as the daemon reads an .app.
content_stamp() {
	erl_cmd n1 "binary_to_list(element(2, reloader_client_appup:file_stamp(\"$1\")))." |
	    sed 's/^= "\(.*\)"$/\1/'
}

# Sends batch B of the module lines given and waits for its done.
fake_batch() {
	b=$1
	shift
	erl_fake_send "reload batch=$b count=$#"
	for m in "$@"; do
		erl_fake_send "module batch=$b $m"
	done
	erl_fake_send "end batch=$b"
	erl_expect n1 "<<\"done batch=$b\">>" "rc_fake:wait(\"^done batch=$b\$\")."
}

# The module line of a nine9s beam rebuilt, over the stamp it had.
beam_line() {
	echo "module=$1 path=$LIB/nine9s/ebin/$1.beam stamp=$(erl_stamp_of "$LIB/nine9s/ebin/$1.beam") was=$2"
}

erl_app_build nine9s 0.1.0 no_state_handler no_count_handler
erl_app_build tt 1.1
E=$LIB/nine9s/ebin
FAKE=$T/fake.sock
erl_start n1 "{socket, \"$FAKE\"}, {poll_interval, infinity}" \
    -pa "$E" -pa "$LIB/tt/ebin"
erl_expect n1 ok "rc_fake:start(\"$FAKE\")."
erl_has n1 '= {ok,' 'application:ensure_all_started(nine9s).'
port=$(erl_cmd n1 'nine9s_app:port().' | sed 's/^= //')
erl_http_is / 'Hello world!' 200
erl_http_is /count 'not found' 404
erl_has n1 '= {ok,' 'application:ensure_all_started(tt).'
erl_expect n1 '{ok,1}' 'tt13:test().'
erl_expect n1 '{ok,2}' 'tt13:test().'
erl_expect n1 '{ok,4}' 'tt13:test().'
erl_has n1 '= {ok,' 'reloader_client:start().'

# The .app is registered by its content, the .appup only where there is
# one; the beams as ever.
a1=$(content_stamp "$E/nine9s.app")
erl_expect n1 "<<\"register module=app:nine9s path=$E/nine9s.app stamp=$a1\">>" \
    'rc_fake:wait("^register module=app:nine9s ").'
erl_has n1 "stamp=md5:" 'rc_fake:wait("^register module=default_handler ").'
erl_expect n1 0 'rc_fake:count("^register module=appup:nine9s ").'
erl_expect n1 0 'rc_fake:count("^register module=app:reloader_client ").'
erl_expect n1 0 'rc_fake:count("^register module=app:kernel ").'
d1=$(erl_stamp_of "$E/default_handler.beam")
n1=$(erl_stamp_of "$E/nine9s_app.beam")
s1=$(erl_stamp_of "$E/nine9s_sup.beam")

# The project goes to 0.2.0: the batch brings its beams and .app; the
# appup upgrades nine9s, the counter counts each /.
erl_app_build nine9s 0.2.0 V2 appup
a2=$(content_stamp "$E/nine9s.app")
fake_batch 1 "$(beam_line default_handler "$d1")" "$(beam_line nine9s_app "$n1")" \
    "$(beam_line nine9s_sup "$s1")" "module=app:nine9s path=$E/nine9s.app stamp=$a2 was=$a1"
erl_has n1 "<<\"result batch=1 module=app:nine9s status=ok stamp=$a2 reason=upgraded\\\\x20nine9s\\\\x200.1.0\\\\x20->\\\\x200.2.0 load=" \
    'rc_fake:wait("^result batch=1 module=app:nine9s ").'
erl_has n1 "status=ok stamp=$(erl_stamp_of "$E/nine9s_sup.beam")" \
    'rc_fake:wait("^result batch=1 module=nine9s_sup ").'
erl_expect n1 '[{state_handler,true,worker}]' \
    '[{I, is_pid(P), T} || {I, P, T, _} <- supervisor:which_children(nine9s_sup)].'
erl_expect n1 '"0.2.0"' 'element(3, lists:keyfind(nine9s, 1, application:which_applications())).'
erl_http_is / 'Hello world 2 !' 200
erl_http / >/dev/null
erl_http_is /count 2 200
erl_log_wait n1 'batch 1: app:nine9s ok .*upgraded nine9s 0.1.0 -> 0.2.0'
# What the appup added is registered at once.
erl_has n1 "path=$E/state_handler.beam" 'rc_fake:wait("^register module=state_handler ").'
erl_has n1 "path=$E/count_handler.beam" 'rc_fake:wait("^register module=count_handler ").'

# reloaderctl rollback nine9s: down by the appup, with the 0.1.0 code
# the client kept; the project still holds 0.2.0.
fake_batch 2 "module=app:nine9s path=$E/nine9s.app stamp=$a1 was=$a2 action=rollback"
erl_has n1 "<<\"result batch=2 module=app:nine9s status=ok stamp=$a1 reason=rolled\\\\x20back\\\\x20nine9s\\\\x200.2.0\\\\x20->\\\\x200.1.0 " \
    'rc_fake:wait("^result batch=2 ").'
erl_expect n1 '"0.1.0"' 'element(3, lists:keyfind(nine9s, 1, application:which_applications())).'
erl_expect n1 '[]' 'supervisor:which_children(nine9s_sup).'
erl_http_is /count 'not found' 404
erl_http_is / 'Hello world!' 200
erl_expect n1 false 'code:is_loaded(count_handler).'
erl_expect n1 "\"$d1\"" 'binary_to_list(reloader_client_load:current_stamp(default_handler)).'
# Each module the rollback took back is reported with it, so that the
# daemon's list says what runs (docs/PROTOCOL.md, "Results with with=").
erl_has n1 "<<\"result batch=2 module=default_handler status=ok stamp=$d1 with=app:nine9s\">>" \
    'rc_fake:wait("^result batch=2 module=default_handler ").'
erl_has n1 "<<\"result batch=2 module=nine9s_sup status=ok stamp=$s1 with=app:nine9s\">>" \
    'rc_fake:wait("^result batch=2 module=nine9s_sup ").'
erl_has n1 'unregister module=count_handler' 'rc_fake:wait("^unregister module=count_handler").'
# The code path is the project's again, and nothing is registered anew
# (that would have the daemon offer the newer beams again).
erl_expect n1 "\"$LIB/nine9s\"" 'code:lib_dir(nine9s).'
erl_expect n1 1 'rc_fake:count("^register module=default_handler ").'

# An appup whose apply fails: nine9s stays on 0.1.0, undone by the
# appup's down instructions, and the result says so.
erl_app_build nine9s 0.2.0 V2 BAD_APPLY appup
a3=$(content_stamp "$E/nine9s.app")
fake_batch 3 "$(beam_line default_handler "$d1")" "$(beam_line nine9s_app "$n1")" \
    "$(beam_line nine9s_sup "$s1")" "module=app:nine9s path=$E/nine9s.app stamp=$a3 was=$a1"
erl_has n1 "<<\"result batch=3 module=app:nine9s status=rolled-back stamp=$a1 failed=code-change reason=the\\\\x20upgrade\\\\x20of\\\\x20nine9s\\\\x200.1.0\\\\x20->\\\\x200.2.0\\\\x20failed\\\\x20part\\\\x20way:\\\\x20no_routes_today\\\\x20in\\\\x20nine9s_app:set_routes_new/0;\\\\x20undone\\\\x20by\\\\x20the\\\\x20appup's\\\\x20down\\\\x20instructions:\\\\x20nine9s\\\\x20runs\\\\x200.1.0" \
    'rc_fake:wait("^result batch=3 module=app:nine9s ").'
erl_has n1 "status=load-failed stamp=$d1 failed=load reason=not\\\\x20loaded:\\\\x20the\\\\x20upgrade" \
    'rc_fake:wait("^result batch=3 module=default_handler ").'
erl_expect n1 '"0.1.0"' 'element(3, lists:keyfind(nine9s, 1, application:which_applications())).'
erl_expect n1 '[]' 'supervisor:which_children(nine9s_sup).'
erl_http_is / 'Hello world!' 200
erl_http_is /count 'not found' 404

# Seed 001's tt13 through an appup: {update, tt13, {advanced, []}}
# migrates the state record, and the count goes on.
t1=$(erl_stamp_of "$LIB/tt/ebin/tt13.beam")
ta1=$(content_stamp "$LIB/tt/ebin/tt.app")
erl_app_build tt 2.0 V2 appup
fake_batch 4 "module=tt13 path=$LIB/tt/ebin/tt13.beam stamp=$(erl_stamp_of "$LIB/tt/ebin/tt13.beam") was=$t1" \
    "module=app:tt path=$LIB/tt/ebin/tt.app stamp=$(content_stamp "$LIB/tt/ebin/tt.app") was=$ta1"
erl_has n1 'status=ok stamp=content-md5:' 'rc_fake:wait("^result batch=4 module=app:tt ").'
erl_expect n1 '{state,chk,8}' 'sys:get_state(tt13).'
erl_expect n1 '{ok,8}' 'tt13:test().'
erl_expect n1 '{ok,9}' 'tt13:test().'

# Releases (reloaderctl releases, relayed by the daemon): without sasl
# there is no release_handler to drive, and the answer says so.
erl_fake_send 'releases req=1 op=list'
erl_has n1 'reason=release_handler\\x20is\\x20not\\x20running\\x20in\\x20this\\x20node' \
    'rc_fake:wait("^releases-done req=1 status=error ").'
# With it, which_releases: the release this node runs (here OTP's own).
erl_has n1 '= {ok,' 'application:ensure_all_started(sasl).'
erl_fake_send 'releases req=2 op=list'
erl_has n1 'status=permanent' 'rc_fake:wait("^release req=2 name=").'
erl_has n1 "vsn=$(erl_cmd n1 'erlang:system_info(otp_release).' | sed 's/^= "\(.*\)"$/\1/') " \
    'rc_fake:wait("^release req=2 name=").'
erl_expect n1 '<<"releases-done req=2 status=ok">>' 'rc_fake:wait("^releases-done req=2 ").'
# Steps that cannot be done are answered error with release_handler's
# reason; bad requests with what is wrong.
erl_fake_send 'releases req=3 op=install arg=9.9.9'
erl_has n1 'reason=install_release:' 'rc_fake:wait("^releases-done req=3 status=error ").'
erl_fake_send 'releases req=4 op=permanent'
erl_expect n1 '"permanent needs an argument (arg=)"' 'rc_fake:field("^releases-done req=4 status=error ", "reason").'
erl_fake_send 'releases req=5 op=frob'
erl_has n1 'unknown operation \"frob\"' 'rc_fake:field("^releases-done req=5 status=error ", "reason").'
erl_fake_send 'releases op=list'
erl_expect n1 '"\"releases\" needs a field \"req\""' 'rc_fake:field("^error code=missing-field ", "msg").'
erl_expect n1 0 'rc_fake:count("closed").'
erl_stop n1
