# reloader: a hot-code reloading daemon.  Plain GNU make.

# The version is include/reloader.h's, read here and nowhere else.
hdr_version = $(shell sed -n \
    's/^.define RELOADER_VERSION_$(1) \([0-9]*\)$$/\1/p' include/reloader.h)
VERSION_MAJOR := $(call hdr_version,MAJOR)
VERSION := $(VERSION_MAJOR).$(call hdr_version,MINOR).$(call hdr_version,PATCH)

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
INCLUDEDIR ?= $(PREFIX)/include
MANDIR ?= $(PREFIX)/share/man
# As a distribution's packages have it: PREFIX=/usr keeps its
# configuration in /etc, any other prefix in PREFIX/etc.
ifeq ($(PREFIX),/usr)
SYSCONFDIR ?= /etc
else
SYSCONFDIR ?= $(PREFIX)/etc
endif
# The platform's library directory under /usr: Debian's multiarch one
# (/usr/lib/x86_64-linux-gnu), where ld.so and pkg-config look first;
# PREFIX/lib for any other prefix, and where the compiler names none.
ifeq ($(PREFIX),/usr)
LIBDIR ?= $(PREFIX)/lib$(patsubst %,/%,$(shell $(CC) -print-multiarch \
    2>/dev/null))
else
LIBDIR ?= $(PREFIX)/lib
endif
DOCDIR ?= $(PREFIX)/share/doc/reloader
MAN1DIR ?= $(MANDIR)/man1
MAN3DIR ?= $(MANDIR)/man3
MAN5DIR ?= $(MANDIR)/man5
MAN8DIR ?= $(MANDIR)/man8

# systemd's units and sysusers.d file.  The defaults keep them under
# PREFIX, where systemd looks only for PREFIX=/usr; with another PREFIX
# set these to what `pkg-config --variable=systemdsystemunitdir systemd`
# (and systemduserunitdir, sysusersdir) say, or link the units by hand.
SYSTEMDSYSTEMUNITDIR ?= $(PREFIX)/lib/systemd/system
SYSTEMDUSERUNITDIR ?= $(PREFIX)/lib/systemd/user
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d

CC ?= cc
CFLAGS ?= -O2 -g
PKG_CONFIG ?= pkg-config
INSTALL ?= install

# Build directory: `make O=obj-asan SANITIZE=1` keeps a second build apart.
O ?= obj

WARNINGS = -Wall -Wextra -Wshadow -Wpointer-arith -Wstrict-prototypes \
	-Wmissing-prototypes -Wformat=2 -Wwrite-strings -Wundef \
	-Wno-unused-parameter
ifdef SANITIZE
SANFLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=undefined
endif

ALL_CPPFLAGS = -D_GNU_SOURCE -DRELOADER_VERSION='"$(VERSION)"' \
	-Iinclude -Isrc/stamp -Isrc/proto -Isrc/reloaderd $(CPPFLAGS)
ALL_CFLAGS = -std=c11 $(WARNINGS) $(SANFLAGS) $(CFLAGS)
# Each compiler run writes what its target includes to TARGET.d, read
# back below: a header's change rebuilds exactly what includes it.
DEPFLAGS = -MMD -MP -MF $@.d -MT $@
ALL_LDFLAGS = $(SANFLAGS) $(LDFLAGS)

# libev ships no pkg-config file on Debian; the others do.
LIBS = -lev $(shell $(PKG_CONFIG) --libs libelf libmd zlib)
CHECK_CFLAGS = $(shell $(PKG_CONFIG) --cflags check)
CHECK_LIBS = $(shell $(PKG_CONFIG) --libs check)

STAMP_SRCS = src/stamp/stamp.c src/stamp/stamp-elf.c src/stamp/stamp-beam.c
PROTO_SRCS = src/proto/proto.c src/proto/linebuf.c
DAEMON_SRCS = src/reloaderd/config.c src/reloaderd/log.c \
	src/reloaderd/hash.c src/reloaderd/tree.c src/reloaderd/batch.c \
	src/reloaderd/inotify.c src/reloaderd/poll.c \
	src/reloaderd/control.c src/reloaderd/client.c \
	src/reloaderd/cred.c src/reloaderd/notify.c src/reloaderd/ctl.c \
	src/reloaderd/reg.c src/reloaderd/wanted.c src/reloaderd/path.c \
	src/reloaderd/hold.c src/reloaderd/upgrade.c src/reloaderd/set.c \
	src/reloaderd/sources.c \
	src/reloaderd/relay.c src/reloaderd/loop.c src/reloaderd/fqueue.c \
	$(PROTO_SRCS)
MAIN_SRCS = src/reloaderd/reloaderd.c

STAMP_OBJS = $(STAMP_SRCS:%.c=$(O)/%.o)
DAEMON_OBJS = $(DAEMON_SRCS:%.c=$(O)/%.o)
MAIN_OBJS = $(MAIN_SRCS:%.c=$(O)/%.o)
PROTO_OBJS = $(PROTO_SRCS:%.c=$(O)/%.o)

