# BEAM files: the stamp is the MD5 the Erlang VM reports.
# backends: inotify poll
. tests/e2e/lib.sh

mkbeam "$ROOT" hello 1
mkbeam "$ROOT/gz" zipped 1 +compressed
start -w build
wait_log "watching build ($BACKEND, 2 modules)"

# A recompiled module: one line with exactly the VM's MD5.
old=$(vm_md5 "$ROOT" hello)
mkbeam "$ROOT" hello 2
new=$(vm_md5 "$ROOT" hello)
[ "$new" != "$old" ] || fail "test setup: MD5s do not differ"
wait_log " info changed build/hello.beam module=hello md5=$new was=$old\$"
sync_marker
expect_count ' info changed build/hello\.beam' 1

# An identical recompile, and touch, change nothing.
mkbeam "$ROOT" hello 2
touch "$ROOT/hello.beam"
sync_marker
expect_count ' info changed build/hello\.beam' 1

# erlc deletes the old beam, writes hello.bea#, then renames it into
# place.  Even when that takes longer than the settle window it is one
# change, not a removal and an addition.
mkbeam "$T/slow" hello 3
v3=$(vm_md5 "$T/slow" hello)
rm "$ROOT/hello.beam"
sleep 0.2
cp "$T/slow/hello.beam" "$ROOT/hello.bea#"
mv "$ROOT/hello.bea#" "$ROOT/hello.beam"
wait_log " info changed build/hello.beam module=hello md5=$v3 was=$new\$"
sync_marker
expect_count ' info \(removed\|added\) build/hello\.beam' 0
new=$v3

# Compressed beams too.
mkbeam "$ROOT/gz" zipped 2 +compressed
zmd5=$(vm_md5 "$ROOT/gz" zipped)
wait_log " info changed build/gz/zipped.beam module=zipped md5=$zmd5 "

# The module name comes from the file, not its name on disk.
mkbeam "$T/other" named 7
cp "$T/other/named.beam" "$ROOT/renamed.beam"
wait_log " info added build/renamed.beam module=named md5=$(vm_md5 "$T/other" named)\$"

# A failed compile deletes the beam: reported as removed.
rm "$ROOT/hello.beam"
wait_log " info removed build/hello.beam module=hello was=$new\$"

# A truncated beam is never reported; the complete one is, once.
mkbeam "$T/other" trunc 1
head -c 200 "$T/other/trunc.beam" >"$ROOT/trunc.beam"
sync_marker
expect_count ' \(info\|warn\) [a-z]* *build/trunc\.beam' 0
cat "$T/other/trunc.beam" >"$ROOT/trunc.beam"
wait_log " info added build/trunc.beam module=trunc md5=$(vm_md5 "$T/other" trunc)\$"
expect_count ' warn ' 0
stop
