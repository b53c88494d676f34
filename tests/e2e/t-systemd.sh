# systemd: the units verify and their sandbox rates as the comment says;
# the notify protocol (READY=1 after the first scan, STATUS=, RELOADING=1
# with MONOTONIC_USEC on SIGHUP then READY=1 again, STOPPING=1, the
# watchdog); socket activation through systemd-socket-activate, and the
# errors for a wrong socket; and, as far as it can be had without systemd
# as PID 1, the daemon at work inside the system unit's restrictions.
# The journal's <N> prefixes are t-log.sh's.
# backends: any
. tests/e2e/lib.sh

for c in systemd-analyze systemd-socket-activate curl; do
	command -v "$c" >/dev/null 2>&1 ||
	    fail "$c is missing (scripts/deps.sh installs it)"
done
NOTIFYLISTEN=$TOP/$O/tests/notifylisten
NPID=
SPID=
SDPID=
# strace blocks SIGTERM while the program it started runs (-o FILE), so
# that program, strace's child, goes first.
trap 'for p in $NPID $SDPID ${SPID:+$(ps -o pid= --ppid "$SPID")} $SPID; do
	kill "$p" 2>/dev/null || true
	wait "$p" 2>/dev/null || true; done; cleanup' EXIT

# Counts the notify messages matching a basic regular expression.
count_notify() {
	c=$(grep -c -- "$1" "$T/notify.out" 2>/dev/null || true)
	echo "${c:-0}"
}

# Waits (up to 10 s) until at least N notify messages (default 1) match.
wait_notify() {
	n=${2:-1}
	tries=1000
	while [ "$(count_notify "$1")" -lt "$n" ]; do
		tries=$((tries - 1))
		[ "$tries" -gt 0 ] || fail "timed out waiting for $n x '$1' \
from the daemon; it sent: $(cat "$T/notify.out")"
		sleep 0.01
	done
}

# Prints the notify message on line N, without the time and pid.
notify_line() {
	sed -n "${1}p" "$T/notify.out" | cut -d' ' -f3-
}

# Starts a notify listener at $1, its messages going to $T/notify.out.
listen_notify() {
	NSOCK=$1
	: >"$T/notify.out"
	"$NOTIFYLISTEN" "$1" >>"$T/notify.out" &
	NPID=$!
	case $1 in
	@*)
		# Bound once the kernel lists it.
		tries=1000
		until grep -q " $1\$" /proc/net/unix; do
			tries=$((tries - 1))
			[ "$tries" -gt 0 ] || fail "notifylisten did not bind $1"
			sleep 0.01
		done
		;;
	*) wait_path "$1" ;;
	esac
}

