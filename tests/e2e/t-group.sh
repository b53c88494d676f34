#!/bin/sh
# What a member of the daemon's group may learn and do (issue 11, part 2;
# docs/SECURITY.md).  The daemon runs as root with group = nogroup; the
# member is nobody.  A member learns no stamp of a file it could not read
# (a 0600 root-only module, whose content MD5 is checked never to reach
# it), and not even the path of one behind a directory shut to it,
# through list, subscribe and the log alike, including through a symlink
# it plants in a watched root; it may force reloads and roll back only
# its own uid's processes; its hold holds only its own processes and ends
# with its connection unless asked otherwise.
# backends: inotify poll
. tests/e2e/lib.sh
ctl_setup

[ "$(id -u)" -eq 0 ] || skip "runs a member as nobody: it needs root"
command -v setpriv >/dev/null 2>&1 || skip "needs setpriv (util-linux)"

NOBODY="setpriv --reuid=nobody --regid=nogroup --clear-groups"
# The member runs copies of the programs, from a directory it may reach.
chmod 0711 "$T"
mkdir -m 0755 "$T/bin"
cp "$CTL" "$HOST" "$T/bin/"
# The host finds libreloader at $ORIGIN/.. (its runpath).
cp -P "$TOP/$O"/libreloader.so.0* "$T/"
MCTL=$T/bin/reloaderctl
MHOST=$T/bin/host

# Runs reloaderctl as the member: output in $T/m.out, status in $m_rc.
mctl() {
	m_rc=0
	$NOBODY "$MCTL" -s "$SOCK" "$@" >"$T/m.out" 2>"$T/m.err" || m_rc=$?
}

# Makes a change the daemon logs, and waits for it: every event before it
# has been handled.
nmark=0
mark() {
	nmark=$((nmark + 1))
	mkso "$T/pub/zz-mark.so" "$nmark"
	wait_log ' info \(added\|changed\) [^ ]*zz-mark\.so' "$nmark"
}

# Fails if the member's output holds a string.
m_never() {
	! grep -q -- "$1" "$T/m.out" "$T"/msub.out "$T"/mtail.out 2>/dev/null ||
	    fail "the member learned '$1' ($2)"
}

mkdir -m 0755 "$T/pub" "$T/mine"
mkdir -m 0700 "$T/priv"
chown nobody "$T/mine"
# Builds the root-only module, with no build-id (its stamp is its
# content's MD5), mode 0600 from the moment it is in place.
secret() {
	mkmod "$T/secret.tmp" greet -Wl,--build-id=none -DGREETING="\"$1\""
	chmod 0600 "$T/secret.tmp"
	mv "$T/secret.tmp" "$T/pub/secret.so"
}
secret s1
mkmod "$T/priv/hidden.so" greet -DNONOTE -DGREETING='"h1"'
mkmod "$T/pub/shared.so" greet -DNONOTE -DGREETING='"p1"'
chmod 0644 "$T/pub/shared.so"
printf '[reloaderd]\ngroup = nogroup\n[watch "%s"]\n[watch "%s"]\n[watch "%s"]\n' \
    "$T/pub" "$T/priv" "$T/mine" >"$T/conf"
start -c "$T/conf"
chmod 0660 "$SOCK"

# Root's process runs all three; the member's runs the shared one.
hst_start rootp "$T/pub/secret.so" "$T/priv/hidden.so" "$T/pub/shared.so"
wait_log 'rootp\[[0-9]*\] registered hidden'
rm -f "$T/memp.in"
mkfifo "$T/memp.in"
: >"$T/memp.out"
# Its private copies go in a directory of its own under $T, removed
# with it, even if it dies without reloader_free().
mkdir -m 0700 "$T/memtmp"
chown nobody:nogroup "$T/memtmp"
TMPDIR=$T/memtmp $NOBODY "$MHOST" -s "$SOCK" -n memp "$T/pub/shared.so" \
    <"$T/memp.in" >>"$T/memp.out" 2>"$T/memp.err" &
echo $! >"$T/memp.pid"
CTL_PIDS="$CTL_PIDS $!"
sleep 3600 >"$T/memp.in" &
CTL_PIDS="$CTL_PIDS $!"
wait_log 'memp\[[0-9]*\] registered shared'

# The member subscribes and follows the log from now on.
$NOBODY "$MCTL" -s "$SOCK" subscribe >"$T/msub.out" 2>&1 &
CTL_PIDS="$CTL_PIDS $!"
$NOBODY "$MCTL" -s "$SOCK" tail -f -n 1000 >"$T/mtail.out" 2>&1 &
CTL_PIDS="$CTL_PIDS $!"
wait_path "$T/mtail.out" -s "the member's tail"

