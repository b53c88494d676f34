%% Seed 001's counter: version 1.1 keeps {state, Cnt} and doubles it on
%% each test/0; version 2.0 (-DV2) adds testcheck to the record, counts
%% up by one, and migrates the state both ways in code_change/3.
-module(tt13).
-behaviour(gen_server).
-export([test/0, start_link/0, stop/0]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2,
         code_change/3]).

-ifdef(V2).
-vsn("2.0").
-record(state, {testcheck, cnt}).
init(_) -> {ok, #state{testcheck = chk, cnt = 1}}.
handle_call(test, _From, #state{cnt = Cnt} = State) ->
    {reply, {ok, Cnt}, State#state{cnt = Cnt + 1}};
handle_call(stop, _From, State) ->
    {stop, normal, ok, State};
handle_call(_Unrec, _From, State) ->
    {reply, {error, invalid_call}, State}.
code_change("1.1", {state, Cnt}, _Extra) ->
    {ok, {state, chk, Cnt}};
code_change({down, "1.1"}, {state, _Chk, Cnt}, _Extra) ->
    {ok, {state, Cnt}};
code_change(_OldVsn, State, _Extra) ->
    {ok, State}.
-else.
-vsn("1.1").
-record(state, {cnt}).
init(_) -> {ok, #state{cnt = 1}}.
handle_call(test, _From, #state{cnt = Cnt} = State) ->
    {reply, {ok, Cnt}, State#state{cnt = Cnt * 2}};
handle_call(stop, _From, State) ->
    {stop, normal, ok, State};
handle_call(_Unrec, _From, State) ->
    {reply, {error, invalid_call}, State}.
code_change(_OldVsn, State, _Extra) ->
    {ok, State}.
-endif.

start_link() -> gen_server:start_link({local, ?MODULE}, ?MODULE, [], []).
test() -> gen_server:call(?MODULE, test).
stop() -> gen_server:cast(?MODULE, stop).
handle_cast(_Msg, State) -> {noreply, State}.
handle_info(_Info, State) -> {noreply, State}.
terminate(_Reason, _State) -> ok.
