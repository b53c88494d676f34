#!/bin/sh
# reloaderctl for everyday use: list picks clients by id, by the start
# of their name or by a glob, and modules by a glob (-m or a second
# operand); every --json object has numbers and booleans as JSON numbers
# and booleans (checked with jq, object type by object type, as
# reloaderctl(1) lists them); status counts the holds; a stamp the
# client does not know shows as "-", never "none:".
# backends: any
. tests/e2e/lib.sh
ctl_setup
command -v jq >/dev/null 2>&1 ||
    fail "jq is missing: scripts/deps.sh installs it"

mkmod "$ROOT/greet.so" greet -DGREETING='"v1"'
mkmod "$ROOT/greetx.so" greet -DNONOTE -DGREETING='"x1"'
mkmod "$ROOT/other.so" greet -DNONOTE -DGREETING='"o1"'
start
hst_start dev1 "$ROOT/greet.so" "$ROOT/greetx.so"
hst_start dev2 "$ROOT/greet.so"
hst_start prod "$ROOT/other.so"
wait_log 'dev1\[[0-9]*\] registered greetx'
wait_log 'dev2\[[0-9]*\] registered greet'
wait_log 'prod\[[0-9]*\] registered other'
D1=$(hst_pid dev1)
D2=$(hst_pid dev2)
P=$(hst_pid prod)

# Asserts that the last list showed exactly these CLIENT MODULE rows.
rows() {
	got=$(awk 'NR > 1 && $2 ~ /\[/ { print $2, $3 }' "$T/ctl.out" |
	    sed 's/\[[0-9]*\]//' | sort | tr '\n' ' ')
	[ "$got" = "$*" ] || ctl_fail "list rows '$got', not '$*'"
}

# ---- list: clients by id, name start or glob; modules by glob ----------
ctl list
ctl_status 0
rows "dev1 greet dev1 greetx dev2 greet prod other "
ctl_has out '^3 clients, 4 modules, 0 stale$'
ctl list dev
ctl_status 0
rows "dev1 greet dev1 greetx dev2 greet "
ctl_has out '^2 clients, 3 modules, 0 stale$'
ctl list 'dev*'
rows "dev1 greet dev1 greetx dev2 greet "
ctl list 'd?v2'
rows "dev2 greet "
ctl_has out "dev2\[$D2\]"
ctl list prod
rows "prod other "
id2=$(awk -v p="dev2[$D2]" '$2 == p { print $1; exit }' "$T/ctl.out")
ctl list dev
id2=$(awk -v p="dev2[$D2]" '$2 == p { print $1; exit }' "$T/ctl.out")
[ -n "$id2" ] || ctl_fail "no id for dev2"
ctl list "$id2"
ctl_status 0
rows "dev2 greet "
ctl list -m 'greet*'
ctl_status 0
rows "dev1 greet dev1 greetx dev2 greet "
ctl_hasnt out prod
ctl_has out '^2 clients, 3 modules, 0 stale$'
ctl list --module greetx
rows "dev1 greetx "
ctl list dev1 greetx
rows "dev1 greetx "
ctl list 'dev*' 'gr*t'
rows "dev1 greet dev2 greet "
ctl list -m 'nothing*'
ctl_status 0
ctl_has out '^0 clients, 0 modules, 0 stale$'
ctl list nosuch
ctl_status 65 "no client matches"
ctl_has err 'nosuch: no attached client'
ctl list dev1 -m x extra
ctl_status 64 "too many operands"
ctl list -j dev2
ctl_status 0
[ "$(jq -r .type <"$T/ctl.out" | tr '\n' ' ')" = "client loaded " ] ||
    ctl_fail "list -j dev2: not one client and its module"

# ---- a stamp the client does not know: "-", not "none:" ----------------
mkfifo "$T/cl.in"
"$RLCLIENT" -w -t 20000 "$SOCK" <"$T/cl.in" >"$T/cl.out" 2>&1 &
CTL_PIDS="$CTL_PIDS $!"
exec 7>"$T/cl.in"
printf '%s\n' '> hello proto=1 pid=99 name=nostamp' '< welcome' \
    "> register module=greet path=$ROOT/greet.so stamp=none:" \
    '< registered' >&7
ctl_wait_has() {
	tries=1000
	until ctl "$@" && grep -q -- "$WANT" "$T/ctl.out"; do
		tries=$((tries - 1))
		[ "$tries" -gt 0 ] || ctl_fail "no '$WANT' in $*"
		sleep 0.01
	done
}
WANT='nostamp' ctl_wait_has list nostamp
ctl_hasnt out 'none:'
exec 7>&-

# ---- status: how many holds ---------------------------------------------
ctl hold
ctl hold
ctl status
ctl_has out '^held  *yes (2 holds)$'
ctl release
ctl status
ctl_has out '^held  *yes (1 hold)$'
ctl release

# ---- --json: numbers and booleans are JSON's -----------------------------
# Fails unless every object of TYPE in the file passes the jq test.
types() {
	file=$1
	type=$2
	test=$3
	n=$(jq -c "select(.type == \"$type\")" <"$file" | wc -l)
	[ "$n" -ge 1 ] || { cat "$file" >&2; fail "no $type object in $file"; }
	bad=$(jq -c "select(.type == \"$type\") | select(($test) | not)" \
	    <"$file")
	[ -z "$bad" ] || fail "$type objects with wrong types: $bad"
}
NUM='type == "number"'
ctl status --json
ctl_status 0
types "$T/ctl.out" daemon "([.pid, .uptime, .settle, .interval, .held] |
    all($NUM)) and (.socket | type == \"string\")"
types "$T/ctl.out" inotify ".watches | $NUM"
types "$T/ctl.out" root "(.dirs | $NUM) and (.files | $NUM) and
    (.implicit | type == \"boolean\") and (.state | type == \"string\")"
types "$T/ctl.out" counts "[.clients, .controls, .modules, .changes,
    .batches, .ok, .\"load-failed\", .\"rolled-back\", .\"test-failed\",
    .remote, .rollbacks] | all($NUM)"
ctl list --json
types "$T/ctl.out" client "[.client, .pid, .uid, .modules, .batch,
    .attached] | all($NUM)"
types "$T/ctl.out" loaded "(.client | $NUM) and
    (.stale | type == \"boolean\") and (.state | type == \"string\")"

ctl_bg subj subscribe --json
sub_sync subj '"type":"release"'
ctl hold --json
types "$T/ctl.out" ok ".held | $NUM"
mkmod "$ROOT/greet.so" greet -DGREETING='"v2"'
wait_log 'changed [^ ]*greet\.so'
ctl release --json
types "$T/ctl.out" ok "[.held, .delivered, .clients, .discarded] |
    all($NUM)"
hst_wait dev1 'event reload greet ok'
hst_wait dev2 'event reload greet ok'
bg_wait subj '"type":"result".*"name":"dev2"'
types "$T/subj.out" batch "[.batch, .client, .pid, .count] | all($NUM)"
types "$T/subj.out" result "([.batch, .client, .pid, .load] |
    all($NUM)) and (.status | type == \"string\")"
types "$T/subj.out" hold ".held | $NUM"
types "$T/subj.out" release "[.held, .delivered, .discarded] | all($NUM)"
types "$T/subj.out" change ".stamp | type == \"string\""
ctl reload --json greet
ctl_status 0
types "$T/ctl.out" result "[.batch, .client, .pid] | all($NUM)"
