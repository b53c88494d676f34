#!/bin/sh
# Issue 10, path 3: a reload refused because old code lingers ends by
# itself.  Under soft purge, v2 of lingo loads while a process still
# runs v1, which is named and left alive, answering from v1; v3 is
# refused (failed=purge) while it lingers; the process exits, the
# client's purge retry goes through and the daemon logs it; then v3 is
# loaded with no further change to the file, and `reloaderctl list`
# shows lingo current.
# backends: inotify poll
. tests/e2e/lib.sh
erl_init

erl_fixture "$ROOT" lingo
start -w build
erl_start n1 "{poll_interval, 100}, {purge_retry, 100}"
erl_has n1 '= <' 'P = lingo:start().'
erl_has n1 '= {ok,' 'reloader_client:start().'
wait_log 'nonode@nohost\[[0-9]*\] registered lingo (build/lingo.beam)'

# v2: loaded; the process in v1 is named, stays alive, and keeps
# answering from v1 while new calls get v2.
erl_fixture "$ROOT" lingo -DVALUE=2
wait_log 'info reloading lingo (build/lingo\.beam) .* ok [0-9.]* ms: "\?old code kept: 1 process still runs it: <[0-9.]*> (lingo:loop/0)"\?$'
erl_expect n1 true 'is_process_alive(P).'
erl_expect n1 2 'lingo:version().'
erl_expect n1 '{lingo,1}' 'P ! {version, self()}, receive {lingo, V} -> {lingo, V} end.'

# v3 while two versions are loaded: refused, naming who lingers.
erl_fixture "$ROOT" lingo -DVALUE=3
wait_log 'warn reloading lingo (build/lingo\.beam) .* not loaded: old code still runs; offered again once it is purged: "\?old code still in use, and a third version cannot be loaded while two are (policy: soft purge): 1 process still runs it: <[0-9.]*> (lingo:loop/0)"\?$'
erl_expect n1 2 'lingo:version().'
erl_expect n1 true 'is_process_alive(P).'

# The process exits: the retry purges v1, the daemon logs it, and v3
# is loaded without any change to the file.
erl_expect n1 stop 'P ! stop.'
wait_log 'info purged old lingo (md5:[0-9a-f]*) in nonode@nohost\[[0-9]*\] after [0-9.]* ms$'
wait_log 'info reloading lingo (build/lingo\.beam) in nonode@nohost\[[0-9]*\] \.\.\. ok [0-9.]* ms$'
erl_expect n1 3 'lingo:version().'
ctl list
ctl_status 0
ctl_has out '^[0-9]*  *nonode@nohost\[[0-9]*\]  *lingo  *md5:[0-9a-f.]*  *md5:[0-9a-f.]*  *current$'
ctl_has out '^1 client, [0-9]* modules\?, 0 stale\(; .*\)\?$'
expect_count ' reports an error' 0
erl_stop n1
stop
