%% @doc A fake reloaderd for the Erlang client's tests
%% (tests/e2e/t-erlang-fake.sh): it listens on a Unix socket, answers
%% `hello' with `welcome' and each `register' with `registered', keeps
%% every line the client sends, and sends whatever a test tells it to,
%% so that a test can send lines the real daemon never would (rollbacks,
%% garbage, reloads of modules the node does not have).  Started with
%% `#{proto => 2}' it speaks protocol version 2 to a client that does:
%% a test then sends `prepare', `commit' and `abort' itself.
-module(rc_fake).

-export([start/1, start/2, send/1, wait/1, wait/2, field/2, count/1, lines/0,
         stamp/1, long_line/1]).

%% @doc Listens on Path and serves one client at a time, in a process
%% registered as rc_fake.
start(Path) ->
    start(Path, #{}).

%% @doc Listens on Path, speaking at most the protocol version Opts name
%% (`proto', 1 by default).
start(Path, Opts) ->
    file:delete(Path),
    Parent = self(),
    Pid = spawn(fun() ->
                        put(proto, maps:get(proto, Opts, 1)),
                        {ok, L} = gen_tcp:listen(
                                    0, [local, {ifaddr, {local, Path}},
                                        binary, {packet, line},
                                        {buffer, 65536}, {active, false}]),
                        Parent ! {rc_fake, listening},
                        accept(L, [])
                end),
    register(rc_fake, Pid),
    receive {rc_fake, listening} -> ok after 5000 -> timeout end.

%% Waits for a client, then serves it.
accept(L, Lines) ->
    {ok, S} = gen_tcp:accept(L),
    inet:setopts(S, [{active, once}]),
    serve(L, S, Lines).

%% Keeps the lines the client sends and answers hello and register.
serve(L, S, Lines) ->
    receive
        {tcp, S, Data} ->
            inet:setopts(S, [{active, once}]),
            Line = string:trim(Data, trailing, "\n"),
            auto(S, Line),
            serve(L, S, Lines ++ [Line]);
        {tcp_closed, S} ->
            accept(L, Lines ++ [<<"(closed)">>]);
        {send, From, Data} ->
            From ! {rc_fake, gen_tcp:send(S, Data)},
            serve(L, S, Lines);
        {lines, From} ->
            From ! {rc_fake, Lines},
            serve(L, S, Lines)
    end.

%% Answers what the real daemon answers at once.
auto(S, <<"hello ", Rest/binary>>) ->
    Theirs = [binary_to_integer(V) || <<"proto=", V/binary>>
                                          <- binary:split(Rest, <<" ">>,
                                                          [global])],
    P = lists:min([get(proto) | Theirs]),
    gen_tcp:send(S, ["welcome proto=", integer_to_list(P), " server=rc_fake/0 "
                     "client=1 max-line=16384\n"]);
auto(S, <<"register ", Rest/binary>>) ->
    [Mod] = [M || <<"module=", M/binary>> <- binary:split(Rest, <<" ">>,
                                                           [global])],
    gen_tcp:send(S, ["registered module=", Mod, "\n"]);
auto(_S, _Line) ->
    ok.

%% @doc Sends the client one line (an LF is added).
send(Line) ->
    rc_fake ! {send, self(), [Line, "\n"]},
    receive {rc_fake, R} -> R after 5000 -> timeout end.

%% @doc Every line the client sent so far.
lines() ->
    rc_fake ! {lines, self()},
    receive {rc_fake, Lines} -> Lines after 5000 -> timeout end.

%% @doc How many lines the client sent match a regular expression.
count(Re) ->
    length([L || L <- lines(), re:run(L, Re) =/= nomatch]).

%% @doc Waits (up to 5 s) for the first line matching a regular
%% expression and returns it.
wait(Re) ->
    wait(Re, 1).

%% @doc Waits (up to 5 s) until N lines match, and returns the Nth.
wait(Re, N) ->
    wait(Re, N, 500).

%% Polls the lines kept every 10 ms.
wait(_Re, _N, 0) ->
    timeout;
wait(Re, N, Tries) ->
    case [L || L <- lines(), re:run(L, Re) =/= nomatch] of
        Match when length(Match) >= N -> lists:nth(N, Match);
        _ -> timer:sleep(10), wait(Re, N, Tries - 1)
    end.

%% @doc Waits for the first line matching a regular expression and
%% returns the value of one of its fields, unescaped, as a string (or
%% `none' when the line lacks it).
field(Re, Key) ->
    case wait(Re) of
        timeout -> timeout;
        Line ->
            {ok, _, Fields} = reloader_client_proto:parse(Line),
            K = list_to_binary(Key),
            case Fields of
                #{K := V} -> binary_to_list(V);
                _ -> none
            end
    end.

%% @doc The stamp of a BEAM file, as the daemon would send it.
stamp(Path) ->
    {ok, {_, Md5}} = beam_lib:md5(Path),
    lists:flatten(["md5:" | [io_lib:format("~2.16.0b", [B]) || <<B>> <= Md5]]).

%% @doc A line of N bytes (LF included) that is a well-formed ping.
long_line(N) ->
    Pad = N - length("ping id=") - 1,
    ["ping id=", lists:duplicate(Pad, $x)].
