# A client that answers ok with another version than the one offered.
# It loaded a file that changed after the daemon read it: GNU ld writes a
# build-id last, so a file read just before looks whole but is not what
# the linker leaves.  The daemon reads the file again at once instead of
# offering the stamp it read over and over, and says so; if the file
# still does not hold what the client loaded, `list` calls the module
# failed with the reason, until a build or a forced reload.  An ok that
# leaves the client on what it ran is held back the same way.  The poll
# interval is an hour, so that only the daemon's own reading again (not a
# poll) can find what the file holds now.
# backends: any
. tests/e2e/lib.sh

CTL=${CTL:-$TOP/$O/reloaderctl}
ctl_setup
trap '' PIPE

mkso "$ROOT/x.so" 1
mkso "$T/x2.so" 2
mkso "$T/x3.so" 3
x1=$(buildid "$ROOT/x.so")
x2=$(buildid "$T/x2.so")
x3=$(buildid "$T/x3.so")
nowhere=00112233445566778899aabbccddeeff00112233

# Puts the build in file $1 in place of x.so, as a build renames it.
put() {
	cp "$1" "$ROOT/.x.so.tmp"
	mv -f "$ROOT/.x.so.tmp" "$ROOT/x.so"
}

# Prints the last batch id client a was offered.
last_batch() {
	sed -n 's/^< reload.* batch=\([0-9]*\).*/\1/p' "$T/a.out" | tail -n 1
}

# Builds file $1 into place while reloads are held, as reloaderctl build
# does, and waits for client a's Nth offer ($2) of its stamp ($3); sets b
# to the batch.
build_offered() {
	ctl hold
	ctl_status 0
	put "$1"
	ctl release
	ctl_status 0
	wait_recv a "$2" module module=x "stamp=build-id:$3"
	b=$(last_batch)
}

start -b poll -i 60m
open_client a 7
to a "> hello proto=1 pid=4242 name=tester" "< welcome"
to a "> register module=x path=$ROOT/x.so stamp=build-id:$x1" \
    "< registered"
wait_recv a 1 registered module=x

# --- the file changes between the daemon's reading and the client's load.
build_offered "$T/x2.so" 1 "$x2"
put "$T/x3.so"
to a "> result batch=$b module=x status=ok stamp=build-id:$x3 load=0.2" \
    "> done batch=$b"
wait_log "reloading x .* ok 0.20 ms, but the file changed after it was \
read: it runs build-id:$x3; reading the file again"
wait_log "changed .*/x.so module=x build-id=$x3 was=$x2"
ctl list
ctl_status 0
ctl_has out " x  .* current$"
ctl_has out " 0 stale$"
expect_recv a 1 module module=x
expect_recv a 1 reload

# --- it loaded a version the file does not hold, even read again.
build_offered "$T/x2.so" 2 "$x2"
to a "> result batch=$b module=x status=ok stamp=build-id:$nowhere" \
    "> done batch=$b"
wait_log "it runs build-id:$nowhere; reading the file again"
ctl list
ctl_status 0
ctl_has out " x  .* stale (failed)$"
ctl_has out "x: failed: it loaded build-id:$nowhere, not the build-id:$x2 offered: \
the file changed after it was read"
# Once, not again and again: the daemon held the stamp back.
expect_recv a 2 module module=x
expect_recv a 2 reload
[ "$(count_log "reading the file again")" -eq 2 ] ||
    fail "the mismatch was logged other than twice"

# A forced reload offers the file again, and a good load ends it.
ctl_bg rl reload x
wait_recv a 3 module module=x "stamp=build-id:$x2"
b=$(last_batch)
to a "> result batch=$b module=x status=ok stamp=build-id:$x2 load=0.2" \
    "> done batch=$b"
bg_wait rl "ok"
ctl list
ctl_has out " x  .* current$"

# --- it answers ok but still runs what it ran: not offered again either.
build_offered "$T/x3.so" 1 "$x3"
to a "> result batch=$b module=x status=ok stamp=build-id:$x2 load=0.2" \
    "> done batch=$b"
wait_log "reloading x .* ok 0.20 ms, but it still runs build-id:$x2; not \
offered again until the file changes"
ctl list
ctl_has out " x  .* stale (failed)$"
ctl_has out "x: failed: it answered ok but still runs build-id:$x2, not the \
build-id:$x3 offered"
expect_recv a 1 module module=x "stamp=build-id:$x3"
[ "$(count_log "reading the file again")" -eq 2 ] ||
    fail "an ok that did not switch read the file again"
close_client a
stop
end_test
