/*
 * test-config.c: unit tests of the configuration file and defaults.
 *
 * Most tests parse text under the name /etc/reloader/t.conf, which need
 * not exist: parsing only uses the name for messages and to resolve
 * relative paths.  The example config is loaded from the repository root,
 * where the test binary runs.
 */
#include <sys/un.h>

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "reloaderd.h"
#include "testutil.h"

#define NAME		"/etc/reloader/t.conf"
#define SUN_MAX		(sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

static char errbuf[1024];

/* Parses len bytes of text as NAME into a freshly initialised config. */
static int
parse_len(struct config *c, const char *text, size_t len)
{
	config_init(c);
	memset(errbuf, 'X', sizeof(errbuf) - 1);
	errbuf[sizeof(errbuf) - 1] = '\0';
	return config_parse_buf(c, NAME, text, len, errbuf, sizeof(errbuf));
}

/* Parses a NUL-terminated text as NAME into a fresh config. */
static int
parse(struct config *c, const char *text)
{
	return parse_len(c, text, strlen(text));
}

/* Counts the entries of a NULL-terminated list. */
static size_t
count(char **l)
{
	size_t n = 0;

	ck_assert_ptr_nonnull(l);
	while (l[n] != NULL)
		n++;
	return n;
}

/* Asserts that a glob list holds exactly the given globs, in order. */
static void
assert_list(char **l, const char *const *want)
{
	size_t i;

	ck_assert_ptr_nonnull(l);
	for (i = 0; want[i] != NULL; i++) {
		ck_assert_msg(l[i] != NULL, "list ends at %zu, want \"%s\"", i,
		    want[i]);
		ck_assert_str_eq(l[i], want[i]);
	}
	ck_assert_msg(l[i] == NULL, "extra glob \"%s\" at %zu", l[i], i);
}

/* Returns cwd + "/" + rel, normalised by hand for the simple cases used. */
static char *
cwd_join(const char *rel)
{
	char *cwd = getcwd(NULL, 0), *s;

	ck_assert_ptr_nonnull(cwd);
	if (strcmp(cwd, "/") == 0)
		ck_assert_int_ne(asprintf(&s, "/%s", rel), -1);
	else
		ck_assert_int_ne(asprintf(&s, "%s/%s", cwd, rel), -1);
	free(cwd);
	return s;
}

START_TEST(test_defaults)
{
	static const char *const inc[] = { "*.so", "*.beam", NULL };
	static const char *const exc[] = {
		"*.bea#", "*.tmp", ".#*", "*~", "#*#", "*.swp", NULL
	};
	struct config c;
	char *want;

	ck_assert_int_eq(unsetenv("RELOADER_SOCKET"), 0);
	ck_assert_int_eq(setenv("XDG_RUNTIME_DIR", "/run/user/1000", 1), 0);
	config_init(&c);
	ck_assert_ptr_null(c.file);
	ck_assert_str_eq(c.socket, "/run/user/1000/reloader.sock");
	ck_assert_ptr_null(c.logfile);
	ck_assert_int_eq(c.loglevel, LOG_INFO);
	ck_assert_int_eq(c.backend, BACKEND_AUTO);
	ck_assert_double_eq_tol(c.interval, 1.0, 1e-9);
	ck_assert_double_eq_tol(c.settle, 0.020, 1e-9);
	ck_assert_uint_eq(c.max_clients, 1000);
	assert_list(c.include, inc);
	assert_list(c.exclude, exc);
	ck_assert_ptr_null(c.roots);
	ck_assert_uint_eq(c.nroots, 0);
	config_free(&c);

	/* No "//" from a trailing slash. */
	ck_assert_int_eq(setenv("XDG_RUNTIME_DIR", "/run/user/7//", 1), 0);
	config_init(&c);
	ck_assert_str_eq(c.socket, "/run/user/7/reloader.sock");
	config_free(&c);

	/* Unset and empty both fall back by effective uid. */
	if (geteuid() == 0)
		want = strdup("/run/reloader/reloader.sock");
	else
		ck_assert_int_ne(asprintf(&want, "/tmp/reloader-%lu.sock",
		    (unsigned long)geteuid()), -1);
	ck_assert_int_eq(setenv("XDG_RUNTIME_DIR", "", 1), 0);
	config_init(&c);
	ck_assert_str_eq(c.socket, want);
	config_free(&c);
	ck_assert_int_eq(unsetenv("XDG_RUNTIME_DIR"), 0);
	config_init(&c);
	ck_assert_str_eq(c.socket, want);
	config_free(&c);
	/* RELOADER_SOCKET before everything, as clients have it. */
	ck_assert_int_eq(setenv("RELOADER_SOCKET", "/srv/r.sock", 1), 0);
	config_init(&c);
	ck_assert_str_eq(c.socket, "/srv/r.sock");
	config_free(&c);
	ck_assert_int_eq(unsetenv("RELOADER_SOCKET"), 0);
	free(want);
}
END_TEST

START_TEST(test_global_keys)
{
	static const char *const inc[] = { "*.so", "lib *.so", "*.beam", NULL };
	static const char *const exc[] = {
		"#*#", "*~", "a\"b", "c\\d", ";x", NULL
	};
	struct config c;
	const char *text =
	    "# a comment\n"
	    "; another\n"
	    "socket = /run/user/5/r.sock\n"
	    "log = /var/log/reloaderd.log\n"
	    "log-level = debug\n"
	    "backend = poll\n"
	    "interval = 250ms\n"
	    "settle = 0\n"
	    "max-clients = 42\n"
	    "group = devs\n"
	    "admin-group = leads\n"
	    "switch = per-process\n"
	    "prepare-timeout = 250ms\n"
	    "include = *.so \"lib *.so\"\t*.beam\n"
	    "exclude = \"#*#\" *~ \"a\\\"b\" \"c\\\\d\" ;x\n";

	ck_assert_msg(parse(&c, text) == 0, "%s", errbuf);
	ck_assert_str_eq(errbuf, "");
	ck_assert_str_eq(c.socket, "/run/user/5/r.sock");
	ck_assert_str_eq(c.logfile, "/var/log/reloaderd.log");
	ck_assert_int_eq(c.loglevel, LOG_DEBUG);
	ck_assert_int_eq(c.backend, BACKEND_POLL);
	ck_assert_double_eq_tol(c.interval, 0.25, 1e-9);
	ck_assert_double_eq_tol(c.settle, 0, 1e-12);
	ck_assert_uint_eq(c.max_clients, 42);
	ck_assert_str_eq(c.group, "devs");
	ck_assert_str_eq(c.admin_group, "leads");
	ck_assert_int_eq(c.switch_mode, SWITCH_PER_PROCESS);
	ck_assert_double_eq_tol(c.prepare_timeout, 0.25, 1e-9);
	assert_list(c.include, inc);
	assert_list(c.exclude, exc);
	ck_assert_uint_eq(c.nroots, 0);
	/* parse_buf does not claim a file: config_load does. */
	ck_assert_ptr_null(c.file);
	config_free(&c);
}
END_TEST

