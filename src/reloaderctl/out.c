/*
 * out.c: how reloaderctl prints: aligned tables, values made safe for a
 * terminal, shortened stamps and paths for humans, colour only on a
 * terminal, and JSON for scripts.
 *
 * Values from the daemon are bytes: names and paths may hold control
 * bytes or be invalid UTF-8.  Human output shows every byte a terminal
 * must not see as it is (C0 and C1 controls, DEL, bytes that are not
 * well-formed UTF-8) as \xHH, and valid UTF-8 as it is; JSON output is
 * always valid UTF-8 (see out_json_string).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"

/* A table being filled row by row, printed with aligned columns. */
struct table {
	size_t ncols;
	char **text;                     /* row-major, safe to print */
	const char **color;              /* out_color() names, or NULL */
	size_t n, cap;
	size_t col;                      /* cells in the row being filled */
};

static int out_colored;
static char out_cwd[4096];

/* Decides on colour (standard output a terminal, NO_COLOR unset or
 * empty, TERM not "dumb") and notes the working directory for out_path. */
void
out_init(void)
{
	const char *nc = getenv("NO_COLOR"), *term = getenv("TERM");

	out_colored = isatty(STDOUT_FILENO) && (nc == NULL || *nc == '\0') &&
	    term != NULL && strcmp(term, "dumb") != 0;
	if (getcwd(out_cwd, sizeof(out_cwd)) == NULL)
		out_cwd[0] = '\0';
}

/* Returns the escape sequence for a kind of text ("ok", "bad", "warn",
 * "dim", "bold"), or "" when not colouring. */
const char *
out_color(const char *kind)
{
	if (!out_colored || kind == NULL)
		return "";
	if (strcmp(kind, "ok") == 0)
		return "\033[32m";
	if (strcmp(kind, "bad") == 0)
		return "\033[31m";
	if (strcmp(kind, "warn") == 0)
		return "\033[33m";
	if (strcmp(kind, "dim") == 0)
		return "\033[2m";
	if (strcmp(kind, "bold") == 0)
		return "\033[1m";
	return "";
}

/* Returns the sequence that ends a colour, or "". */
const char *
out_reset(void)
{
	return out_colored ? "\033[0m" : "";
}

/* Writes s into buf made safe for a terminal (proto_vis), so that no
 * value can move the cursor, fake a line or start an escape sequence;
 * returns buf. */
char *
out_vis(const char *s, char *buf, size_t len)
{
	return proto_vis(buf, len, s, 0);
}

/* Prints s made safe for a terminal, as out_vis. */
void
out_safe(FILE *fp, const char *s)
{
	size_t len = 4 * strlen(s) + 1;
	char *buf;

	if ((buf = malloc(len)) == NULL)
		ctl_die(EX_OSERR, "out of memory");
	fputs(out_vis(s, buf, len), fp);
	free(buf);
}

/* Flushes fp; exits if the output is gone (EX_IOERR), so that a follow
 * into a closed pipe ends. */
void
out_flush(FILE *fp)
{
	if (fflush(fp) == EOF)
		ctl_die(EX_IOERR, "%s: %s", fp == stdout ? "standard output" :
		    "output", strerror(errno));
}

/*
 * Prints s as a JSON string.  Well-formed UTF-8 passes as it is; '"',
 * '\' and the C0 and C1 controls and DEL are escaped (C1 controls, such
 * as CSI, would act on a terminal that shows the JSON); any byte that is
 * not part of well-formed UTF-8 is written as \u00XX, its Latin-1
 * reading, so that the output is always valid JSON in UTF-8 (a script
 * that needs the raw bytes of such a name reads the human form).
 */
void
out_json_string(FILE *fp, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n;

	putc('"', fp);
	while (*p != '\0') {
		if (*p == '"' || *p == '\\') {
			putc('\\', fp);
			putc(*p++, fp);
			continue;
		}
		if (*p < 0x20 || *p == 0x7f) {
			switch (*p) {
			case '\n':
				fputs("\\n", fp);
				break;
			case '\r':
				fputs("\\r", fp);
				break;
			case '\t':
				fputs("\\t", fp);
				break;
			default:
				fprintf(fp, "\\u%04x", *p);
			}
			p++;
			continue;
		}
		if ((n = proto_utf8_len((const char *)p)) == 0) {
			fprintf(fp, "\\u%04x", *p++);
			continue;
		}
		if (n == 2 && p[0] == 0xc2 && p[1] < 0xa0) {
			/* U+0080..U+009F, the C1 controls. */
			fprintf(fp, "\\u%04x", p[1]);
			p += 2;
			continue;
		}
		fwrite(p, 1, n, fp);
		p += n;
	}
	putc('"', fp);
}

/* How a field's value is written in JSON. */
#define OUT_NUMBER 1   /* a number; null when empty */
#define OUT_BOOL 2     /* yes/no as true/false */

/* The fields that are not strings, by the object they are in ("*": in
 * any); reloaderctl(1), JSON, lists them.  A value that does not fit
 * its type (a daemon newer than this table) stays a string. */
