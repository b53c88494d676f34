# The command line, the configuration file, SIGHUP and SIGTERM.
# backends: any
. tests/e2e/lib.sh

# Runs reloaderd to completion: its exit status in rc, its output in
# $T/out and $T/err.  Every call but -V has -n, so a value wrongly taken
# cannot leave a daemon running.
run() {
	rc=0
	"$RELOADERD" "$@" >"$T/out" 2>"$T/err" || rc=$?
}

# Asserts that the last run failed and said the fixed string $1 on stderr.
expect_error() {
	[ "$rc" -ne 0 ] || fail "reloaderd $2: exit status 0, expected failure"
	grep -qF -- "$1" "$T/err" ||
	    fail "reloaderd $2: stderr lacks '$1'; got: $(cat "$T/err")"
}

# -V prints the version, and nothing else.
run -V
[ "$rc" -eq 0 ] || fail "-V: exit status $rc"
[ "$(cat "$T/out")" = "reloaderd 0.1.0" ] ||
    fail "-V printed '$(cat "$T/out")'"

# -n checks the configuration and says so.
run -n
[ "$rc" -eq 0 ] || fail "-n: exit status $rc: $(cat "$T/err")"
[ "$(cat "$T/err")" = "configuration OK" ] ||
    fail "-n printed '$(cat "$T/err")'"

cat >"$T/good.conf" <<'EOF'
# A configuration using most keys.
[reloaderd]
backend = poll
interval = 250ms
settle = 50ms
log-level = info
include = *.so *.beam
exclude = *.tmp "#*#"

[watch "build"]
backend = inotify
include = *.so

[watch "/elsewhere/plugins"]
exclude =
EOF
run -n -c "$T/good.conf"
[ "$rc" -eq 0 ] || fail "-n -c good.conf: exit status $rc: $(cat "$T/err")"
[ "$(cat "$T/err")" = "configuration OK" ] ||
    fail "-n -c good.conf printed '$(cat "$T/err")'"

# A broken file: the error names the file and the line.
printf '# line 1\n[reloaderd]\ncolour = blue\nbackend = poll\n' >"$T/bad1.conf"
run -n -c "$T/bad1.conf"
expect_error "reloaderd: $T/bad1.conf:3: unknown key \"colour\"" bad1.conf

printf '[reloaderd]\ninterval = 1s\n\nbackend = nope\n' >"$T/bad2.conf"
run -n -c "$T/bad2.conf"
expect_error "reloaderd: $T/bad2.conf:4: invalid backend \"nope\"" bad2.conf

printf '[reloaderd]\ninterval = 5x\n' >"$T/bad3.conf"
run -n -c "$T/bad3.conf"
expect_error "reloaderd: $T/bad3.conf:2: interval: invalid duration \"5x\"" \
    bad3.conf

printf '[reloaderd]\n\n# zero\ninterval = 0\n' >"$T/bad4.conf"
run -n -c "$T/bad4.conf"
expect_error "reloaderd: $T/bad4.conf:4: interval \"0\" is out of range" \
    bad4.conf

printf '[watch "build"]\ninclude = *.so\nbackend = sometimes\n' >"$T/bad5.conf"
run -n -c "$T/bad5.conf"
expect_error "reloaderd: $T/bad5.conf:3: invalid backend \"sometimes\"" \
    bad5.conf

run -n -c "$T/missing.conf"
expect_error "reloaderd: $T/missing.conf: No such file or directory" \
    missing.conf

