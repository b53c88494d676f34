#!/bin/sh
# reloaderctl list leaves out OTP's own modules, which the Erlang client
# registers with origin=otp (the daemon repeats origin= in list), and
# says how many it left out; -a/--all shows them, and --json follows the
# same choice.  A scripted client stands in for an Erlang node.
# backends: any
. tests/e2e/lib.sh
ctl_setup

mkmod "$ROOT/lists.so" greet -DNONOTE -DGREETING='"otp"'
mkmod "$ROOT/kernel.so" greet -DNONOTE -DGREETING='"otp2"'
mkmod "$ROOT/greet.so" greet -DGREETING='"v1"'
start
mkfifo "$T/cl.in"
"$RLCLIENT" -w -t 20000 "$SOCK" <"$T/cl.in" >"$T/cl.out" 2>&1 &
CTL_PIDS="$CTL_PIDS $!"
exec 7>"$T/cl.in"
L=$(buildid "$ROOT/lists.so")
K=$(buildid "$ROOT/kernel.so")
G=$(buildid "$ROOT/greet.so")
printf '%s\n' '> hello proto=1 pid=77 name=ex@vm' '< welcome' \
    "> register module=lists path=$ROOT/lists.so stamp=build-id:$L origin=otp" \
    '< registered' \
    "> register module=kernel path=$ROOT/kernel.so stamp=build-id:$K origin=otp" \
    '< registered' \
    "> register module=greet path=$ROOT/greet.so stamp=build-id:$G" \
    '< registered' >&7
wait_log 'ex@vm\[77\] registered greet'

ctl list
ctl_status 0
ctl_has out 'ex@vm\[77\]  *greet  '
ctl_hasnt out '  lists  '
ctl_hasnt out '  kernel  '
ctl_has out "^1 client, 1 module, 0 stale; 2 of OTP's own modules not shown (-a shows them)\$"
ctl list -a
ctl_status 0
ctl_has out '  lists  '
ctl_has out '  kernel  '
ctl_has out '^1 client, 3 modules, 0 stale$'
ctl list --all -m 'l*'
ctl_has out '  lists  '
ctl_hasnt out '  kernel  '
ctl list --json
[ "$(grep -c '"type":"loaded"' "$T/ctl.out")" -eq 1 ] ||
    ctl_fail "list --json shows OTP's modules without -a"
ctl list --json -a
[ "$(grep -c '"origin":"otp"' "$T/ctl.out")" -eq 2 ] ||
    ctl_fail "list --json -a: not both OTP modules with origin"
exec 7>&-
