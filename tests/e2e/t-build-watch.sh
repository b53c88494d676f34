#!/bin/sh
# reloaderctl build --watch (issue 15): the sources are watched by the
# daemon (watch-sources), the first build runs at once, a save while idle
# starts one, and three saves during a build (with an editor's swap and
# backup files) make exactly one more build after it; the host gets the
# reload.  Editors' files alone never start a build.  Ctrl-C between
# builds exits 0; during a build it reaches the command, delivers
# nothing, exits 130 and leaves no child.  No daemon: exit 2.
#
# Each build runs build.sh: it appends a line to $T/count, then waits
# for the test to open the gate (a FIFO), then compiles the module the
# host has loaded from src/*.c and inc/.  No sleep synchronises anything.
# backends: inotify poll
. tests/e2e/lib.sh
ctl_setup

env --default-signal=INT true 2>/dev/null ||
    skip "env --default-signal (coreutils 8.31) is needed to run" \
    "reloaderctl with SIGINT not ignored, as a shell's background job has it"

P=$T/proj
mkdir -p "$P/src" "$P/inc"
mkfifo "$T/gate"
: >"$T/count"

# Writes src/a.c: the greet fixture saying greeting $1.
save_a() {
	{ echo "#define GREETING \"$1\""; cat "$TOP/tests/modules/greet.c"; } \
	    >"$P/src/a.c"
}

# Writes src/NAME.c, a function returning $2.
save_c() {
	printf '#include "extra.h"\nint %s_value(void) { return %s + EXTRA; }\n' \
	    "$1" "$2" >"$P/src/$1.c"
}

save_a v1
save_c b 1
save_c c 1
echo '#define EXTRA 0' >"$P/inc/extra.h"
cat >"$T/build.sh" <<EOF
echo \$\$ >>"$T/count"
if [ -e "$T/compile-first" ]; then
	gcc -shared -fPIC -Wl,--build-id=sha1 -I"$TOP/include" -I"$P/inc" \\
	    -o "$ROOT/greet.so" "$P"/src/*.c || exit 1
	echo \$\$ >"$T/compiled"
fi
read go <"$T/gate"
exec gcc -shared -fPIC -Wl,--build-id=sha1 -I"$TOP/include" -I"$P/inc" \\
    -o "$ROOT/greet.so" "$P"/src/*.c
EOF
gcc -shared -fPIC -Wl,--build-id=sha1 -I"$TOP/include" -I"$P/inc" \
    -o "$ROOT/greet.so" "$P"/src/*.c

start -w "$ROOT"
hst_start alpha "$ROOT/greet.so"
wait_log 'alpha\[[0-9]*\] registered greet'
A=$(hst_pid alpha)
hst_expect alpha "greet v1" call greet reply

# Ends the watchers still running, each with its process group (its
# builds included), then the usual cleanup.
WATCHERS=
watch_cleanup() {
	for w in $WATCHERS; do
		kill -TERM "-$(cat "$T/$w.pid")" 2>/dev/null || true
	done
	ctl_cleanup
}
trap watch_cleanup EXIT

# Starts reloaderctl build -v ARGS... -- sh build.sh in $P as watcher
# NAME (output and errors both in $T/NAME.out), in a session and process
# group of its own, SIGINT as a terminal would leave it: the test's
# Ctrl-C is a SIGINT to that group.
watch_start() {
	name=$1
	shift
	# bg_wait shows NAME.err too.
	: >"$T/$name.err"
	(cd "$P" && exec setsid env --default-signal=INT "$CTL" -s "$SOCK" \
	    build -v "$@" -- sh "$T/build.sh") >"$T/$name.out" 2>&1 &
	echo $! >"$T/$name.pid"
	WATCHERS="$WATCHERS $name"
}

# Sends watcher NAME's process group SIGNAL, as Ctrl-C does with SIGINT,
# and waits for it: its exit status in $watch_rc.
watch_signal() {
	kill "-$2" "-$(cat "$T/$1.pid")"
	watch_rc=0
	wait "$(cat "$T/$1.pid")" || watch_rc=$?
	WATCHERS=$(echo "$WATCHERS" | tr ' ' '\n' | grep -vx "$1" | tr '\n' ' ')
}

# Waits (up to 10 s) until N builds have started.
wait_count() {
	tries=1000
	while [ "$(wc -l <"$T/count")" -lt "$1" ]; do
		tries=$((tries - 1))
		[ "$tries" -gt 0 ] || fail "$(wc -l <"$T/count") builds, not $1"
		sleep 0.01
	done
}

# Lets build N (once started) go on to compile.
gate() {
	wait_count "$1"
	timeout 10 sh -c "echo go >'$T/gate'" ||
	    fail "build $1 never opened the gate"
}

# Lists watcher NAME's lines saying what started a build.
triggers() {
	grep ', building$\|; building$' "$T/$1.out" | sed "s|$P/||g"
}

# --- The first build runs at once.
watch_start w1 -w 'src/*.c' -w inc
bg_wait w1 '^reloaderctl: watching src/\*\.c (3 files), inc (1 file); building$'
gate 1
bg_wait w1 '^reloaderctl: build done'

# --- Editors' files alone start nothing: written while idle, then a
# real save, which must be the one build they come with.
for f in src/.a.c.swp src/a.c~ inc/.extra.h.swp inc/.extra.h.swx \
    inc/extra.h~ inc/4913 inc/x.tmp 'inc/#extra.h#' inc/.#extra.h \
    inc/.goutputstream-X1Y2Z3 inc/extra.h___jb_tmp___ \
    inc/extra.h___jb_old___; do
	echo junk >"$P/$f"
done
save_c c 2
bg_wait w1 "^reloaderctl: $P/src/c.c changed, building\$"
gate 2
bg_wait w1 '^reloaderctl: build done' 2
na=$(hst_count alpha 'event reload greet ok')

# --- A save while idle starts build 3; three files saved during it (and
# an editor's swap and backup files) make exactly one more, build 4.
save_a v2
bg_wait w1 "^reloaderctl: $P/src/a.c changed, building\$"
wait_count 3
save_a v3
save_c b 3
save_c c 3
echo junk >"$P/src/.a.c.swp"
echo junk >"$P/src/a.c~"
for f in a b c; do
	bg_wait w1 "^reloaderctl: $P/src/$f.c changed (during the build)\$"
done
gate 3
bg_wait w1 '^reloaderctl: build done' 3
# Build 3 compiled what was saved by then: the host runs v3.
bg_wait w1 "^reloaderctl: greet in alpha\[$A\]: ok"
hst_wait alpha 'event reload greet ok' $((na + 1))
hst_expect alpha "greet v3" call greet reply
bg_wait w1 '^reloaderctl: 3 files changed, building$'
gate 4
bg_wait w1 '^reloaderctl: build done' 4
# One more save: the next build's line follows at once, so that no
# other came between.
save_c b 4
bg_wait w1 "^reloaderctl: $P/src/b.c changed, building\$"
gate 5
bg_wait w1 '^reloaderctl: build done' 5
want='reloaderctl: watching src/*.c (3 files), inc (1 file); building
reloaderctl: src/c.c changed, building
reloaderctl: src/a.c changed, building
reloaderctl: 3 files changed, building
reloaderctl: src/b.c changed, building'
[ "$(triggers w1)" = "$want" ] || fail "the builds were started by:
$(triggers w1)
not:
$want"
[ "$(wc -l <"$T/count")" -eq 5 ] ||
    fail "$(wc -l <"$T/count") builds, not 5: $(cat "$T/w1.out")"
# The daemon never reported an editor's file.
! grep 'swp\|swx\|~\|4913\|\.tmp\|#\|goutputstream\|___jb_' "$T/w1.out" ||
    fail "an editor's file was reported as a change"

# --- Ctrl-C between builds: exit 0, nothing said.
lines=$(wc -l <"$T/w1.out")
watch_signal w1 INT
[ "$watch_rc" -eq 0 ] || fail "Ctrl-C between builds: exit $watch_rc, not 0:
$(cat "$T/w1.out")"
[ "$(wc -l <"$T/w1.out")" -eq "$lines" ] ||
    fail "Ctrl-C between builds said: $(sed "1,${lines}d" "$T/w1.out")"

# --- Ctrl-C during a build that has written the module: the command
# gets it, nothing is delivered, exit 130, the child is gone.
: >"$T/count"
watch_start w2 -w src
bg_wait w2 '^reloaderctl: watching src ([0-9]* files\?); building$'
gate 1
bg_wait w2 '^reloaderctl: build done'
na=$(hst_count alpha 'event reload')
touch "$T/compile-first"
save_a v4
wait_count 2
wait_path "$T/compiled" -s "the build to write the module"
child=$(cat "$T/compiled")
watch_signal w2 INT
[ "$watch_rc" -eq 130 ] || fail "Ctrl-C during a build: exit $watch_rc, not 130:
$(cat "$T/w2.out")"
! kill -0 "$child" 2>/dev/null || fail "the build ($child) still runs"
grep -q '^reloaderctl: build interrupted (Interrupt): nothing delivered' \
    "$T/w2.out" || fail "interrupted build: $(cat "$T/w2.out")"
# (No sync_marker: a change that settles with no hold offers what a
# failed build discarded.)
wait_log "reloads released for [a-z0-9 ]* by reloaderctl\[[0-9]*\]: [0-9]* changes\? discarded"
[ "$(hst_count alpha 'event reload')" -eq "$na" ] ||
    fail "the interrupted build was delivered"
hst_expect alpha "greet v3" call greet reply
ctl list
ctl_has out "alpha\[$A\]  *greet  .*stale (discarded)\$"

# --- Bad patterns and no daemon: said, and nothing runs.
ctl build -w 'nosuch/*.c' -- sh "$T/build.sh"
ctl_status 64
ctl_has err '^reloaderctl: --watch nosuch/\*\.c: nosuch: No such file'
stop
(cd "$P" && "$CTL" -s "$SOCK" build -w 'src/*.c' -- sh "$T/build.sh") \
    >"$T/nd.out" 2>&1 && rc=0 || rc=$?
[ "$rc" -eq 2 ] || fail "--watch with no daemon: exit $rc, not 2"
grep -q 'build --watch needs the daemon' "$T/nd.out" ||
    fail "--watch with no daemon: $(cat "$T/nd.out")"
[ "$(wc -l <"$T/count")" -eq 2 ] || fail "a build ran without the daemon"
echo "ok"
