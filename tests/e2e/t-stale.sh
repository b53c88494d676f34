#!/bin/sh
# No silent staleness (issue 10): the paths through which a host used to
# stay on old code while `reloaderctl list` said all was well, each with
# real libreloader hosts.  Symlinked module paths (a link renamed over,
# ln -sfn, a directory link, a link out of the watched root, a link
# switched to an identical build); a failed `reloaderctl build` whose
# discarded change the next build offers; a load refused while old code
# runs, offered again once it is purged; a forced reload that keeps the
# rollback target; a module file that cannot be read for a while; and the
# one rule that names a module.  After each, the host runs what is on
# disk and `list` says current, or names the state and its reason.
# backends: inotify poll
. tests/e2e/lib.sh
ctl_setup

# Prints the state `list` gives module MOD of host NAME.
state_of() {
	ctl -j list "$1"
	sed -n 's/.*"type":"loaded".*"module":"'"$2"'".*"state":"\([^"]*\)".*/\1/p' \
	    "$T/ctl.out"
}

# Asserts that module MOD of host NAME is in STATE, and (for current)
# not stale.
expect_state() {
	got=$(state_of "$1" "$2")
	[ "$got" = "$3" ] || ctl_fail "$1 $2: state '$got', not '$3'"
	if [ "$3" = current ]; then
		grep -q '"module":"'"$2"'".*"stale":false' "$T/ctl.out" ||
		    ctl_fail "$1 $2: current but stale"
	fi
}

# Waits until module MOD of host NAME is in STATE.
wait_state() {
	tries=500
	while [ "$(state_of "$1" "$2")" != "$3" ]; do
		tries=$((tries - 1))
		[ "$tries" -gt 0 ] || ctl_fail "$1 $2 never became $3"
		sleep 0.02
	done
}

# Replaces link NAME by a new one to TARGET the way rename-into-place
# tools do: a fresh link renamed over the old one.
relink() {
	ln -s "$2" "$1.new"
	mv -T "$1.new" "$1"
}

# ---- 1. Symlinked module paths, zero configuration --------------------
REL=$ROOT/rel
mkdir -p "$REL/release-7" "$REL/release-8" "$T/elsewhere"
mkmod "$REL/libfoo.so.1.1" greet -DGREETING='"foo 1.1"'
mkmod "$REL/libfoo.so.1.2" greet -DGREETING='"foo 1.2"'
mkmod "$REL/libfoo.so.1.3" greet -DGREETING='"foo 1.3"'
ln -s libfoo.so.1.1 "$REL/libfoo.so"
mkmod "$REL/release-7/handler.so" greet -DNONOTE -DGREETING='"r7"'
mkmod "$REL/release-8/handler.so" greet -DNONOTE -DGREETING='"r8"'
ln -s release-7 "$REL/current"
start
hst_start links "$REL/libfoo.so" "$REL/current/handler.so"
hst_wait links 'event connected'
wait_log 'links\[[0-9]*\] registered greet'
wait_log 'links\[[0-9]*\] registered handler'
hst_expect links "greet foo 1.1" call greet reply
expect_state links greet current

# A new link renamed over the old one.
relink "$REL/libfoo.so" libfoo.so.1.2
hst_wait links 'event reload greet ok'
hst_expect links "greet foo 1.2" call greet reply
wait_log 'rel/libfoo.so now leads to .*/rel/libfoo.so.1.2'
expect_state links greet current
# ln -sfn.
ln -sfn libfoo.so.1.3 "$REL/libfoo.so"
hst_wait links 'event reload greet ok' 2
hst_expect links "greet foo 1.3" call greet reply
# The target's contents change, through the link.
mkmod "$REL/libfoo.so.1.3" greet -DGREETING='"foo 1.3b"'
hst_wait links 'event reload greet ok' 3
hst_expect links "greet foo 1.3b" call greet reply
# A link switched to an identical build reloads nothing.
cp "$REL/libfoo.so.1.3" "$REL/libfoo-copy.so"
relink "$REL/libfoo.so" libfoo-copy.so
wait_log 'rel/libfoo.so now leads to .*/rel/libfoo-copy.so'
# A real change after it, to know the switch was handled first.
mkmod "$REL/libfoo-copy.so" greet -DGREETING='"foo copy"'
hst_wait links 'event reload greet ok' 4
[ "$(hst_count links 'event reload greet')" -eq 4 ] ||
    fail "a switch to an identical build reloaded"
