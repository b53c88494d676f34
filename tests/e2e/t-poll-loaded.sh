#!/bin/sh
# With polling, the modules that processes have loaded are looked at every
# interval, even while a sweep of the whole tree is under way (issue 12:
# a sweep of a million files outlasts a one-second interval).  The test
# holds the sweep after its first directory with RELOADERD_TEST_SWEEP_GATE:
# an edit to the module the host loaded is seen and reloaded meanwhile, as
# is one deleted for longer than the grace period and made again, and a
# symlink the host loaded through switched to another build; one to a
# module nobody loaded waits for the sweep, and is seen once the sweep
# goes on; a directory removed while the sweep is held is left out of it;
# the log says when a sweep outlasted the interval, and when they are
# quick again.
# backends: poll
. tests/e2e/lib.sh

mkdir -p "$ROOT/sub" "$ROOT/gone"
mkmod "$ROOT/sub/greet.so" greet -DGREETING='"v1"'
mkmod "$ROOT/sub/l1.so" greet -DNONOTE -DGREETING='"l1"'
mkmod "$ROOT/sub/l2.so" greet -DNONOTE -DGREETING='"l2"'
ln -s l1.so "$ROOT/sub/link.so"
mkso "$ROOT/sub/other.so" 1
mkso "$ROOT/gone/old.so" 1
export RELOADERD_TEST_SWEEP_GATE="$T/gate"
start -w build
host_start "$ROOT/sub/greet.so" "$ROOT/sub/link.so"
host_wait 'event connected'
wait_log 'host\[[0-9]*\] registered greet'
wait_log 'host\[[0-9]*\] registered link'
host_expect "greet v1" call greet reply
host_expect "greet l1" call link reply

# The sweep is held after build/, before build/sub: the loaded module is
# looked at every interval all the same.
mkmod "$ROOT/sub/greet.so" greet -DGREETING='"v2"'
host_wait 'event reload greet ok'
host_expect "greet v2" call greet reply

# Deleted for longer than the grace period (its node goes with the
# file), then made again: still looked at.
rm "$ROOT/sub/greet.so"
wait_log 'removed build/sub/greet\.so'
mkmod "$ROOT/sub/greet.so" greet -DGREETING='"v2b"'
host_wait 'event reload greet ok' 2
host_expect "greet v2b" call greet reply

# The symlink the host loaded through, switched to another build.
ln -sfn l2.so "$ROOT/sub/link.so"
host_wait 'event reload link ok'
host_expect "greet l2" call link reply

# One nobody loaded is not: the held sweep has not reached it.
mkso "$ROOT/sub/other.so" 2
sleep 1     # 20 intervals
expect_count 'changed build/sub/other\.so' 0

# A directory removed while the sweep is held: a build's release reads
# the tree at once, which forgets it, and the sweep passes over it.
rm -r "$ROOT/gone"
"$CTL" -s "$SOCK" build -- true >"$T/build.out" 2>&1 ||
    fail "reloaderctl build failed: $(cat "$T/build.out")"
wait_log 'removed build/gone/old\.so'
# That read at once saw the other module's change too.
wait_log 'changed build/sub/other\.so module=other'

# The sweep goes on, and ends: it took longer than the interval.
mkso "$ROOT/sub/other.so" 3
touch "$T/gate"
wait_log 'a poll sweep of every watched file takes [0-9.]* s, longer than the interval (0\.05 s)'
wait_log 'changed build/sub/other\.so module=other .* was=' 2
wait_log 'a poll sweep takes [0-9.]* s again, under half the interval'

# Still looked at every interval.
mkmod "$ROOT/sub/greet.so" greet -DGREETING='"v3"'
host_wait 'event reload greet ok' 3
host_expect "greet v3" call greet reply
expect_count ' warn ' 0
host_stop
stop
