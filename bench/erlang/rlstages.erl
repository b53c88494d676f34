%% @doc Where reloader_client's time goes (bench/README.md, run by
%% `make bench-erlang ERL_STAGES=1'): reloader_client's chain of the
%% benchmark alone, with the client's process and the chain's process
%% traced (erlang:trace/3, monotonic timestamps) at the steps of a
%% reload, and the median time of each step after the one before, and
%% since the rename, printed as a Markdown table.  Tracing slows every
%% traced step a little: the latency under tracing is printed too, to be
%% set beside the untraced one of `make bench-erlang'.
-module(rlstages).

-export([main/1]).

-define(WARMUP, 10).

%% The steps, in the order of a reload: {Name, what marks it}.
-define(STEPS,
        [{"daemon: inotify, stamp, `prepare'; the VM reads it",
          {rx, <<"prepare">>}},
         {"the batch's other lines read", {rx, <<"end">>}},
         {"beam read, MD5 and exports checked",
          {return, {reloader_client_load, read, 1}}},
         {"code:prepare_loading/1", {return, {code, prepare_loading, 1}}},
         {"results and `done' written", {return, {reloader_client, answer, 4}}},
         {"daemon: `commit'; the VM reads it", {rx, <<"commit">>}},
         {"code:finish_loading/1 (the switch)",
          {return, {code, finish_loading, 1}}},
         {"test/0 called, its message received", loaded},
         {"soft purge of the old code", {return, {code, soft_purge, 1}}},
         {"results, `committed' written, registrations synced",
          {return, {reloader_client, sync, 1}}}]).

%% @doc Runs it: [Dir, Changes, Socket] as strings, as rlbench:main/1.
main([Dir, NStr, Sock]) ->
    N = list_to_integer(NStr),
    Self = self(),
    Chain = spawn_link(rlbench, chain, [Self, Dir, "a"]),
    receive {Chain, ready} -> ok end,
    {ok, _} = reloader_client:start(#{socket => Sock}),
    ok = rlbench:wait_attached(500),
    Tracer = spawn_link(fun() -> collect([]) end),
    [erlang:trace_pattern(MFA, [{'_', [], [{return_trace}]}], [local])
     || {_, {return, MFA}} <- ?STEPS],
    erlang:trace_pattern({file, rename, 2}, true, [local]),
    Flags = [call, 'receive', monotonic_timestamp, {tracer, Tracer}],
    erlang:trace(whereis(reloader_client), true, Flags),
    erlang:trace(Chain, true, Flags),
    Times = [begin
                 timer:sleep(20 + rand:uniform(200)),
                 Chain ! {change, self(), 2 - (I rem 2)},
                 receive {Chain, T} -> T end
             end || I <- lists:seq(1, ?WARMUP + N)],
    Tracer ! {dump, self()},
    Events = receive {events, Ev} -> Ev end,
    Changes = lists:nthtail(?WARMUP, changes(Events)),
    report(N, lists:nthtail(?WARMUP, Times), Changes),
    halt(0).

%% Keeps the trace messages until asked for them.
collect(Acc) ->
    receive
        {dump, From} -> From ! {events, lists:reverse(Acc)};
        Ev -> collect([Ev | Acc])
    end.

%% Splits the trace at each rename into one map per change: step name to
%% the first time it was seen, `rename' to the rename's.
changes(Events) ->
    {Cur, Acc} =
        lists:foldl(
          fun({trace_ts, _, call, {file, rename, _}, Ts}, {C, A}) ->
                  {#{rename => Ts}, [C | A]};
             (Ev, {C, A}) ->
                  {step(Ev, C), A}
          end, {#{}, []}, Events),
    [C || C <- lists:reverse([Cur | Acc]), is_map_key(rename, C)].

%% Notes the step a trace message marks, the first time in a change.
step(Ev, C) ->
    Ts = element(tuple_size(Ev), Ev),
    Marks = [Name || {Name, Mark} <- ?STEPS, marks(Mark, Ev)],
    lists:foldl(fun(Name, Acc) ->
                        case is_map_key(Name, Acc) of
                            true -> Acc;
                            false -> Acc#{Name => Ts}
                        end
                end, C, Marks).

%% Whether a trace message is the mark of a step.
marks({rx, Verb}, {trace_ts, _, 'receive', {tcp, _, Line}, _}) ->
    binary:longest_common_prefix([Verb, Line]) =:= byte_size(Verb);
marks(loaded, {trace_ts, _, 'receive', {rlbench_loaded, _, _}, _}) ->
    true;
marks({return, MFA}, {trace_ts, _, return_from, {M, F, A}, _, _}) ->
    MFA =:= {M, F, A};
marks(_, _) ->
    false.

%% Prints the table of the steps' medians.
report(N, Times, Changes) ->
    Ok = lists:sort([T || T <- Times, is_float(T)]),
    io:format("~nreloader_client, traced: ~b changes, beam written -> new "
              "code callable p50 ~.3f ms~n~n", [N, median(Ok)]),
    io:format("| ~-52s | after the last | since the rename |~n", ["step"]),
    io:format("|~s|---------------:|-----------------:|~n",
              [lists:duplicate(54, $-)]),
    lists:foldl(
      fun({Name, _}, Prev) ->
              Since = [ms(C, rename, Name) || C <- Changes,
                                              is_map_key(Name, C)],
              After = [ms(C, Prev, Name) || C <- Changes, is_map_key(Name, C),
                                            is_map_key(Prev, C)],
              io:format("| ~-52s | ~14.3f | ~16.3f |~n",
                        [Name, median(After), median(Since)]),
              Name
      end, rename, ?STEPS),
    ok.

%% The time from one step to another in a change, in ms.
ms(C, From, To) ->
    (maps:get(To, C) - maps:get(From, C)) / 1.0e6.

%% The median of a list of numbers, 0.0 of none.
median([]) -> 0.0;
median(L) -> lists:nth((length(L) + 1) div 2, lists:sort(L)).
