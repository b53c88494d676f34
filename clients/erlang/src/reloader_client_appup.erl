%% @doc Application upgrades by their appup, as release_handler does
%% them, for the applications whose `.app' a batch brings.
%%
%% The client registers each application's `.app' and `.appup' (in the
%% ebin of its beams) as modules named `app:NAME' and `appup:NAME', with
%% the MD5 of their bytes as stamps.  When a batch brings an `.app' whose
%% vsn differs from the one the node runs, and the `.appup' beside it
%% has instructions from the running vsn, the application is upgraded by
%% them with OTP's own machinery: the appup's instructions translated by
%% systools_rc:translate_scripts/4 and evaluated by
%% release_handler:eval_appup_script/4, exactly what
%% release_handler:upgrade_script/2 and upgrade_app/2 do.  Those two
%% cannot be called as they are: they read the running version's `.app'
%% from code:lib_dir(App), where in development a build has already
%% written the new one.  The running version is therefore kept in a
%% directory of the client's own (its `.app' as the application
%% controller holds it, and the object code the client kept), and that
%% same directory is what a rollback downgrades to, by the appup's down
%% instructions.
%%
%% A failure before the appup's point of no return changes nothing; one
%% after it (an `apply' that raises, a supervisor change that fails) is
%% undone by the appup's down instructions, and what could not be undone
%% is said.
-module(reloader_client_appup).

-export([key/2, name/1, discover/0, file_stamp/1, split/1, plan/2,
         upgrade/3, failed_plan/3, mods/2, code_change/2]).

-include_lib("kernel/include/logger.hrl").

-type plan() :: #{app := atom(), from := string(), to := string(),
                  dir := string(), script := list(), undo := list(),
                  back := map(), items := [map()], stamp := binary(),
                  was => binary(),
                  mods := [module()], home := string(),
                  action := load | rollback}.
-export_type([plan/0]).

%% @doc The name a file of an application is registered under:
%% `app:NAME' or `appup:NAME', as an atom the client keys it by.
-spec key(app | appup, atom()) -> atom().
key(Kind, App) ->
    list_to_atom(atom_to_list(Kind) ++ ":" ++ atom_to_list(App)).

%% @doc What a registered name stands for: `{app, App}', `{appup, App}',
%% or `module'.
-spec name(binary() | atom()) -> {app | appup, binary()} | module.
name(Name) when is_atom(Name) ->
    name(atom_to_binary(Name, utf8));
name(<<"app:", App/binary>>) when App =/= <<>> -> {app, App};
name(<<"appup:", App/binary>>) when App =/= <<>> -> {appup, App};
name(_) -> module.

%% @doc The applications whose files are worth registering: those loaded
%% in the node whose `.app' the code path finds outside OTP's own
%% installation, but for reloader_client itself; each with its `.app'
%% and, if there is one beside it, its `.appup'.
-spec discover() -> [{atom(), string(), string() | none}].
discover() ->
    Root = code:root_dir(),
    [{App, File, appup_of(App, File)}
     || {App, _, _} <- application:loaded_applications(),
        App =/= reloader_client,
        File <- [code:where_is_file(atom_to_list(App) ++ ".app")],
        is_list(File), not lists:prefix(Root ++ "/", File)].

%% The .appup beside an .app, if there is one.
appup_of(App, AppFile) ->
    F = filename:join(filename:dirname(AppFile), atom_to_list(App) ++ ".appup"),
    case filelib:is_regular(F) of
        true -> filename:absname(F);
        false -> none
    end.

%% @doc The stamp of an `.app' or `.appup' as the daemon reads it: the
%% MD5 of its bytes, `content-md5:HEX'.
-spec file_stamp(string()) -> {ok, binary()} | {error, term()}.
file_stamp(File) ->
    case file:read_file(File) of
        {ok, Bin} ->
            {ok, <<"content-md5:", (hex(erlang:md5(Bin)))/binary>>};
        Error ->
            Error
    end.

%% Lowercase hex of a binary.
hex(Bin) ->
    << <<(if N < 10 -> $0 + N; true -> $a + N - 10 end)>> || <<N:4>> <= Bin >>.

%% @doc Splits a batch's items into those of applications' files, by
%% application name, and the modules.
-spec split([map()]) -> {#{binary() => [map()]}, [map()]}.
split(Items) ->
    lists:foldr(fun(#{name := N} = I, {Apps, Mods}) ->
                        case name(N) of
                            module -> {Apps, [I | Mods]};
                            {_, App} -> {maps:update_with(App, fun(L) -> [I | L]
                                                              end, [I], Apps),
                                         Mods}
                        end
                end, {#{}, []}, Items).

%% @doc Decides what each application of a batch comes to.  Returns the
%% upgrades to make (plans, checked and translated: nothing has changed
%% yet), the results of application files answered at once (the vsn did
%% not change, no appup from the running vsn: the modules are then
%% reloaded as any others), and the failures.  Ctx is the loader's
%% context: the object code it kept, and under `apps' each
%% application's versions kept (see upgrade/3).
-spec plan(#{binary() => [map()]}, reloader_client_load:ctx()) ->
          {[plan()], [map()], [map()]}.
plan(Apps, Ctx) ->
    maps:fold(fun(AppB, Items, {Plans, Oks, Fails}) ->
                      case plan1(AppB, Items, Ctx) of
                          {plan, P} -> {[P | Plans], Oks, Fails};
                          {ok, Rs} -> {Plans, Rs ++ Oks, Fails};
                          {failed, Rs} -> {Plans, Oks, Rs ++ Fails}
                      end
              end, {[], [], []}, Apps).

%% What one application's files in a batch come to.
plan1(AppB, Items, Ctx) ->
    App = try binary_to_existing_atom(AppB, utf8)
          catch error:badarg -> undefined
          end,
    Running = [V || {A, _, V} <- application:loaded_applications(), A =:= App],
    Rollback = [I || #{action := rollback} = I <- Items],
    case {App, Running} of
        _ when App =:= undefined; Running =:= [] ->
            {failed, [fail(I, load, ["application ", AppB, " is not loaded "
                                     "in this node"]) || I <- Items]};
        {_, [From]} when Rollback =/= [] ->
            back_plan(App, From, Items, maps:get(App, apps(Ctx), #{}));
        {_, [From]} ->
            up_plan(App, From, Items, Ctx)
    end.

%% The plan of an upgrade to the files the batch brings, or why there is
%% none.
up_plan(App, From, Items, Ctx) ->
    #{path := Path} = hd(Items),
    Ebin = filename:dirname(to_list(Path)),
    Dir = filename:dirname(Ebin),
    AppS = atom_to_list(App),
    case file:consult(filename:join(Ebin, AppS ++ ".app")) of
        {ok, [{application, App, Props}]} ->
            To = proplists:get_value(vsn, Props),
            Appup = filename:join(Ebin, AppS ++ ".appup"),
            case To =:= From orelse file:consult(Appup) of
                true ->
                    {ok, [ok(I, []) || I <- Items]};
                {error, enoent} ->
                    {ok, [ok(I, ["no ", AppS, ".appup: ", AppS, " ", From,
                                 " -> ", To, " not upgraded; its modules are "
                                 "reloaded one by one"]) || I <- Items]};
                {ok, [{To, Ups, Downs}]} ->
                    case systools_relup:appup_search_for_version(From, Ups) of
                        {ok, Up} ->
                            translate(App, From, To, Dir, Up, Downs, Items,
                                      Ctx);
                        error ->
                            {ok, [ok(I, [AppS, ".appup has no instructions "
                                         "from ", From, ": ", AppS, " not "
                                         "upgraded; its modules are reloaded "
                                         "one by one"]) || I <- Items]}
                    end;
                {ok, [{Other, _, _}]} ->
                    {failed, [fail(I, load, [Appup, " is for vsn ",
                                             fmt(Other), ", not ", To])
                              || I <- Items]};
                {ok, _} ->
                    {failed, [fail(I, load, [Appup, " is not one {Vsn, "
                                             "UpFrom, DownTo} term"])
                              || I <- Items]};
                {error, Why} ->
                    {failed, [fail(I, load, ["cannot read ", Appup, ": ",
                                             file:format_error(Why)])
                              || I <- Items]}
            end;
        {ok, _} ->
            {failed, [fail(I, load, [Ebin, "/", AppS, ".app is not one "
                                     "{application, ", AppS, ", ...} term"])
                      || I <- Items]};
        {error, Why} ->
            {failed, [fail(I, load, ["cannot read ", Ebin, "/", AppS,
                                     ".app: ", file:format_error(Why)])
                      || I <- Items]}
    end.

%% Translates an appup's instructions from the running version (kept in
%% a directory of ours first) up to the one in Dir, and the way back.
translate(App, From, To, Dir, Up, Downs, Items, Ctx) ->
    case keep_running(App, From, Ctx) of
        {ok, OldDir} ->
            case {read_app(App, From, OldDir), read_app(App, To, Dir)} of
                {{ok, Old}, {ok, New}} ->
                    Undo = case systools_relup:appup_search_for_version(
                                  From, Downs) of
                               {ok, Dn} ->
                                   rc(systools_rc:translate_scripts(
                                        dn, [Dn], [Old], [New]));
                               error ->
                                   {error, ["the appup has no instructions "
                                            "down to ", From]}
                           end,
                    case rc(systools_rc:translate_scripts(up, [Up], [New],
                                                           [Old])) of
                        {ok, Script0} ->
                            Script = running_vsns(Script0),
                            {plan, #{app => App, from => From, to => To,
                                     dir => Dir, script => Script,
                                     undo => Undo, back => #{dir => OldDir},
                                     items => Items, stamp => stamp(Items),
                                     was => was(Items),
                                     mods => mods(App, OldDir) ++
                                         mods(App, Dir),
                                     home => Dir, action => load}};
                        {error, Why} ->
                            {failed, [fail(I, load, ["the appup's "
                                                     "instructions from ",
                                                     From, " do not "
                                                     "translate: ", Why])
                                      || I <- Items]}
                    end;
                {{error, Why}, _} ->
                    {failed, [fail(I, load, Why) || I <- Items]};
                {_, {error, Why}} ->
                    {failed, [fail(I, load, Why) || I <- Items]}
            end;
        {error, Why} ->
            {failed, [fail(I, load, Why) || I <- Items]}
    end.

%% The plan of a rollback: back to the version the last upgrade (or
%% rollback) replaced, by the appup of the newer of the two.
back_plan(App, From, Items, #{prev := #{vsn := To, dir := ToDir},
                              cur := #{vsn := From, dir := CurDir}} = Kept) ->
    AppS = atom_to_list(App),
    Appups = [{Mode, Script}
              || {Mode, D, V} <- [{dn, CurDir, To}, {up, ToDir, From}],
                 {ok, [{_, Ups, Downs}]} <- [file:consult(
                                               filename:join([D, "ebin",
                                                              AppS ++
                                                                  ".appup"]))],
                 {ok, Script} <- [systools_relup:appup_search_for_version(
                                    V, case Mode of
                                           dn -> Downs;
                                           up -> Ups
                                       end)]],
    case {Appups, read_app(App, From, CurDir), read_app(App, To, ToDir)} of
        {[{Mode, Script} | _], {ok, Cur}, {ok, Prev}} ->
            Low = case Mode of
                      dn -> systools_rc:translate_scripts(dn, [Script], [Prev],
                                                          [Cur]);
                      up -> systools_rc:translate_scripts(up, [Script], [Prev],
                                                          [Cur])
                  end,
            case rc(Low) of
                {ok, L0} ->
                    L = running_vsns(L0),
                    {plan, #{app => App, from => From, to => To, dir => ToDir,
                             script => L, undo => {error, "a rollback is not "
                                                   "undone"},
                             back => Kept, items => Items,
                             stamp => maps:get(stamp, maps:get(prev, Kept)),
                             mods => mods(App, CurDir) ++ mods(App, ToDir),
                             home => maps:get(home, Kept), action => rollback}};
                {error, Why} ->
                    {failed, [fail(I, load, ["the appup's instructions back "
                                             "to ", To, " do not translate: ",
                                             Why]) || I <- Items]}
            end;
        {[], _, _} ->
            {failed, [fail(I, load, ["no appup of ", AppS, " ", From, " or ",
                                     To, " goes from one to the other"])
                      || I <- Items]};
        {_, {error, Why}, _} ->
            {failed, [fail(I, load, Why) || I <- Items]};
        {_, _, {error, Why}} ->
            {failed, [fail(I, load, Why) || I <- Items]}
    end;
back_plan(App, _From, Items, _Kept) ->
    {failed, [fail(I, load, ["no previous version of ", atom_to_list(App),
                             " kept (the client keeps the version an appup "
                             "upgrade replaced)"]) || I <- Items]}.

%% Has the state migrations of an upgrade pass each module's running
%% -vsn as OldVsn.  release_handler reads it from the file the module
%% was loaded from (release_handler_1:get_current_vsn/1), which in
%% development a build has already overwritten with the new code; so
%% each `{code_change, up, ...}' step of the translated script becomes
%% an apply of code_change/2 below, with the vsns read now, from the
%% code that runs.  Every other step is release_handler's.
running_vsns(Script) ->
    [case I of
         {code_change, up, ModExtras} ->
             {apply, {?MODULE, code_change,
                      [ModExtras, [{M, reloader_client_load:vsn_current(M)}
                                   || {M, _} <- ModExtras]]}};
         _ ->
             I
     end || I <- Script].

%% @doc Migrates the state of the processes of each module, as
%% release_handler's `{code_change, up, ...}' step does, with the old
%% vsns given (see running_vsns/1).  The processes are those whose
%% callback module it is (the supervisors that would name them are
%% suspended at this point, and cannot be asked).
-spec code_change([{module(), term()}], [{module(), term()}]) -> ok.
code_change(ModExtras, Vsns) ->
    [case sys:change_code(Pid, Mod, proplists:get_value(Mod, Vsns), Extra) of
         ok -> ok;
         {error, Why} -> throw({code_change_failed, Pid, Mod, Why})
     end || {Mod, Extra} <- ModExtras,
            Pid <- reloader_client_load:procs_of(Mod)],
    ok.

%% systools_rc's answer, its error as text.
rc({ok, Script}) -> {ok, Script};
rc({error, Mod, Why}) -> {error, Mod:format_error(Why)}.

%% An application's description read as systools reads it, or why not.
read_app(App, Vsn, Dir) ->
    Ebin = filename:join(Dir, "ebin"),
    case systools_make:read_application(atom_to_list(App), Vsn, [Ebin], []) of
        {ok, Appl} -> {ok, Appl};
        {error, Why} -> {error, [Ebin, "/", atom_to_list(App), ".app: ",
                                 fmt(Why)]}
    end.

%% @doc The modules an application's `.app' in Dir/ebin names.
-spec mods(atom(), string()) -> [module()].
mods(App, Dir) ->
    case file:consult(filename:join([Dir, "ebin", atom_to_list(App) ++ ".app"]))
    of
        {ok, [{application, App, Props}]} ->
            [M || M <- proplists:get_value(modules, Props, []), is_atom(M)];
        _ ->
            []
    end.

%% The stamp of the `.app' a batch brings, to answer its item with.
stamp(Items) ->
    case [S || #{name := N, stamp := S} <- Items, name(N) =:= {app, app_of(N)}]
    of
        [S | _] -> S;
        [] -> <<"none:">>
    end.

%% The stamp the node's `.app' had before a batch.
was(Items) ->
    case [W || #{name := N, was := W} <- Items, name(N) =:= {app, app_of(N)}]
    of
        [W | _] -> W;
        [] -> <<"none:">>
    end.

%% The applications' versions kept in a loader's context.
apps(Ctx) ->
    maps:get(apps, Ctx, #{}).

%% The application name in a registered name.
app_of(N) ->
    {_, App} = name(N),
    App.

%% Keeps the running version of an application in a directory of the
%% client's own, as release_handler would find an installed one: its
%% `.app' (from the application controller: the file may hold the new
%% version already) and the object code of its modules as they run.
keep_running(App, Vsn, Ctx) ->
    case maps:get(App, apps(Ctx), #{}) of
        #{cur := #{vsn := Vsn, dir := D}} ->
            {ok, D};
        _ ->
            try keep_running1(App, Vsn, Ctx)
            catch error:{badmatch, {error, Why}} ->
                    {error, ["cannot keep ", atom_to_list(App), " ", Vsn,
                             " as it runs under ", base(), ": ",
                             file:format_error(Why)]}
            end
    end.

%% Writes the running version's directory; see keep_running/3.
keep_running1(App, Vsn, Ctx) ->
    Dir = filename:join(base(), atom_to_list(App) ++ "-" ++ Vsn ++ "-" ++
                            integer_to_list(erlang:unique_integer([positive]))),
    Ebin = filename:join(Dir, "ebin"),
    {ok, Keys} = application:get_all_key(App),
    ok = filelib:ensure_dir(filename:join(Ebin, "x")),
    ok = file:write_file(filename:join(Ebin, atom_to_list(App) ++ ".app"),
                         io_lib:format("~p.~n", [{application, App, Keys}])),
    case [M || M <- proplists:get_value(modules, Keys, []),
               not keep_beam(M, Ebin, Ctx)] of
        [] -> ok;
        Missing ->
            ?LOG_INFO("reloader_client: no object code kept of ~p as they "
                      "run: a rollback of ~s to ~s cannot load them",
                      [Missing, App, Vsn])
    end,
    {ok, Dir}.

%% Writes the object code of a module as it runs into Ebin, when the
%% client kept it or its file still holds it.
keep_beam(Mod, Ebin, Ctx) ->
    Cur = reloader_client_load:current_stamp(Mod),
    Bin = case maps:get(kept, Ctx, #{}) of
              #{Mod := #{cur := {Cur, B}}} -> B;
              _ ->
                  case code:get_object_code(Mod) of
                      {Mod, B, _} ->
                          case beam_lib:md5(B) of
                              {ok, {Mod, Md5}} ->
                                  case reloader_client_load:stamp(Md5) of
                                      Cur -> B;
                                      _ -> none
                                  end;
                              _ -> none
                          end;
                      error -> none
                  end
          end,
    is_binary(Bin) andalso Cur =/= undefined andalso
        ok =:= file:write_file(filename:join(Ebin, atom_to_list(Mod) ++
                                                 ".beam"), Bin).

%% The directory the client keeps versions of applications in.
base() ->
    filename:join(filename:basedir(user_cache, "reloader_client"),
                  "apps-" ++ os:getpid()).

%% @doc Upgrades (or rolls back) one application by its plan, and
%% returns the result of each of its files in the batch, the text for
%% the log, and the application's kept state, now `#{cur, prev}' (each
%% `#{vsn, dir, stamp}') plus `home', the directory the project builds
%% it in.  T0 is when the batch began, for the times.
-spec upgrade(plan(), float(), map()) ->
          {ok | failed, [map()], binary(), map()}.
upgrade(#{app := App, from := From, to := To, dir := Dir, script := Script,
          items := Items, action := Action} = P, T0, Kept) ->
    Done = case Action of load -> "upgraded"; rollback -> "rolled back" end,
    What = io_lib:format("~s ~s -> ~s", [App, From, To]),
    Res = try release_handler:eval_appup_script(App, To, Dir, Script)
          catch C:W:S -> {'EXIT', {{C, W}, S}}
          end,
    restore_path(P),
    Ms = (erlang:monotonic_time(microsecond) / 1000) - T0,
    case Res of
        {ok, _Unpurged} ->
            Why = iolist_to_binary([Done, " ", What]),
            New = case Action of
                      load ->
                          #{cur => #{vsn => To, dir => keep_new(P),
                                     stamp => maps:get(stamp, P)},
                            prev => #{vsn => From,
                                      dir => maps:get(dir, maps:get(back, P)),
                                      stamp => maps:get(was, P)},
                            home => maps:get(home, P)};
                      rollback ->
                          Kept#{cur := maps:get(prev, Kept),
                                prev := maps:get(cur, Kept)}
                  end,
            %% After a rollback the node runs older code than the
            %% daemon offered: the client learns it without registering
            %% it anew, which would have it offered the newer files.
            Silent = case Action of
                         rollback -> lists:usort(maps:get(mods, P));
                         load -> []
                     end,
            {ok, [(ok(I, Why))#{load => Ms, note => true, silent => Silent}
                  || I <- Items], Why, New};
        {error, Why0} ->
            Why = iolist_to_binary(["the ", word(Action), " of ", What,
                                    " failed before any change: ", fmt(Why0),
                                    "; ", atom_to_list(App), " runs ", From]),
            {failed, [(fail(I, load, Why))#{load => Ms} || I <- Items], Why,
             Kept};
        Crash ->
            Part = ["the ", word(Action), " of ", What, " failed part way: ",
                    crash(Crash)],
            {Status, Why} = undo(P, Part),
            {failed, [(fail(I, 'code-change', Why))#{status => Status,
                                                     load => Ms}
                      || I <- Items], Why, Kept}
    end.

