/*
 * ctlstub.h: stand-ins for what reloaderctl.c gives the rest of
 * reloaderctl, for the unit tests that link a few of its files alone
 * (test-ctl-out, test-ctl-watch).  Included once, after ctl.h.
 */
#ifndef CTLSTUB_H
#define CTLSTUB_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

struct opts opts;

/* Stands in for reloaderctl's ctl_die: says why and fails the test. */
void
ctl_die(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(code);
}

#endif /* CTLSTUB_H */
