#!/bin/sh
# A registration may say where its module comes from (origin=, "otp" for
# the runtime's own modules): list repeats it, and a bad one is refused
# with a reason while the connection carries on.
# backends: any
. tests/e2e/lib.sh

mkso "$ROOT/lists.so" 1
mkso "$ROOT/app.so" 2
start
id1=build-id:$(buildid "$ROOT/lists.so")
id2=build-id:$(buildid "$ROOT/app.so")
client node <<EOF2
> hello proto=1 pid=7 name=node
< welcome
> register module=lists path=$ROOT/lists.so stamp=$id1 origin=otp
< registered module=lists
> register module=app path=$ROOT/app.so stamp=$id2
< registered module=app
> register module=bad path=$ROOT/app.so stamp=$id2 origin=
< error code=bad-field
> register module=bad path=$ROOT/app.so stamp=$id2 origin=$(printf '%040d' 0)
< error code=bad-field
> list id=l1
< ok id=l1 verb=list
EOF2
expect_recv node 1 loaded id=l1 module=lists origin=otp
expect_recv node 1 loaded id=l1 module=app
expect_recv node 0 loaded id=l1 module=app 'origin=*'
expect_recv node 2 error code=bad-field 'msg=origin\x20must\x20be\x201\x20to\x2032\x20bytes'
