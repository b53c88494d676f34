#!/bin/sh
# Where a change's time goes, hop by hop: runs `latency -R` under ftrace
# (system calls and scheduler events, every CPU) and prints the medians
# of bench/tracesegs.py for the reloader chain and the floor.  As root;
# mounts tracefs if it is not.  The trace itself stays in TRACE.
#
#	sh bench/trace-latency.sh [O] [N] [TRACE]
set -eu
O=${1:-obj}
N=${2:-100}
TRACE=${3:-/tmp/reloader-latency.trace}
T=/sys/kernel/tracing

[ "$(id -u)" -eq 0 ] || { echo "trace-latency: needs root" >&2; exit 1; }
[ -e "$T/trace" ] || mount -t tracefs nodev "$T"
echo 0 >"$T/tracing_on"
echo 65536 >"$T/buffer_size_kb"
echo 'raw_syscalls:sys_enter raw_syscalls:sys_exit sched:sched_switch
sched:sched_wakeup' >"$T/set_event"
: >"$T/trace"
echo 1 >"$T/tracing_on"
"$O/bench/latency" -R -n "$N" -d "$O/reloaderd" "$O"/bench/variant-*.so ||
    { echo 0 >"$T/tracing_on"; exit 1; }
echo 0 >"$T/tracing_on"
cp "$T/trace" "$TRACE"
: >"$T/set_event"
python3 "$(dirname "$0")/tracesegs.py" "$TRACE"
