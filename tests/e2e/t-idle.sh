# Idle: with inotify and nothing changing, the daemon never wakes up.
# backends: any
. tests/e2e/lib.sh

# Prints the daemon's voluntary context switches, summed over its threads.
ctxt() {
	cat /proc/"$DPID"/task/*/status |
	    sed -n 's/^voluntary_ctxt_switches:[[:space:]]*//p' |
	    awk '{ n += $1 } END { print n + 0 }'
}

# Waits (up to 5 s) until the daemon sleeps in its event loop, so that
# going to sleep after the ready line is not counted as a wake-up.
wait_asleep() {
	tries=500
	while [ "$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' \
	    /proc/"$DPID"/status)" != S ]; do
		tries=$((tries - 1))
		[ "$tries" -gt 0 ] || fail "reloaderd never went to sleep"
		sleep 0.01
	done
}

mkso "$ROOT/one.so" 1
mkso "$ROOT/sub/two.so" 2
mkso "$ROOT/sub/deeper/three.so" 3
mkso "$ROOT/other/four.so" 4

# inotify: not one wake-up in 10 s, even with a 50ms poll interval given.
start -b inotify -w build
expect_count ' info watching build (inotify, 4 modules)$' 1
wait_asleep
before=$(ctxt)
sleep 10
after=$(ctxt)
[ "$after" -eq "$before" ] ||
    fail "inotify: $((after - before)) voluntary context switches in 10 s"
stop

# The measurement can fail: polling every second wakes the daemon up.
: >"$LOG"
start -b poll -i 1s -w build
expect_count ' info watching build (poll, 4 modules)$' 1
wait_asleep
before=$(ctxt)
sleep 3
after=$(ctxt)
[ "$after" -ge $((before + 2)) ] ||
    fail "poll -i 1s: only $((after - before)) voluntary context switches in 3 s"
stop
