# erlang.mk: the Erlang client, clients/erlang (issue 5).  Included by
# the top Makefile, whose variables it uses and adds to.
#
# `make` compiles the OTP application reloader_client with erlc into
# $(O)/erlang/ebin (its .app generated from the .app.src with the module
# list filled in, as rebar3 does, and the version of reloader.h); `make
# tests` adds the helpers of the end-to-end tests (tests/e2e/t-erlang*.sh)
# and the EUnit tests in $(O)/erlang/test, the unit test
# $(O)/tests/test-erlang-proto that runs the codec's EUnit tests beside the
# C codec's (tests/unit/test-proto.c), and dialyzer's PLT of the OTP
# applications the client uses, built once into $(O)/erlang/dialyzer.plt
# (about 25 s here) for t-erlang-dialyzer.sh (about 1 s); `make bench`
# runs bench-erlang too (bench/README.md).
#
# erlc comes with Debian's erlang-base, eunit.hrl with erlang-dev, EUnit
# with erlang-eunit, dialyzer with erlang-dialyzer (scripts/deps.sh
# installs them).  Without erlc the client is left out with a note, so
# that a build of the C parts alone still works; without dialyzer, the
# PLT (and t-erlang-dialyzer.sh says so when it runs).
#
#	make bench-erlang [ERL_N=100] [ERL_STAGES=1]

ERLC ?= erlc
ERL ?= erl
DIALYZER ?= dialyzer
ERLC_FLAGS ?= +debug_info
ERL_WARNINGS = -Werror +warn_export_vars +warn_unused_import
ERL_N ?= 100
ERL_STAGES ?= 0