START_TEST(test_scalars_quoted_and_bare)
{
	struct config c;
	const char *text =
	    "[reloaderd]\n"
	    "socket=\"/tmp/a b.sock\"\n"
	    "  log   =   \"/var/log/x\\\"y\\\\z\"   \n"
	    "log-level=\"warn\"\n"
	    "backend =\t\"inotify\"\n"
	    "interval = \"1m\"\n"
	    "settle = \"10s\"\n";

	ck_assert_msg(parse(&c, text) == 0, "%s", errbuf);
	ck_assert_str_eq(c.socket, "/tmp/a b.sock");
	ck_assert_str_eq(c.logfile, "/var/log/x\"y\\z");
	ck_assert_int_eq(c.loglevel, LOG_WARNING);
	ck_assert_int_eq(c.backend, BACKEND_INOTIFY);
	ck_assert_double_eq_tol(c.interval, 60, 1e-9);
	ck_assert_double_eq_tol(c.settle, 10, 1e-9);
	config_free(&c);

	/* A bare value keeps inner blanks and quotes as written. */
	ck_assert_msg(parse(&c, "log = /var/log/a b\"c\n") == 0, "%s",
	    errbuf);
	ck_assert_str_eq(c.logfile, "/var/log/a b\"c");
	config_free(&c);
}
END_TEST

/* Each log-level name and the priority it stands for. */
static const struct {
	const char *name;
	int level;
} levels[] = {
	{ "error", LOG_ERR }, { "warn", LOG_WARNING },
	{ "warning", LOG_WARNING }, { "info", LOG_INFO },
	{ "debug", LOG_DEBUG }
};

START_TEST(test_loglevel_key)
{
	struct config c;
	char *text;

	ck_assert_int_ne(asprintf(&text, "log-level = %s\n",
	    levels[_i].name), -1);
	ck_assert_msg(parse(&c, text) == 0, "%s", errbuf);
	ck_assert_int_eq(c.loglevel, levels[_i].level);
	config_free(&c);
	free(text);
}
END_TEST

START_TEST(test_loglevel_api)
{
	int l = -42;

	ck_assert_int_eq(config_parse_loglevel("error", &l), 0);
	ck_assert_int_eq(l, LOG_ERR);
	ck_assert_int_eq(config_parse_loglevel("warning", &l), 0);
	ck_assert_int_eq(l, LOG_WARNING);
	ck_assert_int_eq(config_parse_loglevel("debug", &l), 0);
	ck_assert_int_eq(l, LOG_DEBUG);
	l = -42;
	ck_assert_int_eq(config_parse_loglevel("ERROR", &l), -1);
	ck_assert_int_eq(config_parse_loglevel("err", &l), -1);
	ck_assert_int_eq(config_parse_loglevel("", &l), -1);
	ck_assert_int_eq(config_parse_loglevel("info ", &l), -1);
	ck_assert_int_eq(config_parse_loglevel(NULL, &l), -1);
	ck_assert_int_eq(l, -42);
}
END_TEST

START_TEST(test_backend_api)
{
	static const enum backend all[] = {
		BACKEND_AUTO, BACKEND_INOTIFY, BACKEND_POLL
	};
	enum backend b = BACKEND_POLL;
	size_t i;

	ck_assert_str_eq(config_backend_name(BACKEND_AUTO), "auto");
	ck_assert_str_eq(config_backend_name(BACKEND_INOTIFY), "inotify");
	ck_assert_str_eq(config_backend_name(BACKEND_POLL), "poll");
	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		b = (enum backend)-1;
		ck_assert_int_eq(config_parse_backend(
		    config_backend_name(all[i]), &b), 0);
		ck_assert_int_eq(b, all[i]);
	}
	b = BACKEND_INOTIFY;
	ck_assert_int_eq(config_parse_backend("Poll", &b), -1);
	ck_assert_int_eq(config_parse_backend("", &b), -1);
	ck_assert_int_eq(config_parse_backend("fanotify", &b), -1);
	ck_assert_int_eq(config_parse_backend(NULL, &b), -1);
	ck_assert_int_eq(b, BACKEND_INOTIFY);
	ck_assert_ptr_nonnull(config_backend_name((enum backend)42));
}
END_TEST

START_TEST(test_comments_and_globs)
{
	static const char *const exc[] = { "#*#", ";*", "*#", NULL };
	struct config c;
	const char *text =
	    "\n"
	    "   # indented comment = with an equals sign\n"
	    "\t; [not a section\n"
	    "#[watch \"nope\"]\n"
	    "\n"
	    "exclude = #*# ;* *#\n"
	    "   \t \n";

	ck_assert_msg(parse(&c, text) == 0, "%s", errbuf);
	assert_list(c.exclude, exc);
	ck_assert_uint_eq(c.nroots, 0);
	config_free(&c);
}
END_TEST

START_TEST(test_empty_input)
{
	struct config c;

	ck_assert_int_eq(parse(&c, ""), 0);
	ck_assert_uint_eq(c.nroots, 0);
	ck_assert_double_eq_tol(c.interval, 1.0, 1e-9);
	ck_assert_uint_eq(count(c.include), 2);
	config_free(&c);

	/* No final newline: the last line still counts. */
	ck_assert_msg(parse(&c, "interval = 2s") == 0, "%s", errbuf);
	ck_assert_double_eq_tol(c.interval, 2.0, 1e-9);
	config_free(&c);
	ck_assert_int_eq(parse(&c, "frob = 2"), -1);
	ck_assert_msg(strncmp(errbuf, NAME ":1: ", strlen(NAME) + 4) == 0,
	    "%s", errbuf);
	config_free(&c);
}
END_TEST

START_TEST(test_watch_inherits)
{
	static const char *const ginc[] = { "*.so", "*.dll", NULL };
	static const char *const gexc[] = { "*.tmp", NULL };
	static const char *const beam[] = { "*.beam", NULL };
	struct config c;
	struct root_conf *r;
	const char *text =
	    "[watch \"build\"]\n"
	    "\n"
	    "[watch \"_build/default/lib\"]\n"
	    "include = *.beam\n"
	    "backend = inotify\n"
	    "[reloaderd]\n"
	    "include = *.so *.dll\n"
	    "exclude = *.tmp\n"
	    "backend = poll\n";

	ck_assert_msg(parse(&c, text) == 0, "%s", errbuf);
	ck_assert_uint_eq(c.nroots, 2);
	r = &c.roots[0];
	ck_assert_str_eq(r->path, "/etc/reloader/build");
	ck_assert_str_eq(r->display, "build");
	ck_assert_str_eq(r->where, NAME ":1");
	assert_list(r->include, ginc);
	assert_list(r->exclude, gexc);
	ck_assert_int_eq(r->backend, BACKEND_POLL);
	/* Copies, not aliases, so the daemon can free them one by one. */
	ck_assert_ptr_ne(r->include, c.include);
	ck_assert_ptr_ne(r->include[0], c.include[0]);
	ck_assert_ptr_ne(r->exclude, c.exclude);

	r = &c.roots[1];
	ck_assert_str_eq(r->path, "/etc/reloader/_build/default/lib");
	ck_assert_str_eq(r->display, "_build/default/lib");
	ck_assert_str_eq(r->where, NAME ":3");
	assert_list(r->include, beam);
	assert_list(r->exclude, gexc);
	ck_assert_int_eq(r->backend, BACKEND_INOTIFY);

	assert_list(c.include, ginc);
	ck_assert_int_eq(c.backend, BACKEND_POLL);
	config_free(&c);
}
END_TEST

START_TEST(test_watch_builtin_defaults)
{
	static const char *const inc[] = { "*.so", "*.beam", NULL };
	struct config c;

	ck_assert_msg(parse(&c, "[watch \"b\"]\n") == 0, "%s", errbuf);
	ck_assert_uint_eq(c.nroots, 1);
	assert_list(c.roots[0].include, inc);
	ck_assert_uint_eq(count(c.roots[0].exclude), 6);
	ck_assert_str_eq(c.roots[0].exclude[4], "#*#");
	ck_assert_int_eq(c.roots[0].backend, BACKEND_AUTO);
	config_free(&c);
}
END_TEST

