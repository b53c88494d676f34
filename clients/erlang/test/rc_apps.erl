%% @doc Builds the test applications (test/nine9s: seed 004 on inets'
%% httpd; test/tt: seed 001's tt13) into LIB/APP/ebin as a build tool
%% would: erlc each source, the .app from the .app.src with the vsn and
%% the modules filled in, and the .appup beside it when asked.  The
%% tests call it as `erl -noshell -pa ... -s rc_apps main APP VSN LIB
%% [OPTIONS...]' (see tests/e2e/t-erlang-appup.sh).
-module(rc_apps).

-export([main/1, build/4]).

%% @doc Builds from the command line: APP VSN LIB, then options: a macro
%% to define (V2, BAD_APPLY), `appup' for the .appup, `no_MOD' to leave
%% a module out.  Halts 0 when it built, 1 otherwise.
main([App, Vsn, Lib | Opts]) ->
    try build(list_to_atom(atom_to_list(App)), atom_to_list(Vsn),
              atom_to_list(Lib), [atom_to_list(O) || O <- Opts]) of
        ok -> halt(0)
    catch C:W:S ->
            io:format(standard_error, "rc_apps: ~p:~p ~p~n", [C, W, S]),
            halt(1)
    end.

%% @doc Builds APP at VSN into LIB/APP/ebin from its sources beside this
%% module's (test/APP/src).
build(App, Vsn, Lib, Opts) ->
    Src = filename:join([filename:dirname(code:which(?MODULE)), "..", "..",
                         "..", "clients", "erlang", "test",
                         atom_to_list(App), "src"]),
    build(App, Vsn, Lib, Opts, src_dir(App, Src)).

%% The sources: beside the source tree, found through the environment
%% the tests set, or relative to the build directory.
src_dir(App, Fallback) ->
    case os:getenv("RC_APPS_SRC") of
        false -> Fallback;
        Dir -> filename:join([Dir, atom_to_list(App), "src"])
    end.

%% Compiles, writes the .app, and the .appup if asked.
build(App, Vsn, Lib, Opts, Src) ->
    Ebin = filename:join([Lib, atom_to_list(App), "ebin"]),
    ok = filelib:ensure_dir(filename:join(Ebin, "x")),
    Defs = [{d, list_to_atom(O)} || O = [C | _] <- Opts, C >= $A, C =< $Z],
    Skip = [list_to_atom(M) || "no_" ++ M <- Opts],
    Mods = [begin
                {ok, M} = compile:file(F, [{outdir, Ebin}, debug_info,
                                           report | Defs]),
                M
            end || F <- lists:sort(filelib:wildcard(filename:join(Src,
                                                                  "*.erl"))),
                   not lists:member(list_to_atom(filename:basename(F, ".erl")),
                                    Skip)],
    {ok, [{application, App, Props}]} =
        file:consult(filename:join(Src, atom_to_list(App) ++ ".app.src")),
    Props1 = lists:keystore(modules, 1, lists:keystore(vsn, 1, Props,
                                                       {vsn, Vsn}),
                            {modules, Mods}),
    ok = write(filename:join(Ebin, atom_to_list(App) ++ ".app"),
               {application, App, Props1}),
    case lists:member("appup", Opts) of
        true ->
            %% The appup is for the vsn built (0.2.1 is 0.2.0 again).
            {ok, [{_, Up, Down}]} = file:consult(filename:join(
                                                   Src, atom_to_list(App) ++
                                                       ".appup.src")),
            write(filename:join(Ebin, atom_to_list(App) ++ ".appup"),
                  {Vsn, Up, Down});
        false ->
            ok
    end.

%% Writes one term, renamed into place as a build does.
write(File, Term) ->
    Tmp = File ++ ".tmp",
    ok = file:write_file(Tmp, io_lib:format("~p.~n", [Term])),
    file:rename(Tmp, File).
