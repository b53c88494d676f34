#!/bin/sh
# A seeded random scenario: two real libreloader hosts with the same
# five modules (one of them through a symlink), and STEPS build steps
# drawn from what build tools do: a rebuild with a change, an identical
# rebuild, touch, cp -p of an older build, rename into place, a half
# write then the rest, delete then recreate, cargo's hard-link uplift, a
# symlink switched, install -m755, a move from another filesystem,
# several modules within 5 ms, a failing build under `reloaderctl build`
# (and the next build), a forced reload followed by a rollback and back.
# After every step each host runs exactly the version on disk, and has
# reloaded each module exactly once per real change and never otherwise.
#
#	SEED=N STEPS=N sh tests/e2e/t-scenario.sh	(reproduces a run)
#
# backends: inotify poll
. tests/e2e/lib.sh
ctl_setup

SEED=${SEED:-$(date +%s)}
case $BACKEND in
poll) STEPS=${STEPS:-300} ;;
*) STEPS=${STEPS:-1000} ;;
esac
echo "seed $SEED, $STEPS steps, $BACKEND"
rng=$SEED

# Sets r to a pseudo-random number below $1, from the seed (an LCG, the
# same in every shell).
rand() {
	rng=$(((rng * 1103515245 + 12345) % 2147483648))
	r=$(((rng / 65536) % $1))
}

MODS="m1 m2 m3 m4 ml"
NV=5
POOL=$T/pool
mkdir -p "$POOL" "$ROOT/deps" "$ROOT/links"
# Every version of every module, built once; old mtimes, as a cp -p of
# an old build has.
for m in $MODS; do
	v=0
	while [ "$v" -lt "$NV" ]; do
		mkmod "$POOL/$m-$v.so" greet -DNONOTE -DGREETING="\"$m v$v\""
		eval "bid_${m}_$v=\$(buildid \"\$POOL/\$m-\$v.so\")"
		v=$((v + 1))
	done
