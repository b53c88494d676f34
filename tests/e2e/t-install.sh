# make install and uninstall honour PREFIX and DESTDIR: binaries, the
# library with its headers and pkg-config file, the Erlang client where
# erl finds it, the units with their placeholders filled in (and for
# PREFIX=/usr the configuration in /etc, the library in the platform's
# directory), one version everywhere, four man pages that lint clean
# (libreloader(3)'s SYNOPSIS the header's prototypes), the example
# config.  A program built
# with `pkg-config --cflags --libs libreloader` against the tree attaches
# to the installed reloaderd and runs a module's new code after a rebuild;
# uninstall leaves nothing.
# backends: any
. tests/e2e/lib.sh

dest=$T/dest
p=$dest/opt/rl
# SANITIZE comes from the environment under check-sanitize, so that
# install never relinks sanitized objects without their runtime.
make -s install O="$O" DESTDIR="$dest" PREFIX=/opt/rl >/dev/null
for f in bin/reloaderd bin/reloaderctl include/reloader.h \
    include/reloader-ev.h lib/libreloader.so lib/libreloader.a \
    lib/pkgconfig/libreloader.pc share/man/man1/reloaderctl.1 \
    share/man/man3/libreloader.3 share/man/man5/reloader.conf.5 \
    share/man/man8/reloaderd.8 share/doc/reloader/reloader.conf.example \
    lib/systemd/system/reloaderd.service lib/systemd/system/reloaderd.socket \
    lib/systemd/user/reloaderd.service lib/systemd/user/reloaderd.socket \
    lib/sysusers.d/reloader.conf; do
	[ -f "$p/$f" ] || fail "make install did not install $f"
done
"$p/bin/reloaderd" -V | grep -q '^reloaderd ' ||
	fail "the installed reloaderd does not run"

# The Erlang client, as an OTP application in erl's lib directory: erl
# finds it there with no -pa (ERL_LIBS stands for that directory under
# DESTDIR).
erllib=$dest$(erl -noshell -eval 'io:format("~s", [code:lib_dir()]), halt().')
app=$(cd "$erllib" && echo reloader_client-*)
[ -f "$erllib/$app/ebin/reloader_client.app" ] ||
    fail "make install did not install the Erlang client in $erllib: $app"
[ -f "$erllib/$app/ebin/reloader_client.beam" ] ||
    fail "no reloader_client.beam in $erllib/$app/ebin"
got=$(ERL_LIBS=$erllib erl_find_client) ||
    fail "erl does not find reloader_client in $erllib: $got"
[ "$got" = "${app#reloader_client-} $erllib/$app/ebin/reloader_client.beam" ] ||
    fail "erl loads reloader_client as: $got"

# The version, in one place: reloader.h's three numbers.  The pkg-config
# file, both programs, the library's reloader_version(), the library's
# file name and soname, and the Erlang .app all say the same.
v=$(hdr_version)
case $v in
[0-9]*.[0-9]*.[0-9]*) ;;
*) fail "cannot read the version from include/reloader.h: '$v'" ;;
esac
ver() {
	[ "$2" = "$v" ] || fail "$1 says version '$2', reloader.h $v"
}
ver libreloader.pc "$(sed -n 's/^Version: //p' "$p/lib/pkgconfig/libreloader.pc")"
ver "reloaderd -V" "$("$p/bin/reloaderd" -V | sed -n 's/^reloaderd //p')"
ver "reloaderctl -V" "$("$p/bin/reloaderctl" -V | sed -n 's/^reloaderctl //p')"
ver "the Erlang application's directory" "${app#reloader_client-}"
ver "debian/changelog's last entry" \
    "$(sed -n '1s/^reloader (\([^)]*\)) .*/\1/p' debian/changelog)"