START_TEST(test_empty_exclude)
{
	static const char *const one[] = { "*.tmp", NULL };
	struct config c;
	const char *text =
	    "exclude =\n"
	    "[watch \"a\"]\n"
	    "[watch \"b\"]\n"
	    "exclude = *.tmp\n"
	    "[watch \"c\"]\n"
	    "exclude =   \n";

	ck_assert_msg(parse(&c, text) == 0, "%s", errbuf);
	ck_assert_uint_eq(count(c.exclude), 0);
	ck_assert_uint_eq(c.nroots, 3);
	ck_assert_uint_eq(count(c.roots[0].exclude), 0);
	assert_list(c.roots[1].exclude, one);
	ck_assert_uint_eq(count(c.roots[2].exclude), 0);
	config_free(&c);
}
END_TEST

START_TEST(test_sections_reentered)
{
	struct config c;
	const char *text =
	    "settle = 1s\n"
	    "[reloaderd]\n"
	    "socket=/a.sock\n"
	    "[watch \"b\"]\n"
	    "backend=poll\n"
	    "[ reloaderd ]\n"
	    "log=/l\n"
	    "[watch\"c\"]\n"
	    "[ watch  \"d\" ]\n"
	    "include=*.so\n";

	ck_assert_msg(parse(&c, text) == 0, "%s", errbuf);
	ck_assert_double_eq_tol(c.settle, 1, 1e-9);
	ck_assert_str_eq(c.socket, "/a.sock");
	ck_assert_str_eq(c.logfile, "/l");
	ck_assert_uint_eq(c.nroots, 3);
	ck_assert_int_eq(c.roots[0].backend, BACKEND_POLL);
	ck_assert_str_eq(c.roots[1].path, "/etc/reloader/c");
	ck_assert_str_eq(c.roots[2].path, "/etc/reloader/d");
	ck_assert_uint_eq(count(c.roots[2].include), 1);
	config_free(&c);
}
END_TEST

START_TEST(test_watch_quoted_dir)
{
	struct config c;

	ck_assert_msg(parse(&c, "[watch \"a \\\"q\\\" ]\\\\b\"]\n") == 0, "%s",
	    errbuf);
	ck_assert_uint_eq(c.nroots, 1);
	ck_assert_str_eq(c.roots[0].display, "a \"q\" ]\\b");
	ck_assert_str_eq(c.roots[0].path, "/etc/reloader/a \"q\" ]\\b");
	config_free(&c);
}
END_TEST

START_TEST(test_relative_paths)
{
	struct config c;
	char *want;
	const char *text =
	    "socket = r.sock\n"
	    "log = ../log/./r.log\n"
	    "[watch \"../x/./y//\"]\n"
	    "[watch \"/abs//p/\"]\n"
	    "[watch \".\"]\n";

	ck_assert_msg(parse(&c, text) == 0, "%s", errbuf);
	ck_assert_str_eq(c.socket, "/etc/reloader/r.sock");
	ck_assert_str_eq(c.logfile, "/etc/log/r.log");
	ck_assert_uint_eq(c.nroots, 3);
	ck_assert_str_eq(c.roots[0].path, "/etc/x/y");
	ck_assert_str_eq(c.roots[0].display, "../x/./y//");
	ck_assert_str_eq(c.roots[1].path, "/abs/p");
	ck_assert_str_eq(c.roots[2].path, "/etc/reloader");
	config_free(&c);

	/* A name without a slash: relative to the current directory. */
	config_init(&c);
	ck_assert_int_eq(config_parse_buf(&c, "t.conf", text, strlen(text),
	    errbuf, sizeof(errbuf)), 0);
	want = cwd_join("r.sock");
	ck_assert_str_eq(c.socket, want);
	free(want);
	ck_assert_str_eq(c.roots[1].path, "/abs/p");
	config_free(&c);

	/* A relative name with a slash: its directory, from the cwd. */
	config_init(&c);
	ck_assert_int_eq(config_parse_buf(&c, "sub/dir/t.conf", text,
	    strlen(text), errbuf, sizeof(errbuf)), 0);
	want = cwd_join("sub/dir/r.sock");
	ck_assert_str_eq(c.socket, want);
	free(want);
	want = cwd_join("sub/x/y");
	ck_assert_str_eq(c.roots[0].path, want);
	free(want);
	config_free(&c);

	/* A file in the root directory. */
	config_init(&c);
	ck_assert_int_eq(config_parse_buf(&c, "/t.conf", text, strlen(text),
	    errbuf, sizeof(errbuf)), 0);
	ck_assert_str_eq(c.socket, "/r.sock");
	ck_assert_str_eq(c.logfile, "/log/r.log");
	ck_assert_str_eq(c.roots[2].path, "/");
	config_free(&c);
}
END_TEST

/* Paths, bases and what config_abspath makes of them. */
static const struct {
	const char *path, *base, *want;
} abspaths[] = {
	{ "/", NULL, "/" },
	{ "/", "/x", "/" },
	{ "//a//b/", "/x", "/a/b" },
	{ "/a/./b/../c", NULL, "/a/c" },
	{ "/..", NULL, "/" },
	{ "/../a/..", NULL, "/" },
	{ "/../a", NULL, "/a" },
	{ "b", "/base", "/base/b" },
	{ "b/", "/base/", "/base/b" },
	{ "../b", "/base/x", "/base/b" },
	{ "../../../..", "/a", "/" },
	{ ".", "/a/b/", "/a/b" },
	{ "./", "/", "/" },
	{ "x", "/", "/x" },
	{ "a/.../b", "/c", "/c/a/.../b" },
	{ "..a/.b", "/c", "/c/..a/.b" },
	{ "a//./..//b", "//c//d//", "/c/d/b" },
};

START_TEST(test_abspath_table)
{
	char *p = config_abspath(abspaths[_i].path, abspaths[_i].base);

	ck_assert_msg(p != NULL, "abspath(\"%s\", \"%s\") failed",
	    abspaths[_i].path, abspaths[_i].base);
	ck_assert_msg(strcmp(p, abspaths[_i].want) == 0,
	    "abspath(\"%s\", \"%s\") = \"%s\", want \"%s\"",
	    abspaths[_i].path, abspaths[_i].base, p, abspaths[_i].want);
	free(p);
}
END_TEST

START_TEST(test_abspath_cwd)
{
	char *p, *want;

	ck_assert_ptr_null(config_abspath("", "/x"));
	ck_assert_ptr_null(config_abspath("", NULL));
	ck_assert_ptr_null(config_abspath(NULL, NULL));

	p = config_abspath("b/../c/", NULL);
	want = cwd_join("c");
	ck_assert_str_eq(p, want);
	free(p);
	free(want);

	/* A relative base is taken from the current directory too. */
	p = config_abspath("b", "rel/x");
	want = cwd_join("rel/x/b");
	ck_assert_str_eq(p, want);
	free(p);
	free(want);
}
END_TEST

/* Good durations and their values in seconds. */
static const struct {
	const char *s;
	double v;
} good_durations[] = {
	{ "1", 1 }, { "0.5", 0.5 }, { "500ms", 0.5 }, { "2s", 2 },
	{ "1m", 60 }, { "0", 0 }, { "1.5m", 90 }, { "10.25", 10.25 },
	{ "250ms", 0.25 }, { "1ms", 0.001 }, { ".5", 0.5 }, { "3.", 3 },
	{ "007s", 7 }, { "0.0001", 0.0001 }, { "3600", 3600 }
};