UNIT_SRCS = $(wildcard tests/unit/test-*.c)
UNIT_BINS = $(UNIT_SRCS:tests/unit/%.c=$(O)/tests/%)

FUZZ_SRCS = $(wildcard tests/fuzz/fuzz-*.c)
FUZZ_BINS = $(FUZZ_SRCS:tests/fuzz/%.c=$(O)/tests/%)

HELPER_BINS = $(O)/tests/writehalves $(O)/tests/rlclient \
	$(O)/tests/notifylisten $(O)/tests/fdhog $(O)/tests/failopen.so \
	$(O)/tests/fanclients

# Everything `make tests` builds besides the daemon; the fragments below
# add to it.
TEST_TARGETS = $(UNIT_BINS) $(FUZZ_BINS) $(HELPER_BINS)

# The client library, the examples and the benchmarks each keep their
# rules in a fragment of their own.  They add to ALL_TARGETS (built by
# `make`), TEST_TARGETS, and INSTALL_TARGETS / UNINSTALL_TARGETS (phony
# targets that `make install` / `make uninstall` run too).
.DEFAULT_GOAL := all
ALL_TARGETS = $(O)/reloaderd
INSTALL_TARGETS =
UNINSTALL_TARGETS =
include mk/libreloader.mk mk/examples.mk mk/bench.mk mk/reloaderctl.mk \
	mk/erlang.mk mk/deb.mk

all: $(ALL_TARGETS)

$(O)/reloaderd: $(MAIN_OBJS) $(DAEMON_OBJS) $(STAMP_OBJS)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

# reloader.h besides what the .d file names: ALL_CPPFLAGS carries its
# version into every object.
$(O)/%.o: %.c include/reloader.h
	@mkdir -p $(@D)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) $(DEPFLAGS) -c -o $@ $<

$(O)/tests/test-%: tests/unit/test-%.c $(DAEMON_OBJS) $(STAMP_OBJS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CPPFLAGS) $(CHECK_CFLAGS) -Itests/unit $(ALL_CFLAGS) \
	    $(DEPFLAGS) $(ALL_LDFLAGS) -o $@ $< $(DAEMON_OBJS) $(STAMP_OBJS) \
	    $(CHECK_LIBS) $(LIBS)

# Fuzz targets built with the plain compiler and a file-replaying main, so
# that `make check` runs every target over its corpus; `make fuzz` builds
# the same targets with clang's libFuzzer for long runs.
$(O)/tests/fuzz-%: tests/fuzz/fuzz-%.c $(O)/tests/fuzz/replay.o \
    $(DAEMON_OBJS) $(STAMP_OBJS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) $(DEPFLAGS) $(ALL_LDFLAGS) -o $@ \
	    $< $(O)/tests/fuzz/replay.o $(DAEMON_OBJS) $(STAMP_OBJS) $(LIBS)

# A preloaded shim, built without the sanitizers whatever the build: it
# only stands in for the kernel's open(2).
$(O)/tests/failopen.so: tests/e2e/failopen.c
	@mkdir -p $(@D)
	$(CC) -shared -fPIC $(WARNINGS) $(CFLAGS) $(DEPFLAGS) -o $@ $< -ldl

$(O)/tests/%: tests/e2e/%.c $(PROTO_OBJS) $(STAMP_OBJS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) $(DEPFLAGS) $(ALL_LDFLAGS) -o $@ \
	    $< $(PROTO_OBJS) $(STAMP_OBJS) $(LIBS)

FUZZ_CC ?= clang
FUZZ_SANS = -fsanitize=fuzzer,address,undefined -fno-omit-frame-pointer

fuzz: $(FUZZ_SRCS:tests/fuzz/%.c=obj-fuzz/%)

obj-fuzz/fuzz-%: tests/fuzz/fuzz-%.c $(STAMP_SRCS) $(DAEMON_SRCS)
	@mkdir -p $(@D)
	$(FUZZ_CC) -g -O1 $(ALL_CPPFLAGS) $(FUZZ_SANS) -o $@ $< \
	    $(STAMP_SRCS) $(DAEMON_SRCS) $(LIBS)

# The Debian packages `make check` needs (all of them), and those `make
# run` needs (what the demo builds and runs).
deps:
	@sh scripts/deps.sh check

deps-run:
	@sh scripts/deps.sh run

# Under sudo, what builds and what the demo runs run as the user who
# called sudo, so that the tree holds no root-owned file for their next
# build; installing packages and the tests (parts need root) keep root.
AS_USER = $(if $(SUDO_UID),$(if $(filter 0,$(shell id -u)),setpriv \
	--reuid=$(SUDO_UID) --regid=$(SUDO_GID) --init-groups --))

tests: $(ALL_TARGETS) $(TEST_TARGETS)

check: deps
	@$(AS_USER) $(MAKE) --no-print-directory tests
	@O=$(O) sh tests/run.sh

