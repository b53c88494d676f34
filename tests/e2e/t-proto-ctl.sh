# The control verbs at the protocol level (docs/PROTOCOL.md, "Control"),
# with scripted clients: ids on every answer line, each verb's errors,
# forced reloads and rollbacks as the client sees them, hold and release
# as one batch, a connection-scoped hold that goes away, events and the
# followed log.  reloaderctl's own tests (t-ctl*.sh) go through the
# command; this one pins the wire.
# backends: any
. tests/e2e/lib.sh

trap '' PIPE

mkmod "$ROOT/greet.so" greet -DGREETING='"v1"'
v1=build-id:$(buildid "$ROOT/greet.so")
old=build-id:0123456789abcdef0123456789abcdef01234567
start

# An attached process that keeps a previous version (prev=).
open_client app 4
to app "> hello proto=1 pid=$$ name=app" "< welcome" \
    "> register module=greet path=$ROOT/greet.so stamp=$v1 prev=$old" \
    "< registered module=greet"
wait_recv app 1 registered module=greet

# A control connection: not counted as a client, not logged at info.
open_client ctl 5
to ctl "> hello proto=1 pid=$$ name=ctl role=control" "< welcome" \
    "> status id=s1" "< ok id=s1 verb=status"
wait_recv ctl 1 ok id=s1 verb=status
expect_recv ctl 1 daemon id=s1 'pid=*' 'uptime=*' held=0
expect_recv ctl 1 inotify id=s1 watches=1 'max-user-watches=*'
expect_recv ctl 1 root id=s1 "path=$ROOT" backend=* implicit=yes \
    state=watching files=1
expect_recv ctl 1 counts id=s1 clients=1 controls=1 modules=1
expect_count 'info ctl\[' 0

to ctl "> list id=l1" "< ok id=l1 verb=list clients=1 modules=1"
wait_recv ctl 1 ok id=l1 verb=list
expect_recv ctl 1 client id=l1 'client=*' name=app "pid=$$" modules=1
expect_recv ctl 1 loaded id=l1 module=greet "have=$v1" "disk=$v1" \
    stale=no state=current

# Every wrong request: an error with its id; the connection carries on.
to ctl "> list client=nobody id=e1" "> reload id=e2" \
    "> reload module=greet all=yes id=e3" "> reload module=nope id=e4" \
    "> rollback id=e5" "> rollback module=nope id=e6" \
    "> hold scope=forever id=e7" "> release deliver=maybe id=e8" \
    "> release id=e9" "> log lines=many id=e10" \
    "> log follow=perhaps id=e11" "> ping id=alive" "< pong id=alive"
wait_recv ctl 1 pong id=alive
expect_recv ctl 1 error code=no-such-client id=e1
expect_recv ctl 1 error code=missing-field id=e2
expect_recv ctl 1 error code=bad-field id=e3
expect_recv ctl 1 error code=not-loaded id=e4
expect_recv ctl 1 error code=missing-field id=e5
expect_recv ctl 1 error code=not-loaded id=e6
expect_recv ctl 1 error code=bad-field id=e7
expect_recv ctl 1 error code=bad-field id=e8
expect_recv ctl 1 error code=not-held id=e9
expect_recv ctl 1 error code=bad-field id=e10
expect_recv ctl 1 error code=bad-field id=e11

to ctl "> subscribe" "< ok verb=subscribe"
wait_recv ctl 1 ok verb=subscribe

# A forced reload of an unchanged file says force=yes.
to ctl "> reload module=greet id=r1" "< ok id=r1 verb=reload"
wait_recv ctl 1 ok id=r1 verb=reload module=greet clients=1 modules=1 \
    held=no
wait_recv app 1 module module=greet "stamp=$v1" "was=$v1" force=yes
wait_recv ctl 1 event type=batch name=app count=1 action=load
b=$(sed -n 's/^< reload batch=\([0-9]*\).*/\1/p' "$T/app.out" | tail -n 1)
# Its own result, then another node's (node=), which it pushed to.
to app "> result batch=$b module=greet status=ok stamp=$v1" \
    "> result batch=$b module=greet status=load-failed stamp=$v1 node=b@h" \
    "> done batch=$b"
wait_recv ctl 1 event type=result name=app module=greet status=ok
wait_recv ctl 1 event type=result name=app module=greet node=b@h \
    status=load-failed
wait_log "reloading greet (.*) in node b@h via app\[[0-9]*\] \.\.\. load failed"
expect_recv app 0 error 'code=*'

