#!/bin/sh
# An Erlang node and a daemon that comes and goes (the socket named by
# $RELOADER_SOCKET, as libreloader has it): with no daemon the
# client keeps trying, quietly (one log line, not one per try); it
# attaches when the daemon starts; when the daemon is killed (-9) and a
# module is rebuilt meanwhile, it reconnects, registers everything
# again, and ends up on the new code; a beam that vanished meanwhile is
# registered all the same, listed missing with the version the node runs,
# its module stays loaded, and it is reloaded once the file is back.
. tests/e2e/lib.sh
erl_init

erl_fixture "$ROOT" greet
erl_fixture "$ROOT" lingo
# The socket from the environment, as libreloader finds it.
RELOADER_SOCKET=$SOCK erl_start n1 "{poll_interval, 100}"
erl_expect n1 1 'greet:value().'
erl_expect n1 1 'lingo:version().'
erl_expect n1 ok 'application:unset_env(reloader_client, socket).'
erl_has n1 '= {ok,' 'reloader_client:start().'

# No daemon: one line, however many tries.
erl_log_wait n1 "warning reloader_client: reloaderd is not reachable at $SOCK: .*; retrying quietly"
tries=500
until erl_cmd n1 'maps:get(failed_connects, reloader_client:status()) >= 5.' | grep -q '^= true'; do
	tries=$((tries - 1))
	[ "$tries" -gt 0 ] || erl_fail n1 "the client stopped trying to connect"
	sleep 0.02
done
[ "$(erl_log_count n1 'not reachable')" -eq 1 ] ||
    erl_fail n1 "the client logged every try"

# The daemon starts: attached, registered.
start -w build
wait_log 'nonode@nohost\[[0-9]*\] attached'
wait_log 'nonode@nohost\[[0-9]*\] registered greet (build/greet.beam)'
wait_log 'nonode@nohost\[[0-9]*\] registered lingo (build/lingo.beam)'
erl_log_wait n1 "info reloader_client: attached to reloaderd/[0-9.]* at $SOCK"

# Killed; greet rebuilt and lingo's beam deleted while it is away.
kill -KILL "$DPID"
wait "$DPID" 2>/dev/null || true
DPID=
erl_log_wait n1 "warning reloader_client: lost reloaderd at $SOCK (the daemon closed the connection); reconnecting quietly"
erl_fixture "$ROOT" greet -DVALUE=2
rm "$ROOT/lingo.beam"
start -w build
wait_log 'nonode@nohost\[[0-9]*\] attached'
wait_log 'info reloading greet (build/greet\.beam) in nonode@nohost\[[0-9]*\] \.\.\. ok'
erl_expect n1 2 'greet:value().'
wait_log 'info nonode@nohost\[[0-9]*\] registered lingo (.*/build/lingo\.beam), which it runs (md5:[0-9a-f]*) but whose file is missing: No such file or directory; offered when a file is there again'
"$CTL" -s "$SOCK" list >"$T/list.out" 2>&1 || fail "reloaderctl list failed"
grep -q 'lingo.*missing' "$T/list.out" ||
    fail "lingo is not listed missing: $(cat "$T/list.out")"
[ "$(erl_log_count n1 'refused to register')" -eq 0 ] ||
    erl_fail n1 "the registration of lingo was refused"
erl_expect n1 1 'lingo:version().'
[ "$(erl_log_count n1 'lost reloaderd\|not reachable')" -eq 2 ] ||
    erl_fail n1 "the second outage was logged more than once"

# lingo's beam is back, rebuilt: offered, and reloaded.
erl_fixture "$ROOT" lingo -DVALUE=2
wait_log 'info reloading lingo (build/lingo\.beam) in nonode@nohost\[[0-9]*\] \.\.\. ok'
erl_expect n1 2 'lingo:version().'
erl_stop n1
stop
