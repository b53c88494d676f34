# The example dev server: handlers edited and rebuilt while it runs are
# served at once, and the counter's state survives its reload.
# backends: any
. tests/e2e/lib.sh

DEVSERVER=${DEVSERVER:-$TOP/$O/examples/devserver}
SLOG=$T/devserver.log
SPID=
DS=$T/devserver

# Stops the devserver if it still runs, then does lib.sh's cleanup.
ds_cleanup() {
	if [ -n "$SPID" ]; then
		kill "$SPID" 2>/dev/null || true
		wait "$SPID" 2>/dev/null || true
	fi
	cleanup
}
trap ds_cleanup EXIT

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

# A copy of the example's handlers, built the way a user builds them.
mkdir -p "$DS"
cp examples/devserver/Makefile examples/devserver/*.c \
    examples/devserver/*.h "$DS"
rm -f "$DS/devserver.c"
make -s -C "$DS" RELOADER_INCLUDE="$TOP/include" ||
    fail "make -C devserver failed"

# Zero configuration: the daemon watches what the devserver loaded.
start
"$DEVSERVER" -p 0 -s "$SOCK" "$DS/build/hello.so" "$DS/build/counter.so" \
    >"$SLOG" 2>&1 &
SPID=$!
ds_wait_log '^devserver: listening on http://127\.0\.0\.1:[0-9]*/'
PORT=$(sed -n \
    's|^devserver: listening on http://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' "$SLOG")
ds_wait_log '^devserver: attached to reloaderd'

[ "$(get /hello)" = "hello, world" ] || ds_fail "GET /hello: $(get /hello)"
[ "$(get /count)" = "count=1" ] || ds_fail "GET /count: not count=1"
[ "$(get /count)" = "count=2" ] || ds_fail "GET /count: not count=2"
[ "$(get /count)" = "count=3" ] || ds_fail "GET /count: not count=3"
get /nowhere | grep -q 'no handler' || ds_fail "GET /nowhere: not a 404"

# Edit both handlers and rebuild them, as a user would.
sed -i 's/hello, world/hello, reloaded world/' "$DS/hello.c"
sed -i 's/"count=%d\\n"/"count is %d\\n"/' "$DS/counter.c"
grep -q 'count is' "$DS/counter.c" || fail "test setup: counter.c not edited"
make -s -C "$DS" RELOADER_INCLUDE="$TOP/include" ||
    fail "make -C devserver failed"

wait_get /hello '^hello, reloaded world$' >/dev/null
ds_wait_log '^devserver: reloaded hello ok'
# The count carries on from the old version: polling may have counted a
# few more in it, but it never starts again at 1.
n=$(wait_get /count '^count is [0-9]*$' | sed 's/count is //')
[ "$n" -ge 4 ] || ds_fail "the count was reset: count is $n after 3"
[ "$(get /count)" = "count is $((n + 1))" ] ||
    ds_fail "GET /count: not $((n + 1))"
ds_wait_log '^devserver: reloaded counter ok'
wait_log 'reloading hello .* ok'
wait_log 'reloading counter .* ok'

# A handler that does not compile changes nothing; one whose test hook
# fails is rolled back and the old version keeps serving.
sed -i -e 's/== 200 ? 0 : -1/== 200 ? 1 : -1/' \
    -e 's/hello, reloaded world/hello, broken world/' "$DS/hello.c"
make -s -C "$DS" RELOADER_INCLUDE="$TOP/include" ||
    fail "make -C devserver failed"
ds_wait_log '^devserver: reloaded hello rolled back'
[ "$(get /hello)" = "hello, reloaded world" ] ||
    ds_fail "a failing test hook did not roll back: $(get /hello)"

kill -TERM "$SPID"
wait "$SPID" || ds_fail "the devserver exited with status $?"
SPID=
grep -q '^devserver: stopping' "$SLOG" ||
    ds_fail "the devserver did not stop cleanly"
stop
