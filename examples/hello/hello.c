/*
 * hello.c: an example module.  Edit the greeting, run
 * `make -C examples`, and watch reloaderd report the change.
 */
#include "reloader.h"

RELOADER_MODULE("hello");

/* Returns the greeting a dev server would serve. */
const char *
hello_greeting(void)
{
	return "hello, world";
}
