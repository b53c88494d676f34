# The Erlang client, clients/erlang (issue 5).
