%% @doc reloader_client: an Erlang node as a client of reloaderd.
%%
%% The gen_server attaches to the daemon's Unix socket, registers every
%% loaded module that has a .beam file (with the MD5 the VM reports),
%% keeps those registrations current, and answers the daemon's reload
%% batches by loading them with {@link reloader_client_load}.  It
%% reconnects with backoff (50 ms to 2 s) when the daemon is away, and
%% says so once per outage, not once per try.  Optionally it pushes each
%% reload to the connected nodes that run reloader_client too, and
%% reports their results to the daemon as `result ... node=NODE' lines.
%%
%% Start it with {@link start/0} (or list `reloader_client' in a
%% release); README.md describes the settings.
-module(reloader_client).
-behaviour(gen_server).

-export([start/0, start/1, stop/0, status/0, start_link/0]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2,
         code_change/3, format_status/1]).

-include_lib("kernel/include/logger.hrl").

-define(BACKOFF_MIN, 50).
-define(BACKOFF_MAX, 2000).
-define(REASON_MAX, 2000).
-define(VERSION, "0.1.0").

-record(st, {
          path :: string() | none,
          sock :: gen_tcp:socket() | undefined,
          phase = down :: down | hello | up,
          backoff = ?BACKOFF_MIN :: pos_integer(),
          quiet = false :: boolean(),     % this outage is logged already
          tries = 0 :: non_neg_integer(), % failed connects in this outage
          out = 0 :: non_neg_integer(),   % lines sent on this connection
          in = 0 :: non_neg_integer(),    % lines received on it
          sent = #{} :: #{pos_integer() => {register | unregister, module()}},
          skipping = false :: boolean(),  % inside a line that is too long
          known = #{} :: #{module() => map()},
          regs = #{} :: #{module() => pending | registered | missing | refused},
          open :: map() | undefined,      % the batch being received
          proto = 1 :: 1 | 2,             % the version welcome chose
          prepared :: {non_neg_integer(), reloader_client_load:prep()}
                    | undefined,          % a version 2 batch prepared
          committed = [] :: [non_neg_integer()], % pushed after the commit
          apps = [] :: [atom()],          % applications loaded, last look
          waiting = #{} :: reloader_client_push:waiting(), % out to nodes
          ctx :: reloader_client_load:ctx(),
          purge_timer :: reference() | undefined,
          last :: map() | undefined,      % the last batch, for status/0
          corked = none :: none | [iodata()] % lines to send in one write
         }).

%%% API

%% @doc Starts the application, and so the client, with its settings
%% from the application environment.
-spec start() -> {ok, [atom()]} | {error, term()}.
start() ->
    application:ensure_all_started(reloader_client).

%% @doc Sets the given settings in the application environment, then
%% starts the application.
-spec start(map() | [{atom(), term()}]) -> {ok, [atom()]} | {error, term()}.
start(Opts) when is_map(Opts) ->
    start(maps:to_list(Opts));
start(Opts) when is_list(Opts) ->
    application:load(reloader_client),
    [application:set_env(reloader_client, K, V) || {K, V} <- Opts],
    start().

%% @doc Stops the client: the daemon forgets its registrations.
-spec stop() -> ok | {error, term()}.
stop() ->
    application:stop(reloader_client).

%% @doc What the client is doing: its socket, whether it is attached,
%% how many modules it registered, the old code still waiting to be
%% purged, and the last batch.
-spec status() -> map().
status() ->
    gen_server:call(?MODULE, status).

%% @doc Starts the gen_server, registered as reloader_client; called by
%% reloader_client_sup.
-spec start_link() -> {ok, pid()} | {error, term()}.
start_link() ->
    gen_server:start_link({local, ?MODULE}, ?MODULE, [], []).

%%% gen_server callbacks

%% @private Learns what is loaded, then connects from the loop.
-spec init([]) -> {ok, #st{}}.
init([]) ->
    St = sync(#st{path = reloader_client_config:socket_path(),
                  ctx = reloader_client_load:new()}),
    case St#st.path of
        none -> ?LOG_INFO("reloader_client: not attaching to reloaderd "
                          "(socket = none); taking pushed reloads only");
        _ -> self() ! connect
    end,
    reloader_client_console:sync(),
    arm_poll(),
    {ok, St}.

