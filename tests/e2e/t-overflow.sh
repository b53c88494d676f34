# When the inotify queue overflows, events are lost; the daemon rescans
# and still reports the change whose event was dropped.
# backends: inotify
. tests/e2e/lib.sh

max=$(cat /proc/sys/fs/inotify/max_queued_events)
mkso "$ROOT/hello.so" 1
mkso "$T/hello2.so" 2
new=$(buildid "$T/hello2.so")
mkdir "$ROOT/noise"
start -w build

# Freeze the daemon, raise more events than the queue holds, then make
# the real change: its event is the one the kernel drops.
kill -STOP "$DPID"
i=0
set --
while [ "$i" -le "$max" ]; do
	set -- "$@" "$ROOT/noise/f$i.txt"
	i=$((i + 1))
	if [ $((i % 2000)) -eq 0 ]; then
		touch "$@"
		set --
	fi
done
[ $# -gt 0 ] && touch "$@"
cp "$T/hello2.so" "$ROOT/hello.so"
kill -CONT "$DPID"

wait_log ' warn inotify event queue overflowed'
wait_log " info changed build/hello.so module=hello build-id=$new "
sync_marker
expect_count ' info changed build/hello\.so' 1
stop