START_TEST(test_duration_good)
{
	double v = -1;

	errbuf[0] = '\0';
	ck_assert_msg(config_parse_duration(good_durations[_i].s, &v, errbuf,
	    sizeof(errbuf)) == 0, "\"%s\": %s", good_durations[_i].s, errbuf);
	ck_assert_msg(v > good_durations[_i].v - 1e-12 &&
	    v < good_durations[_i].v + 1e-12, "\"%s\" = %g, want %g",
	    good_durations[_i].s, v, good_durations[_i].v);
}
END_TEST

static const char *const bad_durations[] = {
	"", "-1", "1e3", "0x10", "inf", "5x", "1.2.3", " 1", "1 ", "1 s",
	".", "s", "ms", "+1", "1h", "nan", "1S", "1.5.", "1ms5", "1sm",
	"1mm", "１", "1,5", "m1", "infinity", "1d"
};

START_TEST(test_duration_bad)
{
	const char *s = bad_durations[_i];
	char want[64];
	double v = 42;

	memset(errbuf, 0, sizeof(errbuf));
	ck_assert_msg(config_parse_duration(s, &v, errbuf, sizeof(errbuf)) ==
	    -1, "\"%s\" was accepted as %g", s, v);
	ck_assert_msg(v == 42, "\"%s\": output written on error", s);
	snprintf(want, sizeof(want), "invalid duration \"%s\"", s);
	ck_assert_msg(strstr(errbuf, want) != NULL, "\"%s\": %s", s, errbuf);
	ck_assert_msg(strstr(errbuf, "(500ms, 2s, 1m)") != NULL, "%s", errbuf);
}
END_TEST

START_TEST(test_duration_huge)
{
	char s[512];
	double v = 42;

	memset(s, '9', 400);
	s[400] = '\0';
	ck_assert_int_eq(config_parse_duration(s, &v, errbuf, sizeof(errbuf)),
	    -1);
	ck_assert_msg(strstr(errbuf, "too large") != NULL, "%s", errbuf);
	s[200] = '.';
	ck_assert_int_eq(config_parse_duration(s, &v, errbuf, sizeof(errbuf)),
	    -1);
	ck_assert_double_eq_tol(v, 42, 1e-9);
	/* Many fractional digits are fine. */
	memset(s, '0', 400);
	s[1] = '.';
	s[399] = '1';
	ck_assert_int_eq(config_parse_duration(s, &v, NULL, 0), 0);
	ck_assert_msg(v >= 0 && v < 1e-300, "%g", v);
	/* No buffer for the message: still just -1. */
	ck_assert_int_eq(config_parse_duration("x", &v, NULL, 0), -1);
}
END_TEST

START_TEST(test_duration_ranges)
{
	struct config c;

	ck_assert_msg(parse(&c, "interval = 1ms\nsettle = 0ms\n") == 0, "%s",
	    errbuf);
	ck_assert_double_eq_tol(c.interval, 0.001, 1e-12);
	ck_assert_double_eq_tol(c.settle, 0, 1e-12);
	config_free(&c);
	ck_assert_msg(parse(&c, "interval = 60m\nsettle = 10\n") == 0, "%s",
	    errbuf);
	ck_assert_double_eq_tol(c.interval, 3600, 1e-9);
	ck_assert_double_eq_tol(c.settle, 10, 1e-9);
	config_free(&c);
	ck_assert_msg(parse(&c, "interval = 0.5\nsettle = 10000ms\n") == 0,
	    "%s", errbuf);
	ck_assert_double_eq_tol(c.interval, 0.5, 1e-12);
	config_free(&c);
}
END_TEST

START_TEST(test_max_clients)
{
	struct config c;

	ck_assert_msg(parse(&c, "max-clients = 1\n") == 0, "%s", errbuf);
	ck_assert_uint_eq(c.max_clients, 1);
	config_free(&c);
	ck_assert_msg(parse(&c, "max-clients = 1000000\n") == 0, "%s", errbuf);
	ck_assert_uint_eq(c.max_clients, 1000000);
	config_free(&c);
	ck_assert_msg(parse(&c, "max-clients = \"0077\"\n") == 0, "%s",
	    errbuf);
	ck_assert_uint_eq(c.max_clients, 77);
	config_free(&c);
}
END_TEST

START_TEST(test_follow_symlinks)
{
	struct config c;

	ck_assert_msg(parse(&c, "socket = /s\n") == 0, "%s", errbuf);
	ck_assert_int_eq(c.follow_symlinks, 0);
	config_free(&c);
	ck_assert_msg(parse(&c, "follow-symlinks = yes\n") == 0, "%s",
	    errbuf);
	ck_assert_int_eq(c.follow_symlinks, 1);
	config_free(&c);
	ck_assert_msg(parse(&c, "follow-symlinks = \"no\"\n") == 0, "%s",
	    errbuf);
	ck_assert_int_eq(c.follow_symlinks, 0);
	config_free(&c);
}
END_TEST

/* A text that must fail, the line it must blame, and words the message
 * must hold. */
