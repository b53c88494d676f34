#!/bin/sh
# reloaderctl against a live daemon with two real hosts attached: status,
# list (and list CLIENT), subscribe (human and --json), tail and tail -f
# showing a reload made during the test, reload MODULE and reload --all
# with one result per host, rollback back to the previous version, hold
# and release; values that are not plain text (a path with a tab and a
# byte that is not UTF-8) come out escaped, and colour only on a
# terminal.
# backends: any
. tests/e2e/lib.sh
ctl_setup
# Byte-wise matching: one path below is not UTF-8.
LC_ALL=C
export LC_ALL

# A directory whose name has a space, a tab and the byte 0xff.
ODD="$T/od d$(printf '\t\377')x"
mkmod "$ROOT/greet.so" greet -DGREETING='"v1"'
mkdir -p "$ODD"
mkmod "$ODD/odd.so" greet -DNONOTE -DGREETING='"odd1"'
start
hst_start alpha "$ROOT/greet.so" "$ODD/odd.so"
hst_start beta "$ROOT/greet.so"
wait_log 'alpha\[[0-9]*\] registered greet'
wait_log 'alpha\[[0-9]*\] registered odd'
wait_log 'beta\[[0-9]*\] registered greet'
A=$(hst_pid alpha)
B=$(hst_pid beta)

# --- status: the daemon, its watches, its clients and modules.
ctl status
ctl_status 0
ctl_has out "^daemon  *reloaderd [0-9.]*, pid $DPID, up "
ctl_has out "^socket  *$SOCK\$"
ctl_has out '^inotify  *[0-9]* watch'
ctl_has out '^clients  *2 attached, 1 control connection$'
ctl_has out '^modules  *3 registered$'
ctl_has out '^reloads  *0 ok, 0 load failed, 0 rolled back, 0 test failed'
ctl_has out "^ROOT  *BACKEND  *DIRS  *FILES  *STATE"
ctl_has out "^$ROOT  *\(inotify\|poll\)  *1  *1  *watching  *for clients"
ctl -j status
ctl_status 0
ctl_has out '^{"type":"counts","clients":2,.*"modules":3'
[ "$(ctl_count out '^{"type":"daemon",.*}$')" -eq 1 ] ||
    ctl_fail "status -j: not one daemon object"

# --- list: each host with its modules, loaded and on-disk stamps.
g1=$(buildid "$ROOT/greet.so")
short=$(echo "$g1" | cut -c1-8)
ctl list
ctl_status 0
ctl_has out '^ID  *CLIENT  *MODULE  *LOADED  *ON DISK  *STATE$'
ctl_has out "^[0-9]*  *alpha\[$A\]  *greet  *build-id:$short\.\.  *build-id:$short\.\.  *current$"
ctl_has out "^[0-9]*  *beta\[$B\]  *greet  *build-id:$short\.\.  *build-id:$short\.\.  *current$"
ctl_has out '^2 clients, 3 modules, 0 stale$'
ctl -v list beta
ctl_status 0
ctl_has out "beta\[$B\]  *greet  *build-id:$g1  *build-id:$g1  *current  *$ROOT/greet.so\$"
ctl_hasnt out alpha
ctl_has out '^1 client, 1 module, 0 stale$'

# Names and paths are bytes: escaped for a terminal (the tab and the
# byte 0xff, which is not UTF-8, as \xHH), valid JSON for scripts (the
# tab as \t, the byte 0xff as \u00ff).
ctl -v list alpha
ctl_has out 'od d\\x09\\xffx/odd.so$'
ctl -j list alpha
ctl_status 0
ctl_has out '"path":"[^"]*/od d\\t\\u00ffx/odd.so"'
ctl_has out '^{"type":"loaded",.*"module":"odd"'
ctl_has out '^{"type":"client",.*"name":"alpha"'
ctl_has out '^{"type":"client",.*"pid":'"$A"','

# --- subscribe and tail -f, started before a change.
ctl_bg sub subscribe
ctl_bg subj subscribe --json
sub_sync sub '^release: '
sub_sync subj '"type":"release"'
ctl_bg tailf tail -f -n 1
bg_wait tailf '^[0-9T:.-]*Z [a-z]* '

