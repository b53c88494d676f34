/*
 * reloaderctl.c: the command line of reloaderctl, the control tool of
 * reloaderd: options, the socket's path, and the table of commands.
 *
 * Everything it prints for the user goes to standard output; its own
 * complaints go to standard error prefixed "reloaderctl:", and its exit
 * status follows sysexits(3) (docs/reloaderctl.1, EXIT STATUS).
 */
#include <errno.h>
#include <limits.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"

/* A command: its name, the function that checks its arguments and runs
 * it (connecting when it needs the daemon), and its arguments for the
 * usage. */
struct command {
	const char *name;
	int (*fn)(struct conn *, int, char **);
	const char *args;
	const char *what;
};

static int cmd_help(struct conn *, int, char **);

static const struct command commands[] = {
	{ "status", cmd_status, "",
	    "the daemon, its roots, limits, clients and counters" },
	{ "list", cmd_list, "[-a] [-m module] [client [module]]",
	    "attached processes and their modules, stale ones marked; a "
	    "client by id, name start or glob, modules by glob; OTP's own "
	    "only with -a" },
	{ "reload", cmd_reload, "module... | --all",
	    "force a reload and print each process's result" },
	{ "rollback", cmd_rollback, "module",
	    "go back to the version before the last reload" },
	{ "releases", cmd_releases,
	    "node [list | unpack name | install vsn | permanent vsn | "
	    "remove vsn]",
	    "drive an Erlang node's release_handler through its client" },
	{ "tail", cmd_tail, "[-f] [-n lines]",
	    "the daemon's recent log; -f follows it" },
	{ "subscribe", cmd_subscribe, "[--json]",
	    "one line per change, batch and result, as they happen" },
	{ "hold", cmd_hold, "", "hold reloads until release" },
	{ "release", cmd_release, "[--discard]",
	    "deliver (or drop) what changed while held" },
	{ "build", cmd_build, "[--always] [-w glob]... -- command [arg ...]",
	    "run a build with reloads held; deliver them if it succeeds; "
	    "with -w, again each time sources matching a glob change" },
	{ "help", cmd_help, "", "this list" },
};

struct opts opts = { NULL, 10.0, 0, 0 };
const char *ctl_progname = "reloaderctl";

static const char usage_line[] = "usage: reloaderctl [-hjVv] [-s socket] "
    "[-t timeout] command [arg ...]\n";

/* Prints the usage line and the commands on fp. */
static void
usage_print(FILE *fp)
{
	size_t i;

	fputs(usage_line, fp);
	fputs("commands:\n", fp);
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(fp, "    %s%s%s\n%8s%s\n", commands[i].name,
		    *commands[i].args != '\0' ? " " : "", commands[i].args, "",
		    commands[i].what);
}

/* Prints "reloaderctl: " and a message on standard error, made safe for
 * a terminal: it may quote what the daemon sent. */
static void
ctl_vwarnx(const char *fmt, va_list ap)
{
	char msg[PROTO_MAX_LINE + 512], vis[2 * PROTO_MAX_LINE];

	fflush(stdout);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	fprintf(stderr, "%s: %s\n", ctl_progname,
	    proto_vis(vis, sizeof(vis), msg, 0));
}

/* Prints a message and exits with status code. */
void
ctl_die(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ctl_vwarnx(fmt, ap);
	va_end(ap);
	exit(code);
}

/* Prints a message on standard error and carries on. */
void
ctl_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ctl_vwarnx(fmt, ap);
	va_end(ap);
}

/* Says what is wrong with the command line, shows the usage, and exits
 * with EX_USAGE. */
void
ctl_usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ctl_vwarnx(fmt, ap);
	va_end(ap);
	fputs(usage_line, stderr);
	exit(EX_USAGE);
}

/* Parses a command's options (argv[0] is the command) with getopt_long;
 * returns the next option or -1, and exits with EX_USAGE on an unknown
 * option or a missing argument.  The first call for a command must pass
 * reset. */
int
ctl_getopt(int argc, char **argv, const char *optstring,
    const struct option *longopts, int reset)
{
	int ch;

	if (reset) {
#ifdef __GLIBC__
		optind = 0;
#else
		optreset = 1;
		optind = 1;
#endif
	}
	opterr = 0;
	ch = getopt_long(argc, argv, optstring, longopts, NULL);
	if (ch == ':')
		ctl_usage_error("%s: option %s needs an argument", argv[0],
		    argv[optind - 1]);
	if (ch == '?') {
		if (optopt != 0)
			ctl_usage_error("%s: unknown option -%c", argv[0],
			    optopt);
		ctl_usage_error("%s: unknown option %s", argv[0],
		    argv[optind - 1]);
	}
	return ch;
}

/* Prints the usage and the commands: "help" and -h. */
static int
cmd_help(struct conn *c, int argc, char **argv)
{
	if (argc > 1)
		ctl_usage_error("help takes no arguments");
	usage_print(stdout);
	return 0;
}

/* Reads a timeout: seconds with an optional fraction, or a number with
 * the suffix "ms" or "s"; 0 waits forever. */
static double
parse_timeout(const char *s)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || errno != 0 || !(v >= 0) || v > 86400.0 * 365)
		goto bad;
	if (strcmp(end, "ms") == 0)
		v /= 1000;
	else if (*end != '\0' && strcmp(end, "s") != 0)
		goto bad;
	if (*s < '0' || *s > '9')
		goto bad;
	return v;
bad:
	ctl_usage_error("-t %s: expected seconds, e.g. 10, 2.5 or 500ms", s);
}

/* Returns the socket's path: -s, else the default every program of
 * reloader uses (proto_default_socket).  The result is static or the
 * caller's. */
static const char *
socket_path(void)
{
	static char buf[PATH_MAX];

	if (opts.socket != NULL)
		return opts.socket;
	/* A default too long to fit is refused when connecting. */
	(void)proto_default_socket(buf, sizeof(buf));
	return buf;
}

/* Returns the command named name, or NULL. */
static const struct command *
command_find(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "json", no_argument, NULL, 'j' },
		{ "socket", required_argument, NULL, 's' },
		{ "timeout", required_argument, NULL, 't' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	const struct command *cmd;
	struct conn c;
	int ch, rc;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+:hjs:t:vV", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'h':
			usage_print(stdout);
			return 0;
		case 'j':
			opts.json = 1;
			break;
		case 's':
			if (*optarg == '\0')
				ctl_usage_error("-s: the socket path is empty");
			opts.socket = optarg;
			break;
		case 't':
			opts.timeout = parse_timeout(optarg);
			break;
		case 'v':
			opts.verbose = 1;
			break;
		case 'V':
			printf("reloaderctl %s\n", RELOADER_VERSION);
			return 0;
		case ':':
			ctl_usage_error("option %s needs an argument",
			    argv[optind - 1]);
		default:
			if (optopt != 0)
				ctl_usage_error("unknown option -%c", optopt);
			ctl_usage_error("unknown option %s", argv[optind - 1]);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0)
		ctl_usage_error("no command given");
	if ((cmd = command_find(argv[0])) == NULL)
		ctl_usage_error("unknown command \"%s\"; try reloaderctl help",
		    argv[0]);
	ctl_progname = "reloaderctl";
	out_init();
	memset(&c, 0, sizeof(c));
	c.fd = -1;
	conn_set_timeout(&c, opts.timeout);
	c.path = socket_path();
	rc = cmd->fn(&c, argc, argv);
	conn_close(&c);
	if (fflush(stdout) == EOF || ferror(stdout))
		ctl_die(EX_IOERR, "standard output: %s", strerror(errno));
	return rc;
}
