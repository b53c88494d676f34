# libreloader.mk: the client library (shared with a soname, static, and
# its pkg-config file), its tests, and installing them.  Included by the
# top Makefile, whose variables it uses and adds to.
#
# Every object of the library, the codec and the stamp readers included,
# is built -fPIC -fvisibility=hidden into $(O)/pic, so that only the
# reloader_* API leaves the library: through the version script for the
# shared one, through a partial link and --localize-hidden for the
# static one.

OBJCOPY ?= objcopy
NM ?= nm

# The version is the public header's (VERSION, in the top Makefile).
LIB_SONAME = libreloader.so.$(VERSION_MAJOR)
LIB_REAL = libreloader.so.$(VERSION)

LIB_SRCS = src/libreloader/reloader.c src/libreloader/conn.c \
	src/libreloader/batch.c src/libreloader/module.c \
	src/libreloader/set.c src/libreloader/copy.c \
	src/libreloader/hook.c src/libreloader/thread.c
LIB_PIC_OBJS = $(patsubst %.c,$(O)/pic/%.o,$(LIB_SRCS) $(PROTO_SRCS) \
	$(STAMP_SRCS))
LIB_MAP = src/libreloader/libreloader.map
LIB_LIBS = $(shell $(PKG_CONFIG) --libs libelf libmd zlib) -lpthread -ldl

LIB_TARGETS = $(O)/$(LIB_REAL) $(O)/$(LIB_SONAME) $(O)/libreloader.so \
	$(O)/libreloader.a $(O)/libreloader.pc
LIB_TEST_BINS = $(O)/tests/test-libreloader

ALL_TARGETS += $(LIB_TARGETS)
TEST_TARGETS += $(LIB_TEST_BINS)
INSTALL_TARGETS += install-lib
UNINSTALL_TARGETS += uninstall-lib

LIB_PC_SED = sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	-e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|'

$(O)/pic/%.o: %.c include/reloader.h
	@mkdir -p $(@D)
	$(CC) $(ALL_CPPFLAGS) -Isrc/libreloader $(ALL_CFLAGS) $(DEPFLAGS) \
	    -fPIC -fvisibility=hidden -c -o $@ $<

$(O)/$(LIB_REAL): $(LIB_PIC_OBJS) $(LIB_MAP)
	$(CC) $(ALL_LDFLAGS) -shared -Wl,-soname,$(LIB_SONAME) \
	    -Wl,--version-script=$(LIB_MAP) -o $@ $(LIB_PIC_OBJS) $(LIB_LIBS)

$(O)/$(LIB_SONAME): $(O)/$(LIB_REAL)
	ln -sf $(LIB_REAL) $@

$(O)/libreloader.so: $(O)/$(LIB_SONAME)
	ln -sf $(LIB_SONAME) $@

# One relocatable object with everything but the API made local, so that
# a host linking statically sees no stamp_* or proto_* of ours.
$(O)/libreloader.a: $(LIB_PIC_OBJS)
	$(CC) -r -nostdlib -o $(O)/pic/libreloader.o $(LIB_PIC_OBJS)
	$(OBJCOPY) --localize-hidden $(O)/pic/libreloader.o
	rm -f $@
	$(AR) rcs $@ $(O)/pic/libreloader.o

$(O)/libreloader.pc: src/libreloader/libreloader.pc.in include/reloader.h
	@mkdir -p $(@D)
	$(LIB_PC_SED) src/libreloader/libreloader.pc.in >$@

# The tests link the shared library, so that they see only what it
# exports, exactly as a host does.
$(O)/tests/test-libreloader: tests/lib/test-libreloader.c $(LIB_TARGETS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CPPFLAGS) $(CHECK_CFLAGS) -Itests/unit $(ALL_CFLAGS) \
	    $(DEPFLAGS) $(ALL_LDFLAGS) -o $@ $< -L$(O) -lreloader \
	    -Wl,-rpath,$(abspath $(O)) $(CHECK_LIBS) -lev -lpthread -ldl

install-lib: $(LIB_TARGETS)
	$(INSTALL) -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR)
	$(INSTALL) -m 755 $(O)/$(LIB_REAL) $(DESTDIR)$(LIBDIR)/$(LIB_REAL)
	ln -sf $(LIB_REAL) $(DESTDIR)$(LIBDIR)/$(LIB_SONAME)
	ln -sf $(LIB_SONAME) $(DESTDIR)$(LIBDIR)/libreloader.so
	$(INSTALL) -m 644 $(O)/libreloader.a $(DESTDIR)$(LIBDIR)/libreloader.a
	$(LIB_PC_SED) src/libreloader/libreloader.pc.in \
	    >$(DESTDIR)$(LIBDIR)/pkgconfig/libreloader.pc
	$(INSTALL) -m 644 include/reloader-ev.h \
	    $(DESTDIR)$(INCLUDEDIR)/reloader-ev.h

uninstall-lib:
	rm -f $(DESTDIR)$(LIBDIR)/$(LIB_REAL) \
	    $(DESTDIR)$(LIBDIR)/$(LIB_SONAME) \
	    $(DESTDIR)$(LIBDIR)/libreloader.so \
	    $(DESTDIR)$(LIBDIR)/libreloader.a \
	    $(DESTDIR)$(LIBDIR)/pkgconfig/libreloader.pc \
	    $(DESTDIR)$(INCLUDEDIR)/reloader-ev.h
	-rmdir $(DESTDIR)$(LIBDIR)/pkgconfig 2>/dev/null

.PHONY: install-lib uninstall-lib
