# bench.mk: `make bench` measures reload latency, reloader beside a
# hand-written floor chain in the same run (bench/README.md).  Not part
# of `make check`.
#
#	make bench [N=300] [BENCH_FLAGS=-R]

N ?= 300
BENCH_FLAGS ?=
BENCH_LATENCY = $(O)/bench/latency
BENCH_VARIANTS = $(foreach v,1 2 3 4,$(O)/bench/variant-$(v).so)

bench: $(O)/reloaderd $(BENCH_LATENCY) $(BENCH_VARIANTS)
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

.PHONY: bench

# bench-skew: the switch skew across SKEW_P processes with the same two
# modules, one-phase (protocol 1) beside two-phase (protocol 2), in the
# same run (bench/results.md, "Switch skew"); `make bench` runs it too.
# SKEW_TEST_US makes each module's test hook work that many microseconds.
#
#	make bench-skew [SKEW_N=200] [SKEW_P=8] [SKEW_TEST_US=1000]
#	    [SKEW_DAEMON=path/reloaderd]

SKEW_N ?= 200
SKEW_P ?= 8
SKEW_DAEMON ?= $(O)/reloaderd
SKEW_TEST_US ?=
BENCH_SKEW = $(O)/bench/skew
SKEW_MODDIR = $(O)/bench/skewmods$(if $(SKEW_TEST_US),-us$(SKEW_TEST_US))
BENCH_SKEW_MODS = $(foreach m,a b,$(foreach v,1 2 3 4,\
	$(SKEW_MODDIR)/skew-$(m)-$(v).so))

bench: bench-skew

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
