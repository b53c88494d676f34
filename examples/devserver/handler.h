/*
 * handler.h: what every devserver handler module exports.
 *
 * A handler is a shared object the dev server loads through libreloader
 * from its handlers directory: NAME.c is built into build/handlers/NAME.so
 * and served at /NAME.  It names itself with RELOADER_MODULE("NAME") and
 * answers GET requests in handle().  It may also define the hooks of
 * reloader.h: reloader_code_change to create and carry its state from
 * version to version, reloader_test to check a new version before it
 * goes live, and reloader_unload to free its state.
 *
 * Every handler includes this header, so a change here rebuilds them
 * all; built under `reloaderctl build`, they all switch to their new
 * version at once, or, if one fails to load or fails a hook, none does.
 */
#ifndef HANDLER_H
#define HANDLER_H

#include <stddef.h>

#include "reloader.h"

/* Writes the body of the response to a GET of /NAME into body (size
 * bytes, NUL-terminated) and returns the HTTP status.  state is what
 * reloader_code_change made (NULL for a handler without the hook). */
int handle(void *state, char *body, size_t size);

/* The hooks, declared here so that a handler defining them gets their
 * types checked (see reloader.h for what each is for). */
reloader_code_change_fn reloader_code_change;
reloader_test_fn reloader_test;
reloader_unload_fn reloader_unload;

#endif /* HANDLER_H */
