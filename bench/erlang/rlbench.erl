%% @doc The Erlang reload latency benchmark (bench/README.md, run by
%% bench/erlang/run.sh): the time from "the beam is written" (the
%% rename(2) that puts a new build in place) to "the new code is
%% callable" in this node, for reloader_client driven by reloaderd and,
%% in the same run and taking turns change by change, for a one-second
%% mtime poller in the style of mochiweb's reloader (rlbench_poller).
%%
%% Each chain has its module in a directory of its own (rlbench_a in
%% DIR/a for reloader_client, rlbench_b in DIR/b for the poller, which
%% reloader_client is told to leave alone).  A change writes the other
%% prebuilt version of the module (1 or 2) to a temporary file in that
%% directory, then renames it into place; the clock starts right before
%% the rename.  Both chains call the new version's test/0 right after
%% loading it; it sends this process a message, which this process
%% waits for (no busy loop), then it calls Mod:version() and stops the
%% clock once that returns the new version.  Each round (one change per
%% chain) starts after a random pause of up to a second, so that changes
%% fall at any phase of the poller's tick, as edits do; within a round
%% the changes are 5 ms apart.
-module(rlbench).

-export([main/1]).

-define(WARMUP, 10).
-define(GAP_MS, 5).
-define(PHASE_MS, 1000).

%% @doc Runs the benchmark: [Dir, Changes, Socket] as strings; prints a
%% Markdown table and halts.
main([Dir, NStr, Sock]) ->
    N = list_to_integer(NStr),
    register(rlbench, self()),
    Chains = [setup(reloader, Dir, "a"), setup(poller, Dir, "b")],
    {ok, _} = reloader_client:start(#{socket => Sock,
                                      exclude => [{dir, Dir ++ "/b"}]}),
    ok = wait_attached(500),
    Poller = rlbench_poller:start(Dir ++ "/b"),
    Times = run(1, ?WARMUP + N, Chains, #{reloader => [], poller => []}),
    rlbench_poller:stop(Poller),
    report(N, Times),
    halt(0).

%% Puts version 1 of a chain's module in place and loads it; keeps both
%% versions' bytes so that a change is one write and one rename.
setup(Chain, Dir, Suffix) ->
    Mod = list_to_atom("rlbench_" ++ Suffix),
    Name = atom_to_list(Mod) ++ ".beam",
    Bins = [begin
                Built = filename:join([Dir, "v", Suffix ++ integer_to_list(V),
                                       Name]),
                {ok, B} = file:read_file(Built),
                B
            end || V <- [1, 2]],
    Where = filename:join(Dir, Suffix),
    ok = filelib:ensure_dir(filename:join(Where, "x")),
    Dest = filename:join(Where, Name),
    ok = file:write_file(Dest, hd(Bins)),
    true = code:add_patha(Where),
    {module, Mod} = code:ensure_loaded(Mod),
    1 = Mod:version(),
    #{chain => Chain, mod => Mod, dest => Dest, bins => Bins,
      tmp => filename:join(Where, ".rlbench.tmp")}.

%% Waits until reloader_client is attached and its registrations are
%% answered.
wait_attached(0) ->
    {error, not_attached};
wait_attached(Tries) ->
    case reloader_client:status() of
        #{attached := true, pending := 0} -> ok;
        _ -> timer:sleep(10), wait_attached(Tries - 1)
    end.

%% Makes change I for each chain in turn, up to Last; keeps the times
%% after the warm-up.
run(I, Last, _Chains, Acc) when I > Last ->
    Acc;
run(I, Last, Chains, Acc) ->
    Version = 2 - (I rem 2),   % 2, 1, 2, 1, ...: never the one loaded
    %% A random pause, so that changes fall at any phase of the poller's
    %% one-second tick (and of reloader_client's look at what is
    %% loaded), as edits do.
    timer:sleep(rand:uniform(?PHASE_MS)),
    Acc1 = lists:foldl(
             fun(#{chain := C} = Ch, A) ->
                     T = change(Ch, Version),
                     timer:sleep(?GAP_MS),
                     case I > ?WARMUP of
                         true -> A#{C := [T | maps:get(C, A)]};
                         false -> A
                     end
             end, Acc, Chains),
    run(I + 1, Last, Chains, Acc1).

%% Writes a version in place and times it until the new code answers;
%% `timeout' if it never does within 5 s.
change(#{mod := Mod, dest := Dest, tmp := Tmp, bins := Bins}, Version) ->
    ok = file:write_file(Tmp, lists:nth(Version, Bins)),
    flush(),
    T0 = erlang:monotonic_time(nanosecond),
    ok = file:rename(Tmp, Dest),
    receive
        {rlbench_loaded, Mod, Version} ->
            Version = Mod:version(),
            (erlang:monotonic_time(nanosecond) - T0) / 1.0e6
    after 5000 ->
            timeout
    end.

%% Drops late messages of an earlier change.
flush() ->
    receive {rlbench_loaded, _, _} -> flush()
    after 0 -> ok
    end.

%% Prints the table: p50, p90, p99, mean and max in ms per chain, and
%% the ratio of the p50s.
report(N, Times) ->
    io:format("~nErlang: beam written -> new code callable, ~b changes per "
              "chain (ms)~n~n", [N]),
    io:format("| ~-28s | ~9s | ~9s | ~9s | ~9s | ~9s |~n",
              ["chain", "p50", "p90", "p99", "mean", "max"]),
    io:format("|~s|----------:|----------:|----------:|----------:|"
              "----------:|~n", [lists:duplicate(30, $-)]),
    P50 = [row(Name, maps:get(C, Times))
           || {C, Name} <- [{reloader, "reloader_client (settle = 0)"},
                            {poller, "mtime poller, 1 s (mochiweb)"}]],
    case P50 of
        [A, B] when is_float(A), is_float(B), A > 0 ->
            io:format("~nreloader_client p50: ~.3f ms (target: under 5); "
                      "the poller's p50 is ~.1f times that~n", [A, B / A]);
        _ -> ok
    end.

%% Prints one chain's row; returns its p50.
row(Name, Times0) ->
    Timeouts = length([T || T <- Times0, T =:= timeout]),
    case lists:sort([T || T <- Times0, is_float(T)]) of
        [] ->
            io:format("| ~-28s | no change reloaded |~n", [Name]),
            undefined;
        Times ->
            P = fun(Q) -> pct(Q, Times) end,
            io:format("| ~-28s | ~9.3f | ~9.3f | ~9.3f | ~9.3f | ~9.3f |~s~n",
                      [Name, P(0.50), P(0.90), P(0.99),
                       lists:sum(Times) / length(Times), lists:last(Times),
                       case Timeouts of
                           0 -> "";
                           _ -> io_lib:format(" ~b timed out", [Timeouts])
                       end]),
            P(0.50)
    end.

%% The Q quantile of sorted values (nearest rank).
pct(Q, Sorted) ->
    lists:nth(max(1, ceil(Q * length(Sorted))), Sorted).
