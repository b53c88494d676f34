# make install and uninstall honour PREFIX and DESTDIR.
# backends: any
. tests/e2e/lib.sh

dest=$T/dest
# SANITIZE comes from the environment under check-sanitize, so that
# install never relinks sanitized objects without their runtime.
make -s install O="$O" DESTDIR="$dest" PREFIX=/opt/rl >/dev/null
for f in bin/reloaderd include/reloader.h share/man/man8/reloaderd.8 \
    share/man/man5/reloader.conf.5 share/doc/reloader/reloader.conf.example; do
	[ -f "$dest/opt/rl/$f" ] || fail "make install did not install $f"
done
"$dest/opt/rl/bin/reloaderd" -V | grep -q '^reloaderd ' ||
	fail "the installed reloaderd does not run"
make -s uninstall DESTDIR="$dest" PREFIX=/opt/rl >/dev/null
left=$(find "$dest" -type f | wc -l)
[ "$left" -eq 0 ] || fail "make uninstall left $left files: $(find "$dest" -type f)"