%% What the crash of an appup's evaluation was: its reason and where.
crash({'EXIT', {'EXIT', _} = Inner}) ->
    crash(Inner);
crash({'EXIT', {{C, W}, [{M, F, A, _} | _]}}) when C =:= error; C =:= exit;
                                                   C =:= throw ->
    io_lib:format("~s:~s in ~s:~s/~b", [C, fmt(W), M, F, arity(A)]);
crash({'EXIT', {W, [{M, F, A, _} | _]}}) ->
    io_lib:format("~s in ~s:~s/~b", [fmt(W), M, F, arity(A)]);
crash({'EXIT', W}) ->
    fmt(W);
crash(Other) ->
    fmt(Other).

%% The arity of a stack frame.
arity(A) when is_list(A) -> length(A);
arity(A) -> A.

%% Takes back an upgrade that failed after its point of no return, by
%% the appup's down instructions, loading the object code kept of the
%% version it came from; says where it could not.
undo(#{app := App, from := From, undo := {ok, Script}, back := #{dir := D}} =
         P, Part) ->
    Res = try release_handler:eval_appup_script(App, From, D, Script)
          catch C:W:S -> {'EXIT', {{C, W}, S}}
          end,
    restore_path(P),
    case Res of
        {ok, _} ->
            {'rolled-back',
             iolist_to_binary([Part, "; undone by the appup's down "
                               "instructions: ", atom_to_list(App), " runs ",
                               From])};
        Other ->
            {'load-failed',
             iolist_to_binary([Part, "; the appup's down instructions failed "
                               "too (", crash(Other), "): ", atom_to_list(App),
                               " is part way to the new version, ",
                               stuck(P)])}
    end;
