#!/bin/sh
# bench/run.sh O: every figure of issue 12 beside its reference, measured
# in the same run (bench/README.md), run by `make bench`.  Prints a
# table, writes bench/results.md (machine, load, commands, figures) and
# the plots in bench/results/*.png (gnuplot).
#
#	QUICK=1        10k and 100k trees only, fewer rounds
#	BENCH_TREES=D  where the trees are made once and kept (default
#	               /var/tmp/reloader-bench-trees)
#	ROUNDS=N       rounds of the scale figures (3; QUICK: 1)
#	TABLE_ONLY=1   the table, plots and results.md again, from the
#	               figures the last run kept in bench/results
#	RESUME=idle    keeps the last run's ready and poll figures and
#	               measures the rest (a run that stopped after them)
#
# The trees: tN (N files, 10% of them modules, 20 files a directory, so
# 1M files are 50k directories) and tN-all (every file a module).  The
# tools beside reloaderd (inotifywait, watchman, fswatch) come from
# `sh scripts/deps.sh bench`, which `make bench` runs first; a tool that
# is missing is left out of the table, which says so.
set -eu
O=${1:-obj}
TOP=$(pwd)
B=$TOP/$O/bench
QUICK=${QUICK:-}
TREES=${BENCH_TREES:-/var/tmp/reloader-bench-trees}
RES=$TOP/bench/results
MD=$TOP/bench/results.md
if [ -n "$QUICK" ]; then
	SIZES="10000 100000"
	ROUNDS=${ROUNDS:-1}
	LAT_N=100
	SKEW_N=100
	IDLE_S=10
else
	SIZES="10000 100000 1000000"
	ROUNDS=${ROUNDS:-3}
	LAT_N=300
	SKEW_N=200
	IDLE_S=60
fi
W=$(mktemp -d "${TMPDIR:-/tmp}/rlbench.XXXXXX")
PIDS=
mkdir -p "$RES" "$TREES"

# Stops whatever the benchmark started and removes its scratch space.
cleanup() {
	for p in $PIDS; do
		kill "$p" 2>/dev/null || true
	done
	rm -rf "$W"
}
trap cleanup EXIT

# Milliseconds since the epoch.
now_ms() {
	date +%s%3N
}

# CPU ms a process has used, all its threads (schedstat, to the ns).
cpu_ms() {
	cat /proc/"$1"/task/*/schedstat 2>/dev/null |
	    awk '{ s += $1 } END { printf "%.3f\n", s / 1e6 }'
}

# Resident KiB of a process.
rss_kb() {
	awk '/^VmRSS/ { print $2 }' /proc/"$1"/status 2>/dev/null || echo 0
}

# Context switches of a process, all threads: its wake-ups.
wakeups() {
	cat /proc/"$1"/task/*/status 2>/dev/null |
	    awk '/ctxt_switches/ { s += $2 } END { print s + 0 }'
}

# Waits until a process stops using CPU (two 100 ms samples in a row
# under 1 ms); prints ms from $2 (a now_ms) to the last busy sample.
wait_idle() {
	last=$(cpu_ms "$1")
	busy=$(now_ms)
	quiet=0
	while [ "$quiet" -lt 2 ]; do
		sleep 0.1
		c=$(cpu_ms "$1")
		if awk -v a="$c" -v b="$last" 'BEGIN { exit !(a - b < 1) }'
		then
			quiet=$((quiet + 1))
		else
			quiet=0
			busy=$(now_ms)
		fi
		last=$c
	done
	echo $((busy - $2))
}

# Waits (up to 30 min) until file $1 has a line matching $2.
wait_line() {
	n=18000
	until grep -q -- "$2" "$1" 2>/dev/null; do
		n=$((n - 1))
		[ "$n" -gt 0 ] || { echo "bench: no '$2' in $1" >&2; exit 1; }
		sleep 0.1
	done
}

# Milliseconds between two of reloaderd's log lines (their timestamps).
log_ms() {
	awk -v a="$2" -v b="$3" '
	function ms(t) { split(substr(t, 12, 12), p, ":");
	    return (p[1] * 3600 + p[2] * 60 + p[3]) * 1000 }
	index($0, a) && ta == "" { ta = ms($1) }
	index($0, b) && tb == "" { tb = ms($1) }
	END { printf "%.0f\n", tb - ta }' "$1"
}

