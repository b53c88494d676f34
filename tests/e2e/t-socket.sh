# The default socket path, one rule for everyone: with no -s and no
# `socket` key, the daemon, libreloader (the test host), reloaderctl and
# an Erlang node pick the same path under each environment:
# RELOADER_SOCKET first, else $XDG_RUNTIME_DIR/reloader.sock (a trailing
# slash does not double), else /run/reloader/reloader.sock for effective
# uid 0, else /tmp/reloader-EUID.sock.  With XDG_RUNTIME_DIR unset the
# real /run and /tmp would be used: that part runs as root in a private
# mount namespace, once as root and once with only the effective uid
# changed (real uid 0, effective uid nobody's), where getuid() and
# geteuid() differ.
# backends: any
. tests/e2e/lib.sh

CTL=${CTL:-$TOP/$O/reloaderctl}
EBIN=${EBIN:-$TOP/$O/erlang/ebin}
[ -f "$EBIN/reloader_client_config.beam" ] ||
    skip "the Erlang client is not built ($EBIN)"

# The programs, a module for the host and the Erlang client, in one
# directory that any user may read: the namespace part runs them as
# another effective uid, from a copy.
X=$T/x
mkdir -p "$X/tests"
cp "$RELOADERD" "$CTL" "$X/"
cp -P "$(dirname "$HOST")"/../libreloader.so* "$X/"
cp "$HOST" "$X/tests/host"
cp -r "$EBIN" "$X/ebin"
mkmod "$X/mod.so" greet -DGREETING='"v1"'
chmod -R a+rX "$X"

# The check of one environment, run as a script of its own (also inside
# the namespace): sh case.sh BIN WORKDIR EXPECTED.  It starts the daemon,
# the host and reloaderctl with no socket named, and prints "FAIL: ..."
# for each program that looks elsewhere.  AS prefixes the daemon and
# reloaderctl; FULL_AS the host and erl, which cannot run with an
# effective uid that is not the real one (ld.so then ignores the host's
# $ORIGIN rpath; erl is a shell script, and the shell drops it).
cat >"$T/case.sh" <<'CASE'
set -u
X=$1
W=$2
want=$3
# A host that died must not take this script with it (SIGPIPE), nor the
# daemon be left running.
trap '' PIPE
dpid=
trap '[ -z "$dpid" ] || kill "$dpid" 2>/dev/null' EXIT
AS=${AS:-}
FULL_AS=${FULL_AS:-}
mkdir -p "$W"
# Before the daemon runs: reloaderctl names the path it tried.
$AS "$X/reloaderctl" status >/dev/null 2>"$W/ctl0.err"
grep -qF "reloaderctl: $want: " "$W/ctl0.err" ||
    echo "FAIL: reloaderctl looked elsewhere: $(cat "$W/ctl0.err")"
# The Erlang client's choice.
got=$($FULL_AS erl -noshell -pa "$X/ebin" -eval \
    'io:format("~s~n", [reloader_client_config:socket_path()]), halt().')
[ "$got" = "$want" ] || echo "FAIL: the Erlang client picked '$got'"
$AS "$X/reloaderd" -f -v -b poll -i 50ms >"$W/log" 2>&1 &
dpid=$!
i=0
until grep -q ' ready:' "$W/log"; do
	i=$((i + 1))
	if [ "$i" -gt 1000 ] || ! kill -0 "$dpid" 2>/dev/null; then
		echo "FAIL: the daemon did not start: $(cat "$W/log")"
		exit 0
	fi
	sleep 0.01
done
grep -qF "listening on $want (" "$W/log" ||
    echo "FAIL: the daemon listens elsewhere: $(grep listening "$W/log")"
