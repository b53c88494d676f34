# examples.mk: the rules for examples come with that work.
