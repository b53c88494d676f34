#!/bin/sh
# Console lines in a plain interactive `erl' (issue 15): one line per
# reload and per failure, mochiweb style (`Reloading greet ... ok'), and
# no logger report around them; a module compiled in the shell with c/1
# prints no warning when the daemon offers the version it already runs;
# `console' set to false silences the lines at once.  A node without a
# shell (-noshell) prints none, and logs its results as before.
# backends: inotify
. tests/e2e/lib.sh
erl_init

SH=$T/shell

# Starts an interactive erl (no -noshell) in $ROOT, reading the shell's
# input from a FIFO, its output in $SH.out (errors in $SH.log); it finds
# the daemon by $RELOADER_SOCKET, as a user's node would.
sh_start() {
	mkfifo "$SH.in"
	: >"$SH.out"
	exec 9<>"$SH.in"
	(cd "$ROOT" && RELOADER_SOCKET=$SOCK exec erl -pa "$ERL_EBIN") \
	    <"$SH.in" >"$SH.out" 2>"$SH.log" &
	echo $! >"$T/shell.pid"
	ERL_NODES="$ERL_NODES shell"
	sh_wait '^Eshell '
	SHPID=$(cat "$T/shell.pid")
}

# Counts the lines of the shell's output matching a basic regular
# expression.
sh_count() {
	c=$(grep -c -- "$1" "$SH.out" 2>/dev/null || true)
	echo "${c:-0}"
}

# Waits (up to 10 s) until N lines (default 1) of the shell's output
# match.
sh_wait() {
	tries=1000
	while [ "$(sh_count "$1")" -lt "${2:-1}" ]; do
		tries=$((tries - 1))
		[ "$tries" -gt 0 ] || sh_fail "timed out waiting for '$1'"
		sleep 0.01
	done
}

# Fails, showing the shell's output.
sh_fail() {
	echo "--- shell output:" >&2
	cat "$SH.out" >&2
	erl_fail n1 "$@"
}

# Types a line into the shell and waits for the answer that echoes TAG
# (a term the line ends with, printed back by the shell).
sh_cmd() {
	sh_n=$(sh_count "$2")
	printf '%s\n' "$1" >"$SH.in"
	sh_wait "$2" $((sh_n + 1))
}

# Asserts that N lines of the shell's output match.
sh_expect() {
	c=$(sh_count "$1")
	[ "$c" -eq "$2" ] || sh_fail "expected $2 x '$1' in the shell, got $c"
}

erl_fixture "$ROOT" greet -DTEST_RESULT=ok
start -w build
sh_start
erl_start n1 "{poll_interval, 100}"
erl_expect n1 1 'greet:value().'
sh_cmd 'greet:value(), reloader_client:start(), shell_done1.' 'shell_done1$'
erl_has n1 '= {ok,' 'reloader_client:start().'
wait_log 'nonode@nohost\[[0-9]*\] registered greet (build/greet.beam)' 2
erl_expect n1 false 'reloader_client_console:enabled().'

# A reload: one line on the console, no report around it.
erl_fixture "$ROOT" greet -DVALUE=2 -DTEST_RESULT=ok
sh_wait '\(^\|> \)Reloading greet \.\.\. ok [0-9.]* ms - test ok [0-9.]* ms$'
sh_expect 'REPORT' 0
sh_expect '\(^\|> \)Reloading ' 1

# A failing test: one line, with the reason.
erl_fixture "$ROOT" greet -DVALUE=3 '-DTEST_RESULT={error,broken}'
sh_wait '\(^\|> \)Reloading greet \.\.\. ok [0-9.]* ms - test failed [0-9.]* ms (new code kept): greet:test() returned {error,broken}, not ok$'
sh_expect 'REPORT' 0
sh_expect '\(^\|> \)Reloading ' 2

# c/1 in the shell writes the beam the daemon watches and loads it: the
# daemon then offers the version the node already runs, answered ok
# with no warning, and the console says nothing of it.
cp "$TOP/clients/erlang/test/fixtures/greet.erl" "$ROOT/greet.erl"
quiet="info reloading greet (build/greet\\.beam) in nonode@nohost\\[$SHPID\\] \\.\\.\\. ok\\( [0-9.]* ms\\)\\?\$"
k=$(count_log "$quiet")
sh_cmd 'c(greet, [{d, '"'"'VALUE'"'"', 4}]), shell_done2.' 'shell_done2$'
wait_log "$quiet" $((k + 1))
sh_cmd 'greet:value() * 1000.' '> 4000$'
expect_count 'already running' 0
sh_expect 'already running' 0
sh_expect 'REPORT\|arning' 0

# Console off: results go back to logger's info level, which a plain
# erl does not print.
sh_cmd 'application:set_env(reloader_client, console, false), shell_done3.' 'shell_done3$'
shown=$(sh_count '\(^\|> \)Reloading ')
k=$(count_log "$quiet")
erl_fixture "$ROOT" greet -DVALUE=5
wait_log "$quiet" $((k + 1))
sh_cmd 'greet:value() * 1000.' '> 5000$'
sh_expect '\(^\|> \)Reloading ' "$shown"
sh_expect 'REPORT' 0

# The node without a shell printed nothing, and logged each result at
# info as it always did.
[ "$(erl_log_count n1 'Reloading')" -eq 0 ] ||
    sh_fail "the node without a shell printed console lines"
[ "$(grep -c Reloading "$T/n1.out")" -eq 0 ] ||
    sh_fail "the node without a shell printed console lines"
erl_log_wait n1 'info reloader_client: batch [0-9]*: greet ok load [0-9.]* ms test [0-9.]* ms'
erl_stop n1
printf 'q().\n' >"$SH.in"
wait "$(cat "$T/shell.pid")" 2>/dev/null || true
stop