done
mkmod "$POOL/zz-0.so" greet -DNONOTE -DGREETING='"zz 0"'
mkmod "$POOL/zz-1.so" greet -DNONOTE -DGREETING='"zz 1"'
touch -d '2020-01-01' "$POOL"/*.so
for m in m1 m2 m3 m4; do
	cp "$POOL/$m-0.so" "$ROOT/$m.so"
done
# ml.so is a symlink to one of its builds in links/.
v=0
while [ "$v" -lt "$NV" ]; do
	cp "$POOL/ml-$v.so" "$ROOT/links/ml-$v.so"
	v=$((v + 1))
done
ln -s links/ml-0.so "$ROOT/ml.so"
cp "$POOL/zz-0.so" "$ROOT/zz.so"

# Another filesystem to move builds from, when there is one.
OTHER=
if [ -d /dev/shm ] && [ -w /dev/shm ] &&
    [ "$(stat -f -c %T /dev/shm)" != "$(stat -f -c %T "$T")" ]; then
	OTHER=$(mktemp -d /dev/shm/reloader-scenario.XXXXXX)
fi
on_stop() {
	[ -z "$OTHER" ] || rm -rf "$OTHER"
}

start -w "$ROOT"
for h in h1 h2; do
	hst_start $h $(for m in $MODS; do echo "$ROOT/$m.so"; done)
done
for h in h1 h2; do
	for m in $MODS; do
		wait_log "$h\[[0-9]*\] registered $m "
		eval "cur_${h}_$m=0 prev_${h}_$m= n_${h}_$m=0"
	done
done
for m in $MODS; do
	eval "disk_$m=0"
done

# The log and each host's output are read from where the last step left
# them, so that a long run does not read them whole each time.
logoff=0
# Counts lines matching a pattern in the log since the step began.
count_new() {
	tail -c +"$((logoff + 1))" "$LOG" | grep -c -- "$1" || true
}

# Counts reloads of module M that ended ok in host H.
reloads() {
	grep -c "^event reload $2 ok " "$T/$1.out" || true
}

# Puts version V of module M on disk by the means given, and notes what
# the hosts should do: reload once if it differs from what they run.
put() {
	how=$1
	m=$2
	v=$3
	src=$POOL/$m-$v.so
	dst=$ROOT/$m.so
	case $how in
	write)  cat "$src" >"$dst" ;;
	cpp)    cp -p "$src" "$dst" ;;
	rename) cp "$src" "$dst.tmp" && mv "$dst.tmp" "$dst" ;;
	halves) "$WRITEHALVES" "$src" "$dst" 20 ;;
	halves2) "$WRITEHALVES" -r "$src" "$dst" 20 ;;
	recreate) rm -f "$dst" && cat "$src" >"$dst" ;;
	uplift)
		rand 1000000
		cp "$src" "$ROOT/deps/$m-$r.so"
		rm -f "$dst"
		ln "$ROOT/deps/$m-$r.so" "$dst"
		;;
	install) install -m755 "$src" "$dst" ;;
	move)
		cp "$src" "$OTHER/$m.so"
		mv "$OTHER/$m.so" "$dst"
		;;
	link)
		# ml only: the link goes to another build, renamed over or
		# by ln -sfn.
		rand 2
		if [ "$r" -eq 0 ]; then
			ln -s "links/ml-$v.so" "$dst.new"
			mv -T "$dst.new" "$dst"
		else
			ln -sfn "links/ml-$v.so" "$dst"
		fi
		;;
	esac
	eval "disk_$m=$v"
	expect_disk "$m"
}

# Notes that the hosts should come to run what is on disk for module M:
# one reload each where it differs from what they run.
expect_disk() {
	eval "d=\$disk_$1"
	for h in h1 h2; do
		eval "c=\$cur_${h}_$1"
		if [ "$c" != "$d" ]; then
			eval "n_${h}_$1=\$((n_${h}_$1 + 1)) prev_${h}_$1=$c cur_${h}_$1=$d"
		fi
	done
}

# A version of module M other than the one on disk; ml picks among the
# builds in links/.
other() {
	eval "d=\$disk_$1"
	rand $((NV - 1))
	v=$(((d + 1 + r) % NV))
}

# Makes the daemon read everything done so far: a change of a module no
# host has, and its log line.
zz=0
sync_zz() {
	zz=$((1 - zz))
	cp "$POOL/zz-$zz.so" "$ROOT/zz.so.tmp"
	mv "$ROOT/zz.so.tmp" "$ROOT/zz.so"
	tries=1000
	while [ "$(count_new 'changed .*/zz\.so ')" -lt 1 ]; do
		tries=$((tries - 1))
		[ "$tries" -gt 0 ] || fail "step $step: the daemon never read zz.so"
		sleep 0.005
	done
}

# Waits until each host has reloaded each module as often as expected,
# then checks that it has not reloaded more and runs what is on disk.
converge() {
	for ch in h1 h2; do
		for cm in $MODS; do
			eval "want=\$n_${ch}_$cm"
			tries=1000
			while [ "$(reloads $ch $cm)" -lt "$want" ]; do
				tries=$((tries - 1))
				[ "$tries" -gt 0 ] || fail "step $step ($what): $ch \
reloaded $cm $(reloads $ch $cm) times, not $want"
				sleep 0.005
			done
		done
		got=$(hst_cmd $ch stamps)
		for cm in $MODS; do
			eval "want=\$n_${ch}_$cm v=\$cur_${ch}_$cm"
			eval "bid=\$bid_${cm}_$v"
			[ "$(reloads $ch $cm)" -eq "$want" ] || fail "step $step \
($what): $ch reloaded $cm $(reloads $ch $cm) times, not $want"
			case " $got " in
			*" $cm=build-id:$bid "*) ;;
			*) fail "step $step ($what): $ch runs $got; $cm should be \
v$v (build-id:$bid)" ;;
			esac
		done
	done
}

