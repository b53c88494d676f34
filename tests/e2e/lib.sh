# lib.sh: helpers for the end-to-end tests, sourced by each t-*.sh.
#
# Each test starts the real daemon on a temp directory and asserts on what
# it logs.  Waits are for log lines, never fixed sleeps: `sync_marker`
# makes a real change to a marker module and waits for its line, so that
# every earlier event has been handled before a test asserts that
# something was NOT logged.
set -eu

O=${O:-obj}
TOP=$(pwd)
RELOADERD=${RELOADERD:-$TOP/$O/reloaderd}
WRITEHALVES=${WRITEHALVES:-$TOP/$O/tests/writehalves}
BACKEND=${BACKEND:-inotify}
T=$(mktemp -d "${TMPDIR:-/tmp}/reloader-e2e.XXXXXX")
LOG=$T/log
ROOT=$T/build
SOCK=$T/sock
RLCLIENT=${RLCLIENT:-$TOP/$O/tests/rlclient}
HOST=${HOST:-$TOP/$O/tests/host}
HPID=
DPID=
marker_n=0
mkdir -p "$ROOT"

cleanup() {
	if [ -n "${HOGPID:-}" ]; then
		kill "$HOGPID" 2>/dev/null || true
		wait "$HOGPID" 2>/dev/null || true
	fi
	if [ -n "$HPID" ]; then
		kill "$HPID" 2>/dev/null || true
		wait "$HPID" 2>/dev/null || true
	fi
	if [ -n "$DPID" ]; then
		kill "$DPID" 2>/dev/null || true
		wait "$DPID" 2>/dev/null || true
	fi
	rm -rf "$T"
}
trap cleanup EXIT

# Skips the whole test, saying why: tests/run.sh counts it as skipped
# (status 77, as automake has it) and prints the reason.
skip() {
	echo "SKIP: $*"
	exit 77
}

# Says why a part of the test cannot run here; the test goes on with the
# rest, and end_test makes it count as skipped.
SKIPPED=
skip_part() {
	echo "SKIP: $*"
	SKIPPED=1
}

# Ends a test that ran through: status 77 if a part of it was skipped.
end_test() {
	[ -z "$SKIPPED" ] || exit 77
	exit 0
}

# Stopped by tests/run.sh's time limit (or Ctrl-C): shows where the
# daemon stood, then the EXIT trap cleans up.
on_stop() {
	echo "--- stopped by a signal; the daemon's log ends:" >&2
	tail -n 30 "$LOG" >&2 2>/dev/null || true
	exit 143
}
trap on_stop TERM INT

# Fails the test, showing the daemon's log.
fail() {
	echo "FAIL: $*" >&2
	echo "--- daemon log:" >&2
	cat "$LOG" >&2 2>/dev/null || true
	if [ -f "$T/host.out" ]; then
		echo "--- host output:" >&2
		cat "$T/host.out" "$T/host.err" >&2 2>/dev/null || true
	fi
	exit 1
}

# Starts reloaderd in the foreground with the test's backend and its
# socket at $SOCK; waits until it is ready.  Extra arguments go to the
# daemon; DAEMON_V= (empty) leaves out -v, for a log as terse as in use.
start() {
	case $BACKEND in
	any) set -- -f ${DAEMON_V--v} -s "$SOCK" -i 50ms "$@" ;;
	*) set -- -f ${DAEMON_V--v} -s "$SOCK" -b "$BACKEND" -i 50ms "$@" ;;
	esac
	cd "$T"
	# Emptied here, not by the background shell's redirection, so that
	# a restarted daemon's wait cannot match the last one's ready line.
	: >"$LOG"
	marker_n=0
	"$RELOADERD" "$@" >>"$LOG" 2>&1 &
	DPID=$!
	cd "$TOP"
	wait_log ' ready:'
}

# Stops the daemon and waits for it to exit.
stop() {
	kill -TERM "$DPID"
	wait "$DPID" || fail "reloaderd exited with status $?"
	DPID=
}

# Waits (up to 10 s) for a path to exist, or with a second argument to
# pass that test(1) operator (-s: exist and not be empty); WHAT names it
# in the failure.
wait_path() {
	tries=1000
	while ! test "${2:--e}" "$1"; do
		tries=$((tries - 1))
		[ "$tries" -gt 0 ] || fail "timed out waiting for ${3:-$1}"
		sleep 0.01
	done
}

# Counts log lines matching a basic regular expression; 0 while the log
# does not exist yet (the daemon's shell may not have opened it).
count_log() {
	c=$(grep -c -- "$1" "$LOG" 2>/dev/null || true)
	echo "${c:-0}"
}

# Waits (up to 10 s) until at least N lines (default 1) match.
wait_log() {
	n=${2:-1}
	tries=1000
	while [ "$(count_log "$1")" -lt "$n" ]; do
		tries=$((tries - 1))
		[ "$tries" -gt 0 ] || fail "timed out waiting for $n x '$1'"
		if [ -n "$DPID" ] && ! kill -0 "$DPID" 2>/dev/null; then
			fail "reloaderd died while waiting for '$1'"
		fi
		sleep 0.01
	done
}

# Asserts that exactly N lines match.
expect_count() {
	c=$(count_log "$1")
	[ "$c" -eq "$2" ] || fail "expected $2 x '$1', got $c"
}

