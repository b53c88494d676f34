#!/bin/sh
# Upgrades in C hosts (issue 13; docs/PROTOCOL.md, "Version 2:
# upgrades"): libreloader hosts and the real daemon, protocol version 2.
# What a build changed together switches together, or not at all.
#
# - One host, three modules built together, the third's test hook
#   failing: all three stay on their old version with their state, and
#   each says why; the next build, with the third fixed, switches all
#   three at once, their state carried over.
# - Four hosts with the same two modules, and a host that speaks only
#   protocol 1: a good build is switched by all four together while the
#   version-1 host reloads on its own; a test hook that fails in one of
#   the four keeps all four on their old code; a host killed before it
#   answered the prepare aborts the switch for the others; the next
#   build goes through.
# backends: any
. tests/e2e/lib.sh
ctl_setup

# Builds counter module NAME, with the extra gcc flags given, into
# $T/stage.
stage() {
	n=$1
	shift
	mkmod "$T/stage/$n.so" counter -DNAME="\"$n\"" "$@"
}

# Prints when module NAME last switched in host HOST (host if none),
# from its reload event's at=.
at_of() {
	sed -n "s/^event reload $1 ok .* at=\([0-9.]*\) reason=.*/\1/p" \
	    "$T/${2:-host}.out" | tail -n 1
}

# Puts the staged modules NAME... in place as one build, under
# reloaderctl build, so that they reach each host as one batch.
build() {
	files=
	for n in "$@"; do
		files="$files $T/stage/$n.so"
	done
	# shellcheck disable=SC2086
	"$CTL" -s "$SOCK" build -- cp $files "$ROOT/" >"$T/build.out" 2>&1 ||
	    fail "reloaderctl build failed: $(cat "$T/build.out")"
}

# --- One host, three modules: the third fails, all three stay.
for n in a b c; do
	mkmod "$ROOT/$n.so" counter -DNAME="\"$n\""
done
start
host_start "$ROOT/a.so" "$ROOT/b.so" "$ROOT/c.so"
host_wait 'event connected'
wait_log 'registered c ('
host_expect "count=1 v1" call a reply
host_expect "count=1 v1" call b reply
host_expect "count=2 v1" call b reply
host_expect "count=1 v1" call c reply

stage a -DV2
stage b -DV2
stage c -DV2 -DWITH_TEST=1
build a b c
host_wait 'event reload c rolled-back .* failed=test at=0\.000000 reason=reloader_test returned 1$'
host_wait 'event reload a rolled-back .*reason=given up: c failed: reloader_test returned 1$'
host_wait 'event reload b rolled-back .*reason=given up: c failed: reloader_test returned 1$'
wait_log 'aborted: .*c failed in host\[[0-9]*\]: reloader_test returned 1'
host_expect "count=2 v1" call a reply
host_expect "count=3 v1" call b reply
host_expect "count=2 v1" call c reply
[ "$(host_count 'event reload [abc] ok')" -eq 0 ] ||
	fail "a module switched in a batch that failed"

# c fixed: the next build switches all three, with their state.
stage c -DV2
build c
host_wait 'event reload a ok'
host_wait 'event reload b ok'
host_wait 'event reload c ok'
# At one instant.
[ "$(at_of a)" = "$(at_of b)" ] && [ "$(at_of b)" = "$(at_of c)" ] ||
	fail "a, b and c switched at $(at_of a), $(at_of b), $(at_of c)"
host_expect "count=3 v2" call a reply
host_expect "count=4 v2" call b reply
host_expect "count=3 v2" call c reply
host_stop
stop

# --- Four hosts and a version-1 host with the same two modules.
for n in x y; do
	mkmod "$ROOT/$n.so" counter -DNAME="\"$n\"" -DTEST_ENV
done
start
for h in w1 w2 w3 w4; do
	RL_FAIL=$T/fail-$h RL_STALL=$T/stall-$h
	export RL_FAIL RL_STALL
	hst_start "$h" "$ROOT/x.so" "$ROOT/y.so"
done
unset RL_FAIL RL_STALL
hst_start old -1 "$ROOT/x.so" "$ROOT/y.so"
for h in w1 w2 w3 w4 old; do
	hst_wait "$h" 'event connected'
	hst_expect "$h" "count=1 v1" call x reply
done
wait_log 'old\[[0-9]*\] registered y ('

# A good build: the four switch together, the old host on its own.
stage x -DV2 -DTEST_ENV -DGEN=2
build x
for h in w1 w2 w3 w4 old; do
	hst_wait "$h" 'event reload x ok'
	hst_expect "$h" "count=2 v2" call x reply
done
wait_log 'switch [0-9]*: 4 processes switched together, [0-9.]* ms apart'
wait_log 'speaks protocol 1: reloaded on its own'

# A test hook fails in w3: none of the four switches.
: >"$T/fail-w3"
stage x -DV2 -DTEST_ENV -DGEN=3
stage y -DV2 -DTEST_ENV -DGEN=3
build x y
for h in w1 w2 w4; do
	hst_wait "$h" 'event reload y rolled-back .*reason=aborted: .*failed in w3\['
	hst_wait "$h" 'event reload x rolled-back .*reason=aborted: .*failed in w3\['
done
hst_wait w3 'event reload x rolled-back .*failed=test'
hst_wait old 'event reload y ok'
for h in w1 w2 w3 w4; do
	hst_expect "$h" "count=3 v2" call x reply
	hst_expect "$h" "count=1 v1" call y reply
done
hst_expect old "count=1 v2" call y reply
rm "$T/fail-w3"

# w4 is killed while it prepares: the others abort.
: >"$T/stall-w4"
stage x -DV2 -DTEST_ENV -DGEN=4
for h in w1 w2 w3; do
	eval "n_$h=\$(count_log \"reloading x (.*) in $h\\[[0-9]*\\] \\.\\.\\. prepared\")"
done
# (reloaderctl build waits for every result: in the background.)
build x &
bpid=$!
for h in w1 w2 w3; do
	eval "n=\$n_$h"
	wait_log "reloading x (.*) in $h\\[[0-9]*\\] \\.\\.\\. prepared" $((n + 1))
done
kill -KILL "$(hst_pid w4)"
for h in w1 w2 w3; do
	hst_wait "$h" 'event reload x rolled-back .*reason=aborted: w4\[[0-9]*\] went away'
	hst_expect "$h" "count=4 v2" call x reply
done
wait "$bpid" || fail "the build killed a host in failed"
rm "$T/stall-w4"

# The next build goes through in the three left (y again too: it failed
# in w3, which takes it only from a build that changes it).
stage x -DV2 -DTEST_ENV -DGEN=5
stage y -DV2 -DTEST_ENV -DGEN=5
build x y
for h in w1 w2 w3; do
	hst_wait "$h" 'event reload x ok' 2
	hst_wait "$h" 'event reload y ok'
	hst_expect "$h" "count=5 v2" call x reply
	hst_expect "$h" "count=2 v2" call y reply
done
wait_log 'switch [0-9]*: 3 processes switched together'
stop
