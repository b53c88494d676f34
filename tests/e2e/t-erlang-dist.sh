#!/bin/sh
# Two nodes connected by Erlang distribution, one attached to the daemon
# and pushing its reloads, the other not attached: both get the new
# code, a gen_server's state is migrated on both, the other node's
# results come back to the first (and to the daemon, as result lines
# with node=), and nothing is pushed back.  A node named in the push
# list that runs no reloader_client is reported; one that is merely
# connected is skipped.  Private epmd port; nodes and epmd are stopped.
. tests/e2e/lib.sh
erl_init
erl_dist

erl_fixture "$ROOT" greet
erl_fixture "$ROOT" counter
start -w build
erl_start n2 "{socket, none}, {push, true}" -sname n2@localhost -setcookie rltest
erl_start n3 "" -sname n3@localhost -setcookie rltest
erl_start n1 "{push, true}" -sname n1@localhost -setcookie rltest
for n in n1 n2; do
	erl_expect $n 1 'greet:value().'
	erl_has $n '= {ok,<' 'counter:start().'
	erl_expect $n 2 'counter:bump(), counter:bump().'
	erl_has $n '= {ok,' 'reloader_client:start().'
done
erl_log_wait n2 'not attaching to reloaderd (socket = none)'
erl_expect n1 true "net_kernel:connect_node('n2@localhost')."
erl_expect n1 true "net_kernel:connect_node('n3@localhost')."
wait_log 'n1@localhost\[[0-9]*\] registered greet (build/greet.beam)'
wait_log 'n1@localhost\[[0-9]*\] registered counter (build/counter.beam)'

# One build changes both modules: n1 reloads them from the daemon's
# batch, n2 from n1's push; n3, just connected, is skipped quietly.
erl_fixture "$ROOT" greet -DVALUE=2 -DTEST_RESULT=ok
erl_fixture "$ROOT" counter -DV2
wait_log 'info reloading greet (build/greet\.beam) in n1@localhost\[[0-9]*\] \.\.\. ok'
wait_log 'info reloading counter (build/counter\.beam) in n1@localhost\[[0-9]*\] \.\.\. ok .* - code_change \.\.\. ok'
wait_log 'info reloading greet (build/greet\.beam) in node n2@localhost via n1@localhost\[[0-9]*\] \.\.\. ok [0-9.]* ms - test \.\.\. ok'
wait_log 'info reloading counter (build/counter\.beam) in node n2@localhost via n1@localhost\[[0-9]*\] \.\.\. ok .* - code_change \.\.\. ok'
erl_log_wait n1 'batch [0-9]*: greet on n2@localhost ok load [0-9.]* ms test [0-9.]* ms'
erl_log_wait n1 'batch [0-9]*: counter on n2@localhost ok load [0-9.]* ms state [0-9.]* ms'
for n in n1 n2; do
	erl_expect $n 2 'greet:value().'
	erl_expect $n '{2,upgraded}' 'counter:get().'
done
[ "$(erl_log_count n1 'n3@localhost')" -eq 0 ] ||
    erl_fail n1 "n3, which runs no reloader_client, was reported"

# No loop: n2 pushes nothing back, though its push is on.
erl_log_wait n2 'batch [0-9]* of n1@localhost: 1 module(s) pushed'
[ "$(erl_log_count n1 'module(s) pushed')" -eq 0 ] ||
    erl_fail n1 "n2 pushed a reload back to n1"

# Named in the push list, n3 is reported: it runs no reloader_client.
erl_expect n1 ok "application:set_env(reloader_client, push, ['n2@localhost', 'n3@localhost'])."
erl_fixture "$ROOT" greet -DVALUE=3
erl_log_wait n1 'warning .*batch [0-9]*: greet on n3@localhost load-failed: not pushed: reloader_client is not running there'
erl_log_wait n1 'batch [0-9]*: greet on n2@localhost ok'
wait_log 'warn reloading greet (build/greet\.beam) in node n3@localhost via n1@localhost\[[0-9]*\] \.\.\. load failed: "\?not pushed: reloader_client is not running there"\?$'
erl_expect n2 3 'greet:value().'
erl_expect n1 3 'greet:value().'
erl_log_wait n1 'batch [0-9]*: greet ok'
# The daemon took every result line, the other nodes' too.
wait_log 'info reloading greet (build/greet\.beam) in n1@localhost\[[0-9]*\] \.\.\. ok [0-9.]* ms$' 1
expect_count 'bad-result\| reports an error\|no result' 0
for n in n1 n2 n3; do
	erl_stop $n
done
stop
