#!/bin/sh
# Protocol version 2 at the protocol level (docs/PROTOCOL.md, "Version 2:
# upgrades"), with scripted clients: the version negotiated in hello; a
# batch sent in two phases to every process that has the module, all in
# one group, committed only when all have prepared; aborted everywhere
# when one fails, goes away, or does not answer in time, with what
# prepared shown discarded and the failure failed; a version-1 client
# reloading on its own meanwhile; switch = per-process; and the lines
# that do not fit the phase refused.
# backends: any
. tests/e2e/lib.sh

trap '' PIPE

# Prints the id of the last batch client NAME was sent (prepare or
# reload) once it has N of them.
batch_of() {
	wait_recv "$1" "$2" end 'batch=*'
	sed -n 's/^< \(prepare\|reload\) batch=\([0-9]*\).*/\2/p' \
	    "$T/$1.out" | tail -n 1
}

mkso "$ROOT/greet.so" 1
g1=build-id:$(buildid "$ROOT/greet.so")
printf '[reloaderd]\nprepare-timeout = 500ms\n' >"$T/conf"
start -c "$T/conf"
for n in a b; do
	fd=7
	[ "$n" = b ] && fd=8
	open_client $n $fd
	to $n "> hello proto=2 min=1 pid=10$fd name=$n" "< welcome proto=2" \
	    "> register module=greet path=$ROOT/greet.so stamp=$g1" \
	    "< registered"
	wait_recv $n 1 registered
done
open_client old 9
to old "> hello proto=1 pid=3 name=old" "< welcome proto=1" \
    "> register module=greet path=$ROOT/greet.so stamp=$g1" "< registered"
wait_recv old 1 registered

# --- Both prepare; only then do both commit.
mkso "$ROOT/greet.so" 2
g2=build-id:$(buildid "$ROOT/greet.so")
ba=$(batch_of a 1)
bb=$(batch_of b 1)
expect_recv a 1 prepare batch=$ba count=1 'group=*' clients=2
expect_recv a 1 module batch=$ba module=greet stamp=$g2 was=$g1
expect_recv b 1 prepare batch=$bb count=1 clients=2
# The version-1 client got its batch at once, and reloads on its own.
bo=$(batch_of old 1)
expect_recv old 1 reload batch=$bo count=1
wait_log 'speaks protocol 1: reloaded on its own'
to old "> result batch=$bo module=greet status=ok stamp=$g2" "> done batch=$bo"
to a "> result batch=$ba module=greet status=prepared stamp=$g2 load=0.3" \
    "> done batch=$ba"
wait_log 'reloading greet (.*) in a\[107\] \.\.\. prepared'
expect_recv a 0 commit
to b "> result batch=$bb module=greet status=prepared stamp=$g2" \
    "> done batch=$bb"
wait_recv a 1 commit batch=$ba
wait_recv b 1 commit batch=$bb
to a "> committed batch=$ba at=100.000250"
to b "> committed batch=$bb at=100.000100"
wait_log 'switch [0-9]*: 2 processes switched together, 0\.150 ms apart'
wait_log 'reloading greet (.*) in b\[108\] \.\.\. ok, with switch'
wait_log 'reloading greet (.*) in a\[107\] \.\.\. ok 0\.30 ms, with switch'
to a "> list id=l1" "< ok id=l1 verb=list"
wait_recv a 1 ok id=l1
expect_recv a 3 loaded id=l1 module=greet have=$g2 disk=$g2 state=current

# --- One fails its prepare: the other gives up what it prepared.
mkso "$ROOT/greet.so" 3
g3=build-id:$(buildid "$ROOT/greet.so")
ba=$(batch_of a 2)
bb=$(batch_of b 2)
bo=$(batch_of old 2)
to old "> result batch=$bo module=greet status=ok stamp=$g3" "> done batch=$bo"
to a "> result batch=$ba module=greet status=prepared stamp=$g3" \
    "> done batch=$ba"
to b "> result batch=$bb module=greet status=rolled-back failed=test stamp=$g2 reason=broken" \
    "> done batch=$bb"
wait_recv a 1 abort batch=$ba 'reason=greet\x20failed\x20in\x20b[108]:\x20broken'
expect_recv b 0 abort
wait_log 'switch [0-9]* of 2 processes aborted: "greet failed in b\[108\]: broken"'
to a "> aborted batch=$ba"
wait_log 'reloading greet (.*) in a\[107\] \.\.\. aborted'
to a "> list id=l2" "< ok id=l2 verb=list"
wait_recv a 1 ok id=l2
expect_recv a 1 loaded id=l2 module=greet have=$g2 state=discarded
expect_recv a 1 loaded id=l2 module=greet have=$g2 state=failed
expect_recv a 1 loaded id=l2 module=greet have=$g3 state=current

