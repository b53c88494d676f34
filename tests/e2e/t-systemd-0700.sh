# t-systemd.sh from a checkout that other users cannot enter, as a clone
# into `mktemp -d` (mode 0700) is: its sandboxed run, as nobody, cannot
# reach the daemon in the tree, and must say so and run copies instead of
# waiting forever.  The tree's test files and built programs are copied
# into a 0700 directory and t-systemd.sh runs there, under a time limit.
# backends: any
. tests/e2e/lib.sh

[ "$(id -u)" -eq 0 ] && unshare -m -n true 2>/dev/null &&
    command -v setpriv >/dev/null 2>&1 ||
	skip "t-systemd.sh's sandboxed run needs root, unshare and setpriv"

chmod 0700 "$T"
co=$T/checkout
mkdir -p "$co/$O"
cp -a tests systemd include "$co/"
cp -a "$O/reloaderd" "$O/tests" "$O"/libreloader.so* "$co/$O/"
rc=0
(cd "$co" && TMPDIR=/tmp timeout -k 5 120 sh tests/e2e/t-systemd.sh) \
    >"$T/out" 2>&1 || rc=$?
[ "$rc" -ne 124 ] || fail "t-systemd.sh from a 0700 checkout: no end after 120 s:
$(tail -n 30 "$T/out")"
# 77: a part of it was skipped (under the sanitizers, the system calls),
# but not the sandboxed run.
[ "$rc" -eq 0 ] || [ "$rc" -eq 77 ] ||
    fail "t-systemd.sh from a 0700 checkout exited $rc:
$(tail -n 30 "$T/out")"
! grep '^SKIP: the sandboxed run' "$T/out" ||
    fail "t-systemd.sh from a 0700 checkout skipped the sandboxed run"
grep -q "^note: nobody or daemon cannot reach $co/$O " "$T/out" ||
    fail "t-systemd.sh did not say it ran copies: $(cat "$T/out")"
echo "ok"
