/*
 * config.c: reloaderd's configuration: defaults, the file, -w roots.
 *
 * The file is a small INI dialect in the manner of git-config(1), described
 * in reloader.conf(5).  Nothing here prints or exits (bar config_init
 * running out of memory at startup): the daemon re-reads its configuration
 * on SIGHUP and must keep the old one when the new one is bad, so every
 * failure comes back as a message in the caller's buffer, and there is no
 * global state.
 */
#include <sys/types.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "proto.h"
#include "reloaderd.h"

#define CONFIG_SIZE_MAX	(1024 * 1024)	/* largest file config_load reads */
#define CONFIG_LINE_MAX	4096		/* longest line, without its EOL */
#define MSG_VALUE_MAX	100		/* longest user text echoed in errors */

/* Longest socket path, leaving room for the NUL that sun_path needs. */
#define SOCKET_PATH_MAX	(sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

/* Allowed ranges of the durations, in seconds. */
#define INTERVAL_MIN	0.001
#define INTERVAL_MAX	3600.0
#define SETTLE_MAX	10.0

/*
 * The default and the allowed range of max-clients.  A thousand attached
 * processes is far more than one developer's machine runs, and it fits
 * in the soft descriptor limit of 1024 that systemd gives services and
 * most shells give programs, with room left for the daemon's own
 * descriptors (log, inotify, the event loop, module files being read),
 * so that a daemon whose limit cannot be raised meets max-clients before
 * it runs out of descriptors.
 */
#define MAX_CLIENTS_DEFAULT	1000

/* How long the processes of a two-phase batch have to prepare, seconds. */
#define PREPARE_TIMEOUT_DEFAULT	5.0
#define PREPARE_TIMEOUT_MIN	0.01
#define PREPARE_TIMEOUT_MAX	600.0
#define MAX_CLIENTS_MAX		1000000

static const char *const default_include[] = { "*.so", "*.beam", NULL };

/* Editor and compiler droppings that share a module's suffix or dir. */
static const char *const default_exclude[] = {
	"*.bea#", "*.tmp", ".#*", "*~", "#*#", "*.swp", NULL
};

/* The keys of the global section; the order indexes parser.gline. */
enum gkey {
	G_SOCKET, G_LOG, G_LOGLEVEL, G_BACKEND, G_INTERVAL, G_SETTLE,
	G_INCLUDE, G_EXCLUDE, G_GROUP, G_MAX_CLIENTS, G_ADMIN_GROUP, G_SWITCH,
	G_PREPARE_TIMEOUT, G_FOLLOW_SYMLINKS, G_NKEYS
};
static const char *const gkey_names[G_NKEYS] = {
	"socket", "log", "log-level", "backend", "interval", "settle",
	"include", "exclude", "group", "max-clients", "admin-group", "switch",
	"prepare-timeout", "follow-symlinks"
};

/* The keys of a [watch] section; the order indexes wsect.kline. */
enum wkey { W_INCLUDE, W_EXCLUDE, W_BACKEND, W_NKEYS };
static const char *const wkey_names[W_NKEYS] = {
	"include", "exclude", "backend"
};

/* What the parser remembers of one [watch] section of the file. */
struct wsect {
	size_t line;			/* line of its header */
	size_t kline[W_NKEYS];		/* line that set each key, or 0 */
};

/* The state of one config_parse_buf call. */
struct parser {
	struct config *c;
	const char *name;		/* file name, for messages and paths */
	size_t lineno;
	char *err;
	size_t errlen;
	size_t gline[G_NKEYS];		/* line setting each global key, or 0 */
	struct wsect *ws;		/* the file's [watch] sections so far */
	size_t nws;
	size_t wscap;
	size_t first;			/* c->roots index of ws[0]'s root */
	int inwatch;			/* in a [watch]: keys go to ws[nws-1] */
};

static void cf_seterr(char *, size_t, const char *, ...)
    __attribute__((format(printf, 3, 4)));
