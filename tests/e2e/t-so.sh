# Shared objects: only a new build-id is a change.
# backends: inotify poll
. tests/e2e/lib.sh

mkso "$ROOT/hello.so" 1
old=$(buildid "$ROOT/hello.so")
cp -p "$ROOT/hello.so" "$T/hello-old.so"
start -w build
wait_log "watching build ($BACKEND, 1 module)"

# A rebuild with a change: one line, naming the new and old build-id.
mkso "$ROOT/hello.so" 2
new=$(buildid "$ROOT/hello.so")
[ "$new" != "$old" ] || fail "test setup: build-ids do not differ"
wait_log " info changed build/hello.so module=hello build-id=$new was=$old\$"
sync_marker
expect_count ' info changed build/hello\.so' 1

# touch and an identical rebuild change nothing.
touch "$ROOT/hello.so"
mkso "$ROOT/hello.so" 2
sync_marker
expect_count ' info changed build/hello\.so' 1

# cp -p of an older build: older mtime, different build-id: a change.
cp -p "$T/hello-old.so" "$ROOT/hello.so"
wait_log " info changed build/hello.so module=hello build-id=$old was=$new\$"
sync_marker
expect_count ' info changed build/hello\.so' 2

# A module naming itself: its name is the module, its version the stamp.
SO_EXTRA='RELOADER_MODULE_VERSION("greeter", "1.0");' mkso "$ROOT/g.so" 1
wait_log ' info added build/g.so module=greeter version=1.0$'
SO_EXTRA='RELOADER_MODULE_VERSION("greeter", "1.0");' mkso "$ROOT/g.so" 2
sync_marker
expect_count ' info changed build/g\.so' 0
SO_EXTRA='RELOADER_MODULE_VERSION("greeter", "1.1");' mkso "$ROOT/g.so" 2
wait_log ' info changed build/g.so module=greeter version=1.1 was=1.0$'
# A version longer than a build-id is kept beside the file's node, and
# compared and logged the same; one naming its own file's module too.
long=2.0.0-rc.1+build.20261203
SO_EXTRA="RELOADER_MODULE_VERSION(\"greeter\", \"$long\");" mkso "$ROOT/g.so" 2
wait_log " info changed build/g.so module=greeter version=$long was=1.1\$"
SO_EXTRA="RELOADER_MODULE_VERSION(\"greeter\", \"$long\");" mkso "$ROOT/g.so" 3
sync_marker
expect_count ' info changed build/g\.so' 2
SO_EXTRA='RELOADER_MODULE_VERSION("greeter", "2.0");' mkso "$ROOT/g.so" 2
wait_log " info changed build/g.so module=greeter version=2.0 was=$long\$"
SO_EXTRA="RELOADER_MODULE_VERSION(\"own\", \"$long\");" mkso "$ROOT/own.so" 1
wait_log " info added build/own.so module=own version=$long\$"
rm "$ROOT/own.so"
wait_log " info removed build/own.so module=own was=$long\$"

# Without a build-id the whole content is the stamp.
mkso "$ROOT/plain.so" 1 -Wl,--build-id=none
sum=$(md5sum "$ROOT/plain.so" | cut -d' ' -f1)
wait_log " info added build/plain.so module=plain content-md5=$sum\$"

# Bad input: a text file named like a module gets a warning naming it,
# and the daemon carries on.
echo "not a module" >"$ROOT/bad.so"
wait_log ' warn build/bad.so: neither an ELF shared object nor a BEAM file'
gcc -c -fPIC -x c -o "$ROOT/obj.so" - <<'C'
int x;
C
wait_log ' warn build/obj.so: .*not a shared object'

# Temporary files of compilers and editors are not looked at.
mkso "$ROOT/hello.so.tmp" 3
mkso "$ROOT/.#hello.so" 3
mkso "$ROOT/hello.so~" 3
sync_marker
expect_count 'hello\.so\.tmp\|\.#hello\|hello\.so~' 0

# Removing a module is reported once.
rm "$ROOT/hello.so"
wait_log " info removed build/hello.so module=hello was=$old\$"
sync_marker
expect_count ' info removed build/hello\.so' 1
expect_count ' error ' 0
stop
