#!/bin/sh
# `make run`: builds the example modules and runs reloaderd in the
# foreground on built-in defaults, watching examples/build.
set -eu
reloaderd=$1
top=$(pwd)
make -s -C "$(dirname "$0")" all
cat <<MSG

reloaderd is watching examples/build.  In another terminal, edit
examples/hello/hello.c (or examples/hello/counter.erl) and run

    make -C examples

to see a "changed" line with the new build-id (or MD5).  Try
"touch examples/build/hello.so" too: nothing is logged, because the code
did not change.  Stop with Ctrl-C.

MSG
cd "$top"
exec "./$reloaderd" -f -w examples/build
