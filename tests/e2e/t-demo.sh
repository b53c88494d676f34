# `make run` as a new user meets it, in a copy of the tree: the daemon
# listens where clients and reloaderctl look by default, and every
# command the README shows for the second terminal works as pasted (they
# are read from README.md, so that the two cannot drift), the Erlang
# node's line included; a second `make run` beside the first prints the
# `export RELOADER_SOCKET=...` line that reaches its own daemon; a port
# held by another program (nc -l) is named, with how to choose another,
# and no success banner; a handler that crashes on a real request is
# named with its version, the daemon stops cleanly and no private copy
# is left.
# backends: any
. tests/e2e/lib.sh

command -v nc >/dev/null 2>&1 ||
    fail "nc is missing: scripts/deps.sh installs netcat-openbsd"
RPIDS=

# Stops every make run still going (each leads a process group of its
# own, as a terminal's job does) and whatever holds a port.
demo_cleanup() {
	for p in $RPIDS; do
		kill -TERM "-$p" 2>/dev/null || true
	done
	for p in $RPIDS; do
		wait "$p" 2>/dev/null || true
	done
	[ -z "${NCPID:-}" ] || kill "$NCPID" 2>/dev/null || true
	cleanup
}
trap demo_cleanup EXIT

# The tree as a checkout has it, built: the build directory copied with
# its times, so that make finds it up to date.
TREE=$T/tree
mkdir -p "$TREE" "$T/xdg"
chmod 700 "$T/xdg"
tar -c --exclude=./.git --exclude='./obj*' . | tar -x -C "$TREE"
cp -a "$TOP/$O" "$TREE/obj"

# Both terminals: a session's runtime directory, no socket named, no
# sudo.
XDG_RUNTIME_DIR=$T/xdg
export XDG_RUNTIME_DIR
unset RELOADER_SOCKET SUDO_UID SUDO_GID
SOCKET=$XDG_RUNTIME_DIR/reloader.sock

# Prints a TCP port on 127.0.0.1 that nothing listens on.
free_port() {
	p=$((20000 + ($$ + ${1:-0}) % 20000))
	while nc -z 127.0.0.1 "$p" 2>/dev/null; do
		p=$((p + 1))
	done
	echo "$p"
}

# Starts `make run PORT=port` in the tree as job NAME, in a process
# group of its own; its output goes to $T/NAME.out.
run_start() {
	name=$1
	(cd "$TREE" && exec setsid make run PORT="$2") >"$T/$name.out" 2>&1 &
	eval "rpid_$name=\$!"
	RPIDS="$RPIDS $!"
}

# Fails the test showing job NAME's output.
run_fail() {
	echo "--- make run ($1):" >&2
	cat "$T/$1.out" >&2
	fail "$2"
}

# Waits (up to 30 s: make runs first) for a line of job NAME's output
# matching a basic regular expression; fails if the job ends first.
run_wait() {
	eval "p=\$rpid_$1"
	tries=3000
	until grep -q -- "$2" "$T/$1.out"; do
		tries=$((tries - 1))
		[ "$tries" -gt 0 ] || run_fail "$1" "timed out waiting for '$2'"
		kill -0 "$p" 2>/dev/null || run_fail "$1" "make run ended" \
		    "before '$2'"
		sleep 0.01
	done
}

# Waits for job NAME to end; its exit status goes in $run_rc.
run_end() {
	eval "p=\$rpid_$1"
	run_rc=0
	wait "$p" || run_rc=$?
}

# Runs a command line in the second terminal; output in $T/cmd.out,
# errors in $T/cmd.err (where curl's progress meter goes off a terminal).
term2() {
	(cd "$TREE" && sh -c "$1") >"$T/cmd.out" 2>"$T/cmd.err"
}

# Runs a command line until its output matches (up to 10 s): what a
# person does who asks again after saving.
term2_until() {
	tries=1000
	until term2 "$1" && grep -q -- "$2" "$T/cmd.out"; do
		tries=$((tries - 1))
		[ "$tries" -gt 0 ] || run_fail demo "'$1' answered" \
		    "'$(cat "$T/cmd.out")', not '$2'"
		sleep 0.01
	done
}

