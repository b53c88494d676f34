# The protocol, the daemon's side (docs/PROTOCOL.md): the handshake, an
# error with its line number for every kind of bad line, the line limit,
# binary garbage, registration errors, and the clients it drops: one that
# sends 64 bad lines in a row, one that never reads.
# backends: any
. tests/e2e/lib.sh

# Escapes a path as a protocol value (the test's paths need no more).
esc() {
	printf '%s' "$1" | sed 's/\\/\\\\/g; s/ /\\x20/g'
}

# Waits (up to 10 s) for a log line matching a basic regular expression,
# in any case.
wait_logi() {
	tries=1000
	until grep -qi -- "$1" "$LOG" 2>/dev/null; do
		tries=$((tries - 1))
		[ "$tries" -gt 0 ] ||
		    fail "timed out waiting for '$1' (any case)"
		sleep 0.01
	done
}

R=$(esc "$ROOT")
mkso "$ROOT/x.so" 1
x1=$(buildid "$ROOT/x.so")
echo "not a module" >"$ROOT/text.so"
start

# --- The handshake: welcome with every field, first.
client hello <<EOF
> hello proto=1 pid=4242 name=tester lib=rlclient/1.0
< welcome
> ping id=2
< pong
EOF
head -n 1 "$T/hello.out" | grep -q '^< welcome ' ||
    fail "the first line is not welcome: $(head -n 1 "$T/hello.out")"
expect_recv hello 1 welcome proto=1 'server=reloaderd/*' 'client=*' \
    max-line=16384
expect_recv hello 1 pong id=2
client=$(sed -n 's/^< welcome.* client=\([^ ]*\).*/\1/p' "$T/hello.out")
case $client in
'' | *[!0-9]*) fail "welcome: client=$client is not an integer" ;;
esac
wait_log 'tester\[4242\]'

# The highest common version within [min, proto]; none is an error, and
# the connection is closed.
client future <<EOF
> hello proto=3 min=1 pid=2 name=future
< welcome
EOF
expect_recv future 1 welcome proto=2
client one <<EOF
> hello proto=1 pid=4 name=one
< welcome
EOF
expect_recv one 1 welcome proto=1
client old <<EOF
> hello proto=9 min=9 pid=3 name=old
< code=version
!eof
EOF
expect_recv old 1 error code=version 'msg=*' line=1
expect_recv old 0 welcome

# Before the handshake only hello is answered; a hello missing a required
# field is an error too, and the handshake can still be made.  (A ping
# before hello is checked at the end.)
client first <<EOF
> register module=x path=$R/x.so stamp=none:
< code=hello-first
> unregister module=x
< code=hello-first
> hello proto=1 name=first
< code=missing-field
> hello proto=1 pid=4
< code=missing-field
> hello pid=4 name=first
< code=missing-field
> hello proto=1 pid=4 name=first
< welcome
> ping id=7
< pong
> hello proto=1 pid=5 name=again
< code=hello-again
> ping id=9
< pong
EOF
expect_recv first 1 error code=hello-first line=1
expect_recv first 1 error code=hello-first line=2
expect_recv first 1 error code=missing-field line=3
expect_recv first 1 error code=missing-field line=4
expect_recv first 1 error code=missing-field line=5
expect_recv first 1 welcome
expect_recv first 0 registered
expect_recv first 1 pong id=7
expect_recv first 1 error code=hello-again line=8
expect_recv first 1 pong id=9
grep ' line=3\( \|$\)' "$T/first.out" | grep -q 'pid' ||
    fail "missing-field for line 3 does not name pid"
# The second hello changed nothing: still first[4] in the log.
wait_log 'first\[4\]'
expect_count 'again\[5\]' 0

