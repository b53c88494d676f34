# tests/run.sh itself, on tests of its own: the summary line counts what
# passed, failed and was skipped; each skipped test is named with its
# reason (its "SKIP:" lines, a part skipped as well as the whole); a test
# that never ends is stopped at the time limit and named, with its last
# lines.
# backends: any
. tests/e2e/lib.sh

e=$T/e2e
mkdir -p "$e" "$T/obj/tests"
printf '# backends: a b\necho fine\n' >"$e/t-pass.sh"
printf 'echo "FAIL: it broke"\nexit 1\n' >"$e/t-fail.sh"
printf 'echo "SKIP: needs a unicorn"\nexit 77\n' >"$e/t-whole.sh"
cat >"$e/t-part.sh" <<'T'
. tests/e2e/lib.sh
skip_part "the colour part: no terminal"
skip_part "the sandbox: not root"
end_test
T
cat >"$e/t-hang.sh" <<'T'
. tests/e2e/lib.sh
echo "waiting for what never comes"
echo "$T" >"$HANG_T"
start
sleep 3600
T

rc=0
RELOADERD=$RELOADERD HANG_T=$T/hang.t O=$T/obj E2E=$e TEST_TIMEOUT=1 \
    sh tests/run.sh >"$T/run.out" 2>&1 || rc=$?
[ "$rc" -ne 0 ] || fail "run.sh exited 0 with failed tests"
# Checks that the output has a line that is exactly the text given.
has() {
	grep -qxF -- "$1" "$T/run.out" ||
	    fail "run.sh: no line '$1' in:
$(cat "$T/run.out")"
}
[ "$(tail -n 1 "$T/run.out")" = "2 passed, 2 failed, 2 skipped" ] ||
    fail "run.sh's last line: $(tail -n 1 "$T/run.out")"
has "skipped:"
has "    e2e/t-part.sh:any: the colour part: no terminal; the sandbox: not root"
has "    e2e/t-whole.sh:any: needs a unicorn"
has "failed: e2e/t-fail.sh:any e2e/t-hang.sh:any"
has "FAIL e2e/t-hang.sh:any: timed out after 1s (TEST_TIMEOUT=1), stopped"
# The hung test's last lines: its own, and where its daemon stood.
has "    waiting for what never comes"
grep -q "^    .* ready: " "$T/run.out" ||
    fail "run.sh did not show the hung test's daemon log: $(cat "$T/run.out")"
grep -q '^PASS e2e/t-pass.sh:a (' "$T/run.out" &&
    grep -q '^PASS e2e/t-pass.sh:b (' "$T/run.out" ||
    fail "run.sh did not run t-pass.sh once per backend: $(cat "$T/run.out")"
# Nothing of the hung test is left running, nor its directory.
ht=$(cat "$T/hang.t")
! pgrep -f "$ht" >/dev/null ||
    fail "the hung test's daemon is still running: $(pgrep -af "$ht")"
[ ! -e "$ht" ] || fail "the hung test's $ht is left"
echo "ok"
