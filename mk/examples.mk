# examples.mk: the example dev server and the end-to-end tests' host
# program, both linked with the shared libreloader from the build tree
# (their rpath points there, so they run from the tree uninstalled).

MHD_CFLAGS = $(shell $(PKG_CONFIG) --cflags libmicrohttpd)
MHD_LIBS = $(shell $(PKG_CONFIG) --libs libmicrohttpd)

# Links with $(O)/libreloader.so and finds it beside the program at run
# time: $(O)/examples/devserver and $(O)/tests/host are one level down.
RELOADER_LINK = -L$(O) -lreloader -Wl,-rpath,'$$ORIGIN/..'

DEVSERVER = $(O)/examples/devserver
TEST_HOST = $(O)/tests/host

ALL_TARGETS += $(DEVSERVER)
TEST_TARGETS += $(TEST_HOST)

$(DEVSERVER): examples/devserver/devserver.c $(O)/libreloader.so
	@mkdir -p $(@D)
	$(CC) $(ALL_CPPFLAGS) $(MHD_CFLAGS) $(ALL_CFLAGS) $(DEPFLAGS) \
	    $(ALL_LDFLAGS) -o $@ $< $(RELOADER_LINK) -lev $(MHD_LIBS)

$(TEST_HOST): tests/e2e/host.c $(O)/libreloader.so
	@mkdir -p $(@D)
	$(CC) $(ALL_CPPFLAGS) $(ALL_CFLAGS) $(DEPFLAGS) $(ALL_LDFLAGS) \
	    -pthread -o $@ $< $(RELOADER_LINK)

# The devserver's handler modules, rebuilt by the top-level make as well,
# so that the demo's edit loop is one command: edit a handler, run
# `make`.  examples/devserver/Makefile builds them, the Makefile a user
# copies for handlers of their own.
ALL_TARGETS += devserver-handlers

devserver-handlers:
	@$(MAKE) -s --no-print-directory -C examples/devserver

.PHONY: devserver-handlers
