#!/bin/sh
# Module sets at the protocol level (docs/PROTOCOL.md, "Module sets"),
# with a scripted client: watch-set tells of each complete module there
# and each that appears (once it is whole), and of one that stays gone;
# under a hold, notices wait for the release, and a file removed and
# built again (make clean && make) is no removal; other files and other
# directories are not told of; bad requests are refused.
# backends: inotify poll
. tests/e2e/lib.sh

trap '' PIPE
H=$T/handlers
mkdir -p "$H"
mkso "$H/hello.so" 1
hello=build-id:$(buildid "$H/hello.so")
start
open_client a 7
to a "> hello proto=2 min=1 pid=5 name=app" "< welcome" \
    "> watch-set set=h dir=$H pattern=*.so" "< set set=h"
wait_recv a 1 set set=h "dir=$H" 'pattern=*.so'
wait_recv a 1 set-added set=h "path=$H/hello.so" module=hello "stamp=$hello"

# A module that appears, written slowly: told of once, when whole.
mkso "$T/count.so" 2
"$WRITEHALVES" -r "$T/count.so" "$H/count.so" 100
count=build-id:$(buildid "$H/count.so")
wait_recv a 1 set-added set=h "path=$H/count.so" module=count "stamp=$count"
# Other names and other directories are none of its business.
echo text >"$H/readme.txt"
mkdir -p "$T/other"
mkso "$T/other/x.so" 3
mkso "$H/zz.so" 4
wait_recv a 1 set-added set=h module=zz
expect_recv a 0 set-added 'path=*readme*'
expect_recv a 0 set-added module=x

# One that stays gone past the grace period is removed.
rm "$H/count.so"
wait_recv a 1 set-removed set=h "path=$H/count.so" module=count

# Under a hold: make clean && make removes nothing; a new one is told of
# at the release.
to a "> hold id=h1" "< ok id=h1"
wait_recv a 1 ok id=h1 verb=hold
rm "$H/hello.so" "$H/zz.so"
# Past the grace period: gone for good, were it not held.
wait_log 'removed .*/hello\.so'
wait_log 'removed .*/zz\.so'
mkso "$H/hello.so" 5
mkso "$H/zz.so" 4
mkso "$H/late.so" 6
wait_log 'added .*late\.so'
expect_recv a 0 set-added module=late
expect_recv a 0 set-removed module=hello
to a "> release id=r1" "< ok id=r1"
wait_recv a 1 set-added set=h module=late
expect_recv a 0 set-removed module=hello
expect_recv a 0 set-removed module=zz
expect_recv a 1 set-added module=hello

# Bad requests, and unwatch.
to a "> watch-set set=x dir=relative pattern=*.so" "< error code=bad-field" \
    "> watch-set set=x dir=$T/none pattern=*.so" "< error code=no-such-file" \
    "> watch-set set=x dir=$H pattern=a/b" "< error code=bad-field" \
    "> watch-set set=x" "< error code=missing-field" \
    "> unwatch-set set=nope" "< error code=not-registered" \
    "> unwatch-set set=h" "< unwatched-set set=h"
wait_recv a 1 unwatched-set set=h
mkso "$H/after.so" 7
to a "> watch-set set=o dir=$T/other pattern=*.so" "< set set=o"
wait_recv a 1 set-added set=o module=x
expect_recv a 0 set-added module=after
close_client a
stop
