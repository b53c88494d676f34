# scripts/deps.sh: `make run` installs only what the demo builds and
# runs, a strict subset of what `make check` installs, with none of the
# test tools; and under sudo, `make check` and `make run` build as the
# user who called sudo, so that no root-owned file is left in the tree.
# backends: any
. tests/e2e/lib.sh

run=$(sh scripts/deps.sh list run | tr ' ' '\n' | sort)
check=$(sh scripts/deps.sh list check | tr ' ' '\n' | sort)
[ "$(echo "$run" | wc -l)" -ge 5 ] || fail "deps.sh list run: '$run'"
extra=$(printf '%s\n' "$run" | grep -vxF -- "$check" || true)
[ -z "$extra" ] || fail "make run installs what make check does not: $extra"
[ "$run" != "$check" ] || fail "make run installs all that make check does"
for p in check strace mandoc systemd debhelper dpkg-dev man-db; do
	! printf '%s\n' "$run" | grep -qx "$p" ||
	    fail "make run installs $p, a test tool"
done
for p in gcc libev-dev libelf-dev libmd-dev zlib1g-dev libmicrohttpd-dev \
    curl; do
	printf '%s\n' "$run" | grep -qx "$p" ||
	    fail "make run does not install $p, which the demo needs"
done
# make run asks deps.sh for the run set only; run.sh itself calls no
# test tool (nc, jq, erl, strace and the like are check's).
make -n O="$O" run >"$T/n.out" 2>&1 || true
grep -qx 'sh scripts/deps.sh run' "$T/n.out" ||
    fail "make run does not install the run set: $(cat "$T/n.out")"
! grep -q 'deps.sh check' "$T/n.out" ||
    fail "make run installs the check set: $(cat "$T/n.out")"
for tool in nc jq erl strace mandoc systemd-analyze python3; do
	! grep -q "\(^\|[^a-z_-]\)$tool " examples/run.sh ||
	    fail "examples/run.sh runs $tool, which make run does not install"
done
sh scripts/deps.sh bogus >/dev/null 2>"$T/err" && fail "deps.sh bogus: exit 0"
grep -q '^usage: deps.sh ' "$T/err" || fail "deps.sh bogus: $(cat "$T/err")"

# Under sudo (SUDO_UID, run as root), the build runs as that user; the
# tests themselves keep root.  Seen in what make -n says it runs.
if [ "$(id -u)" -ne 0 ]; then
	skip_part "make check under sudo: needs root"
	end_test
fi
uid=$(id -u nobody)
gid=$(id -g nobody)
SUDO_UID=$uid SUDO_GID=$gid make -n O="$O" check >"$T/n.out" 2>&1 || true
grep -q "^setpriv --reuid=$uid --regid=$gid --init-groups -- make .*tests" \
    "$T/n.out" || fail "make check under sudo does not build as the user:
$(cat "$T/n.out")"
grep -q "^O=$O sh tests/run.sh" "$T/n.out" ||
    fail "make check under sudo: the tests do not run as root: $(cat "$T/n.out")"
SUDO_UID=$uid SUDO_GID=$gid make -n O="$O" run >"$T/n.out" 2>&1 || true
grep -q "^setpriv --reuid=$uid --regid=$gid --init-groups -- sh examples/run.sh" \
    "$T/n.out" || fail "make run under sudo does not run the demo as the user:
$(cat "$T/n.out")"
make -n O="$O" check >"$T/n.out" 2>&1 || true
! grep -q setpriv "$T/n.out" || fail "make check without sudo uses setpriv"
end_test
