#!/bin/sh
# reloaderctl on bad input: an unknown command or option, bad arguments,
# a socket that is missing, not a socket, or refuses; a module loaded
# nowhere, a client attached nowhere, release without hold; and a daemon
# (a fake one, in perl) that answers an error, a line that is too long or
# cannot be parsed, closes mid-answer or mid-line, refuses us, or never
# answers.  Each is one clear message on stderr and the documented exit
# status, and the real daemon carries on: status works and a host still
# reloads.
# backends: any
. tests/e2e/lib.sh
ctl_setup

# Asserts that the last reloaderctl exited STATUS with one message line
# matching PATTERN, and the usage line after it for EX_USAGE unless the
# fourth argument is "nousage" (an answer of the daemon).
ctl_refused() {
	ctl_status "$1" "$2"
	ctl_has err "^reloaderctl: $3"
	[ "$(ctl_count err '^reloaderctl: ')" -eq 1 ] ||
	    ctl_fail "not one message"
	[ -s "$T/ctl.out" ] && ctl_fail "output on standard output"
	if [ "$1" -eq 64 ] && [ "${4:-}" != nousage ]; then
		ctl_has err '^usage: reloaderctl \[-hjVv\] \[-s socket\] \[-t timeout\] command \[arg \.\.\.\]$'
	fi
	return 0
}

mkmod "$ROOT/greet.so" greet -DGREETING='"v1"'
start
hst_start alpha "$ROOT/greet.so"
wait_log 'alpha\[[0-9]*\] registered greet'

# --- The command line (EX_USAGE, 64), before any connection.
ctl frobnicate
ctl_refused 64 "unknown command" 'unknown command "frobnicate"'
ctl
ctl_refused 64 "no command" 'no command given'
ctl -x status
ctl_refused 64 "unknown option" 'unknown option -x'
ctl --frob status
ctl_refused 64 "unknown long option" 'unknown option --frob'
ctl status --frob
ctl_refused 64 "unknown command option" 'status: unknown option --frob'
ctl -t soon status
ctl_refused 64 "bad timeout" '-t soon: expected seconds'
ctl status now
ctl_refused 64 "operand to status" 'status takes no arguments'
ctl reload
ctl_refused 64 "reload of nothing" 'reload: name the modules, or --all'
ctl reload --all greet
ctl_refused 64 "reload --all greet" 'reload: --all and module names'
ctl rollback
ctl_refused 64 "rollback of nothing" 'rollback takes one module name'
ctl tail -n many
ctl_refused 64 "tail -n many" 'tail: -n many: expected a number'
ctl tail -n
ctl_refused 64 "tail -n" 'tail: option -n needs an argument'
ctl build
ctl_refused 64 "build of nothing" 'build: no command given'
ctl -h
ctl_status 0
ctl_has out '^usage: reloaderctl '
ctl_has out '^    build  *\[--always\] \[-w glob\]\.\.\. -- command'
ctl -V
ctl_status 0
ctl_has out '^reloaderctl [0-9][0-9.]*$'

# --- The socket (EX_UNAVAILABLE, 69).
SAVE=$SOCK
SOCK=$T/no-such.sock
ctl status
ctl_refused 69 "missing socket" "$SOCK: no such socket (is reloaderd running?)"
SOCK=$T/plain-file
echo "not a socket" >"$SOCK"
ctl list
ctl_refused 69 "a regular file" "$SOCK: not a socket"
SOCK=$T/deaf.sock
perl -MSocket -e 'socket(my $s, PF_UNIX, SOCK_STREAM, 0) or die;
    bind($s, pack_sockaddr_un($ARGV[0])) or die "bind: $!"' "$SOCK"
ctl status
ctl_refused 69 "a socket nobody listens on" "$SOCK: connection refused"
# RELOADER_SOCKET is used when -s is not given.
rc=0
RELOADER_SOCKET=$T/no-such.sock "$CTL" status 2>"$T/ctl.err" || rc=$?
[ "$rc" -eq 69 ] || fail "RELOADER_SOCKET: exit $rc"
grep -q "^reloaderctl: $T/no-such.sock: no such socket" "$T/ctl.err" ||
    fail "RELOADER_SOCKET not used: $(cat "$T/ctl.err")"
SOCK=$SAVE