static const struct {
	const char *text;
	int line;
	const char *has[3];
} errcases[] = {
	{ "frob = 1\n", 1, { "unknown key \"frob\"", "[reloaderd]" } },
	{ "frob = 1\n", 1, { "unknown key \"frob\"", "max-clients" } },
	{ "[reloaderd]\n\nsocket = /a\nfrob = 1\n", 4,
	    { "unknown key \"frob\"", "[reloaderd]" } },
	{ "Socket = /x\n", 1, { "unknown key \"Socket\"" } },
	{ "[watch \"b\"]\nfrob = x\n", 2,
	    { "unknown key \"frob\"", "[watch \"b\"]", "include, exclude" } },
	{ "[watch \"b\"]\ninterval = 1\n", 2,
	    { "unknown key \"interval\"", "[watch \"b\"]", "global key" } },
	{ "[frob]\n", 1, { "unknown section [frob]", "[reloaderd]" } },
	{ "[Watch \"b\"]\n", 1, { "unknown section [Watch]" } },
	{ "[RELOADERD]\n", 1, { "unknown section [RELOADERD]" } },
	{ "[watch]\n", 1, { "[watch] needs a directory" } },
	{ "[reloaderd \"x\"]\n", 1, { "[reloaderd] takes no directory" } },
	{ "[watch \"b\"\n", 1, { "missing ']'" } },
	{ "[reloaderd\n", 1, { "missing ']'" } },
	{ "[watch \"b\"] # comment\n", 1,
	    { "unexpected text after the section header" } },
	{ "[]\n", 1, { "empty section name" } },
	{ "[watch \"b\" \"c\"]\n", 1, { "malformed section header" } },
	{ "[watch b]\n", 1, { "malformed section header" } },
	{ "[watch \"\"]\n", 1, { "empty directory" } },
	{ "socket /x\n", 1, { "missing '='", "socket /x" } },
	{ "[watch \"b\"]\ninclude\n", 2, { "missing '='", "include" } },
	{ "= 1\n", 1, { "missing key before '='" } },
	{ "socket =\n", 1, { "empty value for \"socket\"" } },
	{ "socket = \"\"\n", 1, { "empty value for \"socket\"" } },
	{ "log =  \t\n", 1, { "empty value for \"log\"" } },
	{ "log-level =\n", 1, { "empty value for \"log-level\"" } },
	{ "backend =\n", 1, { "empty value for \"backend\"" } },
	{ "interval =\n", 1, { "empty value for \"interval\"" } },
	{ "settle = \"\"\n", 1, { "empty value for \"settle\"" } },
	{ "backend = fast\n", 1,
	    { "invalid backend \"fast\"", "auto, inotify or poll" } },
	{ "[watch \"b\"]\nbackend = Poll\n", 2,
	    { "invalid backend \"Poll\"", "auto, inotify or poll" } },
	{ "log-level = loud\n", 1, { "invalid log-level \"loud\"",
	    "error, warn, warning, info or debug" } },
	{ "log-level = INFO\n", 1, { "invalid log-level \"INFO\"" } },
	{ "interval = 5x\n", 1,
	    { "interval: invalid duration \"5x\"", "500ms" } },
	{ "settle = -1\n", 1, { "settle: invalid duration \"-1\"" } },
	{ "interval = 0\n", 1,
	    { "interval \"0\" is out of range", "1ms to 1h" } },
	{ "interval = 0.5ms\n", 1, { "interval \"0.5ms\" is out of range" } },
	{ "interval = 61m\n", 1, { "interval \"61m\" is out of range" } },
	{ "interval = 3601\n", 1, { "out of range", "1ms to 1h" } },
	{ "settle = 11s\n", 1,
	    { "settle \"11s\" is out of range", "0 to 10s" } },
	{ "settle = 10001ms\n", 1, { "settle \"10001ms\" is out of range" } },
	{ "max-clients =\n", 1, { "empty value for \"max-clients\"" } },
	{ "admin-group =\n", 1, { "empty value for \"admin-group\"" } },
	{ "switch = sometimes\n", 1,
	    { "invalid switch \"sometimes\"", "together or per-process" } },
	{ "prepare-timeout = 1ms\n", 1, { "prepare-timeout" } },
	{ "max-clients = 0\n", 1,
	    { "max-clients \"0\" is out of range", "1 to 1000000" } },
	{ "max-clients = 1000001\n", 1,
	    { "max-clients \"1000001\" is out of range" } },
	{ "max-clients = 99999999999999999999999\n", 1,
	    { "max-clients \"99999999999999999999999\" is out of range" } },
	{ "max-clients = -1\n", 1, { "invalid max-clients \"-1\"",
	    "a whole number from 1 to 1000000" } },
	{ "max-clients = 10k\n", 1, { "invalid max-clients \"10k\"" } },
	{ "max-clients = 1e3\n", 1, { "invalid max-clients \"1e3\"" } },
	{ "max-clients = \"\"\n", 1, { "empty value for \"max-clients\"" } },
	{ "[watch \"b\"]\nmax-clients = 5\n", 2,
	    { "unknown key \"max-clients\"", "global key" } },
	{ "max-clients = 5\nmax-clients = 6\n", 2,
	    { "duplicate key \"max-clients\"", "line 1" } },
	{ "frob = 1\n", 1, { "unknown key \"frob\"", "follow-symlinks" } },
	{ "follow-symlinks = maybe\n", 1,
	    { "invalid follow-symlinks \"maybe\"", "yes or no" } },
	{ "follow-symlinks =\n", 1, { "empty value for \"follow-symlinks\"" } },
	{ "follow-symlinks = yes no\n", 1, { "follow-symlinks" } },
	{ "[watch \"b\"]\nfollow-symlinks = yes\n", 2,
	    { "unknown key \"follow-symlinks\"", "global key" } },
	{ "follow-symlinks = yes\nfollow-symlinks = no\n", 2,
	    { "duplicate key \"follow-symlinks\"", "line 1" } },
	{ "socket = /a\nsocket = /b\n", 2,
	    { "duplicate key \"socket\"", "[reloaderd]", "line 1" } },
	{ "socket = /a\n[reloaderd]\n\nsocket = /b\n", 4,
	    { "duplicate key \"socket\"", "line 1" } },
	{ "[watch \"a\"]\ninclude = *.so\n[watch \"b\"]\ninclude = *.so\n"
	    "include = *.beam\n", 5,
	    { "duplicate key \"include\"", "[watch \"b\"]", "line 4" } },
	{ "[watch \"b\"]\nbackend = poll\n[reloaderd]\n[watch \"c\"]\n"
	    "backend = poll\n[reloaderd]\nbackend = poll\nbackend = auto\n", 8,
	    { "duplicate key \"backend\"", "[reloaderd]", "line 7" } },
	{ "[watch \"b\"]\n[watch \"./b/\"]\n", 2,
	    { "duplicate [watch \"./b/\"]", "line 1" } },
	{ "[watch \"/etc/reloader/b\"]\n\n[watch \"x/../b\"]\n", 3,
	    { "duplicate [watch \"x/../b\"]", "line 1" } },
	{ "[watch \"b]\n", 1, { "unterminated quote" } },
	{ "[watch \"b\\\"]\n", 1, { "unterminated quote" } },
	{ "include = \"*.so\n", 1, { "unterminated quote" } },
	{ "include = \"*.so\\\n", 1, { "unterminated quote" } },
	{ "socket = \"/a\n", 1, { "unterminated quote" } },
	{ "include = \"a\\q\"\n", 1, { "invalid escape \"\\q\"" } },
	{ "[watch \"\\n\"]\n", 1, { "invalid escape \"\\n\"" } },
	{ "include =\n", 1, { "empty glob list for \"include\"" } },
	{ "[watch \"b\"]\ninclude =\n", 2,
	    { "empty glob list for \"include\"" } },
	{ "include = \"\"\n", 1, { "empty glob \"\"", "include" } },
	{ "exclude = *.so \"\"\n", 1, { "empty glob \"\"", "exclude" } },
	{ "include = a\"b\n", 1, { "unexpected '\"' inside a glob" } },
	{ "include = \"a\"b\n", 1,
	    { "unexpected text after a closing quote" } },
	{ "socket = \"/a\" b\n", 1,
	    { "unexpected text after the closing quote", "socket" } },
	/* The first error wins. */
	{ "frob = 1\nbar = 2\n", 1, { "\"frob\"" } },
	/* Lines are counted through comments and blanks. */
	{ "\n\n# c\n; c\n  [watch \"b\"]\n  frob = 1\n", 6,
	    { "unknown key \"frob\"" } },
	/* CRLF endings are still one line each. */
	{ "socket = /a\r\n\r\nfrob = 1\r\n", 3, { "unknown key \"frob\"" } },
};

START_TEST(test_errors)
{
	struct config c;
	char prefix[64];
	size_t i;

	snprintf(prefix, sizeof(prefix), "%s:%d: ", NAME, errcases[_i].line);
	ck_assert_msg(parse(&c, errcases[_i].text) == -1, "accepted: %s",
	    errcases[_i].text);
	ck_assert_msg(strncmp(errbuf, prefix, strlen(prefix)) == 0,
	    "want prefix \"%s\", got \"%s\"", prefix, errbuf);
	ck_assert_msg(strlen(errbuf) > strlen(prefix) + 5, "short: %s",
	    errbuf);
	for (i = 0; i < 3 && errcases[_i].has[i] != NULL; i++)
		ck_assert_msg(strstr(errbuf, errcases[_i].has[i]) != NULL,
		    "\"%s\" not in \"%s\"", errcases[_i].has[i], errbuf);
	config_free(&c);
}
END_TEST

START_TEST(test_nul_bytes)
{
	static const char t1[] = "socket = /a\nlog = /b\0c\n";
	static const char t2[] = "socket = /a\n\n# \0 in a comment\n";
	static const char t3[] = "\0";
	struct config c;

	ck_assert_int_eq(parse_len(&c, t1, sizeof(t1) - 1), -1);
	ck_assert_msg(strncmp(errbuf, NAME ":2: ", strlen(NAME) + 4) == 0,
	    "%s", errbuf);
	ck_assert_msg(strstr(errbuf, "NUL") != NULL, "%s", errbuf);
	config_free(&c);
	ck_assert_int_eq(parse_len(&c, t2, sizeof(t2) - 1), -1);
	ck_assert_msg(strncmp(errbuf, NAME ":3: ", strlen(NAME) + 4) == 0,
	    "%s", errbuf);
	ck_assert_msg(strstr(errbuf, "NUL") != NULL, "%s", errbuf);
	config_free(&c);
	ck_assert_int_eq(parse_len(&c, t3, sizeof(t3) - 1), -1);
	ck_assert_msg(strncmp(errbuf, NAME ":1: ", strlen(NAME) + 4) == 0,
	    "%s", errbuf);
	config_free(&c);
}
END_TEST

