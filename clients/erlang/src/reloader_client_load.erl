%% @doc Loading a batch of modules into this node, the way OTP's
%% release_handler would, and reporting how each one ended.
%%
%% A batch is loaded all or nothing: every module's object code is read
%% and checked, old code left from an earlier reload is purged, the
%% whole set is prepared with code:prepare_loading/1 and made current at
%% once with code:finish_loading/1.  Processes whose callback module
%% changes (gen_server, gen_statem, supervisor: any sys process started
%% through proc_lib) are suspended around the swap and their state
%% migrated with sys:change_code/5, as release_handler does for
%% `{update, Mod, {advanced, Extra}}': on upgrade after the load, on
%% downgrade (a rollback) before it.  The version made old is then soft
%% purged; a process still running it is reported and left alive, and
%% the purge is retried later.  Last, Mod:test/0 runs when exported.
%%
%% The context this module keeps between batches holds, per module, the
%% object code of the current version and of the previous one (for
%% rollbacks) and the old versions still waiting to be purged.
-module(reloader_client_load).

-export([new/0, run/2, run_apps/2, prepare_batch/2, commit_batch/2,
         retry_purges/1, vsn_current/1, procs_of/1,
         remember/4, lingering/1, current_stamp/1, stamp/1, fmt/1]).

-type ctx() :: #{kept := #{module() => map()},
                 lingering := #{module() => map()},
                 apps => #{atom() => map()},
                 events => [tuple()]}.
-type prep() :: #{work := [map()], prepared := term(),
                  on_load := [tuple()], warns := [tuple()], load := float(),
                  early := [map()], items := [map()],
                  plans => [reloader_client_appup:plan()]}.
-export_type([ctx/0, prep/0]).

%% @doc A context with nothing kept and nothing lingering.
-spec new() -> ctx().
new() ->
    #{kept => #{}, lingering => #{}}.

%% @doc The stamp of an MD5 as the protocol writes it: md5:HEX.
-spec stamp(binary()) -> binary().
stamp(Md5) ->
    <<"md5:", << <<(hex(N))>> || <<N:4>> <= Md5 >>/binary>>.

%% A lowercase hex digit.
hex(N) when N < 10 -> $0 + N;
hex(N) -> $a + N - 10.

%% @doc The stamp of the code this node runs now for a module, or
%% `undefined' when it has no current code.
-spec current_stamp(module()) -> binary() | undefined.
current_stamp(Mod) ->
    try stamp(erlang:get_module_info(Mod, md5))
    catch error:badarg -> undefined
    end.