ver reloader_client.app "$(sed -n 's/.*{vsn, "\([^"]*\)"}.*/\1/p' \
    "$erllib/$app/ebin/reloader_client.app")"
[ -f "$p/lib/libreloader.so.$v" ] || fail "no libreloader.so.$v installed"
soname=$(readelf -d "$p/lib/libreloader.so.$v" | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
[ "$soname" = "libreloader.so.$(hdr_version MAJOR)" ] ||
    fail "libreloader.so.$v has soname '$soname'"

# The units name the installed daemon, and no placeholder is left.
! grep -n '@[A-Z]*@' "$p"/lib/systemd/*/reloaderd.* ||
    fail "a placeholder left in an installed unit"
for u in system user; do
	grep -q '^ExecStart=/opt/rl/bin/reloaderd -f' \
	    "$p/lib/systemd/$u/reloaderd.service" ||
		fail "$u unit: ExecStart= is not the installed daemon"
done

# Every page lints clean.
for m in "$p"/share/man/man*/*; do
	out=$(mandoc -T lint -W warning "$m" 2>&1) || [ -z "$out" ] ||
	    fail "mandoc -T lint $m: $out"
	[ -z "$out" ] || fail "mandoc -T lint $m: $out"
done

# libreloader(3)'s SYNOPSIS declares exactly the functions of the headers,
# word for word: each .Ft with its .Fn, or .Fo, .Fa... and .Fc, against
# each declaration of the headers (the hooks as their typedefs name them,
# reloader-ev.h's internal callback left out).
norm() {
	sed 's/\t/ /g; s/  */ /g; s/^ //; s/ $//; s/;$//; s/\* /*/g; s/( /(/g; s/ )/)/g'
}
awk '
/^\.Ft / { ft = substr($0, 5); next }
/^\.Fn / && ft != "" {
	l = substr($0, 5)
	name = l
	sub(/ .*/, "", name)
	args = substr(l, length(name) + 2)
	gsub(/" "/, ", ", args)
	gsub(/"/, "", args)
	print ft " " name "(" args ")"
	ft = ""
	next
}
/^\.Fo / { fo = $2; args = ""; next }
/^\.Fa / && fo != "" {
	x = substr($0, 5)
	gsub(/"/, "", x)
	args = args (args == "" ? "" : ", ") x
	next
}
/^\.Fc/ && fo != "" { print ft " " fo "(" args ")"; fo = ""; ft = "" }
' docs/libreloader.3 | norm | sort >"$T/man.decls"
awk '
function emit(s) { if (s ~ /reloader_[a-z_]* *\(/) print s }
cont { cont = /\\$/; next }
/^#/ { cont = /\\$/; next }
{
	line = $0
	out = ""
	while (line != "") {
		if (incom) {
			i = index(line, "*/")
			if (i == 0)
				break
			line = substr(line, i + 2)
			incom = 0
			continue
		}
		i = index(line, "/*")
		if (i == 0) {
			out = out line
			break
		}
		out = out substr(line, 1, i - 1)
		line = substr(line, i + 2)
		incom = 1
	}
	for (k = 1; k <= length(out); k++) {
		c = substr(out, k, 1)
		if (c == "{") {
			if (depth++ == 0)
				emit(buf)
			buf = ""
		} else if (c == "}")
			depth--
		else if (depth > 0)
			;
		else if (c == ";") {
			emit(buf)
			buf = ""
		} else
			buf = buf c
	}
	buf = buf " "
}
' include/reloader.h include/reloader-ev.h | norm |
    sed 's/^typedef \(.*reloader_[a-z_]*\)_fn(/\1(/; /reloader_ev_read_cb(/d' |
    sed 's/^\(void reloader_event\)(/typedef \1_fn(/' | sort >"$T/h.decls"
[ "$(wc -l <"$T/h.decls")" -ge 30 ] || fail "read only $(wc -l <"$T/h.decls") declarations from the headers"
diff=$(diff "$T/h.decls" "$T/man.decls") ||
    fail "libreloader(3) SYNOPSIS and the headers differ (< header, > page):
$diff"

# pkg-config, pointed at the tree, gives flags into the tree; a program
# built with them attaches to the installed daemon and runs a module's
# new code after a rebuild.
PKG_CONFIG_PATH=$p/lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$dest
export PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR
flags=$(pkg-config --cflags --libs libreloader)
unset PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR
case " $flags " in
*" -I$p/include "*" -L$p/lib -lreloader "*) ;;
*) fail "pkg-config --cflags --libs libreloader: '$flags'" ;;
esac
san=
[ -z "${SANITIZE:-}" ] || san="-fsanitize=address,undefined"
# shellcheck disable=SC2086
gcc $san -o "$T/pkgprog" tests/e2e/pkgprog.c $flags ||
    fail "tests/e2e/pkgprog.c does not build with pkg-config's flags"
mkmod "$ROOT/greet.so" greet
RELOADERD=$p/bin/reloaderd
start
LD_LIBRARY_PATH=$p/lib "$T/pkgprog" "$SOCK" "$ROOT/greet.so" \
    >"$T/pkgprog.out" 2>&1 &
HPID=$!
tries=1000
until grep -q '^connected$' "$T/pkgprog.out"; do
	tries=$((tries - 1))
	[ "$tries" -gt 0 ] || fail "pkgprog: $(cat "$T/pkgprog.out")"
	sleep 0.01
done
wait_log ' info pkgprog\[[0-9]*\] registered greet '
mkmod "$ROOT/greet.so" greet -DGREETING='"v2"'
wait "$HPID" || fail "pkgprog exited $?: $(cat "$T/pkgprog.out")"
HPID=
[ "$(LD_LIBRARY_PATH=$p/lib "$T/pkgprog" -V)" = "$v $v" ] ||
    fail "reloader_version() and RELOADER_VERSION_STRING: $(LD_LIBRARY_PATH=$p/lib "$T/pkgprog" -V), not $v"
[ "$(cat "$T/pkgprog.out")" = "answer greet v1
connected
reload ok
answer greet v2" ] || fail "pkgprog said: $(cat "$T/pkgprog.out")"
LD_LIBRARY_PATH=$p/lib ldd "$T/pkgprog" | grep -q "libreloader.so.0 => $p/lib/" ||
    fail "pkgprog did not run with the installed library: $(ldd "$T/pkgprog")"
wait_log " info reloading greet ($ROOT/greet.so) in pkgprog\[[0-9]*\] \.\.\. ok "
stop

make -s uninstall O="$O" DESTDIR="$dest" PREFIX=/opt/rl >/dev/null
left=$(find "$dest" ! -type d)
[ -z "$left" ] || fail "make uninstall left: $left"
[ ! -e "$erllib/$app" ] || fail "make uninstall left $erllib/$app"

# PREFIX=/usr, as a distribution installs: the configuration in /etc
# (what the units' comments name), the library in the platform's
# directory (Debian's multiarch one), which pkg-config's libdir names.
rm -rf "$dest"
make -s install O="$O" DESTDIR="$dest" PREFIX=/usr >/dev/null
ma=$(gcc -print-multiarch)
libdir=/usr/lib${ma:+/$ma}
for f in "$libdir/libreloader.so.$v" "$libdir/libreloader.so" \
    "$libdir/libreloader.a" "$libdir/pkgconfig/libreloader.pc"; do
	[ -e "$dest$f" ] || fail "PREFIX=/usr: no $f"
done
grep -qx "libdir=$libdir" "$dest$libdir/pkgconfig/libreloader.pc" ||
    fail "PREFIX=/usr: libreloader.pc: $(grep libdir= "$dest$libdir/pkgconfig/libreloader.pc")"
grep -q '^#.*reloaderd -f -c /etc/reloader.conf$' \
    "$dest/usr/lib/systemd/system/reloaderd.service" ||
    fail "PREFIX=/usr: the system unit's comment does not name /etc/reloader.conf"
! grep -rn '/usr/etc\|/usr/local' "$dest/usr/lib/systemd" ||
    fail "PREFIX=/usr: a unit names /usr/etc or /usr/local"
make -s uninstall O="$O" DESTDIR="$dest" PREFIX=/usr >/dev/null
left=$(find "$dest" ! -type d)
[ -z "$left" ] || fail "make uninstall (PREFIX=/usr) left: $left"