# The median of the numbers on standard input.
median() {
	sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print "-";
	    else if (NR % 2) print v[(NR + 1) / 2];
	    else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# Starts reloaderd on a tree with extra arguments; sets RPID, RLOG.
rl_start() {
	rl_tree=$1
	shift
	RLOG=$W/rl.log
	: >"$RLOG"
	printf '[reloaderd]\nsettle = 0\n' >"$W/rl.conf"
	rm -f "$W/rl.sock"
	"$TOP/$O/reloaderd" -f -s "$W/rl.sock" -c "$W/rl.conf" -l "$RLOG" \
	    -w "$rl_tree" "$@" &
	RPID=$!
	PIDS="$PIDS $RPID"
}

# Stops a process the benchmark started.
stop() {
	kill "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

have() {
	command -v "$1" >/dev/null 2>&1
}

# The median of a tool's figure (field 4 ready ms, 5 RSS KiB).
ready_fig() {
	awk -v tr="$1" -v t="$2" -v f="$3" '$1 == tr && $3 == t {
	    print $f }' "$RES/ready.dat" | median
}

# The median of a poll figure (field 2 reloaderd ms, 3 the loop).
poll_fig() {
	awk -v s="$1" -v f="$2" '$1 == s { print $f }' "$RES/poll.dat" |
	    median
}

# The figures measured once are kept in $RES/misc.env, so that
# TABLE_ONLY=1 makes the table, the plots and results.md again from what
# the last run measured.
if [ -z "${TABLE_ONLY:-}" ]; then

# ---- the trees ----------------------------------------------------------

need_kb=$((1200000 * 4))
for s in $SIZES; do
	[ "$s" -ge 1000000 ] && need_kb=$((need_kb + 13000000))
done
avail_kb=$(df -Pk "$TREES" | awk 'NR == 2 { print $4 }')
if [ "$avail_kb" -lt "$need_kb" ]; then
	echo "bench: $TREES has $((avail_kb / 1024)) MiB free; the trees" \
	    "need about $((need_kb / 1024)) MiB; dropping 1M" >&2
	SIZES="10000 100000"
fi
for s in $SIZES; do
	echo "bench: tree of $s files (made once, in $TREES)" >&2
	"$B/mktree" "$TREES/t$s" "$s" 10 20 "$B/tiny.so"
	"$B/mktree" "$TREES/t$s-all" "$s" 100 20 "$B/tiny.so"
done

# ---- ready and memory, per tool and size --------------------------------

# One round of one tool on one tree: prints "ready_ms rss_kb".
ready_reloaderd() {
	rl_start "$1" -b "$2"
	wait_line "$RLOG" ' ready:'
	r=$(log_ms "$RLOG" ' starting' ' ready:')
	if grep -q 'stamps being read' "$RLOG"; then
		wait_line "$RLOG" 'read the stamps of'
	fi
	all=$(log_ms "$RLOG" ' starting' 'read the stamps of')
	grep -q 'read the stamps of' "$RLOG" || all=$r
	echo "$r $(rss_kb "$RPID") $all"
	stop "$RPID"
}

ready_inotifywait() {
	# Gone before it starts: the shell that truncates it may come late.
	rm -f "$W/iw.err"
	t0=$(now_ms)
	inotifywait -r -m -e close_write,moved_to "$1" >/dev/null \
	    2>"$W/iw.err" &
	p=$!
	PIDS="$PIDS $p"
	wait_line "$W/iw.err" 'Watches established'
	echo "$(($(now_ms) - t0)) $(rss_kb "$p")"
	stop "$p"
}

# Starts a private watchman server and waits for its socket; sets p.
wm_start() {
	rm -rf "$W/wm"
	mkdir -p "$W/wm"
	watchman --foreground --sockname="$W/wm/sock" \
	    --logfile="$W/wm/log" --statefile="$W/wm/state" \
	    --pidfile="$W/wm/pid" --no-save-state >/dev/null 2>&1 &
	p=$!
	PIDS="$PIDS $p"
	n=100
	until [ -S "$W/wm/sock" ] || [ "$n" -le 0 ]; do
		n=$((n - 1))
		sleep 0.05
	done
}

# Has watchman watch a tree, and waits for its crawl: a query does.
wm_watch() {
	watchman --sockname="$W/wm/sock" --no-spawn watch "$1" >/dev/null
	echo "[\"query\", \"$1\", {\"expression\": [\"name\", \"none\"],
	    \"fields\": [\"name\"], \"sync_timeout\": 1800000}]" |
	    watchman --sockname="$W/wm/sock" --no-spawn -j >/dev/null
}

ready_watchman() {
	wm_start
	t0=$(now_ms)
	wm_watch "$1"
	echo "$(($(now_ms) - t0)) $(rss_kb "$p")"
	stop "$p"
}

ready_fswatch() {
	t0=$(now_ms)
	fswatch -r -m inotify_monitor "$1" >/dev/null 2>&1 &
	p=$!
	PIDS="$PIDS $p"
	r=$(wait_idle "$p" "$t0")
	echo "$r $(rss_kb "$p")"
	stop "$p"
}

TOOLS="reloaderd"
for t in inotifywait watchman fswatch; do
	if have "$t"; then
		TOOLS="$TOOLS $t"
	else
		echo "bench: $t is not installed (sh scripts/deps.sh bench);" \
		    "left out" >&2
	fi
done

# RESUME=idle keeps the ready and poll figures of the last run (a run that
# stopped after them goes on from the idle figures).
if [ "${RESUME:-}" = idle ]; then
	[ -s "$RES/ready.dat" ] && [ -s "$RES/poll.dat" ] ||
	    { echo "bench: RESUME=idle: no ready and poll figures" >&2; exit 1; }
	echo "bench: ready and poll figures kept from the last run" >&2
else
: >"$RES/ready.dat"
for s in $SIZES; do
	for tree in "t$s" "t$s-all"; do
		# Warm: every tool finds the tree in the caches, whichever
		# goes first (the daemon reads every module's contents too).
		ready_reloaderd "$TREES/$tree" inotify >/dev/null
		for r in $(seq 1 "$ROUNDS"); do
			echo "bench: ready, $tree, round $r" >&2
			for t in $TOOLS; do
				case $t in
				reloaderd)
					set -- $(ready_reloaderd \
					    "$TREES/$tree" inotify)
					echo "$tree $s reloaderd $1 $2" \
					    >>"$RES/ready.dat"
					echo "$tree $s reloaderd-all-stamps $3 $2" \
					    >>"$RES/ready.dat"
					case $tree in
					*-all)
						set -- $(ready_reloaderd \
						    "$TREES/$tree" poll)
						echo "$tree $s reloaderd-poll $1 $2" \
						    >>"$RES/ready.dat"
						;;
					esac
					;;
				*)
					echo "$tree $s $t $(ready_$t \
					    "$TREES/$tree")" >>"$RES/ready.dat"
					;;
				esac
			done
		done
	done