mkmod "$ROOT/greet.so" greet -DGREETING='"v2"'
g2=$(buildid "$ROOT/greet.so")
hst_wait alpha 'event reload greet ok'
hst_wait beta 'event reload greet ok'
hst_expect alpha "greet v2" call greet reply
# tail -f shows the reload as the daemon logs it, while it happens.
bg_wait tailf "Z info reloading greet (.*greet\.so) in alpha\[$A\] \.\.\. ok"
bg_wait tailf "Z info reloading greet (.*greet\.so) in beta\[$B\] \.\.\. ok"
# subscribe: the change, one batch per host, one result per host.
bg_wait sub "^change $ROOT/greet.so greet build-id:$(echo "$g2" | cut -c1-8)\.\. was build-id:$short\.\.\$"
bg_wait sub "^batch [0-9]* to alpha\[$A\]: 1 module\$"
bg_wait sub "^result greet in alpha\[$A\]: ok [0-9.]* ms"
bg_wait sub "^result greet in beta\[$B\]: ok [0-9.]* ms"
bg_wait_all subj '{"type":"change",' "\"path\":\"$ROOT/greet.so\"" \
    "\"stamp\":\"build-id:$g2\"" "\"was\":\"build-id:$g1\"" \
    '"module":"greet"'
bg_wait_all subj '{"type":"result",' '"name":"beta"' '"module":"greet"' \
    '"status":"ok"' "\"stamp\":\"build-id:$g2\"" '"load":'
bg_wait_all subj '{"type":"batch",' '"name":"alpha"' '"count":1,' \
    '"batch":' '"client":'

# tail without -f: the recent lines from the daemon's memory, then exit.
ctl tail -n 50
ctl_status 0
ctl_has out "Z info reloading greet (.*) in alpha\[$A\] \.\.\. ok"
[ "$(ctl_count out .)" -eq 50 ] || ctl_fail "tail -n 50 printed \
$(ctl_count out .) lines"
ctl tail -n 0
ctl_status 0
[ ! -s "$T/ctl.out" ] || ctl_fail "tail -n 0 printed lines"

# --- reload MODULE: forced, one result per host that has it (the
# library answers a reload of the stamp it runs without reloading).
ctl reload greet
ctl_status 0
ctl_has out "^greet in alpha\[$A\]: ok\( [0-9.]* ms\)*\$"
ctl_has out "^greet in beta\[$B\]: ok\( [0-9.]* ms\)*\$"
[ "$(ctl_count out .)" -eq 2 ] || ctl_fail "reload greet: not 2 lines"
wait_log "reloaderctl\[[0-9]*\]: reload of greet forced in 2 clients"
ctl reload greet odd
ctl_status 0
[ "$(ctl_count out .)" -eq 3 ] || ctl_fail "reload greet odd: not 3 lines"
ctl_has out "^odd in alpha\[$A\]: ok"

# reload --all: every module of every host.
ctl reload --all
ctl_status 0
ctl_has out "^greet in alpha\[$A\]: ok"
ctl_has out "^odd in alpha\[$A\]: ok"
ctl_has out "^greet in beta\[$B\]: ok"
[ "$(ctl_count out .)" -eq 3 ] || ctl_fail "reload --all: not 3 lines"

# A reload that fails: a test hook that fails rolls back, and the exit
# status says so.
mkmod "$ROOT/greet.so" greet -DGREETING='"v3"' -DWITH_TEST=1
hst_wait alpha 'event reload greet rolled-back'
hst_wait beta 'event reload greet rolled-back'
ctl reload greet
ctl_status 70 "a rolled-back reload is EX_SOFTWARE"
ctl_has out "^greet in alpha\[$A\]: test failed (rolled back) .*reloader_test"
ctl_has out "^greet in beta\[$B\]: test failed (rolled back) .*reloader_test"

