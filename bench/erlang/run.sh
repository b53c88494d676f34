#!/bin/sh
# bench/erlang/run.sh O N [STAGES]: the Erlang reload latency benchmark
# (bench/README.md), run by `make bench-erlang`.  Builds two versions of
# the benchmark's module for each chain with erlc, starts reloaderd with
# a settle window of 0 and no watch directories on a private socket,
# and runs the driver (rlbench.erl) in a node with reloader_client; the
# driver starts mochiweb's reloader (erlang-mochiweb) in a peer node.
# With STAGES 1, rlstages.erl instead: where reloader_client's time goes.
set -eu
O=${1:-obj}
N=${2:-100}
DRIVER=rlbench
[ "${3:-0}" = 1 ] && DRIVER=rlstages
TOP=$(pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/rlbench-erl.XXXXXX")
DPID=

# Stops the daemon and removes the temporary directory.
cleanup() {
	if [ -n "$DPID" ]; then
		kill "$DPID" 2>/dev/null || true
		wait "$DPID" 2>/dev/null || true
	fi
	rm -rf "$T"
}
trap cleanup EXIT

for m in a b; do
	for v in 1 2; do
		mkdir -p "$T/v/$m$v"
		sed "s/^-module(rlbench_mod)/-module(rlbench_$m)/" \
		    bench/erlang/rlbench_mod.erl >"$T/v/$m$v/rlbench_$m.erl"
		erlc -DVERSION=$v -o "$T/v/$m$v" "$T/v/$m$v/rlbench_$m.erl"
	done
done

printf '[reloaderd]\nsettle = 0\n' >"$T/reloader.conf"
"$TOP/$O/reloaderd" -f -s "$T/sock" -c "$T/reloader.conf" \
    >"$T/reloaderd.log" 2>&1 &
DPID=$!
tries=500
until [ -S "$T/sock" ]; do
	tries=$((tries - 1))
	if [ "$tries" -le 0 ] || ! kill -0 "$DPID" 2>/dev/null; then
		cat "$T/reloaderd.log" >&2
		echo "bench-erlang: reloaderd did not start" >&2
		exit 1
	fi
	sleep 0.01
done

erl -noshell -pa "$TOP/$O/erlang/ebin" -pa "$TOP/$O/erlang/bench" \
    -kernel logger_level warning -run $DRIVER main "$T" "$N" "$T/sock"