done


# ---- poll cycles against the bare stat loop -----------------------------

: >"$RES/poll.dat"
for s in $SIZES; do
	echo "bench: poll cycle, t$s-all" >&2
	for r in $(seq 1 "$ROUNDS"); do
		rl_start "$TREES/t$s-all" -b poll -i 4s
		wait_line "$RLOG" ' ready:'
		grep -q 'stamps being read' "$RLOG" &&
		    wait_line "$RLOG" 'read the stamps of'
		sleep 5
		c0=$(cpu_ms "$RPID")
		sleep 24
		c1=$(cpu_ms "$RPID")
		stop "$RPID"
		fl=$("$B/statloop" -r 5 -g 4000 "$TREES/t$s-all" | awk '{ print $1 }')
		# A sweep begins every 4 s (one shorter than the interval
		# is not begun again before the next tick), so 24 s hold 6
		# cycles: c is a sixth of their CPU.
		echo "$s $(awk -v a="$c0" -v b="$c1" 'BEGIN { u = b - a;
		    printf "%.2f", u * 4000 / 24000 }') $fl" \
		    >>"$RES/poll.dat"
	done
done

fi	# RESUME

# ---- idle wake-ups ------------------------------------------------------

# Wake-ups a minute of a ready process, over IDLE_S seconds.
idle_rate() {
	sleep 1
	w0=$(wakeups "$1")
	sleep "$IDLE_S"
	echo $(( ($(wakeups "$1") - w0) * 60 / IDLE_S ))
}

