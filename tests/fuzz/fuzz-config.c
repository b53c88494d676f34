/*
 * fuzz-config.c: fuzz target for the configuration parser.
 *
 * Feeds the bytes to config_parse_buf as a whole file and checks what
 * comes back: an error must be "NAME:LINE: message", and a success must
 * be a configuration the daemon can use as it is, since nothing checks it
 * again.  Sanitizers catch the rest (overflows, leaks).
 */
#include <sys/un.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "reloaderd.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define NAME "/fuzz/reloader.conf"

/* Says whether an error message starts with "NAME:LINE: " and goes on. */
static int
good_error(const char *err)
{
	const char *p;
	size_t n = strlen(NAME);

	if (strncmp(err, NAME ":", n + 1) != 0)
		return 0;
	p = err + n + 1;
	/* Lines count from 1. */
	if (*p < '1' || *p > '9')
		return 0;
	while (*p >= '0' && *p <= '9')
		p++;
	return p[0] == ':' && p[1] == ' ' && p[2] != '\0';
}

/* Says whether a path is absolute and lexically normal. */
static int
normal_path(const char *p)
{
	if (p == NULL || p[0] != '/')
		return 0;
	if (strcmp(p, "/") == 0)
		return 1;
	return strstr(p, "//") == NULL && strstr(p, "/./") == NULL &&
	    strstr(p, "/../") == NULL && p[strlen(p) - 1] != '/' &&
	    (strlen(p) < 2 || strcmp(p + strlen(p) - 2, "/.") != 0) &&
	    (strlen(p) < 3 || strcmp(p + strlen(p) - 3, "/..") != 0);
}

/* Says whether a glob list is well formed: present, no empty globs. */
static int
good_list(char **l, int mayempty)
{
	size_t i;

	if (l == NULL || (!mayempty && l[0] == NULL))
		return 0;
	for (i = 0; l[i] != NULL; i++)
		if (l[i][0] == '\0')
			return 0;
	return 1;
}

/* Checks the invariants of a configuration that parsed. */
static void
check_config(const struct config *c)
{
	struct sockaddr_un sun;
	struct config d;
	size_t i, j;

	/* The default comes from the environment; a configured one is ours. */
	config_init(&d);
	if (c->socket == NULL || (strcmp(c->socket, d.socket) != 0 &&
	    (!normal_path(c->socket) ||
	    strlen(c->socket) >= sizeof(sun.sun_path))))
		abort();
	config_free(&d);
	if (c->logfile != NULL && !normal_path(c->logfile))
		abort();
	if (c->loglevel != LOG_ERR && c->loglevel != LOG_WARNING &&
	    c->loglevel != LOG_INFO && c->loglevel != LOG_DEBUG)
		abort();
	if (!(c->interval >= 0.001 && c->interval <= 3600))
		abort();
	if (!(c->settle >= 0 && c->settle <= 10))
		abort();
	if (!good_list(c->include, 0) || !good_list(c->exclude, 1))
		abort();
	for (i = 0; i < c->nroots; i++) {
		const struct root_conf *r = &c->roots[i];

		if (!normal_path(r->path) || r->display == NULL ||
		    r->display[0] == '\0' || r->where == NULL ||
		    strncmp(r->where, NAME ":", strlen(NAME) + 1) != 0)
			abort();
		if (!good_list(r->include, 0) || !good_list(r->exclude, 1))
			abort();
		if (r->backend != BACKEND_AUTO &&
		    r->backend != BACKEND_INOTIFY && r->backend != BACKEND_POLL)
			abort();
		for (j = 0; j < i; j++)
			if (strcmp(r->path, c->roots[j].path) == 0)
				abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config c;
	char err[1024];
	int rc;

	config_init(&c);
	err[0] = '\0';
	rc = config_parse_buf(&c, NAME, (const char *)data, size, err,
	    sizeof(err));
	if (rc == -1) {
		if (!good_error(err))
			abort();
	} else if (rc == 0)
		check_config(&c);
	else
		abort();
	config_free(&c);
	/* Freeing twice must be harmless. */
	config_free(&c);
	return 0;
}
