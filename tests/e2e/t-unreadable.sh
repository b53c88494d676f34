#!/bin/sh
# A module that cannot be read for a while (the daemon out of
# descriptors: EMFILE) is not taken for missing, nor forgotten: it is
# read again with a growing delay, logged once, shown "unreadable" with
# its reason by `reloaderctl list`, and reaches the host as soon as the
# daemon can read it again.  A file that is really gone is "missing".
# The failures come from a preloaded shim (failopen.c), since no test
# can make the kernel fail exactly that one open.
# backends: inotify poll
. tests/e2e/lib.sh
ctl_setup

FAILOPEN=${FAILOPEN:-$TOP/$O/tests/failopen.so}
REAL=$RELOADERD
RELOADERD=$T/failing
cat >"$RELOADERD" <<EOS
#!/bin/sh
ASAN_OPTIONS=\${ASAN_OPTIONS:+\$ASAN_OPTIONS:}verify_asan_link_order=0
export ASAN_OPTIONS
LD_PRELOAD=$FAILOPEN FAILOPEN_PATH=greet.so FAILOPEN_WHILE=$T/fail \
    exec "$REAL" "\$@"
EOS
chmod +x "$RELOADERD"

# Prints the "loaded" line `list -j` gives host NAME's module MOD.
loaded() {
	ctl -j list "$1"
	grep '"type":"loaded".*"module":"'"$2"'"' "$T/ctl.out"
}

mkmod "$ROOT/greet.so" greet -DGREETING='"v1"'
start
hst_start h "$ROOT/greet.so"
wait_log 'h\[[0-9]*\] registered greet'
hst_expect h "greet v1" call greet reply

# Rewritten while the daemon cannot open it.
touch "$T/fail"
mkmod "$ROOT/greet.so" greet -DGREETING='"v2"'
wait_log 'warn cannot read .*greet\.so: Too many open files; trying again'
loaded h greet | grep -q '"state":"unreadable"' ||
    ctl_fail "not unreadable while it cannot be read"
loaded h greet | grep -q '"reason":"could not be read (Too many open files); trying again"' ||
    ctl_fail "unreadable without its reason"
# Tried again and again, and said once.
wait_log 'debug batch: 1 files looked at' 4
expect_count 'cannot read .*greet\.so' 1
hst_expect h "greet v1" call greet reply

# The daemon can read again: the host gets v2 without a further change.
rm "$T/fail"
wait_log 'info read .*greet\.so again, after [0-9]* failed tr'
hst_wait h 'event reload greet ok'
hst_expect h "greet v2" call greet reply
loaded h greet | grep -q '"state":"current"' || ctl_fail "not current after"
expect_count 'cannot read .*greet\.so' 1

# A file that is gone is missing, and says what ends it.
rm "$ROOT/greet.so"
wait_log 'removed .*greet\.so'
loaded h greet | grep -q '"state":"missing"' || ctl_fail "gone but not missing"
mkmod "$ROOT/greet.so" greet -DGREETING='"v3"'
hst_wait h 'event reload greet ok' 2
hst_expect h "greet v3" call greet reply