# The host attaches through libreloader's default, reloaderctl sees it.
mkfifo "$W/in"
$FULL_AS "$X/tests/host" -n sockhost "$X/mod.so" <"$W/in" >"$W/host.out" 2>&1 &
hpid=$!
exec 3>"$W/in"
i=0
until $AS "$X/reloaderctl" list >"$W/list" 2>&1;
    grep -q 'sockhost\[[0-9]*\]  *greet ' "$W/list"; do
	i=$((i + 1))
	if [ "$i" -gt 1000 ]; then
		echo "FAIL: the host and reloaderctl did not meet at $want:" \
		    "$(cat "$W/list" "$W/host.out")"
		break
	fi
	sleep 0.01
done
echo quit >&3
exec 3>&-
wait "$hpid"
kill "$dpid"
wait "$dpid"
dpid=
[ ! -e "$want" ] || echo "FAIL: $want is left after the daemon stopped"
echo "done $want"
CASE

# Runs the check under the environment given (VAR=value or -u VAR).
check_env() {
	want=$1
	shift
	n=$((${n:-0} + 1))
	env -u RELOADER_SOCKET -u XDG_RUNTIME_DIR "$@" \
	    sh "$T/case.sh" "$X" "$T/w$n" "$want" >"$T/case.out" 2>&1 || true
	grep -q "^done $want\$" "$T/case.out" && ! grep -q '^FAIL' \
	    "$T/case.out" || fail "with $*: $(cat "$T/case.out")"
}

mkdir -p "$T/xdg" "$T/other"
check_env "$T/xdg/reloader.sock" XDG_RUNTIME_DIR="$T/xdg"
check_env "$T/xdg/reloader.sock" XDG_RUNTIME_DIR="$T/xdg//"
check_env "$T/other/r.sock" XDG_RUNTIME_DIR="$T/xdg" \
    RELOADER_SOCKET="$T/other/r.sock"
check_env "$T/other/r.sock" RELOADER_SOCKET="$T/other/r.sock"

# XDG_RUNTIME_DIR unset: /run and /tmp of a private mount namespace, so
# that no real daemon's socket is touched.
if [ "$(id -u)" -ne 0 ]; then
	skip_part "XDG_RUNTIME_DIR unset (/run, /tmp): needs root for a" \
	    "private mount namespace"
	end_test
fi
nobody=$(id -u nobody)
cat >"$T/ns.sh" <<NS
set -eu
mount --make-rprivate /
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir /run/t
mount --bind "$T" /run/t
mount -t tmpfs -o mode=1777 tmpfs /tmp
cp -a /run/t/x /tmp/x
cp /run/t/case.sh /tmp/x/case.sh
mkdir -m 1777 /tmp/w
env -u RELOADER_SOCKET -u XDG_RUNTIME_DIR \
    sh /tmp/x/case.sh /tmp/x /tmp/w/root /run/reloader/reloader.sock \
    >/run/t/ns-root.out 2>&1 || true
# LeakSanitizer cannot run in a process whose uids differ (a build
# with the sanitizers): its leak check is left out there.
env -u RELOADER_SOCKET -u XDG_RUNTIME_DIR HOME=/tmp/w \
    ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
    AS="setpriv --euid=$nobody --egid=$nobody --clear-groups --" \
    FULL_AS="setpriv --reuid=$nobody --regid=$nobody --clear-groups --" \
    sh /tmp/x/case.sh /tmp/x /tmp/w/nobody /tmp/reloader-$nobody.sock \
    >/run/t/ns-nobody.out 2>&1 || true
NS
unshare --mount sh "$T/ns.sh" >"$T/ns.out" 2>&1 ||
    fail "the namespace part did not run: $(cat "$T/ns.out")"
grep -q '^done /run/reloader/reloader.sock$' "$T/ns-root.out" &&
    ! grep -q '^FAIL' "$T/ns-root.out" ||
    fail "XDG_RUNTIME_DIR unset, as root: $(cat "$T/ns-root.out")"
grep -q "^done /tmp/reloader-$nobody.sock\$" "$T/ns-nobody.out" &&
    ! grep -q '^FAIL' "$T/ns-nobody.out" ||
    fail "XDG_RUNTIME_DIR unset, effective uid $nobody, real uid 0:" \
    "$(cat "$T/ns-nobody.out")"
end_test
