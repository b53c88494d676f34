%% tt's application callback: starts tt_sup.
-module(tt_app).
-behaviour(application).
-export([start/2, stop/1]).

start(_Type, _Args) -> tt_sup:start_link().
stop(_State) -> ok.
