%% @doc The client's settings, read from the `reloader_client'
%% application environment each time they are needed, so that
%% `application:set_env/3' takes effect at once.  README.md describes
%% every key.
%%
%% Policies (`hard_purge', `rollback_on_test_failure', `exclude',
%% `keep_previous') are selectors: `all', `none', or a list whose
%% elements are a module name, `{application, App}', or `{dir, Dir}' (a
%% directory the module's beam lies under).
-module(reloader_client_config).

-export([socket_path/0, name/0, poll_interval/0, purge_retry/0,
         test_timeout/0, suspend_timeout/0, push/0, push_timeout/0,
         code_change_extra/1, hard_purge/2, rollback_on_test_failure/2,
         excluded/2, keep_previous/2, otp/1, own/1, console/0]).

%% @doc Where the daemon's socket is, or `none' when the client must not
%% attach (it then only takes reloads pushed by other nodes): the
%% `socket' key, else $RELOADER_SOCKET, else
%% $XDG_RUNTIME_DIR/reloader.sock, else /run/reloader/reloader.sock for
%% effective uid 0, else /tmp/reloader-EUID.sock: the rule of the daemon,
%% libreloader and reloaderctl (proto_default_socket() in
%% src/proto/proto.c).
-spec socket_path() -> string() | none.
socket_path() ->
    case get(socket, undefined) of
        none -> none;
        Path when is_binary(Path) -> binary_to_list(Path);
        Path when is_list(Path) -> Path;
        undefined -> default_socket()
    end.

%% The socket path when the application environment names none.
default_socket() ->
    case {os:getenv("RELOADER_SOCKET"), os:getenv("XDG_RUNTIME_DIR")} of
        {S, _} when is_list(S), S =/= "" -> S;
        {_, X} when is_list(X), X =/= "" ->
            %% As proto_default_socket() in C: trailing slashes dropped,
            %% nothing else normalised, so that both name the same bytes.
            string:trim(X, trailing, "/") ++ "/reloader.sock";
        _ ->
            case euid() of
                0 -> "/run/reloader/reloader.sock";
                Uid -> "/tmp/reloader-" ++ integer_to_list(Uid) ++ ".sock"
            end
    end.

%% The node's effective uid: from /proc on Linux, else from id(1).
euid() ->
    Parsed = case file:read_file("/proc/self/status") of
                 {ok, Status} ->
                     case re:run(Status, "^Uid:\\s+\\d+\\s+(\\d+)",
                                 [multiline, {capture, all_but_first, list}]) of
                         {match, [U]} -> U;
                         nomatch -> undefined
                     end;
                 {error, _} -> undefined
             end,
    Text = case Parsed of
               undefined -> string:trim(os:cmd("id -u"));
               _ -> Parsed
           end,
    try list_to_integer(Text) catch error:badarg -> -1 end.

%% @doc The name the daemon logs this node under (1 to 64 bytes): the
%% `name' key, else the node name.
-spec name() -> binary().
name() ->
    Name = case get(name, undefined) of
               undefined -> atom_to_binary(node(), utf8);
               N when is_atom(N) -> atom_to_binary(N, utf8);
               N -> unicode:characters_to_binary(N)
           end,
    binary:part(Name, 0, min(byte_size(Name), 64)).

%% @doc How often, in ms, to look for modules loaded or purged by others
%% (`infinity': only at connect and after our own reloads).
-spec poll_interval() -> pos_integer() | infinity.
poll_interval() -> get(poll_interval, 1000).

%% @doc How often, in ms, to retry the soft purge of old code that a
%% process still runs.
-spec purge_retry() -> pos_integer().
purge_retry() -> get(purge_retry, 1000).

%% @doc How long, in ms, a module's test/0 may run.
-spec test_timeout() -> pos_integer().
test_timeout() -> get(test_timeout, 5000).

%% @doc How long, in ms, sys:suspend and sys:change_code may take per
%% process.
-spec suspend_timeout() -> pos_integer().
suspend_timeout() -> get(suspend_timeout, 5000).

%% @doc Which connected nodes get each reload: `false', `true' (every
%% node in nodes() that runs reloader_client), or a list of nodes.
-spec push() -> boolean() | [node()].
push() -> get(push, false).

%% @doc How long, in ms, to wait for a pushed reload's results.
-spec push_timeout() -> pos_integer().
push_timeout() -> get(push_timeout, 30000).

%% @doc Whether each reload and failure is shown as one line on the
%% node's console: `true', `false', or `auto' (the default: when the node
%% has an interactive shell).
-spec console() -> boolean() | auto.
console() ->
    case get(console, auto) of
        B when is_boolean(B) -> B;
        _ -> auto
    end.

%% @doc The Extra argument of code_change/3 for a module (default []).
-spec code_change_extra(module()) -> term().
code_change_extra(Mod) ->
    case get(code_change_extra, #{}) of
        #{Mod := Extra} -> Extra;
        L when is_list(L) -> proplists:get_value(Mod, L, []);
        _ -> []
    end.

%% @doc Whether old code of a module is purged by force, killing the
%% processes that still run it (default: no module).
-spec hard_purge(module(), string() | undefined) -> boolean().
hard_purge(Mod, File) -> selects(get(hard_purge, none), Mod, File).

%% @doc Whether a module whose test/0 fails is rolled back (default: no
%% module; it is kept and reported test-failed, like mochiweb).
-spec rollback_on_test_failure(module(), string() | undefined) -> boolean().
rollback_on_test_failure(Mod, File) ->
    selects(get(rollback_on_test_failure, none), Mod, File).

%% @doc Whether a module is left alone: never registered, never reloaded.
-spec excluded(module(), string() | undefined) -> boolean().
excluded(Mod, File) -> own(Mod) orelse selects(get(exclude, none), Mod, File).

%% @doc Whether the client reads and keeps a module's object code when it
%% registers it, so that it can roll back to it later (default: every
%% module outside the OTP installation, code:root_dir()).
-spec keep_previous(module(), string() | undefined) -> boolean().
keep_previous(Mod, File) ->
    case get(keep_previous, user) of
        user -> is_list(File) andalso not otp(File);
        Sel -> selects(Sel, Mod, File)
    end.

%% @doc Whether a beam file is OTP's own, under the installation's
%% code:root_dir(): the client registers it with `origin=otp', so that
%% `reloaderctl list' can leave it out.  In a release (a target system,
%% whose root holds the release's own applications too) only OTP's
%% applications are, as OTP's `installed_application_versions' names
%% them; where that list cannot be found, everything under the root is.
-spec otp(string()) -> boolean().
otp(File) ->
    Root = code:root_dir(),
    lists:prefix(Root ++ "/", File) andalso
        case otp_apps(Root) of
            all -> true;
            Apps -> lists:member(app_of(Root, File), [erts | Apps])
        end.

%% The names of OTP's applications when the root is a release's, else
%% all; looked up once per node.
otp_apps(Root) ->
    Key = {?MODULE, otp_apps},
    case persistent_term:get(Key, undefined) of
        undefined ->
            Apps = find_otp_apps(Root),
            persistent_term:put(Key, Apps),
            Apps;
        Apps ->
            Apps
    end.

%% Reads the OTP installation's list of its applications, for a root
%% that is a release's (release_handler's RELEASES or relx's
%% start_erl.data there): in the root itself (systools' target systems
%% copy it), else in the installation the emulator came from ($BINDIR is
%% ROOT/erts-VSN/bin).
find_otp_apps(Root) ->
    Target = lists:any(fun(F) ->
                               filelib:is_regular(
                                 filename:join([Root, "releases", F]))
                       end, ["RELEASES", "start_erl.data"]),
    Roots = [Root | case os:getenv("BINDIR") of
                        false -> [];
                        Bin -> [filename:dirname(filename:dirname(Bin))]
                    end],
    Lists = [filename:join([R, "releases", erlang:system_info(otp_release),
                            "installed_application_versions"])
             || R <- Roots],
    case Target andalso [L || L <- Lists, filelib:is_regular(L)] of
        [List | _] ->
            case file:read_file(List) of
                {ok, Bin1} ->
                    [list_to_atom(app_name(binary_to_list(Line)))
                     || Line <- binary:split(Bin1, <<"\n">>, [global, trim_all])];
                {error, _} ->
                    all
            end;
        _ ->
            all
    end.

%% The application a beam under the root belongs to: APP in
%% lib/APP-VSN/ebin, erts for anything not under lib/.
app_of(Root, File) ->
    case filename:split(lists:nthtail(length(Root) + 1, File)) of
        ["lib", Dir | _] -> list_to_atom(app_name(Dir));
        _ -> erts
    end.

%% APP of APP-VSN.
app_name(NameVsn) ->
    case string:split(NameVsn, "-", trailing) of
        [Name, _Vsn] -> Name;
        [Name] -> Name
    end.

%% @doc Whether a module is one of the client's own, which it never
%% reloads.
-spec own(module()) -> boolean().
own(Mod) ->
    lists:prefix("reloader_client", atom_to_list(Mod)).

%% Says whether a selector picks a module.
selects(all, _Mod, _File) -> true;
selects(none, _Mod, _File) -> false;
selects(List, Mod, File) when is_list(List) ->
    lists:any(fun(Sel) -> select1(Sel, Mod, File) end, List);
selects(_, _Mod, _File) -> false.

%% Says whether one element of a selector picks a module.
select1(Mod, Mod, _File) -> true;
select1({application, App}, Mod, _File) ->
    application:get_application(Mod) =:= {ok, App};
select1({dir, Dir}, _Mod, File) when is_list(File) ->
    lists:prefix(filename:absname(Dir) ++ "/", File);
select1(_, _Mod, _File) -> false.

%% Reads one key of the application environment.
get(Key, Default) ->
    application:get_env(reloader_client, Key, Default).
