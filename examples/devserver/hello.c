/*
 * hello.c: the devserver's GET /hello.
 *
 * Change the greeting, run `make` (at the top of the tree), and curl
 * http://127.0.0.1:8080/hello again: the running server answers with the
 * new text, without a restart.
 */
#include <stdio.h>

#include "handler.h"

RELOADER_MODULE("hello");

/* Says hello. */
int
handle(void *state, char *body, size_t size)
{
	snprintf(body, size, "hello, world\n");
	return 200;
}

/* Checks a new version before it replaces the running one, the way
 * mochiweb's reloader calls Module:test(): a non-zero return keeps the
 * old version running.  Try making it fail. */
int
reloader_test(void *state)
{
	char body[256];

	return handle(state, body, sizeof(body)) == 200 ? 0 : -1;
}
