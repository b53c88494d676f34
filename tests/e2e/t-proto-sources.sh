#!/bin/sh
# Source watches at the protocol level (docs/PROTOCOL.md, "Source
# watches"), with a scripted control client: what `reloaderctl build
# --watch` builds on.  A watch tells of each selected file that is saved
# (written, renamed into place, touched), created (in a new directory
# too) or removed, through the daemon's own watching, in a directory no
# root covers and in one a configured root watches for modules; editors'
# temp and swap files and files the glob does not select are never told
# of; nothing reaches the attached processes; bad requests are refused.
# backends: inotify poll
. tests/e2e/lib.sh

trap '' PIPE
P=$T/proj
mkdir -p "$P/src/sub" "$P/build"
echo a >"$P/src/a.c"
echo b >"$P/src/sub/b.c"
echo h >"$P/src/a.h"
mkso "$P/build/mod.so" 1
# The build directory is a configured root; src is not under any.
start -w "$P/build"
open_client a 7
to a "> hello proto=1 pid=5 name=ctl role=control" "< welcome" \
    "> watch-sources id=1 dir=$P/src match=**/*.c" "< ok id=1" \
    "> watch-sources id=2 dir=$P/src match=*.h" "< ok id=2" \
    "> watch-sources id=3 dir=$P/build match=*.c" "< ok id=3" \
    "> watch-sources id=10 dir=$P/src/sub" "< ok id=10"
wait_recv a 1 ok id=1 verb=watch-sources sources=1 files=2
wait_recv a 1 ok id=2 verb=watch-sources sources=2 files=1
wait_recv a 1 ok id=3 verb=watch-sources sources=3 files=0
wait_recv a 1 ok id=10 verb=watch-sources sources=4 files=1

# A save, as editors make it: written in place, or renamed over it with
# a swap and a backup beside; one change each, under the right watch.
echo more >>"$P/src/a.c"
wait_recv a 1 sources-changed sources=1 "path=$P/src/a.c" what=changed
echo swap >"$P/src/.a.c.swp"
echo new >"$P/src/.goutputstream-ABC123"
cp "$P/src/a.c" "$P/src/a.c~"
mv "$P/src/.goutputstream-ABC123" "$P/src/sub/b.c"
wait_recv a 1 sources-changed sources=1 "path=$P/src/sub/b.c" what=changed
wait_recv a 1 sources-changed sources=4 "path=$P/src/sub/b.c" what=changed
touch -d '2020-01-01' "$P/src/a.h"
wait_recv a 1 sources-changed sources=2 "path=$P/src/a.h" what=changed
# A new directory with a file in it, and a file removed.
mkdir -p "$P/src/new/deep"
echo n >"$P/src/new/deep/n.c"
wait_recv a 1 sources-changed sources=1 "path=$P/src/new/deep/n.c" \
    what=created
rm "$P/src/sub/b.c"
wait_recv a 1 sources-changed sources=1 "path=$P/src/sub/b.c" what=removed
# In a configured root, beside its modules.
echo c >"$P/build/gen.c"
wait_recv a 1 sources-changed sources=3 "path=$P/build/gen.c" what=created
# Never the editors' files, nor what no glob selects, nor hidden trees;
# a watch with no glob selects every other file.
for f in 4913 '#b.c#' b.c~ .b.c.swx x.tmp b.c___jb_tmp___; do
	echo x >"$P/src/sub/$f"
done
mkdir -p "$P/src/sub/.git"
echo x >"$P/src/sub/.hidden"
echo x >"$P/src/sub/.git/index"
echo x >"$P/src/sub/notes.txt"
wait_recv a 1 sources-changed sources=4 "path=$P/src/sub/notes.txt" \
    what=created
echo x >"$P/src/notes.txt"
mkdir -p "$P/src/.cache"
echo x >"$P/src/.cache/hidden.c"
echo again >>"$P/src/a.c"
wait_recv a 2 sources-changed sources=1 "path=$P/src/a.c" what=changed
for f in .a.c.swp a.c~ .goutputstream-ABC123 notes.txt .cache/hidden.c; do
	expect_recv a 0 sources-changed "path=$P/src/$f"
done
for f in 4913 '#b.c#' b.c~ .b.c.swx x.tmp b.c___jb_tmp___ .hidden \
    .git/index; do
	expect_recv a 0 sources-changed "path=$P/src/sub/$f"
done
# Sources are not modules: nothing is logged as one, or offered.  (The
# path is matched as a word: the test's directory may hold ".c" itself.)
expect_count ' \(added\|changed\|unchanged\) [^ ]*\.c module=' 0

# Bad requests, and the end of a watch.
to a "> watch-sources id=4 dir=relative" "< code=bad-field" \
    "> watch-sources id=5 dir=$T/none" "< code=no-such-dir" \
    "> watch-sources id=6 dir=$P/src match=../*.c" "< code=bad-field" \
    "> watch-sources id=7" "< code=missing-field" \
    "> unwatch-sources id=8 sources=99" "< code=no-such-sources" \
    "> unwatch-sources id=9 sources=1" "< ok id=9"
wait_recv a 1 error id=4 code=bad-field
wait_recv a 1 error id=5 code=no-such-dir
wait_recv a 1 error id=6 code=bad-field
wait_recv a 1 error id=7 code=missing-field
wait_recv a 1 error id=8 code=no-such-sources
wait_recv a 1 ok id=9 verb=unwatch-sources sources=1
echo after >>"$P/src/a.c"
touch "$P/src/a.h"
wait_recv a 2 sources-changed sources=2 "path=$P/src/a.h" what=changed
expect_recv a 2 sources-changed sources=1 "path=$P/src/a.c"
close_client a
# The daemon carries on, and the directories it watched for the
# connection alone are let go.
ctl_setup
ctl status >/dev/null
stop