# ---- make run, and the README's second terminal ------------------------
PORT=$(free_port)
run_start demo "$PORT"
run_wait demo 'reloaderd (on .*) and the devserver (on .*) are running'
grep -qF "reloaderd (on $SOCKET)" "$T/demo.out" ||
    run_fail demo "the daemon is not on the default socket $SOCKET"
! grep -q 'RELOADER_SOCKET' "$T/demo.out" ||
    run_fail demo "an export line with nothing on the default socket"

# The lines of the README's second terminal, without their comments.
awk '/^In a second terminal/ { f = 1; next }
    f && /^    / { print; g = 1; next }
    g { exit }' README.md | sed -e 's/   *# .*//' -e 's/^    //' \
    -e "s/:8080/:$PORT/" >"$T/readme.cmds"
[ "$(wc -l <"$T/readme.cmds")" -ge 5 ] ||
    fail "no commands found after 'In a second terminal' in README.md"
EDITOR="sed -i s/hello,/howdy,/"
export EDITOR
hello=0
count=0
while IFS= read -r line; do
	case $line in
	"curl http://127.0.0.1:$PORT/hello")
		hello=$((hello + 1))
		if [ "$hello" -eq 1 ]; then
			term2 "$line"
			[ "$(cat "$T/cmd.out")" = "hello, world" ] ||
			    run_fail demo "$line: $(cat "$T/cmd.out")"
		else
			term2_until "$line" '^howdy, world$'
		fi
		;;
	"curl http://127.0.0.1:$PORT/count")
		count=$((count + 1))
		term2 "$line"
		grep -qx "count=$count" "$T/cmd.out" ||
		    run_fail demo "$line: $(cat "$T/cmd.out")"
		;;
	'$EDITOR examples/devserver/hello.c')
		term2 "$line" || run_fail demo "$line: $(cat "$T/cmd.out")"
		grep -q 'howdy' "$TREE/examples/devserver/hello.c" ||
		    fail "$line did not edit hello.c"
		;;
	make)
		term2 "$line" || run_fail demo "make: $(cat "$T/cmd.out")"
		;;
	'obj/reloaderctl status')
		term2 "$line" || run_fail demo "$line: $(cat "$T/cmd.out")"
		grep -q "^socket  *$SOCKET\$" "$T/cmd.out" ||
		    run_fail demo "$line: $(cat "$T/cmd.out")"
		;;
	'obj/reloaderctl list')
		term2 "$line" || run_fail demo "$line: $(cat "$T/cmd.out")"
		grep -q 'devserver\[[0-9]*\]  *hello  ' "$T/cmd.out" &&
		    grep -q '  count  ' "$T/cmd.out" ||
		    run_fail demo "$line: $(cat "$T/cmd.out")"
		;;
	'obj/reloaderctl tail')
		term2 "$line" || run_fail demo "$line: $(cat "$T/cmd.out")"
		grep -q ' info ' "$T/cmd.out" ||
		    run_fail demo "$line: $(cat "$T/cmd.out")"
		;;
	*)
		fail "README.md shows '$line' for the second terminal," \
		    "which t-demo does not know: teach it"
		;;
	esac
done <"$T/readme.cmds"
[ "$hello" -eq 2 ] && [ "$count" -ge 1 ] ||
    fail "README.md's second terminal lost its curl lines"
grep -q '^devserver: reloaded hello ok' "$T/demo.out" ||
    run_fail demo "the devserver did not log the reload"

