%% @doc A reloader in the style of mochiweb's reloader.erl, as the
%% reference the Erlang benchmark measures reloaderd against: once a
%% second it looks at the modification time of the file of every loaded
%% module, and reloads (code:purge/1, code:load_file/1, then test/0 if
%% exported) each whose mtime falls between the last look and this one,
%% with the one-second resolution of erlang:localtime/0.  Written for
%% the benchmark from that description; it reloads only modules under
%% the directory it is given, so that it leaves the other chain's module
%% alone, but it looks at every loaded module's file, as mochiweb's does.
-module(rlbench_poller).

-export([start/1, stop/1]).

-include_lib("kernel/include/file.hrl").

%% @doc Starts the poller for modules under Dir; returns its pid.
start(Dir) ->
    spawn(fun() ->
                  timer:send_interval(1000, tick),
                  loop(filename:absname(Dir) ++ "/", erlang:localtime())
          end).

%% @doc Stops it.
stop(Pid) ->
    exit(Pid, kill).

%% Waits for each tick and looks.
loop(Dir, Last) ->
    receive
        tick ->
            Now = erlang:localtime(),
            look(Dir, Last, Now),
            loop(Dir, Now)
    end.

%% Reloads every module under Dir whose file changed in [Last, Now).
look(Dir, Last, Now) ->
    [case file:read_file_info(File) of
         {ok, #file_info{mtime = Mtime}} when Mtime >= Last, Mtime < Now ->
             lists:prefix(Dir, File) andalso reload(Mod);
         _ ->
             ok
     end || {Mod, File} <- code:all_loaded(), is_list(File)],
    ok.

%% Purges, loads and tests one module, the old way.
reload(Mod) ->
    code:purge(Mod),
    case code:load_file(Mod) of
        {module, Mod} ->
            erlang:function_exported(Mod, test, 0) andalso Mod:test();
        {error, _} ->
            false
    end.
