%% @doc The application callback of reloader_client: starts its
%% supervisor.
-module(reloader_client_app).
-behaviour(application).

-export([start/2, stop/1]).

%% @private Starts the supervision tree.
-spec start(application:start_type(), term()) -> {ok, pid()} | {error, term()}.
start(_Type, _Args) ->
    reloader_client_sup:start_link().

%% @private Takes the console handler away; the socket closed with the
%% client, and that unregistered everything.
-spec stop(term()) -> ok.
stop(_State) ->
    reloader_client_console:remove().
