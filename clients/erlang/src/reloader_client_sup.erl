%% @doc The supervisor of reloader_client: one worker, the gen_server
%% that talks to reloaderd, restarted if it crashes (at most 5 times in
%% 60 s, then the application stops rather than loop).
-module(reloader_client_sup).
-behaviour(supervisor).

-export([start_link/0, init/1]).

%% @doc Starts the supervisor, registered as reloader_client_sup.
-spec start_link() -> {ok, pid()} | {error, term()}.
start_link() ->
    supervisor:start_link({local, ?MODULE}, ?MODULE, []).

%% @private The one child.
-spec init([]) -> {ok, {supervisor:sup_flags(), [supervisor:child_spec()]}}.
init([]) ->
    Child = #{id => reloader_client,
              start => {reloader_client, start_link, []},
              restart => permanent, shutdown => 5000, type => worker,
              modules => [reloader_client]},
    {ok, {#{strategy => one_for_one, intensity => 5, period => 60}, [Child]}}.
