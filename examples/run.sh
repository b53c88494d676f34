#!/bin/sh
# `make run`: builds the devserver's handler modules, starts reloaderd
# with no configuration and the devserver beside it, and says what to try.
# The devserver registers its modules, so the daemon watches their
# directory by itself.  Ctrl-C stops both.
#
#	sh examples/run.sh [builddir]	(PORT=8081 for another port)
set -eu
O=${1:-obj}
port=${PORT:-8080}
url=http://127.0.0.1:$port
reloaderd=$O/reloaderd
devserver=$O/examples/devserver
ctl=$O/reloaderctl
# Says what went wrong and exits; the trap stops what was started.
die() {
	echo "run: $*" >&2
	exit 1
}

for f in "$reloaderd" "$devserver"; do
	[ -x "$f" ] || die "$f is not built; run make first"
done
make -s -C examples/devserver

dir=$(mktemp -d "${TMPDIR:-/tmp}/reloader-run.XXXXXX")
sock=$dir/reloader.sock
dpid=
spid=

# Stops both programs and removes the socket's directory.
cleanup() {
	trap - EXIT INT TERM
	[ -z "$spid" ] || kill "$spid" 2>/dev/null || true
	[ -z "$dpid" ] || kill "$dpid" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$reloaderd" -f -s "$sock" &
dpid=$!
i=0
while [ ! -S "$sock" ]; do
	kill -0 "$dpid" 2>/dev/null || die "reloaderd failed to start"
	i=$((i + 1))
	[ "$i" -lt 500 ] || die "reloaderd did not create $sock"
	sleep 0.01
done

"$devserver" -p "$port" -s "$sock" examples/devserver/build/handlers &
spid=$!
i=0
until curl -s -o /dev/null "$url/"; do
	kill -0 "$spid" 2>/dev/null ||
	    die "the devserver failed to start (port $port in use? try" \
	    "make run PORT=8081)"
	i=$((i + 1))
	[ "$i" -lt 500 ] || die "the devserver does not answer on $url"
	sleep 0.01
done

cat <<MSG

reloaderd and the devserver are running.  In another terminal, try:

    curl $url/hello
    curl $url/count

Now edit examples/devserver/hello.c (change the greeting), rebuild the
handlers, and ask again:

    make -C examples/devserver
    curl $url/hello

The running server answers with the new text, without a restart, and
logs "devserver: reloaded hello ok".  Edit count.c's reply the same way
and the count carries on where it was, moved to the new version by its
reloader_code_change hook:

    curl $url/count

reloaderctl shows what the daemon knows and did, and holds reloads for a
build (the socket is in a temporary directory, so name it):

    $ctl -s $sock list
    $ctl -s $sock tail -f
    $ctl -s $sock build -- make -C examples/devserver

Ctrl-C stops both.

MSG
status=0
wait "$spid" || status=$?
spid=
exit "$status"
