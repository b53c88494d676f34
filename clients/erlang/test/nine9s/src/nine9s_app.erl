%% nine9s' application: an inets httpd on 127.0.0.1 (port 0 unless the
%% `port' env says otherwise) whose routes nine9s_web reads.  Version
%% 0.2.0 (-DV2) adds the /count route, and set_routes_new/0 and
%% set_routes_old/0 for its appup; with -DBAD_APPLY set_routes_new/0
%% fails, as an appup's apply may.
-module(nine9s_app).
-behaviour(application).
-export([start/2, stop/1, port/0]).
-ifdef(V2).
-export([set_routes_new/0, set_routes_old/0]).
-endif.

start(_Type, _Args) ->
    Root = filename:dirname(code:which(?MODULE)),
    {ok, Httpd} = inets:start(httpd, [{port, application:get_env(nine9s, port, 0)},
                                      {bind_address, {127, 0, 0, 1}},
                                      {server_name, "nine9s"},
                                      {server_root, Root},
                                      {document_root, Root},
                                      {modules, [nine9s_web]}]),
    persistent_term:put({nine9s, httpd}, Httpd),
    nine9s_web:set_routes(routes()),
    nine9s_sup:start_link().

stop(_State) ->
    inets:stop(httpd, persistent_term:get({nine9s, httpd})).

%% The port the server listens on.
port() ->
    [{port, P}] = httpd:info(persistent_term:get({nine9s, httpd}), [port]),
    P.

-ifdef(V2).
routes() -> new_routes().

new_routes() -> [{"/count", count_handler} | old_routes()].

old_routes() -> [{"/", default_handler}].

-ifdef(BAD_APPLY).
set_routes_new() -> error(no_routes_today).
-else.
set_routes_new() -> nine9s_web:set_routes(new_routes()).
-endif.

set_routes_old() -> nine9s_web:set_routes(old_routes()).
-else.
routes() -> [{"/", default_handler}].
-endif.
