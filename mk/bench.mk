# bench.mk: `make bench` measures every figure of issue 12 beside its
# reference in the same run (bench/run.sh, bench/README.md): it installs
# the tools compared (scripts/deps.sh bench), makes the trees once, and
# writes bench/results.md and bench/results/*.png.  Not part of `make
# check`.
#
#	make bench [QUICK=1] [BENCH_TREES=DIR] [ROUNDS=N]
#	make bench-latency [N=300] [BENCH_FLAGS=-R]	(the C latency only)
#	make bench-trace [N=100]	(as root: where its time goes, by ftrace)

N ?= 300
BENCH_FLAGS ?=
# bench-skew's (below), set before BENCH_TOOLS: a rule's prerequisites
# are expanded where the rule is read.
SKEW_N ?= 200
SKEW_P ?= 8
SKEW_DAEMON ?= $(O)/reloaderd
SKEW_TEST_US ?=
BENCH_SKEW = $(O)/bench/skew
SKEW_MODDIR = $(O)/bench/skewmods$(if $(SKEW_TEST_US),-us$(SKEW_TEST_US))
BENCH_SKEW_MODS = $(foreach m,a b,$(foreach v,1 2 3 4,\
	$(SKEW_MODDIR)/skew-$(m)-$(v).so))
BENCH_LATENCY = $(O)/bench/latency
BENCH_VARIANTS = $(foreach v,1 2 3 4,$(O)/bench/variant-$(v).so)
BENCH_TOOLS = $(BENCH_LATENCY) $(BENCH_VARIANTS) $(O)/bench/fanout \
	$(O)/bench/mktree $(O)/bench/statloop $(O)/bench/tiny.so \
	$(O)/bench/onechange $(BENCH_SKEW) $(BENCH_SKEW_MODS)

bench-deps:
	@sh scripts/deps.sh bench

bench: bench-deps $(O)/reloaderd $(BENCH_TOOLS)
	QUICK=$(QUICK) sh bench/run.sh $(O)

bench-latency: $(O)/reloaderd $(BENCH_LATENCY) $(BENCH_VARIANTS)
	$(BENCH_LATENCY) $(BENCH_FLAGS) -n $(N) -d $(O)/reloaderd \
	    $(BENCH_VARIANTS)

bench-trace: $(O)/reloaderd $(BENCH_LATENCY) $(BENCH_VARIANTS)
	sh bench/trace-latency.sh $(O) $(if $(filter 300,$(N)),100,$(N))

# Linked like the examples (RELOADER_LINK, mk/examples.mk).
$(BENCH_LATENCY): bench/latency.c $(O)/libreloader.so
	@mkdir -p $(@D)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) $(DEPFLAGS) $(ALL_LDFLAGS) -pthread \
	    -o $@ $< $(RELOADER_LINK) -ldl

# Four builds of one module, each with its own build-id.
$(O)/bench/variant-%.so: bench/variant.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) $(DEPFLAGS) -fPIC -shared -Wl,--build-id \
	    -DVARIANT=$* -o $@ $<

.PHONY: bench bench-deps bench-latency

# One change, many clients: reloaderd beside a hand-written floor server.
BENCH_FANOUT = $(O)/bench/fanout
$(BENCH_FANOUT): bench/fanout.c $(PROTO_OBJS) $(STAMP_OBJS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) $(DEPFLAGS) $(ALL_LDFLAGS) -o $@ \
	    $< $(PROTO_OBJS) $(STAMP_OBJS) $(LIBS)

# The scale benchmarks' tools: the tree generator, the bare stat loop a
# poll cycle is compared with, and a small module to copy a million times.
$(O)/bench/mktree: bench/mktree.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) $(DEPFLAGS) $(ALL_LDFLAGS) -o $@ $<

$(O)/bench/statloop: bench/statloop.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) $(DEPFLAGS) $(ALL_LDFLAGS) -o $@ $<

$(O)/bench/tiny.so: bench/tiny.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CPPFLAGS) -fPIC -shared -nostdlib -Wl,--build-id=sha1 \
	    -Wl,-z,noseparate-code -s -o $@ $<

$(O)/bench/onechange: bench/onechange.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) $(DEPFLAGS) $(ALL_LDFLAGS) -o $@ $<

# bench-skew: the switch skew across SKEW_P processes with the same two
# modules, one-phase (protocol 1) beside two-phase (protocol 2), in the
# same run (bench/results.md, "Switch skew"); `make bench` runs it too
# (bench/run.sh).
# SKEW_TEST_US makes each module's test hook work that many microseconds.
#
#	make bench-skew [SKEW_N=200] [SKEW_P=8] [SKEW_TEST_US=1000]
#	    [SKEW_DAEMON=path/reloaderd]

bench-skew: $(O)/reloaderd $(BENCH_SKEW) $(BENCH_SKEW_MODS)
	$(BENCH_SKEW) -n $(SKEW_N) -p $(SKEW_P) -d $(SKEW_DAEMON) \
	    $(SKEW_MODDIR)

$(BENCH_SKEW): bench/skew.c $(O)/libreloader.so
	@mkdir -p $(@D)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) $(DEPFLAGS) $(ALL_LDFLAGS) \
	    -o $@ $< $(RELOADER_LINK)

# Module a or b, variant 1 to 4: skew-a-3.so is a's third build.
$(SKEW_MODDIR)/skew-%.so: bench/skewmod.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) $(DEPFLAGS) -fPIC -shared \
	    -Wl,--build-id -DNAME='"$(word 1,$(subst -, ,$*))"' \
	    -DVARIANT=$(word 2,$(subst -, ,$*)) \
	    $(if $(SKEW_TEST_US),-DTEST_US=$(SKEW_TEST_US)) -o $@ $<

.PHONY: bench-skew
