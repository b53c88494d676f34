# reloaderctl: the command-line client of the control verbs (issue 4).
# Included by the top Makefile, whose variables it uses and adds to.
#
# It links the protocol codec; the codec's stamp helpers pull in the
# stamp readers, and they their libraries (libelf, libmd, zlib).

CTL_SRCS = src/reloaderctl/reloaderctl.c src/reloaderctl/conn.c \
	src/reloaderctl/cmd.c src/reloaderctl/reload.c \
	src/reloaderctl/releases.c \
	src/reloaderctl/build.c src/reloaderctl/watch.c src/reloaderctl/out.c \
	src/reloaderctl/sig.c
CTL_OBJS = $(CTL_SRCS:%.c=$(O)/%.o)
CTL_LIBS = $(shell $(PKG_CONFIG) --libs libelf libmd zlib)

ALL_TARGETS += $(O)/reloaderctl
INSTALL_TARGETS += install-ctl
UNINSTALL_TARGETS += uninstall-ctl

$(O)/reloaderctl: $(CTL_OBJS) $(PROTO_OBJS) $(STAMP_OBJS)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(CTL_LIBS)

install-ctl: $(O)/reloaderctl
	$(INSTALL) -d $(DESTDIR)$(BINDIR)
	$(INSTALL) -m 755 $(O)/reloaderctl $(DESTDIR)$(BINDIR)/reloaderctl

uninstall-ctl:
	rm -f $(DESTDIR)$(BINDIR)/reloaderctl

.PHONY: install-ctl uninstall-ctl

# The unit test of out.c links it alone, with stand-ins for what it takes
# from reloaderctl.c, rather than the daemon's objects.
$(O)/tests/test-ctl-out: tests/unit/test-ctl-out.c src/reloaderctl/ctl.h \
    $(O)/src/reloaderctl/out.o $(PROTO_OBJS) $(STAMP_OBJS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CPPFLAGS) $(CHECK_CFLAGS) -Isrc/reloaderctl $(ALL_CFLAGS) \
	    $(ALL_LDFLAGS) -o $@ $< $(O)/src/reloaderctl/out.o $(PROTO_OBJS) \
	    $(STAMP_OBJS) $(CHECK_LIBS) $(LIBS)

# Likewise the unit test of watch.c, with out.c for the paths it prints.
$(O)/tests/test-ctl-watch: tests/unit/test-ctl-watch.c src/reloaderctl/ctl.h \
    $(O)/src/reloaderctl/watch.o $(O)/src/reloaderctl/out.o $(PROTO_OBJS) \
    $(STAMP_OBJS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CPPFLAGS) $(CHECK_CFLAGS) -Isrc/reloaderctl $(ALL_CFLAGS) \
	    $(ALL_LDFLAGS) -o $@ $< $(O)/src/reloaderctl/watch.o \
	    $(O)/src/reloaderctl/out.o $(PROTO_OBJS) $(STAMP_OBJS) \
	    $(CHECK_LIBS) $(LIBS)