static const struct {
	const char *type, *key;
	int kind;
} out_fields[] = {
	{ "*", "pid", OUT_NUMBER },
	{ "*", "client", OUT_NUMBER },
	{ "*", "batch", OUT_NUMBER },
	{ "*", "count", OUT_NUMBER },
	{ "*", "held", OUT_NUMBER },
	{ "*", "clients", OUT_NUMBER },
	{ "*", "modules", OUT_NUMBER },
	{ "daemon", "uptime", OUT_NUMBER },
	{ "daemon", "settle", OUT_NUMBER },
	{ "daemon", "interval", OUT_NUMBER },
	{ "inotify", "watches", OUT_NUMBER },
	{ "inotify", "max-user-watches", OUT_NUMBER },
	{ "inotify", "max-user-instances", OUT_NUMBER },
	{ "inotify", "max-queued-events", OUT_NUMBER },
	{ "root", "dirs", OUT_NUMBER },
	{ "root", "files", OUT_NUMBER },
	{ "root", "implicit", OUT_BOOL },
	{ "counts", "controls", OUT_NUMBER },
	{ "counts", "changes", OUT_NUMBER },
	{ "counts", "batches", OUT_NUMBER },
	{ "counts", "ok", OUT_NUMBER },
	{ "counts", "load-failed", OUT_NUMBER },
	{ "counts", "rolled-back", OUT_NUMBER },
	{ "counts", "test-failed", OUT_NUMBER },
	{ "counts", "remote", OUT_NUMBER },
	{ "counts", "rollbacks", OUT_NUMBER },
	{ "client", "uid", OUT_NUMBER },
	{ "client", "attached", OUT_NUMBER },
	{ "loaded", "stale", OUT_BOOL },
	{ "result", "load", OUT_NUMBER },
	{ "result", "state", OUT_NUMBER },
	{ "result", "test", OUT_NUMBER },
	{ "result", "purge", OUT_NUMBER },
	{ "result", "copied", OUT_NUMBER },
	{ "release", "delivered", OUT_NUMBER },
	{ "release", "discarded", OUT_NUMBER },
	{ "ok", "delivered", OUT_NUMBER },
	{ "ok", "discarded", OUT_NUMBER },
};

/* Returns how a field of an object of the given type is written. */
static int
out_kind(const char *type, const char *key)
{
	size_t i;

	for (i = 0; i < sizeof(out_fields) / sizeof(out_fields[0]); i++)
		if (strcmp(out_fields[i].key, key) == 0 &&
		    (strcmp(out_fields[i].type, "*") == 0 ||
		    strcmp(out_fields[i].type, type) == 0))
			return out_fields[i].kind;
	return 0;
}

/* Says whether s is a number as JSON writes one (digits, an optional
 * fraction; no sign, no leading zero, as the protocol sends them). */
static int
out_is_number(const char *s)
{
	const char *p = s;

	if (*p == '0')
		p++;
	else if (*p >= '1' && *p <= '9')
		while (*p >= '0' && *p <= '9')
			p++;
	else
		return 0;
	if (*p == '.') {
		if (p[1] < '0' || p[1] > '9')
			return 0;
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
	}
	return *p == '\0' && p - s <= 32;
}

/* Prints one value as its field's JSON type: a number, true/false, null
 * for an empty number, or else a string. */
static void
out_json_value(FILE *fp, int kind, const char *v)
{
	if (kind == OUT_NUMBER && *v == '\0')
		fputs("null", fp);
	else if (kind == OUT_NUMBER && out_is_number(v))
		fputs(v, fp);
	else if (kind == OUT_BOOL && strcmp(v, "yes") == 0)
		fputs("true", fp);
	else if (kind == OUT_BOOL && strcmp(v, "no") == 0)
		fputs("false", fp);
	else
		out_json_string(fp, v);
}

/* Prints a line from the daemon as one JSON object: "type" first (the
 * given type, else the line's verb), then every field but id=, numbers
 * and yes/no fields as JSON numbers and booleans (out_fields), the rest
 * as strings. */
void
out_json(FILE *fp, const char *type, const struct proto_msg *m)
{
	const char *t = type != NULL ? type : m->verb;
	size_t i;

	fputs("{\"type\":", fp);
	out_json_string(fp, t);
	for (i = 0; i < m->n; i++) {
		if (strcmp(m->f[i].key, "id") == 0 ||
		    (type != NULL && strcmp(m->f[i].key, "type") == 0))
			continue;
		fputc(',', fp);
		out_json_string(fp, m->f[i].key);
		fputc(':', fp);
		out_json_value(fp, out_kind(t, m->f[i].key), m->f[i].val);
	}
	fputs("}\n", fp);
}

/* Returns a stamp for humans in buf: kind and the first 8 hex digits
 * followed by "..", or a long version cut likewise; whole with -v. */