IDLE_TREE=$TREES/t100000
echo "bench: idle for ${IDLE_S}s each, t100000" >&2
rl_start "$IDLE_TREE" -b inotify
wait_line "$RLOG" ' ready:'
grep -q 'stamps being read' "$RLOG" && wait_line "$RLOG" 'read the stamps of'
idle_rl=$(idle_rate "$RPID")
stop "$RPID"
idle_iw=-
if have inotifywait; then
	rm -f "$W/iw.err"
	inotifywait -r -m "$IDLE_TREE" >/dev/null 2>"$W/iw.err" &
	p=$!
	PIDS="$PIDS $p"
	wait_line "$W/iw.err" 'Watches established'
	idle_iw=$(idle_rate "$p")
	stop "$p"
fi
idle_wm=-
if have watchman; then
	wm_start
	wm_watch "$IDLE_TREE"
	idle_wm=$(idle_rate "$p")
	idle_wm_rss=$(rss_kb "$p")
	stop "$p"
fi

# ---- one change in the biggest tree ------------------------------------

BIG=$(echo "$SIZES" | awk '{ print $NF }')
MOD=$(find "$TREES/t$BIG-all/a000/b0000" -name '*.so' | head -n 1)
echo "bench: one change in t$BIG-all" >&2
rl_start "$TREES/t$BIG-all" -b inotify
wait_line "$RLOG" ' ready:'
grep -q 'stamps being read' "$RLOG" && wait_line "$RLOG" 'read the stamps of'
set -- $("$B/onechange" -r 5 "$W/rl.sock" "$MOD")
one_kernel=$1
one_rl=$2
stop "$RPID"
rl_start "$TREES/t$BIG-all" -b poll -i 1s
wait_line "$RLOG" ' ready:'
grep -q 'stamps being read' "$RLOG" && wait_line "$RLOG" 'read the stamps of'
set -- $("$B/onechange" -r 3 "$W/rl.sock" "$MOD")
one_poll=$2
# The same, with the module registered as a process that loaded it does.
set -- $("$B/onechange" -l -r 5 "$W/rl.sock" "$MOD")
one_poll_loaded=$2
stop "$RPID"

# ---- fan-out, registration, latency -------------------------------------

echo "bench: fan-out and registration" >&2
"$B/fanout" -n 1000 -r 9 -I 20000 -d "$TOP/$O/reloaderd" \
    "$B/variant-1.so" "$B/variant-2.so" >"$RES/fanout.txt"
echo "bench: C latency, $LAT_N changes a chain" >&2
"$B/latency" -n "$LAT_N" -R -o "$RES/latency.dat" -d "$TOP/$O/reloaderd" \
    "$B"/variant-*.so >"$RES/latency.txt"
echo "bench: switch skew, $SKEW_N builds a chain" >&2
"$B/skew" -n "$SKEW_N" -p 8 -d "$TOP/$O/reloaderd" "$B/skewmods" \
    >"$RES/skew.txt"

cat >"$RES/misc.env" <<EOT
SIZES="$SIZES"
ROUNDS=$ROUNDS
LAT_N=$LAT_N
SKEW_N=$SKEW_N
TOOLS="$TOOLS"
BIG=$BIG
idle_rl=$idle_rl
idle_iw=$idle_iw
idle_wm=$idle_wm
idle_wm_rss=${idle_wm_rss:-}
one_kernel=$one_kernel
one_rl=$one_rl
one_poll=$one_poll
one_poll_loaded=$one_poll_loaded
EOT
else
	. "$RES/misc.env"
fi

# ---- the table ----------------------------------------------------------

# The Erlang figures, from make bench-erlang (run before this script).
[ -f "$TOP/$O/bench/erlang.txt" ] && cp "$TOP/$O/bench/erlang.txt" \
    "$RES/erlang.txt"

# Formats a figure and its goal: "x (goal g: met)" or "missed by N%".
goal() {
	awk -v v="$1" -v g="$2" 'BEGIN {
	    if (v == "-" || v == "") { print "-"; exit }
	    if (v + 0 <= g + 0) print "met";
	    else if (g + 0 == 0) print "missed";
	    else printf "missed by %.0f%%\n", (v / g - 1) * 100 }'
}

