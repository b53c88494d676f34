/*
 * pkgprog.c: a host built the way a user builds one, against an installed
 * libreloader found with `pkg-config --cflags --libs libreloader`
 * (t-install.sh).
 *
 *	pkgprog SOCKET MODULE.so
 *	pkgprog -V
 *
 * Opens the module (every version must export "reply"), attaches to the
 * daemon at SOCKET, and prints, each line flushed:
 *
 *	answer TEXT	what reply(state) returns, at the start
 *	connected	once attached
 *	reload STATUS	when the daemon's reload of the module ended
 *	answer TEXT	what the version current then returns
 *
 * and exits 0 after the first reload that succeeded, or 1 with a message
 * on error or after 10 s without one.  With -V it prints the library's
 * reloader_version() and the header's RELOADER_VERSION_STRING.
 */
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <reloader.h>

typedef const char *reply_fn(void *);

static int reloaded;

/* Prints what the module's current version answers. */
static void
answer(reloader_module_t *m)
{
	reloader_image_t *img = reloader_enter(m);
	reply_fn *fn = (reply_fn *)reloader_sym(img, "reply");

	printf("answer %s\n", fn(reloader_state(img)));
	fflush(stdout);
	reloader_leave(img);
}

/* Prints the events the test waits for. */
static void
event(reloader_t *r, const struct reloader_event *ev, void *arg)
{
	if (ev->type == RELOADER_EV_CONNECTED)
		printf("connected\n");
	else if (ev->type == RELOADER_EV_RELOAD) {
		printf("reload %s\n", reloader_status_name(ev->status));
		reloaded = ev->status == RELOADER_OK;
	}
	fflush(stdout);
}

int
main(int argc, char **argv)
{
	static const char *const need[] = { "reply", NULL };
	struct pollfd pfd;
	reloader_module_t *m;
	reloader_t *r;
	time_t end = time(NULL) + 10;

	if (argc == 2 && strcmp(argv[1], "-V") == 0) {
		printf("%s %s\n", reloader_version(), RELOADER_VERSION_STRING);
		return 0;
	}
	if (argc != 3) {
		fprintf(stderr, "usage: pkgprog SOCKET MODULE.so | -V\n");
		return 1;
	}
	if (strcmp(reloader_version(), RELOADER_VERSION_STRING) != 0) {
		fprintf(stderr, "pkgprog: header %s, library %s\n",
		    RELOADER_VERSION_STRING, reloader_version());
		return 1;
	}
	if ((r = reloader_new("pkgprog")) == NULL)
		return 1;
	reloader_set_event_cb(r, event, NULL);
	if (reloader_set_socket(r, argv[1]) == -1 ||
	    (m = reloader_open(r, argv[2], need)) == NULL ||
	    reloader_connect(r) == -1) {
		fprintf(stderr, "pkgprog: %s\n", reloader_error(r));
		return 1;
	}
	answer(m);
	pfd.fd = reloader_fd(r);
	pfd.events = POLLIN;
	while (!reloaded && time(NULL) < end) {
		if (poll(&pfd, 1, 100) > 0 && reloader_dispatch(r) == -1) {
			fprintf(stderr, "pkgprog: %s\n", reloader_error(r));
			return 1;
		}
	}
	if (!reloaded) {
		fprintf(stderr, "pkgprog: no reload within 10 s\n");
		return 1;
	}
	answer(m);
	reloader_free(r);
	return 0;
}