# A forced reload of module m, a rollback to the version before, and a
# rollback forward again (p1 the previous version, c1 the current).
force_rollback() {
	ctl reload $m
	ctl_status 0
	for h in h1 h2; do
		eval "n_${h}_$m=\$((n_${h}_$m + 1))"
	done
	converge
	ctl rollback $m
	ctl_status 0
	for h in h1 h2; do
		eval "n_${h}_$m=\$((n_${h}_$m + 1)) cur_${h}_$m=$p1 prev_${h}_$m=$c1"
	done
	converge
	ctl rollback $m
	ctl_status 0
	for h in h1 h2; do
		eval "n_${h}_$m=\$((n_${h}_$m + 1)) cur_${h}_$m=$c1 prev_${h}_$m=$p1"
	done
}

kinds="write identical touch cpp rename halves recreate uplift install
move link several build force"
set -- $kinds
nkinds=$#
counts=
step=0
while [ "$step" -lt "$STEPS" ]; do
	step=$((step + 1))
	logoff=$(wc -c <"$LOG")
	rand "$nkinds"
	what=$(echo $kinds | cut -d' ' -f$((r + 1)))
	rand 4
	m=m$((r + 1))
	case $what in
	write|cpp|rename|recreate|uplift|install)
		other $m
		put $what $m $v
		;;
	halves)
		other $m
		rand 2
		[ "$r" -eq 0 ] && put halves $m $v || put halves2 $m $v
		;;
	identical)
		eval "put write $m \$disk_$m"
		;;
	touch)
		touch "$ROOT/$m.so"
		;;
	move)
		other $m
		if [ -n "$OTHER" ]; then put move $m $v; else put write $m $v; fi
		;;
	link)
		other ml
		put link ml $v
		;;
	several)
		for k in m1 m2 m3 m4; do
			rand 2
			[ "$r" -eq 0 ] && continue
			other $k
			put write $k $v
		done
		;;
	build)
		# A build that writes a module and fails: nothing delivered,
		# the module shown discarded; the next build delivers it.
		other $m
		ctl build -- sh -c "cat '$POOL/$m-$v.so' >'$ROOT/$m.so'; exit 3"
		[ "$ctl_rc" -eq 3 ] || ctl_fail "step $step: build status $ctl_rc"
		# (No sync: a change that settles is a build that ends.)
		ctl list h1
		eval "c=\$cur_h1_$m"
		if [ "$c" != "$v" ]; then
			grep -q " $m .*stale (discarded)\$" "$T/ctl.out" ||
			    ctl_fail "step $step: $m not discarded after a failed build"
		fi
		eval "disk_$m=$v"
		ctl build -- true
		ctl_status 0
		expect_disk $m
		;;
	force)
		# A forced reload, a rollback, and a rollback forward again,
		# where the hosts keep a previous version.
		eval "p1=\$prev_h1_$m p2=\$prev_h2_$m c1=\$cur_h1_$m d=\$disk_$m"
		if [ -z "$p1" ] || [ -z "$p2" ] || [ "$p1" != "$p2" ] ||
		    [ "$c1" != "$d" ] || [ "$p1" = "$c1" ]; then
			what=force-skipped
		else
			force_rollback
		fi
		;;
	esac
	sync_zz
	converge
	case " $counts " in
	*" $what="*)
		counts=$(echo "$counts" | awk -v k="$what" '{
			for (i = 1; i <= NF; i++) {
				split($i, a, "=")
				if (a[1] == k) $i = k "=" a[2] + 1
			}
			print }')
		;;
	*) counts="$counts $what=1" ;;
	esac
done

# At the end, nothing more arrives: a last sync and the same counts.
logoff=$(wc -c <"$LOG")
sync_zz
converge
total=0
for h in h1 h2; do
	for m in $MODS; do
		eval "total=\$((total + n_${h}_$m))"
	done
done
echo "steps by kind:$counts"
echo "$step steps: $total reloads, each expected; 0 missed, 0 doubled, 0 spurious"