# --- Every bad line gets one error naming its line, and the connection
# carries on (a ping after each is answered).
client errs <<EOF
> hello proto=1 pid=11 name=errs
< welcome
> frobnicate id=1
< code=unknown-verb
> ping id=3
< pong id=3
> Ping
< code=syntax
> ping id=5
< pong id=5
> register module=x
< code=missing-field
> ping id=7
< pong id=7
> register module=x path=$R/x.so stamp=bogus
< code=bad-field
> ping id=9
< pong id=9
> ping id=\\q
< error
> ping id=11
< pong id=11
>x 70696e67 0d 0a
< code=syntax
> ping id=13
< pong id=13
>
< code=syntax
> ping id=15
< pong id=15
> ping  id=16
< code=syntax
> ping id=17
< pong id=17
>n ping id=18
>x 20 0a
< code=syntax
> ping id=19
< pong id=19
> ping id=20 id=20
< error
> ping id=21
< pong id=21
> ping id=\\x00
< error
> ping id=23
< pong id=23
> ping id=24 zz-future=yes
< pong id=24
> error code=syntax msg=a\\x20test line=1
> ping id=26
< pong id=26
> unregister module=nothing
< code=not-registered
> ping id=28
< pong id=28
> result batch=77 module=x status=ok stamp=none:
< code=bad-result
> ping id=30
< pong id=30
> done batch=77
< code=bad-result
> ping id=32
< pong id=32
> register module=x path=$R/x.so stamp=build-id:$x1 extra=ignored
< registered
> ping id=34
< pong id=34
EOF
expect_recv errs 1 error code=unknown-verb 'msg=*' line=2
expect_recv errs 1 error code=syntax 'msg=*' line=4
expect_recv errs 1 error code=missing-field 'msg=*' line=6
expect_recv errs 1 error code=bad-field 'msg=*' line=8
expect_recv errs 1 error 'msg=*' line=10
expect_recv errs 1 error code=syntax 'msg=*' line=12
expect_recv errs 1 error code=syntax 'msg=*' line=14
expect_recv errs 1 error code=syntax 'msg=*' line=16
expect_recv errs 1 error code=syntax 'msg=*' line=18
expect_recv errs 1 error 'msg=*' line=20
expect_recv errs 1 error 'msg=*' line=22
expect_recv errs 1 error code=not-registered 'msg=*' line=27
expect_recv errs 1 error code=bad-result 'msg=*' line=29
expect_recv errs 1 error code=bad-result 'msg=*' line=31
expect_recv errs 1 registered module=x
# Unknown fields are ignored, an error line is never answered, and no
# other line got an error: 14 errors, one pong for every ping.
expect_recv errs 1 pong id=24
expect_recv errs 0 error line=24
expect_recv errs 0 error line=25
expect_recv errs 14 error
for i in 3 5 7 9 11 13 15 17 19 21 23 24 26 28 30 32 34; do
	expect_recv errs 1 pong id=$i
done
grep ' line=6\( \|$\)' "$T/errs.out" | grep -q 'path\|stamp' ||
    fail "missing-field for line 6 does not name the field"
grep ' line=8\( \|$\)' "$T/errs.out" | grep -q 'stamp' ||
    fail "bad-field for line 8 does not name the field"

# --- The line limit: 16384 bytes with the LF is a line (an unknown verb
# of 16383 a's), one more is too long; so is a megabyte.  The connection
# stays up.
client long -t 10000 <<EOF
> hello proto=1 pid=12 name=long
< welcome
>big 20000
< code=too-long
> ping id=3
< pong id=3
>big 16383
< code=
> ping id=5
< pong id=5
>big 16384
< code=too-long
> ping id=7
< pong id=7
>big 1000000
< code=too-long
> ping id=9
< pong id=9
EOF
expect_recv long 1 error code=too-long line=2
expect_recv long 1 error code=unknown-verb line=4
expect_recv long 1 error code=too-long line=6
expect_recv long 1 error code=too-long line=8
expect_recv long 4 error
for i in 3 5 7 9; do
	expect_recv long 1 pong id=$i
done