# Stops the notify listener and removes its socket.
unlisten_notify() {
	kill "$NPID"
	wait "$NPID" 2>/dev/null || true
	NPID=
	case $NSOCK in
	/*) rm -f "$NSOCK" ;;
	esac
}

# --- The units verify, on this machine's systemd, in a copy with the
# placeholders filled in as make install does (ExecStart= must exist).
mkdir -p "$T/units/user" "$T/run"
for u in reloaderd.service reloaderd.socket user/reloaderd.service \
    user/reloaderd.socket; do
	sed -e "s|@BINDIR@|$TOP/$O|g" -e "s|@SYSCONFDIR@|$T/etc|g" \
	    "systemd/$u" >"$T/units/$u"
	! grep -n '@[A-Z]*@' "$T/units/$u" || fail "$u: a placeholder left"
done
cd "$T/units"
systemd-analyze verify --man=no ./reloaderd.service ./reloaderd.socket \
    >"$T/verify.out" 2>&1 || fail "verify (system): $(cat "$T/verify.out")"
[ ! -s "$T/verify.out" ] || fail "verify (system): $(cat "$T/verify.out")"
XDG_RUNTIME_DIR=$T/run systemd-analyze --user verify --man=no \
    ./user/reloaderd.service ./user/reloaderd.socket >"$T/verify.out" 2>&1 ||
	fail "verify (user): $(cat "$T/verify.out")"
[ ! -s "$T/verify.out" ] || fail "verify (user): $(cat "$T/verify.out")"
# The sandbox's exposure, 0 (best) to 10: 0.4 when written; fail past 1.0.
systemd-analyze security --offline=yes --threshold=10 ./reloaderd.service \
    >"$T/security.out" 2>&1 ||
	fail "systemd-analyze security: $(tail -n 1 "$T/security.out")"
tail -n 1 "$T/security.out"
cd "$TOP"

# --- Notify: READY=1 once the first scan is done, with the status.
cat >"$T/conf" <<EOF
[reloaderd]
settle = 0
[watch "build"]
EOF
mkso "$ROOT/a.so" 1
mkso "$ROOT/b.so" 2
listen_notify "$T/notify"
export NOTIFY_SOCKET="$T/notify"
start -c "$T/conf"
unset NOTIFY_SOCKET
wait_notify '^[0-9]* pid=[0-9]* READY=1'
# The first message says ready, counts what the scan found, and comes
# from the daemon itself (NotifyAccess=main).
[ "$(notify_line 1)" = "READY=1 STATUS=watching 1 directory, 2 modules; 0 clients" ] ||
    fail "first message: '$(notify_line 1)'"
sed -n 1p "$T/notify.out" | grep -q "^[0-9]* pid=$DPID " ||
    fail "not sent by the daemon (pid $DPID): $(sed -n 1p "$T/notify.out")"
expect_count ' ready: 1 directory, 2 modules$' 1

# SIGHUP: RELOADING=1 with the time on CLOCK_MONOTONIC, then READY=1
# again with a fresh status.
mkso "$ROOT/c.so" 3
wait_log ' info added build/c.so '
kill -HUP "$DPID"
wait_log ' info configuration reloaded from '
wait_notify ' READY=1' 2
[ "$(count_notify RELOADING=1)" -eq 1 ] || fail "no RELOADING=1"
r=$(grep -n ' RELOADING=1' "$T/notify.out" | cut -d: -f1)
[ "$(notify_line $((r + 1)))" = "READY=1 STATUS=watching 1 directory, 3 modules; 0 clients" ] ||
    fail "after RELOADING=1: '$(notify_line $((r + 1)))'"
set -- $(sed -n "${r}p" "$T/notify.out")
[ "$3 ${4%%=*}" = "RELOADING=1 MONOTONIC_USEC" ] ||
    fail "RELOADING=1 without MONOTONIC_USEC in one message: $*"
mono=${4#MONOTONIC_USEC=}
ready1=$(sed -n 1p "$T/notify.out" | cut -d' ' -f1)
# Sent after the first READY=1 arrived, and before this one did.
[ "$mono" -gt "$ready1" ] && [ "$mono" -le "$1" ] ||
    fail "MONOTONIC_USEC=$mono is not CLOCK_MONOTONIC (between $ready1 and $1)"

# A bad file: RELOADING=1, READY=1 again, and the status says so until
# a good file is read.
echo "bogus line" >>"$T/conf"
kill -HUP "$DPID"
wait_log ' error .*conf:4: .*keeping the old configuration$'
wait_notify ' READY=1' 3
[ "$(count_notify RELOADING=1)" -eq 2 ] || fail "no RELOADING=1 for a bad file"
case $(tail -n 1 "$T/notify.out" | cut -d' ' -f3-) in
"READY=1 STATUS=reload failed, old configuration kept: $T/conf:4: "*"; watching 1 directory, 3 modules; 0 clients") ;;
*) fail "bad file: $(tail -n 1 "$T/notify.out")" ;;
esac
sed -i '$d' "$T/conf"
kill -HUP "$DPID"
wait_notify ' READY=1' 4
[ "$(tail -n 1 "$T/notify.out" | cut -d' ' -f3-)" = "READY=1 STATUS=watching 1 directory, 3 modules; 0 clients" ] ||
    fail "good file again: $(tail -n 1 "$T/notify.out")"

# STATUS= as things change: a process attaches, a module reloads in it,
# it goes away.
mkmod "$ROOT/greet.so" greet -DGREETING='"v1"'
wait_log ' info added build/greet.so '
host_start "$ROOT/greet.so"
wait_notify ' STATUS=watching 1 directory, 4 modules; 1 client$'
mkmod "$ROOT/greet.so" greet -DGREETING='"v2"'
wait_notify ' STATUS=watching 1 directory, 4 modules; 1 client; last: greet in host\[[0-9]*\] ok [0-9.]* ms$'
host_stop
wait_notify ' STATUS=watching 1 directory, 4 modules; 0 clients; last: greet '

# SIGTERM: STOPPING=1, the last word.
stop
[ "$(tail -n 1 "$T/notify.out" | cut -d' ' -f3-)" = "STOPPING=1" ] ||
    fail "last message: $(tail -n 1 "$T/notify.out")"
grep -q WATCHDOG "$T/notify.out" && fail "WATCHDOG=1 sent, unasked"
unlisten_notify

# An abstract NOTIFY_SOCKET, and the watchdog: asked for this pid, it is
# petted at half the interval.
listen_notify "@reloader-test-$$"
export NOTIFY_SOCKET="@reloader-test-$$" WATCHDOG_USEC=100000
start
unset NOTIFY_SOCKET WATCHDOG_USEC
wait_notify ' READY=1'
wait_log ' debug watchdog: telling systemd every 0.050 s$'
wait_notify ' WATCHDOG=1$' 3
stop
unlisten_notify
# Asked for another process: not ours to pet.
listen_notify "$T/notify"
export NOTIFY_SOCKET="$T/notify" WATCHDOG_USEC=100000 WATCHDOG_PID=1
start -w build
unset NOTIFY_SOCKET WATCHDOG_USEC WATCHDOG_PID
wait_notify ' READY=1'
sync_marker
kill -HUP "$DPID"
wait_notify ' READY=1' 2
stop
expect_count 'watchdog' 0
[ "$(count_notify WATCHDOG)" -eq 0 ] || fail "WATCHDOG=1 for another pid"
unlisten_notify

# Nobody listening, or a bad value: the daemon works on, and says so once.
export NOTIFY_SOCKET="$T/nobody"
start
unset NOTIFY_SOCKET
kill -HUP "$DPID"
wait_log ' SIGHUP: no configuration file'
stop
expect_count ' warn cannot tell systemd "READY=1": ' 1
expect_count 'cannot tell systemd' 1
export NOTIFY_SOCKET=relative/path
start
unset NOTIFY_SOCKET
stop
expect_count ' warn NOTIFY_SOCKET=relative/path: not an absolute path or an @abstract name' 1

# --- Socket activation: systemd-socket-activate makes the socket, the
# first client starts the daemon, which accepts on the socket it was
# passed and leaves its mode and its file alone.
# Runs systemd-socket-activate with its arguments, in $T, logging to $LOG.
activate() {
	: >"$LOG"
	(cd "$T" && exec systemd-socket-activate "$@") >>"$LOG" 2>&1 &
	SPID=$!
}

activate -l "$SOCK" "$RELOADERD" -f -v -w build
wait_path "$SOCK"
mode=$(stat -c %a "$SOCK")
client viasa <<EOF
> hello proto=1 pid=7 name=viasa
< welcome
EOF
DPID=$SPID
SPID=
wait_log " info listening on $SOCK (socket activation)$"
wait_log ' info viasa\[7\] attached'
expect_count ' ready: ' 1
[ "$(stat -c %a "$SOCK")" = "$mode" ] ||
    fail "the daemon changed the mode of systemd's socket to $(stat -c %a "$SOCK")"
stop
[ -S "$SOCK" ] || fail "the daemon removed systemd's socket"
rm -f "$SOCK"

# Of two sockets, the one named "control" is taken, the other closed.
activate -l "$T/trigger" systemd-socket-activate -l "$SOCK" \
    --fdname=trigger:control "$RELOADERD" -f -v -w build
wait_path "$T/trigger"
curl -s -m 5 --unix-socket "$T/trigger" http://x/ >/dev/null 2>&1 || true
DPID=$SPID
SPID=
wait_log ' ready: '
expect_count ' warn LISTEN_FDS: closing fd 3, not for reloaderd$' 1
expect_count " info listening on $SOCK (socket activation)$" 1
client named <<EOF
> hello proto=1 pid=8 name=named
< welcome
EOF
stop
rm -f "$SOCK" "$T/trigger"

# Wrong sockets: each a clear error, and no daemon.
# Runs what triggers an activation in $1 (a command), then checks that
# the daemon exited non-zero with an error line matching $2.
expect_refused() {
	eval "$1"
	if wait "$SPID"; then rc=0; else rc=$?; fi
	SPID=
	[ "$rc" -ne 0 ] || fail "reloaderd took a wrong socket (exit 0)"
	expect_count " error $2" 1
	expect_count ' ready: ' 0
}

# A datagram socket named "control".
activate -l "$T/trigger" systemd-socket-activate --datagram -l "$T/dgram" \
    --fdname=trigger:control "$RELOADERD" -f -s "$T/unused.sock"
wait_path "$T/trigger"
expect_refused 'curl -s -m 5 --unix-socket "$T/trigger" http://x/ >/dev/null 2>&1 || true' \
    'LISTEN_FDS: fd 4 is a Unix datagram socket; reloaderd needs a Unix stream socket (ListenStream=/path)$'
rm -f "$T/trigger" "$T/dgram"

# Two sockets and no name that says which.
activate -l "$T/trigger" systemd-socket-activate -l "$T/other" \
    --fdname=one:two "$RELOADERD" -f -s "$T/unused.sock"
wait_path "$T/trigger"
expect_refused 'curl -s -m 5 --unix-socket "$T/trigger" http://x/ >/dev/null 2>&1 || true' \
    'LISTEN_FDS=2: systemd passed 2 sockets and LISTEN_FDNAMES=one:two names none "control" or "reloaderd.socket"; '
rm -f "$T/trigger" "$T/other"

# A TCP socket (on the first free port of a few).
port=$((20000 + $$ % 20000))
for i in 1 2 3 4 5; do
	activate -l "127.0.0.1:$port" "$RELOADERD" -f -s "$T/unused.sock"
	wait_log 'Listening on \|Failed\|failed'
	[ "$(count_log 'Listening on ')" -eq 1 ] && break
	wait "$SPID" || true
	SPID=
	port=$((port + 1))
done
[ -n "$SPID" ] || fail "no free TCP port for systemd-socket-activate"
expect_refused 'curl -s -m 5 "http://127.0.0.1:$port/" >/dev/null 2>&1 || true' \
    'LISTEN_FDS: fd 3 is an IPv4 socket; reloaderd needs a Unix stream socket (ListenStream=/path)$'

# Not a socket at all; a LISTEN_FDS without LISTEN_PID; not a number.
: >"$LOG"
env LISTEN_FDS=1 sh -c 'LISTEN_PID=$$ exec "$0" -f -s "$1"' "$RELOADERD" \
    "$T/unused.sock" 3<"$T/conf" >>"$LOG" 2>&1 &
SPID=$!
expect_refused : 'LISTEN_FDS: fd 3 is not a socket; reloaderd needs a listening Unix stream socket (ListenStream=/path)$'
env LISTEN_FDS=1 "$RELOADERD" -f -s "$T/unused.sock" >>"$LOG" 2>&1 &
SPID=$!
expect_refused : 'LISTEN_FDS is set but LISTEN_PID is not; both come from systemd$'
env LISTEN_FDS=x LISTEN_PID=1 "$RELOADERD" -f -s "$T/unused.sock" >>"$LOG" 2>&1 &
SPID=$!
expect_refused : 'LISTEN_FDS=x: not a non-negative integer$'
[ ! -e "$T/unused.sock" ] || fail "a refused daemon made its own socket"

# Sockets passed to another process are not ours: the daemon makes its own.
export LISTEN_FDS=1 LISTEN_PID=1
start
unset LISTEN_FDS LISTEN_PID
expect_count " info listening on $SOCK (mode 0600)$" 1
stop
[ ! -e "$SOCK" ] || fail "the daemon left the socket it made"

# --- The system unit's restrictions, as far as they can be had without
# systemd: a read-only file system, no network, an unprivileged user
# with no capabilities and no new privileges, the socket 0660 and group
# nogroup as reloaderd.socket makes it (group reloader), and a client of
# another user in that group.  The daemon's system calls are checked
# against SystemCallFilter=, RestrictAddressFamilies= and
# MemoryDenyWriteExecute= (not under the sanitizers, which make calls of
# their own).
if [ "$(id -u)" -ne 0 ] || ! unshare -m -n true 2>/dev/null ||
    ! command -v setpriv >/dev/null 2>&1; then
	skip_part "the sandboxed run needs root, unshare and setpriv"
	end_test
fi
chmod 0711 "$T"
chmod 0755 "$ROOT"
rm -f "$ROOT"/*.so
mkmod "$ROOT/greet.so" greet
chmod 0644 "$ROOT/greet.so"
mkdir -m 0700 "$T/hosttmp"
chown daemon "$T/hosttmp"

# Whether USER (group GROUP) may read and run each file given.
can_run() {
	u=$1
	g=$2
	shift 2
	setpriv --reuid="$u" --regid="$g" --clear-groups \
	    sh -c 'for f; do [ -r "$f" ] && [ -x "$f" ] || exit 1; done' sh "$@"
}

# A checkout under a directory closed to other users (a clone into
# `mktemp -d`, a 0700 home) keeps nobody from the daemon and daemon from
# the host: the sandboxed run then takes copies of both (the host with
# its libreloader, found at $ORIGIN/..) from $T, which they can reach.
if ! can_run nobody nogroup "$RELOADERD" ||
    ! can_run daemon daemon "$HOST" "$TOP/$O/libreloader.so.0"; then
	echo "note: nobody or daemon cannot reach $TOP/$O (a directory on" \
	    "the way is closed to other users); running copies from $T/sbx"
	mkdir -m 0755 "$T/sbx" "$T/sbx/tests"
	cp "$RELOADERD" "$T/sbx/reloaderd"
	cp "$HOST" "$T/sbx/tests/host"
	cp -L "$TOP/$O/libreloader.so.0" "$T/sbx/libreloader.so.0"
	chmod 0755 "$T/sbx/reloaderd" "$T/sbx/tests/host" \
	    "$T/sbx/libreloader.so.0"
	RELOADERD=$T/sbx/reloaderd
	HOST=$T/sbx/tests/host
fi
# And $T itself, if TMPDIR is such a directory too: this part cannot run.
if ! can_run nobody nogroup "$RELOADERD" ||
    ! can_run daemon daemon "$HOST" "$ROOT"; then
	skip_part "the sandboxed run: nobody or daemon cannot reach $T" \
	    "(TMPDIR=${TMPDIR:-/tmp} is closed to other users)"
	end_test
fi
STRACE=
if [ -n "${SANITIZE:-}" ]; then
	skip_part "the system calls against the unit's filter: the" \
	    "sanitizers make calls of their own"
elif ! command -v strace >/dev/null 2>&1; then
	skip_part "the system calls against the unit's filter: no strace" \
	    "(scripts/deps.sh check installs it)"
else
	STRACE="strace -f -qq -o $T/trace"
fi
listen_notify "$T/notify"
# As systemd's /run/systemd/notify is, so that anyone may write to it.
chmod 0777 "$T/notify"
: >"$LOG"
(cd "$T" && exec $STRACE systemd-socket-activate -l "$SOCK" \
    -E NOTIFY_SOCKET="$T/notify" unshare -m -n --propagation private \
    sh -c 'mount -o bind,remount,ro / && ulimit -S -n 512 &&
    exec setpriv --reuid=nobody \
    --regid=nogroup --clear-groups --inh-caps=-all --bounding-set=-all \
    --no-new-privs "$@"' sh "$RELOADERD" -f -v -w "$ROOT" -i 50ms) \
    >>"$LOG" 2>&1 &
SPID=$!
wait_path "$SOCK"
chgrp nogroup "$SOCK"
chmod 0660 "$SOCK"
rm -f "$T/host.in" "$T/host.out"
mkfifo "$T/host.in"
: >"$T/host.out"
TMPDIR=$T/hosttmp setpriv --reuid=daemon --regid=daemon --groups=nogroup \
    "$HOST" -s "$SOCK" -n sandboxed "$ROOT/greet.so" <"$T/host.in" \
    >>"$T/host.out" 2>"$T/host.err" &
HPID=$!
exec 3>"$T/host.in"
wait_log ' reloaderd .* starting (pid [0-9]*)$'
SDPID=$(sed -n 's/.* reloaderd .* starting (pid \([0-9]*\))$/\1/p' "$LOG")
wait_log " info listening on $SOCK (socket activation; group nogroup may attach)$"
# Its soft descriptor limit, lowered to 512 above, raised to the hard one
# through the filter.
expect_count ' info descriptor limit [0-9]* (soft limit was 512, hard limit [0-9]*)$' 1
wait_notify ' READY=1'
host_wait '^event connected'
wait_log ' info sandboxed\[[0-9]*\] registered greet '
host_expect "greet v1" call greet reply
mkmod "$ROOT/greet.so" greet -DGREETING='"v2"'
host_wait '^event reload greet ok '
host_expect "greet v2" call greet reply
host_stop
kill -TERM "$SDPID"
wait "$SPID" || fail "the sandboxed reloaderd exited with status $?"
SPID=
dpid=$SDPID
SDPID=
expect_count " info reloading greet ($ROOT/greet.so) in sandboxed\[[0-9]*\] \.\.\. ok " 1
expect_count ' \(warn\|error\) ' 0
wait_notify ' STOPPING=1$'
[ -n "$STRACE" ] || end_test

# The system calls of the daemon, from its own execve on.
awk -v pid="$dpid" '$1 == pid && /execve\("[^"]*\/reloaderd"/ { on = 1 }
    on && $1 == pid' "$T/trace" >"$T/calls"
[ -s "$T/calls" ] || fail "strace saw no reloaderd"
sed -n 's/^[0-9]* *\([a-z0-9_]*\)(.*/\1/p' "$T/calls" | sort -u >"$T/used"
# Expands a systemd system call group, and the groups in it.
expand() {
	systemd-analyze syscall-filter "$1" | sed '1d; s/^ *//; /^#/d; /^$/d' |
	while read -r s; do
		case $s in
		@*) expand "$s" ;;
		*) echo "$s" ;;
		esac
	done
}
expand @system-service | sort -u >"$T/allowed"
{ expand @privileged; expand @resources; } | sort -u >"$T/denied"
[ "$(wc -l <"$T/allowed")" -gt 100 ] || fail "cannot read @system-service"
bad=$(comm -23 "$T/used" "$T/allowed")
[ -z "$bad" ] || fail "calls outside @system-service: $bad"
bad=$(comm -12 "$T/used" "$T/denied")
[ -z "$bad" ] || fail "calls in @privileged or @resources: $bad"
bad=$(grep ' socket(' "$T/calls" | grep -v 'socket(AF_UNIX,' || true)
[ -z "$bad" ] || fail "a socket that is not AF_UNIX: $bad"
bad=$(grep -E ' (mmap|mprotect)\(.*PROT_WRITE\|PROT_EXEC|mprotect\(.*PROT_EXEC' "$T/calls" || true)
[ -z "$bad" ] || fail "memory made executable: $bad"
end_test
