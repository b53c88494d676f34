#!/bin/sh
# `make run`: starts reloaderd with no configuration where clients and
# reloaderctl look by default (the default socket path), and the
# devserver beside it, and says what to try in a second terminal.  The
# devserver registers its modules, so the daemon watches their directory
# by itself.  Ctrl-C stops both.
#
#	sh examples/run.sh [builddir]	(PORT=8081 for another port)
#
# When something already listens on the default socket (a reloaderd of
# systemd's, another `make run`), the daemon listens on a private one
# instead, and the banner starts with the `export RELOADER_SOCKET=...`
# line the second terminal needs.  When the port is taken by another
# program, or the devserver stops (a handler crashed: it names the
# module and its version), it says so, stops the daemon and exits 1.
set -eu
O=${1:-obj}
port=${PORT:-8080}
url=http://127.0.0.1:$port
reloaderd=$O/reloaderd
devserver=$O/examples/devserver
ctl=$O/reloaderctl
handlers=examples/devserver/build/handlers

# Says what went wrong and exits; the trap stops what was started.
die() {
	echo "run: $*" >&2
	exit 1
}

for f in "$reloaderd" "$devserver" "$ctl"; do
	[ -x "$f" ] || die "$f is not built; run make first"
done
for f in hello count; do
	[ -f "$handlers/$f.so" ] || die "$handlers/$f.so is not built; run make first"
done

dir=$(mktemp -d "${TMPDIR:-/tmp}/reloader-run.XXXXXX")
dpid=
spid=

# Stops both programs and removes the private directory.
cleanup() {
	trap - EXIT INT TERM
	[ -z "$spid" ] || kill "$spid" 2>/dev/null || true
	if [ -n "$dpid" ]; then
		kill "$dpid" 2>/dev/null || true
		wait "$dpid" 2>/dev/null || true
	fi
	wait 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Whatever answers on the default socket keeps it: reloaderctl's
# EX_UNAVAILABLE (69) says nothing does, or only a stale socket.
export=
rc=0
"$ctl" status >"$dir/status" 2>"$dir/status.err" || rc=$?
if [ "$rc" -ne 69 ]; then
	taken=$(sed -n 's/^socket  *//p' "$dir/status")
	[ -n "$taken" ] || taken=$(sed 's/^reloaderctl: //' "$dir/status.err")
	RELOADER_SOCKET=$dir/reloader.sock
	export RELOADER_SOCKET
	export="export RELOADER_SOCKET=$RELOADER_SOCKET"
fi

"$reloaderd" -f &
dpid=$!
i=0
until "$ctl" status >"$dir/status" 2>/dev/null; do
	kill -0 "$dpid" 2>/dev/null || die "reloaderd failed to start"
	i=$((i + 1))
	[ "$i" -lt 1000 ] || die "reloaderd does not answer reloaderctl status"
	sleep 0.01
done
sock=$(sed -n 's/^socket  *//p' "$dir/status")

# Ready once our devserver answers: X-Devserver names its pid, so an
# answer from another program on the port does not count.
"$devserver" -p "$port" "$handlers" &
spid=$!
i=0
while :; do
	if ! kill -0 "$spid" 2>/dev/null; then
		rc=0
		wait "$spid" || rc=$?
		spid=
		[ "$rc" -ne 69 ] || die "port $port is taken by another" \
		    "program, so the devserver cannot listen there; choose" \
		    "another: make run PORT=$((port + 1))"
		die "the devserver failed to start (status $rc)"
	fi
	curl -s --max-time 1 -D - -o /dev/null "$url/" 2>/dev/null |
	    tr -d '\r' | grep -qix "x-devserver: $spid" && break
	i=$((i + 1))
	[ "$i" -lt 500 ] || die "the devserver does not answer on $url" \
	    "(is port $port taken? try make run PORT=$((port + 1)))"
	sleep 0.01
done

echo
echo "reloaderd (on $sock) and the devserver (on $url) are running."
if [ -n "$export" ]; then
	cat <<MSG

Something already listens on the default socket ($taken),
so this reloaderd listens on a socket of its own.  In the other
terminal, first:

    $export
MSG
fi
cat <<MSG

In another terminal, from this directory, try:

    curl $url/hello
    curl $url/count

Edit examples/devserver/hello.c (change the greeting), rebuild, and ask
again: the running server answers with the new text, without a restart.

    make
    curl $url/hello

The running server answers with the new text, without a restart, and
logs "devserver: reloaded hello ok".  Edit count.c's reply the same way
and the count carries on where it was, moved to the new version by its
reloader_code_change hook.  reloaderctl shows what the daemon knows and
did:

    $ctl status
    $ctl list
    $ctl tail

Ctrl-C stops both.

MSG
rc=0
wait "$spid" || rc=$?
spid=
[ "$rc" -eq 0 ] || die "the devserver stopped (status $rc); reloaderd" \
    "stops too"
