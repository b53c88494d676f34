#!/bin/sh
# Dialyzer finds nothing in the Erlang client (clients/erlang/src), with
# the PLT that `make tests' builds once into $O/erlang/dialyzer.plt.
. tests/e2e/lib.sh
PLT=$TOP/$O/erlang/dialyzer.plt
command -v dialyzer >/dev/null ||
    fail "dialyzer is not installed (erlang-dialyzer; make deps installs it)"
[ -f "$PLT" ] || fail "$PLT is not built (make O=$O tests)"
dialyzer --plt "$PLT" "$TOP/$O/erlang/ebin"/*.beam >"$T/dialyzer.out" 2>&1 || {
	cat "$T/dialyzer.out" >&2
	fail "dialyzer found something in the Erlang client"
}
grep -q 'passed successfully' "$T/dialyzer.out" || {
	cat "$T/dialyzer.out" >&2
	fail "dialyzer did not say it passed"
}
