# Directory trees: new subdirectories, a root removed and recreated.
# backends: inotify poll
. tests/e2e/lib.sh

mkso "$ROOT/a.so" 1
start -w build

# A module in a subdirectory made after start is seen, however deep.
mkdir -p "$ROOT/sub/deeper"
mkso "$ROOT/sub/deeper/x.so" 1
wait_log ' info added build/sub/deeper/x\.so module=x '
mkso "$ROOT/sub/deeper/x.so" 2
wait_log ' info changed build/sub/deeper/x\.so module=x '

# A directory made with its contents in place before it is watched
# (mkdir -p and a fast writer) loses nothing: watched, then listed.
mkdir -p "$T/prebuilt/p/q"
mkso "$T/prebuilt/p/q/y.so" 1
mv "$T/prebuilt/p" "$ROOT/p"
wait_log ' info added build/p/q/y\.so module=y '

# A directory moved out of the root takes its modules with it.
mv "$ROOT/p" "$T/gone-p"
wait_log ' info removed build/p/q/y\.so module=y '
mkso "$T/gone-p/q/y.so" 5
sync_marker
expect_count 'y\.so' 2

# make clean && make: the root goes away and comes back.
rm -rf "$ROOT"
wait_log ' info removed build/a\.so module=a '
wait_log ' info removed build/sub/deeper/x\.so module=x '
mkdir "$ROOT"
mkso "$ROOT/a.so" 3
wait_log ' info added build/a\.so module=a '
mkso "$ROOT/a.so" 4
wait_log ' info changed build/a\.so module=a '
mkdir -p "$ROOT/sub"
mkso "$ROOT/sub/z.so" 1
wait_log ' info added build/sub/z\.so module=z '

# Renamed away and back: still watched.
mv "$ROOT" "$T/build.moved"
wait_log ' info removed build/sub/z\.so'
mv "$T/build.moved" "$ROOT"
mkso "$ROOT/sub/z.so" 2
wait_log ' info \(added\|changed\) build/sub/z\.so module=z ' 2

# A directory renamed within the root: its module leaves the old name and
# is found under the new one, where changes are seen; another directory
# that takes the old name is watched as new.  (Polling looks each file up
# relative to its directory's descriptor: a renamed directory must not
# be followed to its new name as the old one.)
mkdir -p "$ROOT/r1/deep"
mkso "$ROOT/r1/deep/w.so" 1
wait_log ' info added build/r1/deep/w\.so module=w '
mv "$ROOT/r1" "$ROOT/r2"
wait_log ' info added build/r2/deep/w\.so module=w '
wait_log ' info removed build/r1/deep/w\.so module=w '
mkso "$ROOT/r2/deep/w.so" 2
wait_log ' info changed build/r2/deep/w\.so module=w '
mkdir -p "$ROOT/r1/deep"
mkso "$ROOT/r1/deep/w.so" 3
wait_log ' info added build/r1/deep/w\.so module=w ' 2
mkso "$ROOT/r1/deep/w.so" 4
wait_log ' info changed build/r1/deep/w\.so module=w '
mkso "$ROOT/r2/deep/w.so" 5
wait_log ' info changed build/r2/deep/w\.so module=w ' 2
sync_marker
expect_count ' info [a-z]* build/r1/deep/w\.so module=w ' 4
expect_count ' info [a-z]* build/r2/deep/w\.so module=w ' 3
expect_count ' warn ' 0
stop
