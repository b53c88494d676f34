# Peer credentials (docs/PROTOCOL.md, Transport and Registration): the
# socket's mode, who may attach, and which files a client may register.
# Clients run as nobody through setpriv, so this needs root (CI is root).
# backends: any
. tests/e2e/lib.sh

[ "$(id -u)" -eq 0 ] || skip "runs clients as nobody: it needs root"
command -v setpriv >/dev/null 2>&1 || skip "needs setpriv (util-linux)"

# Waits (up to 10 s) for a log line matching a basic regular expression,
# in any case.
wait_logi() {
	tries=1000
	until grep -qi -- "$1" "$LOG" 2>/dev/null; do
		tries=$((tries - 1))
		[ "$tries" -gt 0 ] ||
		    fail "timed out waiting for '$1' (any case)"
		sleep 0.01
	done
}

NOBODY="setpriv --reuid=nobody --regid=nogroup --clear-groups"
# nobody runs a copy of the client, under a directory it may search.
CL=$T/rlclient
cp "$RLCLIENT" "$CL"
chmod 0755 "$CL"
chmod 0711 "$T"

# --- No group: the socket is 0600; the daemon's own user attaches,
# anyone else gets one "error code=denied" and is closed.
start
AS=
client root <<EOF
> hello proto=1 pid=1 name=rootclient
< welcome
EOF
[ "$(stat -c %a "$SOCK")" = 600 ] ||
    fail "socket mode $(stat -c %a "$SOCK"), want 600"
# Open the socket to all, so that only the daemon's check stands.
chmod 0666 "$SOCK"
AS=$NOBODY
client intruder <<EOF
< code=denied
!eof
EOF
expect_recv intruder 1 error code=denied
expect_recv intruder 1 error
wait_logi 'denied\|refus'
# Saying hello first changes nothing.
client intruder2 <<EOF
>n hello proto=1 pid=2 name=intruder
< code=denied
!eof
EOF
expect_recv intruder2 0 welcome
expect_count 'intruder\[2\] attached' 0
# The daemon still serves its own user.
AS=
client root2 <<EOF
> hello proto=1 pid=3 name=rootclient
< welcome
EOF
stop

# --- With a group, the socket is 0660 in that group, and its members
# attach; each registration is checked against the client's own access.
mkdir -m 0755 "$T/pub"
mkdir -m 0700 "$T/priv"
mkso "$T/pub/ok.so" 1
mkso "$T/pub/secret.so" 1
chmod 0600 "$T/pub/secret.so"
mkso "$T/priv/hidden.so" 1
ok1=$(buildid "$T/pub/ok.so")
printf '[reloaderd]\ngroup = nogroup\n' >"$T/group.conf"
start -c "$T/group.conf"
AS=$NOBODY
client member <<EOF
> hello proto=1 pid=4 name=member
< welcome
> register module=ok path=$T/pub/ok.so stamp=build-id:$ok1
< registered
> register module=secret path=$T/pub/secret.so stamp=none:
< code=denied
> register module=hidden path=$T/priv/hidden.so stamp=none:
< code=denied
> register module=ghost path=$T/priv/ghost.so stamp=none:
< code=denied
> register module=missing path=$T/pub/missing.so stamp=none:
< code=no-such-file
> ping id=7
< pong
EOF
[ "$(stat -c '%a %G' "$SOCK")" = "660 nogroup" ] ||
    fail "socket mode and group: $(stat -c '%a %G' "$SOCK"), want 660 nogroup"
expect_recv member 1 registered module=ok
expect_recv member 1 error code=denied line=3
expect_recv member 1 error code=denied line=4
expect_recv member 1 error code=denied line=5
expect_recv member 1 error code=no-such-file line=6
expect_recv member 1 registered
expect_recv member 0 reload
wait_log 'member\[4\] attached'
# Not in the group: denied.
AS="setpriv --reuid=nobody --regid=daemon --clear-groups"
chmod 0666 "$SOCK"
client outsider <<EOF
< code=denied
!eof
EOF
expect_recv outsider 1 error code=denied
stop