# Prints a number of reloader's version from include/reloader.h: MAJOR,
# MINOR or PATCH; with no argument, the whole version.
hdr_version() {
	if [ $# -eq 0 ]; then
		echo "$(hdr_version MAJOR).$(hdr_version MINOR).$(hdr_version PATCH)"
		return
	fi
	sed -n "s/^#define RELOADER_VERSION_$1 \\([0-9]*\\)$/\\1/p" \
	    "$TOP/include/reloader.h"
}

# Prints the version of the reloader_client application that erl finds
# with no -pa (ERL_LIBS may name more lib directories), and the path of
# its reloader_client.beam.
erl_find_client() {
	erl -noshell -eval '
	ok = application:load(reloader_client),
	{ok, V} = application:get_key(reloader_client, vsn),
	io:format("~s ~s~n", [V, code:which(reloader_client)]), halt().'
}

# Builds a shared object returning value; extra arguments go to gcc.
mkso() {
	out=$1
	value=$2
	shift 2
	mkdir -p "$(dirname "$out")"
	printf '#include "reloader.h"\nint value(void) { return %s; }\n%s\n' \
	    "$value" "${SO_EXTRA:-}" >"$T/so-$$.c"
	gcc -shared -fPIC -Wl,--build-id=sha1 -I"$TOP/include" "$@" \
	    -o "$out" "$T/so-$$.c"
}

# Prints a shared object's GNU build-id, as readelf sees it.
buildid() {
	readelf -n "$1" | sed -n 's/.*Build ID: *//p'
}

# Compiles an Erlang module exporting value/0 into dir; extra arguments go
# to erlc.
mkbeam() {
	dir=$1
	mod=$2
	value=$3
	shift 3
	mkdir -p "$T/erl" "$dir"
	printf -- '-module(%s).\n-export([value/0]).\nvalue() -> %s.\n' \
	    "$mod" "$value" >"$T/erl/$mod.erl"
	erlc "$@" -o "$dir" "$T/erl/$mod.erl"
}

# Prints the MD5 the Erlang VM reports for a module in dir, in hex.
vm_md5() {
	erl -noshell -pa "$1" -eval "io:format(\"~s~n\", [[io_lib:format(\"~2.16.0b\", [B]) || <<B>> <= $2:module_info(md5)]]), halt()."
}

# Makes a real change to a marker module and waits for it to be logged,
# so that every event before it has been handled.
sync_marker() {
	marker_n=$((marker_n + 1))
	mkso "$ROOT/zz-marker.so" "1000 + $marker_n"
	wait_log ' info \(added\|changed\) [^ ]*zz-marker\.so' "$marker_n"
}

# Builds a fixture module from tests/modules/SRC.c into out; extra
# arguments (-D...) go to gcc.  Like a real build, it writes in place.
mkmod() {
	out=$1
	src=$2
	shift 2
	mkdir -p "$(dirname "$out")"
	gcc -shared -fPIC -Wl,--build-id=sha1 -I"$TOP/include" "$@" \
	    -o "$out" "$TOP/tests/modules/$src.c"
}

# Starts the test host (tests/e2e/host.c) on the daemon's socket with
# the given options and modules; its commands go in through a FIFO, its
# answers and events come out in $T/host.out.
host_start() {
	rm -f "$T/host.in" "$T/host.out"
	mkfifo "$T/host.in"
	: >"$T/host.out"
	# TMPDIR: the library's private copies go under $T, which the
	# cleanup removes even when the host dies without reloader_free().
	TMPDIR=$T GATE=$T/gate "$HOST" -s "$SOCK" -n host "$@" <"$T/host.in" \
	    >>"$T/host.out" 2>"$T/host.err" &
	HPID=$!
	exec 3>"$T/host.in"
}

# Counts the host's output lines matching a basic regular expression.
host_count() {
	c=$(grep -c -- "$1" "$T/host.out" 2>/dev/null || true)
	echo "${c:-0}"
}

# Waits (up to 10 s) until at least N host lines (default 1) match.
host_wait() {
	n=${2:-1}
	tries=1000
	while [ "$(host_count "$1")" -lt "$n" ]; do
		tries=$((tries - 1))
		[ "$tries" -gt 0 ] || fail "timed out waiting for $n x '$1' \
from the host"
		kill -0 "$HPID" 2>/dev/null || fail "the host died waiting \
for '$1'"
		sleep 0.01
	done
}

# Sends the host a command and prints its answer: the next line that is
# neither an event nor an async result.
host_cmd() {
	before=$(grep -cv '^\(event\|async\) ' "$T/host.out" || true)
	echo "$*" >&3
	tries=1000
	while :; do
		now=$(grep -cv '^\(event\|async\) ' "$T/host.out" || true)
		[ "$now" -gt "$before" ] && break
		tries=$((tries - 1))
		[ "$tries" -gt 0 ] || fail "no answer from the host to '$*'"
		kill -0 "$HPID" 2>/dev/null || fail "the host died on '$*'"
		sleep 0.01
	done
	grep -v '^\(event\|async\) ' "$T/host.out" | sed -n "$((before + 1))p"
}

# Asserts that the host answers a command with exactly the text given.
host_expect() {
	want=$1
	shift
	got=$(host_cmd "$@")
	[ "$got" = "$want" ] || fail "host: '$*' answered '$got', not '$want'"
}

# Ends the host cleanly and checks it exited 0.
host_stop() {
	echo quit >&3
	exec 3>&-
	wait "$HPID" || fail "the host exited with status $?"
	HPID=
}

# Runs a scripted rlclient as NAME: its script on stdin, extra arguments
# before the socket, the command prefix in AS (e.g. setpriv ...), the
# program in CL (default rlclient); what it receives goes to $T/NAME.out.
# Fails the test if the script does not run through.
client() {
	name=$1
	shift
	if ${AS:-} "${CL:-$RLCLIENT}" -w "$@" "$SOCK" >"$T/$name.out" \
	    2>"$T/$name.err"; then
		return 0
	else
		rc=$?
	fi
	tail -n 30 "$T/$name.out" >&2
	cat "$T/$name.err" >&2
	fail "client $name: its script failed (status $rc)"
}

# Counts the lines client NAME received that are VERB with every FIELD,
# in any order; a FIELD ending in '*' matches any value with that start.
count_recv() {
	name=$1
	shift
	if [ ! -f "$T/$name.out" ]; then
		echo 0
		return
	fi
	WANT="$*" awk '
	BEGIN { n = split(ENVIRON["WANT"], w, " ") }
	$1 == "<" && $2 == w[1] {
		ok = 1
		for (i = 2; i <= n && ok; i++) {
			f = 0
			p = substr(w[i], 1, length(w[i]) - 1)
			for (j = 3; j <= NF; j++)
				if ($j == w[i] || (w[i] ~ /\*$/ &&
				    index($j, p) == 1))
					f = 1
			ok = f
		}
		c += ok
	}
	END { print c + 0 }' "$T/$name.out"
}

# Asserts that client NAME received exactly N lines VERB FIELD...
expect_recv() {
	name=$1
	n=$2
	shift 2
	c=$(count_recv "$name" "$@")
	[ "$c" -eq "$n" ] && return 0
	sed 's/^/    /' "$T/$name.out" | tail -n 40 >&2
	cat "$T/$name.err" >&2 2>/dev/null || true
	fail "client $name: expected $n x '$*', got $c"
}

# ---- scripted clients fed through FIFOs ---------------------------------
# For tests that act on files while clients wait (t-proto-reload.sh,
# t-proto-ctl.sh).

# Starts scripted client NAME in the background, fed by `to` through a
# FIFO on file descriptor FD; its received lines go to $T/NAME.out.
open_client() {
	mkfifo "$T/$1.in"
	# There before the client opens it (after its FIFO), for count_recv.
	: >"$T/$1.out"
	# Without the other clients' FIFOs, which would keep them open.
	"$RLCLIENT" -w -t 10000 "$SOCK" <"$T/$1.in" >"$T/$1.out" \
	    2>"$T/$1.err" 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
	eval "pid_$1=\$!; fd_$1=$2; ends_$1=0"
	eval "exec $2>\"\$T/\$1.in\""
}

# Fails the test showing client NAME's lines and messages.
client_fail() {
	tail -n 30 "$T/$1.out" >&2
	cat "$T/$1.err" >&2
	fail "client $1: $2"
}

# Sends directives to client NAME.
to() {
	n=$1
	shift
	eval "fd=\$fd_$n"
	for d in "$@"; do
		printf '%s\n' "$d" >&"$fd" 2>/dev/null ||
		    client_fail "$n" "it is gone (sending '$d')"
	done
}

# Ends client NAME's script and checks that it ran through.
close_client() {
	eval "f=\$fd_$1; p=\$pid_$1"
	eval "exec $f>&-"
	if wait "$p"; then
		return 0
	else
		rc=$?
	fi
	client_fail "$1" "its script failed (status $rc)"
}

# Waits (up to 10 s) until client NAME has received N lines VERB FIELD...
wait_recv() {
	name=$1
	n=$2
	shift 2
	tries=1000
	while [ "$(count_recv "$name" "$@")" -lt "$n" ]; do
		tries=$((tries - 1))
		[ "$tries" -gt 0 ] ||
		    client_fail "$name" "timed out waiting for $n x '$*'"
		eval "p=\$pid_$name"
		kill -0 "$p" 2>/dev/null ||
		    client_fail "$name" "it exited waiting for '$*'"
		sleep 0.01
	done
}

# ---- many connections at once ------------------------------------------
# For the tests of the daemon's limits (t-fdlimit.sh, t-memory.sh): one
# fdhog (tests/e2e/fdhog.c) holds as many connections as it is told.

FDHOG=${FDHOG:-$TOP/$O/tests/fdhog}
HOGPID=

# Starts fdhog on the daemon's socket; its commands go in through a FIFO
# on descriptor 4, its answers come out in $T/hog.out.
hog_start() {
	rm -f "$T/hog.in"
	mkfifo "$T/hog.in"
	: >"$T/hog.out"
	"$FDHOG" "$SOCK" <"$T/hog.in" >>"$T/hog.out" 2>"$T/hog.err" 3>&- &
	HOGPID=$!
	exec 4>"$T/hog.in"
}

# Sends fdhog a command and prints its answer (waiting up to 30 s: a
# sync may take 20).
hog_cmd() {
	before=$(wc -l <"$T/hog.out")
	echo "$*" >&4
	tries=3000
	while [ "$(wc -l <"$T/hog.out")" -le "$before" ]; do
		tries=$((tries - 1))
		[ "$tries" -gt 0 ] || fail "no answer from fdhog to '$*'"
		kill -0 "$HOGPID" 2>/dev/null ||
		    fail "fdhog died on '$*': $(cat "$T/hog.err")"
		sleep 0.01
	done
	sed -n "$((before + 1))p" "$T/hog.out"
}

# Ends fdhog, closing its connections, and checks it exited 0.
hog_stop() {
	echo quit >&4
	exec 4>&-
	wait "$HOGPID" || fail "fdhog exited with status $?"
	HOGPID=
}

# Prints field NAME of an fdhog answer ("open 5 welcome 3 ..." -> 3).
hog_field() {
	echo "$1" | awk -v k="$2" '{ for (i = 1; i < NF; i++) if ($i == k)
	    print $(i + 1) }'
}

