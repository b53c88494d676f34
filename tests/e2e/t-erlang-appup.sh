#!/bin/sh
# Issue 14's development flow with the real daemon: a node runs seed
# 004's nine9s 0.1.0 (inets' httpd, clients/erlang/test/nine9s) with
# reloader_client; the project is switched to 0.2.0 and built under
# `reloaderctl build'; without a restart the node upgrades by the appup:
# /count answers and counts each /; `reloaderctl rollback app:nine9s'
# returns it to 0.1.0 (the child gone, /count 404, / still answers); an
# appup whose apply fails leaves it on 0.1.0, said in the result; list
# shows the modules the rollback took back as rolled back; seed
# 001's tt13 keeps its count through {update, tt13, {advanced, []}}.
# Needs the daemon to register and offer `.app' files (app:NAME); the
# client's side alone: t-erlang-appup-fake.sh.
. tests/e2e/lib.sh
erl_init
LIB=$T/lib
E=$LIB/nine9s/ebin

erl_app_build nine9s 0.1.0 no_state_handler no_count_handler
erl_app_build tt 1.1
start -w "$LIB"
erl_start n1 "{poll_interval, 200}" -pa "$E" -pa "$LIB/tt/ebin"
erl_has n1 '= {ok,' 'application:ensure_all_started(nine9s).'
erl_has n1 '= {ok,' 'application:ensure_all_started(tt).'
port=$(erl_cmd n1 'nine9s_app:port().' | sed 's/^= //')
erl_http_is / 'Hello world!' 200
erl_http_is /count 'not found' 404
erl_expect n1 '{ok,1}' 'tt13:test().'
erl_expect n1 '{ok,2}' 'tt13:test().'
erl_expect n1 '{ok,4}' 'tt13:test().'
erl_has n1 '= {ok,' 'reloader_client:start().'
wait_log 'registered app:nine9s '
wait_log 'registered app:tt '
wait_log 'registered default_handler '

# The project goes to 0.2.0, built with reloads held: one batch, and the
# appup upgrades nine9s in place.
ctl build -- erl -noshell -pa "$ERL_TEST" -s rc_apps main nine9s 0.2.0 "$LIB" V2 appup
[ "$ctl_rc" -eq 0 ] || ctl_fail "reloaderctl build of nine9s 0.2.0 exited $ctl_rc"
erl_log_wait n1 'app:nine9s ok .*upgraded nine9s 0.1.0 -> 0.2.0'
erl_expect n1 '"0.2.0"' 'element(3, lists:keyfind(nine9s, 1, application:which_applications())).'
erl_expect n1 '[{state_handler,true,worker}]' \
    '[{I, is_pid(P), T} || {I, P, T, _} <- supervisor:which_children(nine9s_sup)].'
erl_http_is / 'Hello world 2 !' 200
erl_http / >/dev/null
erl_http_is /count 2 200
wait_log 'registered count_handler '

# reloaderctl rollback app:nine9s: down by the appup's instructions.
ctl rollback app:nine9s
[ "$ctl_rc" -eq 0 ] || ctl_fail "reloaderctl rollback app:nine9s exited $ctl_rc"
erl_log_wait n1 'app:nine9s ok .*rolled back nine9s 0.2.0 -> 0.1.0'
erl_expect n1 '"0.1.0"' 'element(3, lists:keyfind(nine9s, 1, application:which_applications())).'
erl_expect n1 '[]' 'supervisor:which_children(nine9s_sup).'
erl_http_is /count 'not found' 404
erl_http_is / 'Hello world!' 200
# list says what runs: the application's modules went back with it, so
# each is rolled back (the newer beam held back until a build changes
# it), and the modules 0.2.0 added are gone with their code.
ctl list
for m in app:nine9s nine9s_app nine9s_sup default_handler; do
	ctl_has out "  $m  .*stale (rolled-back)\$"
done
ctl_hasnt out ' count_handler '
ctl_hasnt out ' state_handler '
ctl_has out '  nine9s_web  .*current$'

# An appup whose apply fails: nine9s stays on 0.1.0, and the result says
# why (0.2.1: the same upgrade, its set_routes_new/0 broken).
ctl build -- erl -noshell -pa "$ERL_TEST" -s rc_apps main nine9s 0.2.1 "$LIB" V2 BAD_APPLY appup
erl_log_wait n1 'app:nine9s rolled-back .*the upgrade of nine9s 0.1.0 -> 0.2.1 failed part way: no_routes_today in nine9s_app:set_routes_new/0; undone by the appup.s down instructions: nine9s runs 0.1.0'
erl_expect n1 '"0.1.0"' 'element(3, lists:keyfind(nine9s, 1, application:which_applications())).'
erl_expect n1 '[]' 'supervisor:which_children(nine9s_sup).'
erl_http_is / 'Hello world!' 200
erl_http_is /count 'not found' 404

# Seed 001's tt13: the state record gains testcheck, the count goes on.
ctl build -- erl -noshell -pa "$ERL_TEST" -s rc_apps main tt 2.0 "$LIB" V2 appup
erl_log_wait n1 'app:tt ok .*upgraded tt 1.1 -> 2.0'
erl_expect n1 '{state,chk,8}' 'sys:get_state(tt13).'
erl_expect n1 '{ok,8}' 'tt13:test().'
erl_stop n1