START_TEST(test_crlf)
{
	static const char *const exc[] = { "*.tmp", "#*#", NULL };
	struct config c;
	const char *text =
	    "# written on Windows\r\n"
	    "[reloaderd]\r\n"
	    "socket = /run/r.sock\r\n"
	    "exclude = *.tmp #*#\r\n"
	    "\r\n"
	    "[watch \"build\"]\r\n"
	    "backend = poll\r\n"
	    "include = \"*.so\"\r\n";

	ck_assert_msg(parse(&c, text) == 0, "%s", errbuf);
	ck_assert_str_eq(c.socket, "/run/r.sock");
	assert_list(c.exclude, exc);
	ck_assert_uint_eq(c.nroots, 1);
	ck_assert_str_eq(c.roots[0].display, "build");
	ck_assert_str_eq(c.roots[0].where, NAME ":6");
	ck_assert_int_eq(c.roots[0].backend, BACKEND_POLL);
	ck_assert_str_eq(c.roots[0].include[0], "*.so");
	ck_assert_ptr_null(c.roots[0].include[1]);
	config_free(&c);

	/* And a byte order mark before the first line. */
	ck_assert_msg(parse(&c, "\xef\xbb\xbfsocket = /b\r\n") == 0, "%s",
	    errbuf);
	ck_assert_str_eq(c.socket, "/b");
	config_free(&c);
}
END_TEST

START_TEST(test_line_length)
{
	struct config c;
	char *text;
	size_t n;

	/* "include = " and a glob: exactly 4096 bytes, then one more. */
	text = malloc(8192);
	ck_assert_ptr_nonnull(text);
	memcpy(text, "include = ", 10);
	memset(text + 10, 'g', 4096 - 10);
	memcpy(text + 4096, "\r\n", 3);
	n = strlen(text);
	ck_assert_msg(parse_len(&c, text, n) == 0, "%s", errbuf);
	ck_assert_uint_eq(strlen(c.include[0]), 4086);
	config_free(&c);

	memcpy(text, "socket = /a\ninclude = ", 22);
	memset(text + 22, 'g', 4097 - 10);
	memcpy(text + 12 + 4097, "\n", 2);
	n = strlen(text);
	ck_assert_int_eq(parse_len(&c, text, n), -1);
	ck_assert_msg(strncmp(errbuf, NAME ":2: ", strlen(NAME) + 4) == 0,
	    "%s", errbuf);
	ck_assert_msg(strstr(errbuf, "line too long") != NULL, "%s", errbuf);
	ck_assert_msg(strstr(errbuf, "4096") != NULL, "%s", errbuf);
	config_free(&c);
	free(text);
}
END_TEST

START_TEST(test_socket_length)
{
	struct config c;
	char text[512], want[32];
	size_t n;

	/* The longest path that fits, with the NUL, in sun_path. */
	n = (size_t)snprintf(text, sizeof(text), "socket = /");
	memset(text + n, 's', SUN_MAX - 1);
	text[n + SUN_MAX - 1] = '\0';
	ck_assert_msg(parse(&c, text) == 0, "%s", errbuf);
	ck_assert_uint_eq(strlen(c.socket), SUN_MAX);
	config_free(&c);

	text[n + SUN_MAX - 1] = 's';
	text[n + SUN_MAX] = '\0';
	ck_assert_int_eq(parse(&c, text), -1);
	ck_assert_msg(strncmp(errbuf, NAME ":1: ", strlen(NAME) + 4) == 0,
	    "%s", errbuf);
	snprintf(want, sizeof(want), "limit is %zu", SUN_MAX);
	ck_assert_msg(strstr(errbuf, "socket path too long") != NULL, "%s",
	    errbuf);
	ck_assert_msg(strstr(errbuf, want) != NULL, "%s", errbuf);
	config_free(&c);

	/* The limit applies to the path after resolution. */
	n = (size_t)snprintf(text, sizeof(text), "socket = ");
	memset(text + n, 's', SUN_MAX - 10);
	text[n + SUN_MAX - 10] = '\0';
	ck_assert_int_eq(parse(&c, text), -1);
	ck_assert_msg(strstr(errbuf, "/etc/reloader/sss") != NULL, "%s",
	    errbuf);
	config_free(&c);
}
END_TEST

START_TEST(test_add_root)
{
	struct config c;
	char *want;

	config_init(&c);
	c.backend = BACKEND_POLL;
	ck_assert_int_eq(config_add_root(&c, "b", "/w", "-w", errbuf,
	    sizeof(errbuf)), 0);
	ck_assert_uint_eq(c.nroots, 1);
	ck_assert_str_eq(c.roots[0].path, "/w/b");
	ck_assert_str_eq(c.roots[0].display, "b");
	ck_assert_str_eq(c.roots[0].where, "-w");
	ck_assert_int_eq(c.roots[0].backend, BACKEND_POLL);
	ck_assert_uint_eq(count(c.roots[0].include), 2);
	ck_assert_str_eq(c.roots[0].include[1], "*.beam");
	ck_assert_ptr_ne(c.roots[0].include, c.include);
	ck_assert_uint_eq(count(c.roots[0].exclude), 6);
	ck_assert_ptr_ne(c.roots[0].exclude, c.exclude);

	/* The same directory however spelt: kept once, as first given. */
	ck_assert_int_eq(config_add_root(&c, "./b/", "/w", "-w", errbuf,
	    sizeof(errbuf)), 0);
	ck_assert_int_eq(config_add_root(&c, "/w/x/../b", NULL, "-w", errbuf,
	    sizeof(errbuf)), 0);
	ck_assert_int_eq(config_add_root(&c, "w/b", "/", "-w", errbuf,
	    sizeof(errbuf)), 0);
	ck_assert_uint_eq(c.nroots, 1);
	ck_assert_str_eq(c.roots[0].display, "b");

	/* A relative path with no base: from the current directory. */
	ck_assert_int_eq(config_add_root(&c, "c", NULL, "-w", errbuf,
	    sizeof(errbuf)), 0);
	ck_assert_uint_eq(c.nroots, 2);
	want = cwd_join("c");
	ck_assert_str_eq(c.roots[1].path, want);
	free(want);

	/* No where: it came from -w. */
	ck_assert_int_eq(config_add_root(&c, "/d", NULL, NULL, errbuf,
	    sizeof(errbuf)), 0);
	ck_assert_uint_eq(c.nroots, 3);
	ck_assert_str_eq(c.roots[2].where, "-w");

	memset(errbuf, 0, sizeof(errbuf));
	ck_assert_int_eq(config_add_root(&c, "", "/w", "-w", errbuf,
	    sizeof(errbuf)), -1);
	ck_assert_msg(strstr(errbuf, "-w") != NULL, "%s", errbuf);
	ck_assert_msg(strstr(errbuf, "empty") != NULL, "%s", errbuf);
	ck_assert_uint_eq(c.nroots, 3);
	config_free(&c);
}
END_TEST

