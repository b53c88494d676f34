%% counter.erl: an example Erlang module.  Change value/0, run
%% `make -C examples`, and watch reloaderd report the new MD5.
-module(counter).
-export([value/0]).

value() -> 1.
