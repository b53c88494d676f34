#!/bin/sh
# At its descriptor limit the daemon neither spins nor loses work.  With
# a soft and a hard limit of 1024 (so that raising the soft one cannot
# help) and 1200 connections held open, it stops watching its socket and
# tries again on a timer: under 5 % of a core over 5 s, one log line when
# that begins and one when it ends; the connections it cannot take are
# answered busy through its reserve descriptor; a module changed
# meanwhile is still read and reaches an attached host; new clients
# attach once the connections close.  And beyond max-clients a new
# connection gets one "busy" line and is closed.
# backends: inotify
. tests/e2e/lib.sh

if [ "$(ulimit -H -n)" != unlimited ] && [ "$(ulimit -H -n)" -lt 1300 ] &&
    [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: fdhog needs 1300 descriptors; the hard limit is $(ulimit -H -n)"
	exit 0
fi
# The daemon alone runs with soft and hard limits of 1024.
REAL=$RELOADERD
RELOADERD=$T/limited
printf '#!/bin/sh\nulimit -n 1024 && exec "%s" "$@"\n' "$REAL" >"$RELOADERD"
chmod +x "$RELOADERD"

# Reads the daemon's CPU time, user and system, in clock ticks.
cpu_ticks() {
	awk '{ print $14 + $15 }' "/proc/$DPID/stat"
}

# --- Out of descriptors: max-clients set beyond what the limit allows.
printf '[reloaderd]\nmax-clients = 5000\n' >"$T/conf"
mkmod "$ROOT/greet.so" greet -DGREETING='"v1"'
DAEMON_V= start -c "$T/conf"
expect_count ' info descriptor limit 1024 (soft limit was 1024, hard limit 1024)$' 1
expect_count ' warn max-clients 5000 is more than the descriptor limit 1024 leaves room for' 1
host_start "$ROOT/greet.so"
host_wait 'event connected'
wait_log 'host\[[0-9]*\] registered greet'
host_expect "greet v1" call greet reply

hog_start
got=$(hog_cmd open 1200)
[ "$(hog_field "$got" opened)" -gt 1024 ] || fail "fdhog: $got"
wait_log ' warn cannot accept connections: Too many open files ([0-9]* attached, descriptor limit 1024)'
first=$(grep -n ' warn cannot accept connections' "$LOG" | cut -d: -f1)

# Idle while starved: the CPU the daemon used over 5 s.
hz=$(getconf CLK_TCK)
t0=$(cpu_ticks)
sleep 5
used=$(($(cpu_ticks) - t0))
echo "at the limit: $used of $((5 * hz)) clock ticks in 5 s"
[ $((used * 100)) -lt $((5 * hz * 5)) ] ||
    fail "the daemon used $used ticks of $((5 * hz)) in 5 s at its limit"

# The connections it could not take were told so.
got=$(hog_cmd check)
[ "$(hog_field "$got" busy)" -ge 1 ] || fail "no connection was answered busy: $got"
[ "$(hog_field "$got" other)" -eq 0 ] || fail "fdhog: $got"

# A change while starved: read, and reloaded in the host.
mkmod "$ROOT/greet.so" greet -DGREETING='"v2"'
host_wait 'event reload greet ok'
host_expect "greet v2" call greet reply
expect_count ' info accepting connections again' 0

# The connections close: the daemon accepts again, says so once, and
# takes a new client.
hog_stop
wait_log ' info accepting connections again after [0-9.]* s: [1-9][0-9]* accepts failed, [1-9][0-9]* connections answered busy$'
lines=$(($(wc -l <"$LOG") - first + 1))
[ "$lines" -lt 100 ] || fail "the episode took $lines log lines"
echo "the episode: $lines log lines; $(tail -n 1 "$LOG" | sed 's/^[^ ]* //')"
expect_count ' warn cannot accept connections' 1
client late <<-'EOF'
	> hello proto=1 pid=1 name=late
	< welcome
	> ping id=1
	< pong id=1
	EOF
host_expect "greet v2" call greet reply
nfd=$(ls "/proc/$DPID/fd" | wc -l)
[ "$nfd" -lt 30 ] || fail "the daemon still holds $nfd descriptors"
host_stop
stop

# --- max-clients: beyond it one "busy" line, then the connection closes.
printf '[reloaderd]\nmax-clients = 20\n' >"$T/conf"
start -c "$T/conf"
hog_start
got=$(hog_cmd open 25 hello)
[ "$(hog_field "$got" opened)" -eq 25 ] || fail "fdhog: $got"
got=$(hog_cmd sync)
[ "$(hog_field "$got" welcome)" -eq 20 ] || fail "not 20 welcome: $got"
[ "$(hog_field "$got" busy)" -eq 5 ] || fail "not 5 busy: $got"
[ "$(hog_field "$got" eof)" -eq 5 ] || fail "not 5 closed: $got"
client full <<-'EOF'
	> hello proto=1 pid=2 name=full
	< error code=busy msg=reloaderd\x20has\x2020\x20connections,\x20its\x20max-clients;\x20try\x20again\x20later
	!eof
	EOF
[ "$(wc -l <"$T/full.out")" -eq 1 ] || fail "more than one line for a busy client"
expect_count ' warn max-clients (20 connections) reached: answering new ones busy until some close$' 1
hog_stop
# Once the daemon has seen them go: a new connection may be accepted in
# the same turn of its loop as their closes are read, before them.
wait_log ' info hog[0-9]*\[[0-9]*\] disconnected$' 20
client later <<-'EOF'
	> hello proto=1 pid=3 name=later
	< welcome
	EOF
wait_log ' info taking connections again: 6 answered busy at max-clients (20)$'
stop