# A rollback goes to the version the client named in prev=.
to ctl "> rollback module=greet id=b1" "< ok id=b1 verb=rollback"
wait_recv ctl 1 ok id=b1 verb=rollback clients=1 skipped=0
wait_recv app 1 module module=greet "stamp=$old" "was=$v1" action=rollback
wait_recv ctl 1 event type=batch name=app action=rollback
b=$(sed -n 's/^< reload batch=\([0-9]*\).*/\1/p' "$T/app.out" | tail -n 1)
to app "> result batch=$b module=greet status=ok stamp=$old" \
    "> done batch=$b"
wait_log "rolling back greet (.*) in app\[[0-9]*\] \.\.\. ok"
# Back on the old version, the file is not offered again...
to ctl "> list id=l2" "< ok id=l2 verb=list"
wait_recv ctl 1 ok id=l2 verb=list
expect_recv ctl 1 loaded id=l2 "have=$old" "disk=$v1" stale=yes \
    state=rolled-back
expect_recv app 2 reload 'batch=*'

# ... until it changes.  Under a hold, though, nothing is sent: two
# rebuilds further apart than the settle window are one batch at release.
to ctl "> hold id=h1" "< ok id=h1 verb=hold held=1"
wait_recv ctl 1 ok id=h1 verb=hold held=1
mkmod "$ROOT/greet.so" greet -DGREETING='"v2"'
wait_log 'changed .*greet\.so'
mkmod "$ROOT/greet.so" greet -DGREETING='"v3"'
v3=build-id:$(buildid "$ROOT/greet.so")
wait_log "changed .*greet\.so.*=${v3#build-id:}"
wait_recv ctl 2 event type=change how=changed module=greet
to ctl "> list id=l3" "< ok id=l3 verb=list"
wait_recv ctl 1 ok id=l3 verb=list
expect_recv ctl 1 loaded id=l3 "disk=$v3" state=held
expect_recv app 2 reload 'batch=*'
to ctl "> release id=h2" "< ok id=h2 verb=release"
wait_recv ctl 1 ok id=h2 verb=release held=0 delivered=1 clients=1 \
    discarded=0
wait_recv app 3 reload 'batch=*'
wait_recv app 1 module module=greet "stamp=$v3" "was=$old"
b=$(sed -n 's/^< reload batch=\([0-9]*\).*/\1/p' "$T/app.out" | tail -n 1)
to app "> result batch=$b module=greet status=ok stamp=$v3" \
    "> done batch=$b"
wait_recv ctl 1 event type=result module=greet "stamp=$v3"

# The log, followed: what is logged from now on arrives as it happens.
open_client tail 6
to tail "> hello proto=1 pid=$$ name=tail role=control" "< welcome" \
    "> log lines=3 follow=yes id=t1" "< ok id=t1 verb=log lines=3 follow=yes"
wait_recv tail 1 ok id=t1 verb=log follow=yes
expect_recv tail 3 log id=t1 'time=*' 'level=*' 'msg=*'

# A hold tied to a connection that goes away: what changed is discarded
# (an interrupted build), and the next change is delivered again.
open_client build 7
to build "> hello proto=1 pid=$$ name=build role=control" "< welcome" \
    "> hold scope=connection" "< ok verb=hold held=1"
wait_recv build 1 ok verb=hold held=1
mkmod "$ROOT/greet.so" greet -DGREETING='"v4"'
v4=build-id:$(buildid "$ROOT/greet.so")
wait_log "changed .*greet\.so.*=${v4#build-id:}"
to ctl "> release id=x1" "< error"
wait_recv ctl 1 error code=not-held id=x1
close_client build
wait_log 'build\[[0-9]*\] went away holding reloads: 1 change discarded'
wait_recv tail 1 log level=warn 'msg=build[*'
to ctl "> list id=l4" "< ok id=l4 verb=list"
wait_recv ctl 1 ok id=l4 verb=list
expect_recv ctl 1 loaded id=l4 "have=$v3" "disk=$v4" stale=yes state=discarded
mkmod "$ROOT/greet.so" greet -DGREETING='"v5"'
v5=build-id:$(buildid "$ROOT/greet.so")
wait_recv app 1 module module=greet "stamp=$v5"
wait_recv tail 1 log level=info 'msg=changed*'
expect_recv app 4 reload 'batch=*'

# The daemon counted it all.
to ctl "> status id=s2" "< ok id=s2 verb=status"
wait_recv ctl 1 ok id=s2 verb=status
expect_recv ctl 1 counts id=s2 clients=1 controls=2 modules=1 ok=3 \
    rollbacks=1 batches=4 remote=1
expect_recv tail 0 log 'id=*' level=info 'msg=changed*'
close_client ctl
close_client tail
close_client app
