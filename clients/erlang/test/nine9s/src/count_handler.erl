%% nine9s' /count (0.2.0): how many times / answered.
-module(count_handler).
-export([handle/0]).

handle() ->
    {200, [integer_to_list(state_handler:get_hello_world_count()), "\n"]}.
