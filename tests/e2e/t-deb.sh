# make deb: the Debian packages build with dpkg-buildpackage, split as
# Debian splits a daemon and its library (reloaderd, libreloader0,
# libreloader-dev, erlang-reloader-client), each holding exactly its
# files, at the version of reloader.h.  As root in CI (CI=true, a machine
# thrown away after the run) they are installed into this system with
# dpkg -i: the installed daemon, library, pkg-config file, Erlang
# application and man pages work from where Debian puts them, and a purge
# leaves none of their files and no enabled unit.  Elsewhere they are
# unpacked and checked, and the installing part is reported skipped.
# backends: any
. tests/e2e/lib.sh

[ -z "${SANITIZE:-}" ] ||
    skip "the packages are built without the sanitizers; make check builds them"
for c in dpkg-buildpackage dh; do
	command -v "$c" >/dev/null 2>&1 ||
	    fail "$c is missing (scripts/deps.sh check installs dpkg-dev and debhelper)"
done

v=$(hdr_version)
ma=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
arch=$(dpkg --print-architecture)
PKGS="reloaderd libreloader0 libreloader-dev erlang-reloader-client"

# Prints every file of the tree's debian/ with its checksum.
debian_sums() {
	find debian -type f -exec md5sum {} + | sort
}
debian_sums >"$T/debian.before"
make -s deb O="$O" DEB_DIR="$T/deb" >"$T/build.log" 2>&1 ||
    fail "make deb failed: $(tail -n 30 "$T/build.log")"
debian_sums >"$T/debian.after"
cmp -s "$T/debian.before" "$T/debian.after" ||
    fail "make deb wrote into the tree's debian/: $(diff "$T/debian.before" "$T/debian.after")"

# Prints the .deb file of package NAME.
deb_of() {
	case $1 in
	erlang-*) echo "$T/deb/${1}_${v}_all.deb" ;;
	*) echo "$T/deb/${1}_${v}_$arch.deb" ;;
	esac
}

# Prints the files (not directories) of package NAME, but for its
# changelog and copyright, one absolute path a line, sorted.
files_of() {
	dpkg-deb -c "$(deb_of "$1")" | awk '$1 !~ /^d/ { print $6 }' |
	    sed 's|^\./|/|' | grep -v "^/usr/share/doc/$1/\(changelog\.gz\|copyright\)$" |
	    sort
}

