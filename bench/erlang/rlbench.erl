%% @doc The Erlang reload latency benchmark (bench/README.md, run by
%% bench/erlang/run.sh): the time from "the beam is written" (the
%% rename(2) that puts a new build in place) to "the new code is
%% callable", for reloader_client driven by reloaderd in this node and,
%% in the same run and taking turns change by change, for mochiweb's
%% own reloader (the `reloader' module of Debian's erlang-mochiweb) in
%% a second node.
%%
%% mochiweb's reloader reloads every loaded module whose beam's mtime
%% changed, so it cannot share a node with reloader_client's chain (both
%% would reload its module): it runs in a peer node (peer, over the
%% peer's standard I/O: no distribution) where only its chain's module
%% is loaded, and reloader_client's chain module is loaded only here.
%% Each chain is run by a process in the node that owns it (chain/3):
%% asked for a change, it writes the other prebuilt version of its
%% module (1 or 2) to a temporary file in the module's directory,
%% starts its clock, renames the file into place, waits for the message
%% the new version's test/0 sends (both reloaders call test/0 right
%% after loading; no busy loop), calls Mod:version() and stops the clock
%% once that returns the new version.  So both clocks start at the same
%% kind of instant and are read in one node each; the driver only takes
%% turns.  Each round (one change per chain) starts after a random pause
%% of up to a second, so that changes fall at any phase of the
%% reloaders' one-second ticks, as edits do; within a round the changes
%% are 5 ms apart.
-module(rlbench).

-export([main/1, chain/3, wait_attached/1, peer_chain/1, peer_change/1,
         peer_stop/0]).

-define(WARMUP, 10).
-define(GAP_MS, 5).
-define(PHASE_MS, 1000).
-define(WAIT_MS, 5000).

%% @doc Runs the benchmark: [Dir, Changes, Socket] as strings; prints a
%% Markdown table and halts.
main([Dir, NStr, Sock]) ->
    N = list_to_integer(NStr),
    Mine = spawn_chain(Dir, "a"),
    {ok, _} = reloader_client:start(#{socket => Sock}),
    ok = wait_attached(500),
    Chains = [{reloader, fun(V) -> ask(Mine, V) end} | mochiweb(Dir)],
    Times = run(1, ?WARMUP + N, Chains,
                maps:from_list([{C, []} || {C, _} <- Chains])),
    report(N, Times, stop_mochiweb(Chains, Dir)),
    halt(0).

%% Starts a chain's process in this node and waits until its module is
%% loaded.
spawn_chain(Dir, Suffix) ->
    Self = self(),
    Pid = spawn_link(?MODULE, chain, [Self, Dir, Suffix]),
    receive {Pid, ready} -> Pid end.

%% @doc A chain's process: registered as rlbench (the name the module's
%% test/0 tells), it puts version 1 of its module in place, loads it,
%% says ready to Parent, then makes each change it is asked for.
chain(Parent, Dir, Suffix) ->
    register(rlbench, self()),
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
    Parent ! {self(), ready},
    chain_loop(#{mod => Mod, dest => Dest, bins => Bins,
                 tmp => filename:join(Where, ".rlbench.tmp")}).

%% Makes the changes asked for, one at a time.
chain_loop(Ch) ->
    receive
        {change, From, Version} ->
            From ! {self(), change(Ch, Version)},
            chain_loop(Ch);
        {stop, From} ->
            From ! {self(), stopped}
    end.

%% Asks a chain's process for a change; returns its time.
ask(Pid, Version) ->
    Pid ! {change, self(), Version},
    receive {Pid, T} -> T end.

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
    after ?WAIT_MS ->
            timeout
    end.

%% Drops late messages of an earlier change.
flush() ->
    receive {rlbench_loaded, _, _} -> flush()
    after 0 -> ok
    end.

%%% mochiweb's reloader, in a peer node

%% The mochiweb chain, started in a peer node, or none (said why) when
%% erlang-mochiweb is not installed.
mochiweb(Dir) ->
    case code:which(reloader) of
        non_existing ->
            io:format("note: mochiweb's reloader (module reloader, Debian's "
                      "erlang-mochiweb) is not installed; measuring "
                      "reloader_client alone (scripts/deps.sh bench installs "
                      "it)~n"),
            [];
        _ ->
            Ebin = filename:dirname(code:which(?MODULE)),
            {ok, Peer, _} =
                peer:start_link(#{connection => standard_io,
                                  args => ["-pa", Ebin, "-kernel",
                                           "logger_level", "warning"]}),
            ok = peer:call(Peer, ?MODULE, peer_chain, [Dir], ?WAIT_MS),
            put(peer, Peer),
            [{mochiweb, fun(V) ->
                                peer:call(Peer, ?MODULE, peer_change, [V],
                                          2 * ?WAIT_MS)
                        end}]
    end.

%% @doc In the peer: starts the chain's process (rlbench_b, from Dir/b)
%% and then mochiweb's reloader, its "Reloading ..." lines going to
%% Dir/mochiweb-reloader.log.
peer_chain(Dir) ->
    Self = self(),
    Starter = spawn(fun() ->
                            Chain = spawn_chain(Dir, "b"),
                            {ok, Log} = file:open(filename:join(
                                                    Dir, "mochiweb-reloader"
                                                    ".log"), [write]),
                            group_leader(Log, self()),
                            {ok, _} = reloader:start(),
                            Self ! {self(), Chain},
                            receive stop -> ok end
                    end),
    receive
        {Starter, Chain} ->
            persistent_term:put(rlbench_chain, {Chain, Starter}),
            ok
    end.

%% @doc In the peer: one change of the mochiweb chain; its time.
peer_change(Version) ->
    {Chain, _} = persistent_term:get(rlbench_chain),
    ask(Chain, Version).

%% @doc In the peer: stops the reloader (its log is then complete).
peer_stop() ->
    {Chain, Starter} = persistent_term:get(rlbench_chain),
    stopped = reloader:stop(),
    Chain ! {stop, self()},
    receive {Chain, stopped} -> ok end,
    Starter ! stop,
    ok.

%% Stops the peer node; returns what mochiweb's log says it reloaded:
%% [{Module, Times}], or none without the mochiweb chain.
stop_mochiweb(Chains, Dir) ->
    case lists:keymember(mochiweb, 1, Chains) of
        false ->
            none;
        true ->
            Peer = get(peer),
            ok = peer:call(Peer, ?MODULE, peer_stop, []),
            peer:stop(Peer),
            {ok, Log} = file:read_file(filename:join(
                                         Dir, "mochiweb-reloader.log")),
            Mods = [M || [M] <- element(2, re:run(Log, "Reloading ([a-z_0-9]+)",
                                                  [global, {capture,
                                                            all_but_first,
                                                            list}]))],
            [{M, length([X || X <- Mods, X =:= M])} || M <- lists:usort(Mods)]
    end.

%%% The run

%% @doc Waits until reloader_client is attached and its registrations
%% are answered, looking Tries times at most.
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
    %% A random pause, so that changes fall at any phase of the
    %% reloaders' one-second ticks, as edits do.
    timer:sleep(rand:uniform(?PHASE_MS)),
    Acc1 = lists:foldl(
             fun({C, Change}, A) ->
                     T = Change(Version),
                     timer:sleep(?GAP_MS),
                     case I > ?WARMUP of
                         true -> A#{C := [T | maps:get(C, A)]};
                         false -> A
                     end
             end, Acc, Chains),
    run(I + 1, Last, Chains, Acc1).

%% Prints the table: p50, p90, p99, mean and max in ms per chain, the
%% ratio of the p50s, and what mochiweb's reloader reloaded.
report(N, Times, Reloaded) ->
    io:format("~nErlang: beam written -> new code callable, ~b changes per "
              "chain (ms)~n~n", [N]),
    io:format("| ~-32s | ~9s | ~9s | ~9s | ~9s | ~9s |~n",
              ["chain", "p50", "p90", "p99", "mean", "max"]),
    io:format("|~s|----------:|----------:|----------:|----------:|"
              "----------:|~n", [lists:duplicate(34, $-)]),
    P50 = [row(Name, maps:get(C, Times))
           || {C, Name} <- [{reloader, "reloader_client (settle = 0)"},
                            {mochiweb, "mochiweb reloader (other node)"}],
              is_map_key(C, Times)],
    case P50 of
        [A | Rest] when is_float(A), A > 0 ->
            io:format("~nreloader_client p50: ~.3f ms (target: under 1.5)",
                      [A]),
            case Rest of
                [B] when is_float(B) ->
                    io:format("; mochiweb's reloader's p50 is ~b times "
                              "that~n", [round(B / A)]);
                _ -> io:format("~n")
            end;
        _ -> ok
    end,
    case Reloaded of
        none -> ok;
        _ -> io:format("mochiweb's reloader reloaded: ~s~n",
                       [lists:join(", ", [io_lib:format("~s ~b times", [M, K])
                                          || {M, K} <- Reloaded])])
    end.

%% Prints one chain's row; returns its p50.
row(Name, Times0) ->
    Timeouts = length([T || T <- Times0, T =:= timeout]),
    case lists:sort([T || T <- Times0, is_float(T)]) of
        [] ->
            io:format("| ~-32s | no change reloaded |~n", [Name]),
            undefined;
        Times ->
            P = fun(Q) -> pct(Q, Times) end,
            io:format("| ~-32s | ~9.3f | ~9.3f | ~9.3f | ~9.3f | ~9.3f |~s~n",
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
