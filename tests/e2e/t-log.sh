# Where and how the daemon logs: -l FILE, SIGUSR1, the journal, -v.
# backends: any
. tests/e2e/lib.sh

# Starts reloaderd in the foreground with stdout and stderr going to file
# $1 and JOURNAL_STREAM set to $JS (unset when empty), then waits for a
# line matching $2 in $LOG.  Further arguments go to the daemon.
launch() {
	out=$1
	ready=$2
	shift 2
	cd "$T"
	env -u JOURNAL_STREAM ${JS:+"JOURNAL_STREAM=$JS"} \
	    "$RELOADERD" -f -i 50ms "$@" >"$out" 2>&1 &
	DPID=$!
	cd "$TOP"
	wait_file "$LOG"
	wait_log "$ready"
}

# Waits (up to 10 s) for a file to exist: wait_log takes a missing file
# for a match.
wait_file() {
	tries=1000
	while [ ! -e "$1" ]; do
		tries=$((tries - 1))
		[ "$tries" -gt 0 ] || fail "timed out waiting for $1 to exist"
		sleep 0.01
	done
}

# Asserts that a file holds no line matching a basic regular expression.
expect_none() {
	! grep -q -- "$2" "$1" 2>/dev/null ||
	    fail "$1 has a line matching '$2': $(grep -- "$2" "$1")"
}

# Starts from an empty root and a fresh marker count, for the next daemon.
fresh_root() {
	rm -rf "$ROOT"
	mkdir -p "$ROOT"
	marker_n=0
}

# -l FILE: lines are appended to FILE, and nothing goes to stderr.
echo "a line from before" >"$T/daemon.log"
LOG=$T/daemon.log
JS=
launch "$T/stderr" ' info ready:' -v -w build -l "$T/daemon.log"
[ "$(head -n 1 "$LOG")" = "a line from before" ] ||
    fail "-l truncated the file instead of appending"
mkso "$ROOT/a.so" 1
wait_log " info added build/a.so module=a build-id=$(buildid "$ROOT/a.so")\$"
[ ! -s "$T/stderr" ] || fail "-l: stderr has: $(cat "$T/stderr")"

# After logrotate's mv, lines go on to the old file until SIGUSR1.
mv "$T/daemon.log" "$T/daemon.log.1"
LOG=$T/daemon.log.1
mkso "$ROOT/b.so" 1
wait_log ' info added build/b.so '
[ ! -e "$T/daemon.log" ] || fail "daemon.log made again before SIGUSR1"
kill -USR1 "$DPID"
LOG=$T/daemon.log
wait_file "$LOG"
wait_log ' info log file reopened$'
mkso "$ROOT/c.so" 1
wait_log " info added build/c.so module=c build-id=$(buildid "$ROOT/c.so")\$"
sync_marker
expect_none "$T/daemon.log.1" 'reopened\|c\.so\|zz-marker'
expect_none "$T/daemon.log" 'starting\|build/[ab]\.so'
[ ! -s "$T/stderr" ] || fail "-l: stderr has: $(cat "$T/stderr")"
stop
expect_count ' info Terminated: stopping$' 1

# Under systemd (JOURNAL_STREAM names stderr's device and inode) lines
# carry a <N> priority prefix and no timestamp.
fresh_root
mkso "$ROOT/x.so" 1
old=$(buildid "$ROOT/x.so")
LOG=$T/journal
: >"$LOG"
JS=$(stat -c '%d:%i' "$LOG")
launch "$LOG" '^<6>ready: 1 directory, 1 module$' -v -w build
expect_count "^<7>known build/x.so module=x build-id=$old\$" 1
mkso "$ROOT/x.so" 2
new=$(buildid "$ROOT/x.so")
wait_log "^<6>changed build/x.so module=x build-id=$new was=$old\$"
wait_log '^<7>batch: 1 files looked at, 0 added, 1 changed, 0 removed$'
echo "not a module" >"$ROOT/bad.so"
wait_log '^<4>build/bad.so: neither an ELF shared object nor a BEAM file$'
stop
expect_count '^<6>Terminated: stopping$' 1
expect_none "$LOG" '^[^<]\|^<[^0-7]\|^<[0-7][^>]\|[0-9]\{4\}-[0-9][0-9]-[0-9][0-9]T'

# A JOURNAL_STREAM naming another file is not stderr: normal lines.
fresh_root
LOG=$T/notjournal
: >"$T/other"
JS=$(stat -c '%d:%i' "$T/other")
launch "$LOG" ' info ready:' -v -w build
JS=
mkso "$ROOT/y.so" 1
wait_log " info added build/y.so module=y build-id=$(buildid "$ROOT/y.so")\$"
stop
ts='[0-9]\{4\}-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]\.[0-9]\{3\}Z'
expect_none "$LOG" "^<"
[ "$(count_log "^$ts \\(debug\\|info\\|warn\\|error\\) ")" -eq \
    "$(wc -l <"$LOG")" ] || fail "lines without a timestamp and level"
expect_count "^$ts debug batch: " 1

# Without -v there are no debug lines; with -v there are.
fresh_root
mkso "$ROOT/z.so" 1
LOG=$T/quiet
launch "$LOG" ' info ready:' -w build
mkso "$ROOT/z.so" 2
wait_log ' info changed build/z.so '
sync_marker
expect_count ' debug ' 0
stop

fresh_root
mkso "$ROOT/z.so" 1
LOG=$T/verbose
launch "$LOG" ' info ready:' -v -w build
expect_count " debug known build/z.so module=z build-id=$(buildid "$ROOT/z.so")\$" 1
mkso "$ROOT/z.so" 2
wait_log ' info changed build/z.so '
wait_log ' debug batch: 1 files looked at, 0 added, 1 changed, 0 removed$'
stop