beams=$(cd "$O/erlang/ebin" && ls ./*.beam | sed "s|^\./|/usr/lib/erlang/lib/reloader_client-$v/ebin/|")
want_reloaderd="/lib/systemd/system/reloaderd.service
/lib/systemd/system/reloaderd.socket
/usr/bin/reloaderctl
/usr/bin/reloaderd
/usr/lib/systemd/user/reloaderd.service
/usr/lib/systemd/user/reloaderd.socket
/usr/lib/sysusers.d/reloader.conf
/usr/share/doc/reloaderd/examples/reloader.conf.example
/usr/share/man/man1/reloaderctl.1.gz
/usr/share/man/man5/reloader.conf.5.gz
/usr/share/man/man8/reloaderd.8.gz"
want_libreloader0="/usr/lib/$ma/libreloader.so.0
/usr/lib/$ma/libreloader.so.$v"
want_libreloader_dev="/usr/include/reloader-ev.h
/usr/include/reloader.h
/usr/lib/$ma/libreloader.a
/usr/lib/$ma/libreloader.so
/usr/lib/$ma/pkgconfig/libreloader.pc
/usr/share/man/man3/libreloader.3.gz"
want_erlang_reloader_client="/usr/lib/erlang/lib/reloader_client-$v/ebin/reloader_client.app
$beams"

for p in $PKGS; do
	[ -f "$(deb_of "$p")" ] || fail "make deb made no $(deb_of "$p"): $(ls "$T/deb")"
	[ "$(dpkg-deb -f "$(deb_of "$p")" Version)" = "$v" ] ||
	    fail "$p is at version $(dpkg-deb -f "$(deb_of "$p")" Version), reloader.h $v"
	eval "want=\$want_$(echo "$p" | tr - _)"
	want=$(printf '%s\n' "$want" | sort)
	got=$(files_of "$p")
	[ "$got" = "$want" ] || fail "package $p holds (<) not what it should (>):
$(printf '%s\n' "$got" >"$T/got"; printf '%s\n' "$want" >"$T/want"; diff "$T/got" "$T/want")"
done
[ "$(dpkg-deb -I "$(deb_of libreloader0)" shlibs)" = "libreloader $(hdr_version MAJOR) libreloader0 (>= $v)" ] ||
    fail "libreloader0's shlibs: $(dpkg-deb -I "$(deb_of libreloader0)" shlibs)"
dpkg-deb -f "$(deb_of reloaderd)" Depends | grep -q 'libev4' ||
    fail "reloaderd does not depend on libev4: $(dpkg-deb -f "$(deb_of reloaderd)" Depends)"
dpkg-deb -f "$(deb_of libreloader-dev)" Depends | grep -q "libreloader0 (= $v)" ||
    fail "libreloader-dev does not depend on its libreloader0"

# Installing into this system: only where it is thrown away after.
if [ "$(id -u)" -ne 0 ] || [ "${CI:-}" != true ]; then
	dpkg-deb -x "$(deb_of reloaderd)" "$T/x"
	[ "$("$T/x/usr/bin/reloaderd" -V)" = "reloaderd $v" ] ||
	    fail "the packaged reloaderd -V: $("$T/x/usr/bin/reloaderd" -V)"
	skip_part "dpkg -i into this system: only as root in CI (CI=true)," \
	    "on a machine thrown away after; the packages were unpacked" \
	    "and checked instead"
	end_test
fi
for p in $PKGS; do
	case $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true) in
	"" | *not-installed) ;;
	*)
		skip_part "dpkg -i: $p is installed here already; not touching it"
		end_test
		;;
	esac
done
all_files=$(for p in $PKGS; do files_of "$p"; done)
for f in $all_files; do
	[ ! -e "$f" ] || fail "$f exists before the packages are installed"
done

# Put back as found: the packages purged, and the user and group that
# the postinst made (Debian leaves a package's system user behind on
# purge) removed, if they were not there before.
had_user=$(getent passwd reloader || true)
had_group=$(getent group reloader || true)
deb_cleanup() {
	dpkg --purge $PKGS >/dev/null 2>&1 || true
	[ -n "$had_user" ] || ! getent passwd reloader >/dev/null ||
	    userdel reloader 2>/dev/null || true
	[ -n "$had_group" ] || ! getent group reloader >/dev/null ||
	    groupdel reloader 2>/dev/null || true
}
trap 'deb_cleanup; cleanup' EXIT

debs=$(for p in $PKGS; do deb_of "$p"; done)
# shellcheck disable=SC2086
dpkg -i $debs >"$T/dpkg.log" 2>&1 || fail "dpkg -i: $(tail -n 20 "$T/dpkg.log")"

[ "$(/usr/bin/reloaderd -V)" = "reloaderd $v" ] ||
    fail "installed reloaderd -V: $(/usr/bin/reloaderd -V)"
[ "$(/usr/bin/reloaderctl -V)" = "reloaderctl $v" ] ||
    fail "installed reloaderctl -V: $(/usr/bin/reloaderctl -V)"
RELOADERD=/usr/bin/reloaderd
start
stop
# The library: pkg-config finds it with no path given, a program built
# with its flags runs with no LD_LIBRARY_PATH.
[ "$(pkg-config --modversion libreloader)" = "$v" ] ||
    fail "pkg-config --modversion libreloader: $(pkg-config --modversion libreloader 2>&1)"
[ "$(pkg-config --variable=libdir libreloader)" = "/usr/lib/$ma" ] ||
    fail "libreloader.pc's libdir: $(pkg-config --variable=libdir libreloader)"
# shellcheck disable=SC2046
gcc -o "$T/pkgprog" tests/e2e/pkgprog.c $(pkg-config --cflags --libs libreloader) ||
    fail "pkgprog does not build against the installed libreloader-dev"
[ "$("$T/pkgprog" -V)" = "$v $v" ] || fail "pkgprog -V: $("$T/pkgprog" -V)"
lib=$(ldd "$T/pkgprog" | sed -n 's/.*libreloader\.so\.0 => \([^ ]*\) .*/\1/p')
[ -n "$lib" ] && [ "$(readlink -f "$lib")" = "$(readlink -f "/usr/lib/$ma/libreloader.so.$v")" ] ||
    fail "pkgprog does not run with the packaged library: $(ldd "$T/pkgprog")"
# The Erlang client, with no -pa.
got=$(erl_find_client) ||
    fail "erl does not find the installed reloader_client: $got"
[ "$got" = "$v /usr/lib/erlang/lib/reloader_client-$v/ebin/reloader_client.beam" ] ||
    fail "erl loads reloader_client as: $got"
# The manual, where man looks.
for m in reloaderd.8 reloaderctl.1 reloader.conf.5 libreloader.3; do
	man -w "${m%.*}" | grep -q "/usr/share/man/man${m##*.}/$m.gz" ||
	    fail "man -w ${m%.*}: $(man -w "${m%.*}" 2>&1)"
done
# The system unit's user, made by the postinst through systemd-sysusers.
if command -v systemd-sysusers >/dev/null 2>&1; then
	getent passwd reloader >/dev/null ||
	    fail "installing reloaderd made no user reloader"
fi
# Installed, not enabled.
en=$(find /etc/systemd -name 'reloaderd.*' 2>/dev/null)
[ -z "$en" ] || fail "installing enabled a unit: $en"

# Purged, nothing of theirs is left.
# shellcheck disable=SC2086
dpkg --purge $PKGS >"$T/dpkg.log" 2>&1 || fail "dpkg --purge: $(tail -n 20 "$T/dpkg.log")"
for p in $PKGS; do
	case $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true) in
	"" | *not-installed) ;;
	*) fail "$p after purge: $(dpkg-query -W -f='${Status}' "$p")" ;;
	esac
done
for f in $all_files /usr/share/doc/reloaderd /usr/lib/erlang/lib/reloader_client-$v; do
	[ ! -e "$f" ] || fail "$f is left after the purge"
done
left=$(find /etc/systemd /var/lib/systemd -name '*reloaderd*' 2>/dev/null)
[ -z "$left" ] || fail "left after the purge: $left"
echo "ok"
