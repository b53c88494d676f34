#!/bin/sh
# Module sets in a C host (issue 13; docs/PROTOCOL.md, "Module sets"),
# with the real daemon: reloader_open_set opens what is there, then each
# module that appears, through a prepare and a commit; one removed for
# good is closed; `make clean && make` under reloaderctl build loses
# nothing; one whose first load fails is tried again when it changes.
# backends: inotify poll
. tests/e2e/lib.sh

H=$ROOT/handlers
mkdir -p "$H"
mkmod "$H/a.so" counter -DNAME='"a"'
# build/ watched, so that sync_marker has somewhere to write.
printf '[watch "build"]\n' >"$T/conf"
start -c "$T/conf"
host_start -S "$H"
host_wait 'event added a '
host_wait 'event connected'
host_expect "count=1 v1" call a reply
wait_log 'registered a ('

# One appears: opened and served, its init run.
mkmod "$T/b.so" counter -DNAME='"b"'
mv "$T/b.so" "$H/b.so"
host_wait 'event added b '
host_expect "count=1 v1" call b reply
host_expect "count=2 v1" call b reply
wait_log 'reloading b (.*) in host\[[0-9]*\] \.\.\. ok'

# Other names are none of its business.
echo text >"$H/README"
mkso "$ROOT/other.so" 3

# make clean && make under reloaderctl build: nothing removed, nothing
# lost.
"$TOP/$O/reloaderctl" -s "$SOCK" build -- sh -c "rm -f '$H'/*.so &&
    gcc -shared -fPIC -Wl,--build-id=sha1 -I'$TOP/include' -DNAME='\"a\"' \
    -o '$H/a.so' '$TOP/tests/modules/counter.c' &&
    gcc -shared -fPIC -Wl,--build-id=sha1 -I'$TOP/include' -DNAME='\"b\"' \
    -o '$H/b.so' '$TOP/tests/modules/counter.c'" >"$T/build.out" 2>&1 ||
    fail "the build failed: $(cat "$T/build.out")"
sync_marker
host_expect "count=2 v1" call a reply
host_expect "count=3 v1" call b reply
[ "$(host_count 'event removed')" -eq 0 ] ||
	fail "make clean && make removed a module"
[ "$(host_count 'event added')" -eq 2 ] ||
	fail "make clean && make added a module again"

# One removed for good is closed.
rm "$H/a.so"
host_wait 'event removed a'
wait_log 'host\[[0-9]*\] unregistered a'
host_expect "count=4 v1" call b reply

# One whose first load fails is named, not served, and goes in once a
# build fixes it.
mkmod "$H/c.so" counter -DNAME='"c"' -DFAIL_CC
host_wait 'event reload c rolled-back .*failed=code-change'
mkmod "$H/c.so" counter -DNAME='"c"' -DV2
host_wait 'event added c '
host_expect "count=1 v2" call c reply

host_stop
stop