hst_expect links "greet foo copy" call greet reply
# A directory link switched to another release.
ln -sfn release-8 "$REL/current"
hst_wait links 'event reload handler ok'
hst_expect links "greet r8" call handler reply
expect_state links handler current
# A link to a file outside every watched directory.
mkmod "$T/elsewhere/out.so" greet -DGREETING='"out 1"'
relink "$REL/libfoo.so" "$T/elsewhere/out.so"
hst_wait links 'event reload greet ok' 5
hst_expect links "greet out 1" call greet reply
mkmod "$T/elsewhere/out.so" greet -DGREETING='"out 2"'
hst_wait links 'event reload greet ok' 6
hst_expect links "greet out 2" call greet reply
# A link that leads nowhere is missing, not current; it ends when it
# leads somewhere again.
relink "$REL/libfoo.so" libfoo.so.9
wait_log 'rel/libfoo.so no longer leads to a file'
expect_state links greet missing
grep -q '"reason":"No such file or directory; offered when it resolves again"' \
    "$T/ctl.out" || ctl_fail "missing without its reason"
mkmod "$REL/libfoo.so.9" greet -DGREETING='"foo 9"'
hst_wait links 'event reload greet ok' 7
hst_expect links "greet foo 9" call greet reply
expect_state links greet current
echo "symlinks: $(hst_count links 'event reload .* ok') reloads"

# ---- 6. One rule names a module, everywhere ---------------------------
mkmod "$ROOT/hello.v2.so" greet -DNONOTE -DGREETING='"hv1"'
ctl_bg names subscribe --json
sub_sync names '"type":"release"'
hst_start named "$ROOT/hello.v2.so"
wait_log 'named\[[0-9]*\] registered hello\.v2 '
mkmod "$ROOT/hello.v2.so" greet -DNONOTE -DGREETING='"hv2"'
hst_wait named 'event reload hello.v2 ok'
wait_log 'changed .*hello\.v2\.so module=hello\.v2 '
bg_wait_all names '"type":"change"' '"module":"hello.v2"'
expect_state named hello.v2 current
hst_expect named "greet hv2" call hello.v2 reply
stop
for h in links named; do
	kill "$(hst_pid $h)" 2>/dev/null || true
done

# ---- 2. A failed build's discarded change, offered at the next build ---
P=$T/proj
mkdir -p "$P"
cat >"$P/Makefile" <<EOF
all: $ROOT/ha.so $ROOT/hb.so
$ROOT/%.so: %.c
	gcc -shared -fPIC -Wl,--build-id=sha1 -I$TOP/include -o \$@ \$<
EOF
# Writes handler NAME returning TEXT (or, with "broken", bad C).
handler() {
	if [ "$2" = broken ]; then
		echo 'this is not C' >"$P/$1.c"
	else
		printf '#include "reloader.h"\nRELOADER_MODULE("%s");\nconst char *reply(void *s) { return "%s"; }\n' \
		    "$1" "$2" >"$P/$1.c"
	fi
}
handler ha "a1"
handler hb "b1"
make -s -C "$P"
start
hst_start proj "$ROOT/ha.so" "$ROOT/hb.so"
wait_log 'proj\[[0-9]*\] registered hb'
hst_expect proj "a1" call ha reply
# Edit both, break one: make -k builds the other, the build fails.
sleep 0.01
handler ha "a2"
handler hb broken
touch -d '+1 second' "$P/ha.c" "$P/hb.c"
ctl build -- make -s -k -C "$P"
[ "$ctl_rc" -ne 0 ] || ctl_fail "the broken build succeeded"
ctl_has err 'nothing delivered'
hst_expect proj "a1" call ha reply
expect_state proj ha discarded
grep -q '"reason":"a build that failed wrote it; offered when the next build ends"' \
    "$T/ctl.out" || ctl_fail "discarded without its reason"
# Fix the broken one; make rewrites only it; both are delivered.
handler hb "b2"
touch -d '+2 seconds' "$P/hb.c"
ctl build -- make -s -C "$P"
ctl_status 0
hst_expect proj "a2" call ha reply
hst_expect proj "b2" call hb reply
expect_state proj ha current
expect_state proj hb current
# The same with plain make after the failed build.
handler ha "a3"
handler hb broken
touch -d '+3 seconds' "$P/ha.c" "$P/hb.c"
ctl build -- make -s -k -C "$P"
expect_state proj ha discarded
handler hb "b3"
touch -d '+4 seconds' "$P/hb.c"
make -s -C "$P"
hst_wait proj 'event reload hb ok' 2
hst_wait proj 'event reload ha ok' 2
hst_expect proj "a3" call ha reply
hst_expect proj "b3" call hb reply
expect_state proj ha current
kill "$(hst_pid proj)"
stop