# --- rollback: back to the version before the last reload.
na=$(hst_count alpha 'event reload greet ok')
nb=$(hst_count beta 'event reload greet ok')
mkmod "$ROOT/greet.so" greet -DGREETING='"v4"'
hst_wait alpha 'event reload greet ok' $((na + 1))
hst_wait beta 'event reload greet ok' $((nb + 1))
hst_expect alpha "greet v4" call greet reply
ctl rollback greet
ctl_status 0 "rollback greet"
ctl_has out "^greet in alpha\[$A\]: ok"
ctl_has out "^greet in beta\[$B\]: ok"
hst_wait alpha 'event reload greet ok .*action=rollback'
hst_wait beta 'event reload greet ok .*action=rollback'
hst_expect alpha "greet v2" call greet reply
hst_expect beta "greet v2" call greet reply
bg_wait sub "^batch [0-9]* to beta\[$B\]: 1 module (rollback)\$"
ctl list
ctl_has out "alpha\[$A\]  *greet  .*stale (rolled-back)\$"
ctl rollback odd
ctl_status 65 "rollback of a module never reloaded"
ctl_has err '^reloaderctl: odd: no attached process has a previous version'

# --- hold and release: changes wait, then go as one batch per host.
ctl hold
ctl_status 0
ctl_has out '^reloads held for every process (1 hold in effect)'
bg_wait sub '^hold: 1 in effect$'
nbatch=$(bg_count sub '^batch ')
na=$(hst_count alpha 'event reload')
nb=$(hst_count beta 'event reload')
mkmod "$ROOT/greet.so" greet -DGREETING='"v5"'
mkmod "$ODD/odd.so" greet -DNONOTE -DGREETING='"odd2"'
bg_wait sub "^change $ROOT/greet.so greet"
bg_wait sub '^change .*/odd.so odd'
ctl status
ctl_has out '^held  *yes (1 hold)$'
ctl list
ctl_has out "alpha\[$A\]  *greet  .*stale (held)\$"
ctl_has out "alpha\[$A\]  *odd  .*stale (held)\$"
ctl_has out '^2 clients, 3 modules, 3 stale$'
hst_expect alpha "greet v2" call greet reply
[ "$(bg_count sub '^batch ')" -eq "$nbatch" ] || fail "a batch went out held"
[ "$(hst_count alpha 'event reload')" -eq "$na" ] || fail "alpha reloaded held"
ctl release
ctl_status 0
ctl_has out '^released: 3 modules delivered to 2 clients$'
hst_wait alpha 'event reload' $((na + 2))
hst_wait beta 'event reload' $((nb + 1))
hst_expect alpha "greet v5" call greet reply
hst_expect beta "greet v5" call greet reply
bg_wait sub '^release: 3 delivered, 0 discarded, 0 holds left$'
bg_wait sub "^batch [0-9]* to alpha\[$A\]: 2 modules\$"
bg_wait sub "^result odd in alpha\[$A\]: ok"
[ "$(bg_count sub '^batch ')" -eq $((nbatch + 2)) ] ||
    fail "release: not one batch per host"

# release without a hold: EX_USAGE, and nothing changes.
ctl release
ctl_status 64 "release without hold"
ctl_has err '^reloaderctl: release: reloads are not held'

# A reload while held says so and does not wait.
ctl hold
ctl reload greet
ctl_status 0
ctl_has out '^greet: held; 2 processes will reload it at release$'
ctl release --discard
ctl_status 0
ctl_has out '^released: 2 changes discarded$'

# --- colour only on a terminal, and not with NO_COLOR.
if command -v script >/dev/null 2>&1; then
	TERM=xterm script -qec "$CTL -s $SOCK list" /dev/null >"$T/tty.out" \
	    </dev/null
	grep -q "$(printf '\033')\[" "$T/tty.out" || fail "no colour on a tty"
	NO_COLOR=1 TERM=xterm script -qec "$CTL -s $SOCK list" /dev/null \
	    >"$T/tty.out" </dev/null
	! grep -q "$(printf '\033')" "$T/tty.out" || fail "colour with NO_COLOR"
else
	skip_part "colour on a terminal: script(1) (bsdutils) is missing"
fi
ctl list
! grep -q "$(printf '\033')" "$T/ctl.out" || fail "colour in a pipe"

# --- the followers end when the daemon goes away, with EX_UNAVAILABLE.
stop
for f in sub tailf; do
	rc=0
	wait "$(cat "$T/$f.pid")" || rc=$?
	[ "$rc" -eq 69 ] || fail "$f exited $rc when the daemon stopped"
	grep -q '^reloaderctl: the daemon went away' "$T/$f.err" ||
	    fail "$f: no message when the daemon stopped"
done
echo "ok"
end_test
