# Falling back to polling (watch limit, network file systems) and roots
# that do not exist yet.
# backends: any
. tests/e2e/lib.sh

# Builds a shared object elsewhere and renames it into place, so that no
# backend can see it half-written.
put() {
	mkso "$T/stage.so" "$2"
	mv "$T/stage.so" "$1"
}

# Stops the daemon and readies the next one: an empty root, and an empty
# log, so that start cannot take the last daemon's ready line for its own.
next_daemon() {
	stop
	: >"$LOG"
	rm -rf "$ROOT"
	mkdir -p "$ROOT"
	marker_n=0
}

# The watch limit: the root is polled instead, deep directories too.
max_watches=$(cat /proc/sys/fs/inotify/max_user_watches)
max_instances=$(cat /proc/sys/fs/inotify/max_user_instances)
mkdir -p "$ROOT/a/b/c" "$ROOT/d" "$ROOT/e/f"
put "$ROOT/top.so" 1
put "$ROOT/a/b/c/deep.so" 1
old=$(buildid "$ROOT/a/b/c/deep.so")
RELOADERD_TEST_MAX_WATCHES=2
export RELOADERD_TEST_MAX_WATCHES
start -b auto -w build
unset RELOADERD_TEST_MAX_WATCHES
expect_count " warn build: inotify watch limit reached (fs.inotify.max_user_watches=$max_watches, max_user_instances=$max_instances); polling every 0.05s instead\$" 1
expect_count ' info watching build (poll, 2 modules)$' 1
put "$ROOT/a/b/c/deep.so" 2
new=$(buildid "$ROOT/a/b/c/deep.so")
wait_log " info changed build/a/b/c/deep.so module=deep build-id=$new was=$old\$"
put "$ROOT/e/f/new.so" 3
wait_log " info added build/e/f/new.so module=new build-id=$(buildid "$ROOT/e/f/new.so")\$"
sync_marker
expect_count ' info [a-z]* build/a/b/c/deep\.so' 1
expect_count ' info [a-z]* build/e/f/new\.so' 1
expect_count ' error ' 0
next_daemon

# A root on NFS is polled under -b auto.
put "$ROOT/m.so" 1
old=$(buildid "$ROOT/m.so")
RELOADERD_TEST_NOEVENT_FS=NFS
export RELOADERD_TEST_NOEVENT_FS
start -b auto -w build
expect_count ' info build: on NFS, which gives no inotify events for changes made elsewhere; polling every 0.05s$' 1
expect_count ' info watching build (poll, 1 module)$' 1
put "$ROOT/m.so" 2
new=$(buildid "$ROOT/m.so")
wait_log " info changed build/m.so module=m build-id=$new was=$old\$"
sync_marker
expect_count ' info [a-z]* build/m\.so' 1
next_daemon

# ... but -b inotify is obeyed, NFS or not.
put "$ROOT/m.so" 1
old=$(buildid "$ROOT/m.so")
start -b inotify -w build
unset RELOADERD_TEST_NOEVENT_FS
expect_count ' info watching build (inotify, 1 module)$' 1
expect_count 'NFS\|polling' 0
put "$ROOT/m.so" 2
wait_log " info changed build/m.so module=m build-id=$(buildid "$ROOT/m.so") was=$old\$"
next_daemon

# A root that does not exist yet is waited for, with either backend; so
# is one whose parents do not exist either.
for b in inotify poll; do
	rm -rf "$T/later" "$T/a"
	start -b "$b" -w build -w later -w a/b/c
	expect_count ' warn later: No such file or directory; watching for it to appear$' 1
	expect_count ' warn a/b/c: No such file or directory; watching for it to appear$' 1
	expect_count ' info ready: 3 directories, 0 modules$' 1
	mkdir "$T/later"
	mkso "$T/later/m.so" 1
	wait_log " info later appeared; watching it ($b, [01] modules\\?)\$"
	wait_log " info added later/m.so module=m build-id=$(buildid "$T/later/m.so")\$"
	mkdir -p "$T/a/b/c"
	mkso "$T/a/b/c/n.so" 2
	wait_log " info a/b/c appeared; watching it ($b, [01] modules\\?)\$"
	wait_log " info added a/b/c/n.so module=n build-id=$(buildid "$T/a/b/c/n.so")\$"
	sync_marker
	expect_count ' info [a-z]* later/m\.so' 1
	expect_count ' info [a-z]* a/b/c/n\.so' 1
	expect_count ' appeared' 2
	expect_count ' error ' 0
	next_daemon
done
