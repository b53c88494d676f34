# The protocol's registrations and reloads, with zero configuration (no
# -w, no config file): the daemon watches what its clients loaded.  Two
# scripted clients, fed through FIFOs while the test rebuilds modules:
# reloads of real changes only, catch-up at registration, results and the
# log line for each, unregister, and a client that goes away mid-reload.
# backends: any
. tests/e2e/lib.sh

# A client that died makes writes to its FIFO fail instead of killing us.
trap '' PIPE

# Waits for client NAME's next batch to end; sets b to its id.
next_batch() {
	eval "ends_$1=\$((ends_$1 + 1)); k=\$ends_$1"
	wait_recv "$1" "$k" end 'batch=*'
	b=$(sed -n 's/^< reload.* batch=\([0-9]*\).*/\1/p' "$T/$1.out" |
	    tail -n 1)
	[ -n "$b" ] || client_fail "$1" "no reload line before end"
}

# Answers batch B of client NAME: every module with STATUS (default ok)
# and the stamp it was offered (or, with STATUS other than ok, the one it
# had), then done.
answer() {
	name=$1
	b=$2
	status=${3:-ok}
	awk -v b="batch=$b" '$1 == "<" && $2 == "module" {
		m = s = w = ""; ok = 0
		for (j = 3; j <= NF; j++) {
			if ($j == b) ok = 1
			if ($j ~ /^module=/) m = $j
			if ($j ~ /^stamp=/) s = $j
			if ($j ~ /^was=/) w = "stamp=" substr($j, 5)
		}
		if (ok) print m, s, w
	}' "$T/$name.out" >"$T/$name.batch"
	[ -s "$T/$name.batch" ] || client_fail "$name" "batch $b is empty"
	while read -r m s w; do
		[ "$status" = ok ] || s=$w
		r="$m status=$status $s load=0.25 test=0.01"
		to "$name" "> result batch=$b $r"
	done <"$T/$name.batch"
	to "$name" "> done batch=$b"
}

# Escapes a path as a protocol value (the test's paths need no more).
esc() {
	printf '%s' "$1" | sed 's/\\/\\\\/g; s/ /\\x20/g'
}

# Asserts that every batch id client NAME received is unique.
unique_batches() {
	d=$(sed -n 's/^< reload.* batch=\([0-9]*\).*/\1/p' "$T/$1.out" |
	    sort | uniq -d)
	[ -z "$d" ] || client_fail "$1" "batch ids used twice: $d"
}

R=$(esc "$ROOT")
mkdir -p "$T/my build"
S=$(esc "$T/my build/s p.so")
for m in x y z w; do
	mkso "$ROOT/$m.so" 1
done
mkso "$T/my build/s p.so" 1
x1=$(buildid "$ROOT/x.so")
y1=$(buildid "$ROOT/y.so")
z1=$(buildid "$ROOT/z.so")
w1=$(buildid "$ROOT/w.so")
s1=$(buildid "$T/my build/s p.so")
zero=0000000000000000000000000000000000000000

start
open_client a 7
to a "> hello proto=1 pid=4242 name=tester" "< welcome"
to a "> register module=x path=$R/x.so stamp=build-id:$x1" "< registered"
to a "> register module=y path=$R/y.so stamp=build-id:$y1" "< registered"
to a "> register module=sp path=$S stamp=build-id:$s1" "< registered"
wait_recv a 1 registered module=sp
expect_recv a 1 registered module=x
expect_recv a 1 registered module=y
expect_recv a 0 error

# A real change: one batch with one module, naming both stamps.
mkso "$ROOT/x.so" 2
x2=$(buildid "$ROOT/x.so")
[ "$x2" != "$x1" ] || fail "test setup: build-ids do not differ"
next_batch a
expect_recv a 1 reload batch=$b count=1
expect_recv a 1 module batch=$b module=x path=$R/x.so \
    stamp=build-id:$x2 was=build-id:$x1
expect_recv a 1 end batch=$b
answer a "$b"
wait_log 'reloading x (.*) in tester\[4242\] \.\.\. ok'

# touch and an identical rebuild reload nothing; a change to y, in the
# same directory, is the sync point.
touch "$ROOT/x.so"
mkso "$ROOT/x.so" 2
mkso "$ROOT/y.so" 2
y2=$(buildid "$ROOT/y.so")
next_batch a
expect_recv a 1 module batch=$b module=y stamp=build-id:$y2 \
    was=build-id:$y1
expect_recv a 1 module module=x
expect_recv a 2 reload
answer a "$b"
wait_log 'reloading y (.*) in tester\[4242\] \.\.\. ok'

# A path with spaces comes back escaped exactly as it was registered.
mkso "$T/my build/s p.so" 2
s2=$(buildid "$T/my build/s p.so")
next_batch a
expect_recv a 1 module batch=$b module=sp path=$S stamp=build-id:$s2 \
    was=build-id:$s1
answer a "$b"
wait_log 'reloading sp (.*) in tester\[4242\] \.\.\. ok'

