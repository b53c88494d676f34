%% nine9s' supervisor: no child in 0.1.0; 0.2.0 (-DV2) supervises
%% state_handler, as seed 004 has it.
-module(nine9s_sup).
-behaviour(supervisor).
-export([start_link/0, init/1]).

start_link() -> supervisor:start_link({local, ?MODULE}, ?MODULE, []).

-ifdef(V2).
init([]) ->
    Child = #{id => state_handler, start => {state_handler, start_link, []},
              restart => transient, shutdown => 60000, type => worker,
              modules => [state_handler]},
    {ok, {#{strategy => one_for_all, intensity => 0, period => 1}, [Child]}}.
-else.
init([]) ->
    {ok, {#{strategy => one_for_all, intensity => 0, period => 1}, []}}.
-endif.