# ---- reloaderctl ----------------------------------------------------------
# Helpers for the reloaderctl tests (t-ctl*.sh).  They run the real
# reloaderctl on the test's socket, several named hosts at once, and
# background followers (subscribe, tail -f), all killed at exit; a test
# that uses them calls ctl_setup first.

CTL=${CTL:-$TOP/$O/reloaderctl}
CTL_PIDS=

# Arranges for every background process of these helpers to be killed
# at exit, before lib.sh's own cleanup.
ctl_setup() {
	trap ctl_cleanup EXIT
}

# Kills the named hosts and followers, then runs the usual cleanup.
ctl_cleanup() {
	for p in $CTL_PIDS; do
		kill "$p" 2>/dev/null || true
	done
	for p in $CTL_PIDS; do
		wait "$p" 2>/dev/null || true
	done
	CTL_PIDS=
	cleanup
}

# Runs reloaderctl on the test's socket: its output in $T/ctl.out, its
# errors in $T/ctl.err, its exit status in $ctl_rc.
ctl() {
	ctl_rc=0
	"$CTL" -s "$SOCK" "$@" >"$T/ctl.out" 2>"$T/ctl.err" || ctl_rc=$?
}

# Fails the test showing the last reloaderctl's output and errors.
ctl_fail() {
	echo "--- reloaderctl output:" >&2
	cat "$T/ctl.out" >&2 2>/dev/null || true
	echo "--- reloaderctl errors:" >&2
	cat "$T/ctl.err" >&2 2>/dev/null || true
	fail "$*"
}

