#!/bin/sh
# Runs every test: the Check unit tests, each fuzz target over its corpus,
# and the end-to-end tests (each once per backend it names), then prints
# one summary line.  O names the build directory (obj, obj-san).
O=${O:-obj}
export O
pass=0
fail=0
failed=""

# Runs one test, keeping its output only when it fails.
run() {
	name=$1
	shift
	out=$(mktemp)
	start=$(date +%s)
	if "$@" >"$out" 2>&1; then
		pass=$((pass + 1))
		echo "PASS $name ($(($(date +%s) - start))s)"
	else
		fail=$((fail + 1))
		failed="$failed $name"
		echo "FAIL $name"
		grep -m 5 'FAIL\|ERROR\|runtime error' "$out" | sed 's/^/    /'
		echo "    ... last lines:"
		grep -v ' debug \(unchanged\|batch\)' "$out" | tail -n 60 |
		    sed 's/^/    /' 
	fi
	rm -f "$out"
}

for t in "$O"/tests/test-*; do
	[ -x "$t" ] && run "unit/${t##*/}" "$t"
done
for t in "$O"/tests/fuzz-*; do
	n=${t##*/fuzz-}
	[ -d "tests/fuzz/corpus/$n" ] && run "fuzz/$n" "$t" "tests/fuzz/corpus/$n"
done
for t in tests/e2e/t-*.sh; do
	backends=$(sed -n 's/^# backends: //p' "$t")
	[ -n "$backends" ] || backends=any
	for b in $backends; do
		run "e2e/${t##*/}:$b" env BACKEND="$b" sh "$t"
	done
done

echo
[ -n "$failed" ] && echo "failed:$failed"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
