# The Makefile's header dependencies are the compiler's (-MMD -MP): a
# header's change rebuilds what includes it and nothing else, a header
# that goes away breaks no build, and a built tree is up to date.  Asked
# of make with -n and -W (what if this file changed), so nothing here
# builds or touches the tree.
# backends: any
. tests/e2e/lib.sh

# Prints the objects and programs `make -n` would build in $O if the
# files given had changed, one per line, sorted.
would_build() {
	w=
	for f in "$@"; do
		w="$w -W $f"
	done
	# shellcheck disable=SC2086
	make -n $w O="$O" tests 2>&1 | grep -o " -o $O/[^ ]*" |
	    sed "s| -o $O/||" | sort -u
}

[ -z "$(would_build)" ] || fail "a built tree is not up to date:
$(would_build)"

# reloaderctl's private header: its objects, itself and its unit tests
# (tests/unit/test-ctl-*.c), nothing else.
got=$(would_build src/reloaderctl/ctl.h)
want=$( (echo reloaderctl
    for f in tests/unit/test-ctl-*.c; do f=${f##*/}; echo "tests/${f%.c}"; done
    for f in src/reloaderctl/*.c; do echo "${f%.c}.o"; done) | sort)
[ "$got" = "$want" ] || fail "ctl.h rebuilds:
$got
and not:
$want"

# The daemon's header: its objects, never libreloader's or reloaderctl's.
got=$(would_build src/reloaderd/reloaderd.h)
echo "$got" | grep -q '^src/reloaderd/client\.o$' ||
    fail "reloaderd.h does not rebuild client.o: $got"
! echo "$got" | grep '^pic/\|^src/reloaderctl/\|^libreloader' ||
    fail "reloaderd.h rebuilds what does not include it"

# libreloader's private header: the library's own objects only.
got=$(would_build src/libreloader/libreloader.h)
echo "$got" | grep -q '^pic/src/libreloader/module\.o$' ||
    fail "libreloader.h does not rebuild module.o: $got"
! echo "$got" | grep '^src/' ||
    fail "libreloader.h rebuilds the daemon or reloaderctl: $got"

# Every object has its .d file.
for o in "$O"/src/*/*.o "$O"/pic/src/*/*.o; do
	[ -f "$o.d" ] || fail "no $o.d"
done

# A header that a file no longer includes, then removed, breaks no
# build: -MP gives each header an empty rule of its own.
grep -q '^src/reloaderctl/ctl\.h:$' "$O/src/reloaderctl/sig.o.d" ||
    fail "no empty rule for ctl.h in $O/src/reloaderctl/sig.o.d (-MP)"
echo "ok"
