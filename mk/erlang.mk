# erlang.mk: the Erlang client, clients/erlang (issue 5).  Included by
# the top Makefile, whose variables it uses and adds to.
#
# `make` compiles the OTP application reloader_client with erlc into
# $(O)/erlang/ebin (its .app generated from the .app.src with the module
# list filled in, as rebar3 does); `make tests` adds the helpers of the
# end-to-end tests (tests/e2e/t-erlang*.sh) in $(O)/erlang/test;
# `make bench` runs bench-erlang too (bench/README.md).
#
# erlc comes with Debian's erlang-base (scripts/deps.sh installs it).
# Without it the client is left out with a note, so that a build of the
# C parts alone still works.
#
#	make bench-erlang [ERL_N=100]

ERLC ?= erlc
ERL ?= erl
ERLC_FLAGS ?= +debug_info
ERL_WARNINGS = -Werror +warn_export_vars +warn_unused_import
ERL_N ?= 100

ERL_SRCS = $(wildcard clients/erlang/src/*.erl)
ERL_EBIN = $(O)/erlang/ebin
ERL_BEAMS = $(ERL_SRCS:clients/erlang/src/%.erl=$(ERL_EBIN)/%.beam)
ERL_APP = $(ERL_EBIN)/reloader_client.app
ERL_TEST_SRCS = $(wildcard clients/erlang/test/*.erl)
ERL_TEST_BEAMS = $(ERL_TEST_SRCS:clients/erlang/test/%.erl=$(O)/erlang/test/%.beam)
ERL_BENCH_SRCS = $(wildcard bench/erlang/*.erl)
ERL_BENCH_BEAMS = $(ERL_BENCH_SRCS:bench/erlang/%.erl=$(O)/erlang/bench/%.beam)

ERL_EMPTY :=
ERL_SPACE := $(ERL_EMPTY) $(ERL_EMPTY)
ERL_COMMA := ,
ERL_MODS = $(subst $(ERL_SPACE),$(ERL_COMMA),$(strip \
	$(basename $(notdir $(ERL_SRCS)))))

ifneq ($(shell command -v $(ERLC) 2>/dev/null),)
ALL_TARGETS += $(ERL_BEAMS) $(ERL_APP)
TEST_TARGETS += $(ERL_TEST_BEAMS)
else
ALL_TARGETS += erlang-missing
endif

$(ERL_EBIN)/%.beam: clients/erlang/src/%.erl
	@mkdir -p $(@D)
	$(ERLC) $(ERLC_FLAGS) $(ERL_WARNINGS) -o $(@D) $<

$(ERL_APP): clients/erlang/src/reloader_client.app.src $(ERL_SRCS)
	@mkdir -p $(@D)
	sed 's/{modules, \[\]}/{modules, [$(ERL_MODS)]}/' $< >$@

$(O)/erlang/test/%.beam: clients/erlang/test/%.erl
	@mkdir -p $(@D)
	$(ERLC) $(ERLC_FLAGS) $(ERL_WARNINGS) -o $(@D) $<

$(O)/erlang/bench/%.beam: bench/erlang/%.erl
	@mkdir -p $(@D)
	$(ERLC) $(ERLC_FLAGS) $(ERL_WARNINGS) -o $(@D) $<

erlang-missing:
	@echo "note: $(ERLC) not found; the Erlang client is not built" \
	    "(install erlang-base, or run make deps)"

# Reload latency of an Erlang node: reloader_client beside a one-second
# mtime poller in the style of mochiweb's reloader, in the same run.
bench-erlang: $(O)/reloaderd $(ERL_BEAMS) $(ERL_APP) $(ERL_BENCH_BEAMS)
	sh bench/erlang/run.sh $(O) $(ERL_N)

bench: bench-erlang

.PHONY: erlang-missing bench-erlang