# Asserts the last reloaderctl's exit status.
ctl_status() {
	[ "$ctl_rc" -eq "$1" ] ||
	    ctl_fail "reloaderctl exited $ctl_rc, not $1${2:+ ($2)}"
}

# Asserts that the last reloaderctl's output (out) or errors (err) have
# a line matching a basic regular expression.
ctl_has() {
	grep -q -- "$2" "$T/ctl.$1" ||
	    ctl_fail "no line matching '$2' in reloaderctl's std$1"
}

# Asserts that they have no line matching.
ctl_hasnt() {
	! grep -q -- "$2" "$T/ctl.$1" ||
	    ctl_fail "a line matching '$2' in reloaderctl's std$1"
}

# Counts the lines of the last reloaderctl's output (out) or errors
# (err) that match.
ctl_count() {
	c=$(grep -c -- "$2" "$T/ctl.$1" 2>/dev/null || true)
	echo "${c:-0}"
}

# Starts reloaderctl ARGS... in the background as NAME: output in
# $T/NAME.out, errors in $T/NAME.err, pid in $T/NAME.pid.
ctl_bg() {
	name=$1
	shift
	: >"$T/$name.out"
	"$CTL" -s "$SOCK" "$@" >"$T/$name.out" 2>"$T/$name.err" &
	echo $! >"$T/$name.pid"
	CTL_PIDS="$CTL_PIDS $!"
}

# Counts the lines of follower NAME's output that match.
bg_count() {
	c=$(grep -c -- "$2" "$T/$1.out" 2>/dev/null || true)
	echo "${c:-0}"
}

# Waits (up to 10 s) until at least N lines (default 1) of follower
# NAME's output match.
bg_wait() {
	n=${3:-1}
	tries=1000
	while [ "$(bg_count "$1" "$2")" -lt "$n" ]; do
		tries=$((tries - 1))
		if [ "$tries" -le 0 ] || ! kill -0 "$(cat "$T/$1.pid")" \
		    2>/dev/null; then
			sed 's/^/    /' "$T/$1.out" "$T/$1.err" >&2
			fail "$1: no $n x '$2' (reloaderctl $1 running: \
$(kill -0 "$(cat "$T/$1.pid")" 2>/dev/null && echo yes || echo no))"
		fi
		sleep 0.01
	done
}

# Waits until subscriber NAME really receives events: a hold and a
# release, repeated until one shows (subscribe says nothing before its
# first event).  PATTERN is what a release looks like in its output.
sub_sync() {
	tries=200
	before=$(bg_count "$1" "$2")
	while [ "$(bg_count "$1" "$2")" -le "$before" ]; do
		tries=$((tries - 1))
		[ "$tries" -gt 0 ] || fail "subscriber $1 never saw an event"
		"$CTL" -s "$SOCK" hold >/dev/null
		"$CTL" -s "$SOCK" release >/dev/null
		sleep 0.01
	done
}

# Starts test host NAME (tests/e2e/host.c, named NAME) on the daemon's
# socket with the given options and modules; commands go in through
# $T/NAME.in, held open by a sleeping writer; output in $T/NAME.out.
hst_start() {
	name=$1
	shift
	rm -f "$T/$name.in"
	mkfifo "$T/$name.in"
	: >"$T/$name.out"
	TMPDIR=$T GATE=$T/gate "$HOST" -s "$SOCK" -n "$name" "$@" <"$T/$name.in" \
	    >>"$T/$name.out" 2>"$T/$name.err" &
	echo $! >"$T/$name.pid"
	CTL_PIDS="$CTL_PIDS $!"
	sleep 3600 >"$T/$name.in" &
	CTL_PIDS="$CTL_PIDS $!"
}

# Prints host NAME's pid.
hst_pid() {
	cat "$T/$1.pid"
}

# Counts host NAME's output lines that match.
hst_count() {
	c=$(grep -c -- "$2" "$T/$1.out" 2>/dev/null || true)
	echo "${c:-0}"
}

# Waits (up to 10 s) until at least N lines (default 1) of host NAME's
# output match.
hst_wait() {
	n=${3:-1}
	tries=1000
	while [ "$(hst_count "$1" "$2")" -lt "$n" ]; do
		tries=$((tries - 1))
		[ "$tries" -gt 0 ] || fail "timed out waiting for $n x '$2' \
from host $1"
		kill -0 "$(hst_pid "$1")" 2>/dev/null ||
		    fail "host $1 died waiting for '$2': $(cat "$T/$1.err")"
		sleep 0.01
	done
}

# Sends host NAME a command and prints its answer: the next line that is
# neither an event nor an async result.
hst_cmd() {
	name=$1
	shift
	before=$(grep -cv '^\(event\|async\) ' "$T/$name.out" || true)
	echo "$*" >"$T/$name.in"
	tries=1000
	while :; do
		now=$(grep -cv '^\(event\|async\) ' "$T/$name.out" || true)
		[ "$now" -gt "$before" ] && break
		tries=$((tries - 1))
		[ "$tries" -gt 0 ] || fail "no answer from host $name to '$*'"
		kill -0 "$(hst_pid "$name")" 2>/dev/null ||
		    fail "host $name died on '$*'"
		sleep 0.01
	done
	grep -v '^\(event\|async\) ' "$T/$name.out" | sed -n "$((before + 1))p"
}

# Asserts that host NAME answers a command with exactly the text given.
hst_expect() {
	name=$1
	want=$2
	shift 2
	got=$(hst_cmd "$name" "$@")
	[ "$got" = "$want" ] ||
	    fail "host $name: '$*' answered '$got', not '$want'"
}

# Counts the lines of follower NAME's output that contain every one of
# the fixed strings given, in any order (for JSON objects).
bg_count_all() {
	name=$1
	shift
	WANT_ALL=$(printf '%s\n' "$@") awk '
	BEGIN { n = split(ENVIRON["WANT_ALL"], w, "\n") }
	{
		ok = 1
		for (i = 1; i <= n && ok; i++)
			if (w[i] != "" && index($0, w[i]) == 0)
				ok = 0
		c += ok
	}
	END { print c + 0 }' "$T/$name.out"
}

