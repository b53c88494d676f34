%% nine9s' /: hello world; from 0.2.0 (-DV2) it counts each request in
%% state_handler.
-module(default_handler).
-export([handle/0]).

-ifdef(V2).
handle() ->
    state_handler:hello_world(),
    {200, "Hello world 2 !\n"}.
-else.
handle() ->
    {200, "Hello world!\n"}.
-endif.