# Changes to all three, so that list, events and log all tell of them.
secret s2
mkmod "$T/priv/hidden.so" greet -DNONOTE -DGREETING='"h2"'
mkmod "$T/pub/shared.so" greet -DNONOTE -DGREETING='"p2"'
hst_wait rootp 'event reload greet ok'
hst_wait rootp 'event reload hidden ok'
hst_wait rootp 'event reload shared ok'
hst_expect rootp "greet s2" call greet reply
secret_md5=$(md5sum "$T/pub/secret.so" | cut -d' ' -f1)
hidden_id=$(buildid "$T/priv/hidden.so")
shared_id=$(buildid "$T/pub/shared.so")
# The daemon itself knows them: the test would prove nothing otherwise.
wait_log "content-md5=$secret_md5"
wait_log "$hidden_id"
# The member's follower and subscriber have caught up when they show the
# shared module's change, which it may see.
tries=1000
until grep -q 'result shared in memp\[[0-9]*\]: ok' "$T/msub.out" &&
    grep -q 'reloading shared .* in memp' "$T/mtail.out"; do
	tries=$((tries - 1))
	[ "$tries" -gt 0 ] || fail "the member never saw the shared change:
$(cat "$T/msub.out" "$T/mtail.out")"
	sleep 0.01
done
mctl -v list
[ "$m_rc" -eq 0 ] || fail "member list: $(cat "$T/m.err")"
grep -q "shared  *build-id:$shared_id" "$T/m.out" ||
    fail "the member does not see what it may: $(cat "$T/m.out")"
grep -q ' greet  *hidden  *hidden' "$T/m.out" ||
    fail "no hidden stamps for the secret in the member's list"
m_never "$secret_md5" "a 0600 root-only file's content MD5"
m_never "$hidden_id" "a stamp behind a shut directory"
m_never "$T/priv/" "a path behind a shut directory"
grep -q 'hidden: a line about a file uid [0-9]* may not read' "$T/mtail.out" ||
    fail "the member's log does not say what it hid"
grep -q 'stamp=hidden\|hidden' "$T/msub.out" ||
    fail "the member's events do not say what they hid"

# A symlink the member plants in a watched root to root's private file:
# it learns nothing of that file through it.
ln -s "$T/pub/secret.so" "$T/mine/planted.so"
chown -h nobody "$T/mine/planted.so"
secret s3
hst_wait rootp 'event reload greet ok' 2
secret_md5=$(md5sum "$T/pub/secret.so" | cut -d' ' -f1)
mark
mkmod "$T/pub/shared.so" greet -DNONOTE -DGREETING='"p3"'
shared_id=$(buildid "$T/pub/shared.so")
tries=1000
until [ "$(grep -c 'result shared in memp\[[0-9]*\]: ok' "$T/msub.out")" -ge 2 ]; do
	tries=$((tries - 1))
	[ "$tries" -gt 0 ] || fail "the member never saw the second shared change"
	sleep 0.01
done
m_never "$secret_md5" "through a planted symlink"

# Steering: the member may reload its own process, not root's.
mctl reload shared
[ "$m_rc" -eq 0 ] || fail "member reload of its own module: $m_rc $(cat "$T/m.err")"
tries=1000
until [ "$(grep -c 'event reload shared ok' "$T/memp.out")" -ge 3 ]; do
	tries=$((tries - 1))
	[ "$tries" -gt 0 ] || fail "the member's own process was not reloaded"
	sleep 0.01
done
n=$(hst_count rootp 'event reload shared ok')
mctl reload greet
[ "$m_rc" -ne 0 ] || fail "the member reloaded root's process"
grep -q 'may reload only its own' "$T/m.err" || fail "no reason: $(cat "$T/m.err")"
mctl rollback greet
[ "$m_rc" -ne 0 ] || fail "the member rolled back root's process"
# Root steers everyone.
ctl reload shared
ctl_status 0
hst_wait rootp 'event reload shared ok' $((n + 1))

# A member's hold holds only its own processes.
mctl hold
[ "$m_rc" -eq 0 ] || fail "member hold: $(cat "$T/m.err")"
grep -q 'held for your processes' "$T/m.out" || fail "hold: $(cat "$T/m.out")"
n=$(hst_count rootp 'event reload shared ok')
k=$(grep -c 'event reload shared ok' "$T/memp.out")
mkmod "$T/pub/shared.so" greet -DNONOTE -DGREETING='"p4"'
hst_wait rootp 'event reload shared ok' $((n + 1))
mark
[ "$(grep -c 'event reload shared ok' "$T/memp.out")" -eq "$k" ] ||
    fail "the member's own hold did not hold its process"
# Root cannot be held by it, and cannot release it either... but may.
mctl release
[ "$m_rc" -eq 0 ] || fail "member release: $(cat "$T/m.err")"
tries=1000
until [ "$(grep -c 'event reload shared ok' "$T/memp.out")" -gt "$k" ]; do
	tries=$((tries - 1))
	[ "$tries" -gt 0 ] || fail "the member's release delivered nothing"
	sleep 0.01
done

# A hold ends with its connection unless asked otherwise.
AS=$NOBODY
CL=$T/bin/rlclient
cp "$RLCLIENT" "$CL"
client brief <<EOF
> hello proto=1 pid=9 name=brief role=control
< welcome
> hold
< ok verb=hold held=1 for=uid scope=connection
EOF
wait_log 'brief\[9\] went away holding reloads'
ctl status
ctl_has out '^held  *no'
stop