# Waits (up to 10 s) until a line of follower NAME's output contains
# every one of the fixed strings given.
bg_wait_all() {
	name=$1
	shift
	tries=1000
	while [ "$(bg_count_all "$name" "$@")" -lt 1 ]; do
		tries=$((tries - 1))
		if [ "$tries" -le 0 ]; then
			sed 's/^/    /' "$T/$name.out" "$T/$name.err" >&2
			fail "$name: no line with all of: $*"
		fi
		sleep 0.01
	done
}

# ---- Erlang ------------------------------------------------------------
# Helpers for the Erlang client's tests (t-erlang*.sh, issue 5).  A node
# runs reloader_client from $O/erlang/ebin and the remote control
# clients/erlang/test/rc_node.erl: it reads one Erlang expression per
# line from the FIFO $T/NAME.in and answers `= Value' or `! Class:Why'
# in $T/NAME.out; its logger writes to $T/NAME.log.  Call erl_init first.

# Sets the Erlang tests' variables and a cleanup that also stops their
# nodes, and the epmd they started, before the common one.
erl_init() {
	ERL_EBIN=$TOP/$O/erlang/ebin
	ERL_TEST=$TOP/$O/erlang/test
	ERL_NODES=""
	ERL_FD=5
	EPMD_STARTED=
	[ -f "$ERL_EBIN/reloader_client.app" ] ||
	    fail "$ERL_EBIN is not built (make O=$O tests)"
	trap 'erl_cleanup; cleanup' EXIT
}

# Kills the nodes still running, then the private epmd if one started;
# when the test failed, shows the nodes' logs first.
erl_cleanup() {
	rc=$?
	if [ "$rc" -ne 0 ]; then
		for n in $ERL_NODES; do
			echo "--- node $n log:" >&2
			tail -n 40 "$T/$n.log" >&2 2>/dev/null || true
		done
	fi
	for n in $ERL_NODES; do
		p=$(cat "$T/$n.pid" 2>/dev/null || true)
		[ -n "$p" ] && kill -KILL "$p" 2>/dev/null || true
	done
	for n in $ERL_NODES; do
		p=$(cat "$T/$n.pid" 2>/dev/null || true)
		[ -n "$p" ] && wait "$p" 2>/dev/null || true
	done
	if [ -n "$EPMD_STARTED" ]; then
		epmd -port "$ERL_EPMD_PORT" -kill >/dev/null 2>&1 || true
	fi
}

# Uses a private epmd port for distributed nodes, so that the tests
# never touch a user's epmd; erl_cleanup kills the epmd started on it.
erl_dist() {
	ERL_EPMD_PORT=$((20000 + $$ % 20000))
	export ERL_EPMD_PORT
	EPMD_STARTED=1
}

# Starts node NAME with reloader_client's settings ENV (Erlang terms
# `{key, value}' separated by commas; the socket is $SOCK unless ENV
# names one) and extra erl arguments; $ROOT is in its code path.  Waits
# until it answers; the client is not started (erl_cmd NAME
# 'reloader_client:start().').
erl_start() {
	name=$1
	env=${2:-}
	if [ $# -ge 2 ]; then shift 2; else shift $#; fi
	case $env in
	*"{socket,"*) ;;
	"") env="{socket, \"$SOCK\"}" ;;
	*) env="{socket, \"$SOCK\"}, $env" ;;
	esac
	cat >"$T/$name.config" <<-CONF
	[{kernel, [{logger_level, info},
	  {logger, [{handler, default, logger_std_h,
	    #{config => #{type => standard_error},
	      formatter => {logger_formatter, #{single_line => true,
	        template => [time, " ", level, " ", msg, "\n"]}}}}]}]},
	 {reloader_client, [$env]}].
	CONF
	rm -f "$T/$name.in"
	mkfifo "$T/$name.in"
	: >"$T/$name.out"
	: >"$T/$name.log"
	ERL_FD=$((ERL_FD + 1))
	# Held open read-write so that each command's writer closing it is
	# no end of input for the node.
	eval "exec $ERL_FD<>\"\$T/\$name.in\""
	erl -noshell -pa "$ERL_EBIN" -pa "$ERL_TEST" -pa "$ROOT" \
	    -config "$T/$name" "$@" -s rc_node main \
	    <"$T/$name.in" >>"$T/$name.out" 2>>"$T/$name.log" &
	echo $! >"$T/$name.pid"
	ERL_NODES="$ERL_NODES $name"
	tries=1000
	until grep -q '^ready$' "$T/$name.out"; do
		tries=$((tries - 1))
		[ "$tries" -gt 0 ] || erl_fail "$name" "node $name did not start"
		sleep 0.01
	done
}

# Fails the test, showing the node's output and log too.
erl_fail() {
	name=$1
	shift
	for n in $ERL_NODES; do
		echo "--- node $n output:" >&2
		tail -n 20 "$T/$n.out" >&2
		echo "--- node $n log:" >&2
		tail -n 40 "$T/$n.log" >&2
	done
	fail "$@"
}

# Sends node NAME an expression and prints its answer.
erl_cmd() {
	name=$1
	shift
	before=$(grep -c '^[=!] ' "$T/$name.out" || true)
	printf '%s\n' "$*" >"$T/$name.in"
	tries=1500
	while :; do
		now=$(grep -c '^[=!] ' "$T/$name.out" || true)
		[ "$now" -gt "$before" ] && break
		tries=$((tries - 1))
		[ "$tries" -gt 0 ] || erl_fail "$name" "no answer from $name to '$*'"
		kill -0 "$(cat "$T/$name.pid")" 2>/dev/null ||
		    erl_fail "$name" "node $name died on '$*'"
		sleep 0.01
	done
	grep '^[=!] ' "$T/$name.out" | sed -n "$((before + 1))p"
}

# Asserts that node NAME answers an expression with exactly `= WANT'.
erl_expect() {
	name=$1
	want=$2
	shift 2
	got=$(erl_cmd "$name" "$@")
	[ "$got" = "= $want" ] ||
	    erl_fail "$name" "$name: '$*' answered '$got', not '= $want'"
}