# A rolled-back reload is logged so, and the stamp that failed is not
# offered again until the file changes or the module is registered again.
mkso "$ROOT/x.so" 3
x3=$(buildid "$ROOT/x.so")
next_batch a
expect_recv a 1 module batch=$b module=x stamp=build-id:$x3 \
    was=build-id:$x2
answer a "$b" rolled-back
wait_log 'reloading x (.*) in tester\[4242\] \.\.\. rolled back'
mkso "$ROOT/y.so" 3
y3=$(buildid "$ROOT/y.so")
next_batch a
expect_recv a 1 module batch=$b module=y stamp=build-id:$y3
expect_recv a 0 module batch=$b module=x
answer a "$b"
to a "> register module=x path=$R/x.so stamp=build-id:$x2" "< registered"
next_batch a
expect_recv a 1 module batch=$b module=x stamp=build-id:$x3 \
    was=build-id:$x2
answer a "$b"
wait_log 'reloading x (.*) in tester\[4242\] \.\.\. ok' 2

# Catch-up at registration: a wrong stamp, or none:, is reloaded at once.
to a "> register module=z path=$R/z.so stamp=build-id:$zero" "< registered"
next_batch a
expect_recv a 1 module batch=$b module=z path=$R/z.so \
    stamp=build-id:$z1 was=build-id:$zero
answer a "$b"
to a "> register module=w path=$R/w.so stamp=none:" "< registered"
next_batch a
expect_recv a 1 module batch=$b module=w stamp=build-id:$w1 was=none:
answer a "$b"
wait_log 'reloading w (.*) in tester\[4242\] \.\.\. ok'
# ... and the right stamp is not.
to a "> register module=y path=$R/y.so stamp=build-id:$y3" "< registered"
wait_recv a 2 registered module=y

# unregister: the module is no longer reloaded; twice is an error.
to a "> unregister module=z" "< unregistered"
wait_recv a 1 unregistered module=z
to a "> unregister module=z" "< code=not-registered"
wait_recv a 1 error code=not-registered
mkso "$ROOT/z.so" 2
mkso "$ROOT/y.so" 4
y4=$(buildid "$ROOT/y.so")
next_batch a
expect_recv a 1 module batch=$b module=y stamp=build-id:$y4
expect_recv a 1 module module=z
answer a "$b"

# Two clients with the same module are each reloaded.  The second goes
# away before answering: that is logged, and the first is unaffected.
open_client b 8
to b "> hello proto=1 pid=4343 name=second" "< welcome"
to b "> register module=x path=$R/x.so stamp=build-id:$x3" "< registered"
wait_recv b 1 registered module=x
mkso "$ROOT/x.so" 4
x4=$(buildid "$ROOT/x.so")
next_batch a
ba=$b
next_batch b
bb=$b
expect_recv a 1 module batch=$ba module=x stamp=build-id:$x4 \
    was=build-id:$x3
expect_recv b 1 module batch=$bb module=x stamp=build-id:$x4 \
    was=build-id:$x3
to b "!close" "!eof"
close_client b
wait_log 'second\[4343\].*disconnected during reload'
answer a "$ba"
wait_log 'reloading x (.*) in tester\[4242\] \.\.\. ok' 3
expect_count 'in second\[4343\] \.\.\. ok' 0

# A batch that is not outstanding: bad-result.
to a "> result batch=$ba module=x status=ok stamp=build-id:$x4" \
    "< code=bad-result"
wait_recv a 1 error code=bad-result
to a "> ping id=end" "< pong"
wait_recv a 1 pong id=end
expect_recv a 2 error

# with=W: a module the client switched along with W of the batch (an
# Erlang application's downgrade), which takes the stamp it runs now;
# anything else in it is refused, naming what was wrong.
mkso "$ROOT/x.so" 5
x5=$(buildid "$ROOT/x.so")
next_batch a
bw=$b
expect_recv a 1 module batch=$bw module=x stamp=build-id:$x5
for r in "module=y status=ok stamp=build-id:$zero with=nosuch" \
    "module=nosuch status=ok stamp=build-id:$zero with=x" \
    "module=x status=ok stamp=build-id:$zero with=x" \
    "module=y status=load-failed stamp=build-id:$zero with=x" \
    "module=y status=ok stamp=nonsense with=x"; do
	to a "> result batch=$bw $r" "< error"
done
wait_recv a 7 error
expect_recv a 4 error code=bad-result
expect_recv a 2 error code=bad-field
to a "> result batch=$bw module=y status=ok stamp=build-id:$zero with=x"
answer a "$bw"
wait_log "reloading y (.*) in tester\\[4242\\] with x \\.\\.\\. ok"
# What y runs is not on disk: it is offered, from the stamp it took.
next_batch a
expect_recv a 1 module batch=$b module=y stamp=build-id:$y4 \
    was=build-id:$zero
answer a "$b"
expect_recv a 7 error
unique_batches a
close_client a
stop
