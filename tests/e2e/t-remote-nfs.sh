#!/bin/sh
# More than one machine, on NFS (issue 15).  A test cannot mount NFS, so
# RELOADERD_TEST_NOEVENT_FS=NFS makes the daemon take every file system
# for NFS, as statfs(2) would name a real mount.  With no configuration,
# under -b auto, the daemon polls the directory of the modules a host
# loaded, and says why; a module that another machine puts there (renamed
# into place, as rsync or a build on the NFS server does) reloads once,
# and one put there again unchanged reloads nothing.  Directories given
# with -w, and -b inotify overriding: t-fallback.sh.
# backends: any
. tests/e2e/lib.sh

# Builds module NAME saying TEXT elsewhere and renames it into place.
put() {
	mkdir -p "$T/elsewhere"
	mkmod "$T/elsewhere/$1.so" greet -DNONOTE -DGREETING="\"$2\""
	mv "$T/elsewhere/$1.so" "$ROOT/$1.so"
}

put a a1
put b b1
RELOADERD_TEST_NOEVENT_FS=NFS
export RELOADERD_TEST_NOEVENT_FS
start
host_start "$ROOT/a.so" "$ROOT/b.so"
host_wait 'event connected'
wait_log 'host\[[0-9]*\] registered a '
wait_log 'host\[[0-9]*\] registered b '
expect_count " info $ROOT: on NFS, which gives no inotify events for changes made elsewhere; polling every 0\\.05s\$" 1
expect_count " info watching $ROOT (poll, 1 module)\$" 1

# A change: reloaded once.
put a a2
host_wait '^event reload a ok '
host_expect "greet a2" call a reply

# b again, unchanged, then a changed twice: the poll that finds a's
# second change began after the one that found its first had ended, so
# after b's rename; an offer of b would come no later than a's.
put b b1
put a a3
host_wait '^event reload a ok ' 2
put a a4
host_wait '^event reload a ok ' 3
host_expect "greet a4" call a reply
host_expect "greet b1" call b reply
expect_count ' offering b ' 0
expect_count ' offering a ' 3
[ "$(host_count '^event reload ')" -eq 3 ] ||
    fail "$(host_count '^event reload ') reloads, not 3"
expect_count ' error ' 0
host_stop
stop