# Counts the lines of node NAME's log matching a basic regular expression.
erl_log_count() {
	c=$(grep -c -- "$2" "$T/$1.log" 2>/dev/null || true)
	echo "${c:-0}"
}

# Waits (up to 10 s) until at least N lines (default 1) of node NAME's
# log match.
erl_log_wait() {
	n=${3:-1}
	tries=1000
	while [ "$(erl_log_count "$1" "$2")" -lt "$n" ]; do
		tries=$((tries - 1))
		[ "$tries" -gt 0 ] ||
		    erl_fail "$1" "timed out waiting for $n x '$2' in $1's log"
		sleep 0.01
	done
}

# Stops node NAME cleanly and waits for it.
erl_stop() {
	printf 'init:stop().\n' >"$T/$1.in"
	wait "$(cat "$T/$1.pid")" 2>/dev/null || true
	rm -f "$T/$1.pid"
}

# Compiles the Erlang module MOD, its source on standard input, into DIR
# with erlc, as a build does; extra arguments go to erlc.
mkerl() {
	dir=$1
	mod=$2
	shift 2
	mkdir -p "$T/erl" "$dir"
	cat >"$T/erl/$mod.erl"
	erlc "$@" -o "$dir" "$T/erl/$mod.erl" ||
	    fail "erlc failed on $mod"
}

# Compiles the fixture clients/erlang/test/fixtures/MOD.erl into DIR with
# erlc (extra arguments, -DVALUE=2 and the like, go to erlc); with a
# third argument NAME, as module NAME instead.
erl_fixture() {
	dir=$1
	mod=$2
	shift 2
	name=$mod
	case ${1:-} in
	-*|"") ;;
	*) name=$1; shift ;;
	esac
	sed "s/^-module($mod)/-module($name)/" \
	    "$TOP/clients/erlang/test/fixtures/$mod.erl" | mkerl "$dir" "$name" "$@"
}

# Asserts that node NAME's answer to an expression contains TEXT (a
# fixed string).
erl_has() {
	name=$1
	text=$2
	shift 2
	got=$(erl_cmd "$name" "$@")
	case $got in
	*"$text"*) ;;
	*) erl_fail "$name" "$name: '$*' answered '$got', without '$text'" ;;
	esac
}

# ---- OpenSSH -------------------------------------------------------------
# Helpers for reloader across machines (t-remote-ssh.sh, issue 15): a
# private sshd from Debian's openssh-server on 127.0.0.1, with its own
# configuration, host key and authorized key under $T/ssh, and ssh
# clients, all logging in as the test's user, that the test ends (and
# waits for) at exit.  sshd runs as that user, unprivileged, when it is
# not root; as root it needs its privilege separation directory
# /run/sshd, which it gets in a mount namespace of its own (/run there
# is $T/run), so nothing outside $T changes.  The client's settings are
# in $T/ssh/config, for the host "remote": `ssh -F "$SSH_CONFIG" remote`.
# Call ssh_init after ctl_setup; it skips the test if sshd cannot run.

SSHD=${SSHD:-/usr/sbin/sshd}
SSHD_PID=
SSH_NAMES=

# Checks that sshd can run here, makes the keys, and arranges for every
# ssh and the sshd to be ended at exit, before the other cleanups.
ssh_init() {
	for c in ssh ssh-keygen; do
		command -v $c >/dev/null 2>&1 || skip "$c is not installed" \
		    "(openssh-client; sh scripts/deps.sh check installs it)"
	done
	[ -x "$SSHD" ] || skip "$SSHD is not installed (openssh-server;" \
	    "sh scripts/deps.sh check installs it)"
	SSH_USER=$(id -un)
	SSH_CONFIG=$T/ssh/config
	SSHD_NS=
	if [ "$(id -u)" -eq 0 ] && [ ! -d /run/sshd ]; then
		unshare -m true 2>/dev/null || skip "sshd run as root needs" \
		    "/run/sshd, and unshare -m (to make it in a mount" \
		    "namespace of the test's own) is not permitted here"
		SSHD_NS=1
		mkdir -p "$T/run"
	fi
	mkdir -p "$T/ssh"
	ssh-keygen -q -t ed25519 -N '' -C reloader-test-host \
	    -f "$T/ssh/host_key" || fail "ssh-keygen failed (host key)"
	ssh-keygen -q -t ed25519 -N '' -C reloader-test -f "$T/ssh/id" ||
	    fail "ssh-keygen failed (user key)"
	cp "$T/ssh/id.pub" "$T/ssh/authorized_keys"
	trap 'ssh_cleanup; ctl_cleanup' EXIT
}

# Ends the ssh clients, then sshd once the sessions they had are gone;
# shows sshd's log if the test failed.
ssh_cleanup() {
	rc=$?
	for n in $SSH_NAMES; do
		kill "$(cat "$T/$n.pid")" 2>/dev/null || true
	done
	for n in $SSH_NAMES; do
		wait "$(cat "$T/$n.pid")" 2>/dev/null || true
	done
	SSH_NAMES=
	[ -n "$SSHD_PID" ] || return 0
	# Each session's sshd ends when its client has gone.
	tries=500
	while pgrep -P "$SSHD_PID" >/dev/null 2>&1 && [ "$tries" -gt 0 ]; do
		tries=$((tries - 1))
		sleep 0.01
	done
	pkill -P "$SSHD_PID" 2>/dev/null || true
	kill "$SSHD_PID" 2>/dev/null || true
	wait "$SSHD_PID" 2>/dev/null || true
	SSHD_PID=
	if [ "$rc" -ne 0 ]; then
		echo "--- sshd log:" >&2
		tail -n 30 "$T/sshd.log" >&2 2>/dev/null || true
	fi
}

