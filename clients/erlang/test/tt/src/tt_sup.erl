%% tt's supervisor: tt13 as its one worker (release_handler finds the
%% processes to suspend through the supervisors).
-module(tt_sup).
-behaviour(supervisor).
-export([start_link/0, init/1]).

start_link() -> supervisor:start_link({local, ?MODULE}, ?MODULE, []).

init([]) ->
    {ok, {#{strategy => one_for_one, intensity => 1, period => 5},
          [#{id => tt13, start => {tt13, start_link, []},
             modules => [tt13]}]}}.
