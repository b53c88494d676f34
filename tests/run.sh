#!/bin/sh
# Runs every test: the Check unit tests, each fuzz target over its corpus,
# and the end-to-end tests (each once per backend it names), then prints
# what was skipped and why, and one summary line:
#
#	N passed, N failed, N skipped
#
# A test that cannot run, or could not run a part of itself, says why in
# a line "SKIP: reason" and exits 77 (as automake's tests do): it counts
# as skipped, not passed.  Each test runs under a time limit,
# TEST_TIMEOUT seconds (300 by default); one that overruns is stopped
# and fails with its last lines shown.  O names the build directory (obj,
# obj-san); E2E the end-to-end tests' directory (t-run.sh points it at
# tests of its own).
O=${O:-obj}
E2E=${E2E:-tests/e2e}
export O
limit=${TEST_TIMEOUT:-300}
pass=0
fail=0
skip=0
failed=""
skipped=""

# Runs one test, keeping its output only when it fails or skips.
run() {
	name=$1
	shift
	out=$(mktemp)
	start=$(date +%s)
	rc=0
	timeout -k 10 "$limit" "$@" >"$out" 2>&1 </dev/null || rc=$?
	secs=$(($(date +%s) - start))
	case $rc in
	0)
		pass=$((pass + 1))
		echo "PASS $name (${secs}s)"
		;;
	77)
		skip=$((skip + 1))
		why=$(awk 'sub(/^SKIP: /, "") {
		    r = r (r == "" ? "" : "; ") $0 } END { print r }' "$out")
		[ -n "$why" ] || why="no reason given"
		skipped="$skipped
    $name: $why"
		echo "SKIP $name (${secs}s): $why"
		;;
	*)
		fail=$((fail + 1))
		failed="$failed $name"
		if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
			echo "FAIL $name: timed out after ${limit}s" \
			    "(TEST_TIMEOUT=$limit), stopped"
		else
			echo "FAIL $name"
			grep -m 5 'FAIL\|ERROR\|runtime error' "$out" |
			    sed 's/^/    /'
		fi
		echo "    ... last lines:"
		grep -v ' debug \(unchanged\|batch\)' "$out" | tail -n 60 |
		    sed 's/^/    /'
		;;
	esac
	rm -f "$out"
}

for t in "$O"/tests/test-*; do
	[ -x "$t" ] && run "unit/${t##*/}" "$t"
done
for t in "$O"/tests/fuzz-*; do
	n=${t##*/fuzz-}
	[ -d "tests/fuzz/corpus/$n" ] && run "fuzz/$n" "$t" "tests/fuzz/corpus/$n"
done
for t in "$E2E"/t-*.sh; do
	backends=$(sed -n 's/^# backends: //p' "$t")
	[ -n "$backends" ] || backends=any
	for b in $backends; do
		run "e2e/${t##*/}:$b" env BACKEND="$b" sh "$t"
	done
done

echo
[ -z "$skipped" ] || echo "skipped:$skipped"
[ -z "$failed" ] || echo "failed:$failed"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
