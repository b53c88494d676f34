# Fan-out: one change reaches every one of many clients of a module, in
# one batch each, exactly once; a client that still has a batch out gets
# the next change as soon as it answers, and only then.
# backends: inotify
. tests/e2e/lib.sh

FANCLIENTS=${FANCLIENTS:-$TOP/$O/tests/fanclients}
N=300

# Waits (up to 20 s) until the clients have said a line N times (1).
fan_expect() {
	tries=2000
	while [ "$(grep -cx -- "$1" "$T/fan.out" || true)" -lt "${2:-1}" ]; do
		tries=$((tries - 1))
		[ "$tries" -gt 0 ] || { cat "$T/fan.out" "$T/fan.err" >&2;
		    fail "timed out waiting for the clients to say '$1'"; }
		kill -0 "$HOGPID" 2>/dev/null || { cat "$T/fan.err" >&2;
		    fail "the clients exited waiting for '$1'"; }
		sleep 0.01
	done
}

mkso "$ROOT/m.so" 1
s1=build-id:$(buildid "$ROOT/m.so")
start -w build
mkfifo "$T/fan.in"
: >"$T/fan.out"
"$FANCLIENTS" "$SOCK" "$N" "$ROOT/m.so" "$s1" <"$T/fan.in" >"$T/fan.out" \
    2>"$T/fan.err" &
HOGPID=$!
exec 5>"$T/fan.in"
fan_expect "registered $N"

# One change: one batch each, offering it, and nothing else.
mkso "$ROOT/m.so" 2
echo "wait build-id:$(buildid "$ROOT/m.so")" >&5
fan_expect "batches $N offered $N other 0"
wait_log ' info reloading m (build/m\.so) in fan[0-9]*\[[0-9]*\] \.\.\. ok' "$N"

# Batches left out: the next change waits for each client's answer.
mkso "$ROOT/m.so" 3
echo "wait build-id:$(buildid "$ROOT/m.so") hold" >&5
fan_expect "batches $N offered $N other 0" 2
mkso "$ROOT/m.so" 4
s4=build-id:$(buildid "$ROOT/m.so")
sync_marker
echo answer >&5
fan_expect "answered $N"
echo "wait $s4" >&5
fan_expect "batches $N offered $N other 0" 3
wait_log ' info reloading m (build/m\.so) in fan[0-9]*\[[0-9]*\] \.\.\. ok' \
    "$((N * 3))"

# Nothing more: a last change finds exactly one batch each again.
mkso "$ROOT/m.so" 5
echo "wait build-id:$(buildid "$ROOT/m.so")" >&5
fan_expect "batches $N offered $N other 0" 4
echo quit >&5
exec 5>&-
wait "$HOGPID" || fail "the clients exited with status $?"
HOGPID=
expect_count ' warn ' 0
stop
