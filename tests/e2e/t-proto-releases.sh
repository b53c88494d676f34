#!/bin/sh
# The daemon passes releases requests on to one process and its answers
# back (docs/PROTOCOL.md, "releases"), with scripted clients standing in
# for reloaderctl and an Erlang node: rows and the end relayed with the
# request's id; a failure, a process that does not know the verb, and one
# that goes away each end the request with a clear error; bad requests
# are refused; and the daemon carries on.
# backends: any
. tests/e2e/lib.sh

trap '' PIPE
start
open_client node 7
to node "> hello proto=2 min=1 pid=77 name=n1@host" "< welcome"
wait_recv node 1 welcome
open_client ctl 8
to ctl "> hello proto=1 pid=78 name=ctl role=control" "< welcome"
wait_recv ctl 1 welcome

# A list: rows, then the end.
to ctl "> releases client=n1@host op=list id=r1"
wait_recv node 1 releases req=1 op=list
to node "> release req=1 name=nine9s vsn=0.1.0 status=permanent" \
    "> release req=1 name=nine9s vsn=0.2.0 status=unpacked" \
    "> releases-done req=1 status=ok"
wait_recv ctl 1 ok id=r1 verb=releases rows=2
expect_recv ctl 1 release id=r1 name=nine9s vsn=0.1.0 status=permanent
expect_recv ctl 1 release id=r1 vsn=0.2.0 status=unpacked
expect_recv ctl 0 release 'req=*'

# An install that fails.
to ctl "> releases client=1 op=install arg=0.3.0 id=r2"
wait_recv node 1 releases req=2 op=install arg=0.3.0
to node "> releases-done req=2 status=error reason=no\\x20such\\x20release"
wait_recv ctl 1 error code=release-failed 'msg=no\x20such\x20release' id=r2
wait_log 'releases in n1@host\[77\] failed: "no such release"'

# Rows for a request that is not out are refused.
to node "> releases-done req=99 status=ok"
wait_recv node 1 error code=bad-result

# Bad requests.
to ctl "> releases client=n1@host op=frob id=b1" \
    "> releases client=n1@host op=install id=b2" \
    "> releases client=n1@host op=list arg=x id=b3" \
    "> releases client=nobody op=list id=b4" \
    "> releases op=list id=b5"
wait_recv ctl 1 error id=b5 code=missing-field
expect_recv ctl 1 error id=b1 code=bad-field
expect_recv ctl 1 error id=b2 code=bad-field
expect_recv ctl 1 error id=b3 code=bad-field
expect_recv ctl 1 error id=b4 code=no-such-client

# A process that does not know the verb.
to ctl "> releases client=n1@host op=list id=r3"
wait_recv node 1 releases req=3
to node "> error code=unknown-verb msg=unknown\\x20verb\\x20releases line=9"
wait_recv ctl 1 error code=not-supported id=r3

# One that goes away before it answers.
to ctl "> releases client=n1@host op=unpack arg=nine9s-0.2.0 id=r4"
wait_recv node 1 releases req=4 op=unpack arg=nine9s-0.2.0
close_client node
wait_recv ctl 1 error code=release-failed id=r4 'msg=n1@host[77]\x20went\x20away*'
to ctl "> status id=s" "< ok id=s"
wait_recv ctl 1 ok id=s verb=status
close_client ctl
stop