# Writes sshd's configuration and the client's for port PORT.
ssh_config() {
	cat >"$T/ssh/sshd_config" <<-CONF
	ListenAddress 127.0.0.1
	Port $1
	HostKey $T/ssh/host_key
	PidFile none
	AuthorizedKeysFile $T/ssh/authorized_keys
	# $T lies in /tmp, which anyone may write to.
	StrictModes no
	UsePAM no
	AllowUsers $SSH_USER
	PermitRootLogin prohibit-password
	PubkeyAuthentication yes
	PasswordAuthentication no
	KbdInteractiveAuthentication no
	AllowStreamLocalForwarding yes
	StreamLocalBindUnlink yes
	X11Forwarding no
	PermitTTY no
	PrintMotd no
	LogLevel VERBOSE
	CONF
	echo "[127.0.0.1]:$1 $(cat "$T/ssh/host_key.pub")" >"$T/ssh/known_hosts"
	cat >"$SSH_CONFIG" <<-CONF
	Host remote
		HostName 127.0.0.1
		Port $1
		User $SSH_USER
		IdentityFile $T/ssh/id
		IdentitiesOnly yes
		IdentityAgent none
		UserKnownHostsFile $T/ssh/known_hosts
		GlobalKnownHostsFile /dev/null
		StrictHostKeyChecking yes
		UpdateHostKeys no
		BatchMode yes
		ControlMaster no
		ControlPath none
		ExitOnForwardFailure yes
		StreamLocalBindUnlink yes
	CONF
}

# Starts sshd on a free port of 127.0.0.1 (trying the next one while the
# port is taken) and waits until it listens.
sshd_start() {
	port=$((20000 + $$ % 20000))
	first=$port
	while [ "$port" -lt $((first + 16)) ]; do
		ssh_config "$port"
		: >"$T/sshd.log"
		if [ -n "$SSHD_NS" ]; then
			# shellcheck disable=SC2016
			unshare -m sh -c 'mount --bind "$1" /run &&
			    mkdir -p -m 0755 /run/sshd && shift &&
			    exec "$@"' sh "$T/run" "$SSHD" -D -e \
			    -f "$T/ssh/sshd_config" >>"$T/sshd.log" 2>&1 &
		else
			"$SSHD" -D -e -f "$T/ssh/sshd_config" \
			    >>"$T/sshd.log" 2>&1 &
		fi
		SSHD_PID=$!
		tries=1000
		while ! grep -q "^Server listening on 127.0.0.1 port $port" \
		    "$T/sshd.log"; do
			kill -0 "$SSHD_PID" 2>/dev/null || break
			tries=$((tries - 1))
			[ "$tries" -gt 0 ] || fail "sshd did not listen within 10 s"
			sleep 0.01
		done
		kill -0 "$SSHD_PID" 2>/dev/null && return 0
		wait "$SSHD_PID" 2>/dev/null || true
		SSHD_PID=
		grep -q 'Address already in use' "$T/sshd.log" ||
		    fail "sshd did not start: $(cat "$T/sshd.log")"
		port=$((port + 1))
	done
	fail "sshd found no free port from $first to $((port - 1))"
}

# Runs `ssh -N ARGS... remote` in the background as NAME (its messages
# in $T/NAME.err) and waits until every forward it asks for is in place.
ssh_forward() {
	name=$1
	shift
	: >"$T/$name.err"
	ssh -F "$SSH_CONFIG" -v -N "$@" remote 2>"$T/$name.err" &
	echo $! >"$T/$name.pid"
	SSH_NAMES="$SSH_NAMES $name"
	tries=1000
	# What ssh -v says when a -L listens, or when sshd has taken a -R.
	ready='Local forwarding listening on path'
	ready="$ready\\|all expected forwarding replies received"
	while ! grep -q "$ready" "$T/$name.err"; do
		if ! kill -0 "$(cat "$T/$name.pid")" 2>/dev/null; then
			grep -v '^debug' "$T/$name.err" >&2
			fail "ssh $* did not forward"
		fi
		tries=$((tries - 1))
		[ "$tries" -gt 0 ] || fail "ssh $* did not forward within 10 s"
		sleep 0.01
	done
}

# Ends ssh NAME and waits for it.
ssh_stop() {
	kill "$(cat "$T/$1.pid")" 2>/dev/null || true
	wait "$(cat "$T/$1.pid")" 2>/dev/null || true
	SSH_NAMES=$(echo "$SSH_NAMES" | tr ' ' '\n' | grep -vx "$1" |
	    tr '\n' ' ')
}

# Sends lines from the fake daemon (clients/erlang/test/rc_fake.erl,
# started in node n1) to the client.
erl_fake_send() {
	for l in "$@"; do
		erl_expect n1 ok "rc_fake:send(\"$l\")."
	done
}

# Prints the stamp of a beam as the daemon would send it (node n1).
erl_stamp_of() {
	erl_cmd n1 "rc_fake:stamp(\"$1\")." | sed 's/^= "\(.*\)"$/\1/'
}

# Builds the test application APP (clients/erlang/test/APP: nine9s, tt)
# at VSN into $LIB/APP/ebin with clients/erlang/test/rc_apps.erl; its
# options follow (V2, BAD_APPLY: macros; appup: the .appup too;
# no_MOD: leave MOD out).
erl_app_build() {
	app=$1
	vsn=$2
	shift 2
	RC_APPS_SRC=$TOP/clients/erlang/test erl -noshell -pa "$ERL_TEST" \
	    -s rc_apps main "$app" "$vsn" "$LIB" "$@" ||
	    fail "could not build $app $vsn $*"
}

# Prints what the web server on $port answers for a path: the body,
# then a space and the status code.
erl_http() {
	curl -s -o - -w ' %{http_code}' "http://127.0.0.1:$port$1"
}