START_TEST(test_add_root_after_file)
{
	static const char *const inc[] = { "*.so", NULL };
	struct config c;
	const char *text =
	    "include = *.so\n"
	    "[watch \"build\"]\n"
	    "backend = inotify\n";
	const char *dupmsg = NAME ":2: duplicate [watch \"build\"]";

	ck_assert_msg(parse(&c, text) == 0, "%s", errbuf);
	/* Already watched by the file: the file's settings stay. */
	ck_assert_int_eq(config_add_root(&c, "/etc/reloader/build/", NULL,
	    "-w", errbuf, sizeof(errbuf)), 0);
	ck_assert_uint_eq(c.nroots, 1);
	ck_assert_str_eq(c.roots[0].where, NAME ":2");
	ck_assert_int_eq(config_add_root(&c, "/srv/b", NULL, "-w", errbuf,
	    sizeof(errbuf)), 0);
	ck_assert_uint_eq(c.nroots, 2);
	assert_list(c.roots[1].include, inc);
	ck_assert_int_eq(c.roots[1].backend, BACKEND_AUTO);
	config_free(&c);

	/* A file naming a -w root that came first is told where it was. */
	config_init(&c);
	ck_assert_int_eq(config_add_root(&c, "/etc/reloader/build", NULL,
	    "-w", errbuf, sizeof(errbuf)), 0);
	ck_assert_int_eq(config_parse_buf(&c, NAME, text, strlen(text),
	    errbuf, sizeof(errbuf)), -1);
	ck_assert_msg(strncmp(errbuf, dupmsg, strlen(dupmsg)) == 0, "%s",
	    errbuf);
	ck_assert_msg(strstr(errbuf, "-w") != NULL, "%s", errbuf);
	config_free(&c);
}
END_TEST

START_TEST(test_free_twice)
{
	struct config c, zero;
	const char *text =
	    "socket = /s\nlog = /l\ninclude = a b\n[watch \"x\"]\n"
	    "[watch \"y\"]\nexclude = z\n";

	memset(&zero, 0, sizeof(zero));
	ck_assert_msg(parse(&c, text) == 0, "%s", errbuf);
	ck_assert_int_eq(config_add_root(&c, "z", "/", "-w", errbuf,
	    sizeof(errbuf)), 0);
	ck_assert_uint_eq(c.nroots, 3);
	config_free(&c);
	ck_assert_ptr_null(c.socket);
	ck_assert_ptr_null(c.logfile);
	ck_assert_ptr_null(c.include);
	ck_assert_ptr_null(c.roots);
	ck_assert_uint_eq(c.nroots, 0);
	ck_assert_int_eq(memcmp(&c, &zero, sizeof(c)), 0);
	config_free(&c);
	ck_assert_int_eq(memcmp(&c, &zero, sizeof(c)), 0);
	config_free(NULL);

	/* Also after a failed parse that left a half-built [watch]. */
	ck_assert_int_eq(parse(&c, "[watch \"x\"]\ninclude = a\nfrob = 1\n"),
	    -1);
	ck_assert_uint_eq(c.nroots, 1);
	config_free(&c);
	config_free(&c);
	ck_assert_int_eq(memcmp(&c, &zero, sizeof(c)), 0);
}
END_TEST

START_TEST(test_small_errbuf)
{
	struct config c;
	char small[12];

	memset(small, 'X', sizeof(small));
	config_init(&c);
	ck_assert_int_eq(config_parse_buf(&c, NAME, "frob\n", 5, small, 10),
	    -1);
	ck_assert_int_eq(small[9], '\0');
	ck_assert_int_eq(small[10], 'X');
	ck_assert_int_eq(strncmp(small, NAME, 9), 0);
	config_free(&c);

	config_init(&c);
	ck_assert_int_eq(config_parse_buf(&c, NAME, "frob\n", 5, NULL, 0), -1);
	ck_assert_int_eq(config_parse_buf(&c, NAME, NULL, 0, NULL, 0), 0);
	config_free(&c);
}
END_TEST

START_TEST(test_example)
{
	struct config c;
	size_t i, npoll = 0;

	config_init(&c);
	ck_assert_msg(config_load(&c, "reloader.conf.example", errbuf,
	    sizeof(errbuf)) == 0, "%s", errbuf);
	ck_assert_ptr_nonnull(c.file);
	ck_assert_int_eq(c.file[0], '/');
	ck_assert_msg(strstr(c.file, "/reloader.conf.example") != NULL, "%s",
	    c.file);
	ck_assert_uint_ge(c.nroots, 3);
	for (i = 0; i < c.nroots; i++) {
		ck_assert_int_eq(c.roots[i].path[0], '/');
		ck_assert_uint_ge(count(c.roots[i].include), 1);
		ck_assert_ptr_nonnull(c.roots[i].exclude);
		if (c.roots[i].backend == BACKEND_POLL)
			npoll++;
	}
	ck_assert_uint_ge(npoll, 1);
	config_free(&c);
}
END_TEST

START_TEST(test_load)
{
	struct config c;
	char *dir, *path, *want;
	const char *text =
	    "log = logs/r.log\n"
	    "[watch \"build\"]\n"
	    "[watch \"../elsewhere\"]\n";
	const char *bad = "[watch \"build\"]\nfrob = 1\n";

	dir = tu_tmpdir();
	ck_assert_ptr_nonnull(dir);
	ck_assert_int_ne(asprintf(&path, "%s/r.conf", dir), -1);
	ck_assert_int_eq(tu_spew(path, text, strlen(text)), 0);
	config_init(&c);
	ck_assert_msg(config_load(&c, path, errbuf, sizeof(errbuf)) == 0,
	    "%s", errbuf);
	ck_assert_str_eq(c.file, path);
	ck_assert_int_ne(asprintf(&want, "%s/logs/r.log", dir), -1);
	ck_assert_str_eq(c.logfile, want);
	free(want);
	ck_assert_uint_eq(c.nroots, 2);
	ck_assert_int_ne(asprintf(&want, "%s/build", dir), -1);
	ck_assert_str_eq(c.roots[0].path, want);
	free(want);
	ck_assert_int_ne(asprintf(&want, "%s:2", path), -1);
	ck_assert_str_eq(c.roots[0].where, want);
	free(want);
	ck_assert_ptr_null(strstr(c.roots[1].path, ".."));
	ck_assert_msg(strstr(c.roots[1].path, "/elsewhere") != NULL, "%s",
	    c.roots[1].path);
	config_free(&c);

	/* Errors in the file carry its name and the line. */
	ck_assert_int_eq(tu_spew(path, bad, strlen(bad)), 0);
	config_init(&c);
	ck_assert_int_eq(config_load(&c, path, errbuf, sizeof(errbuf)), -1);
	ck_assert_int_ne(asprintf(&want, "%s:2: unknown key \"frob\"", path),
	    -1);
	ck_assert_msg(strncmp(errbuf, want, strlen(want)) == 0, "%s", errbuf);
	free(want);
	config_free(&c);

	free(path);
	tu_rmrf(dir);
}
END_TEST

START_TEST(test_load_relative)
{
	struct config c;
	char *dir, *old, *want;
	const char *text = "[watch \"b\"]\n";

	dir = tu_tmpdir();
	ck_assert_ptr_nonnull(dir);
	old = getcwd(NULL, 0);
	ck_assert_ptr_nonnull(old);
	ck_assert_int_eq(chdir(dir), 0);
	ck_assert_int_eq(mkdir("sub", 0777), 0);
	ck_assert_int_eq(tu_spew("sub/r.conf", text, strlen(text)), 0);
	config_init(&c);
	ck_assert_msg(config_load(&c, "sub/r.conf", errbuf, sizeof(errbuf)) ==
	    0, "%s", errbuf);
	/* Recorded absolute, so a re-read after chdir("/") still works. */
	want = cwd_join("sub/r.conf");
	ck_assert_str_eq(c.file, want);
	free(want);
	want = cwd_join("sub/b");
	ck_assert_str_eq(c.roots[0].path, want);
	free(want);
	ck_assert_str_eq(c.roots[0].where, "sub/r.conf:1");
	config_free(&c);
	ck_assert_int_eq(chdir(old), 0);
	free(old);
	tu_rmrf(dir);
}
END_TEST

