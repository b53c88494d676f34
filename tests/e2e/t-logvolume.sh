#!/bin/sh
# The log of a BEAM node does not drown the reload log: an Erlang node
# with hundreds of modules loaded (every module of the OTP installed) registers each of them, and the daemon
# logs one summary line per burst at info, the detail at debug only
# (issue 15: 605 of 635 lines were registrations).  The reloads that
# matter still get their info line each.
. tests/e2e/lib.sh
erl_init

erl_fixture "$ROOT" greet
start
erl_start n1 "{poll_interval, 100}"
erl_has n1 '= {ok,' 'reloader_client:start().'
wait_log ' info nonode@nohost\[[0-9]*\] attached'
wait_log ' info nonode@nohost\[[0-9]*\] registered [0-9]* modules ([0-9]* in all)$'
# Load most of OTP, as a big application or iex would; the client's poll
# registers what came, in a burst or two.
erl_cmd n1 '_ = [code:ensure_loaded(list_to_atom(M)) || {M, _, _} <- code:all_available()], ok.' >/dev/null
tries=1000
until [ "$(count_log ' debug nonode@nohost\[[0-9]*\] registered ')" -ge 300 ]; do
	tries=$((tries - 1))
	[ "$tries" -gt 0 ] || fail "fewer than 300 modules registered: \
$(count_log ' debug nonode@nohost\[[0-9]*\] registered ')"
	sleep 0.02
done
# Each burst is summed up once the registrations pause.
sleep 0.2
erl_fixture "$ROOT" greet -DVALUE=2
wait_log ' info reloading greet (.*greet\.beam) in nonode@nohost\[[0-9]*\] \.\.\. ok'
# Prints how many registrations the summaries count: "registered N
# modules (M in all)" counts N, and a burst of one is named on its own.
summed() {
	sed -n 's/.* info nonode@nohost\[[0-9]*\] registered \(.*\)/\1/p' \
	    "$LOG" | awk '/^[0-9]+ modules \([0-9]+ in all\)$/ { s += $1; next }
	    { s += 1 } END { print s + 0 }'
}
# A loaded machine can still be registering the last few; each burst is
# summed once they pause (within 10 s here).
tries=500
while n=$(count_log ' debug nonode@nohost\[[0-9]*\] registered ') &&
    all=$(summed) && [ "$all" -ne "$n" ]; do
	tries=$((tries - 1))
	[ "$tries" -gt 0 ] ||
	    fail "the summaries count $all registrations, not $n"
	sleep 0.02
done
info=$(count_log ' info nonode@nohost\[[0-9]*\]')
sums=$(count_log ' info nonode@nohost\[[0-9]*\] registered ')
echo "$n registrations: $info info lines about the node, $sums summaries"
[ "$info" -le 6 ] || fail "$info info lines about the node for $n registrations"
