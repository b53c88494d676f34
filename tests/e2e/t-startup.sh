# The daemon is ready once its watches are armed and the files' stats
# noted; the stamps of the files found at start are read afterwards, in
# the background (issue 12).  What holds meanwhile: a file whose stamp is
# not read yet and that changes is read then; one whose stat is still
# what the scan noted holds what was there at the scan, so nothing is
# reported for it; one rewritten since the scan is reported changed
# (was=unknown: the scan did not read it), once; a client that registers
# a file not read yet gets it read at once; status counts what is left.
# The test holds the background reader with RELOADERD_TEST_READ_GATE.
# backends: inotify poll
. tests/e2e/lib.sh

trap '' PIPE
for m in a b d e; do
	mkso "$ROOT/$m.so" 1
done
v1=build-id:$(buildid "$ROOT/d.so")
# The scan trusts a stat only for files unchanged for a second (a change
# within one timestamp tick would leave it equal) and reads the others
# at once: let the files age past that, so that all are left unread.
while [ $(($(date +%s) - $(stat -c %Z "$ROOT/e.so"))) -lt 2 ]; do
	sleep 0.1
done
export RELOADERD_TEST_READ_GATE="$T/gate"
start -w build
wait_log ' info ready: 1 directory, 4 modules (4 stamps being read)'
expect_count 'known build/' 0

client ctl1 <<EOT
> hello proto=1 pid=$$ name=ctl role=control
< welcome
> status id=s1
< ok id=s1 verb=status
EOT
expect_recv ctl1 1 root id=s1 "path=$ROOT" files=4 unread=4

# Opened for writing and closed unchanged: read at once, and nothing to
# report (polling sees no change at all, and reads it later).
if [ "$BACKEND" = inotify ]; then
	: >>"$ROOT/a.so"
	wait_log ' debug known build/a\.so module=a '
fi

# Rewritten: read at once, reported changed, was unknown.
mkso "$ROOT/b.so" 2
wait_log ' info changed build/b\.so module=b build-id=[0-9a-f]* was=unknown '

# Registered before its stamp was read: read at once, found current.
client app <<EOT
> hello proto=1 pid=$$ name=app
< welcome
> register module=d path=$ROOT/d.so stamp=$v1
< registered module=d
> list id=l1
< ok id=l1 verb=list
EOT
expect_recv app 1 loaded id=l1 module=d "have=$v1" "disk=$v1" state=current
expect_recv app 0 reload

# The reader goes on: the rest become known, with nothing reported.
touch "$T/gate"
wait_log ' info read the stamps of [0-9]* files found at start'
wait_log ' debug known build/e\.so module=e '
client ctl2 <<EOT
> hello proto=1 pid=$$ name=ctl role=control
< welcome
> status id=s2
< ok id=s2 verb=status
EOT
expect_recv ctl2 1 root id=s2 "path=$ROOT" files=4 unread=0
expect_count ' info \(added\|changed\|removed\) build/[ade]\.so' 0
expect_count ' info changed build/b\.so' 1

# From now on, changes compare stamps as ever.
mkso "$ROOT/e.so" 2
wait_log ' info changed build/e\.so module=e build-id=[0-9a-f]* was=[0-9a-f]'
expect_count 'was=unknown' 1
expect_count ' warn ' 0
stop
