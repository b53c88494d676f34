%% @doc The end-to-end tests' remote control of a node: reads Erlang
%% expressions from standard input, one per line, evaluates each with the
%% bindings of the lines before, and prints `= Value' or
%% `! Class:Reason' on one line of standard output.  The shell side is
%% the Erlang section of tests/e2e/lib.sh.
-module(rc_node).

-export([main/0, newer_otp/2]).

%% @doc Says `ready', then serves commands until standard input ends.
main() ->
    io:format("ready~n"),
    loop(erl_eval:new_bindings()).

%% Reads, evaluates and answers one line after another.
loop(Bindings) ->
    case io:get_line('') of
        eof -> halt(0);
        {error, _} -> halt(0);
        Line ->
            {Out, Bindings1} = eval(Line, Bindings),
            io:format("~ts~n", [Out]),
            loop(Bindings1)
    end.

%% Evaluates one line; an exception is an answer too.
eval(Line, Bindings) ->
    try
        {ok, Tokens, _} = erl_scan:string(Line),
        {ok, Exprs} = erl_parse:parse_exprs(Tokens),
        {value, Value, Bindings1} = erl_eval:exprs(Exprs, Bindings),
        {io_lib:format("= ~0tp", [Value]), Bindings1}
    catch
        Class:Why ->
            {io_lib:format("! ~0tp:~0tp", [Class, Why]), Bindings}
    end.

%% @doc Writes a copy of a BEAM file whose Code chunk claims an opcode
%% no VM knows yet, as a module compiled by a newer OTP looks to this
%% one.  The rest of the file, and so beam_lib:md5/1, stays valid.
newer_otp(From, To) ->
    {ok, _, Chunks} = beam_lib:all_chunks(From),
    {"Code", <<Sub:32, Set:32, _Max:32, Rest/binary>>} =
        lists:keyfind("Code", 1, Chunks),
    Code = <<Sub:32, Set:32, 999:32, Rest/binary>>,
    {ok, Bin} = beam_lib:build_module(
                  lists:keyreplace("Code", 1, Chunks, {"Code", Code})),
    Tmp = To ++ ".tmp",
    ok = file:write_file(Tmp, Bin),
    file:rename(Tmp, To).
