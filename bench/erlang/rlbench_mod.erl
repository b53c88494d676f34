%% @doc The module the Erlang benchmark reloads (bench/README.md).
%% bench/erlang/run.sh builds it as rlbench_a and rlbench_b, versions 1
%% and 2 of each (erlc -DVERSION=N).
-module(rlbench_mod).
-export([version/0, test/0]).

-ifndef(VERSION).
-define(VERSION, 0).
-endif.

%% @doc The version this build is.
version() -> ?VERSION.

%% @doc The test hook both chains call right after loading: the first
%% call into the new code.  It tells the benchmark, if it listens.
test() ->
    case whereis(rlbench) of
        undefined -> ok;
        Pid -> Pid ! {rlbench_loaded, ?MODULE, ?VERSION}, ok
    end.
