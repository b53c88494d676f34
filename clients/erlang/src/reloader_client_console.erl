%% @doc One line on the node's console per reload and per failure, as
%% mochiweb's reloader prints `Reloading M ... ok.'.
%%
%% Every result is one logger event.  While the `console' setting is on
%% (by default: when the node has an interactive shell), that event is
%% in the domain [reloader_client, reload] and its metadata holds its
%% console line (key `reloader_console'); a logger handler of ours, also
%% named reloader_client_console, prints that line (this module is its
%% formatter), and nothing else, on standard_io.  The default handler leaves such events out (its filters
%% pass only events without a domain, or OTP's; where its filters were
%% changed and it writes to the terminal, it is given one that does), so
%% that each shows once.  A successful reload is then logged at notice,
%% the level a plain `erl' lets through; with the console off, the event
%% is as it always was: info, no domain.
-module(reloader_client_console).

-export([enabled/0, sync/0, remove/0, event/4, format/2]).

-define(HANDLER, reloader_client_console).
-define(DOMAIN, [reloader_client, reload]).

%% @doc Whether results go to the console: the `console' setting, or,
%% when it is `auto' (the default), whether the node is interactive.
-spec enabled() -> boolean().
enabled() ->
    case reloader_client_config:console() of
        auto -> interactive();
        On -> On
    end.

%% @doc Whether the node has a user at a shell: `erl' without -noshell
%% (which -noinput, -detached and escripts imply), or IEx.
-spec interactive() -> boolean().
interactive() ->
    init:get_argument(noshell) =:= error orelse
        lists:keymember(iex, 1, application:which_applications()).

%% @doc Installs the handler when the console is on, and removes it when
%% it is off: the setting takes effect at the next result.
-spec sync() -> ok.
sync() ->
    case {enabled(), logger:get_handler_config(?HANDLER)} of
        {true, {error, _}} -> add();
        {false, {ok, _}} -> remove();
        _ -> ok
    end.

%% Adds the handler, and the filter that keeps the default handler from
%% printing the same events to the terminal.
add() ->
    Only = {fun logger_filters:domain/2, {log, equal, ?DOMAIN}},
    _ = logger:add_handler(
          ?HANDLER, logger_std_h,
          #{level => all, filter_default => stop,
            filters => [{reloads, Only}],
            formatter => {?MODULE, #{}},
            config => #{type => standard_io}}),
    case logger:get_handler_config(default) of
        {ok, #{config := #{type := T}}} when T =:= standard_io;
                                             T =:= standard_error ->
            _ = logger:add_handler_filter(
                  default, ?HANDLER,
                  {fun logger_filters:domain/2, {stop, equal, ?DOMAIN}}),
            ok;
        _ ->
            ok
    end.

%% @doc Removes the handler and the default handler's filter, if there.
-spec remove() -> ok.
remove() ->
    _ = logger:remove_handler(?HANDLER),
    _ = logger:remove_handler_filter(default, ?HANDLER),
    ok.

%% @doc Formats an event for the console handler: its console line, as
%% it is (a logger formatter callback).
-spec format(logger:log_event(), logger:formatter_config()) ->
          unicode:chardata().
format(#{meta := #{reloader_console := Line}}, _Config) ->
    [Line, $\n];
format(_Event, _Config) ->
    [].

%% @doc The level and metadata of the event of a result R that would be
%% logged at Level: for the console while it is on (debug events never
%% are), as they are otherwise.  Where says on which node (" on b@host",
%% or "" for this one), Why is ": " and the reason, or "".
-spec event(logger:level(), map(), iodata(), iodata()) ->
          {logger:level(), logger:metadata()}.
event(debug, _R, _Where, _Why) ->
    {debug, #{}};
event(Level, R, Where, Why) ->
    case logger:get_handler_config(?HANDLER) of
        {ok, _} ->
            {case Level of info -> notice; _ -> Level end,
             #{domain => ?DOMAIN, reloader_console => line(R, Where, Why)}};
        {error, _} ->
            {Level, #{}}
    end.

%% The console line of a result: `Reloading greet ... ok 0.62 ms - test
%% ok 0.05 ms', `Rolling back counter ... ok 0.40 ms', `Reloading greet
%% on b@host ... load failed: ...'.
line(#{name := Name, status := Status} = R, Where, Why) ->
    Verb = case R of
               #{rollback := true} -> "Rolling back ";
               _ -> "Reloading "
           end,
    What = case Status of
               ok -> ["ok", ms(load, R), stage(R, state, "code_change", "ok"),
                      stage(R, test, "test", "ok")];
               'test-failed' -> ["ok", ms(load, R),
                                 stage(R, test, "test", "failed"),
                                 " (new code kept)"];
               'rolled-back' -> "rolled back";
               'load-failed' -> "load failed"
           end,
    binary:replace(iolist_to_binary([Verb, Name, Where, " ... ", What, Why]),
                   <<"\n">>, <<" ">>, [global]).

%% " - test ok 0.05 ms" when the result took that stage.
stage(R, Key, Name, Word) ->
    case maps:get(Key, R, undefined) of
        Ms when is_float(Ms) -> [" - ", Name, " ", Word, ms(Key, R)];
        _ -> ""
    end.

%% " 0.62 ms" for a time of the result, "" when it has none.
ms(Key, R) ->
    case maps:get(Key, R, undefined) of
        Ms when is_float(Ms) -> io_lib:format(" ~.2f ms", [Ms]);
        _ -> ""
    end.