# Bad command-line values: the message names the option or the value.
run -n -b nope
expect_error "-b nope: unknown backend" "-b nope"
run -n -i 5x
expect_error 'invalid duration "5x"' "-i 5x"
run -n -i 0
expect_error "-i 0: interval must be between 1ms and 1h" "-i 0"
run -n -x
expect_error "invalid option -- 'x'" "-x"
grep -q '^usage: reloaderd' "$T/err" || fail "-x: no usage line"
# -h asks for the usage: on standard output, status 0, nothing started;
# the same options as the manual's synopsis.
rc=0
"$RELOADERD" -h >"$T/h.out" 2>"$T/h.err" || rc=$?
[ "$rc" -eq 0 ] || fail "reloaderd -h exited $rc: $(cat "$T/h.err")"
[ ! -s "$T/h.err" ] || fail "reloaderd -h wrote to stderr: $(cat "$T/h.err")"
grep -q '^usage: reloaderd \[-fhnvV\] ' "$T/h.out" ||
    fail "reloaderd -h: $(cat "$T/h.out")"
grep -qx '.Op Fl fhnvV' docs/reloaderd.8 ||
    fail "reloaderd(8)'s synopsis does not name -h"

# The command line wins over the file.
printf '[reloaderd]\nbackend = poll\n[watch "build"]\n' >"$T/poll.conf"
start -c "$T/poll.conf" -b inotify
wait_log ' info watching build (inotify, 0 modules)$'
expect_count ' info watching build (poll' 0
stop

: >"$LOG"   # so that start waits for this daemon's ready line

# Relative paths in the file are relative to the file's directory, not to
# the daemon's working directory ($T, where start runs it).
mkdir -p "$T/proj/build"
mkso "$T/proj/build/p1.so" 1
mkso "$T/proj/build/p2.so" 2
printf '[watch "build"]\n' >"$T/proj/reloader.conf"
start -c "$T/proj/reloader.conf"
wait_log ' info watching build ([a-z]*, 2 modules)$'
mkso "$ROOT/cwd.so" 1
mkso "$T/proj/build/p3.so" 3
wait_log " info added build/p3.so module=p3 build-id=$(buildid "$T/proj/build/p3.so")\$"
stop
expect_count 'cwd\.so' 0

# SIGHUP with a broken file keeps the old configuration.
rm -f "$ROOT"/*.so
marker_n=0
: >"$LOG"
mkdir -p "$T/old" "$T/new"
mkso "$T/new/n1.so" 1
printf '[watch "build"]\n[watch "old"]\n' >"$T/hup.conf"
start -c "$T/hup.conf"
wait_log ' info watching build ([a-z]*, 0 modules)$'
wait_log ' info watching old ([a-z]*, 0 modules)$'
printf '[watch "build"]\nfrequency = often\n[watch "new"]\n' >"$T/hup.conf"
kill -HUP "$DPID"
wait_log " error $T/hup.conf:2: unknown key \"frequency\" .*; keeping the old configuration\$"
mkso "$T/old/o1.so" 1
wait_log " info added old/o1.so module=o1 build-id=$(buildid "$T/old/o1.so")\$"
mkso "$ROOT/b1.so" 1
wait_log " info added build/b1.so module=b1 build-id=$(buildid "$ROOT/b1.so")\$"
expect_count 'watching new\|no longer watching\|configuration reloaded' 0

# SIGHUP with a good file: new roots are watched, dropped ones are not,
# and roots in both are left alone.
printf '[watch "new"]\n\n[watch "build"]\n' >"$T/hup.conf"
kill -HUP "$DPID"
wait_log " info configuration reloaded from $T/hup.conf\$"
expect_count ' info watching new ([a-z]*, 1 module)$' 1
expect_count ' info no longer watching old$' 1
expect_count ' info watching build (' 1
expect_count ' info no longer watching build' 0
mkso "$T/new/n2.so" 2
wait_log " info added new/n2.so module=n2 build-id=$(buildid "$T/new/n2.so")\$"
mkso "$T/new/n1.so" 3
wait_log " info changed new/n1.so module=n1 build-id=$(buildid "$T/new/n1.so") was="
mkso "$T/old/o1.so" 2
mkso "$T/old/o2.so" 2
sync_marker
expect_count 'old/o1\.so' 1
expect_count 'old/o2\.so' 0
expect_count ' error ' 1

# SIGTERM: a clean exit, saying so.
stop
expect_count ' info Terminated: stopping$' 1
