# Symlinks in a watched root: one that leads out of every configured root
# is not read (the log says why, once), unless follow-symlinks = yes; one
# that leads into a root is read.  docs/SECURITY.md, section 3.
# backends: inotify poll
. tests/e2e/lib.sh

OUT=$T/outside
mkdir -p "$OUT" "$ROOT/in"
mkso "$OUT/secret.so" 1
mkso "$ROOT/in/real.so" 1
# As root the daemon could read anything: the rule is about roots, so a
# file of another user, 0600, is refused all the same.
if [ "$(id -u)" -eq 0 ] && id nobody >/dev/null 2>&1; then
	chown nobody "$OUT/secret.so"
	chmod 600 "$OUT/secret.so"
fi
ln -s "$OUT/secret.so" "$ROOT/leak.so"
printf '[reloaderd]\nsettle = 0\n[watch "build"]\n' >"$T/no.conf"
printf '[reloaderd]\nsettle = 0\nfollow-symlinks = yes\n[watch "build"]\n' \
    >"$T/yes.conf"
cp "$T/no.conf" "$T/conf"

# Found by the first scan: not read, and said so.
start -c "$T/conf"
wait_log " warn not reading build/leak\.so: it is a symlink to $OUT/secret\.so, outside every configured root (follow-symlinks = no)"

# Made while watched, and one to a file of the kernel's: not read either.
ln -s "$OUT/secret.so" "$ROOT/leak2.so"
wait_log ' warn not reading build/leak2\.so: it is a symlink'
ln -s /proc/self/mem "$ROOT/mem.so"
wait_log ' warn not reading build/mem\.so: it is a symlink to /proc/'

# A link that leads into the root is read.
ln -s "$ROOT/in/real.so" "$ROOT/good.so"
wait_log ' info added build/good\.so module=good '

# The refused link made again, and its target rebuilt: still not read,
# and the log said so once.
ln -sfn "$OUT/secret.so" "$ROOT/leak.so"
mkso "$OUT/secret.so" 2
sync_marker
expect_count 'not reading build/leak\.so' 1
expect_count 'build/leak\.so module=' 0
expect_count 'build/mem\.so module=' 0

# Pointed into the root, it is read.
ln -sfn "$ROOT/in/real.so" "$ROOT/leak2.so"
wait_log ' info reading build/leak2\.so: its symlink leads to '
wait_log ' info added build/leak2\.so module=leak2 '

# follow-symlinks = yes, by SIGHUP: what was refused is read now.
cp "$T/yes.conf" "$T/conf"
kill -HUP "$DPID"
wait_log ' info added build/leak\.so module=leak '
stop

# And from the start.
start -c "$T/yes.conf"
wait_log ' debug known build/leak\.so module=leak '
expect_count 'not reading' 0
stop
end_test