undo(#{app := App} = P, Part) ->
    Why = case maps:get(undo, P) of
              {error, W} -> W;
              _ -> "no way back"
          end,
    {'load-failed', iolist_to_binary([Part, "; not undone (", Why, "): ",
                                      atom_to_list(App), " is part way to the "
                                      "new version, ", stuck(P)])}.

%% Which of an application's modules run which version, after a failure
%% that could not be undone.
stuck(#{mods := Mods}) ->
    Loaded = [M || M <- lists:usort(Mods), code:is_loaded(M) =/= false],
    ["loaded now: ", lists:join(", ", [atom_to_list(M) || M <- Loaded])].

%% eval_appup_script/4 points the application's code path at the
%% directory it loaded from; after a rollback to a version kept by the
%% client, point it back at the project's, so that its next build is
%% what the node finds.
restore_path(#{app := App, home := Home}) ->
    Ebin = filename:join(Home, "ebin"),
    case code:lib_dir(App) of
        Home -> ok;
        _ -> code:replace_path(App, Ebin)
    end,
    ok.

%% Keeps the version an upgrade went to (its .app, .appup and object
%% code as loaded) in a directory of ours, to roll back from later.
keep_new(#{app := App, to := To, dir := Dir, mods := Mods}) ->
    Keep = filename:join(base(), atom_to_list(App) ++ "-" ++ To ++ "-" ++
                             integer_to_list(erlang:unique_integer([positive]))),
    Ebin = filename:join(Keep, "ebin"),
    ok = filelib:ensure_dir(filename:join(Ebin, "x")),
    [file:copy(filename:join([Dir, "ebin", atom_to_list(App) ++ Ext]),
               filename:join(Ebin, atom_to_list(App) ++ Ext))
     || Ext <- [".app", ".appup"]],
    [keep_beam(M, Ebin, #{}) || M <- lists:usort(Mods)],
    Keep.

%% @doc The results of an application's files when the batch failed
%% for another reason (version 2: the set given up).
-spec failed_plan(plan(), atom(), iodata()) -> [map()].
failed_plan(#{items := Items}, Step, Why) ->
    [fail(I, Step, Why) || I <- Items].

%% The word for an action in a reason.
word(load) -> "upgrade";
word(rollback) -> "rollback".

%% An application file's result: ok, with its stamp, and a reason when
%% there is something to say.
ok(#{name := N, stamp := S}, Why) ->
    R = #{name => N, status => ok, stamp => S},
    case iolist_to_binary(Why) of
        <<>> -> R;
        B -> R#{reason => B}
    end.

%% An application file's result when it failed: the stamp it was.
fail(#{name := N, was := W}, Step, Why) ->
    #{name => N, status => 'load-failed', stamp => W, failed => Step,
      reason => iolist_to_binary(Why)}.

%% A path as a list.
to_list(B) when is_binary(B) -> unicode:characters_to_list(B);
to_list(L) -> L.

%% Any term as text.
fmt(T) -> reloader_client_load:fmt(T).
