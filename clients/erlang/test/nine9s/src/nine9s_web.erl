%% nine9s' routes, as an inets httpd module: a request for a path the
%% routes name is answered by its handler's handle/0 ({Status, Body}),
%% any other is 404.
-module(nine9s_web).
-export([do/1, set_routes/1]).
-include_lib("inets/include/httpd.hrl").

%% Sets the routes, [{Path, Handler}].
set_routes(Routes) ->
    persistent_term:put({nine9s, routes}, Routes).

do(#mod{request_uri = Uri}) ->
    [Path | _] = string:split(Uri, "?"),
    case lists:keyfind(Path, 1, persistent_term:get({nine9s, routes}, [])) of
        {_, Handler} ->
            {Status, Body} = Handler:handle(),
            {proceed, [{response, {Status, Body}}]};
        false ->
            {proceed, [{response, {404, "not found\n"}}]}
    end.
