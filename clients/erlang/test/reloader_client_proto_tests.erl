%% @doc EUnit tests of the Erlang client's line codec
%% (reloader_client_proto), case for case beside the C codec's
%% (tests/unit/test-proto.c), against docs/PROTOCOL.md: verbs and
%% fields, escapes and bad escapes, bytes that must be escaped, empty
%% values, repeated keys, empty fields, NUL bytes, lines at and over the
%% limit, and building lines that parse back.  Run by `make check'
%% ($(O)/tests/test-erlang-proto).
-module(reloader_client_proto_tests).

-include_lib("eunit/include/eunit.hrl").

-define(LIMIT, 16384).

%% Parses a line that must be accepted; returns its verb and fields.
accepted(Line) ->
    case reloader_client_proto:parse(iolist_to_binary(Line)) of
        {ok, Verb, Fields} -> {Verb, Fields};
        {error, Code, Msg} -> error({refused, iolist_to_binary(Line), Code,
                                     iolist_to_binary(Msg)})
    end.

%% Asserts that a line is refused with a message, and with the code Want
%% (any code when Want is any); returns the message.
refused(Line, Want) ->
    case reloader_client_proto:parse(iolist_to_binary(Line)) of
        {error, Code, Msg} ->
            ?assert(Want =:= any orelse Code =:= Want),
            M = iolist_to_binary(Msg),
            ?assertNotEqual(<<>>, M),
            M;
        {ok, _, _} ->
            error({accepted, iolist_to_binary(Line)})
    end.

%% The line format/2 builds, without its LF, after checking that it is
%% one line: LF at its end and nowhere else, no byte below 0x20 nor DEL.
built(Verb, Fields) ->
    Line = reloader_client_proto:format(Verb, Fields),
    Size = byte_size(Line) - 1,
    <<Body:Size/binary, $\n>> = Line,
    ?assertEqual([], [C || <<C>> <= Body, C < 16#20 orelse C =:= 16#7f]),
    Body.

%% Builds "v k=VAL" and parses it back: VAL must come back whole.
roundtrip(Val) ->
    ?assertEqual({<<"v">>, #{<<"k">> => Val}},
                 accepted(built(v, [{k, Val}]))).

%%% Parsing

verb_only_test() ->
    [?assertEqual({list_to_binary(V), #{}}, accepted(V))
     || V <- ["ping", "hello-again", "-", "a", "done", "z-z-"]].

fields_test() ->
    ?assertEqual({<<"hello">>, #{<<"proto">> => <<"1">>,
                                 <<"pid">> => <<"4242">>,
                                 <<"name">> => <<"devserver">>,
                                 <<"lib">> => <<"libreloader/0.1.0">>}},
                 accepted("hello proto=1 pid=4242 name=devserver "
                          "lib=libreloader/0.1.0")),
    %% Order does not matter; unknown fields are kept for the caller to
    %% ignore.
    {_, F} = accepted("pong zz-future=1 id=7"),
    ?assertEqual(<<"7">>, maps:get(<<"id">>, F)),
    ?assertEqual(<<"1">>, maps:get(<<"zz-future">>, F)),
    %% Keys may hold digits and '-', and start with either.
    ?assertEqual({<<"v">>, #{<<"k1">> => <<"a">>, <<"2">> => <<"b">>,
                             <<"-">> => <<"c">>, <<"a-b-9">> => <<"d">>}},
                 accepted("v k1=a 2=b -=c a-b-9=d")),
    {<<"module">>, M} = accepted("module batch=12 module=hello "
                                 "path=/home/u/app/build/hello.so "
                                 "stamp=build-id:77c0 was=build-id:5e2a"),
    ?assertEqual(<<"/home/u/app/build/hello.so">>, maps:get(<<"path">>, M)),
    ?assertEqual(<<"build-id:5e2a">>, maps:get(<<"was">>, M)).

escapes_test() ->
    T = [{"a\\\\b", <<"a\\b">>},
         {"\\\\\\\\", <<"\\\\">>},
         {"\\\\", <<"\\">>},
         {"\\x41\\x4a\\x4A\\x6b\\x6B", <<"AJJkk">>},
         {"\\x20\\x0a\\x0d\\x09\\x7f\\xff\\x80\\x01",
          <<" \n\r\t", 16#7f, 16#ff, 16#80, 1>>},
         {"\\xFF\\xfF\\xFf", <<255, 255, 255>>},
         {"\\x5c", <<"\\">>},
         {"\\x5cx41", <<"\\x41">>},
         {"x\\\\x41", <<"x\\x41">>},
         {"\\x3d\\x3D=", <<"===">>},
         {"\\xc3\\xa9t\\xc3\\xa9", <<16#c3, 16#a9, $t, 16#c3, 16#a9>>},
         {[16#c3, 16#a9, $t, 16#c3, 16#a9], <<16#c3, 16#a9, $t, 16#c3, 16#a9>>},
         {"\\x41", <<"A">>},
         {"end\\x0a", <<"end\n">>}],
    [begin
         ?assertEqual({<<"v">>, #{<<"k">> => Out, <<"j">> => <<"1">>}},
                      accepted(["v k=", In, " j=1"])),
         %% As the last field too.
         ?assertEqual({<<"v">>, #{<<"k">> => Out}}, accepted(["v k=", In]))
     end || {In, Out} <- T].

escape_nul_refused_test() ->
    [?assertMatch({match, _}, re:run(refused(L, <<"bad-field">>), "path"))
     || L <- ["v path=\\x00", "v path=a\\x00b", "v a=1 path=\\x00 b=2",
              "v path=\\x00\\x00"]].

bad_escapes_test() ->
    T = ["\\", "a\\", "\\x", "\\x4", "\\xg1", "\\x1g", "\\q", "\\X41",
         "\\\\\\", "\\u0041", "\\n", "\\0", "ab\\x4", "\\x-1", "\\x 1",
         "\\ "],
    [begin
         refused(["v path=", E], any),
         refused(["v path=", E, " j=1"], any),
         %% "\x 1" and "\ " split the field: any error then.
         case lists:member($\s, E) of
             true -> ok;
             false ->
                 ?assertMatch({match, _},
                              re:run(refused(["v path=", E], <<"bad-field">>),
                                     "path"))
         end
     end || E <- T].

unescaped_bytes_test() ->
    %% Control bytes and DEL must be escaped in values, keys and verbs.
    [begin
         refused(["v k=a", C, "b"], any),
         refused(["v k=", C], any),
         refused(["v k", C, "=1"], <<"syntax">>),
         refused(["pi", C, "ng"], <<"syntax">>)
     end || C <- lists:seq(1, 16#1f)],
    refused(["v k=a", 16#7f, "b"], any),
    refused(["v k=", 16#7f], any),
    refused(["pi", 16#7f, "ng"], <<"syntax">>),
    %% A space ends a field, so a bare space in a value is a field
    %% without '=' after it.
    refused("v k=a b", <<"syntax">>),
    refused("register module=my module path=/x stamp=none:", <<"syntax">>),
    %% A CR before the LF is part of the line and makes it malformed.
    refused("ping\r", <<"syntax">>),
    refused("ping id=1\r", any),
    %% Bytes 0x80-0xFF stand as they are in values, not in verbs or keys.
    [begin
         ?assertEqual({<<"v">>, #{<<"k">> => <<C>>}}, accepted(["v k=", C])),
         refused(["v", C], <<"syntax">>),
         refused(["v k", C, "=1"], <<"syntax">>)
     end || C <- lists:seq(16#80, 16#ff)].

empty_values_test() ->
    ?assertEqual({<<"v">>, #{<<"k">> => <<>>}}, accepted("v k=")),
    ?assertEqual({<<"v">>, #{<<"k">> => <<>>, <<"j">> => <<>>,
                             <<"l">> => <<"x">>}}, accepted("v k= j= l=x")),
    ?assertEqual({<<"none-stamp">>, #{<<"stamp">> => <<"none:">>}},
                 accepted("none-stamp stamp=none:")).

equals_in_value_test() ->
    ?assertEqual({<<"v">>, #{<<"k">> => <<"=">>}}, accepted("v k==")),
    ?assertEqual({<<"v">>, #{<<"k">> => <<"a=b=c">>, <<"j">> => <<"=x">>}},
                 accepted("v k=a=b=c j==x")),
    ?assertEqual({<<"v">>, #{<<"k">> => <<"==">>}}, accepted("v k===")).

duplicate_keys_test() ->
    [?assertMatch({match, _}, re:run(refused(L, any), "\"k\""))
     || L <- ["v k=1 k=2", "v k=1 j=2 k=3", "v k= k=", "v k=1 k=1"]],
    %% Keys that share a prefix are different keys.
    {_, F} = accepted("v k=1 kk=2 k-=3 k1=4"),
    ?assertEqual(4, map_size(F)),
    ?assertEqual(<<"1">>, maps:get(<<"k">>, F)),
    ?assertEqual(<<"2">>, maps:get(<<"kk">>, F)).

bad_verbs_test() ->
    refused("", <<"syntax">>),
    [refused(L, <<"syntax">>)
     || L <- ["Ping", "PING", "p1ng", "ping!", "pi_ng", " ping",
              [16#c3, 16#a9], "k=v", "=", "ping=1", "ping.", "1", "ping/x",
              "pinG id=1", " ", "  ", "\\x70ing"]].

bad_keys_test() ->
    [refused(L, <<"syntax">>)
     || L <- ["v K=1", "v =1", "v k", "v k.x=1", "v k_x=1",
              ["v k", 16#c3, 16#a9, "=1"], "v \\x6b=1", "v k:=1", "v kK=1",
              "v k=1 J=2", "v k=1 j", "v k=1 ="]].

empty_fields_test() ->
    [refused(L, <<"syntax">>)
     || L <- ["v  k=1", "v k=1 ", "v ", "v k=1  j=2", "v k=1 j=2 ",
              "ping  ", "v k= "]].

nul_in_line_test() ->
    [refused(L, <<"syntax">>)
     || L <- [<<"ping", 0>>, <<0, "ping">>, <<0>>, <<"v k=a", 0, "b">>,
              <<"v k=", 0>>, <<"v k=1 j", 0, "=2">>]].

long_line_test() ->
    %% A line of the limit, LF included, parses (the reader enforces the
    %% limit: a longer line reaches the client in pieces).
    Value = binary:copy(<<"abcdefghijklmnopqrstuvwxyz">>, ?LIMIT div 26 + 1),
    V = binary:part(Value, 0, ?LIMIT - 1 - 4),
    ?assertEqual({<<"v">>, #{<<"k">> => V}}, accepted(<<"v k=", V/binary>>)),
    ?assertEqual(?LIMIT, reloader_client_proto:max_line()).

%%% Building

escape_each_byte_test() ->
    [begin
         E = reloader_client_proto:escape(<<C>>),
         if
             C =< 16#20; C =:= 16#7f ->
                 Hex = string:lowercase(integer_to_binary(C + 256, 16)),
                 ?assertEqual(<<"\\x", (binary:part(Hex, 1, 2))/binary>>,
                              string:lowercase(E));
             C =:= $\\ ->
                 ?assertEqual(<<"\\\\">>, E);
             true ->
                 %% Visible ASCII and 0x80-0xFF pass as they are.
                 ?assertEqual(<<C>>, E)
         end,
         roundtrip(<<C>>)
     end || C <- lists:seq(1, 255)].

roundtrip_all_bytes_test() ->
    All = list_to_binary(lists:seq(1, 255)),
    roundtrip(All),
    roundtrip(list_to_binary(lists:reverse(lists:seq(1, 255)))),
    roundtrip(<<>>),
    roundtrip(<<"\\\\x41\\">>),
    roundtrip(<<"\\x00">>).

roundtrip_names_test() ->
    Names = [<<"my module">>, <<"two  spaces">>,
             <<"a\nregister module=evil path=/etc/passwd stamp=none:">>,
             <<"\nerror code=denied">>, <<"tab\there">>, <<"cr\r\n">>,
             <<"\r">>, <<"\n\n">>, <<"\\x41 literal">>, <<"=eq=">>,
             <<"back\\slash\\">>, <<16#c3, 16#a9, " ", 16#c3, 16#bc>>,
             <<" leading and trailing ">>, <<16#7f>>, <<1, 2, 16#1f>>,
             <<"ping">>, <<"k=v j=w">>, <<"%s%n%x">>, <<"~p~s">>],
    [begin
         Path = <<"/home/u/", N/binary, "/b uild/", N/binary, ".so">>,
         ?assertEqual({<<"register">>, #{<<"module">> => N,
                                         <<"path">> => Path,
                                         <<"stamp">> => <<"none:">>}},
                      accepted(built(register, [{module, N}, {path, Path},
                                                {stamp, <<"none:">>}])))
     end || N <- Names].

build_line_test() ->
    ?assertEqual(<<"hello proto=1 pid=4242 name=dev\\x20server lib=\n">>,
                 reloader_client_proto:format(hello, [{proto, 1},
                                                      {pid, "4242"},
                                                      {name, "dev server"},
                                                      {lib, ""}])),
    ?assertEqual(<<"ping\n">>, reloader_client_proto:format(ping, [])),
    ?assertEqual(<<"error msg=unknown\\x20verb\\x20\"frob\" line=3\n">>,
                 reloader_client_proto:format(
                   error, [{msg, <<"unknown verb \"frob\"">>}, {line, 3}])),
    %% Fields whose value is undefined are left out; durations have two
    %% decimals; atoms and binaries as they are.
    ?assertEqual(<<"result batch=7 status=ok load=0.41 reason=a\\\\b\n">>,
                 reloader_client_proto:format(
                   result, [{batch, 7}, {status, ok}, {load, 0.414},
                            {state, undefined}, {reason, <<"a\\b">>}])),
    %% UTF-8 text stays readable.
    ?assertEqual(<<"v k=", 16#c3, 16#a9, "\n">>,
                 reloader_client_proto:format(v, [{k, [16#e9]}])).

too_long_test() ->
    %% "v k=" + value + LF: a value of LIMIT - 5 bytes makes a line of
    %% exactly LIMIT, which fits; one more byte does not.
    Fits = reloader_client_proto:format(v, [{k, binary:copy(<<"a">>,
                                                            ?LIMIT - 5)}]),
    ?assertEqual(?LIMIT, byte_size(Fits)),
    ?assert(reloader_client_proto:fits(Fits)),
    Over = reloader_client_proto:format(v, [{k, binary:copy(<<"a">>,
                                                            ?LIMIT - 4)}]),
    ?assertNot(reloader_client_proto:fits(Over)),
    %% Escapes count as what they take on the wire: 4095 LFs are 16380
    %% bytes escaped, over the limit with "v k=" and the LF.
    ?assertNot(reloader_client_proto:fits(
                 reloader_client_proto:format(
                   v, [{k, binary:copy(<<"\n">>, (?LIMIT - 5) div 4 + 1)}]))),
    ?assert(reloader_client_proto:fits(
              reloader_client_proto:format(
                v, [{k, binary:copy(<<"\n">>, (?LIMIT - 5) div 4)}]))).
