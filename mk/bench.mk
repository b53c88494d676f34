# bench.mk: the rules for bench come with that work.