# Asserts that the web server on $port answers PATH with BODY (one line)
# and status CODE.
erl_http_is() {
	got=$(erl_http "$1")
	[ "$got" = "$2
 $3" ] || fail "$1 answered '$got', not '$2' $3"
}

# Builds seed 004's nine9s at VSN (0.1.0, or 0.2.0 with its appup and
# relup from 0.1.0) as a rebar3 release in $T/proj, as the seed does,
# with reloader_client in it (an app of the project: in a release's
# embedded mode only the release's modules load) attaching to socket
# SOCKET as "rel"; the tarball is left in the release directory.
erl_rel_build() {
	vsn=$1
	P=$T/proj
	mkdir -p "$P/apps/nine9s/src" "$P/apps/reloader_client" "$P/config" \
	    "$T/home"
	S=$TOP/clients/erlang/test/nine9s/src
	rm -rf "$P/apps/reloader_client/src"
	cp -r "$TOP/clients/erlang/src" "$P/apps/reloader_client/"
	sed "s/\"VSN\"/\"$vsn\"/" "$S/nine9s.app.src" \
	    >"$P/apps/nine9s/src/nine9s.app.src"
	case $vsn in
	0.1.0)
		opts=debug_info
		for m in nine9s_app nine9s_web nine9s_sup default_handler; do
			cp "$S/$m.erl" "$P/apps/nine9s/src/"
		done
		;;
	*)
		opts="debug_info, {d, 'V2'}"
		cp "$S"/*.erl "$P/apps/nine9s/src/"
		;;
	esac
	cat >"$P/rebar.config" <<-EOF
	{erl_opts, [$opts]}.
	{deps, []}.
	{relx, [{release, {nine9s, "$vsn"}, [nine9s, sasl, reloader_client]},
	        {sys_config, "./config/sys.config"},
	        {vm_args, "./config/vm.args"},
	        {dev_mode, false},
	        {include_erts, false},
	        {extended_start_script, true}]}.
	EOF
	cat >"$P/config/sys.config" <<-EOF
	[{nine9s, [{port, 0}]},
	 {reloader_client, [{socket, "$2"}, {name, "rel"}]}].
	EOF
	printf '%s\n' '-sname nine9s' '-setcookie nine9s' >"$P/config/vm.args"
	(
		cd "$P"
		export HOME="$T/home"
		rebar3 compile
		# The seed's step: the appup goes beside the beams by hand.
		[ "$vsn" = 0.1.0 ] ||
		    cp "$S/nine9s.appup.src" _build/default/lib/nine9s/ebin/nine9s.appup
		rebar3 release
		[ "$vsn" = 0.1.0 ] || rebar3 relup -n nine9s -v "$vsn" -u 0.1.0
		rebar3 tar -n nine9s -v "$vsn"
	) >"$T/rebar3.log" 2>&1 || {
		tail -20 "$T/rebar3.log" >&2
		fail "rebar3 could not build nine9s $vsn"
	}
}

# Installs nine9s 0.1.0's tarball in $T/target and starts the release
# there (node "rel", in the Erlang tests' list, so that the cleanup
# stops it).
erl_rel_start() {
	R=$T/target
	mkdir -p "$R"
	tar xzf "$T/proj/_build/default/rel/nine9s/nine9s-0.1.0.tar.gz" -C "$R"
	HOME="$T/home" "$R/bin/nine9s" foreground >"$T/rel.log" 2>&1 &
	echo $! >"$T/rel.pid"
	ERL_NODES="$ERL_NODES rel"
}

# Evaluates an expression in the release node and prints its value.
erl_rel_eval() {
	tries=500
	until HOME="$T/home" "$T/target/bin/nine9s" eval "$1" 2>/dev/null; do
		tries=$((tries - 1))
		[ "$tries" -gt 0 ] || fail "the release node does not answer '$1'"
		sleep 0.02
	done
}

# ---- the example dev server ----------------------------------------------
# Helpers for the tests of examples/devserver (t-devserver*.sh): a test
# calls ds_setup first, builds its handlers into $DS/build/handlers, and
# starts the devserver on them with ds_start; GET requests go to its port.

DEVSERVER=${DEVSERVER:-$TOP/$O/examples/devserver}
SLOG=$T/devserver.log
SPID=
DS=$T/devserver

# Arranges for the devserver to be stopped at exit, before lib.sh's own
# cleanup.
ds_setup() {
	trap ds_cleanup EXIT
}

# Stops the devserver if it still runs, then does lib.sh's cleanup.
ds_cleanup() {
	if [ -n "$SPID" ]; then
		kill "$SPID" 2>/dev/null || true
		wait "$SPID" 2>/dev/null || true
	fi
	cleanup
}

# Fails the test, showing the devserver's log before the daemon's.
ds_fail() {
	echo "--- devserver log:" >&2
	cat "$SLOG" >&2 2>/dev/null || true
	fail "$@"
}

# Waits (up to 10 s) until the devserver has logged a line matching a
# basic regular expression.
ds_wait_log() {
	tries=1000
	until grep -q -- "$1" "$SLOG" 2>/dev/null; do
		tries=$((tries - 1))
		[ "$tries" -gt 0 ] || ds_fail "timed out waiting for '$1'"
		kill -0 "$SPID" 2>/dev/null ||
		    ds_fail "the devserver died while waiting for '$1'"
		sleep 0.01
	done
}

# Prints the body of GET path.
get() {
	curl -s --max-time 5 "http://127.0.0.1:$PORT$1" ||
	    ds_fail "curl $1 failed with status $?"
}

# Waits (up to 10 s) until GET path answers a body matching a basic
# regular expression, and prints that body.
wait_get() {
	tries=1000
	while :; do
		body=$(get "$1")
		if printf '%s\n' "$body" | grep -q -- "$2"; then
			printf '%s\n' "$body"
			return
		fi
		tries=$((tries - 1))
		[ "$tries" -gt 0 ] ||
		    ds_fail "GET $1 still answers '$body', not '$2'"
		sleep 0.01
	done
}

# Starts the devserver on the daemon's socket, serving $DS/build/handlers
# (or the directory given), and waits until it listens and is attached;
# its port goes in $PORT, its log in $SLOG.
ds_start() {
	"$DEVSERVER" -p 0 -s "$SOCK" "${1:-$DS/build/handlers}" >"$SLOG" 2>&1 &
	SPID=$!
	ds_wait_log '^devserver: listening on http://127\.0\.0\.1:[0-9]*/'
	PORT=$(sed -n \
	    's|^devserver: listening on http://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' \
	    "$SLOG")
	ds_wait_log '^devserver: attached to reloaderd'
}
