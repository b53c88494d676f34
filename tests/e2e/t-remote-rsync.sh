#!/bin/sh
# More than one machine, by rsync (issue 15): the receiving host runs its
# own reloaderd over the build directory that rsync keeps up to date, and
# a libreloader host there loads its modules from it.  Both ways rsync
# writes are covered: its default (a temporary file renamed into place)
# and --inplace with delta transfer (the old file rewritten, as over a
# network).  Each changed module reloads exactly once, and runs; an
# identical rebuild that rsync sends all the same, and an rsync that
# sends nothing, reload nothing.
# backends: inotify poll
. tests/e2e/lib.sh
command -v rsync >/dev/null 2>&1 ||
    skip "rsync is not installed (sh scripts/deps.sh check installs it)"

# The sending side's build directory; $ROOT is the receiving side's.
SRC=$T/src

# Builds module NAME, whose reply() says "greet TEXT", on the sending side.
build() {
	mkmod "$SRC/$1.so" greet -DNONOTE -DGREETING="\"$2\""
}

# Sends the build over as the docs say (whole directory, times compared
# to the nanosecond), with extra rsync options; rsync's list of what it
# changed goes to $T/rsync.out, one file name per line.
send() {
	rsync -a --modify-window=-1 --out-format='%n' "$@" "$SRC/" \
	    "$ROOT/" >"$T/rsync.out" 2>"$T/rsync.err" ||
	    fail "rsync $* failed: $(cat "$T/rsync.err")"
}

# Asserts that the last rsync changed exactly these files (sorted).
sent() {
	got=$(grep -v '/$' "$T/rsync.out" | sort | tr '\n' ' ')
	[ "$got" = "$*" ] || fail "rsync sent '$got', not '$*'"
}

# Prints a file's inode.
inode() {
	stat -c %i "$1"
}

# Asserts that the host got exactly N reloads of module MOD, all ok.
reloads() {
	c=$(host_count "^event reload $1 ")
	ok=$(host_count "^event reload $1 ok ")
	if [ "$c" -ne "$2" ] || [ "$ok" -ne "$2" ]; then
		fail "$1: $c reloads ($ok ok), not $2"
	fi
}

# The first build reaches the receiving side, whose host loads it; its
# daemon watches the directory rsync writes to.
for m in a b c; do
	build $m "$m-1"
done
send
sent "a.so b.so c.so "
start -w build
host_start "$ROOT/a.so" "$ROOT/b.so" "$ROOT/c.so"
host_wait 'event connected'
for m in a b c; do
	wait_log "host\\[[0-9]*\\] registered $m "
	host_expect "greet $m-1" call $m reply
done
round=0
for mode in rename inplace; do
	case $mode in
	rename) opts= ;;
	inplace) opts="--inplace --no-whole-file" ;;
	esac
	round=$((round + 1))
	ib=$(inode "$ROOT/b.so")

	# One module changed: it alone is sent, and reloaded once.
	build b "b-$mode"
	# shellcheck disable=SC2086
	send $opts
	sent "b.so "
	case $mode in
	rename) [ "$(inode "$ROOT/b.so")" != "$ib" ] ||
	    fail "rsync wrote b.so in place, not by a rename" ;;
	inplace) [ "$(inode "$ROOT/b.so")" = "$ib" ] ||
	    fail "rsync --inplace replaced b.so" ;;
	esac
	host_wait '^event reload b ok ' "$round"
	host_expect "greet b-$mode" call b reply

	# Two changed at once: each reloaded once, the third not at all.
	build a "a-$mode"
	build c "c-$mode"
	# shellcheck disable=SC2086
	send $opts
	sent "a.so c.so "
	host_wait '^event reload a ok ' "$round"
	host_wait '^event reload c ok ' "$round"
	host_expect "greet a-$mode" call a reply
	host_expect "greet c-$mode" call c reply
	sync_marker
	for m in a b c; do
		reloads $m "$round"
	done

	# An identical rebuild: new times, so rsync sends every file again;
	# the daemon reads each, finds its stamp unchanged, reloads nothing.
	ids=$(for m in a b c; do buildid "$ROOT/$m.so"; done)
	build a "a-$mode"
	build b "b-$mode"
	build c "c-$mode"
	# shellcheck disable=SC2086
	send $opts
	sent "a.so b.so c.so "
	[ "$(for m in a b c; do buildid "$ROOT/$m.so"; done)" = "$ids" ] ||
	    fail "the identical rebuild has other build-ids"
	# An rsync with nothing to send touches nothing.
	# shellcheck disable=SC2086
	send $opts
	sent ""
	sync_marker
	for m in a b c; do
		reloads $m "$round"
		host_expect "greet $m-$mode" call $m reply
	done
done
expect_count ' offering ' 6
expect_count ' error ' 0
host_stop
stop