# --- What the daemon does not have (EX_DATAERR, 65), and release without
# a hold (EX_USAGE).
ctl reload nosuch
ctl_refused 65 "a module loaded nowhere" 'nosuch: not loaded in any attached process$'
ctl rollback nosuch
ctl_refused 65 "rollback of a module loaded nowhere" 'nosuch: not loaded'
ctl list nosuch
ctl_refused 65 "a client attached nowhere" 'nosuch: no attached client'
ctl release
ctl_refused 64 "release without hold" 'release: reloads are not held' \
    nousage
ctl release --discard
ctl_refused 64 "release --discard without hold" \
    'release: reloads are not held' nousage
# A reload of one known and one unknown module: the known one is
# reloaded, the exit status is the error's.
ctl reload greet nosuch
ctl_status 65
ctl_has out '^greet in alpha\[[0-9]*\]: ok'
ctl_has err '^reloaderctl: nosuch: not loaded in any attached process$'

# --- A daemon that misbehaves (a fake one): EX_PROTOCOL (76) for what it
# says, EX_UNAVAILABLE (69) when it goes away, EX_NOPERM (77) when it
# refuses us, EX_TEMPFAIL (75) when it is silent past -t.
cat >"$T/fake.pl" <<'EOF'
use strict;
use IO::Socket::UNIX;
my ($path, $mode) = @ARGV;
unlink $path;
my $srv = IO::Socket::UNIX->new(Local => $path, Listen => 5)
    or die "listen: $!";
open(my $r, '>', "$path.ready") or die;
close $r;
my $c = $srv->accept or die "accept: $!";
$c->autoflush(1);
my $hello = <$c>;
if ($mode eq 'denied') {
	print $c "error code=denied msg=not\\x20you line=1\n";
	exit 0;
}
print $c "welcome proto=1 server=fake/0 client=1 max-line=16384\n";
my $req = <$c>;
if ($mode eq 'error') {
	print $c "error code=frobnicated msg=a\\x20new\\x20kind line=2\n";
} elsif ($mode eq 'unknown') {
	print $c "error code=unknown-verb msg=unknown\\x20verb line=2\n";
} elsif ($mode eq 'long') {
	print $c "daemon id=1 x=" . ("a" x 20000) . "\n";
} elsif ($mode eq 'eof') {
	print $c "daemon id=1 version=9\n";
} elsif ($mode eq 'partial') {
	print $c "daemon id=1 vers";
} elsif ($mode eq 'garbage') {
	print $c "Daemon\tX\n";
} elsif ($mode eq 'silent') {
	sleep 10;
}
close $c;
EOF

# Runs reloaderctl ARGS... against the fake daemon in MODE.
fake() {
	mode=$1
	shift
	rm -f "$T/fake.sock.ready"
	perl "$T/fake.pl" "$T/fake.sock" "$mode" &
	fpid=$!
	CTL_PIDS="$CTL_PIDS $fpid"
	wait_path "$T/fake.sock.ready" -e "the fake daemon to start"
	ctl_rc=0
	"$CTL" -s "$T/fake.sock" "$@" >"$T/ctl.out" 2>"$T/ctl.err" ||
	    ctl_rc=$?
	kill "$fpid" 2>/dev/null || true
	wait "$fpid" 2>/dev/null || true
}

fake error status
ctl_refused 76 "an error code it does not know" \
    'status: the daemon answered: frobnicated: a new kind$'
fake unknown status
ctl_refused 76 "an older daemon" 'status: the daemon does not know this request'
fake long status
ctl_refused 76 "a line too long" 'the daemon sent a line longer than 16384 bytes$'
fake garbage status
ctl_refused 76 "a line it cannot parse" 'the daemon sent a line reloaderctl cannot read'
fake eof status
ctl_refused 69 "closed mid-answer" 'the daemon closed the connection'
fake partial list
ctl_refused 69 "closed mid-line" 'the daemon closed the connection in the middle of a line$'
fake denied status
ctl_refused 77 "refused" 'the daemon does not let this user attach'
fake silent -t 0.3 status
ctl_refused 75 "no answer" 'no answer from the daemon within the timeout'
# build runs the command whatever the daemon does.
fake error build -- sh -c 'exit 4'
ctl_status 4 "build with a daemon that errs"
ctl_has err 'running the build without holding reloads$'

# --- The real daemon is unaffected: status works and a host reloads.
ctl status
ctl_status 0
ctl_has out '^clients  *1 attached'
ctl_has out '^held  *no$'
n=$(hst_count alpha 'event reload greet ok')
mkmod "$ROOT/greet.so" greet -DGREETING='"v2"'
hst_wait alpha 'event reload greet ok' $((n + 1))
hst_expect alpha "greet v2" call greet reply
expect_count ' error ' 0
stop
echo "ok"