const char *
out_stamp(const char *stamp, char *buf, size_t len)
{
	const char *colon;
	char tmp[512];
	size_t keep;

	/* "none:" is the protocol's "no stamp known", not a kind to show. */
	if (stamp == NULL || *stamp == '\0' || strcmp(stamp, "none:") == 0)
		return out_vis("-", buf, len);
	colon = strchr(stamp, ':');
	if (opts.verbose || colon == NULL)
		return out_vis(stamp, buf, len);
	keep = strncmp(stamp, "version:", 8) == 0 ? 20 : 8;
	if (strlen(colon + 1) <= keep + 2)
		return out_vis(stamp, buf, len);
	snprintf(tmp, sizeof(tmp), "%.*s..", (int)(colon + 1 - stamp + keep),
	    stamp);
	return out_vis(tmp, buf, len);
}

/* Returns path relative to the working directory when it lies under it
 * and -v was not given; else the path itself. */
const char *
out_path(const char *path)
{
	size_t n = strlen(out_cwd);

	if (opts.verbose || n <= 1 || strncmp(path, out_cwd, n) != 0 ||
	    path[n] != '/' || path[n + 1] == '\0')
		return path;
	return path + n + 1;
}

/* Returns a number of seconds ("3600.25") as "1h 00m" in buf, or the
 * text itself if it is not a number. */
const char *
out_uptime(const char *secs, char *buf, size_t len)
{
	unsigned long long s;
	char *end;
	double v;

	if (secs == NULL)
		return "?";
	errno = 0;
	v = strtod(secs, &end);
	if (end == secs || *end != '\0' || errno != 0 || v < 0 || v > 1e15)
		return out_vis(secs, buf, len);
	s = (unsigned long long)v;
	if (s < 60)
		snprintf(buf, len, "%.1fs", v);
	else if (s < 3600)
		snprintf(buf, len, "%llum %02llus", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, len, "%lluh %02llum", s / 3600, s / 60 % 60);
	else
		snprintf(buf, len, "%llud %02lluh", s / 86400, s / 3600 % 24);
	return buf;
}

/* Returns a new, empty table of ncols columns; exits when memory runs
 * out.  The caller frees it with table_free. */
struct table *
table_new(size_t ncols)
{
	struct table *t;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		ctl_die(EX_OSERR, "out of memory");
	t->ncols = ncols;
	return t;
}

/* Appends a cell of the given colour kind (NULL: plain) to the row
 * being filled. */
void
table_cell(struct table *t, const char *color, const char *text)
{
	char buf[8192];

	if (t->n == t->cap) {
		t->cap = t->cap ? 2 * t->cap : 64;
		t->text = reallocarray(t->text, t->cap, sizeof(*t->text));
		t->color = reallocarray(t->color, t->cap, sizeof(*t->color));
		if (t->text == NULL || t->color == NULL)
			ctl_die(EX_OSERR, "out of memory");
	}
	if ((t->text[t->n] = strdup(out_vis(text, buf, sizeof(buf)))) == NULL)
		ctl_die(EX_OSERR, "out of memory");
	t->color[t->n] = color;
	t->n++;
	if (++t->col == t->ncols)
		t->col = 0;
}

/* Appends a plain cell, formatted. */
void
table_add(struct table *t, const char *fmt, ...)
{
	char buf[8192];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	table_cell(t, NULL, buf);
}

/* Fills the rest of the row being filled with empty cells. */
void
table_row(struct table *t)
{
	while (t->col != 0)
		table_cell(t, NULL, "");
}

/* Returns how many columns s takes: UTF-8 continuation bytes take none. */
static size_t
table_width(const char *s)
{
	size_t w = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	return w;
}

/* Prints the table with each column as wide as its widest cell, two
 * spaces apart, every row after indent; trailing blanks are left out. */
void
table_print(struct table *t, FILE *fp, const char *indent)
{
	size_t *width, i, j, last, w;

	table_row(t);
	if ((width = calloc(t->ncols, sizeof(*width))) == NULL)
		ctl_die(EX_OSERR, "out of memory");
	for (i = 0; i < t->n; i++)
		if ((w = table_width(t->text[i])) > width[i % t->ncols])
			width[i % t->ncols] = w;
	for (i = 0; i < t->n; i += t->ncols) {
		last = 0;
		for (j = 0; j < t->ncols; j++)
			if (t->text[i + j][0] != '\0')
				last = j;
		fputs(indent, fp);
		for (j = 0; j <= last; j++) {
			const char *col = out_color(t->color[i + j]);

			fprintf(fp, "%s%s%s", col, t->text[i + j],
			    *col != '\0' ? out_reset() : "");
			if (j < last)
				fprintf(fp, "%*s", (int)(width[j] + 2 -
				    table_width(t->text[i + j])), "");
		}
		fputc('\n', fp);
	}
	free(width);
}

/* Frees a table and every cell. */
void
table_free(struct table *t)
{
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < t->n; i++)
		free(t->text[i]);
	free(t->text);
	free(t->color);
	free(t);
}
