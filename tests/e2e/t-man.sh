# Every man page renders with man(1) as its source says: no roff warning,
# every quote that opens closes before the next one opens (an mdoc macro
# swallowing its neighbours shows as `‘daemon, ‘root ...’’'), every
# word of the NAME line and the section headers there, and every line of
# running text of the source found whole in the rendered page.  mandoc's
# lint is t-install.sh's.
# backends: any
. tests/e2e/lib.sh

command -v man >/dev/null 2>&1 ||
    fail "man is missing (scripts/deps.sh check installs man-db)"
export LC_ALL=C.UTF-8
# One line per paragraph, so that no sentence is broken or hyphenated.
export MANWIDTH=2000

# Collapses every run of blanks to one space, one paragraph or source
# line per line.
squeeze() {
	tr -s ' \t' '  ' | sed 's/^ //; s/ $//'
}

pages=0
for src in docs/*.[1-9]; do
	pages=$((pages + 1))
	name=${src##*/}
	man --warnings -l "$src" >"$T/page" 2>"$T/err" ||
	    fail "man -l $src failed: $(cat "$T/err")"
	[ ! -s "$T/err" ] || fail "man -l $src: $(cat "$T/err")"
	squeeze <"$T/page" >"$T/text"

	# Quotes: each ‘ is closed by a ’ before the next ‘ opens.
	bad=$(grep -n '‘[^’]*‘\|’’' "$T/text" || true)
	[ -z "$bad" ] || fail "$name renders unbalanced quotes:
$bad"
	# A line of the source starting with ' is a roff control line,
	# dropped from the page.
	bad=$(grep -n "^'" "$src" || true)
	[ -z "$bad" ] || fail "$name: a text line starts with ' (write \\&'):
$bad"

	# The NAME line and the section headers, every word.
	for w in $(sed -n 's/^\.\(Nd\|Sh\|Ss\) //p' "$src" | tr -d '"'); do
		grep -qF -- "$w" "$T/text" ||
		    fail "$name: '$w' of its NAME line or headers is not in the rendered page"
	done

	# Running text: each source line that is text, and has no escape
	# but \& and \e, appears whole.
	n=0
	sed -n '/^[^.'"'"']/p' "$src" | grep -v '\\[^&e]' |
	    sed 's/\\&//g; s/\\e/\\/g' | squeeze >"$T/lines"
	while IFS= read -r l; do
		[ -n "$l" ] || continue
		n=$((n + 1))
		grep -qF -- "$l" "$T/text" ||
		    fail "$name: source text not in the rendered page: '$l'"
	done <"$T/lines"
	[ "$n" -ge 30 ] || fail "$name: only $n lines of text compared"
	echo "$name: $n lines of text found as written"
done
[ "$pages" -eq 4 ] || fail "expected 4 pages in docs/, found $pages"
echo "ok"
