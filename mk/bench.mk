# bench.mk: `make bench` measures every figure of issue 12 beside its
# reference in the same run (bench/run.sh, bench/README.md): it installs
# the tools compared (scripts/deps.sh bench), makes the trees once, and
# writes bench/results.md and bench/results/*.png.  Not part of `make
# check`.
#
#	make bench [QUICK=1] [BENCH_TREES=DIR] [ROUNDS=N]
#	make bench-latency [N=300] [BENCH_FLAGS=-R]	(the C latency only)

N ?= 300
BENCH_FLAGS ?=
BENCH_LATENCY = $(O)/bench/latency
BENCH_VARIANTS = $(foreach v,1 2 3 4,$(O)/bench/variant-$(v).so)
BENCH_TOOLS = $(BENCH_LATENCY) $(BENCH_VARIANTS) $(O)/bench/fanout \
	$(O)/bench/mktree $(O)/bench/statloop $(O)/bench/tiny.so \
	$(O)/bench/onechange

bench-deps:
	@sh scripts/deps.sh bench

bench: bench-deps $(O)/reloaderd $(BENCH_TOOLS)
	QUICK=$(QUICK) sh bench/run.sh $(O)

bench-latency: $(O)/reloaderd $(BENCH_LATENCY) $(BENCH_VARIANTS)
	$(BENCH_LATENCY) $(BENCH_FLAGS) -n $(N) -d $(O)/reloaderd \
	    $(BENCH_VARIANTS)

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
