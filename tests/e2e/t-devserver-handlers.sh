#!/bin/sh
# The example dev server's handlers directory (issue 13, item 4): /NAME
# is served from build/handlers/NAME.so, found at run time.  Adding
# count.c and running make serves /count without a restart; removing it
# and running make stops serving it (404); two handlers built together
# after a change to a header they share switch together, or, when one
# of them fails, neither does; make clean && make under reloaderctl build
# loses nothing.  Needs the daemon's side of protocol version 2.
# backends: any
. tests/e2e/lib.sh

ds_setup
CTL=${CTL:-$TOP/$O/reloaderctl}

# Runs the handlers' make as a user would, under reloaderctl build with
# the arguments given before "--", so that what it rebuilds arrives as
# one batch.
ds_make() {
	"$CTL" -s "$SOCK" build -- make -s -C "$DS" \
	    RELOADER_INCLUDE="$TOP/include" >"$T/make.out" 2>&1 ||
	    ds_fail "make -C devserver failed: $(cat "$T/make.out")"
}

# The example's handlers but count.c, and two that share a struct.
mkdir -p "$DS"
cp examples/devserver/Makefile examples/devserver/hello.c \
    examples/devserver/handler.h "$DS"
cat >"$DS/shared.h" <<'EOF'
/* What a and b both show: a version of one struct. */
#include <stdio.h>
struct shared {
	int version;
};
static const struct shared shared = { 1 };
EOF
for n in a b; do
	cat >"$DS/$n.c" <<EOF
#include "handler.h"
#include "shared.h"
RELOADER_MODULE("$n");
int
handle(void *state, char *body, size_t size)
{
	snprintf(body, size, "$n sees version %d\n", shared.version);
	return 200;
}
EOF
done
# b refuses version 3 of the struct.
cat >>"$DS/b.c" <<'EOF'
int
reloader_test(void *state)
{
	return shared.version == 3;
}
EOF
make -s -C "$DS" RELOADER_INCLUDE="$TOP/include" ||
    fail "make -C devserver failed"
start
ds_start
[ "$(get /hello)" = "hello, world" ] || ds_fail "GET /hello: $(get /hello)"
get /count | grep -q 'no handler' || ds_fail "GET /count: not a 404"
pid=$SPID

# count.c added: served at once, by the same process.
cp examples/devserver/count.c "$DS/"
ds_make
wait_get /count '^count=1$' >/dev/null
[ "$(get /count)" = "count=2" ] || ds_fail "GET /count: not count=2"
ds_wait_log '^devserver: serving /count$'
[ "$SPID" = "$pid" ] && kill -0 "$pid" || ds_fail "the devserver restarted"

# The struct both include changes: both switch, in one switch.
sed -i 's/{ 1 }/{ 2 }/' "$DS/shared.h"
ds_make
wait_get /a '^a sees version 2$' >/dev/null
[ "$(get /b)" = "b sees version 2" ] || ds_fail "GET /b: $(get /b)"
# At one instant, as the devserver logs it.
ds_wait_log '^devserver: reloaded b ok'
sa=$(sed -n 's/^devserver: reloaded a ok (.*, switched at \([0-9.]*\))$/\1/p' "$SLOG")
sb=$(sed -n 's/^devserver: reloaded b ok (.*, switched at \([0-9.]*\))$/\1/p' "$SLOG")
[ -n "$sa" ] && [ "$sa" = "$sb" ] ||
    ds_fail "a and b did not switch at one instant (a: '$sa', b: '$sb')"

# make clean && make: nothing lost, nothing served anew.
"$CTL" -s "$SOCK" build -- sh -c "make -s -C '$DS' clean &&
    make -s -C '$DS' RELOADER_INCLUDE='$TOP/include'" >"$T/make.out" 2>&1 ||
    ds_fail "make clean && make failed: $(cat "$T/make.out")"
[ "$(get /count)" = "count=3" ] || ds_fail "GET /count: not count=3"
[ "$(get /hello)" = "hello, world" ] || ds_fail "GET /hello: $(get /hello)"

# Version 3, which b's test refuses: neither switches.
sed -i 's/{ 2 }/{ 3 }/' "$DS/shared.h"
ds_make
ds_wait_log '^devserver: reloaded b rolled back .*reloader_test returned 1'
ds_wait_log '^devserver: reloaded a rolled back .*given up: b failed'
[ "$(get /a)" = "a sees version 2" ] || ds_fail "GET /a: $(get /a)"
[ "$(get /b)" = "b sees version 2" ] || ds_fail "GET /b: $(get /b)"

# count.c removed: make removes its module, and /count is gone.
rm "$DS/count.c"
ds_make
ds_wait_log '^devserver: no longer serving /count$'
get /count | grep -q 'no handler' || ds_fail "GET /count: not a 404"
[ "$(get /hello)" = "hello, world" ] || ds_fail "GET /hello: $(get /hello)"
grep -q 'no longer serving /\(hello\|a\|b\)' "$SLOG" &&
    ds_fail "make clean && make removed a handler"

kill -TERM "$SPID"
wait "$SPID" || ds_fail "the devserver exited with status $?"
SPID=
stop