# --- Lines that arrive in pieces, read one at a time: put together
# whole, the limit counted over all the pieces (8000 + 8000 + 383 bytes
# and the LF make a line of 16384 bytes; one more byte is too long).
x200=$(printf '%200s' '' | tr ' ' x)
x5000=$(printf '%5000s' '' | tr ' ' x)
a8000=$(printf '%8000s' '' | tr ' ' a)
a383=$(printf '%383s' '' | tr ' ' a)
client pieces -t 10000 <<EOF
> hello proto=1 pid=14 name=pieces
< welcome
>n ping id=$x200
!sleep 20
>n $x200$x200
!sleep 20
>n $x5000
!sleep 20
>x 0a
< pong id=$x200$x200$x200$x5000
>n $a8000
!sleep 20
>n $a8000
!sleep 20
>n $a383
!sleep 20
>x 0a
< code=unknown-verb
>n $a8000
!sleep 20
>n $a8000
!sleep 20
>n $a383
!sleep 20
>n a
!sleep 20
>x 0a
< code=too-long
> ping id=7
< pong id=7
EOF
expect_recv pieces 1 error code=unknown-verb line=3
expect_recv pieces 1 error code=too-long line=4
expect_recv pieces 2 error

# --- Binary garbage: NULs, 0xff, no LF until later; then empty lines and
# lone high bytes.
client junk <<EOF
> hello proto=1 pid=13 name=junk
< welcome
>x 00 ff 00 ff fe 00 01 80 5c 78 30 30
>x 0a
< error
> ping id=3
< pong id=3
>x 0a ff ff 0a 00 0a
< error
< error
< error
> ping id=7
< pong id=7
EOF
expect_recv junk 1 error code=syntax line=2
expect_recv junk 1 error code=syntax line=4
expect_recv junk 1 error line=5
expect_recv junk 1 error line=6
expect_recv junk 4 error
expect_recv junk 1 pong id=7

# --- 64 erroneous lines in a row drop the client; 63 and a good line do
# not.
client flood -t 10000 <<EOF
> hello proto=1 pid=77 name=flood
< welcome
>rep 63 Bad
> ping id=65
< pong id=65
>rep 63 Bad
> ping id=129
< pong id=129
>rep 64 Bad
!eof
EOF
wait_logi 'flood\[77\].*drop\|drop.*flood\[77\]'
c=$(count_recv flood error)
[ "$c" -ge 126 ] && [ "$c" -le 190 ] || fail "flood: $c errors"

# --- Registration errors; none of them registers anything.
mkdir -p "$T/my dir"
client reg <<EOF
> hello proto=1 pid=14 name=reg
< welcome
> register module=x path=$R/nonexistent.so stamp=none:
< code=no-such-file
> register module=x path=build/x.so stamp=none:
< error
> register module=t path=$R/text.so stamp=none:
< code=not-a-module
> register module=d path=$(esc "$T/my dir") stamp=none:
< error
> register module= path=$R/x.so stamp=none:
< error
> ping id=7
< pong id=7
EOF
expect_recv reg 1 error code=no-such-file line=2
expect_recv reg 1 error line=3
expect_recv reg 1 error code=not-a-module line=4
expect_recv reg 1 error line=5
expect_recv reg 1 error line=6
expect_recv reg 0 registered

# --- A client that sends and never reads piles up more than the queue
# bound (2 MB of pongs): it is dropped with a log line, and the daemon
# goes on serving the others.
client slow -t 20000 <<EOF
> hello proto=1 pid=15 name=slow
< welcome
>rep 400000 ping
!eof
EOF
any='\(drop\|overload\|queue\)'
wait_logi "slow\\[15\\].*$any\\|$any.*slow\\[15\\]"
client after <<EOF
> hello proto=1 pid=16 name=after
< welcome
> ping id=2
< pong id=2
EOF

# --- A ping before hello is no exception: hello-first, no pong.
client early <<EOF
> ping id=1
< code=hello-first
> hello proto=1 pid=17 name=early
< welcome
EOF
expect_recv early 1 error code=hello-first line=1
expect_recv early 0 pong
kill -0 "$DPID" || fail "reloaderd died"
stop