fig() {
	ready_fig "$@"
}

# One row of the ready figures: tree, what it is, the goal and its ms.
ready_row() {
	rr=$(fig "$1" reloaderd 4)
	echo "| ready, $2 | $(sec "$rr") s, $(kb_mb "$(fig "$1" reloaderd 5)")" \
	    "MB (all stamps: $(sec "$(fig "$1" reloaderd-all-stamps 4)") s) |" \
	    "inotifywait -r $(sec "$(fig "$1" inotifywait 4)") s," \
	    "$(kb_mb "$(fig "$1" inotifywait 5)") MB; watchman" \
	    "$(sec "$(fig "$1" watchman 4)") s," \
	    "$(kb_mb "$(fig "$1" watchman 5)") MB; fswatch" \
	    "$(sec "$(fig "$1" fswatch 4)") s | ${3:--} |" \
	    "$([ -n "$4" ] && echo "time $(goal "$rr" "$4"), memory" \
	    "$(goal "$(fig "$1" reloaderd 5)" "$5")") |"
}

kb_mb() {
	awk -v k="$1" 'BEGIN { if (k == "-" || k == "") print "-";
	    else printf "%.1f\n", k / 1024 }'
}

sec() {
	awk -v m="$1" 'BEGIN { if (m == "-" || m == "") print "-";
	    else printf "%.2f\n", m / 1000 }'
}

{
	echo "| figure | reloaderd | reference, same run | goal | |"
	echo "|---|---|---|---|---|"
	for s in $SIZES; do
		big=
		[ "$s" -ge 1000000 ] && big=1
		ready_row "t$s" "$s files (10% modules), inotify, warm cache" \
		    "${big:+< 2 s, < 25 MB}" "${big:+2000}" 25600
		t=t$s-all
		ready_row "$t" "$s modules, inotify" "${big:+< 3 s, < 120 MB}" \
		    "${big:+3000}" 122880
		rp=$(fig "$t" reloaderd-poll 4)
		echo "| ready, $s modules, poll | $(sec "$rp") s," \
		    "$(kb_mb "$(fig "$t" reloaderd-poll 5)") MB |" \
		    "fswatch $(sec "$(fig "$t" fswatch 4)") s |" \
		    "$([ "$s" -ge 1000000 ] && echo "< 3 s" || echo "-") |" \
		    "$([ "$s" -ge 1000000 ] && goal "$rp" 3000 || echo)"
	done
	for s in $SIZES; do
		pc=$(poll_fig "$s" 2)
		pf=$(poll_fig "$s" 3)
		echo "| poll cycle CPU, $s modules | $pc ms ($(awk \
		    -v a="$pc" -v s="$s" 'BEGIN { printf "%.2f", a * 1000 / s }') us a file) |" \
		    "bare fstatat(dirfd, name) loop $pf ms |" \
		    "<= 1.2x the loop$([ "$s" -ge 1000000 ] && echo "; < 300 ms") |" \
		    "$(awk -v a="$pc" -v b="$pf" 'BEGIN { printf "%.2fx, ", a / b }')$(goal \
		    "$pc" "$(awk -v b="$pf" 'BEGIN { print b * 1.2 }')")$([ \
		    "$s" -ge 1000000 ] && echo "; < 300 ms: $(goal "$pc" 300)")"
	done
	echo "| idle, 100k files, inotify, wake-ups a minute | $idle_rl |" \
	    "inotifywait $idle_iw; watchman $idle_wm ($(kb_mb \
	    "${idle_wm_rss:-}") MB) | 0 | $(goal "$idle_rl" 0) |"
	echo "| one change in a $BIG-module tree, inotify, settle 0, ms |" \
	    "$one_rl | the kernel's event (what inotifywait prints)" \
	    "$one_kernel | < 2 | $(goal "$one_rl" 2) |"
	echo "| one change to a loaded module in a $BIG-module tree, poll" \
	    "every 1 s, ms | ${one_poll_loaded:--} | - | < interval + 50 |" \
	    "$(goal "${one_poll_loaded:--}" 1050) |"
	echo "| the same, a module no process has loaded (found by the" \
	    "sweep), ms | $one_poll | - | - | |"
	awk -F'|' 'NR > 2 { gsub(/^ +| +$/, "", $2); gsub(/^ +| +$/, "", $3);
	    gsub(/^ +| +$/, "", $4); gsub(/^ +| +$/, "", $5);
	    g = $2 ~ /CPU/ ? "-" : "<= 1.3x the floor";
	    v = ""; if ($2 !~ /CPU/) v = $5 <= 1.3 ? ", met" : \
	        sprintf(", missed by %.0f%%", ($5 / 1.3 - 1) * 100);
	    # The issue asks this one to be under 0.1 ms (it took 6.1 ms);
	    # the ratio to a configured root is shown beside it.
	    if ($2 ~ /register one module/) { g = "< 0.1 ms";
	        v = $3 < 0.1 ? " the configured root; met" : \
	            sprintf(" the configured root; missed by %.0f%%",
	            ($3 / 0.1 - 1) * 100) }
	    printf "| %s | %s | floor %s | %s | %sx%s |\n", $2, $3, $4, g,
	        $5, v }' "$RES/fanout.txt"
	awk '/^\| reloader/ { split($0, a, "|"); rl50 = a[3]; rl99 = a[5] }
	    /^\| floor/ { split($0, a, "|"); fl50 = a[3] }
	    END { r = rl50 / fl50
	        printf "| C latency p50, settle 0, ms (p99) | %.3f (%.3f) |" \
	        " floor timed from the same instant %.3f | <= 1.2x; p99 < 2 |" \
	        " %.2fx, %s; p99 %s |\n", rl50, rl99, fl50, r, \
	        r <= 1.2 ? "met" : sprintf("missed by %.0f%%", \
	        (r / 1.2 - 1) * 100), rl99 < 2 ? "met" : "missed" }' \
	    "$RES/latency.txt"
	[ -f "$RES/erlang.txt" ] && awk -F'|' '
	    /^\| reloader_client/ { gsub(/ /, "", $3); rc = $3 }
	    /^\| mochiweb/ { gsub(/ /, "", $3); mw = $3 }
	    END { if (rc == "") exit
	        printf "| Erlang latency p50, settle 0, ms | %s | mochiweb'"'"'s" \
	        " reloader in a peer node %s | < 1.5 | %s |\n", rc, mw,
	        rc + 0 < 1.5 ? "met" : sprintf("missed by %.0f%%",
	        (rc / 1.5 - 1) * 100) }' "$RES/erlang.txt"
} >"$RES/table.md"