%% @private
-spec handle_call(term(), gen_server:from(), #st{}) ->
          {reply, map() | {error, unknown_call}, #st{}}.
handle_call(status, _From, St) ->
    Regs = maps:values(St#st.regs),
    Reply = #{socket => St#st.path,
              attached => St#st.phase =:= up,
              failed_connects => St#st.tries,
              registered => length([R || R <- Regs, R =:= registered]),
              pending => length([R || R <- Regs, R =:= pending]),
              missing => [M || {M, missing} <- maps:to_list(St#st.regs)],
              lingering => reloader_client_load:lingering(St#st.ctx),
              last_batch => St#st.last},
    {reply, Reply, St};
handle_call(_Req, _From, St) ->
    {reply, {error, unknown_call}, St}.

%% @private
-spec handle_cast(term(), #st{}) -> {noreply, #st{}}.
handle_cast(_Msg, St) ->
    {noreply, St}.

%% @private
-spec handle_info(term(), #st{}) -> {noreply, #st{}}.
handle_info(connect, St) ->
    {noreply, connect(St)};
handle_info(poll, St) ->
    arm_poll(),
    {noreply, sync(St)};
handle_info(purge, St) ->
    {noreply, retry_purges(St#st{purge_timer = undefined})};
handle_info({tcp, S, Data}, #st{sock = S} = St) ->
    inet:setopts(S, [{active, once}]),
    {noreply, data(Data, St)};
handle_info({tcp_closed, S}, #st{sock = S} = St) ->
    {noreply, lost(St, "the daemon closed the connection")};
handle_info({tcp_error, S, Why}, #st{sock = S} = St) ->
    {noreply, lost(St, inet:format_error(Why))};
handle_info({'$reloader_push', From, Ref, Origin, Batch, Items}, St) ->
    {noreply, pushed(From, Ref, Origin, Batch, Items, St)};
handle_info({'$reloader_push_result', Ref, Node, Results}, St) ->
    {Out, W} = reloader_client_push:result(Ref, Node, Results, St#st.waiting),
    {noreply, pushing(Out, St#st{waiting = W})};
handle_info({'DOWN', Ref, process, _, Why}, St) ->
    {Out, W} = reloader_client_push:down(Ref, Why, St#st.waiting),
    {noreply, pushing(Out, St#st{waiting = W})};
handle_info({'$reloader_releases', Req, Answer}, St) ->
    {noreply, releases_done(Req, Answer, St)};
handle_info({push_timeout, Batch}, St) ->
    {Out, W} = reloader_client_push:timeout(Batch, St#st.waiting),
    {noreply, pushing(Out, St#st{waiting = W})};
handle_info(_Msg, St) ->
    {noreply, St}.

%% @private
-spec terminate(term(), #st{}) -> ok.
terminate(_Why, #st{sock = S}) when S =/= undefined ->
    gen_tcp:close(S);
terminate(_Why, _St) ->
    ok.

%% @private
-spec code_change(term(), #st{}, term()) -> {ok, #st{}}.
code_change(_OldVsn, St, _Extra) ->
    {ok, St}.

%% @private Keeps crash reports short: the state as a map whose modules
%% known and code kept are summed up, not listed (the record itself
%% cannot hold the counts: its fields have their types).
-spec format_status(gen_server:format_status()) -> gen_server:format_status().
format_status(#{state := #st{} = St} = Status) ->
    Fields = maps:from_list(lists:zip(record_info(fields, st),
                                      tl(tuple_to_list(St)))),
    Status#{state := Fields#{known := map_size(St#st.known),
                             ctx := reloader_client_load:lingering(St#st.ctx)}};
format_status(Status) ->
    Status.

%%% The connection

%% Connects to the daemon and says hello; on failure, tries again later,
%% logging only the first failure of an outage.
connect(#st{sock = undefined, path = Path} = St) ->
    Opts = [local, binary, {packet, line}, {active, once},
            {buffer, reloader_client_proto:max_line()}, {recbuf, 65536}],
    case gen_tcp:connect({local, Path}, 0, Opts, 2000) of
        {ok, S} ->
            St1 = St#st{sock = S, phase = hello, out = 0, in = 0, sent = #{},
                        skipping = false, regs = #{}, open = undefined,
                        proto = 1, prepared = undefined},
            send(St1, hello, [{proto, 2}, {min, 1}, {pid, os:getpid()},
                              {name, reloader_client_config:name()},
                              {lib, "reloader_client/" ?VERSION}]);
        {error, Why} ->
            St#st.quiet orelse
                ?LOG_WARNING("reloader_client: reloaderd is not reachable at "
                             "~ts: ~ts; retrying quietly",
                             [Path, inet:format_error(Why)]),
            retry(St#st{quiet = true, tries = St#st.tries + 1})
    end;
connect(St) ->
    St.

%% Arms the reconnect timer, doubling the wait up to 2 s.
retry(#st{backoff = B} = St) ->
    erlang:send_after(B, self(), connect),
    St#st{backoff = min(B * 2, ?BACKOFF_MAX)}.

%% Forgets a connection that went away and tries again soon.
lost(#st{sock = S, path = Path} = St, Why) ->
    catch gen_tcp:close(S),
    St#st.quiet orelse
        ?LOG_WARNING("reloader_client: lost reloaderd at ~ts (~ts); "
                     "reconnecting quietly", [Path, Why]),
    retry(St#st{sock = undefined, phase = down, quiet = true, regs = #{},
                open = undefined, backoff = ?BACKOFF_MIN,
                prepared = dropped(St#st.prepared, "the connection is gone"),
                waiting = reloader_client_push:cancel_all(St#st.waiting)}).

%% Sends one line; counts it, so that the daemon's `line=' can be matched
%% with what was sent.
send(#st{sock = undefined} = St, _Verb, _Fields) ->
    St;
send(#st{sock = S, out = N, corked = Corked} = St, Verb, Fields) ->
    Line = reloader_client_proto:format(Verb, Fields),
    case reloader_client_proto:fits(Line) of
        true when Corked =/= none ->
            St#st{out = N + 1, corked = [Line | Corked]};
        true ->
            case gen_tcp:send(S, Line) of
                ok -> St#st{out = N + 1};
                {error, Why} -> lost(St, inet:format_error(Why))
            end;
        false ->
            ?LOG_WARNING("reloader_client: a ~s line would be longer than "
                         "~b bytes; not sent",
                         [Verb, reloader_client_proto:max_line()]),
            St
    end.

%% Sends the lines that Fun(St) sends in one write: a batch's answer
%% reaches the daemon at once, not a line per call into the socket.
in_one_write(Fun, St) ->
    #st{corked = Lines} = St1 = Fun(St#st{corked = []}),
    St2 = St1#st{corked = none},
    case {St2#st.sock, Lines} of
        {undefined, _} -> St2;
        {_, []} -> St2;
        {S, _} ->
            case gen_tcp:send(S, lists:reverse(Lines)) of
                ok -> St2;
                {error, Why} -> lost(St2, inet:format_error(Why))
            end
    end.

%% Takes what the socket delivered: a line, or a piece of a line longer
%% than the protocol allows (packet=line splits those silently at the
%% buffer's size), which is dropped up to its end and answered too-long.
data(Data, #st{skipping = Skipping} = St) ->
    Whole = binary:last(Data) =:= $\n,
    case {Whole, Skipping} of
        {false, _} ->
            St#st{skipping = true};
        {true, true} ->
            St1 = St#st{skipping = false, in = St#st.in + 1},
            ?LOG_WARNING("reloader_client: reloaderd sent a line longer than "
                         "~b bytes (line ~b); discarded",
                         [reloader_client_proto:max_line(), St1#st.in]),
            reply_error(St1, <<"too-long">>,
                        io_lib:format("line longer than ~b bytes (LF "
                                      "included); discarded",
                                      [reloader_client_proto:max_line()]));
        {true, false} ->
            Line = binary:part(Data, 0, byte_size(Data) - 1),
            line(Line, St#st{in = St#st.in + 1})
    end.

%% Handles one line from the daemon.
line(Line, St) ->
    case reloader_client_proto:parse(Line) of
        {ok, Verb, Fields} ->
            verb(Verb, Fields, St);
        {error, Code, Msg} ->
            ?LOG_WARNING("reloader_client: reloaderd sent a line it cannot "
                         "parse (line ~b): ~ts: ~ts: ~ts",
                         [St#st.in, Code, Msg, shorten(Line)]),
            case Line of
                <<"error ", _/binary>> -> St;   % never answer an error
                _ -> reply_error(St, Code, Msg)
            end
    end.

%% Answers the line just received with an error naming what was wrong.
reply_error(St, Code, Msg) ->
    send(St, error, [{code, Code}, {msg, iolist_to_binary(Msg)},
                     {line, St#st.in}]).

%% Fetches required fields; throws the missing-field error otherwise.
need(Verb, Fields, Keys) ->
    [case Fields of
         #{K := V} -> V;
         _ -> throw({<<"missing-field">>,
                     io_lib:format("\"~s\" needs a field \"~s\"", [Verb, K])})
     end || K <- Keys].

%% Reads an integer field; throws the bad-field error otherwise.
int(Key, Value) ->
    try binary_to_integer(Value) of
        N when N >= 0 -> N;
        _ -> throw(bad_int(Key, Value))
    catch error:badarg -> throw(bad_int(Key, Value))
    end.

%% The error for a field that should hold a number.
bad_int(Key, Value) ->
    {<<"bad-field">>, io_lib:format("~s \"~ts\" is not a number",
                                    [Key, shorten(Value)])}.

%% Handles a parsed line; a line that does not fit is reported to the
%% daemon and in the log, and dropped.
verb(Verb, Fields, St) ->
    try
        verb1(Verb, Fields, St)
    catch
        throw:{Code, Msg} ->
            ?LOG_WARNING("reloader_client: reloaderd sent a \"~ts\" line "
                         "this client does not understand (line ~b): ~ts: ~ts",
                         [Verb, St#st.in, Code, Msg]),
            reply_error(St, Code, Msg)
    end.

%% Handles each verb the daemon may send.
verb1(<<"welcome">>, Fields, #st{phase = hello} = St) ->
    [Proto, Server] = need(welcome, Fields, [<<"proto">>, <<"server">>]),
    Version = case int(proto, Proto) of
                  P when P =:= 1; P =:= 2 -> P;
                  P -> throw({<<"bad-field">>,
                              io_lib:format("proto ~b: this client speaks 1 "
                                            "and 2", [P])})
              end,
    ?LOG_INFO("reloader_client: attached to ~ts at ~ts as ~ts (protocol ~b)",
              [Server, St#st.path, reloader_client_config:name(), Version]),
    register_all(St#st{phase = up, quiet = false, tries = 0, proto = Version,
                       backoff = ?BACKOFF_MIN});
verb1(<<"error">>, Fields, St) ->
    daemon_error(Fields, St);
verb1(<<"ping">>, Fields, St) ->
    send(St, pong, [{id, maps:get(<<"id">>, Fields, undefined)}]);
verb1(<<"pong">>, _Fields, St) ->
    St;
verb1(Verb, _Fields, #st{phase = Phase}) when Phase =/= up ->
    throw({<<"unknown-verb">>,
           io_lib:format("\"~ts\" before welcome", [Verb])});
verb1(<<"registered">>, Fields, St) ->
    [Name] = need(registered, Fields, [<<"module">>]),
    case mod_of(Name) of
        undefined -> St;
        Mod -> answered(register, Mod,
                        St#st{regs = maps:put(Mod, registered, St#st.regs)})
    end;
verb1(<<"unregistered">>, Fields, St) ->
    [Name] = need(unregistered, Fields, [<<"module">>]),
    case mod_of(Name) of
        undefined -> St;
        Mod -> answered(unregister, Mod, St)
    end;
verb1(<<"reload">>, Fields, St) ->
    begin_batch(reload, Fields, St);
verb1(<<"releases">>, Fields, St) ->
    [Req, Op] = need(releases, Fields, [<<"req">>, <<"op">>]),
    Arg = maps:get(<<"arg">>, Fields, undefined),
    ?LOG_INFO("reloader_client: releases ~ts~ts (request ~ts)",
              [Op, case Arg of undefined -> ""; _ -> [" ", Arg] end, Req]),
    reloader_client_releases:start(Req, Op, Arg),
    St;
verb1(<<"prepare">>, Fields, #st{proto = 2} = St) ->
    begin_batch(prepare, Fields, St);
verb1(<<"commit">>, Fields, #st{proto = 2} = St) ->
    [B] = need(commit, Fields, [<<"batch">>]),
    {Prep, St1} = take_prepared(int(batch, B), St),
    commit(int(batch, B), Prep, St1);
verb1(<<"abort">>, Fields, #st{proto = 2} = St) ->
    [B] = need(abort, Fields, [<<"batch">>]),
    Batch = int(batch, B),
    {_Prep, St1} = take_prepared(Batch, St),
    Why = maps:get(<<"reason">>, Fields, <<"no reason given">>),
    ?LOG_INFO("reloader_client: batch ~b aborted by reloaderd (~ts); the "
              "prepared code is dropped, the old code runs on",
              [Batch, shorten(Why)]),
    send(St1, aborted, [{batch, Batch}]);
verb1(<<"module">>, Fields, St) ->
    [B, Name, Path, Stamp, Was] =
        need(module, Fields, [<<"batch">>, <<"module">>, <<"path">>,
                              <<"stamp">>, <<"was">>]),
    Batch = int(batch, B),
    Open = open_batch(Batch, St),
    %% An action this client does not know is answered load-failed, and
    %% nothing is tried (docs/PROTOCOL.md, Rollback).
    Action = case maps:get(<<"action">>, Fields, <<"load">>) of
                 <<"load">> -> load;
                 <<"rollback">> -> rollback;
                 A -> {unknown, shorten(A)}
             end,
    Item = #{name => Name, path => Path, stamp => Stamp, was => Was,
             action => Action,
             force => maps:get(<<"force">>, Fields, <<"no">>) =:= <<"yes">>},
    St#st{open = Open#{items := [Item | maps:get(items, Open)]}};
verb1(<<"end">>, Fields, St) ->
    [B] = need('end', Fields, [<<"batch">>]),
    Batch = int(batch, B),
    #{count := Count, items := Items0, kind := Kind} = open_batch(Batch, St),
    Items = lists:reverse(Items0),
    St1 = case length(Items) of
              Count -> St;
              N -> reply_error(St, <<"bad-field">>,
                               io_lib:format("batch ~b announced ~b modules, "
                                             "~b came; answering those",
                                             [Batch, Count, N]))
          end,
    case Kind of
        reload -> run_batch(Batch, Items, St1#st{open = undefined});
        prepare -> run_prepare(Batch, Items, St1#st{open = undefined})
    end;
verb1(<<"welcome">>, _Fields, _St) ->
    throw({<<"unknown-verb">>, "\"welcome\" after the handshake"});
verb1(Verb, _Fields, _St) ->
    throw({<<"unknown-verb">>,
           io_lib:format("unknown verb \"~ts\"", [shorten(Verb)])}).

%% Begins receiving a batch: `reload' (version 1, or a version 2 daemon
%% that sends one) or `prepare' (version 2, loaded in two phases).
begin_batch(Kind, Fields, St) ->
    [B, C] = need(Kind, Fields, [<<"batch">>, <<"count">>]),
    Batch = int(batch, B),
    Count = int(count, C),
    St1 = case St#st.open of
              undefined -> St;
              #{id := Old} ->
                  reply_error(St, <<"bad-field">>,
                              io_lib:format("batch ~b begins while batch ~b "
                                            "has had no end; that one is "
                                            "dropped", [Batch, Old]))
          end,
    St1#st{open = #{id => Batch, count => Count, items => [], kind => Kind}}.

%% The batch being received, which must be the one a line names.
open_batch(Batch, #st{open = #{id := Batch} = Open}) ->
    Open;
open_batch(Batch, _St) ->
    throw({<<"bad-field">>, io_lib:format("batch ~b is not open", [Batch])}).

%% The atom of a module name, if there is one.
mod_of(Name) ->
    try binary_to_existing_atom(Name, utf8)
    catch error:badarg -> undefined
    end.

%% Forgets the request a reply answered: the oldest of that verb for that
%% module.
answered(Verb, Mod, #st{sent = Sent} = St) ->
    case lists:sort([N || {N, {V, M}} <- maps:to_list(Sent), V =:= Verb,
                          M =:= Mod]) of
        [N | _] -> St#st{sent = maps:remove(N, Sent)};
        [] -> St
    end.

%% Logs an error the daemon reports; never answered.  Errors about a
%% registration say what became of the module.
daemon_error(Fields, St) ->
    Code = maps:get(<<"code">>, Fields, <<"?">>),
    Msg = maps:get(<<"msg">>, Fields, <<>>),
    Line = try binary_to_integer(maps:get(<<"line">>, Fields, <<"x">>))
           catch error:badarg -> undefined
           end,
    case maps:take(Line, St#st.sent) of
        {{register, Mod}, Sent} ->
            St1 = St#st{sent = Sent},
            {State, Note} = case Code of
                                <<"no-such-file">> ->
                                    {missing, "its beam is gone (a failed "
                                     "compile deletes it); it stays loaded "
                                     "as it is, and is registered again when "
                                     "the file is back"};
                                _ ->
                                    {refused, "it is not registered"}
                            end,
            ?LOG_WARNING("reloader_client: reloaderd refused to register ~s "
                         "(~ts: ~ts); ~s", [Mod, Code, Msg, Note]),
            St1#st{regs = maps:put(Mod, State, St1#st.regs)};
        _ when Code =:= <<"version">> ->
            ?LOG_ERROR("reloader_client: reloaderd at ~ts speaks another "
                       "protocol version: ~ts", [St#st.path, Msg]),
            St;
        _ ->
            ?LOG_WARNING("reloader_client: reloaderd reports an error about "
                         "line ~p: ~ts: ~ts", [Line, Code, Msg]),
            case maps:take(Line, St#st.sent) of
                {_, Sent} -> St#st{sent = Sent};
                error -> St
            end
    end.

%%% Registrations

%% Arms the timer of the next look at what is loaded.
arm_poll() ->
    case reloader_client_config:poll_interval() of
        infinity -> ok;
        Ms -> erlang:send_after(Ms, self(), poll)
    end.

%% Brings the registrations up to date with what is loaded: modules
%% loaded or changed by others are registered, modules gone are
%% unregistered, and beams that had vanished are tried again.  It costs
%% erlang:loaded/0 and one module MD5 lookup per loaded module; the code
%% server is asked for file names only when something is new.
sync(#st{known = Known} = St) ->
    Now = maps:from_list([{M, Md5} || M <- erlang:loaded(),
                                      Md5 <- md5_of(M)]),
    Changed = [M || {M, Md5} <- maps:to_list(Now),
                    case Known of
                        #{M := #{md5 := Md5}} -> false;
                        _ -> true
                    end],
    Gone = [M || {M, K} <- maps:to_list(Known), not is_map_key(M, Now),
                 not is_map_key(app, K)],
    St1 = lists:foldl(fun forget/2, St, Gone),
    St2 = case Changed of
              [] -> St1;
              _ ->
                  Files = maps:from_list(code:all_loaded()),
                  lists:foldl(fun(M, S) ->
                                      learn(M, maps:get(M, Now),
                                            maps:get(M, Files, none), S)
                              end, St1, Changed)
          end,
    retry_missing(sync_apps(St2)).

%% Registers the `.app' and `.appup' files of the applications loaded
%% (reloader_client_appup), when the applications loaded are not those
%% of the last look (that look walks the code path, so it is not made
%% every poll), and forgets those of applications gone.  An `.app' whose
%% vsn is not the one running is registered with stamp none:, since the
%% node does not run it: the daemon then offers it at once.
sync_apps(#st{known = Known} = St) ->
    Loaded = lists:sort([A || {A, _, _} <- application:loaded_applications()]),
    case Loaded =:= St#st.apps of
        true ->
            St;
        false ->
            Files = lists:append(
                      [[{reloader_client_appup:key(app, A), F, A}
                        | [{reloader_client_appup:key(appup, A), U, A}
                           || U =/= none]]
                       || {A, F, U} <- reloader_client_appup:discover()]),
            Keys = [K || {K, _, _} <- Files],
            Gone = [K || {K, #{app := true}} <- maps:to_list(Known),
                         not lists:member(K, Keys)],
            St1 = lists:foldl(fun forget/2, St, Gone),
            St2 = lists:foldl(fun learn_app/2, St1, Files),
            St2#st{apps = Loaded}
    end.

%% Records one application file, and registers it if it is new.
learn_app({Key, File, App}, #st{known = Known} = St) ->
    case Known of
        #{Key := #{file := File}} ->
            St;
        _ ->
            Stamp = case reloader_client_appup:file_stamp(File) of
                        {ok, S} -> app_stamp(Key, File, App, S);
                        {error, _} -> <<"none:">>
                    end,
            K = #{md5 => Stamp, skip => false, file => File, stamp => Stamp,
                  app => true},
            reg(Key, St#st{known = Known#{Key => K}})
    end.

%% The stamp to register an `.app' under: its own when it describes the
%% vsn that runs, none: otherwise.
app_stamp(Key, File, App, Stamp) ->
    case reloader_client_appup:name(Key) of
        {app, _} ->
            Running = [V || {A, _, V} <- application:loaded_applications(),
                            A =:= App],
            case file:consult(File) of
                {ok, [{application, App, Props}]} ->
                    case [proplists:get_value(vsn, Props)] of
                        Running -> Stamp;
                        _ -> <<"none:">>
                    end;
                _ ->
                    <<"none:">>
            end;
        _ ->
            Stamp
    end.

%% The MD5 of a module's current code, in a list, or [] if it has none.
md5_of(Mod) ->
    try [erlang:get_module_info(Mod, md5)]
    catch error:badarg -> []
    end.

%% Records a module loaded (or loaded anew) by anyone, and registers it
%% if it has a .beam file and is not left alone.
learn(Mod, Md5, File, #st{known = Known} = St) ->
    Skip = not is_list(File) orelse filename:extension(File) =/= ".beam"
        orelse reloader_client_config:excluded(Mod, File),
    case Skip of
        true ->
            St#st{known = Known#{Mod => #{md5 => Md5, skip => true}}};
        false ->
            Abs = filename:absname(File),
            Stamp = reloader_client_load:stamp(Md5),
            Ctx = reloader_client_load:remember(Mod, Abs, Stamp, St#st.ctx),
            K = #{md5 => Md5, skip => false, file => Abs, stamp => Stamp},
            reg(Mod, St#st{known = Known#{Mod => K}, ctx = Ctx})
    end.

%% Forgets a module that is no longer loaded.
forget(Mod, #st{known = Known, regs = Regs} = St) ->
    St1 = St#st{known = maps:remove(Mod, Known), regs = maps:remove(Mod, Regs)},
    case Regs of
        #{Mod := R} when R =:= registered; R =:= pending ->
            N = St1#st.out + 1,
            St2 = send(St1, unregister, [{module, Mod}]),
            St2#st{sent = maps:put(N, {unregister, Mod}, St2#st.sent)};
        _ ->
            St1
    end.

%% Sends a module's registration, when attached.
reg(Mod, #st{phase = up, known = Known} = St) ->
    case Known of
        #{Mod := #{skip := false, file := File, stamp := Stamp}} ->
            N = St#st.out + 1,
            Origin = case reloader_client_config:otp(File) of
                         true -> [{origin, otp}];
                         false -> []
                     end,
            St1 = send(St, register, [{module, Mod}, {path, path_bin(File)},
                                      {stamp, Stamp} | Origin]),
            St1#st{sent = maps:put(N, {register, Mod}, St1#st.sent),
                   regs = maps:put(Mod, pending, St1#st.regs)};
        _ ->
            St
    end;
reg(_Mod, St) ->
    St.

%% Registers every module worth it, after the handshake.
register_all(#st{known = Known} = St) ->
    Mods = [M || {M, #{skip := false}} <- maps:to_list(Known)],
    lists:foldl(fun reg/2, St, lists:sort(Mods)).

%% Registers again the modules whose beam had vanished, once it is back.
retry_missing(#st{regs = Regs, known = Known} = St) ->
    Back = [M || {M, missing} <- maps:to_list(Regs),
                 filelib:is_regular(maps:get(file, maps:get(M, Known, #{}),
                                             ""))],
    lists:foldl(fun reg/2, St, Back).

%% A file name as the bytes the protocol carries.
path_bin(File) ->
    case unicode:characters_to_binary(File, unicode,
                                      file:native_name_encoding()) of
        B when is_binary(B) -> B;
        _ -> list_to_binary(File)
    end.

%%% Reloads

%% Loads a batch the daemon sent, pushes it to the other nodes when so
%% configured, and answers it: the other nodes' results first, as they
%% come (the daemon takes them while the module is still out), then this
%% node's, then `done', then the `purged' lines of old code that went
%% away meanwhile (after `done', so that the daemon never hears of a
%% purge of a module it has out).
run_batch(Batch, Items, St) ->
    {Results, Events, Ctx} = load(Items, St#st.ctx),
    St2 = took(Batch, Results, St#st{ctx = Ctx}),
    {Out, Waiting} = reloader_client_push:start(Batch, Items, Results,
                                                {Results, Events},
                                                St2#st.waiting),
    %% Modules an appup added are registered at once, those it deleted
    %% unregistered.
    sync(pushing(Out, St2#st{waiting = Waiting})).

%% Notes what a batch this node took came to: the new stamps, a log
%% line per module, the purge timer, and the batch for status/0.
took(Batch, Results, St) ->
    St1 = learn_results(Results, St),
    reloader_client_console:sync(),
    [log_result(Batch, R, node()) || R <- Results],
    arm_purge(St1#st{last = #{batch => Batch,
                              results => [{N, S} || #{name := N, status := S}
                                                        <- Results]}}).

%% Prepares a batch of protocol version 2 (docs/PROTOCOL.md, "The
%% Erlang client") and answers it: each module `prepared', or, when any
%% failed, every one given up with its reason; then `done', then the
%% purges.  The prepared set waits for `commit' or `abort'.
run_prepare(Batch, Items, St) ->
    St0 = St#st{prepared = dropped(St#st.prepared,
                                   io_lib:format("batch ~b is prepared",
                                                 [Batch]))},
    {Results, Events, Prep, Ctx} =
        try reloader_client_load:prepare_batch(Items, St0#st.ctx) of
            {ok, P, R, E, C} -> {R, E, {Batch, P}, C};
            {failed, R, E, C} -> {R, E, undefined, C}
        catch
            Class:Why:Stack ->
                {R, E, C} = crashed(Items, St0#st.ctx, {Class, Why, Stack}),
                {R, E, undefined, C}
        end,
    St1 = arm_purge(St0#st{ctx = Ctx, prepared = Prep}),
    %% Answered before the log lines: the daemon can send the commit
    %% while they are written.
    St2 = answer(Batch, [maps:remove(bin, R) || R <- Results], Events, St1),
    %% Prepared modules are logged at debug level only; the commit shows
    %% them.
    [reloader_client_console:sync()
     || lists:any(fun(#{status := S}) -> S =/= prepared end, Results)],
    [log_result(Batch, case R of
                           #{status := prepared} -> R#{quiet => true};
                           _ -> R
                       end, node()) || R <- Results],
    St2.

%% Takes the prepared batch a `commit' or `abort' names; any other is
%% answered bad-result, as the protocol has it.
take_prepared(Batch, #st{prepared = {Batch, Prep}} = St) ->
    {Prep, St#st{prepared = undefined}};
take_prepared(Batch, _St) ->
    throw({<<"bad-result">>, io_lib:format("batch ~b is not prepared here",
                                           [Batch])}).

%% Drops a prepared batch that will never be committed (the connection
%% went away, another batch came): prepare_loading's result is simply
%% forgotten, and the old code runs on.
dropped(undefined, _Why) ->
    undefined;
dropped({Batch, _Prep}, Why) ->
    ?LOG_WARNING("reloader_client: batch ~b was prepared and is dropped "
                 "uncommitted: ~ts", [Batch, Why]),
    undefined.

%% Makes a prepared batch current and answers `committed' with the
%% instant of the switch, or `aborted' when a failure after the switch
%% took this node back to the code it ran; logs each module as a
%% version 1 reload is logged, then pushes the batch to the other nodes
%% when so configured (their results are only logged: the batch is
%% over for the daemon).
commit(Batch, Prep, St) ->
    {Outcome, At, Results, Events, Ctx} =
        try
            reloader_client_load:commit_batch(Prep, St#st.ctx)
        catch
            Class:Why:Stack ->
                #{items := Items} = Prep,
                {R, E, C} = crashed(Items, St#st.ctx, {Class, Why, Stack}),
                {{aborted, <<"internal error in reloader_client">>}, 0.0, R, E,
                 C}
        end,
    St1 = took(Batch, Results, St#st{ctx = Ctx}),
    St2 = in_one_write(fun(S0) -> settled(Batch, Outcome, At, Results,
                                          Events, S0) end, St1),
    #{items := Items1} = Prep,
    {Out, Waiting} = reloader_client_push:start(Batch, Items1, Results,
                                                committed, St2#st.waiting),
    sync(pushing(Out, St2#st{waiting = Waiting,
                             committed = [Batch | St2#st.committed]})).

%% Answers a commit: what each module came to after the switch (its
%% code_change and test/0 ran then), the batch's own answer, and the
%% purges.
settled(Batch, Outcome, At, Results, Events, St) ->
    St1 = lists:foldl(fun(R, S) -> send_result(S, Batch, R, undefined) end,
                      St, Results),
    St2 = case Outcome of
              {committed, Note} ->
                  send(St1, committed, [{batch, Batch},
                                        {at, io_lib:format("~.6f", [At])},
                                        {reason, Note}]);
              {aborted, Why} ->
                  ?LOG_WARNING("reloader_client: batch ~b: ~ts", [Batch, Why]),
                  send(St1, aborted, [{batch, Batch}, {reason, Why}])
          end,
    purged(Events, St2).

%% Does what the push module says: another node's results logged and
%% sent, or a batch answered once its pushes settled.
pushing(Out, St) ->
    lists:foldl(fun({node_results, Batch, Node, Results}, S) ->
                        %% Sent after the commit too: the daemon takes
                        %% other nodes' results for the batch just ended.
                        lists:foldl(fun(R, S1) ->
                                            log_result(Batch, R, Node),
                                            send_result(S1, Batch, R, Node)
                                    end, S, Results);
                   ({answer, Batch, committed}, S) ->
                        S#st{committed = lists:delete(Batch, S#st.committed)};
                   ({answer, Batch, {Results, Events}}, S) ->
                        answer(Batch, Results, Events, S)
                end, St, Out).

%% Sends this node's results of a batch, then `done', then the purges.
answer(Batch, Results, Events, St) ->
    in_one_write(
      fun(St0) ->
              St1 = lists:foldl(fun(R, S) ->
                                        send_result(S, Batch, R, undefined)
                                end, St0, Results),
              purged(Events, send(St1, done, [{batch, Batch}]))
      end, St).

%% Loads a batch; a crash in the loader is a bug of ours, logged and
%% answered load-failed for every module, and the client carries on.
load(Items, Ctx) ->
    try
        reloader_client_load:run_apps(Items, Ctx)
    catch
        Class:Why:Stack -> crashed(Items, Ctx, {Class, Why, Stack})
    end.

%% Logs a crash of the loader and answers every module load-failed with
%% the stamp it runs now.
crashed(Items, Ctx, {Class, Why, Stack}) ->
    ?LOG_ERROR("reloader_client: crashed loading ~p: ~p:~p ~p",
               [[N || #{name := N} <- Items], Class, Why, Stack]),
    Text = iolist_to_binary(["internal error in reloader_client: ",
                             reloader_client_load:fmt({Class, Why})]),
    {[#{name => N, status => 'load-failed', failed => load,
        stamp => case reloader_client_load:current_stamp(mod_of(N)) of
                     undefined -> maps:get(was, I, <<"none:">>);
                     S -> S
                 end,
        reason => Text} || #{name := N} = I <- Items], [], Ctx}.

%% Notes the code now current for each module a batch reloaded, so that
%% the next look at what is loaded does not take it for a change (the
%% daemon takes a result's stamp as the new registration).  A batch that
%% held an application's files has the next look find the applications
%% anew (an appup may add some); one of modules alone does not, since
%% that walk of the code path takes milliseconds.
learn_results(Results, #st{known = Known} = St) ->
    Known1 = lists:foldl(
               fun(#{name := Name, stamp := Stamp} = R, K) ->
                       Mod = mod_of(Name),
                       K1 = silent(maps:get(silent, R, []), K),
                       case {K1, md5_of(Mod)} of
                           {#{Mod := #{app := true} = E}, _} ->
                               K1#{Mod := E#{md5 := Stamp, stamp := Stamp}};
                           {#{Mod := #{skip := false} = E}, [Md5]} ->
                               K1#{Mod := E#{md5 := Md5, stamp := Stamp}};
                           _ -> K1
                       end
               end, Known, Results),
    Apps = [N || #{name := N} <- Results,
                 reloader_client_appup:name(N) =/= module],
    St#st{known = Known1, apps = case Apps of
                                     [] -> St#st.apps;
                                     _ -> []
                                 end}.

%% Notes the code an application's rollback loaded into its modules,
%% without registering them anew (see reloader_client_appup:upgrade/3).
silent(Mods, Known) ->
    lists:foldl(fun(Mod, K) ->
                        case {K, md5_of(Mod)} of
                            {#{Mod := #{skip := false} = E}, [Md5]} ->
                                K#{Mod := E#{md5 := Md5,
                                             stamp := reloader_client_load:
                                                 stamp(Md5)}};
                            _ -> K
                        end
                end, Known, Mods).

%% Sends one module's result; Node is the node it comes from, undefined
%% for this one.  An application's rollback is followed by a result for
%% each registered module whose code it changed, with=app:NAME, so that
%% the daemon knows what runs (docs/PROTOCOL.md, "Results with with=").
%% A registration still unanswered counts: the daemon takes it before
%% this result, with the stamp it had when it was sent.
send_result(St, Batch, #{silent := [_ | _] = Mods} = R, undefined) ->
    St1 = send_result(St, Batch, maps:remove(silent, R), undefined),
    #st{known = Known, regs = Regs} = St1,
    lists:foldl(fun(Mod, S) ->
                        case {maps:get(Mod, Regs, none), Known, md5_of(Mod)} of
                            {Reg, #{Mod := #{stamp := Stamp}}, [_]}
                              when Reg =:= registered; Reg =:= pending ->
                                send(S, result,
                                     [{batch, Batch}, {module, Mod},
                                      {status, ok}, {stamp, Stamp},
                                      {with, maps:get(name, R)}]);
                            _ ->
                                S
                        end
                end, St1, Mods);
send_result(St, Batch, R, Node) ->
    send(St, result, [{batch, Batch}, {module, maps:get(name, R)},
                      {status, maps:get(status, R)},
                      {stamp, maps:get(stamp, R)},
                      {failed, maps:get(failed, R, undefined)},
                      {reason, reason(R)},
                      {load, maps:get(load, R, undefined)},
                      {state, maps:get(state, R, undefined)},
                      {test, maps:get(test, R, undefined)},
                      {purge, maps:get(purge, R, undefined)},
                      {node, Node}]).

%% A result's reason, cut to fit a line.
reason(#{reason := Why}) when byte_size(Why) > ?REASON_MAX ->
    <<(binary:part(Why, 0, ?REASON_MAX))/binary, "...">>;
reason(R) ->
    maps:get(reason, R, undefined).

%% Logs how one module's reload ended on a node; Batch is a batch of the
%% daemon's, or {Batch, Node} for one pushed by that node.  A version the
%% node already ran is logged at debug level only (the user loaded it by
%% hand, with c/1 or recompile()); the rest is shown as one line on the
%% console too when it is on (reloader_client_console).
log_result(Batch, #{name := Name, status := Status} = R, Node) ->
    Times = [io_lib:format(" ~s ~.2f ms", [K, V])
             || K <- [load, state, test, purge], V <- [maps:get(K, R, none)],
                is_float(V)],
    Why = case maps:get(reason, R, undefined) of
              undefined -> "";
              W -> [": ", W]
          end,
    Where = case Node =:= node() of
                true -> "";
                false -> [" on ", atom_to_list(Node)]
            end,
    Label = case Batch of
                {B, Origin} -> io_lib:format("batch ~b of ~s", [B, Origin]);
                B -> io_lib:format("batch ~b", [B])
            end,
    Fmt = "reloader_client: ~ts: ~ts~ts ~s~ts~ts",
    Args = [Label, Name, Where, Status, Times, Why],
    Level0 = case R of
                 #{quiet := true} -> debug;
                 #{status := ok, note := true} -> info;
                 #{status := ok, reason := _} -> warning;
                 #{status := ok} -> info;
                 _ -> warning
             end,
    {Level, Meta} = reloader_client_console:event(Level0, R, Where, Why),
    ?LOG(Level, Fmt, Args, Meta).

%% Sends a `purged' line for each old version that went away.
purged(Events, St) ->
    lists:foldl(fun({purged, Mod, Stamp, After}, S) ->
                        ?LOG_INFO("reloader_client: old code of ~s (~ts) "
                                  "purged after ~.2f ms", [Mod, Stamp, After]),
                        send(S, purged, [{module, Mod}, {stamp, Stamp},
                                         {unmapped, yes}, {'after', After}])
                end, St, Events).

%% Arms the purge retry timer while some old code lingers.
arm_purge(#st{purge_timer = undefined, ctx = Ctx} = St) ->
    case map_size(reloader_client_load:lingering(Ctx)) of
        0 -> St;
        _ -> St#st{purge_timer = erlang:send_after(
                                   reloader_client_config:purge_retry(),
                                   self(), purge)}
    end;
arm_purge(St) ->
    St.

%% Tries again to purge the old code that processes still ran.
retry_purges(St) ->
    {Events, Ctx} = reloader_client_load:retry_purges(St#st.ctx),
    arm_purge(purged(Events, St#st{ctx = Ctx})).

%% Loads a reload another node pushed, and answers it.
pushed(From, Ref, Origin, Batch, Items, St) ->
    ?LOG_INFO("reloader_client: batch ~b of ~s: ~b module(s) pushed",
              [Batch, Origin, length(Items)]),
    reloader_client_console:sync(),
    {Results, Events, Ctx} = load(Items, St#st.ctx),
    St1 = purged(Events, arm_purge(St#st{ctx = Ctx})),
    [log_result({Batch, Origin}, R, node()) || R <- Results],
    reloader_client_push:reply(From, Ref, Results),
    %% The daemon, if attached, learns the new stamps at once.
    sync(St1).

%% Answers a releases request: a `release' line per release the node
%% has, then `releases-done'.
releases_done(Req, {ok, Rows, Note}, St) ->
    ?LOG_INFO("reloader_client: releases (request ~ts): ~ts",
              [Req, case iolist_to_binary(Note) of <<>> -> "ok"; Say -> Say end]),
    St1 = lists:foldl(fun({Name, Vsn, Status}, S) ->
                              send(S, release, [{req, Req}, {name, Name},
                                                {vsn, Vsn}, {status, Status}])
                      end, St, Rows),
    send(St1, 'releases-done', [{req, Req}, {status, ok},
                                {msg, case iolist_to_binary(Note) of
                                          <<>> -> undefined;
                                          N -> N
                                      end}]);
releases_done(Req, {error, Why}, St) ->
    ?LOG_WARNING("reloader_client: releases (request ~ts) failed: ~ts",
                 [Req, Why]),
    send(St, 'releases-done', [{req, Req}, {status, error},
                               {reason, iolist_to_binary(Why)}]).

%% A line or value cut for a log line.
shorten(Bin) when byte_size(Bin) > 200 ->
    <<(binary:part(Bin, 0, 200))/binary, "...">>;
shorten(Bin) ->
    Bin.
