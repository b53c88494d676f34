# The example dev server: handlers edited and rebuilt while it runs are
# served at once, and the counter's state survives its reload.
# backends: any
. tests/e2e/lib.sh

ds_setup

# A copy of the example's handlers, built the way a user builds them.
mkdir -p "$DS"
cp examples/devserver/Makefile examples/devserver/*.c \
    examples/devserver/*.h "$DS"
rm -f "$DS/devserver.c"
make -s -C "$DS" RELOADER_INCLUDE="$TOP/include" ||
    fail "make -C devserver failed"

# Zero configuration: the daemon watches what the devserver loaded.
start
ds_start

[ "$(get /hello)" = "hello, world" ] || ds_fail "GET /hello: $(get /hello)"
[ "$(get /count)" = "count=1" ] || ds_fail "GET /count: not count=1"
[ "$(get /count)" = "count=2" ] || ds_fail "GET /count: not count=2"
[ "$(get /count)" = "count=3" ] || ds_fail "GET /count: not count=3"
get /nowhere | grep -q 'no handler' || ds_fail "GET /nowhere: not a 404"

# Edit both handlers and rebuild them, as a user would.
sed -i 's/hello, world/hello, reloaded world/' "$DS/hello.c"
sed -i 's/"count=%d\\n"/"count is %d\\n"/' "$DS/count.c"
grep -q 'count is' "$DS/count.c" || fail "test setup: count.c not edited"
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
ds_wait_log '^devserver: reloaded count ok'
wait_log 'reloading hello .* ok'
wait_log 'reloading count .* ok'

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
