/*
 * releases.c: "reloaderctl releases", which drives the release_handler
 * of an Erlang node through its reloader_client (issue 14): the daemon
 * relays the request to the client and its answer back.
 */
#include <stdio.h>
#include <string.h>

#include "ctl.h"

/* An operation on a node's releases, and what its argument names (NULL:
 * it takes none). */
struct releases_op {
	const char *name;
	const char *arg;
};

static const struct releases_op releases_ops[] = {
	{ "list", NULL },
	{ "unpack", "a release name (releases/NAME.tar.gz)" },
	{ "install", "a release version" },
	{ "permanent", "a release version" },
	{ "remove", "a release version" },
};

/* Returns the operation called name, or NULL. */
static const struct releases_op *
releases_find(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(releases_ops) / sizeof(releases_ops[0]); i++)
		if (strcmp(releases_ops[i].name, name) == 0)
			return &releases_ops[i];
	return NULL;
}

/* "releases node [list | unpack name | install vsn | permanent vsn |
 * remove vsn]": does one step of release_handler in the node, and prints
 * the node's releases after it, as which_releases has them. */
int
cmd_releases(struct conn *c, int argc, char **argv)
{
	const struct releases_op *op;
	const char *node, *name = "list", *arg = NULL, *msg;
	struct table *t;
	struct proto_msg m;
	struct proto_out o;
	unsigned long id;
	int ch, rc, reset = 1, rows = 0;

	while ((ch = ctl_getopt(argc, argv, "+:j", NULL, reset)) != -1) {
		reset = 0;
		opts.json = 1;
	}
	if (optind == argc || *argv[optind] == '\0')
		ctl_usage_error("releases: name the node (its client's id or "
		    "name)");
	node = argv[optind++];
	if (optind < argc)
		name = argv[optind++];
	if ((op = releases_find(name)) == NULL)
		ctl_usage_error("releases: unknown operation \"%s\" (list, "
		    "unpack, install, permanent or remove)", name);
	if (op->arg != NULL) {
		if (optind == argc || *argv[optind] == '\0')
			ctl_usage_error("releases %s takes %s", op->name,
			    op->arg);
		arg = argv[optind++];
	}
	if (optind != argc)
		ctl_usage_error("releases %s: too many arguments", op->name);

	conn_connect(c);
	id = conn_start(c, &o, "releases");
	proto_add(&o, "client", node);
	proto_add(&o, "op", op->name);
	if (arg != NULL)
		proto_add(&o, "arg", arg);
	conn_send_or_die(c, &o);

	t = table_new(3);
	table_cell(t, "bold", "NAME");
	table_cell(t, "bold", "VSN");
	table_cell(t, "bold", "STATUS");
	while ((rc = conn_answer(c, id, &m)) == ANS_DATA) {
		if (opts.json)
			out_json(stdout, NULL, &m);
		else if (strcmp(m.verb, "release") == 0) {
			table_add(t, "%s", proto_get(&m, "name") != NULL ?
			    proto_get(&m, "name") : "?");
			table_add(t, "%s", proto_get(&m, "vsn") != NULL ?
			    proto_get(&m, "vsn") : "?");
			table_add(t, "%s", proto_get(&m, "status") != NULL ?
			    proto_get(&m, "status") : "?");
			rows++;
		}
	}
	if (rc == ANS_ERROR) {
		table_free(t);
		conn_error_die(c, &m, node);
	}
	if (!opts.json) {
		if (rows > 0)
			table_print(t, stdout, "");
		msg = proto_get(&m, "msg");
		printf("%s: %s%s%s: ok%s%s\n", node, op->name,
		    arg != NULL ? " " : "", arg != NULL ? arg : "",
		    msg != NULL && *msg != '\0' ? ": " : "",
		    msg != NULL ? msg : "");
	}
	table_free(t);
	return 0;
}
