#!/bin/sh
# More than one machine, through OpenSSH (issue 15): a private sshd on
# 127.0.0.1 stands for the remote host, where reloaderd runs with a
# libreloader host ("far") attached.  Through `ssh -N -L` of its socket,
# reloaderctl on this side reads its status and list and forces a reload;
# a host on this side ("near") attaches through the same forward, and one
# on the far side ("back") through `ssh -N -R` of the daemon's socket.
# A build change reloads each host exactly once; a build sent with rsync
# over ssh under `reloaderctl build` through the forward comes to each as
# one batch; a host whose forward drops catches up, once, when it comes
# back; a forward to a socket where no daemon listens is an error that
# says so.  Every ssh and the sshd are ended at exit.
# backends: any
. tests/e2e/lib.sh
ctl_setup
ssh_init

FWD=$T/r.sock
SRC=$T/src

# Runs reloaderctl through the forward, as ctl runs it on $SOCK.
rctl() {
	ctl_rc=0
	"$CTL" -s "$FWD" "$@" >"$T/ctl.out" 2>"$T/ctl.err" || ctl_rc=$?
}

# Asserts that each host got exactly N reloads of module MOD, all ok.
reloads() {
	mod=$1
	want=$2
	shift 2
	for h in "$@"; do
		c=$(hst_count "$h" "^event reload $mod ")
		ok=$(hst_count "$h" "^event reload $mod ok ")
		if [ "$c" -ne "$want" ] || [ "$ok" -ne "$want" ]; then
			fail "host $h: $c reloads of $mod ($ok ok), not $want"
		fi
	done
}

# The remote side: its daemon, its build, a host attached to it there.
mkmod "$ROOT/greet.so" greet -DGREETING='"v1"'
mkmod "$ROOT/hello.so" greet -DNONOTE -DGREETING='"hello1"'
start -w build
sshd_start
hst_start far "$ROOT/greet.so" "$ROOT/hello.so"
wait_log 'far\[[0-9]*\] registered hello '

# --- reloaderctl through `ssh -L local.sock:remote.sock`.
ssh_forward fwd-l -L "$FWD:$SOCK"
rctl status
ctl_status 0 "status through the forward"
ctl_has out "^daemon  *reloaderd [0-9.]*, pid $DPID, up "
ctl_has out "^socket  *$SOCK\$"
ctl_has out '^clients  *1 attached, 1 control connection$'
rctl list
ctl_status 0 "list through the forward"
ctl_has out "^1  *far\\[$(hst_pid far)\\]  *greet  *build-id:.*  *current$"
ctl_has out "^1  *far\\[$(hst_pid far)\\]  *hello  *build-id:.*  *current$"
rctl reload greet
ctl_status 0 "reload through the forward"
ctl_has out "far\\[$(hst_pid far)\\].* ok"
hst_wait far '^event reload greet ok '
reloads greet 1 far

# --- hosts attached through forwards: near through the same -L, back
# (on the far side) through -R of the daemon's socket.
hst_start near -s "$FWD" "$ROOT/greet.so" "$ROOT/hello.so"
ssh_forward fwd-r -R "$T/back.sock:$SOCK"
hst_start back -s "$T/back.sock" "$ROOT/greet.so" "$ROOT/hello.so"
for h in near back; do
	hst_wait $h '^event connected$'
	wait_log "$h\\[$(hst_pid $h)\\] registered hello "
done
rctl status
ctl_has out '^clients  *3 attached, 1 control connection$'

# A change on the remote side: each host reloads it once and runs it.
mkmod "$ROOT/greet.so" greet -DGREETING='"v2"'
hst_wait far "^event reload greet ok " 2
for h in far near back; do
	hst_wait $h "^event reload greet ok "
	hst_expect $h "greet v2" call greet reply
done
sync_marker
reloads greet 2 far
reloads greet 1 near back
reloads hello 0 far near back

# --- a build made on this side and sent with rsync over ssh, under a
# hold taken through the forward: one batch of both modules per host.
mkdir -p "$SRC"
mkmod "$SRC/greet.so" greet -DGREETING='"v3"'
mkmod "$SRC/hello.so" greet -DNONOTE -DGREETING='"hello3"'
b=$(count_log ' debug batch [0-9]* to ')
"$CTL" -s "$FWD" build -- rsync -a --modify-window=-1 \
    -e "ssh -F $SSH_CONFIG" "$SRC/" "remote:$ROOT/" >"$T/build.out" \
    2>"$T/build.err" || fail "reloaderctl build of rsync over ssh failed:
$(cat "$T/build.out" "$T/build.err")"
for h in far near back; do
	hst_wait $h '^event reload hello ok '
	hst_expect $h "greet hello3" call hello reply
	hst_expect $h "greet v3" call greet reply
	wait_log "debug batch [0-9]* to $h\\[$(hst_pid $h)\\]: 2 modules\$"
done
sync_marker
expect_count ' debug batch [0-9]* to ' $((b + 3))
reloads greet 3 far
reloads greet 2 near back
reloads hello 1 far near back

# --- the -R forward drops: back is cut off, and misses a change that
# the others take; when the forward is back, back catches up, once.
ssh_stop fwd-r
hst_wait back '^event disconnected$'
wait_log "back\\[$(hst_pid back)\\] disconnected$"
mkmod "$ROOT/greet.so" greet -DGREETING='"v4"'
hst_wait far '^event reload greet ok ' 4
hst_wait near '^event reload greet ok ' 3
hst_expect back "greet v3" call greet reply
ssh_forward fwd-r -R "$T/back.sock:$SOCK"
hst_wait back '^event connected$' 2
hst_wait back '^event reload greet ok ' 3
hst_expect back "greet v4" call greet reply
sync_marker
reloads greet 4 far
reloads greet 3 near back
reloads hello 1 far near back

# --- a forward to a socket where no daemon listens: reloaderctl says the
# connection was closed and fails; ssh and sshd say why.
ssh_forward fwd-none -L "$T/none.sock:$T/nothing-here.sock"
ctl_rc=0
"$CTL" -s "$T/none.sock" status >"$T/ctl.out" 2>"$T/ctl.err" || ctl_rc=$?
ctl_status 69 "status through a forward to no daemon"
ctl_has err 'closed the connection'
tries=1000
while ! grep -q "^channel [0-9]*: open failed: connect failed" \
    "$T/fwd-none.err"; do
	tries=$((tries - 1))
	[ "$tries" -gt 0 ] || fail "ssh did not say that the forward failed"
	sleep 0.01
done
grep -q "^connect to $T/nothing-here\.sock port -2 failed: No such file" \
    "$T/sshd.log" || fail "sshd did not say why it could not forward"

expect_count ' error ' 0
end_test