# The same suite again under AddressSanitizer and UBSan.
check-sanitize: deps
	@$(AS_USER) $(MAKE) --no-print-directory O=obj-san SANITIZE=1 tests
	@O=obj-san SANITIZE=1 sh tests/run.sh

# Under sudo the demo's daemon listens where the user's second terminal
# looks: in their XDG_RUNTIME_DIR, which sudo leaves out.
RUN_ENV = $(if $(SUDO_UID),$(if $(wildcard /run/user/$(SUDO_UID)/.),env \
	XDG_RUNTIME_DIR=/run/user/$(SUDO_UID) ))

run: deps-run
	@$(AS_USER) $(MAKE) --no-print-directory all
	@$(AS_USER) $(RUN_ENV)sh examples/run.sh $(O)

format:
	clang-format -i $(STAMP_SRCS) $(DAEMON_SRCS) $(MAIN_SRCS) \
	    src/stamp/*.h src/proto/*.h src/reloaderd/*.h include/*.h \
	    tests/unit/*.c tests/fuzz/*.c

# reloaderctl's binary is installed by install-ctl (mk/reloaderctl.mk),
# its page here with the others.  The units name the installed paths:
# @BINDIR@ and @SYSCONFDIR@ in them become what this install uses.
UNIT_SED = sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g'
SYSTEM_UNITS = reloaderd.service reloaderd.socket
USER_UNITS = reloaderd.service reloaderd.socket
MAN_PAGES = $(MAN1DIR)/reloaderctl.1 $(MAN3DIR)/libreloader.3 \
	$(MAN5DIR)/reloader.conf.5 $(MAN8DIR)/reloaderd.8

install: $(ALL_TARGETS) $(INSTALL_TARGETS)
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(INCLUDEDIR) \
	    $(DESTDIR)$(MAN1DIR) $(DESTDIR)$(MAN3DIR) $(DESTDIR)$(MAN5DIR) \
	    $(DESTDIR)$(MAN8DIR) $(DESTDIR)$(DOCDIR) \
	    $(DESTDIR)$(SYSTEMDSYSTEMUNITDIR) $(DESTDIR)$(SYSTEMDUSERUNITDIR) \
	    $(DESTDIR)$(SYSUSERSDIR)
	$(INSTALL) -m 755 $(O)/reloaderd $(DESTDIR)$(BINDIR)/reloaderd
	$(INSTALL) -m 644 include/reloader.h $(DESTDIR)$(INCLUDEDIR)/reloader.h
	$(INSTALL) -m 644 docs/reloaderctl.1 $(DESTDIR)$(MAN1DIR)/reloaderctl.1
	$(INSTALL) -m 644 docs/libreloader.3 $(DESTDIR)$(MAN3DIR)/libreloader.3
	$(INSTALL) -m 644 docs/reloader.conf.5 \
	    $(DESTDIR)$(MAN5DIR)/reloader.conf.5
	$(INSTALL) -m 644 docs/reloaderd.8 $(DESTDIR)$(MAN8DIR)/reloaderd.8
	$(INSTALL) -m 644 reloader.conf.example \
	    $(DESTDIR)$(DOCDIR)/reloader.conf.example
	for u in $(SYSTEM_UNITS); do \
	    $(UNIT_SED) systemd/$$u >$(DESTDIR)$(SYSTEMDSYSTEMUNITDIR)/$$u && \
	    chmod 644 $(DESTDIR)$(SYSTEMDSYSTEMUNITDIR)/$$u || exit 1; \
	done
	for u in $(USER_UNITS); do \
	    $(UNIT_SED) systemd/user/$$u >$(DESTDIR)$(SYSTEMDUSERUNITDIR)/$$u && \
	    chmod 644 $(DESTDIR)$(SYSTEMDUSERUNITDIR)/$$u || exit 1; \
	done
	$(INSTALL) -m 644 systemd/reloader.sysusers.conf \
	    $(DESTDIR)$(SYSUSERSDIR)/reloader.conf

uninstall: $(UNINSTALL_TARGETS)
	rm -f $(DESTDIR)$(BINDIR)/reloaderd \
	    $(DESTDIR)$(INCLUDEDIR)/reloader.h \
	    $(MAN_PAGES:%=$(DESTDIR)%) \
	    $(DESTDIR)$(DOCDIR)/reloader.conf.example \
	    $(SYSTEM_UNITS:%=$(DESTDIR)$(SYSTEMDSYSTEMUNITDIR)/%) \
	    $(USER_UNITS:%=$(DESTDIR)$(SYSTEMDUSERUNITDIR)/%) \
	    $(DESTDIR)$(SYSUSERSDIR)/reloader.conf
	-rmdir $(DESTDIR)$(DOCDIR) 2>/dev/null

clean:
	rm -rf obj obj-san obj-fuzz obj-*

# What each target included, as the compiler found it (DEPFLAGS).
-include $(shell find $(O) -name '*.d' 2>/dev/null)

.PHONY: all deps deps-run tests check check-sanitize run format install uninstall \
	clean fuzz
.SECONDARY:
