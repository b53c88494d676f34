#!/bin/sh
# reloaderctl build: a `make -j2` that rewrites six modules with pauses
# longer than the settle window (so that, unheld, they arrive as several
# batches, which the test shows first) delivers exactly one batch per
# host; a failing build delivers nothing and leaves the modules stale;
# the command's exit status passes through, a signal's as 128+N; a
# missing command is 127 with the hold released; SIGTERM to reloaderctl
# reaches the command and discards; with no daemon the build still runs.
# backends: any
. tests/e2e/lib.sh
ctl_setup

P=$T/proj
mkdir -p "$P"
cp "$TOP/tests/modules/greet.c" "$P/greet.c"
# Each module is written, then the build pauses 0.2 s (the settle window
# is 20 ms): unheld, the six modules arrive in three or more batches.
cat >"$P/Makefile" <<EOF
MODS = $ROOT/m1.so $ROOT/m2.so $ROOT/m3.so $ROOT/m4.so $ROOT/m5.so $ROOT/m6.so
all: \$(MODS)
$ROOT/%.so: greet.c
	gcc -shared -fPIC -Wl,--build-id=sha1 -I$TOP/include -DNONOTE \\
	    -DGREETING='"\$(V)"' -o \$@ greet.c
	sleep 0.2
fail: $ROOT/m1.so $ROOT/m2.so $ROOT/m3.so
	@echo "compiler error, say" >&2; exit 2
EOF
make -s -C "$P" V=v1 >/dev/null

start -w "$ROOT"
hst_start alpha "$ROOT/m1.so" "$ROOT/m2.so" "$ROOT/m3.so" "$ROOT/m4.so"
hst_start beta "$ROOT/m3.so" "$ROOT/m4.so" "$ROOT/m5.so" "$ROOT/m6.so"
wait_log 'alpha\[[0-9]*\] registered m4'
wait_log 'beta\[[0-9]*\] registered m6'
A=$(hst_pid alpha)
B=$(hst_pid beta)
ctl_bg subj subscribe --json
sub_sync subj '"type":"release"'
hst_expect alpha "greet v1" call m1 reply

# Counts the batch events the subscriber has seen.
batches() {
	bg_count subj '^{"type":"batch",'
}

# --- Without reloaderctl, the same build arrives as several batches.
n0=$(batches)
make -s -B -j2 -C "$P" V=v2 >/dev/null
hst_wait alpha 'event reload m4 ok'
hst_wait beta 'event reload m6 ok'
sync_marker
unheld=$(($(batches) - n0))
[ "$unheld" -gt 2 ] ||
    fail "unheld, the build came in $unheld batches; the test needs more"
hst_expect beta "greet v2" call m6 reply

# --- reloaderctl build: one batch per host, every result printed.
n0=$(batches)
ctl build -- make -s -B -j2 -C "$P" V=v3
ctl_status 0 "build -- make"
ctl_has err '^reloaderctl: build done: 8 modules delivered to 2 processes$'
for m in m1 m2 m3 m4; do
	ctl_has err "^reloaderctl: $m in alpha\[$A\]: ok [0-9.]* ms"
done
for m in m3 m4 m5 m6; do
	ctl_has err "^reloaderctl: $m in beta\[$B\]: ok [0-9.]* ms"
done
[ "$(ctl_count err ' in \(alpha\|beta\)\[')" -eq 8 ] ||
    ctl_fail "build: not 8 results"
sync_marker
[ "$(($(batches) - n0))" -eq 2 ] ||
    fail "build: $(($(batches) - n0)) batches, not one per host"
[ "$(bg_count_all subj '"type":"batch"' '"name":"alpha"' '"count":4')" \
    -eq 1 ] || fail "alpha did not get one batch of 4"
[ "$(bg_count_all subj '"type":"batch"' '"name":"beta"' '"count":4')" \
    -eq 1 ] || fail "beta did not get one batch of 4"
for m in m1 m2 m3 m4; do
	hst_expect alpha "greet v3" call $m reply
done
for m in m3 m4 m5 m6; do
	hst_expect beta "greet v3" call $m reply
done
wait_log "reloads released for [a-z0-9 ]* by reloaderctl\[[0-9]*\]: 8 modules delivered"

# --- A failing build delivers nothing; its modules show stale.
n0=$(batches)
na=$(hst_count alpha 'event reload')
ctl build -- make -s -B -j2 -C "$P" V=v4 fail
ctl_status 2 "the build's exit status passes through"
ctl_has err '^compiler error, say$'
ctl_has err '^reloaderctl: build failed (exit 2): nothing delivered'
# The release read everything the build wrote before it discarded it.
# (No sync_marker: a change that settles is a build that ends, which
# offers what was discarded.)
wait_log 'reloads released for [a-z0-9 ]* by .*: [0-9]* changes\? discarded'
[ "$(batches)" -eq "$n0" ] || fail "a failed build delivered a batch"
[ "$(hst_count alpha 'event reload')" -eq "$na" ] ||
    fail "a failed build reloaded alpha"
hst_expect alpha "greet v3" call m1 reply
ctl list
ctl_has out "alpha\[$A\]  *m1  .*stale (discarded)\$"
ctl_has out "alpha\[$A\]  *m3  .*stale (discarded)\$"
ctl_has out "beta\[$B\]  *m3  .*stale (discarded)\$"
ctl_has out "alpha\[$A\]  *m4  .*current\$"
ctl status
ctl_has out '^held  *no$'

# --build --always delivers even so.
ctl build --always -- make -s -B -j2 -C "$P" V=v5 fail
ctl_status 2
ctl_has err '^reloaderctl: build failed (exit 2), delivering anyway (--always): 4 modules delivered to 2 processes$'
hst_expect alpha "greet v5" call m2 reply
hst_expect beta "greet v5" call m3 reply

# --- A command killed by a signal: 128+N, nothing delivered.
n0=$(batches)
ctl build -- sh -c "make -s -B -C '$P' V=v6 $ROOT/m5.so; kill -TERM \$\$"
ctl_status 143 "a build killed by SIGTERM"
ctl_has err '^reloaderctl: build killed by Terminated: nothing delivered'
wait_log 'reloads released for [a-z0-9 ]* by .*: [0-9]* changes\? discarded' 2
[ "$(batches)" -eq "$n0" ] || fail "a killed build delivered a batch"

# --- A command that does not exist: 127, the hold released.
ctl build -- "$T/no-such-build-tool" -j2
ctl_status 127
ctl_has err "^reloaderctl: $T/no-such-build-tool: command not found\$"
ctl status
ctl_status 0
ctl_has out '^held  *no$'
ctl build -- "$P/Makefile"
ctl_status 126 "a command that is not executable"

# --- SIGTERM sent to reloaderctl reaches the command (which says so and
# exits 9, passed through); nothing goes out.
"$CTL" -s "$SOCK" build -- sh -c "make -s -B -C '$P' V=v7 $ROOT/m6.so
    trap 'echo term >\"$T/term\"; kill \$!; exit 9' TERM
    sleep 30 & echo \$\$ >'$T/started'; wait" >"$T/bt.out" 2>"$T/bt.err" &
bpid=$!
CTL_PIDS="$CTL_PIDS $bpid"
wait_path "$T/started" -s "the interrupted build to start"
kill -TERM "$bpid"
rc=0
wait "$bpid" || rc=$?
[ "$rc" -eq 9 ] || fail "interrupted build: exit $rc, not the command's 9"
[ -s "$T/term" ] || fail "SIGTERM did not reach the build's command"
grep -q '^reloaderctl: build interrupted (Terminated): nothing delivered' \
    "$T/bt.err" || fail "interrupted build: $(cat "$T/bt.err")"
wait_log "reloads released for [a-z0-9 ]* by reloaderctl\[$bpid\]: [0-9]* changes\? discarded"

# After all that the daemon is fine: status works, a host still reloads.
ctl status
ctl_status 0
ctl_has out '^held  *no$'
na=$(hst_count alpha 'event reload m1 ok')
ctl build -- make -s -B -C "$P" V=v8 "$ROOT/m1.so"
ctl_status 0
ctl_has err "^reloaderctl: m1 in alpha\[$A\]: ok"
hst_wait alpha 'event reload m1 ok' $((na + 1))
hst_expect alpha "greet v8" call m1 reply

# --- No daemon: the build runs all the same, saying so once.
stop
rc=0
"$CTL" -s "$SOCK" build -- sh -c 'echo built; exit 0' >"$T/nd.out" \
    2>"$T/nd.err" || rc=$?
[ "$rc" -eq 0 ] || fail "with no daemon, build exited $rc"
grep -q '^built$' "$T/nd.out" || fail "with no daemon, the build did not run"
[ "$(grep -c 'running the build without holding reloads' "$T/nd.err")" \
    -eq 1 ] || fail "with no daemon: $(cat "$T/nd.err")"
rc=0
"$CTL" -s "$SOCK" build -- sh -c 'exit 5' 2>/dev/null || rc=$?
[ "$rc" -eq 5 ] || fail "with no daemon, exit 5 became $rc"
echo "ok"