# ---- the README's Erlang node reaches the same daemon -----------------
erl_line=$(awk '/^## Attaching an Erlang node/ { f = 1; next }
    f && /^    erl / { sub(/^    /, ""); print; exit }' README.md)
[ -n "$erl_line" ] || fail "no erl line under 'Attaching an Erlang node'"
if ! command -v erl >/dev/null 2>&1; then
	skip_part "the README's erl line: no erl"
else
	mkfifo "$T/erl.in"
	(cd "$TREE" && sh -c "$erl_line") <"$T/erl.in" >"$T/erl.out" 2>&1 &
	epid=$!
	exec 5>"$T/erl.in"
	term2_until 'obj/reloaderctl list' '^[0-9]*  *nonode@nohost\['
	echo 'halt().' >&5
	exec 5>&-
	wait "$epid" || fail "the README's erl line: $(cat "$T/erl.out")"
fi

# ---- a second make run: its own socket, and the line to reach it ------
PORT2=$(free_port 7)
run_start second "$PORT2"
run_wait second 'are running'
exp=$(sed -n 's/^    \(export RELOADER_SOCKET=.*\)$/\1/p' "$T/second.out")
[ -n "$exp" ] || run_fail second "no export line while $SOCKET is taken"
grep -qF "($SOCKET)" "$T/second.out" ||
    run_fail second "it does not say what holds the default socket"
term2 "$exp; obj/reloaderctl status"
grep -q "^socket  *${exp#export RELOADER_SOCKET=}\$" "$T/cmd.out" ||
    run_fail second "'$exp' does not reach its daemon: $(cat "$T/cmd.out")"
kill -INT "-$rpid_second"
run_end second
[ ! -e "${exp#export RELOADER_SOCKET=}" ] ||
    run_fail second "its socket is left after Ctrl-C"
term2 'obj/reloaderctl status'
grep -q "^socket  *$SOCKET\$" "$T/cmd.out" ||
    run_fail demo "the first daemon is gone: $(cat "$T/cmd.out")"

# ---- a handler that crashes on a real request --------------------------
# Only on a real request (its test hook asks with a small buffer), so
# that the reload itself succeeds.
sed -i 's|^\tsnprintf(body, size, "howdy|\tif (size > 1000)\n\t\t*(volatile int *)0 = 1;\n&|' \
    "$TREE/examples/devserver/hello.c"
grep -q 'volatile' "$TREE/examples/devserver/hello.c" ||
    fail "test setup: hello.c not made to crash"
n=$(grep -c '^devserver: reloaded hello ok' "$T/demo.out")
term2 make || run_fail demo "make: $(cat "$T/cmd.out")"
tries=1000
while [ "$(grep -c '^devserver: reloaded hello ok' "$T/demo.out")" -le "$n" ]
do
	tries=$((tries - 1))
	[ "$tries" -gt 0 ] || run_fail demo "the crashing hello was not loaded"
	sleep 0.01
done
bid=$(buildid "$TREE/examples/devserver/build/handlers/hello.so")
term2 "curl -s http://127.0.0.1:$PORT/hello" || true
grep -q "^handler hello (build-id:$bid) crashed" "$T/cmd.out" ||
    run_fail demo "the crashed request got: $(cat "$T/cmd.out")"
run_end demo
[ "$run_rc" -ne 0 ] || run_fail demo "make run exited 0 after a crash"
grep -q "^devserver: handler hello (build-id:$bid) crashed with Segmentation fault on GET /hello; stopping\$" \
    "$T/demo.out" || run_fail demo "the crash does not name hello and $bid"
grep -q '^run: the devserver stopped (status 70); reloaderd stops too$' \
    "$T/demo.out" || run_fail demo "make run does not say it stops"
grep -q ' info Terminated: stopping$' "$T/demo.out" ||
    run_fail demo "reloaderd did not stop cleanly"
! grep -q 'Segmentation fault$\|Error 139' "$T/demo.out" ||
    run_fail demo "the crash came out as a bare segmentation fault"
[ ! -e "$SOCKET" ] || run_fail demo "the daemon's socket is left"
left=$(find "$T/xdg" -name 'reloader-*' 2>/dev/null)
[ -z "$left" ] || run_fail demo "private copies left: $left"

# ---- the port held by another program ------------------------------------
PORT3=$(free_port 13)
nc -lk 127.0.0.1 "$PORT3" </dev/null >/dev/null 2>&1 &
NCPID=$!
tries=1000
until nc -z 127.0.0.1 "$PORT3" 2>/dev/null; do
	tries=$((tries - 1))
	[ "$tries" -gt 0 ] || fail "nc does not listen on $PORT3"
	sleep 0.01
done
run_start busy "$PORT3"
run_end busy
[ "$run_rc" -ne 0 ] || run_fail busy "make run exited 0 with its port taken"
grep -q "^run: port $PORT3 is taken by another program, so the devserver cannot listen there; choose another: make run PORT=$((PORT3 + 1))\$" \
    "$T/busy.out" || run_fail busy "no word of the port taken"
! grep -q 'are running' "$T/busy.out" ||
    run_fail busy "the success banner with the port taken"
[ ! -e "$SOCKET" ] || run_fail busy "the daemon's socket is left"
kill "$NCPID"
wait "$NCPID" 2>/dev/null || true
NCPID=
end_test