static int cf_perr(struct parser *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

/* Formats a message into the caller's buffer, which may be absent. */
static void
cf_seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Sets "NAME:LINE: message" and returns -1, so handlers can return it. */
static int
cf_perr(struct parser *p, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (p->err == NULL || p->errlen == 0)
		return -1;
	n = snprintf(p->err, p->errlen, "%s:%zu: ", p->name, p->lineno);
	if (n < 0 || (size_t)n >= p->errlen)
		return -1;
	va_start(ap, fmt);
	vsnprintf(p->err + n, p->errlen - n, fmt, ap);
	va_end(ap);
	return -1;
}

/* Says whether a byte is a blank, the only white space the format knows. */
static int
cf_isblank_c(int ch)
{
	return ch == ' ' || ch == '\t';
}

/* Skips blanks. */
static char *
cf_skipblanks(char *s)
{
	while (cf_isblank_c((unsigned char)*s))
		s++;
	return s;
}

/* Frees a NULL-terminated list of strings. */
void
config_strv_free(char **l)
{
	size_t i;

	if (l == NULL)
		return;
	for (i = 0; l[i] != NULL; i++)
		free(l[i]);
	free(l);
}

/* Deep-copies a NULL-terminated list; a NULL list copies as an empty one. */
char **
config_strv_dup(const char *const *l)
{
	char **n;
	size_t i, len = 0;

	while (l != NULL && l[len] != NULL)
		len++;
	if ((n = calloc(len + 1, sizeof(*n))) == NULL)
		return NULL;
	for (i = 0; i < len; i++) {
		if ((n[i] = strdup(l[i])) == NULL) {
			config_strv_free(n);
			return NULL;
		}
	}
	return n;
}

/* Frees what a root owns, leaving it zeroed. */
static void
cf_root_free(struct root_conf *r)
{
	free(r->path);
	free(r->display);
	config_strv_free(r->include);
	config_strv_free(r->exclude);
	free(r->where);
	memset(r, 0, sizeof(*r));
}

/* Moves a root into c->roots; -1 when out of memory. */
static int
cf_root_append(struct config *c, struct root_conf *r)
{
	struct root_conf *nr;

	/*
	 * One at a time: struct config has no capacity field, and roots
	 * are few.
	 */
	nr = reallocarray(c->roots, c->nroots + 1, sizeof(*nr));
	if (nr == NULL)
		return -1;
	c->roots = nr;
	c->roots[c->nroots++] = *r;
	memset(r, 0, sizeof(*r));
	return 0;
}

/* Finds the root with an absolute path, or returns -1. */
static long
cf_root_find(const struct config *c, const char *path)
{
	size_t i;

	for (i = 0; i < c->nroots; i++)
		if (c->roots[i].path != NULL &&
		    strcmp(c->roots[i].path, path) == 0)
			return (long)i;
	return -1;
}

/* Fills in the built-in defaults; aborts when memory runs out at startup. */
void
config_init(struct config *c)
{
	char sock[PATH_MAX];

	memset(c, 0, sizeof(*c));
	/* A default too long to fit is refused when the socket is opened. */
	(void)proto_default_socket(sock, sizeof(sock));
	if ((c->socket = strdup(sock)) == NULL)
		abort();
	c->loglevel = LOG_INFO;
	c->backend = BACKEND_AUTO;
	c->interval = 1.0;
	c->settle = 0.020;
	c->switch_mode = SWITCH_TOGETHER;
	c->prepare_timeout = PREPARE_TIMEOUT_DEFAULT;
	c->max_clients = MAX_CLIENTS_DEFAULT;
	c->include = config_strv_dup(default_include);
	c->exclude = config_strv_dup(default_exclude);
	if (c->include == NULL || c->exclude == NULL)
		abort();
}

/* Frees everything a config owns and zeroes it, so a second call is safe. */
void
config_free(struct config *c)
{
	size_t i;

	if (c == NULL)
		return;
	free(c->file);
	free(c->socket);
	free(c->group);
	free(c->admin_group);
	free(c->logfile);
	config_strv_free(c->include);
	config_strv_free(c->exclude);
	for (i = 0; i < c->nroots; i++)
		cf_root_free(&c->roots[i]);
	free(c->roots);
	memset(c, 0, sizeof(*c));
}

/* Parses "1", "0.5", "500ms", "2s" or "1m" into seconds; no range check. */
int
config_parse_duration(const char *s, double *out, char *err, size_t errlen)
{
	const char *q;
	double mant = 0, scale = 1, v;
	int digits = 0, dots = 0;

	/*
	 * By hand rather than strtod(3): strtod takes signs, blanks,
	 * exponents, hex, "inf" and the locale's decimal point, none of
	 * which belong in a config file.
	 */
	for (q = s; q != NULL && *q != '\0'; q++) {
		if (*q >= '0' && *q <= '9') {
			mant = mant * 10 + (*q - '0');
			if (dots)
				scale *= 10;
			digits++;
		} else if (*q == '.' && dots == 0)
			dots++;
		else
			break;
	}
	if (digits == 0)
		goto bad;
	v = mant / scale;
	if (strcmp(q, "") == 0 || strcmp(q, "s") == 0)
		;
	else if (strcmp(q, "ms") == 0)
		v /= 1000;
	else if (strcmp(q, "m") == 0)
		v *= 60;
	else
		goto bad;
	/* Hundreds of digits overflow to inf, or inf / inf = NaN. */
	if (!(v >= 0 && v <= DBL_MAX)) {
		cf_seterr(err, errlen, "invalid duration \"%.*s\": too large",
		    MSG_VALUE_MAX, s);
		return -1;
	}
	*out = v;
	return 0;
bad:
	cf_seterr(err, errlen, "invalid duration \"%.*s\": expected seconds "
	    "(1, 0.5) or a number with a unit (500ms, 2s, 1m)",
	    MSG_VALUE_MAX, s != NULL ? s : "");
	return -1;
}

/* Parses a backend name. */
int
config_parse_backend(const char *s, enum backend *out)
{
	if (s == NULL)
		return -1;
	if (strcmp(s, "auto") == 0)
		*out = BACKEND_AUTO;
	else if (strcmp(s, "inotify") == 0)
		*out = BACKEND_INOTIFY;
	else if (strcmp(s, "poll") == 0)
		*out = BACKEND_POLL;
	else
		return -1;
	return 0;
}

/* Names a backend, as config_parse_backend takes it. */
const char *
config_backend_name(enum backend b)
{
	switch (b) {
	case BACKEND_AUTO:
		return "auto";
	case BACKEND_INOTIFY:
		return "inotify";
	case BACKEND_POLL:
		return "poll";
	}
	return "unknown";
}

/* Parses a log level name into a <syslog.h> priority. */
int
config_parse_loglevel(const char *s, int *out)
{
	if (s == NULL)
		return -1;
	if (strcmp(s, "error") == 0)
		*out = LOG_ERR;
	else if (strcmp(s, "warn") == 0 || strcmp(s, "warning") == 0)
		*out = LOG_WARNING;
	else if (strcmp(s, "info") == 0)
		*out = LOG_INFO;
	else if (strcmp(s, "debug") == 0)
		*out = LOG_DEBUG;
	else
		return -1;
	return 0;
}

/* Normalises an absolute path lexically: no "//", ".", ".." or final "/". */
static char *
cf_normalise(const char *src)
{
	const char *p, *q;
	char *out;
	size_t o = 0, n;

	if ((out = malloc(strlen(src) + 2)) == NULL)
		return NULL;
	for (p = src; *p != '\0'; p = q) {
		while (*p == '/')
			p++;
		if (*p == '\0')
			break;
		for (q = p; *q != '\0' && *q != '/'; q++)
			;
		n = q - p;
		if (n == 1 && p[0] == '.')
			continue;
		if (n == 2 && p[0] == '.' && p[1] == '.') {
			/* Drop the last component; "/.." stays "/". */
			while (o > 0 && out[--o] != '/')
				;
			continue;
		}
		out[o++] = '/';
		memcpy(out + o, p, n);
		o += n;
	}
	if (o == 0)
		out[o++] = '/';
	out[o] = '\0';
	return out;
}

/* Makes path absolute against base (or the current directory), lexically. */
char *
config_abspath(const char *path, const char *base)
{
	char *cwd = NULL, *absbase = NULL, *joined = NULL, *out;

	if (path == NULL || *path == '\0') {
		errno = EINVAL;
		return NULL;
	}
	if (path[0] == '/')
		return cf_normalise(path);
	if (base == NULL || *base == '\0') {
		if ((cwd = getcwd(NULL, 0)) == NULL)
			return NULL;
		base = cwd;
	} else if (base[0] != '/') {
		/* A relative base is relative to the current directory. */
		if ((absbase = config_abspath(base, NULL)) == NULL)
			return NULL;
		base = absbase;
	}
	out = NULL;
	if (asprintf(&joined, "%s/%s", base, path) != -1)
		out = cf_normalise(joined);
	free(joined);
	free(absbase);
	free(cwd);
	return out;
}

/* Resolves a path from the file against the directory of the file. */
static char *
cf_parser_path(struct parser *p, const char *path)
{
	const char *slash = strrchr(p->name, '/');
	char *dir, *abs;

	if (path[0] == '/' || slash == NULL)
		return config_abspath(path, NULL);
	/* "/x.conf" lives in "/", not in "". */
	if ((dir = strndup(p->name, slash == p->name ? 1 :
	    (size_t)(slash - p->name))) == NULL)
		return NULL;
	abs = config_abspath(path, dir);
	free(dir);
	return abs;
}

/*
 * Unquotes the "..." string at *sp in place, leaving *sp past the closing
 * quote; the result starts at the opening quote's place and is NUL-ended.
 * Writing never overtakes reading: each quote read frees a byte.
 */
static int
cf_unquote(struct parser *p, char **sp, char **out)
{
	char *r = *sp + 1, *w = *sp;

	*out = w;
	for (;;) {
		if (*r == '\0')
			return cf_perr(p, "unterminated quote: missing "
			    "closing '\"'");
		if (*r == '"')
			break;
		if (*r == '\\') {
			r++;
			if (*r != '"' && *r != '\\') {
				if (*r == '\0')
					return cf_perr(p, "unterminated quote: "
					    "missing closing '\"'");
				return cf_perr(p, "invalid escape \"\\%c\" in "
				    "quotes: only \\\" and \\\\ are allowed",
				    *r);
			}
		}
		*w++ = *r++;
	}
	*w = '\0';
	*sp = r + 1;
	return 0;
}

/* Parses a scalar value, bare or quoted, which must not be empty. */
static int
cf_scalar(struct parser *p, const char *key, char *val, char **out)
{
	char *s = val;

	if (*s == '"') {
		if (cf_unquote(p, &s, out) == -1)
			return -1;
		if (*cf_skipblanks(s) != '\0')
			return cf_perr(p, "unexpected text after the "
			    "closing quote of \"%s\"", key);
	} else
		*out = val;
	if (**out == '\0')
		return cf_perr(p, "empty value for \"%s\"", key);
	return 0;
}

/*
 * Parses a glob list into a new list.  An empty include list is an error,
 * as it could never match; an empty exclude list means "exclude nothing".
 */
static int
cf_globlist(struct parser *p, const char *key, char *val, int allowempty,
    char ***out)
{
	char **words, *s = val, *w, *e;
	size_t n = 0;

	/* Words need at least two bytes each but for the last. */
	if ((words = calloc(strlen(val) / 2 + 2, sizeof(*words))) == NULL)
		return cf_perr(p, "out of memory");
	for (s = cf_skipblanks(s); *s != '\0'; s = cf_skipblanks(s)) {
		if (*s == '"') {
			if (cf_unquote(p, &s, &w) == -1)
				goto fail;
			if (*s != '\0' && !cf_isblank_c((unsigned char)*s)) {
				cf_perr(p, "unexpected text after a closing "
				    "quote in \"%s\"", key);
				goto fail;
			}
		} else {
			w = s;
			for (e = s; *e != '\0' &&
			    !cf_isblank_c((unsigned char)*e); e++) {
				if (*e == '"') {
					cf_perr(p, "unexpected '\"' inside a "
					    "glob in \"%s\": quote the whole "
					    "glob", key);
					goto fail;
				}
			}
			s = *e != '\0' ? e + 1 : e;
			*e = '\0';
		}
		if (*w == '\0') {
			cf_perr(p, "empty glob \"\" in \"%s\"", key);
			goto fail;
		}
		words[n++] = w;
	}
	if (n == 0 && !allowempty) {
		cf_perr(p, "empty glob list for \"%s\": give at least one glob",
		    key);
		goto fail;
	}
	words[n] = NULL;
	*out = config_strv_dup((const char *const *)words);
	free(words);
	if (*out == NULL)
		return cf_perr(p, "out of memory");
	return 0;
fail:
	free(words);
	return -1;
}

/* Parses a backend value, with a message listing the choices. */
static int
cf_backendval(struct parser *p, char *val, enum backend *out)
{
	char *v;

	if (cf_scalar(p, "backend", val, &v) == -1)
		return -1;
	if (config_parse_backend(v, out) == -1)
		return cf_perr(p, "invalid backend \"%.*s\": expected auto, "
		    "inotify or poll", MSG_VALUE_MAX, v);
	return 0;
}

/* Parses a duration value and checks it against its key's range. */
static int
cf_durationval(struct parser *p, const char *key, char *val, double min,
    double max, const char *range, double *out)
{
	char msg[256], *v;
	double d;

	if (cf_scalar(p, key, val, &v) == -1)
		return -1;
	if (config_parse_duration(v, &d, msg, sizeof(msg)) == -1)
		return cf_perr(p, "%s: %s", key, msg);
	if (d < min || d > max)
		return cf_perr(p, "%s \"%.*s\" is out of range: allowed %s",
		    key, MSG_VALUE_MAX, v, range);
	*out = d;
	return 0;
}

/* Parses a count between 1 and max, in decimal digits only. */
static int
cf_countval(struct parser *p, const char *key, char *val, unsigned long max,
    unsigned long *out)
{
	unsigned long n = 0;
	char *v, *q;

	if (cf_scalar(p, key, val, &v) == -1)
		return -1;
	for (q = v; *q >= '0' && *q <= '9' && n <= max; q++)
		n = n * 10 + (unsigned long)(*q - '0');
	if (*q != '\0' && (*q < '0' || *q > '9'))
		return cf_perr(p, "invalid %s \"%.*s\": expected a whole "
		    "number from 1 to %lu", key, MSG_VALUE_MAX, v, max);
	if (n < 1 || n > max)
		return cf_perr(p, "%s \"%.*s\" is out of range: allowed 1 to "
		    "%lu", key, MSG_VALUE_MAX, v, max);
	*out = n;
	return 0;
}

/* Looks a key up in a table; -1 if absent. */
static int
cf_keyindex(const char *key, const char *const *names, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (strcmp(key, names[i]) == 0)
			return i;
	return -1;
}

/* Handles a key of the global section. */
static int
cf_global_key(struct parser *p, const char *key, char *val)
{
	struct config *c = p->c;
	char *v, *abs, **l;
	int k, level;

	if ((k = cf_keyindex(key, gkey_names, G_NKEYS)) == -1)
		return cf_perr(p, "unknown key \"%.*s\" in [reloaderd] "
		    "(allowed: socket, group, log, log-level, backend, "
		    "interval, settle, include, exclude, max-clients, "
		    "follow-symlinks)",
		    MSG_VALUE_MAX, key);
	if (p->gline[k] != 0)
		return cf_perr(p, "duplicate key \"%s\" in [reloaderd] "
		    "(first set on line %zu)", key, p->gline[k]);
	p->gline[k] = p->lineno;

	switch (k) {
	case G_SOCKET:
	case G_LOG:
		if (cf_scalar(p, key, val, &v) == -1)
			return -1;
		if ((abs = cf_parser_path(p, v)) == NULL)
			return cf_perr(p, "%s: cannot resolve \"%.*s\": %s",
			    key, MSG_VALUE_MAX, v, strerror(errno));
		if (k == G_SOCKET && strlen(abs) > SOCKET_PATH_MAX) {
			cf_perr(p, "socket path too long: %s is %zu bytes, the "
			    "limit is %zu", abs, strlen(abs), SOCKET_PATH_MAX);
			free(abs);
			return -1;
		}
		if (k == G_SOCKET) {
			free(c->socket);
			c->socket = abs;
		} else {
			free(c->logfile);
			c->logfile = abs;
		}
		return 0;
	case G_GROUP:
		if (cf_scalar(p, key, val, &v) == -1)
			return -1;
		if (*v == '\0')
			return cf_perr(p, "group: empty group name");
		free(c->group);
		if ((c->group = strdup(v)) == NULL)
			return cf_perr(p, "out of memory");
		return 0;
	case G_ADMIN_GROUP:
		if (cf_scalar(p, key, val, &v) == -1)
			return -1;
		if (*v == '\0')
			return cf_perr(p, "admin-group: empty group name");
		free(c->admin_group);
		if ((c->admin_group = strdup(v)) == NULL)
			return cf_perr(p, "out of memory");
		return 0;
	case G_LOGLEVEL:
		if (cf_scalar(p, key, val, &v) == -1)
			return -1;
		if (config_parse_loglevel(v, &level) == -1)
			return cf_perr(p, "invalid log-level \"%.*s\": "
			    "expected error, warn, warning, info or debug",
			    MSG_VALUE_MAX, v);
		c->loglevel = level;
		return 0;
	case G_BACKEND:
		return cf_backendval(p, val, &c->backend);
	case G_INTERVAL:
		return cf_durationval(p, key, val, INTERVAL_MIN, INTERVAL_MAX,
		    "1ms to 1h", &c->interval);
	case G_SETTLE:
		return cf_durationval(p, key, val, 0, SETTLE_MAX, "0 to 10s",
		    &c->settle);
	case G_MAX_CLIENTS:
		return cf_countval(p, key, val, MAX_CLIENTS_MAX,
		    &c->max_clients);
	case G_SWITCH:
		if (cf_scalar(p, key, val, &v) == -1)
			return -1;
		if (strcmp(v, "together") == 0)
			c->switch_mode = SWITCH_TOGETHER;
		else if (strcmp(v, "per-process") == 0)
			c->switch_mode = SWITCH_PER_PROCESS;
		else
			return cf_perr(p, "invalid switch \"%.*s\": expected "
			    "together or per-process", MSG_VALUE_MAX, v);
		return 0;
	case G_PREPARE_TIMEOUT:
		return cf_durationval(p, key, val, PREPARE_TIMEOUT_MIN,
		    PREPARE_TIMEOUT_MAX, "10ms to 10m", &c->prepare_timeout);
	case G_FOLLOW_SYMLINKS:
		if (cf_scalar(p, key, val, &v) == -1)
			return -1;
		if (strcmp(v, "yes") != 0 && strcmp(v, "no") != 0)
			return cf_perr(p, "invalid follow-symlinks \"%.*s\": "
			    "expected yes or no", MSG_VALUE_MAX, v);
		c->follow_symlinks = strcmp(v, "yes") == 0;
		return 0;
	case G_INCLUDE:
	case G_EXCLUDE:
		if (cf_globlist(p, key, val, k == G_EXCLUDE, &l) == -1)
			return -1;
		if (k == G_INCLUDE) {
			config_strv_free(c->include);
			c->include = l;
		} else {
			config_strv_free(c->exclude);
			c->exclude = l;
		}
		return 0;
	}
	return cf_perr(p, "internal error: key \"%s\"", key);
}

/* Handles a key of the current [watch] section. */
static int
cf_watch_key(struct parser *p, const char *key, char *val)
{
	struct wsect *ws = &p->ws[p->nws - 1];
	struct root_conf *r = &p->c->roots[p->first + p->nws - 1];
	char **l;
	int k;

	if ((k = cf_keyindex(key, wkey_names, W_NKEYS)) == -1 &&
	    cf_keyindex(key, gkey_names, G_NKEYS) != -1)
		return cf_perr(p, "unknown key \"%s\" in [watch \"%.*s\"]: "
		    "it is a global key, for [reloaderd] (allowed here: "
		    "include, exclude, backend)", key, MSG_VALUE_MAX,
		    r->display);
	if (k == -1)
		return cf_perr(p, "unknown key \"%.*s\" in [watch \"%.*s\"] "
		    "(allowed: include, exclude, backend)", MSG_VALUE_MAX, key,
		    MSG_VALUE_MAX, r->display);
	if (ws->kline[k] != 0)
		return cf_perr(p, "duplicate key \"%s\" in [watch \"%.*s\"] "
		    "(first set on line %zu)", key, MSG_VALUE_MAX, r->display,
		    ws->kline[k]);
	ws->kline[k] = p->lineno;

	switch (k) {
	case W_INCLUDE:
	case W_EXCLUDE:
		if (cf_globlist(p, key, val, k == W_EXCLUDE, &l) == -1)
			return -1;
		if (k == W_INCLUDE)
			r->include = l;
		else
			r->exclude = l;
		return 0;
	case W_BACKEND:
		return cf_backendval(p, val, &r->backend);
	}
	return cf_perr(p, "internal error: key \"%s\"", key);
}

/* Starts a [watch "DIR"] section: a new root, its globs filled in later. */
static int
cf_watch_section(struct parser *p, const char *dir)
{
	struct root_conf r;
	struct wsect *nws;
	const char *where;
	size_t cap;
	long i;

	memset(&r, 0, sizeof(r));
	if (*dir == '\0')
		return cf_perr(p, "empty directory in [watch \"\"]");
	if ((r.path = cf_parser_path(p, dir)) == NULL)
		return cf_perr(p, "cannot resolve \"%.*s\": %s", MSG_VALUE_MAX,
		    dir, strerror(errno));
	if ((i = cf_root_find(p->c, r.path)) != -1) {
		free(r.path);
		if ((size_t)i >= p->first)
			return cf_perr(p, "duplicate [watch \"%.*s\"]: the "
			    "same directory as [watch] on line %zu",
			    MSG_VALUE_MAX, dir, p->ws[i - p->first].line);
		where = p->c->roots[i].where;
		return cf_perr(p, "duplicate [watch \"%.*s\"]: the same "
		    "directory as %s", MSG_VALUE_MAX, dir,
		    where != NULL ? where : "another root");
	}
	if (p->nws == p->wscap) {
		cap = p->wscap ? p->wscap * 2 : 8;
		if ((nws = reallocarray(p->ws, cap, sizeof(*nws))) == NULL)
			goto nomem;
		p->ws = nws;
		p->wscap = cap;
	}
	if ((r.display = strdup(dir)) == NULL ||
	    asprintf(&r.where, "%s:%zu", p->name, p->lineno) == -1) {
		r.where = NULL;
		goto nomem;
	}
	if (cf_root_append(p->c, &r) == -1)
		goto nomem;
	memset(&p->ws[p->nws], 0, sizeof(p->ws[p->nws]));
	p->ws[p->nws++].line = p->lineno;
	p->inwatch = 1;
	return 0;
nomem:
	cf_root_free(&r);
	return cf_perr(p, "out of memory");
}

/* Parses a section header: [reloaderd] or [watch "DIR"]. */
static int
cf_section(struct parser *p, char *s)
{
	char *name, *dir = NULL;
	size_t n;

	s = cf_skipblanks(s + 1);
	for (name = s; *s != '\0' && *s != ']' && *s != '"' &&
	    !cf_isblank_c((unsigned char)*s); s++)
		;
	n = s - name;
	s = cf_skipblanks(s);
	if (*s == '"') {
		if (cf_unquote(p, &s, &dir) == -1)
			return -1;
		s = cf_skipblanks(s);
	}
	if (*s == '\0')
		return cf_perr(p, "unterminated section header: missing ']'");
	if (*s != ']')
		return cf_perr(p, "malformed section header: expected "
		    "[reloaderd] or [watch \"DIR\"]");
	if (*cf_skipblanks(s + 1) != '\0')
		return cf_perr(p, "unexpected text after the section header "
		    "(comments go on lines of their own)");
	if (n == 0)
		return cf_perr(p, "empty section name: expected [reloaderd] or "
		    "[watch \"DIR\"]");
	if (n == 9 && strncmp(name, "reloaderd", n) == 0) {
		if (dir != NULL)
			return cf_perr(p, "section [reloaderd] takes no "
			    "directory");
		p->inwatch = 0;
		return 0;
	}
	if (n == 5 && strncmp(name, "watch", n) == 0) {
		if (dir == NULL)
			return cf_perr(p, "section [watch] needs a directory: "
			    "[watch \"DIR\"]");
		return cf_watch_section(p, dir);
	}
	return cf_perr(p, "unknown section [%.*s]: expected [reloaderd] or "
	    "[watch \"DIR\"]", (int)(n < MSG_VALUE_MAX ? n : MSG_VALUE_MAX),
	    name);
}

/* Parses one line, NUL-terminated, without its line ending. */
static int
cf_line(struct parser *p, char *s)
{
	char *eq, *e, *key;
	size_t n;

	s = cf_skipblanks(s);
	n = strlen(s);
	while (n > 0 && cf_isblank_c((unsigned char)s[n - 1]))
		s[--n] = '\0';
	/* Only whole-line comments, so that values may hold '#' and ';'. */
	if (*s == '\0' || *s == '#' || *s == ';')
		return 0;
	if (*s == '[')
		return cf_section(p, s);
	if ((eq = strchr(s, '=')) == NULL)
		return cf_perr(p, "missing '=' in \"%.*s\": expected "
		    "KEY = VALUE", MSG_VALUE_MAX, s);
	for (e = eq; e > s && cf_isblank_c((unsigned char)e[-1]); e--)
		;
	*e = '\0';
	key = s;
	if (*key == '\0')
		return cf_perr(p, "missing key before '='");
	s = cf_skipblanks(eq + 1);
	return p->inwatch ? cf_watch_key(p, key, s) : cf_global_key(p, key, s);
}

/* Gives each [watch] of the file the globals its keys did not override. */
static int
cf_inherit(struct parser *p)
{
	struct config *c = p->c;
	struct root_conf *r;
	size_t i;

	for (i = 0; i < p->nws; i++) {
		r = &c->roots[p->first + i];
		p->lineno = p->ws[i].line;
		if (p->ws[i].kline[W_INCLUDE] == 0 && (r->include =
		    config_strv_dup((const char *const *)c->include)) == NULL)
			return cf_perr(p, "out of memory");
		if (p->ws[i].kline[W_EXCLUDE] == 0 && (r->exclude =
		    config_strv_dup((const char *const *)c->exclude)) == NULL)
			return cf_perr(p, "out of memory");
		if (p->ws[i].kline[W_BACKEND] == 0)
			r->backend = c->backend;
	}
	return 0;
}

/* Parses a configuration text into c, which the caller has initialised. */
int
config_parse_buf(struct config *c, const char *name, const char *buf,
    size_t len, char *err, size_t errlen)
{
	struct parser p;
	char text[CONFIG_LINE_MAX + 1];
	const char *s, *nl;
	size_t pos = 0, n;
	int rc = 0;

	memset(&p, 0, sizeof(p));
	p.c = c;
	p.name = name != NULL ? name : "(config)";
	p.err = err;
	p.errlen = errlen;
	p.first = c->nroots;
	if (err != NULL && errlen > 0)
		err[0] = '\0';

	while (rc == 0 && pos < len) {
		p.lineno++;
		s = buf + pos;
		nl = memchr(s, '\n', len - pos);
		n = nl != NULL ? (size_t)(nl - s) : len - pos;
		pos += n + (nl != NULL);
		/* Accept CRLF line endings as written by some editors. */
		if (n > 0 && s[n - 1] == '\r')
			n--;
		/* And the UTF-8 byte order mark that comes with them. */
		if (p.lineno == 1 && n >= 3 &&
		    memcmp(s, "\xef\xbb\xbf", 3) == 0) {
			s += 3;
			n -= 3;
		}
		if (n > CONFIG_LINE_MAX)
			rc = cf_perr(&p, "line too long: %zu bytes, the limit "
			    "is %d", n, CONFIG_LINE_MAX);
		else if (memchr(s, '\0', n) != NULL)
			rc = cf_perr(&p, "NUL byte in line: not a text file?");
		else {
			memcpy(text, s, n);
			text[n] = '\0';
			rc = cf_line(&p, text);
		}
	}
	if (rc == 0)
		rc = cf_inherit(&p);
	free(p.ws);
	return rc;
}

/* Reads a whole file of at most CONFIG_SIZE_MAX bytes; -1 with errno. */
static char *
cf_slurp(int fd, size_t *lenp, int *toobig)
{
	char *buf, *nb;
	size_t len = 0, cap = 65536;
	ssize_t n;

	*toobig = 0;
	if ((buf = malloc(cap)) == NULL)
		return NULL;
	for (;;) {
		if (len == cap) {
			/* One byte past the limit tells us it is over. */
			if (cap > CONFIG_SIZE_MAX) {
				*toobig = 1;
				free(buf);
				return NULL;
			}
			cap = cap * 2 > CONFIG_SIZE_MAX ?
			    CONFIG_SIZE_MAX + 1 : cap * 2;
			if ((nb = realloc(buf, cap)) == NULL) {
				free(buf);
				return NULL;
			}
			buf = nb;
		}
		n = read(fd, buf + len, cap - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			free(buf);
			return NULL;
		}
		if (n == 0)
			break;
		len += n;
	}
	*lenp = len;
	return buf;
}

/* Reads and parses a config file into c, recording it as c->file. */
int
config_load(struct config *c, const char *path, char *err, size_t errlen)
{
	struct stat sb;
	char *buf, *abs;
	size_t len;
	int fd, rc, toobig, saved;

	if (path == NULL || *path == '\0') {
		cf_seterr(err, errlen, "empty config file name");
		return -1;
	}
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		cf_seterr(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	/* Check the size first, so a huge file is not read at all. */
	if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) &&
	    sb.st_size > CONFIG_SIZE_MAX) {
		close(fd);
		cf_seterr(err, errlen, "%s: file too large (more than 1 MiB)",
		    path);
		return -1;
	}
	buf = cf_slurp(fd, &len, &toobig);
	saved = errno;
	close(fd);
	if (buf == NULL) {
		if (toobig)
			cf_seterr(err, errlen, "%s: file too large (more than "
			    "1 MiB)", path);
		else
			cf_seterr(err, errlen, "%s: %s", path, strerror(saved));
		return -1;
	}
	/* Absolute, so a daemon that chdir'd to / can still re-read it. */
	if ((abs = config_abspath(path, NULL)) == NULL) {
		cf_seterr(err, errlen, "%s: %s", path, strerror(errno));
		free(buf);
		return -1;
	}
	free(c->file);
	c->file = abs;
	rc = config_parse_buf(c, path, buf, len, err, errlen);
	free(buf);
	return rc;
}

/* Adds a root from outside the file (-w), unless it is already watched. */
int
config_add_root(struct config *c, const char *path, const char *base,
    const char *where, char *err, size_t errlen)
{
	struct root_conf r;

	memset(&r, 0, sizeof(r));
	if (where == NULL)
		where = "-w";
	if (path == NULL || *path == '\0') {
		cf_seterr(err, errlen, "%s: empty directory name", where);
		return -1;
	}
	if ((r.path = config_abspath(path, base)) == NULL) {
		cf_seterr(err, errlen, "%s: %s: %s", where, path,
		    strerror(errno));
		return -1;
	}
	if (cf_root_find(c, r.path) != -1) {
		free(r.path);
		return 0;
	}
	r.backend = c->backend;
	r.display = strdup(path);
	r.where = strdup(where);
	r.include = config_strv_dup((const char *const *)c->include);
	r.exclude = config_strv_dup((const char *const *)c->exclude);
	if (r.display == NULL || r.where == NULL || r.include == NULL ||
	    r.exclude == NULL || cf_root_append(c, &r) == -1) {
		cf_root_free(&r);
		cf_seterr(err, errlen, "%s: %s: out of memory", where, path);
		return -1;
	}
	return 0;
}