ERL_SRCS = $(wildcard clients/erlang/src/*.erl)
ERL_EBIN = $(O)/erlang/ebin
ERL_BEAMS = $(ERL_SRCS:clients/erlang/src/%.erl=$(ERL_EBIN)/%.beam)
ERL_APP = $(ERL_EBIN)/reloader_client.app
ERL_TEST_SRCS = $(wildcard clients/erlang/test/*.erl)
ERL_TEST_BEAMS = $(ERL_TEST_SRCS:clients/erlang/test/%.erl=$(O)/erlang/test/%.beam)
ERL_PLT = $(O)/erlang/dialyzer.plt
ERL_EUNIT = $(O)/tests/test-erlang-proto
ERL_BENCH_SRCS = $(wildcard bench/erlang/*.erl)
ERL_BENCH_BEAMS = $(ERL_BENCH_SRCS:bench/erlang/%.erl=$(O)/erlang/bench/%.beam)

ERL_EMPTY :=
ERL_SPACE := $(ERL_EMPTY) $(ERL_EMPTY)
ERL_COMMA := ,
ERL_MODS = $(subst $(ERL_SPACE),$(ERL_COMMA),$(strip \
	$(basename $(notdir $(ERL_SRCS)))))

# `make install` puts the application where erl finds it with no -pa:
# ERL_LIBDIR/reloader_client-VSN/ebin, ERL_LIBDIR being the Erlang lib
# directory (code:lib_dir(), /usr/lib/erlang/lib on Debian), asked of
# erl only when installing.
ERL_LIBDIR ?= $(shell $(ERL) -noshell \
    -eval 'io:format("~s", [code:lib_dir()]), halt().')
ERL_APPDIR = $(ERL_LIBDIR)/reloader_client-$(VERSION)

ifneq ($(shell command -v $(ERLC) 2>/dev/null),)
ALL_TARGETS += $(ERL_BEAMS) $(ERL_APP)
TEST_TARGETS += $(ERL_TEST_BEAMS) $(ERL_EUNIT)
ifneq ($(shell command -v $(DIALYZER) 2>/dev/null),)
TEST_TARGETS += $(ERL_PLT)
endif
INSTALL_TARGETS += install-erlang
UNINSTALL_TARGETS += uninstall-erlang
else
ALL_TARGETS += erlang-missing
endif

$(ERL_EBIN)/%.beam: clients/erlang/src/%.erl
	@mkdir -p $(@D)
	$(ERLC) $(ERLC_FLAGS) $(ERL_WARNINGS) -o $(@D) $<

# The version is reloader.h's (VERSION), whatever the .app.src says.
$(ERL_APP): clients/erlang/src/reloader_client.app.src $(ERL_SRCS) \
    include/reloader.h
	@mkdir -p $(@D)
	sed -e 's/{modules, \[\]}/{modules, [$(ERL_MODS)]}/' \
	    -e 's/{vsn, "[^"]*"}/{vsn, "$(VERSION)"}/' $< >$@

$(O)/erlang/test/%.beam: clients/erlang/test/%.erl
	@mkdir -p $(@D)
	$(ERLC) $(ERLC_FLAGS) $(ERL_WARNINGS) -o $(@D) $<

$(O)/erlang/bench/%.beam: bench/erlang/%.erl
	@mkdir -p $(@D)
	$(ERLC) $(ERLC_FLAGS) $(ERL_WARNINGS) -o $(@D) $<

# The codec's EUnit tests as a unit test that tests/run.sh runs with the
# Check ones.
$(ERL_EUNIT): $(ERL_BEAMS) $(ERL_TEST_BEAMS)
	@mkdir -p $(@D)
	printf '%s\n' '#!/bin/sh' \
	    '# The EUnit tests of the Erlang client'"'"'s line codec.' \
	    'exec $(ERL) -noshell -pa $(abspath $(ERL_EBIN)) -pa $(abspath $(O)/erlang/test) -eval '"'"'halt(case eunit:test(reloader_client_proto_tests, [verbose]) of ok -> 0; _ -> 1 end).'"'" >$@
	chmod +x $@

# Dialyzer's PLT: the OTP applications the client calls, and the one
# module of the compiler it asks (beam_opcodes, for a newer OTP's code).
# Built once per build directory; dialyzer checks it at each run.
$(ERL_PLT):
	@mkdir -p $(@D)
	$(DIALYZER) --build_plt --output_plt $@.tmp --apps erts kernel stdlib sasl \
	    "$$($(ERL) -noshell -eval 'io:format("~s", [code:which(beam_opcodes)]), halt().')" \
	    >$@.log 2>&1 || { cat $@.log; exit 1; }
	mv $@.tmp $@

erlang-missing:
	@echo "note: $(ERLC) not found; the Erlang client is not built" \
	    "(install erlang-base, or run make deps)"

install-erlang: $(ERL_BEAMS) $(ERL_APP)
	@[ -n "$(ERL_LIBDIR)" ] || { echo "install: $(ERL) cannot say its" \
	    "lib directory (code:lib_dir()); set ERL_LIBDIR" >&2; exit 1; }
	$(INSTALL) -d $(DESTDIR)$(ERL_APPDIR)/ebin
	$(INSTALL) -m 644 $(ERL_BEAMS) $(ERL_APP) $(DESTDIR)$(ERL_APPDIR)/ebin

uninstall-erlang:
	rm -f $(ERL_BEAMS:$(ERL_EBIN)/%=$(DESTDIR)$(ERL_APPDIR)/ebin/%) \
	    $(DESTDIR)$(ERL_APPDIR)/ebin/reloader_client.app
	-rmdir $(DESTDIR)$(ERL_APPDIR)/ebin $(DESTDIR)$(ERL_APPDIR) 2>/dev/null

# Reload latency of an Erlang node: reloader_client beside mochiweb's
# own reloader (in a second node), in the same run; with ERL_STAGES=1,
# where reloader_client's time goes.
# Its table is kept in $(O)/bench/erlang.txt for bench/results.md.
bench-erlang: $(O)/reloaderd $(ERL_BEAMS) $(ERL_APP) $(ERL_BENCH_BEAMS)
	@mkdir -p $(O)/bench
	sh bench/erlang/run.sh $(O) $(ERL_N) $(ERL_STAGES) \
	    >$(O)/bench/erlang.out
	@cat $(O)/bench/erlang.out
	@[ "$(ERL_STAGES)" != 0 ] || mv $(O)/bench/erlang.out $(O)/bench/erlang.txt

bench: bench-erlang

.PHONY: erlang-missing install-erlang uninstall-erlang bench-erlang
