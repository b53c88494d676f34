#!/bin/sh
# No byte of a hostile file name reaches a terminal as it is.  A module
# named with ESC [ ... (a 7-bit CSI), a raw 0x9B (the 8-bit CSI) and the
# same C1 control encoded in UTF-8, in a watched root whose own name
# holds an ESC too: the daemon's log, `reloaderctl tail`, `list`,
# `status`, `subscribe` and reloaderctl's error messages carry no raw
# 0x1B or 0x9B byte; their --json output parses (jq); a valid UTF-8 name
# passes unchanged.
# backends: inotify
. tests/e2e/lib.sh
ctl_setup

command -v jq >/dev/null 2>&1 ||
    fail "jq is missing: scripts/deps.sh installs it"

evil=$(printf 'e\033[31mred\2331mx\302\233y.so')
good=$(printf 'caf\303\251-\344\270\255.so')
evildir=$T/$(printf 'w\033]0;title\007\233')
mkdir "$evildir"
mkmod "$ROOT/$evil" greet -DNONOTE
mkmod "$ROOT/$good" greet -DNONOTE
mkso "$evildir/$evil" 3

# Fails if a file holds a raw ESC or 0x9B (raw, or the second byte of
# C2 9B, U+009B in UTF-8).
no_raw() {
	n=$(tr -cd '\033\233' <"$1" | wc -c)
	[ "$n" -eq 0 ] || fail "$2: $n raw ESC or 0x9B bytes: $(od -c "$1" |
	    grep -m 3 '033\|233')"
}

# Fails unless every line of a file is a JSON value jq reads.
json_ok() {
	jq -e . <"$1" >/dev/null 2>"$T/jq.err" ||
	    fail "$2: not JSON: $(cat "$T/jq.err"; head -c 600 "$1")"
}

start -w "$ROOT" -w "$evildir"
ctl_bg sub subscribe
ctl_bg subj subscribe --json
sub_sync sub '^release: '
sub_sync subj '"type":"release"'
host_start "$ROOT/$evil" "$ROOT/$good"
host_wait 'event connected'
wait_log 'host\[[0-9]*\] registered .*cafe*'
wait_log 'host\[[0-9]*\] registered .*red'
mkmod "$ROOT/$evil" greet -DNONOTE -DGREETING='"v2"'
host_wait ' ok stamp='
bg_wait sub '^result '
bg_wait subj '"type":"result"'

no_raw "$LOG" "the daemon's log"
grep -qF "($ROOT/$good)" "$LOG" || fail "the valid UTF-8 name changed in the log"
grep -q 'red\\x9b1mx\\xc2\\x9by\.so' "$LOG" || fail "the hostile name is not escaped as \\xHH in the log"

ctl tail -n 1000
ctl_status 0
no_raw "$T/ctl.out" "reloaderctl tail"
grep -q "$good" "$T/ctl.out" || ctl_fail "tail changed the valid UTF-8 name"
ctl tail -n 1000 --json
no_raw "$T/ctl.out" "reloaderctl tail --json"
json_ok "$T/ctl.out" "reloaderctl tail --json"
[ "$(jq -r .msg <"$T/ctl.out" | grep -c "$good")" -ge 1 ] ||
    ctl_fail "tail --json changed the valid UTF-8 name"

ctl -v list
ctl_status 0
no_raw "$T/ctl.out" "reloaderctl list"
ctl_has out "$good"
ctl list --json
no_raw "$T/ctl.out" "reloaderctl list --json"
json_ok "$T/ctl.out" "reloaderctl list --json"
[ "$(jq -r 'select(.type == "loaded") | .path' <"$T/ctl.out" |
    grep -c "$good")" -eq 1 ] || ctl_fail "list --json changed the valid UTF-8 path"

ctl status
ctl_status 0
no_raw "$T/ctl.out" "reloaderctl status"
ctl status --json
no_raw "$T/ctl.out" "reloaderctl status --json"
json_ok "$T/ctl.out" "reloaderctl status --json"

no_raw "$T/sub.out" "reloaderctl subscribe"
no_raw "$T/subj.out" "reloaderctl subscribe --json"
json_ok "$T/subj.out" "reloaderctl subscribe --json"

# An error that names what the user typed, and one that quotes the
# daemon's message.
ctl list "$evil"
ctl_status 65
no_raw "$T/ctl.err" "reloaderctl's error"
ctl_has err 'e\\x1b\[31mred'
ctl reload "$evil"
no_raw "$T/ctl.err" "reloaderctl's error"
host_stop
stop