%% @doc Keeps the object code a module was loaded from, when the policy
%% says so and the file still holds exactly that version, so that a
%% later reload can be rolled back to it.
-spec remember(module(), string(), binary(), ctx()) -> ctx().
remember(Mod, File, Stamp, #{kept := Kept} = Ctx) ->
    case Kept of
        #{Mod := #{cur := {Stamp, _}}} ->
            Ctx;
        _ ->
            case reloader_client_config:keep_previous(Mod, File) andalso
                file:read_file(File) of
                {ok, Bin} ->
                    case beam_lib:md5(Bin) of
                        {ok, {Mod, Md5}} ->
                            case stamp(Md5) of
                                Stamp -> keep(Mod, {Stamp, Bin}, Ctx);
                                _ -> Ctx
                            end;
                        _ -> Ctx
                    end;
                _ -> Ctx
            end
    end.

%% Records the object code of a module's current version, the one it
%% replaces becoming the previous.
keep(Mod, {_Stamp, _Bin} = Cur, #{kept := Kept} = Ctx) ->
    Prev = case Kept of
               #{Mod := #{cur := {S, _} = Old}} when S =/= element(1, Cur) ->
                   Old;
               #{Mod := #{prev := Old}} -> Old;
               _ -> undefined
           end,
    Ctx#{kept := Kept#{Mod => #{cur => Cur, prev => Prev}}}.

%% @doc The modules whose old code some process still runs, with the
%% processes, as text.
-spec lingering(ctx()) -> #{module() => binary()}.
lingering(#{lingering := L}) ->
    maps:map(fun(_Mod, #{why := Why}) -> Why end, L).

%% @doc Loads a batch.  Each item is a map with `name', `path', `stamp',
%% `was', `action' (load, rollback, or `{unknown, Text}'), optionally
%% `force' (true: load even the version that runs), and for reloads
%% pushed by another node also `bin' (the object code) and `pushed'
%% (true: skip modules not loaded here).  Returns one result per item
%% answered (a map with `name', `status', `stamp', and optionally
%% `failed' (the step that failed: load, purge, 'code-change' or test),
%% `reason', `load', `state', `test', `purge', `quiet' (nothing worth
%% telling: the version already ran), `rollback' (true for a rollback),
%% and `bin', the code now current), the `purged' events of old code that
%% went away meanwhile, and the new context.
-spec run([map()], ctx()) -> {[map()], [tuple()], ctx()}.
run(Items, Ctx0) ->
    T0 = now_ms(),
    {Work, Early} = resolve(Items, Ctx0, [], []),
    {Results, Events, Ctx} = load_set(Work, T0, Ctx0),
    Back = [N || #{name := N, action := rollback} <- Items],
    {[case lists:member(N, Back) of
          true -> R#{rollback => true};
          false -> R
      end || #{name := N} = R <- Early ++ Results],
     Events ++ maps:get(events, Ctx, []), maps:remove(events, Ctx)}.

%% @doc Loads a batch that may hold applications' `.app' and `.appup'
%% files (reloader_client_appup): each application whose vsn changes and
%% whose appup has instructions from the running vsn is upgraded by them
%% (or, for a rollback, downgraded), its modules in the batch answered
%% by what the appup loaded; everything else is loaded by run/2.
-spec run_apps([map()], ctx()) -> {[map()], [tuple()], ctx()}.
run_apps(Items, Ctx0) ->
    case reloader_client_appup:split(Items) of
        {Apps, _} when map_size(Apps) =:= 0 ->
            run(Items, Ctx0);
        {Apps, Mods} ->
            T0 = now_ms(),
            {Plans, Oks, Fails} = reloader_client_appup:plan(Apps, Ctx0),
            {AppRes, Done, Ctx1} = upgrade_all(Plans, T0, Ctx0),
            {ModRes, Rest} = by_appup(Mods, Done, []),
            {Res, Events, Ctx} = run(Rest, Ctx1),
            {AppRes ++ Oks ++ Fails ++ ModRes ++ Res, Events, Ctx}
    end.

%% Carries out each application's plan; returns the results of its
%% files, what became of each (`{Plan, ok | failed, Why}'), and the
%% context with each application's versions kept.
upgrade_all(Plans, T0, Ctx0) ->
    lists:foldl(
      fun(#{app := App} = P, {Res, Done, C}) ->
              Apps = maps:get(apps, C, #{}),
              {Out, Rs, Why, Kept} =
                  reloader_client_appup:upgrade(P, T0, maps:get(App, Apps,
                                                                #{})),
              {Res ++ Rs, [{P, Out, Why} | Done],
               C#{apps => Apps#{App => Kept}}}
      end, {[], [], Ctx0}, Plans).

%% Answers the modules of a batch that an application's appup took: ok
%% when the node now runs the stamp asked for (the appup loaded it),
%% load-failed with the application's reason when its upgrade failed;
%% the others are left to load as usual (a module the appup did not
%% name is reloaded on its own).
by_appup([], _Done, Acc) ->
    {lists:reverse(Acc), []};
by_appup([#{name := Name, stamp := Want} = I | Rest], Done, Acc) ->
    Mod = try binary_to_existing_atom(Name, utf8)
          catch error:badarg -> undefined
          end,
    Cur = current_stamp(Mod),
    Owner = [{P, Out, Why} || {#{mods := Mods} = P, Out, Why} <- Done,
                              lists:member(Mod, Mods)],
    case Owner of
        [{#{app := App}, ok, _} | _] when Cur =:= Want ->
            _ = App,
            R = #{name => Name, status => ok, stamp => Cur},
            by_appup(Rest, Done, [R | Acc]);
        [{_, failed, Why} | _] ->
            R = failed(Name, case Cur of
                                 undefined -> maps:get(was, I, <<"none:">>);
                                 _ -> Cur
                             end, load, ["not loaded: ", Why]),
            by_appup(Rest, Done, [R | Acc]);
        _ ->
            {Res, Left} = by_appup(Rest, Done, Acc),
            {Res, [I | Left]}
    end.

%% @doc Prepares a batch of protocol version 2 without making any of it
%% current: each module resolved, read and checked, old code left by an
%% earlier reload purged (softly, or as the policy says), and the whole
%% set handed to code:prepare_loading/1, whose verdict is the loader's.
%% Returns `{ok, Prep, Results, Events, Ctx}', every result `prepared'
%% with the stamp it would switch to, or `{failed, Results, Events,
%% Ctx}' when any module failed, every module then given up with a
%% reason naming the culprits.  Items are those of run/2.
-spec prepare_batch([map()], ctx()) ->
          {ok, prep(), [map()], [tuple()], ctx()}
        | {failed, [map()], [tuple()], ctx()}.
prepare_batch(Items, Ctx0) ->
    T0 = now_ms(),
    {Apps, Mods0} = reloader_client_appup:split(Items),
    {Plans, AppOks, AppFails} =
        case map_size(Apps) of
            0 -> {[], [], []};
            _ -> reloader_client_appup:plan(Apps, Ctx0)
        end,
    %% The modules an appup will load are its to load, at the commit.
    Owned = lists:append([Ms || #{mods := Ms} <- Plans]),
    {Taken, Mods} = lists:partition(
                      fun(#{name := N}) -> lists:member(atom_of(N), Owned) end,
                      Mods0),
    Later = [#{name => N, status => ok, stamp => W}
             || #{name := N, stamp := W} <- Taken] ++
        [#{name => N, status => ok, stamp => S}
         || #{items := Is} <- Plans, #{name := N, stamp := S} <- Is],
    {Work0, Early} = resolve(Mods, Ctx0, [], []),
    Fails = [R || #{status := S} = R <- Early, S =/= ok] ++ AppFails,
    Current = [R || #{status := ok} = R <- Early] ++ AppOks,
    case Fails of
        [] ->
            prepare_work(Items, Work0, Current, Later, Plans, T0, Ctx0);
        _ ->
            {failed, mark_back(Items, gave_up(Work0, [], Fails,
                                              Current ++ now_run(Later))),
             [], Ctx0}
    end.

%% The atom of a module name, or undefined.
atom_of(Name) ->
    try binary_to_existing_atom(Name, utf8)
    catch error:badarg -> undefined
    end.

%% Results of items left for the commit, with the stamps the node runs
%% now (for a set given up).
now_run(Later) ->
    [R#{stamp => case current_stamp(atom_of(N)) of
                     undefined -> S;
                     Cur -> Cur
                 end} || #{name := N, stamp := S} = R <- Later].

%% Reads, purges and prepares the modules to load; see prepare_batch/2.
%% Later are the results, once prepared, of the files that the
%% applications' Plans load at the commit.
prepare_work(Items, Work0, Current, Later, Plans, T0, Ctx0) ->
    case read_all(Work0, [], []) of
        {Work1, []} ->
            {Purge, Ctx1} = prepurge(Work1, Ctx0),
            Events = [E || {purged, _, _, _} = E <- Purge],
            Work = [W#{old_vsn => vsn_current(Mod), together => true}
                    || #{mod := Mod} = W <- Work1],
            Errors = [{M, purge, Why} || {error, M, Why} <- Purge],
            Prepped = case Errors of
                          [] -> prepare(Work);
                          _ -> {error, Errors}
                      end,
            case Prepped of
                {ok, Prepared, OnLoad} ->
                    Ms = now_ms() - T0,
                    Warns = [{M, Why} || {warn, M, Why} <- Purge],
                    Res = [prepared_result(W, Ms, Warns) || W <- Work] ++
                        [R#{status => prepared} || R <- Current ++ Later],
                    Prep = #{work => Work, prepared => Prepared,
                             on_load => OnLoad, warns => Warns, load => Ms,
                             early => Current, items => Items,
                             plans => Plans},
                    {ok, Prep, mark_back(Items, Res), Events, Ctx1};
                {error, Errs} ->
                    {failed, mark_back(Items, gave_up(Work, Errs, [],
                                                      Current ++
                                                          now_run(Later))),
                     Events, Ctx1}
            end;
        {Work1, Errors} ->
            {failed, mark_back(Items, gave_up(Work1, Errors, [],
                                              Current ++ now_run(Later))), [],
             Ctx0}
    end.

%% The result of one module prepared: the stamp it would switch to.
prepared_result(#{name := Name, mod := Mod, new := New}, Ms, Warns) ->
    R = #{name => Name, status => prepared, stamp => New, load => Ms},
    case lists:keyfind(Mod, 1, Warns) of
        {Mod, Warn} -> warn(R, Warn);
        false -> R
    end.

%% Every module of a batch given up because some failed: the culprits
%% (Errors of the modules to load, as `{Mod, Step, Why}', and Fails,
%% the results of those refused at once) keep their own reasons, the
%% others, those already current included, are load-failed naming them.
gave_up(Work, Errors, Fails, Current) ->
    Names = [atom_to_list(M) || {M, _, _} <- lists:reverse(Errors)] ++
        [binary_to_list(N) || #{name := N} <- Fails],
    Step = case lists:usort([S || {_, S, _} <- Errors] ++
                                [S || #{failed := S} <- Fails]) of
               [purge] -> purge;
               _ -> load
           end,
    Why = ["not prepared: the batch switches all or nothing, and ",
           lists:join(", ", Names), " failed"],
    [case lists:keyfind(Mod, 1, Errors) of
         {Mod, S, W} -> failed(Name, Cur, S, W);
         false -> failed(Name, Cur, Step, Why)
     end || #{mod := Mod, name := Name, cur := Cur} <- Work] ++
        Fails ++ [failed(Name, S, Step, Why) || #{name := Name, stamp := S}
                                                    <- Current].

%% Marks the results of rollbacks, for the log and the console.
mark_back(Items, Results) ->
    Back = [N || #{name := N, action := rollback} <- Items],
    [case lists:member(N, Back) of
         true -> R#{rollback => true};
         false -> R
     end || #{name := N} = R <- Results].

%% @doc Makes a prepared batch current at once, as release_handler does:
%% the processes to migrate suspended, downgrades migrated, the set
%% made current by code:finish_loading/1 (the switch, whose instant on
%% CLOCK_MONOTONIC is returned, in seconds), upgrades migrated, the
%% processes resumed, the old code purged, and each test/0 run.  Since
%% neither code_change/3 nor test/0 of the new code can run before it is
%% current, their failures come after the switch: a failed migration
%% undoes the whole batch in this node (as run/2 does), and so does a
%% failed test under rollback_on_test_failure; the outcome is then
%% `{aborted, Why}' (this node runs the old code, with its old state),
%% otherwise `{committed, Note}', Note naming failed tests (the new
%% code kept) or undefined.
-spec commit_batch(prep(), ctx()) ->
          {{committed, binary() | undefined} | {aborted, binary()},
           float(), [map()], [tuple()], ctx()}.
commit_batch(#{work := Work, prepared := Prepared, on_load := OnLoad,
               warns := Warns, load := PrepMs, early := Early,
               items := Items} = Prep, Ctx0) ->
    T0 = now_ms(),
    Held = suspend(sys_procs(Work)),
    Down = change_code([W || #{dir := down} = W <- Work], Held),
    Loaded = finish(Prepared, OnLoad),
    At = switch_time(),
    LoadMs = PrepMs + now_ms() - T0 - state_total(Down),
    {Outcome, Res, Ctx1} =
        case Loaded of
            ok ->
                Up = change_code([W || #{dir := up} = W <- Work], Held),
                {Res0, C0} = after_load(Work, Held, Down ++ Up, Warns, LoadMs,
                                        Ctx0),
                settle(Work, Res0, C0);
            {error, Errors} ->
                resume(Held),
                Failed = all_failed(Work, Errors),
                {{aborted, iolist_to_binary(
                             ["the switch failed: ",
                              lists:join("; ", [[N, ": ", W] ||
                                                   #{name := N, reason := W}
                                                       <- Failed])])},
                 Failed, Ctx0}
        end,
    Quiet = [R#{status => ok, quiet => true} || R <- Early],
    {Outcome1, AppRes, Ctx2} = commit_apps(Outcome, Prep, Ctx1),
    {Outcome1, At, mark_back(Items, Res ++ Quiet ++ AppRes),
     maps:get(events, Ctx2, []), maps:remove(events, Ctx2)}.

%% Upgrades, after the modules switched, the applications whose appups
%% were checked at the prepare.  Their files and modules are answered as
%% run_apps/2 answers them; an upgrade that fails leaves that
%% application on its version, which the commit's outcome names.
commit_apps(Outcome, #{plans := Plans, items := Items}, Ctx) when Plans =/= [] ->
    {AppRes, Done, Ctx1} = upgrade_all(Plans, now_ms(), Ctx),
    {_Apps, Mods} = reloader_client_appup:split(Items),
    Owned = lists:append([Ms || #{mods := Ms} <- Plans]),
    Taken = [I || #{name := N} = I <- Mods, lists:member(atom_of(N), Owned)],
    {ModRes, Left} = by_appup(Taken, Done, []),
    {Res, Events, Ctx2} = run(Left, Ctx1),
    Ctx3 = Ctx2#{events => maps:get(events, Ctx1, []) ++ Events},
    Failed = [Why || {_, failed, Why} <- Done],
    Out = case {Outcome, Failed} of
              {_, []} -> Outcome;
              {{committed, undefined}, _} ->
                  {committed, iolist_to_binary(lists:join("; ", Failed))};
              {{committed, Note}, _} ->
                  {committed, iolist_to_binary(lists:join("; ",
                                                          [Note | Failed]))};
              {{aborted, _}, _} -> Outcome
          end,
    {Out, AppRes ++ ModRes ++ Res, Ctx3};
commit_apps(Outcome, _Prep, Ctx) ->
    {Outcome, [], Ctx}.

%% The instant of the switch: the OS's monotonic clock as the VM reads
%% it (CLOCK_MONOTONIC on Linux, the clock libreloader's at= uses), in
%% seconds.  erlang:monotonic_time/0 is that clock plus an offset of the
%% VM's own, so it is not sent.
switch_time() ->
    Src = erlang:system_info(os_monotonic_time_source),
    case lists:keyfind(time, 1, Src) of
        {time, T} -> erlang:convert_time_unit(T, native, microsecond) / 1.0e6;
        false -> erlang:monotonic_time(microsecond) / 1.0e6
    end.

%% What a committed batch came to after the switch, in this node: a
%% state migration that failed undid the batch (every result
%% rolled-back); a test that failed under rollback_on_test_failure undoes
%% it now, every module going back together; other failed tests leave
%% the new code current, and are named in the note.
settle(Work, Res, Ctx) ->
    Tests = [[N, ": ", W] || #{name := N, failed := test, reason := W} <- Res],
    case [R || #{status := 'rolled-back'} = R <- Res] of
        [#{reason := Why} | _] ->
            {{aborted, iolist_to_binary(["after the switch: ", Why,
                                         "; this node went back to the "
                                         "versions it ran"])}, Res, Ctx};
        [] ->
            case [R || #{undo := true} = R <- Res] of
                [] when Tests =:= [] ->
                    {{committed, undefined}, Res, Ctx};
                [] ->
                    {{committed, iolist_to_binary(
                                   ["new code kept although a test failed: ",
                                    lists:join("; ", Tests)])}, Res, Ctx};
                _ ->
                    undo_batch(Work, Res, Tests, Ctx)
            end
    end.

%% Takes every module of a committed batch back to the version it ran
%% before, together, because a test failed under
%% rollback_on_test_failure.
undo_batch(Work, Res, Tests, Ctx) ->
    Why = iolist_to_binary(lists:join("; ", Tests)),
    Items = [#{name => Name, path => Path, stamp => Cur, was => New,
               action => rollback}
             || #{name := Name, path := Path, cur := Cur, new := New} <- Work],
    {Back, Events, Ctx1} = run(Items, Ctx),
    Ctx2 = Ctx1#{events => maps:get(events, Ctx, []) ++ Events},
    case [B || #{status := S} = B <- Back, S =/= ok] of
        [] ->
            Rolled = [maps:without([undo, bin],
                                   R#{status => 'rolled-back', stamp => Cur,
                                      failed => test,
                                      reason => iolist_to_binary(
                                                  ["rolled back with the "
                                                   "batch: ", Why])})
                      || {R, #{cur := Cur}} <- lists:zip(Res, Work)],
            {{aborted, iolist_to_binary(["after the switch a test failed: ",
                                         Why, "; this node went back to the "
                                         "versions it ran"])}, Rolled, Ctx2};
        Stuck ->
            Undo = lists:join("; ", [[N, ": ", W] || #{name := N, reason := W}
                                                         <- Stuck]),
            Kept = [maps:remove(undo, warn(R, ["could not roll back: ",
                                               Undo])) || R <- Res],
            {{committed, iolist_to_binary(["a test failed (", Why,
                                           ") and the batch could not be "
                                           "rolled back: ", Undo])},
             Kept, Ctx2}
    end.

%% Sorts the items into those to load and those answered at once (not
%% loaded here, one of our own, already current, nothing to roll back
%% to).
resolve([], _Ctx, Work, Early) ->
    {lists:reverse(Work), lists:reverse(Early)};
resolve([#{name := Name} = I | Rest], Ctx, Work, Early) ->
    Was = maps:get(was, I, <<"none:">>),
    Mod = try binary_to_existing_atom(Name, utf8)
          catch error:badarg -> undefined
          end,
    Cur = case Mod of
              undefined -> undefined;
              _ -> current_stamp(Mod)
          end,
    Pushed = maps:get(pushed, I, false),
    if
        Cur =:= undefined, Pushed ->
            resolve(Rest, Ctx, Work, Early);
        Cur =:= undefined ->
            R = failed(Name, Was, load, ["module ", Name, " is not loaded in "
                                         "this node; nothing to reload"]),
            resolve(Rest, Ctx, Work, [R | Early]);
        true ->
            case reloader_client_config:own(Mod) of
                true ->
                    R = failed(Name, Cur, load, ["reloader_client never "
                                                 "reloads its own modules"]),
                    resolve(Rest, Ctx, Work, [R | Early]);
                false ->
                    resolve1(I#{mod => Mod, cur => Cur}, Rest, Ctx, Work,
                             Early)
            end
    end.

%% Finds the object code for one loaded module to be reloaded.  A
%% version the node already runs (loaded by hand, with c/1 or l/1, or
%% pushed by another node) is answered ok, quietly, unless the daemon
%% forces the load.
resolve1(#{name := Name, mod := Mod, cur := Cur, stamp := Want} = I, Rest,
         Ctx, Work, Early) ->
    Action = maps:get(action, I, load),
    Force = maps:get(force, I, false),
    case {Action, Cur} of
        {{unknown, A}, _} ->
            R = failed(Name, Cur, load, ["unknown action \"", A, "\""]),
            resolve(Rest, Ctx, Work, [R | Early]);
        {_, Want} when not Force ->
            R = #{name => Name, status => ok, stamp => Cur, quiet => true},
            resolve(Rest, Ctx, Work, [R | Early]);
        {load, _} ->
            W = I#{dir => up, file => to_file(maps:get(path, I))},
            resolve(Rest, Ctx, [W | Work], Early);
        {rollback, _} when is_map_key(bin, I) ->
            W = I#{dir => down, file => to_file(maps:get(path, I))},
            resolve(Rest, Ctx, [W | Work], Early);
        {rollback, _} ->
            case maps:get(kept, Ctx) of
                #{Mod := #{prev := {Want, Bin}}} ->
                    W = I#{dir => down, bin => Bin, file => which(Mod, I)},
                    resolve(Rest, Ctx, [W | Work], Early);
                #{Mod := #{prev := {Other, _}}} ->
                    R = failed(Name, Cur, load,
                               ["no previous version kept with stamp ", Want,
                                " (the one kept is ", Other, ")"]),
                    resolve(Rest, Ctx, Work, [R | Early]);
                _ ->
                    R = failed(Name, Cur, load, "no previous version kept"),
                    resolve(Rest, Ctx, Work, [R | Early])
            end
    end.

%% The file a module was loaded from, to load its previous version under.
which(Mod, I) ->
    case code:which(Mod) of
        F when is_list(F) -> F;
        _ -> to_file(maps:get(path, I))
    end.

%% Loads the modules of a batch that need loading, all or none.
load_set([], _T0, Ctx) ->
    {[], [], Ctx};
load_set(Work0, T0, Ctx0) ->
    case read_all(Work0, [], []) of
        {Work, []} ->
            {Purge, Ctx1} = prepurge(Work, Ctx0),
            Events = [E || {purged, _, _, _} = E <- Purge],
            case [{M, purge, Why} || {error, M, Why} <- Purge] of
                [] ->
                    Warns = [{M, Why} || {warn, M, Why} <- Purge],
                    {Results, Ctx} = swap(Work, Warns, T0, Ctx1),
                    {Results, Events, Ctx};
                Errors ->
                    {all_failed(Work, Errors), Events, Ctx1}
            end;
        {Work, Errors} ->
            {all_failed(Work, Errors), [], Ctx0}
    end.

%% Reads and checks the object code of every module to load; returns
%% the modules with their code and the errors, by module.
read_all([], Work, Errors) ->
    {lists:reverse(Work), Errors};
read_all([W | Rest], Work, Errors) ->
    case read(W) of
        {ok, W1} -> read_all(Rest, [W1 | Work], Errors);
        {error, Why} ->
            read_all(Rest, [W | Work],
                     [{maps:get(mod, W), load, Why} | Errors])
    end.

%% Reads one module's object code (unless it came with the batch) and
%% checks that it is a BEAM file of the right module.
read(#{mod := Mod, path := Path} = W) ->
    Got = case W of
              #{bin := Bin0} -> {ok, Bin0};
              _ -> file:read_file(Path)
          end,
    case Got of
        {ok, Bin} ->
            case beam_lib:md5(Bin) of
                {ok, {Mod, Md5}} ->
                    {ok, W#{bin => Bin, new => stamp(Md5),
                            exports => exports(Bin)}};
                {ok, {Other, _}} ->
                    {error, io_lib:format("wrong module name inside: ~s holds "
                                          "module ~s, not ~s",
                                          [Path, Other, Mod])};
                {error, beam_lib, Why} ->
                    {error, ["corrupt: ", Path, " is not a complete BEAM "
                             "file (", beam_lib:format_error(Why), ")"]}
            end;
        {error, enoent} ->
            {error, ["beam vanished: ", Path, " no longer exists (a failed "
                     "compile deletes it); the loaded version stays"]};
        {error, Why} ->
            {error, ["cannot read ", Path, ": ", file:format_error(Why)]}
    end.

%% The functions a BEAM file exports.
exports(Bin) ->
    case beam_lib:chunks(Bin, [exports]) of
        {ok, {_, [{exports, Exports}]}} -> Exports;
        _ -> []
    end.

%% Purges the old code left by an earlier reload of each module, so that
%% the new version can be loaded: softly, or by force where the policy
%% says so.  Returns, per module, `{purged, Mod, OldStamp, AfterMs}'
%% when a version we had reported as lingering left, `{warn, Mod, Why}'
%% when processes were killed, `{error, Mod, Why}' when old code is still
%% in use.
prepurge(Work, Ctx) ->
    lists:foldl(fun(#{mod := Mod, file := File}, {Acc, C}) ->
                        {Out, C1} = prepurge1(Mod, File, C),
                        {Out ++ Acc, C1}
                end, {[], Ctx}, Work).

%% Purges one module's old code before a load.
prepurge1(Mod, File, Ctx) ->
    case erlang:check_old_code(Mod) of
        false ->
            {[], Ctx};
        true ->
            case code:soft_purge(Mod) of
                true ->
                    gone(Mod, [], Ctx);
                false ->
                    Procs = old_code_procs(Mod),
                    case reloader_client_config:hard_purge(Mod, File) of
                        true ->
                            Why = iolist_to_binary(
                                    ["hard purge killed ",
                                     procs_text(Procs, "that ran old code")]),
                            code:purge(Mod),
                            gone(Mod, [{warn, Mod, Why}], Ctx);
                        false ->
                            Why = ["old code still in use, and a third "
                                   "version cannot be loaded while two are "
                                   "(policy: soft purge): ",
                                   procs_text(Procs, "still runs it")],
                            {[{error, Mod, Why}], blocked(Mod, Why, Ctx)}
                    end
            end
    end.

%% Notes old code that blocked a load as lingering, if it is not yet
%% (a version loaded by hand made it old): the purge is then retried
%% like any other, and its `purged' event is what tells the daemon to
%% offer the module again.  Its stamp is unknown: the VM reports none
%% for old code.
blocked(Mod, Why, #{lingering := L} = Ctx) ->
    case L of
        #{Mod := _} -> Ctx;
        _ -> Ctx#{lingering := L#{Mod => #{stamp => <<"none:">>,
                                           since => now_ms(),
                                           why => iolist_to_binary(Why)}}}
    end.

%% Notes that a module's old code left: a purged event if it had been
%% reported as lingering.
gone(Mod, Out, #{lingering := L} = Ctx) ->
    case L of
        #{Mod := #{stamp := S, since := Since}} ->
            {[{purged, Mod, S, now_ms() - Since} | Out],
             Ctx#{lingering := maps:remove(Mod, L)}};
        _ ->
            {Out, Ctx}
    end.

%% Answers load-failed for every module of a batch, naming the modules
%% that made it fail.  Errors are `{Mod, Step, Why}', Step being the
%% step that failed (load or purge); the other modules of the batch
%% failed at that step too, at purge only when every culprit did (they
%% can go in once the old code is purged).
all_failed(Work, Errors) ->
    Culprits = lists:join(", ", [atom_to_list(M)
                                 || {M, _, _} <- lists:reverse(Errors)]),
    Step = case lists:usort([S || {_, S, _} <- Errors]) of
               [purge] -> purge;
               _ -> load
           end,
    [case lists:keyfind(Mod, 1, Errors) of
         {Mod, S, Why} -> failed(Name, Cur, S, Why);
         false -> failed(Name, Cur, Step, ["not loaded: the batch loads all "
                                           "or nothing, and ", Culprits,
                                           " failed"])
     end || #{mod := Mod, name := Name, cur := Cur} <- Work].

%% Swaps a whole batch in: prepare, suspend the processes, migrate
%% (downgrades before the load), load, migrate (upgrades after it),
%% resume, purge, test.  Warns are the pre-purge warnings by module.
swap(Work0, Warns, T0, Ctx0) ->
    Work = [W#{old_vsn => vsn_current(Mod)} || #{mod := Mod} = W <- Work0],
    case prepare(Work) of
        {error, Errors} ->
            {all_failed(Work, Errors), Ctx0};
        {ok, Prepared, OnLoad} ->
            Held = suspend(sys_procs(Work)),
            Down = change_code([W || #{dir := down} = W <- Work], Held),
            Loaded = finish(Prepared, OnLoad),
            LoadMs = now_ms() - T0 - state_total(Down),
            case Loaded of
                ok ->
                    Up = change_code([W || #{dir := up} = W <- Work], Held),
                    after_load(Work, Held, Down ++ Up, Warns, LoadMs, Ctx0);
                {error, Errors} ->
                    resume(Held),
                    {all_failed(Work, Errors), Ctx0}
            end
    end.

%% Prepares every module's code; modules with -on_load cannot be
%% prepared, and are loaded one by one just before the others.
prepare(Work) ->
    Set = [{Mod, File, Bin} || #{mod := Mod, file := File, bin := Bin} <- Work],
    case code:prepare_loading(Set) of
        {ok, Prepared} ->
            {ok, Prepared, []};
        {error, Errs} ->
            case [M || {M, R} <- Errs, R =/= on_load_not_allowed] of
                [] ->
                    OnLoad = [E || {M, _, _} = E <- Set,
                                   lists:keymember(M, 1, Errs)],
                    case Set -- OnLoad of
                        [] ->
                            {ok, none, OnLoad};
                        Rest ->
                            case code:prepare_loading(Rest) of
                                {ok, Prepared} -> {ok, Prepared, OnLoad};
                                {error, Errs2} -> {error, reasons(Errs2, Work)}
                            end
                    end;
                _ ->
                    {error, reasons([E || {_, R} = E <- Errs,
                                          R =/= on_load_not_allowed], Work)}
            end
    end.

%% Loads the -on_load modules, stopping at the first that fails (its
%% old code stays), then makes the prepared code current at once.
finish(Prepared, []) ->
    case Prepared of
        none -> ok;
        _ ->
            case code:finish_loading(Prepared) of
                ok -> ok;
                {error, Errs} -> {error, [finish_error(M, Why)
                                          || {M, Why} <- Errs]}
            end
    end;
finish(Prepared, [{M, File, Bin} | OnLoad]) ->
    case code:load_binary(M, File, Bin) of
        {module, M} -> finish(Prepared, OnLoad);
        {error, Why} -> {error, [{M, load, ["its -on_load failed: ",
                                            fmt(Why)]}]}
    end.

%% Explains why the VM would not make a prepared module current: old
%% code that came back since the purge (the purge step failed), or
%% anything else (the load step).
finish_error(M, not_purged) ->
    {M, purge, "old code still in use (it came back after the purge)"};
finish_error(M, Why) ->
    {M, load, fmt(Why)}.

%% Explains why the VM refused to prepare modules.
reasons(Errs, Work) ->
    [{Mod, load, reason(Mod, Why, Work)} || {Mod, Why} <- Errs].

%% Explains one refusal: a newer OTP's code, or a corrupt file.
reason(Mod, badfile, Work) ->
    [#{bin := Bin, path := Path}] = [W || #{mod := M} = W <- Work, M =:= Mod],
    case {code_opcode_max(Bin), vm_opcode_max()} of
        {Theirs, Ours} when is_integer(Theirs), is_integer(Ours),
                            Theirs > Ours ->
            io_lib:format("compiled by a newer OTP: ~s uses opcode ~b, and "
                          "this VM (OTP ~s) knows up to ~b; recompile it "
                          "with this OTP's erlc",
                          [Path, Theirs, erlang:system_info(otp_release),
                           Ours]);
        _ ->
            ["corrupt or incompatible: the VM's loader refused ", Path,
             " (see the node's log for its message)"]
    end;
reason(_Mod, on_load_not_allowed, _Work) ->
    "it has -on_load";
reason(_Mod, Why, _Work) ->
    fmt(Why).

%% The highest opcode a BEAM file's code uses (its Code chunk header).
code_opcode_max(Bin) ->
    case beam_lib:chunks(Bin, ["Code"]) of
        {ok, {_, [{"Code", <<_Sub:32, _Set:32, Max:32, _/binary>>}]}} -> Max;
        _ -> undefined
    end.

%% The highest opcode this VM loads: the same OTP's compiler knows it.
vm_opcode_max() ->
    case code:ensure_loaded(beam_opcodes) of
        {module, _} -> vm_opcode_max(1);
        {error, _} -> undefined
    end.

%% Counts up the opcodes beam_opcodes names.
vm_opcode_max(N) ->
    try beam_opcodes:opname(N) of
        _ -> vm_opcode_max(N + 1)
    catch error:_ -> N - 1
    end.

%% Finds the sys processes (started through proc_lib by a gen_server,
%% gen_statem, supervisor...) whose callback module is being reloaded and
%% whose code that will do the migration exports code_change/3.
sys_procs(Work) ->
    Mods = maps:from_list([{Mod, W} || #{mod := Mod} = W <- Work,
                                       migrates(W)]),
    case map_size(Mods) of
        0 -> [];
        _ ->
            Self = self(),
            [{P, Mod} || P <- processes(), P =/= Self,
                         Mod <- [callback(P)], is_map_key(Mod, Mods)]
    end.

%% @doc The sys processes whose callback module Mod is (see callback/1),
%% but for the caller.
-spec procs_of(module()) -> [pid()].
procs_of(Mod) ->
    Self = self(),
    [P || P <- processes(), P =/= Self, callback(P) =:= Mod].

%% Whether the code that runs a module's state migration has one: the
%% new code on upgrade, the current code on downgrade.
migrates(#{dir := up, exports := Exports}) ->
    lists:member({code_change, 3}, Exports);
migrates(#{dir := down, mod := Mod}) ->
    erlang:function_exported(Mod, code_change, 3).

%% The callback module of a process started through proc_lib, from its
%% '$initial_call' (what proc_lib:translate_initial_call/1 reads).
callback(P) ->
    case erlang:process_info(P, dictionary) of
        {dictionary, Dict} ->
            case lists:keyfind('$initial_call', 1, Dict) of
                {_, {Mod, init, 1}} -> Mod;
                {_, {supervisor, Mod, 1}} -> Mod;
                {_, {supervisor_bridge, Mod, 1}} -> Mod;
                _ -> none
            end;
        undefined -> none
    end.

%% Suspends the processes; returns those that are held, with their
%% module.
suspend(Procs) ->
    T = reloader_client_config:suspend_timeout(),
    [PM || {P, _} = PM <- Procs,
           try sys:suspend(P, T), true catch exit:_ -> false end].

%% Resumes held processes.
resume(Held) ->
    T = reloader_client_config:suspend_timeout(),
    [catch sys:resume(P, T) || {P, _} <- Held],
    ok.

%% Runs sys:change_code/5 in every held process of each module; returns,
%% per module, the time it took and the processes that failed.
change_code(Work, Held) ->
    T = reloader_client_config:suspend_timeout(),
    [begin
         Vsn = case W of
                   #{dir := up, old_vsn := Old} -> Old;
                   #{dir := down, bin := Bin} -> {down, vsn_of(Bin)}
               end,
         Extra = reloader_client_config:code_change_extra(Mod),
         T0 = now_ms(),
         Out = [{P, try sys:change_code(P, Mod, Vsn, Extra, T) of
                        {error, {error, Why}} -> {error, Why};
                        Other -> Other
                    catch exit:Why -> {error, Why}
                    end} || {P, M} <- Held, M =:= Mod],
         {Mod, #{ms => now_ms() - T0,
                 ok => [P || {P, ok} <- Out],
                 failed => [{P, Why} || {P, {error, Why}} <- Out]}}
     end || #{mod := Mod} = W <- Work,
            Held =/= [], lists:keymember(Mod, 2, Held)].

%% The total time of the state migrations.
state_total(Changes) ->
    lists:sum([Ms || {_, #{ms := Ms}} <- Changes]).

%% @doc The version of the current code of a module (its -vsn), as
%% release_handler hands it to code_change/3.
-spec vsn_current(module()) -> term().
vsn_current(Mod) ->
    try erlang:get_module_info(Mod, attributes) of
        Attrs -> vsn_term(proplists:get_value(vsn, Attrs, []))
    catch error:badarg -> undefined
    end.

%% The -vsn of a BEAM file, as release_handler reads it.
vsn_of(Bin) ->
    case beam_lib:version(Bin) of
        {ok, {_, Vsn}} -> vsn_term(Vsn);
        _ -> undefined
    end.

%% A vsn attribute as release_handler passes it: a string as it is, a
%% one-term list as that term.
vsn_term(Vsn) ->
    case io_lib:printable_list(Vsn) andalso Vsn =/= [] of
        true -> Vsn;
        false when Vsn =:= [] -> undefined;
        false ->
            case Vsn of
                [Term] -> Term;
                _ -> Vsn
            end
    end.

%% Everything after the code is current: roll back a failed migration,
%% resume the processes, purge the old code, run the tests, and build the
%% results.
after_load(Work, Held, Changes, Warns, LoadMs, Ctx0) ->
    Failed = [{P, E} || {_, #{failed := F}} <- Changes, {P, E} <- F],
    case Failed of
        [] ->
            resume(Held),
            finish_ok(Work, Changes, Warns, LoadMs, Ctx0);
        _ ->
            %% A state migration failed: go back to the code each module
            %% ran before, migrating back the processes that were
            %% migrated, while they are still held.
            Why = lists:join("; ", [["code_change failed in ", fmt(P), ": ",
                                     fmt(E)] || {P, E} <- Failed]),
            Back = undo(Work, Changes, Ctx0),
            resume(Held),
            undone(Work, Back, Why, LoadMs, Changes, Ctx0)
    end.

%% Loads back the code each module ran before this batch, migrating the
%% processes whose migration went through back (for an upgrade: down,
%% before the load; for a downgrade: up, after it).  Returns ok, or why
%% it could not be done.
undo(Work, Changes, #{kept := Kept}) ->
    Prev = [{W, case Kept of
                    #{Mod := #{cur := {Cur, Bin}}} -> Bin;
                    _ -> none
                end} || #{mod := Mod, cur := Cur} = W <- Work],
    case [M || {#{mod := M}, none} <- Prev] of
        [] ->
            Migrated = fun(Mod) ->
                               [P || {M, #{ok := Oks}} <- Changes, M =:= Mod,
                                     P <- Oks]
                       end,
            T = reloader_client_config:suspend_timeout(),
            [catch sys:change_code(P, Mod, {down, vsn_of(Bin)},
                                   code_extra(Mod), T)
             || {#{mod := Mod, dir := up}, Bin} <- Prev, P <- Migrated(Mod)],
            [code:soft_purge(Mod) || #{mod := Mod} <- Work],
            Set = [{Mod, File, Bin}
                   || {#{mod := Mod, file := File}, Bin} <- Prev],
            case code:atomic_load(Set) of
                ok ->
                    [catch sys:change_code(P, Mod, vsn_of(Left),
                                           code_extra(Mod), T)
                     || {#{mod := Mod, dir := down, bin := Left}, _} <- Prev,
                        P <- Migrated(Mod)],
                    ok;
                {error, Errs} ->
                    {error, ["could not load the previous version back: ",
                             fmt(Errs)]}
            end;
        Missing ->
            {error, ["no previous version kept to roll back to (",
                     lists:join(", ", [atom_to_list(M) || M <- Missing]), ")"]}
    end.

%% The Extra argument of code_change/3 for a module.
code_extra(Mod) -> reloader_client_config:code_change_extra(Mod).

%% The results of a batch whose state migration failed: rolled back
%% (for a rollback asked for, that is the rollback failing, and the
%% reason says so and what still runs), or, when that was impossible,
%% ok with the new code and a warning.
undone(Work, ok, Why, LoadMs, Changes, Ctx) ->
    Res = [(base(W, LoadMs, Changes))#{status => 'rolled-back', stamp => Cur,
                                       failed => 'code-change',
                                       reason => undone_why(W, Why)}
           || #{cur := Cur} = W <- Work],
    {Res, Ctx};
undone(Work, {error, Undo}, Why, LoadMs, Changes, Ctx0) ->
    {Res, Ctx} = finish_ok(Work, Changes, [], LoadMs, Ctx0),
    {[warn(R, [Why, "; ", Undo, "; the new version stays current, and those "
               "processes keep their state unmigrated"]) || R <- Res], Ctx}.

%% Why a batch was undone, for one of its modules.
undone_why(#{dir := down, cur := Cur}, Why) ->
    iolist_to_binary(["the rollback failed: ", Why, "; ", Cur,
                      " still runs"]);
undone_why(_W, Why) ->
    iolist_to_binary(Why).

%% The fields every result of a loaded module has.
base(#{name := Name, mod := Mod}, LoadMs, Changes) ->
    State = case lists:keyfind(Mod, 1, Changes) of
                {Mod, #{ms := Ms}} -> Ms;
                false -> undefined
            end,
    #{name => Name, load => LoadMs, state => State}.

%% The code is current and every migration went through: run the tests,
%% keep the new code for later rollbacks, and purge the old code softly.
%% The tests come first, right after the switch, as in mochiweb's
%% reloader: the soft purge asks every process whether it still runs the
%% old code, which takes longer than the test (bench/README.md), and a
%% test that rolls its module back purges on its own.
finish_ok(Work, Changes, Warns, LoadMs, Ctx0) ->
    Now = now_ms(),
    {Res, Ctx} =
        lists:mapfoldl(
          fun(#{mod := Mod, new := New, cur := Cur, bin := Bin, dir := Dir} = W,
              C0) ->
                  C1 = case Dir of
                           up -> keep(Mod, {New, Bin}, C0);
                           down -> back(Mod, {New, Bin}, C0)
                       end,
                  R0 = (base(W, LoadMs, Changes))#{status => ok, stamp => New,
                                                   bin => Bin},
                  R1 = case lists:keyfind(Mod, 1, Warns) of
                           {Mod, Warn} -> warn(R0, Warn);
                           false -> R0
                       end,
                  case test(W, R1, C1) of
                      {#{status := 'rolled-back'}, _} = Back ->
                          Back;
                      {R2, C2} ->
                          case postpurge(Mod, Cur, Now, C2) of
                              {{ok, Ms}, C3} -> {R2#{purge => Ms}, C3};
                              {{lingering, Why}, C3} -> {warn(R2, Why), C3}
                          end
                  end
          end, Ctx0, Work),
    {Res, Ctx}.

%% After a rollback, the code now current was the previous one, and the
%% one left becomes the previous.
back(Mod, {_, _} = Now, #{kept := Kept} = Ctx) ->
    Left = case Kept of
               #{Mod := #{cur := C}} -> C;
               _ -> undefined
           end,
    Ctx#{kept := Kept#{Mod => #{cur => Now, prev => Left}}}.

%% Adds a warning to a result's reason.
warn(#{reason := Old} = R, Why) ->
    R#{reason => iolist_to_binary([Old, "; ", Why])};
warn(R, Why) ->
    R#{reason => iolist_to_binary(Why)}.

%% Soft purges the version a reload made old; if some process still runs
%% it, names them and keeps it for a later retry.
postpurge(Mod, OldStamp, Loaded, #{lingering := L} = Ctx) ->
    T0 = now_ms(),
    case code:soft_purge(Mod) of
        true ->
            {{ok, now_ms() - T0}, Ctx};
        false ->
            Why = iolist_to_binary(["old code kept: ",
                                    procs_text(old_code_procs(Mod),
                                               "still runs it")]),
            {{lingering, Why},
             Ctx#{lingering := L#{Mod => #{stamp => OldStamp, since => Loaded,
                                           why => Why}}}}
    end.

%% Runs a module's test/0 after an upgrade, when it exports one, and
%% rolls the module back on failure when the policy says so.
test(#{dir := up, mod := Mod, file := File} = W, R, Ctx) ->
    case erlang:function_exported(Mod, test, 0) of
        false ->
            {R, Ctx};
        true ->
            T0 = now_ms(),
            Out = run_test(Mod),
            R1 = R#{test => now_ms() - T0},
            case Out of
                ok ->
                    {R1, Ctx};
                {failed, Why} ->
                    Back = reloader_client_config:rollback_on_test_failure(
                             Mod, File),
                    case Back of
                        true when is_map_key(together, W) ->
                            {warn(R1#{status => 'test-failed', failed => test,
                                      undo => true}, Why), Ctx};
                        true -> test_rollback(W, R1, Why, Ctx);
                        false -> {warn(R1#{status => 'test-failed',
                                           failed => test}, Why), Ctx}
                    end
            end
    end;
test(_W, R, Ctx) ->
    {R, Ctx}.

%% Loads back the version before a module whose test failed.
%% The purge events of that inner load are kept in the context, for
%% run/2 to return with its own.
test_rollback(#{mod := Mod, name := Name, path := Path, cur := Cur}, R, Why,
              Ctx) ->
    #{kept := #{Mod := #{cur := {New, _}}}} = Ctx,
    Item = #{name => Name, path => Path, stamp => Cur, was => New,
             action => rollback},
    {Res, Events, Ctx1} = run([Item], Ctx),
    Ctx2 = Ctx1#{events => Events},
    case Res of
        [#{status := ok} = Back] ->
            {R#{status => 'rolled-back', stamp => Cur, failed => test,
                reason => iolist_to_binary([Why, "; rolled back in ",
                                            fmt_ms(maps:get(load, Back, 0.0)),
                                            " ms"])}, Ctx2};
        [#{reason := Undo}] ->
            {warn(R#{status => 'test-failed', failed => test},
                  [Why, "; could not roll back: ", Undo]), Ctx2}
    end.

%% Calls Mod:test() in a process of its own, with a time limit: it
%% passes when it returns ok, as mochiweb's reloader has it.
run_test(Mod) ->
    Timeout = reloader_client_config:test_timeout(),
    {Pid, Ref} = spawn_monitor(
                   fun() ->
                           exit({test_result,
                                 try Mod:test() of
                                     Value -> {returned, Value}
                                 catch Class:Why:Stack ->
                                         {raised, Class, Why, Stack}
                                 end})
                   end),
    receive
        {'DOWN', Ref, process, Pid, {test_result, {returned, ok}}} ->
            ok;
        {'DOWN', Ref, process, Pid, {test_result, {returned, Other}}} ->
            {failed, io_lib:format("~s:test() returned ~s, not ok",
                                   [Mod, fmt(Other)])};
        {'DOWN', Ref, process, Pid, {test_result, {raised, C, W, St}}} ->
            {failed, io_lib:format("~s:test() raised ~s:~s~s",
                                   [Mod, C, fmt(W), where(St)])};
        {'DOWN', Ref, process, Pid, Why} ->
            {failed, io_lib:format("~s:test() died: ~s", [Mod, fmt(Why)])}
    after Timeout ->
            exit(Pid, kill),
            receive {'DOWN', Ref, process, Pid, _} -> ok end,
            {failed, io_lib:format("~s:test() did not return within ~b ms",
                                   [Mod, Timeout])}
    end.

%% Where an exception was raised: its top stack frame.
where([{M, F, A, Loc} | _]) ->
    Arity = if is_list(A) -> length(A); true -> A end,
    case proplists:get_value(line, Loc) of
        undefined -> io_lib:format(" in ~s:~s/~b", [M, F, Arity]);
        Line -> io_lib:format(" in ~s:~s/~b line ~b", [M, F, Arity, Line])
    end;
where(_) -> "".

%% @doc Retries the soft purge of old code that processes still ran;
%% returns a `{purged, Module, OldStamp, AfterMs}' event for each that
%% went away.
-spec retry_purges(ctx()) -> {[tuple()], ctx()}.
retry_purges(#{lingering := L} = Ctx) ->
    Now = now_ms(),
    Gone = [{purged, Mod, S, Now - Since}
            || {Mod, #{stamp := S, since := Since}} <- maps:to_list(L),
               not erlang:check_old_code(Mod) orelse code:soft_purge(Mod)],
    {Gone, Ctx#{lingering := maps:without([M || {_, M, _, _} <- Gone], L)}}.

%% The processes that still run a module's old code.
old_code_procs(Mod) ->
    [P || P <- processes(), erlang:check_process_code(P, Mod)].

%% Names processes and what each is running: "1 process still runs it:
%% <0.90.0> (m:loop/1)".
procs_text(Procs, What) ->
    N = length(Procs),
    Shown = lists:sublist(Procs, 10),
    [integer_to_list(N), if N =:= 1 -> " process "; true -> " processes " end,
     What, ": ",
     lists:join(", ", [[pid_to_list(P), " (", current(P), ")"] || P <- Shown]),
     if N > 10 -> ", ..."; true -> "" end].

%% What a process is running, as M:F/A.
current(P) ->
    case erlang:process_info(P, current_function) of
        {current_function, {M, F, A}} -> io_lib:format("~s:~s/~b", [M, F, A]);
        _ -> "gone"
    end.

%% A load-failed result, with the step that failed.
failed(Name, Stamp, Step, Why) ->
    #{name => Name, status => 'load-failed', stamp => Stamp, failed => Step,
      reason => iolist_to_binary(Why)}.

%% A path from the daemon as a file name the code server keeps.
to_file(Path) when is_binary(Path) ->
    case unicode:characters_to_list(Path) of
        L when is_list(L) -> L;
        _ -> binary_to_list(Path)
    end;
to_file(Path) when is_list(Path) ->
    Path.

%% @doc Any term on one line, cut at 400 characters.
-spec fmt(term()) -> string().
fmt(Term) when is_binary(Term) ->
    fmt(binary_to_list(Term));
fmt(Term) ->
    S = case io_lib:deep_char_list(Term) of
            true -> lists:flatten(Term);
            false -> lists:flatten(io_lib:format("~0tp", [Term]))
        end,
    One = [if C =:= $\n -> $\s; true -> C end || C <- S],
    case length(One) > 400 of
        true -> lists:sublist(One, 400) ++ "...";
        false -> One
    end.

%% Milliseconds with two decimals.
fmt_ms(Ms) -> io_lib:format("~.2f", [Ms]).

%% The monotonic clock in ms, as a float.
now_ms() ->
    erlang:monotonic_time(microsecond) / 1000.
