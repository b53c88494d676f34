# Idle: with inotify and nothing changing, the daemon never wakes up: it
# waits without a timeout (libev alone would end its wait once a minute),
# also after a reload, once its timers are done; polling, it waits with one.
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

# Prints how long the daemon's current wait may last, from the system
# call it sleeps in (/proc/PID/syscall): "forever", "timed" (a timeout,
# in milliseconds where the call says), or "unknown" where this machine's
# calls are not known here.
wait_limit() {
	set -- $(cat /proc/"$DPID"/syscall 2>/dev/null) x x x x x x
	# On a CPU right now (a slow build, the sanitizers): look again.
	if [ "$1" = running ]; then
		echo running
		return
	fi
	case $(uname -m) in
	x86_64) c_poll=7 c_ppoll=271 c_ewait=232 c_epwait=281 ;;
	aarch64) c_poll=- c_ppoll=73 c_ewait=- c_epwait=22 ;;
	*) echo unknown; return ;;
	esac
	case $1 in
	"$c_poll") ms=$4 ;;
	"$c_ewait" | "$c_epwait") ms=$5 ;;
	"$c_ppoll")
		[ "$4" = 0x0 ] && echo forever || echo timed
		return ;;
	*) echo "unknown (in call $1)"; return ;;
	esac
	case $ms in
	0xffffffff | 0xffffffffffffffff) echo forever ;;
	*) echo "timed $((ms)) ms" ;;
	esac
}

# Waits (up to 10 s) until the daemon's wait is of the kind given (a
# prefix of what wait_limit prints); skips the part where the machine's
# calls are not known.
wait_wait() {
	tries=1000
	while :; do
		got=$(wait_limit)
		case $got in
		"$1"*) return 0 ;;
		unknown*) skip_part "$2: cannot read the wait ($got)"
			return 0 ;;
		esac
		tries=$((tries - 1))
		[ "$tries" -gt 0 ] || fail "$2: the daemon waits '$got', not '$1'"
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
wait_wait forever "inotify, idle"
stop

# After a reload, once every timer of the batch is done, the wait is
# without a timeout again.
: >"$LOG"
mkmod "$ROOT/greet.so" greet -DGREETING='"v1"'
start -b inotify -w build
host_start "$ROOT/greet.so"
host_wait 'event connected'
wait_log 'host\[[0-9]*\] registered greet'
wait_wait forever "inotify, a client attached"
mkmod "$ROOT/greet.so" greet -DGREETING='"v2"'
host_wait 'event reload greet ok'
host_expect "greet v2" call greet reply
wait_wait forever "inotify, after a reload"
host_stop
wait_wait forever "inotify, after the client left"
stop

# The measurement can fail: polling every second wakes the daemon up.
: >"$LOG"
start -b poll -i 1s -w build
expect_count ' info watching build (poll, 5 modules)$' 1
wait_asleep
before=$(ctxt)
sleep 3
after=$(ctxt)
[ "$after" -ge $((before + 2)) ] ||
    fail "poll -i 1s: only $((after - before)) voluntary context switches in 3 s"
# Its wait has a timeout, within the interval.
if wait_wait timed "poll -i 1s"; then
	case $(wait_limit) in
	"timed "*" ms")
		ms=$(wait_limit | sed 's/timed \(-*[0-9]*\) ms/\1/')
		[ "$ms" -ge 0 ] && [ "$ms" -le 1000 ] ||
		    fail "poll -i 1s: the daemon waits $ms ms" ;;
	esac
fi
stop