# ---- 3. Refused while old code runs; offered again once it is purged ---
mkmod "$ROOT/greet.so" greet -DGREETING='"v1"'
rm -f "$T/gate"
start
hst_start purge "$ROOT/greet.so"
wait_log 'purge\[[0-9]*\] registered greet'
hst_expect purge "spawned 1" spawn greet slow
mkmod "$ROOT/greet.so" greet -DGREETING='"v2"'
hst_wait purge 'event reload greet ok'
mkmod "$ROOT/greet.so" greet -DGREETING='"v3"'
hst_wait purge 'event reload greet load-failed .*failed=purge'
wait_log 'not loaded: old code still runs; offered again once it is purged'
hst_expect purge "greet v2" call greet reply
expect_state purge greet waiting-for-purge
# The call leaves; the old version is purged; v3 loads with no change.
touch "$T/gate"
hst_wait purge '^async 1: slow v1'
hst_wait purge 'event reload greet ok' 2
hst_expect purge "greet v3" call greet reply
expect_state purge greet current

# ---- 4. A forced reload keeps the rollback target ---------------------
mkmod "$ROOT/greet.so" greet -DGREETING='"v5"'
hst_wait purge 'event reload greet ok' 3
mkmod "$ROOT/greet.so" greet -DGREETING='"v8"'
hst_wait purge 'event reload greet ok' 4
ctl reload greet
ctl_status 0
hst_wait purge 'event reload greet ok' 5
hst_expect purge "greet v8" call greet reply
ctl rollback greet
ctl_status 0
hst_expect purge "greet v5" call greet reply
ctl_hasnt out 'not'
expect_state purge greet rolled-back
# The rollback goes forward again.
ctl rollback greet
ctl_status 0
hst_expect purge "greet v8" call greet reply
expect_state purge greet current
kill "$(hst_pid purge)"
stop

# A client that says ok to a rollback but still runs the same version:
# not a rollback that worked, and reloaderctl does not say ok.
start
client_stamp=build-id:$(buildid "$ROOT/greet.so")
open_client liar 7
to liar "> hello proto=1 pid=1 name=liar" "< welcome" \
    "> register module=greet path=$ROOT/greet.so stamp=$client_stamp prev=build-id:0123" \
    "< registered"
wait_recv liar 1 registered
ctl_bg rb rollback greet
wait_recv liar 1 module module=greet action=rollback
b=$(sed -n 's/^< reload batch=\([0-9]*\).*/\1/p' "$T/liar.out" | tail -n 1)
to liar "> result batch=$b module=greet status=ok stamp=$client_stamp" \
    "> done batch=$b"
wait_log 'rolling back greet .* in liar\[1\] \.\.\. failed'
bg_wait rb 'greet in liar\[1\]: load failed'
rc=0
wait "$(cat "$T/rb.pid")" || rc=$?
[ "$rc" -ne 0 ] || fail "reloaderctl rollback exited 0 for a rollback that changed nothing"
close_client liar
stop
echo "purge, force and rollback: ok"

# ---- 7. A module deleted while the daemon was away ---------------------
# The host still runs it.  Registered again when the daemon is back, it
# is listed missing, with the version the host runs and why, not left out
# of `list`; a file there again is offered.  The same for a module of a
# set.  (Before, the registration was refused as no-such-file, and `list`
# showed nothing of what the host ran.)
GONE=$ROOT/gone
mkdir -p "$GONE/set"
mkmod "$GONE/solo.so" greet -DNONOTE -DGREETING='"solo 1"'
mkmod "$GONE/set/a.so" counter -DNAME='"a"'
mkmod "$GONE/set/b.so" counter -DNAME='"b"'
start
hst_start away -S "$GONE/set" "$GONE/solo.so"
hst_wait away 'event connected'
hst_wait away 'event added b '
wait_log 'away\[[0-9]*\] registered solo'
hst_expect away "greet solo 1" call solo reply
hst_expect away "count=1 v1" call b reply
solo1=build-id:$(buildid "$GONE/solo.so")
kill -KILL "$DPID"
wait "$DPID" 2>/dev/null || true
DPID=
hst_wait away 'event disconnected'
rm "$GONE/solo.so" "$GONE/set/b.so"
start
hst_wait away 'event connected' 2
wait_log "away\[[0-9]*\] registered solo (.*), which it runs ($solo1) but whose file is missing: No such file or directory; offered when a file is there again"
wait_state away solo missing
grep -q '"module":"solo".*"have":"'"$solo1"'".*"disk":"none:".*"stale":true.*"reason":"No such file or directory; offered when it resolves again"' \
    "$T/ctl.out" || ctl_fail "solo: missing without what it runs or why"
wait_state away b missing
expect_state away a current
hst_expect away "greet solo 1" call solo reply
hst_expect away "count=2 v1" call b reply
# Back: offered, and current.
mkmod "$GONE/solo.so" greet -DNONOTE -DGREETING='"solo 2"'
hst_wait away 'event reload solo ok'
hst_expect away "greet solo 2" call solo reply
expect_state away solo current
kill "$(hst_pid away)"
stop
echo "deleted while away: ok"