# ---- the plots ----------------------------------------------------------

if have gnuplot; then
	# Latency distributions: the cumulative share of changes by time.
	for c in reloader floor; do
		awk -v c="$c" '$1 == c { print $2 }' "$RES/latency.dat" |
		    sort -n | awk '{ v[NR] = $1 } END { for (i = 1; i <= NR; i++)
		    print v[i], i / NR }' >"$W/lat-$c.dat"
	done
	gnuplot <<EOT
set terminal png size 800,500
set output "$RES/latency.png"
set title "Reload latency, C, settle 0 ($LAT_N changes a chain)"
set xlabel "ms from rename(2) to the new code answering"
set ylabel "share of changes"
set key bottom right
set grid
plot "$W/lat-reloader.dat" with lines lw 2 title "reloaderd + libreloader", \
     "$W/lat-floor.dat" with lines lw 2 title "hand-written floor"
EOT
	# Time to ready and memory against tree size, per tool.
	for t in reloaderd reloaderd-all-stamps reloaderd-poll inotifywait \
	    watchman fswatch; do
		for s in $SIZES; do
			r=$(fig "t$s-all" "$t" 4)
			m=$(fig "t$s-all" "$t" 5)
			[ "$r" = - ] || echo "$s $r $m"
		done >"$W/ready-$t.dat"
	done
	gnuplot <<EOT
set terminal png size 800,500
set output "$RES/ready.png"
set title "Time to ready, every file a module (inotify unless said)"
set xlabel "modules"
set ylabel "s"
set logscale xy
set key top left
set grid
plot for [t in "reloaderd reloaderd-all-stamps reloaderd-poll inotifywait watchman fswatch"] \
    "$W/ready-".t.".dat" using 1:(\$2/1000) with linespoints lw 2 title t