# The next build offers it again to both: this time it goes through.
mkso "$ROOT/greet.so" 4
g4=build-id:$(buildid "$ROOT/greet.so")
ba=$(batch_of a 3)
bb=$(batch_of b 3)
bo=$(batch_of old 3)
to old "> result batch=$bo module=greet status=ok stamp=$g4" "> done batch=$bo"
to a "> result batch=$ba module=greet status=prepared stamp=$g4" \
    "> done batch=$ba"
to b "> result batch=$bb module=greet status=prepared stamp=$g4" \
    "> done batch=$bb"
wait_recv a 1 commit batch=$ba
wait_recv b 1 commit batch=$bb
to a "> committed batch=$ba at=200" "> committed batch=$ba at=200"
to b "> committed batch=$bb at=200"
wait_recv a 1 error code=bad-result
wait_log 'switch [0-9]*: 2 processes switched together' 2

# --- One does not answer in time: the others abort, and so does it
# when it answers at last.
mkso "$ROOT/greet.so" 5
g5=build-id:$(buildid "$ROOT/greet.so")
ba=$(batch_of a 4)
bb=$(batch_of b 4)
bo=$(batch_of old 4)
to old "> result batch=$bo module=greet status=ok stamp=$g5" "> done batch=$bo"
to a "> result batch=$ba module=greet status=prepared stamp=$g5" \
    "> done batch=$ba"
wait_recv a 1 abort batch=$ba 'reason=no\x20answer\x20within\x200.5s\x20from\x20b[108]'
to a "> aborted batch=$ba"
to b "> result batch=$bb module=greet status=prepared stamp=$g5" \
    "> done batch=$bb"
wait_recv b 1 abort batch=$bb
to b "> aborted batch=$bb"
# A commit answered where none was asked is refused.
to b "> committed batch=$bb"
wait_recv b 1 error code=bad-result

# --- One goes away between prepare and commit: the others abort.
mkso "$ROOT/greet.so" 6
ba=$(batch_of a 5)
bb=$(batch_of b 5)
bo=$(batch_of old 5)
to old "> result batch=$bo module=greet status=ok stamp=build-id:$(buildid "$ROOT/greet.so")" "> done batch=$bo"
to a "> result batch=$ba module=greet status=prepared stamp=$g5" \
    "> done batch=$ba"
close_client b
wait_recv a 1 abort batch=$ba 'reason=b[108]\x20went\x20away*'
to a "> aborted batch=$ba"
wait_log 'switch [0-9]* of 2 processes aborted: "\?b\[108\] went away'
close_client a
close_client old
stop

# --- switch = per-process: each process switches when it is ready.  A
# batch of two modules (built under a hold, so that they come together):
# one module alone would have nothing to switch with (below).
printf '[reloaderd]\nswitch = per-process\n' >"$T/conf"
start -c "$T/conf"
mkso "$ROOT/hello.so" 1
g=build-id:$(buildid "$ROOT/greet.so")
h=build-id:$(buildid "$ROOT/hello.so")
for n in c d; do
	fd=7
	[ "$n" = d ] && fd=8
	open_client $n $fd
	to $n "> hello proto=2 pid=20$fd name=$n" "< welcome proto=2" \
	    "> register module=greet path=$ROOT/greet.so stamp=$g" \
	    "< registered" \
	    "> register module=hello path=$ROOT/hello.so stamp=$h" \
	    "< registered"
	wait_recv $n 2 registered
done
ctl hold
mkso "$ROOT/greet.so" 7
mkso "$ROOT/hello.so" 7
ctl release
g7=build-id:$(buildid "$ROOT/greet.so")
h7=build-id:$(buildid "$ROOT/hello.so")
bc=$(batch_of c 1)
bd=$(batch_of d 1)
expect_recv c 1 prepare batch=$bc count=2 clients=1
expect_recv d 1 prepare batch=$bd count=2 clients=1
to c "> result batch=$bc module=greet status=prepared stamp=$g7" \
    "> result batch=$bc module=hello status=prepared stamp=$h7" \
    "> done batch=$bc"
wait_recv c 1 commit batch=$bc
expect_recv d 0 commit
to c "> committed batch=$bc at=1"
to d "> result batch=$bd module=greet status=load-failed failed=load stamp=$g reason=nope" \
    "> result batch=$bd module=hello status=prepared stamp=$h7" \
    "> done batch=$bd"
wait_log 'reloading greet (.*) in c\[207\] \.\.\. ok$'
expect_recv c 0 abort
expect_recv d 0 commit

# --- One module to one process: nothing to switch with, so it goes as
# version 1's reload, at once, and is answered as in version 1.
mkso "$ROOT/greet.so" 8
g8=build-id:$(buildid "$ROOT/greet.so")
bc=$(batch_of c 2)
expect_recv c 1 reload batch=$bc count=1
expect_recv c 1 module batch=$bc module=greet stamp=$g8 was=$g7
expect_recv c 1 prepare
to c "> result batch=$bc module=greet status=ok stamp=$g8" \
    "> done batch=$bc"
wait_log 'reloading greet (.*) in c\[207\] \.\.\. ok$' 2
expect_recv c 1 commit
close_client c
close_client d
stop
