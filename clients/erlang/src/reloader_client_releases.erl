%% @doc The node's releases, driven by `reloaderctl releases' through the
%% daemon, which relays it as `releases req=R op=OP [arg=X]' (issue 14):
%% release_handler's
%% which_releases, unpack_release, install_release, make_permanent and
%% remove_release, each run in a process of its own (an install may
%% take a while; the client goes on answering the daemon meanwhile).
%% reloader_client sends the answer: one `release' line per release the
%% node has after the step, then `releases-done'.
-module(reloader_client_releases).

-export([start/3, run/2]).

%% @doc Runs an operation for request Req in a process of its own, which
%% sends the caller `{'$reloader_releases', Req, Answer}', Answer being
%% what run/2 returns.
-spec start(binary(), binary(), binary() | undefined) -> pid().
start(Req, Op, Arg) ->
    Self = self(),
    spawn(fun() ->
                  Answer = try run(Op, Arg)
                           catch C:W:S ->
                                   {error, io_lib:format(
                                             "~s:~s in ~s",
                                             [C, fmt(W), where(S)])}
                           end,
                  Self ! {'$reloader_releases', Req, Answer}
          end).

%% @doc Runs one operation: `list', `unpack' NAME (a tarball
%% releases/NAME.tar.gz), `install' VSN (the previous version is a
%% downgrade), `permanent' VSN, `remove' VSN.  Returns the releases the
%% node has then, as `{Name, Vsn, Status}', with a note on what the step
%% did, or why it failed.
-spec run(binary(), binary() | undefined) ->
          {ok, [{string(), string(), atom()}], iodata()} | {error, iodata()}.
run(Op, Arg) ->
    case whereis(release_handler) of
        undefined ->
            {error, "release_handler is not running in this node: it runs "
             "a release only when sasl is started (a release built by "
             "rebar3 or systools starts it)"};
        _ ->
            case step(Op, Arg) of
                {ok, Note} -> {ok, rows(), Note};
                {error, _} = E -> E
            end
    end.

%% One operation of release_handler.
step(<<"list">>, _) ->
    {ok, ""};
step(Op, undefined) when Op =:= <<"unpack">>; Op =:= <<"install">>;
                         Op =:= <<"permanent">>; Op =:= <<"remove">> ->
    {error, [Op, " needs an argument (arg=)"]};
step(<<"unpack">>, Name) ->
    case release_handler:unpack_release(to_list(Name)) of
        {ok, Vsn} -> {ok, ["unpacked ", Vsn]};
        {error, Why} -> {error, ["unpack_release: ", fmt(Why)]}
    end;
step(<<"install">>, Vsn) ->
    case release_handler:install_release(to_list(Vsn)) of
        {ok, From, _} -> {ok, ["installed ", Vsn, " (from ", From, ")"]};
        {continue_after_restart, From, _} ->
            {ok, ["installing ", Vsn, " (from ", From, ") after a restart of "
                  "the emulator"]};
        {error, Why} -> {error, ["install_release: ", fmt(Why)]}
    end;
step(<<"permanent">>, Vsn) ->
    case release_handler:make_permanent(to_list(Vsn)) of
        ok -> {ok, [Vsn, " made permanent"]};
        {error, Why} -> {error, ["make_permanent: ", fmt(Why)]}
    end;
step(<<"remove">>, Vsn) ->
    case release_handler:remove_release(to_list(Vsn)) of
        ok -> {ok, ["removed ", Vsn]};
        {error, Why} -> {error, ["remove_release: ", fmt(Why)]}
    end;
step(Op, _) ->
    {error, ["unknown operation \"", Op, "\": list, unpack, install, "
             "permanent or remove"]}.

%% The releases the node has, as which_releases/0 says.
rows() ->
    [{Name, Vsn, Status}
     || {Name, Vsn, _Apps, Status} <- release_handler:which_releases()].

%% Where an exception came from: its top frame.
where([{M, F, A, _} | _]) ->
    io_lib:format("~s:~s/~b", [M, F, if is_list(A) -> length(A); true -> A end]);
where(_) ->
    "?".

%% A value from the protocol as a string.
to_list(B) -> unicode:characters_to_list(B).

%% Any term as text.
fmt(T) -> reloader_client_load:fmt(T).