set output "$RES/memory.png"
set title "Resident memory when ready, every file a module"
set ylabel "MB"
plot for [t in "reloaderd reloaderd-poll inotifywait watchman fswatch"] \
    "$W/ready-".t.".dat" using 1:(\$3/1024) with linespoints lw 2 title t
EOT
	for s in $SIZES; do
		echo "$s $(poll_fig "$s" 2) $(poll_fig "$s" 3)"
	done >"$W/poll.dat"
	gnuplot <<EOT
set terminal png size 800,500
set output "$RES/poll.png"
set title "CPU of one poll cycle, every file a module"
set xlabel "modules"
set ylabel "ms"
set logscale xy
set key top left
set grid
plot "$W/poll.dat" using 1:2 with linespoints lw 2 title "reloaderd", \
     "$W/poll.dat" using 1:3 with linespoints lw 2 title "bare fstatat(dirfd, name) loop"
EOT
fi

# ---- results.md ---------------------------------------------------------

{
	echo "# Benchmark results"
	echo
	echo "Written by \`make bench${QUICK:+ QUICK=1}\` (bench/run.sh) on" \
	    "$(date -u '+%Y-%m-%d %H:%M UTC'); bench/README.md says what each" \
	    "figure measures and how."
	echo
	echo "- machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB",
	    $2 / 1048576 }' /proc/meminfo), $(uname -sr)," \
	    "$(df -Pk "$TREES" | awk 'NR == 2 { print $1 }') for the trees"
	echo "- load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)" \
	    "(the machine is shared; every figure stands beside its" \
	    "reference measured in the same run)"
	echo "- rounds: $ROUNDS (medians), trees: $SIZES files"
	[ "${RESUME:-}" != idle ] || echo "- resumed (RESUME=idle): the ready" \
	    "and poll figures are those of the run before, which stopped" \
	    "after them; $(stat -c %y "$RES/ready.dat" | cut -c1-16) UTC"
	echo "- tools: $TOOLS"
	echo
	cat "$RES/table.md"
	echo
	echo "C latency, in full:"
	echo
	cat "$RES/latency.txt"
	echo
	echo "Fan-out, in full:"
	echo
	cat "$RES/fanout.txt"
	echo
	if [ -f "$RES/erlang.txt" ]; then
		echo "Erlang latency, reloader_client beside mochiweb's reloader"
		echo "in a peer node (make bench-erlang, bench/README.md), in full:"
		echo
		cat "$RES/erlang.txt"
		echo
	fi
	echo "Switch skew across 8 processes, one-phase (protocol 1) beside"
	echo "two-phase (protocol 2), in full (bench/README.md, \"Switch skew\"):"
	echo
	sed 's/^/    /' "$RES/skew.txt"
	echo
	echo "Commands: \`$B/fanout -n 1000 -r 9 -I 20000 -d $O/reloaderd" \
	    "variant-1.so variant-2.so\`; \`$B/skew -n $SKEW_N -p 8 -d" \
	    "$O/reloaderd $O/bench/skewmods\`; \`$B/latency -n $LAT_N -R -o" \
	    "bench/results/latency.dat -d $O/reloaderd variant-*.so\`;" \
	    "\`$B/statloop -r 5 TREE\`; \`$B/onechange -r 5 SOCK MODULE\`" \
	    "(inotify; -r 3, and -l -r 5 with poll);" \
	    "ready: \`reloaderd -f -w TREE -b inotify|poll\` (log timestamps," \
	    "starting to ready), \`inotifywait -r -m TREE\` (until \"Watches" \
	    "established\"), \`watchman watch TREE\` and a query (it waits" \
	    "for the crawl), \`fswatch -r TREE\` (until its CPU stops)."
	[ -f "$RES/latency.png" ] && {
		echo
		echo "![latency](results/latency.png)"
		echo "![ready](results/ready.png)"
		echo "![memory](results/memory.png)"
		echo "![poll](results/poll.png)"
	}
} >"$MD"
cat "$RES/table.md"
echo "bench: wrote $MD and $RES/*.png" >&2
