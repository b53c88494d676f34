%% @doc The reloader line protocol (docs/PROTOCOL.md): parsing the lines
%% the daemon sends and formatting the lines the client sends.
%%
%% A line is `verb *( SP key=value )', at most 16384 bytes with its LF.
%% Every value is escaped: `\\' for a backslash, `\xHH' for any byte;
%% bytes 0x00-0x20 and 0x7F must be escaped.  This module knows nothing
%% about what the verbs mean; {@link reloader_client} does.
-module(reloader_client_proto).

-export([parse/1, format/2, escape/1, max_line/0, fits/1]).

-define(MAX_LINE, 16384).

-type fields() :: #{binary() => binary()}.
-export_type([fields/0]).

%% @doc The longest line either side may send, its LF included.
-spec max_line() -> pos_integer().
max_line() ->
    ?MAX_LINE.

%% @doc Whether a line (its LF included) is within the protocol's limit.
-spec fits(binary()) -> boolean().
fits(Line) ->
    byte_size(Line) =< ?MAX_LINE.

%% @doc Parses one line (without its LF) into its verb and fields, or
%% names what is wrong with it and the error code to answer with.
-spec parse(binary()) ->
    {ok, binary(), fields()} | {error, binary(), iodata()}.
parse(<<>>) ->
    {error, <<"syntax">>, "empty line"};
parse(Line) ->
    case binary:match(Line, <<0>>) of
        nomatch ->
            [Verb | Rest] = binary:split(Line, <<" ">>, [global]),
            case is_word(Verb, false) of
                true -> fields(Verb, Rest, 1, #{});
                false -> {error, <<"syntax">>, "a line must start with a "
                          "verb of lowercase letters and '-'"}
            end;
        _ ->
            {error, <<"syntax">>, "NUL byte in line"}
    end.

%% Parses the fields after the verb, one at a time.
fields(Verb, [], _N, Acc) ->
    {ok, Verb, Acc};
fields(_Verb, [<<>> | _], _N, _Acc) ->
    {error, <<"syntax">>, "empty field (two spaces, or a space at the end)"};
fields(Verb, [Field | Rest], N, Acc) ->
    case binary:split(Field, <<"=">>) of
        [Key, Value] ->
            case is_word(Key, true) of
                false ->
                    not_key_value(N);
                true when is_map_key(Key, Acc) ->
                    {error, <<"syntax">>,
                     io_lib:format("field \"~s\" given twice", [Key])};
                true ->
                    case unescape(Value, <<>>) of
                        {ok, V} ->
                            fields(Verb, Rest, N + 1, Acc#{Key => V});
                        {error, Why} ->
                            {error, <<"bad-field">>,
                             io_lib:format("field \"~s\": ~s", [Key, Why])}
                    end
            end;
        [_] ->
            not_key_value(N)
    end.

%% The error for a field that is not key=value.
not_key_value(N) ->
    {error, <<"syntax">>,
     io_lib:format("field ~b is not key=value with a lowercase key", [N])}.

%% Says whether a verb (or, with Digits, a key) is made of the allowed
%% characters.
is_word(<<>>, _Digits) ->
    false;
is_word(W, Digits) ->
    lists:all(fun(C) when C >= $a, C =< $z -> true;
                 ($-) -> true;
                 (C) when Digits, C >= $0, C =< $9 -> true;
                 (_) -> false
              end, binary_to_list(W)).

%% Undoes the escapes of a value, refusing bytes that must be escaped.
unescape(<<>>, Acc) ->
    {ok, Acc};
unescape(<<"\\\\", Rest/binary>>, Acc) ->
    unescape(Rest, <<Acc/binary, $\\>>);
unescape(<<"\\x", H, L, Rest/binary>>, Acc) ->
    case {hexval(H), hexval(L)} of
        {0, 0} -> {error, "\\x00 is not allowed"};
        {Hi, Lo} when is_integer(Hi), is_integer(Lo) ->
            unescape(Rest, <<Acc/binary, (Hi * 16 + Lo)>>);
        _ -> {error, io_lib:format("bad escape at byte ~b (only \\\\ and "
                                   "\\xHH)", [byte_size(Acc)])}
    end;
unescape(<<"\\", _/binary>>, Acc) ->
    {error, io_lib:format("bad escape at byte ~b (only \\\\ and \\xHH)",
                          [byte_size(Acc)])};
unescape(<<C, _/binary>>, _Acc) when C =< 16#20; C =:= 16#7f ->
    {error, io_lib:format("byte 0x~2.16.0b must be escaped", [C])};
unescape(<<C, Rest/binary>>, Acc) ->
    unescape(Rest, <<Acc/binary, C>>).

%% The value of a hex digit, or false.
hexval(C) when C >= $0, C =< $9 -> C - $0;
hexval(C) when C >= $a, C =< $f -> C - $a + 10;
hexval(C) when C >= $A, C =< $F -> C - $A + 10;
hexval(_) -> false.

%% @doc Escapes a value: backslash, bytes up to 0x20, and 0x7F.
-spec escape(binary()) -> binary().
escape(Bin) ->
    << <<(escape_byte(C))/binary>> || <<C>> <= Bin >>.

%% Escapes one byte if it must be.
escape_byte($\\) -> <<"\\\\">>;
escape_byte(C) when C =< 16#20; C =:= 16#7f ->
    list_to_binary(io_lib:format("\\x~2.16.0b", [C]));
escape_byte(C) -> <<C>>.

%% @doc Formats a line: the verb, then each field with its value escaped,
%% then LF.  Values may be binaries, strings, atoms, integers, or floats
%% (durations in ms, written with two decimals); fields whose value is
%% `undefined' are left out.
-spec format(atom() | binary(), [{atom() | binary(), term()}]) -> binary().
format(Verb, Fields) ->
    iolist_to_binary([to_bin(Verb),
                      [[$\s, to_bin(K), $=, escape(to_bin(V))]
                       || {K, V} <- Fields, V =/= undefined],
                      $\n]).

%% Turns a field's value into bytes.
to_bin(B) when is_binary(B) -> B;
to_bin(A) when is_atom(A) -> atom_to_binary(A, utf8);
to_bin(I) when is_integer(I) -> integer_to_binary(I);
to_bin(F) when is_float(F) -> list_to_binary(io_lib:format("~.2f", [F]));
to_bin(L) when is_list(L) -> unicode:characters_to_binary(L).
