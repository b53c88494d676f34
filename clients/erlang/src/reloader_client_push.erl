%% @doc Reloads pushed to other nodes over Erlang distribution.
%%
%% A node that takes a batch from reloaderd sends the object code it
%% loaded to the connected nodes that run reloader_client too (the
%% `push' setting); they load it with the same steps, for the modules
%% they have loaded, and send their results back.  A pushed reload is
%% never pushed further, so that nodes cannot loop.
%%
%% This module keeps the batches out to other nodes and the messages
%% between nodes; {@link reloader_client} owns the socket, and applies
%% what each function here returns: `{node_results, Batch, Node,
%% Results}', another node's results to log and send to the daemon, and
%% `{answer, Batch, Own}' once every node of a batch answered (or the
%% time ran out), Own being what the caller gave {@link start/5} to be
%% handed back then.
-module(reloader_client_push).

-export([new/0, start/5, reply/3, result/4, down/3, timeout/2,
         cancel_all/1]).

-include_lib("kernel/include/logger.hrl").

-type batch() :: non_neg_integer().
-type waiting() :: #{batch() => #{refs := #{reference() => node()},
                                  timer := reference(),
                                  explicit := boolean(),
                                  names := [binary()],
                                  own := term()}}.
-type out() :: {node_results, batch(), node(), [map()]}
             | {answer, batch(), term()}.
-export_type([waiting/0, out/0]).

%% @doc No batch out to other nodes.
-spec new() -> waiting().
new() ->
    #{}.

%% @doc Pushes the modules a batch loaded here to the nodes the `push'
%% setting names: those whose result (of Results, for Items) is ok or
%% test-failed, with their object code.  Answers at once when there is
%% nothing to push or nobody to push to.
-spec start(batch(), [map()], [map()], term(), waiting()) ->
          {[out()], waiting()}.
start(Batch, Items, Results, Own, Waiting) ->
    ByName = maps:from_list([{N, I} || #{name := N} = I <- Items]),
    Pushed = [(maps:get(Name, ByName))#{bin => Bin, stamp => Stamp,
                                        pushed => true}
              || #{name := Name, status := S, bin := Bin,
                   stamp := Stamp} <- Results,
                 S =:= ok orelse S =:= 'test-failed'],
    {Explicit, Nodes} = case reloader_client_config:push() of
                            true -> {false, nodes()};
                            L when is_list(L) -> {true, L -- [node()]};
                            _ -> {false, []}
                        end,
    case Pushed =:= [] orelse Nodes =:= [] of
        true ->
            {[{answer, Batch, Own}], Waiting};
        false ->
            Refs = maps:from_list(
                     [begin
                          Ref = erlang:monitor(process,
                                               {reloader_client, Node}),
                          {reloader_client, Node} !
                              {'$reloader_push', self(), Ref, node(), Batch,
                               Pushed},
                          {Ref, Node}
                      end || Node <- Nodes]),
            T = reloader_client_config:push_timeout(),
            Timer = erlang:send_after(T, self(), {push_timeout, Batch}),
            W = #{refs => Refs, timer => Timer, explicit => Explicit,
                  names => [N || #{name := N} <- Pushed], own => Own},
            {[], Waiting#{Batch => W}}
    end.

%% @doc Sends the node that pushed a batch this node's results (without
%% the object code).
-spec reply(pid(), reference(), [map()]) -> ok.
reply(From, Ref, Results) ->
    From ! {'$reloader_push_result', Ref, node(),
            [maps:remove(bin, R) || R <- Results]},
    ok.

%% @doc Takes what a node answered to a batch pushed to it.
-spec result(reference(), node(), [map()], waiting()) -> {[out()], waiting()}.
result(Ref, Node, Results, Waiting) ->
    case find(Ref, Waiting) of
        {Batch, W} ->
            erlang:demonitor(Ref, [flush]),
            settled(Batch, Ref, W, [{node_results, Batch, Node, Results}],
                    Waiting);
        none ->
            {[], Waiting}
    end.

%% @doc A node to push to is down, or runs no reloader_client: reported
%% when the node was named in the settings, skipped when it was just one
%% of nodes().
-spec down(reference(), term(), waiting()) -> {[out()], waiting()}.
down(Ref, Why, Waiting) ->
    case find(Ref, Waiting) of
        {Batch, #{refs := Refs, explicit := Explicit, names := Names} = W} ->
            Node = maps:get(Ref, Refs),
            Text = case Why of
                       noproc -> "reloader_client is not running there";
                       noconnection -> "the node is down";
                       _ -> ["it failed: ", reloader_client_load:fmt(Why)]
                   end,
            Out = case Explicit of
                      true ->
                          [unpushed(Batch, Node, Names, ["not pushed: ", Text])];
                      false ->
                          ?LOG_DEBUG("reloader_client: not pushing to ~s: ~ts",
                                     [Node, Text]),
                          []
                  end,
            settled(Batch, Ref, W, Out, Waiting);
        none ->
            {[], Waiting}
    end.

%% @doc Gives up on the nodes that did not answer a batch in time.
-spec timeout(batch(), waiting()) -> {[out()], waiting()}.
timeout(Batch, Waiting) ->
    case maps:take(Batch, Waiting) of
        {#{refs := Refs, names := Names, own := Own}, Waiting1} ->
            T = reloader_client_config:push_timeout(),
            Out = [begin
                       erlang:demonitor(Ref, [flush]),
                       unpushed(Batch, Node, Names,
                                io_lib:format("no answer from ~s within ~b ms",
                                              [Node, T]))
                   end || {Ref, Node} <- maps:to_list(Refs)],
            {Out ++ [{answer, Batch, Own}], Waiting1};
        error ->
            {[], Waiting}
    end.

%% @doc Drops every batch out, when the connection they answer is gone.
-spec cancel_all(waiting()) -> waiting().
cancel_all(Waiting) ->
    maps:foreach(fun(_Batch, #{refs := Refs, timer := Timer}) ->
                         erlang:cancel_timer(Timer),
                         [erlang:demonitor(R, [flush]) || R <- maps:keys(Refs)]
                 end, Waiting),
    new().

%% The results saying that a node did not take the modules of a batch,
%% and why.
unpushed(Batch, Node, Names, Why) ->
    {node_results, Batch, Node,
     [#{name => Name, status => 'load-failed', stamp => <<"none:">>,
        failed => load, reason => iolist_to_binary(Why)} || Name <- Names]}.

%% Finds the batch a monitor belongs to.
find(Ref, Waiting) ->
    case [{B, W} || {B, #{refs := Refs} = W} <- maps:to_list(Waiting),
                    is_map_key(Ref, Refs)] of
        [Found] -> Found;
        [] -> none
    end.

%% Crosses a node off a batch, after Out; answers the batch after the
%% last node.
settled(Batch, Ref, #{refs := Refs, timer := Timer, own := Own} = W, Out,
        Waiting) ->
    Left = maps:remove(Ref, Refs),
    case map_size(Left) of
        0 ->
            erlang:cancel_timer(Timer),
            {Out ++ [{answer, Batch, Own}], maps:remove(Batch, Waiting)};
        _ ->
            {Out, Waiting#{Batch := W#{refs := Left}}}
    end.