START_TEST(test_cwd_gone)
{
	struct config c;
	char *dir, *old;
	const char *t1 =
	    "socket = /abs.sock\n[watch \"/abs\"]\n[watch \"b\"]\n";
	const char *t2 = "log = l\n";
	const char *want1 = "t.conf:3: cannot resolve \"b\": ";
	const char *want2 = "t.conf:1: log: cannot resolve \"l\": ";

	dir = tu_tmpdir();
	ck_assert_ptr_nonnull(dir);
	old = getcwd(NULL, 0);
	ck_assert_ptr_nonnull(old);
	ck_assert_int_eq(chdir(dir), 0);
	ck_assert_int_eq(rmdir(dir), 0);

	/* Absolute paths need no current directory; relative ones do. */
	config_init(&c);
	ck_assert_int_eq(config_parse_buf(&c, "t.conf", t1, strlen(t1),
	    errbuf, sizeof(errbuf)), -1);
	ck_assert_msg(strncmp(errbuf, want1, strlen(want1)) == 0, "%s",
	    errbuf);
	config_free(&c);
	config_init(&c);
	ck_assert_int_eq(config_parse_buf(&c, "t.conf", t2, strlen(t2),
	    errbuf, sizeof(errbuf)), -1);
	ck_assert_msg(strncmp(errbuf, want2, strlen(want2)) == 0, "%s",
	    errbuf);
	config_free(&c);
	config_init(&c);
	ck_assert_int_eq(config_add_root(&c, "b", NULL, "-w", errbuf,
	    sizeof(errbuf)), -1);
	ck_assert_msg(strncmp(errbuf, "-w: b: ", 7) == 0, "%s", errbuf);
	ck_assert_uint_eq(c.nroots, 0);
	config_free(&c);

	ck_assert_int_eq(chdir(old), 0);
	free(old);
	free(dir);
}
END_TEST

START_TEST(test_load_errors)
{
	struct config c;
	char *dir, *path, *want, *big;
	size_t n = 1024 * 1024;

	dir = tu_tmpdir();
	ck_assert_ptr_nonnull(dir);

	ck_assert_int_ne(asprintf(&path, "%s/missing.conf", dir), -1);
	config_init(&c);
	ck_assert_int_eq(config_load(&c, path, errbuf, sizeof(errbuf)), -1);
	ck_assert_int_ne(asprintf(&want, "%s: %s", path, strerror(ENOENT)),
	    -1);
	ck_assert_str_eq(errbuf, want);
	free(want);
	config_free(&c);
	free(path);

	config_init(&c);
	ck_assert_int_eq(config_load(&c, dir, errbuf, sizeof(errbuf)), -1);
	ck_assert_int_ne(asprintf(&want, "%s: %s", dir, strerror(EISDIR)),
	    -1);
	ck_assert_str_eq(errbuf, want);
	free(want);
	config_free(&c);

	/* 1 MiB of blank lines is fine; one byte more is not. */
	big = malloc(n + 1);
	ck_assert_ptr_nonnull(big);
	memset(big, '\n', n + 1);
	ck_assert_int_ne(asprintf(&path, "%s/big.conf", dir), -1);
	ck_assert_int_eq(tu_spew(path, big, n), 0);
	config_init(&c);
	ck_assert_msg(config_load(&c, path, errbuf, sizeof(errbuf)) == 0,
	    "%s", errbuf);
	config_free(&c);
	ck_assert_int_eq(tu_spew(path, big, n + 1), 0);
	config_init(&c);
	ck_assert_int_eq(config_load(&c, path, errbuf, sizeof(errbuf)), -1);
	ck_assert_msg(strncmp(errbuf, path, strlen(path)) == 0, "%s", errbuf);
	ck_assert_msg(strstr(errbuf, "too large") != NULL, "%s", errbuf);
	ck_assert_msg(strstr(errbuf, "1 MiB") != NULL, "%s", errbuf);
	config_free(&c);
	free(path);
	free(big);

	/* Not a regular file, so no size up front: still capped. */
	if (access("/dev/zero", R_OK) == 0) {
		config_init(&c);
		ck_assert_int_eq(config_load(&c, "/dev/zero", errbuf,
		    sizeof(errbuf)), -1);
		ck_assert_msg(strstr(errbuf, "too large") != NULL, "%s",
		    errbuf);
		config_free(&c);
	}

	config_init(&c);
	ck_assert_int_eq(config_load(&c, "", errbuf, sizeof(errbuf)), -1);
	ck_assert_msg(errbuf[0] != '\0', "no message");
	config_free(&c);
	tu_rmrf(dir);
}
END_TEST

/* Builds the suite. */
static Suite *
config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc;

	tc = tcase_create("defaults");
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_empty_input);
	suite_add_tcase(s, tc);

	tc = tcase_create("keys");
	tcase_add_test(tc, test_global_keys);
	tcase_add_test(tc, test_scalars_quoted_and_bare);
	tcase_add_loop_test(tc, test_loglevel_key, 0,
	    sizeof(levels) / sizeof(levels[0]));
	tcase_add_test(tc, test_loglevel_api);
	tcase_add_test(tc, test_backend_api);
	tcase_add_test(tc, test_comments_and_globs);
	tcase_add_test(tc, test_duration_ranges);
	tcase_add_test(tc, test_max_clients);
	tcase_add_test(tc, test_follow_symlinks);
	tcase_add_test(tc, test_socket_length);
	suite_add_tcase(s, tc);

	tc = tcase_create("watch");
	tcase_add_test(tc, test_watch_inherits);
	tcase_add_test(tc, test_watch_builtin_defaults);
	tcase_add_test(tc, test_empty_exclude);
	tcase_add_test(tc, test_sections_reentered);
	tcase_add_test(tc, test_watch_quoted_dir);
	tcase_add_test(tc, test_relative_paths);
	tcase_add_test(tc, test_add_root);
	tcase_add_test(tc, test_add_root_after_file);
	tcase_add_test(tc, test_free_twice);
	suite_add_tcase(s, tc);

	tc = tcase_create("paths");
	tcase_add_loop_test(tc, test_abspath_table, 0,
	    sizeof(abspaths) / sizeof(abspaths[0]));
	tcase_add_test(tc, test_abspath_cwd);
	suite_add_tcase(s, tc);

	tc = tcase_create("durations");
	tcase_add_loop_test(tc, test_duration_good, 0,
	    sizeof(good_durations) / sizeof(good_durations[0]));
	tcase_add_loop_test(tc, test_duration_bad, 0,
	    sizeof(bad_durations) / sizeof(bad_durations[0]));
	tcase_add_test(tc, test_duration_huge);
	suite_add_tcase(s, tc);

	tc = tcase_create("errors");
	tcase_add_loop_test(tc, test_errors, 0,
	    sizeof(errcases) / sizeof(errcases[0]));
	tcase_add_test(tc, test_nul_bytes);
	tcase_add_test(tc, test_crlf);
	tcase_add_test(tc, test_line_length);
	tcase_add_test(tc, test_small_errbuf);
	suite_add_tcase(s, tc);

	tc = tcase_create("files");
	tcase_add_test(tc, test_example);
	tcase_add_test(tc, test_load);
	tcase_add_test(tc, test_load_relative);
	tcase_add_test(tc, test_cwd_gone);
	tcase_add_test(tc, test_load_errors);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);

	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(config_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
