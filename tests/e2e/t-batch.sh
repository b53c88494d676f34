# The settle window: changes arriving together make one batch.
# backends: inotify poll
. tests/e2e/lib.sh

# Files are copied with cp -p from builds whose mtime is an hour old: a
# poll reads a file again while its mtime is under a second old, which
# would add unchanged files to the batches counted here.

# Builds module $1 with value $2 into $T/stage/$1-$2.so, an hour old.
stage() {
	mkso "$T/stage/$1-$2.so" "$2"
	touch -d '1 hour ago' "$T/stage/$1-$2.so"
}

for m in a b c d e f; do
	stage $m 1
done
for m in a b c; do
	stage $m 2
done
stage a 3
stage a 4
for m in a b c; do
	cp -p "$T/stage/$m-1.so" "$ROOT/$m.so"
done

# Three modules rebuilt at once (make -j): one batch.  The writes are paced
# 0.1 s apart, more than a poll interval (50ms) and less than the settle
# window, so that the window, not the poll's tick, is what joins them.
# (Nothing is logged before the batch, so there is no line to wait for.)
printf '[reloaderd]\nsettle = 300ms\n\n[watch "build"]\n' >"$T/settle.conf"
start -c "$T/settle.conf"
expect_count " info watching build ($BACKEND, 3 modules)\$" 1
cp -p "$T/stage/a-2.so" "$ROOT/a.so"
sleep 0.1
cp -p "$T/stage/b-2.so" "$ROOT/b.so"
sleep 0.1
cp -p "$T/stage/c-2.so" "$ROOT/c.so"
wait_log ' debug batch: 3 files looked at, 0 added, 3 changed, 0 removed$'
for m in a b c; do
	expect_count " info changed build/$m.so module=$m build-id=$(buildid "$T/stage/$m-2.so") was=$(buildid "$T/stage/$m-1.so")\$" 1
done
expect_count ' debug batch: ' 1

# Three new modules at once: one batch too.
cp -p "$T/stage/d-1.so" "$ROOT/"
sleep 0.1
cp -p "$T/stage/e-1.so" "$ROOT/"
sleep 0.1
cp -p "$T/stage/f-1.so" "$ROOT/"
wait_log ' debug batch: 3 files looked at, 3 added, 0 changed, 0 removed$'
for m in d e f; do
	expect_count " info added build/$m-1.so module=$m-1 build-id=$(buildid "$T/stage/$m-1.so")\$" 1
done
expect_count ' debug batch: ' 2

# A file written twice within the window (again more than a poll interval
# apart) is read once, at its last build.
v2=$(buildid "$T/stage/a-2.so")
v3=$(buildid "$T/stage/a-3.so")
v4=$(buildid "$T/stage/a-4.so")
cp -p "$T/stage/a-3.so" "$ROOT/a.so"
sleep 0.1
cp -p "$T/stage/a-4.so" "$ROOT/a.so"
wait_log " info changed build/a.so module=a build-id=$v4 was=$v2\$"
wait_log ' debug batch: 1 files looked at, 0 added, 1 changed, 0 removed$'
expect_count ' debug batch: ' 3
sync_marker
expect_count " info changed build/a.so " 2
expect_count "$v3" 0
stop

# With settle = 0, two changes a moment apart are two batches.
: >"$LOG"
rm "$ROOT/zz-marker.so"
marker_n=0
printf '[reloaderd]\nsettle = 0\n[watch "build"]\n' >"$T/nosettle.conf"
start -c "$T/nosettle.conf"
expect_count " info watching build ($BACKEND, 6 modules)\$" 1
cp -p "$T/stage/b-1.so" "$T/next.so"
mv "$T/next.so" "$ROOT/b.so"
wait_log " info changed build/b.so module=b build-id=$(buildid "$T/stage/b-1.so") was="
cp -p "$T/stage/b-2.so" "$T/next.so"
mv "$T/next.so" "$ROOT/b.so"
wait_log " info changed build/b.so module=b build-id=$(buildid "$T/stage/b-2.so") was="
wait_log ' debug batch: 1 files looked at, 0 added, 1 changed, 0 removed$' 2
expect_count ' debug batch: ' 2
stop
