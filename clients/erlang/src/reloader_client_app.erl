%% @doc The application callback of reloader_client: starts its
%% supervisor.
-module(reloader_client_app).
-behaviour(application).

-export([start/2, stop/1]).

%% @private Starts the supervision tree.
start(_Type, _Args) ->
    reloader_client_sup:start_link().

%% @private Nothing to clean up: closing the socket unregisters all.
stop(_State) ->
    ok.
