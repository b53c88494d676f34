# Zero configuration in a big directory: the directory of a registered
# module is watched for that module only, whatever else it holds (its
# listing is not read: the tree holds one file for it), and it stays
# watched a while after the last client leaves, so that a process that
# restarts and registers again finds it watched (no second "watching"),
# and changes reach it.
# backends: inotify poll
. tests/e2e/lib.sh

trap '' PIPE
mkso "$ROOT/m.so" 1
v1=build-id:$(buildid "$ROOT/m.so")
i=0
while [ "$i" -lt 2000 ]; do
	: >"$ROOT/other$i.so"
	i=$((i + 1))
done
start

client first <<EOT
> hello proto=1 pid=$$ name=first
< welcome
> register module=m path=$ROOT/m.so stamp=$v1
< registered module=m
> status id=s1
< ok id=s1 verb=status
EOT
expect_recv first 1 root id=s1 "path=$ROOT" 'backend=*' implicit=yes \
    state=watching files=1
wait_log " info first\[$$\] disconnected"
wait_log " info watching $ROOT ([a-z]*, 1 module)"

# The process comes back: the directory was still watched.
open_client again 4
to again "> hello proto=1 pid=$$ name=again" "< welcome" \
    "> register module=m path=$ROOT/m.so stamp=$v1" "< registered module=m"
wait_recv again 1 registered module=m
expect_count " info watching $ROOT " 1
expect_count 'no longer watching' 0

# And what changes there reaches it.
mkso "$ROOT/m.so" 2
v2=build-id:$(buildid "$ROOT/m.so")
to again "< module batch=" "< end batch="
wait_recv again 1 module 'batch=*' module=m "stamp=$v2" "was=$v1"
b=$(sed -n 's/^< end batch=//p' "$T/again.out")
to again "> result batch=$b module=m status=ok stamp=$v2" "> done batch=$b"
wait_log " info reloading m ($ROOT/m\.so) in again\[$$\] \.\.\. ok"
close_client again
expect_count ' warn ' 0
stop
