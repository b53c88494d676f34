/*
 * test-libreloader.c: libreloader against real shared objects built at
 * test time, and against a fake daemon on a Unix socket.
 *
 * Linked against the shared library, so it sees only what a host sees.
 * Each test runs in a child of its own (Check's fork mode) with
 * XDG_RUNTIME_DIR pointing into its scratch directory, so the library's
 * private copies can be looked at and are cleaned up with it.
 */
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <check.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>

#include "reloader.h"
#include "reloader-ev.h"
#include "testutil.h"

static char incdir[PATH_MAX]; /* the tree's include/ */
static char *libdir;          /* the modules built once for every test */
static char *dir;             /* this test's scratch directory */

/* The module sources; variants are made with -D flags. */
static const char hello_src[] =
    "#include <signal.h>\n"
    "#include \"reloader.h\"\n"
    "RELOADER_MODULE(\"hello\");\n"
    "#ifndef NOVER\n"
    "int ver(void) { return VER; }\n"
    "#else\n"
    "int other(void) { return VER; }\n"
    "#endif\n"
    "#ifdef TEST_FAIL\n"
    "int reloader_test(void *s) { (void)s; return 1; }\n"
    "#endif\n"
    "#ifdef TEST_SEGV\n"
    "int reloader_test(void *s) { (void)s; *(volatile int *)8 = 1; "
    "return 0; }\n"
    "#endif\n";

static const char counter_src[] =
    "#include <fcntl.h>\n"
    "#include <signal.h>\n"
    "#include <unistd.h>\n"
    "#include <stdlib.h>\n"
    "#include <string.h>\n"
    "#include \"reloader.h\"\n"
    "#if V == 1\n"
    "struct st { int count; };\n"
    "int extra(void *s) { (void)s; return -1; }\n"
    "#else\n"
    "struct st { int count; int extra; };\n"
    "int extra(void *s) { return ((struct st *)s)->extra; }\n"
    "#endif\n"
    "int ver(void) { return V; }\n"
    "int bump(void *s) { return ++((struct st *)s)->count; }\n"
    "int deep(int n) { volatile char pad[4096]; pad[0] = (char)n;\n"
    "	return deep(n + 1) + pad[0]; }\n"
    "#ifndef PLAIN\n"
    "int reloader_code_change(const char *vsn, void *old, void **new)\n"
    "{\n"
    "	struct st *n;\n"
    "#if CRASH == 1\n"
    "	*(volatile int *)8 = 1;\n"
    "#elif CRASH == 2\n"
    "	volatile int a = 7, z = 0;\n"
    "	return a / z;\n"
    "#elif CRASH == 3\n"
    "	__builtin_trap();\n"
    "#elif CRASH == 4\n"
    "	raise(SIGBUS);\n"
    "#elif CRASH == 5\n"
    "	return deep(1);\n"
    "#elif CRASH == 6\n"
    "	close(open(getenv(\"RL_MARK\"), O_CREAT | O_WRONLY, 0600));\n"
    "	usleep(200000);\n"
    "#endif\n"
    "#ifdef CC_FAIL\n"
    "	return -1;\n"
    "#endif\n"
    "#ifdef CC_REFUSE\n"
    "	if (old != NULL)\n"
    "		return -1;\n"
    "#endif\n"
    "	if ((n = calloc(1, sizeof(*n))) == NULL)\n"
    "		return -1;\n"
    "	if (old != NULL)\n"
    "		n->count = ((struct st *)old)->count;\n"
    "#if V == 2\n"
    "	n->extra = vsn != NULL && strncmp(vsn, \"build-id:\", 9) == 0 ?\n"
    "	    42 : -2;\n"
    "#endif\n"
    "	*new = n;\n"
    "	return 0;\n"
    "}\n"
    "#endif\n"
    "#ifdef TEST_FAIL\n"
    "int reloader_test(void *s) { (void)s; return 1; }\n"
    "#endif\n"
    "void reloader_unload(void *s) { free(s); }\n";

/* The variants: name, source, flags. */
static const struct variant {
	const char *name;
	const char *src;
	const char *flags;
} variants[] = {
	{ "hello1", hello_src, "-DVER=1" },
	{ "hello2", hello_src, "-DVER=2" },
	{ "hello3", hello_src, "-DVER=3" },
	{ "hello-nover", hello_src, "-DVER=2 -DNOVER" },
	{ "hello-testfail", hello_src, "-DVER=2 -DTEST_FAIL" },
	{ "hello-testsegv", hello_src, "-DVER=2 -DTEST_SEGV" },
	{ "hello-nodelete", hello_src, "-DVER=2 -Wl,-z,nodelete" },
	{ "counter1", counter_src, "-DV=1" },
	{ "counter1-refuse", counter_src, "-DV=1 -DCC_REFUSE" },
	{ "counter2", counter_src, "-DV=2" },
	{ "counter-plain", counter_src, "-DV=2 -DPLAIN" },
	{ "counter-fail", counter_src, "-DV=2 -DCC_FAIL" },
	{ "counter-segv", counter_src, "-DV=2 -DCRASH=1" },
	{ "counter-fpe", counter_src, "-DV=2 -DCRASH=2" },
	{ "counter-ill", counter_src, "-DV=2 -DCRASH=3" },
	{ "counter-bus", counter_src, "-DV=2 -DCRASH=4" },
	{ "counter-overflow", counter_src, "-DV=2 -DCRASH=5" },
	{ "counter-slow", counter_src, "-DV=2 -DCRASH=6" },
	{ "counter2-testfail", counter_src, "-DV=2 -DTEST_FAIL" },
};

/* Events the callback heard, copied. */
struct rec {
	enum reloader_event_type type;
	enum reloader_status status;
	char stamp[256];
	char was[256];
	char reason[512];
	int unmapped;
	int forced;
	unsigned int calls;
	int rollback;
	char name[256];
	char failed[32];
	reloader_module_t *module;
	reloader_set_t *set;
	double at;
	char live[256];       /* REMOVED: the module's name, asked in the
				 callback, where the handle is valid */
	int daemon_had;       /* RELOAD: the fake daemon had bytes waiting
				 (peek_fd) when the host heard it */
};

static struct rec recs[64];
static int nrecs;
static int peek_fd = -1;      /* the fake daemon's end, to peek at */
static pthread_mutex_t recs_lock = PTHREAD_MUTEX_INITIALIZER;

/* Records an event. */
static void
record(reloader_t *r, const struct reloader_event *ev, void *arg)
{
	struct rec *x;

	(void)r;
	(void)arg;
	pthread_mutex_lock(&recs_lock);
	if (nrecs < 64) {
		x = &recs[nrecs++];
		memset(x, 0, sizeof(*x));
		x->type = ev->type;
		x->status = ev->status;
		snprintf(x->stamp, sizeof(x->stamp), "%s",
		    ev->stamp != NULL ? ev->stamp : "");
		snprintf(x->was, sizeof(x->was), "%s",
		    ev->was != NULL ? ev->was : "");
		snprintf(x->reason, sizeof(x->reason), "%s", ev->reason);
		x->unmapped = ev->unmapped;
		x->forced = ev->forced;
		x->calls = ev->calls;
		x->rollback = ev->rollback;
		snprintf(x->name, sizeof(x->name), "%s",
		    ev->name != NULL ? ev->name : "");
		snprintf(x->failed, sizeof(x->failed), "%s", ev->failed);
		x->module = ev->module;
		x->set = ev->set;
		x->at = ev->at;
		if (ev->type == RELOADER_EV_REMOVED && ev->module != NULL)
			snprintf(x->live, sizeof(x->live), "%s",
			    reloader_module_name(ev->module));
		if (ev->type == RELOADER_EV_RELOAD && peek_fd != -1) {
			char b[1];

			x->daemon_had = recv(peek_fd, b, sizeof(b),
			    MSG_PEEK | MSG_DONTWAIT) > 0;
		}
	}
	pthread_mutex_unlock(&recs_lock);
}

/* Returns the last event of a type about the module named name, or
 * NULL. */
static struct rec *
rec_of(enum reloader_event_type type, const char *name)
{
	struct rec *x = NULL;
	int i;

	pthread_mutex_lock(&recs_lock);
	for (i = 0; i < nrecs; i++)
		if (recs[i].type == type && strcmp(recs[i].name, name) == 0)
			x = &recs[i];
	pthread_mutex_unlock(&recs_lock);
	return x;
}

/* Returns how many events of a type were heard. */
static int
count_recs(enum reloader_event_type type)
{
	int i, n = 0;

	pthread_mutex_lock(&recs_lock);
	for (i = 0; i < nrecs; i++)
		if (recs[i].type == type)
			n++;
	pthread_mutex_unlock(&recs_lock);
	return n;
}

/* Returns the last event of a type, or NULL. */
static struct rec *
last_rec(enum reloader_event_type type)
{
	struct rec *x = NULL;
	int i;

	pthread_mutex_lock(&recs_lock);
	for (i = 0; i < nrecs; i++)
		if (recs[i].type == type)
			x = &recs[i];
	pthread_mutex_unlock(&recs_lock);
	return x;
}

/* Says whether this process runs under AddressSanitizer. */
static int
under_asan(void)
{
	return dlsym(RTLD_DEFAULT, "__asan_init") != NULL;
}

/* Finds the tree's include/ from wherever the test is run. */
static void
find_incdir(void)
{
	static const char *tops[] = { ".", "..", "../..", "../../.." };
	const char *env = getenv("TOP_SRCDIR");
	char probe[PATH_MAX];
	size_t i;

	if (env != NULL) {
		snprintf(probe, sizeof(probe), "%s/include", env);
		if (realpath(probe, incdir) != NULL)
			return;
	}
	for (i = 0; i < sizeof(tops) / sizeof(tops[0]); i++) {
		snprintf(probe, sizeof(probe), "%s/include/reloader.h",
		    tops[i]);
		if (access(probe, R_OK) == 0) {
			snprintf(probe, sizeof(probe), "%s/include", tops[i]);
			if (realpath(probe, incdir) != NULL)
				return;
		}
	}
	incdir[0] = '\0';
}

/* Builds every variant into libdir; 0 or -1. */
static int
build_all(void)
{
	char c[PATH_MAX], cmd[PATH_MAX * 3];
	size_t i;

	for (i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
		snprintf(c, sizeof(c), "%s/%s.c", libdir, variants[i].name);
		if (tu_spew(c, variants[i].src, strlen(variants[i].src)) == -1)
			return -1;
		snprintf(cmd, sizeof(cmd), "cc -shared -fPIC "
		    "-Wl,--build-id=sha1 -I'%s' %s -o '%s/%s.so' '%s'",
		    incdir, variants[i].flags, libdir, variants[i].name, c);
		if (system(cmd) != 0) {
			fprintf(stderr, "failed: %s\n", cmd);
			return -1;
		}
	}
	return 0;
}

/* Gives each test a scratch directory that also holds the private
 * copies. */
static void
setup(void)
{
	dir = tu_tmpdir();
	ck_assert_ptr_nonnull(dir);
	setenv("XDG_RUNTIME_DIR", dir, 1);
	unsetenv("RELOADER_SOCKET");
	nrecs = 0;
}

/* Removes the scratch directory. */
static void
teardown(void)
{
	tu_rmrf(dir);
	dir = NULL;
}

/* Puts a built variant in place as dir/name.so the way a build does
 * (write aside, rename over); name may be in a subdirectory of dir.
 * Returns its path in a static buffer. */
static const char *
install(const char *variant, const char *name)
{
	static char dst[PATH_MAX];
	char src[PATH_MAX], tmp[PATH_MAX], *p;
	unsigned char *buf;
	size_t len;

	snprintf(src, sizeof(src), "%s/%s.so", libdir, variant);
	snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name);
	for (p = tmp + strlen(dir) + 1; *p != '\0'; p++)
		if (*p == '/')
			*p = '_';
	snprintf(dst, sizeof(dst), "%s/%s.so", dir, name);
	buf = tu_slurp(src, &len);
	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(tu_spew(tmp, buf, len), 0);
	free(buf);
	ck_assert_int_eq(rename(tmp, dst), 0);
	return dst;
}

/* Returns a new handle reporting to record(). */
static reloader_t *
new_handle(void)
{
	reloader_t *r = reloader_new("test");

	ck_assert_ptr_nonnull(r);
	reloader_set_event_cb(r, record, NULL);
	return r;
}

/* Calls int fn(void) in the module's current version. */
static int
call_int(reloader_module_t *m, const char *fn)
{
	reloader_image_t *img = reloader_enter(m);
	int (*f)(void) = (int (*)(void))reloader_sym(img, fn);
	int v;

	ck_assert_msg(f != NULL, "no symbol %s", fn);
	v = f();
	reloader_leave(img);
	return v;
}

/* Calls int fn(void *state) in the module's current version. */
static int
call_state(reloader_module_t *m, const char *fn)
{
	reloader_image_t *img = reloader_enter(m);
	int (*f)(void *) = (int (*)(void *))reloader_sym(img, fn);
	int v;

	ck_assert_msg(f != NULL, "no symbol %s", fn);
	v = f(reloader_state(img));
	reloader_leave(img);
	return v;
}

/* Waits up to ms for fd to be readable. */
static int
wait_fd(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, ms) == 1;
}

/* Dispatches whatever becomes due within ms. */
static void
pump(reloader_t *r, int ms)
{
	struct timespec t0, t;
	int left = ms;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (left >= 0) {
		if (wait_fd(reloader_fd(r), left))
			ck_assert_int_eq(reloader_dispatch(r), 0);
		clock_gettime(CLOCK_MONOTONIC, &t);
		left = ms - (int)((t.tv_sec - t0.tv_sec) * 1000 +
		    (t.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0)
			break;
	}
}

/* Returns the path of the handle's private directory, found on disk. */
static char *
private_dir(void)
{
	static char path[PATH_MAX];
	char prefix[64];
	struct dirent *de;
	DIR *d = opendir(dir);

	ck_assert_ptr_nonnull(d);
	snprintf(prefix, sizeof(prefix), "reloader-%ld-", (long)getpid());
	path[0] = '\0';
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0)
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
	closedir(d);
	return path[0] != '\0' ? path : NULL;
}

/* Says whether the private directory holds a file of that name. */
static int
has_copy(const char *name)
{
	char path[PATH_MAX];
	char *pd = private_dir();

	if (pd == NULL)
		return 0;
	snprintf(path, sizeof(path), "%s/%s", pd, name);
	return access(path, F_OK) == 0;
}

/* Returns the names in the private directory, sorted, separated by
 * spaces, in a static buffer ("" if there is none). */
static const char *
copies(void)
{
	static char list[4096];
	struct dirent **names;
	char *pd = private_dir();
	size_t len = 0;
	int i, n;

	list[0] = '\0';
	if (pd == NULL)
		return list;
	n = scandir(pd, &names, NULL, alphasort);
	ck_assert_int_ge(n, 0);
	for (i = 0; i < n; i++) {
		if (names[i]->d_name[0] != '.')
			len += (size_t)snprintf(list + len, sizeof(list) - len,
			    "%s%s", len > 0 ? " " : "", names[i]->d_name);
		free(names[i]);
	}
	free(names);
	return list;
}

/* Returns the file an address was loaded from. */
static const char *
file_of(void *addr)
{
	static char path[PATH_MAX];
	Dl_info info;

	ck_assert(dladdr(addr, &info) != 0);
	snprintf(path, sizeof(path), "%s", info.dli_fname);
	return path;
}

START_TEST(test_version)
{
	ck_assert_str_eq(reloader_version(), RELOADER_VERSION_STRING);
	ck_assert_int_eq(reloader_version_number(), RELOADER_VERSION_NUMBER);
	ck_assert_str_eq(reloader_status_name(RELOADER_ROLLED_BACK),
	    "rolled back");
	ck_assert_str_eq(reloader_status_name(RELOADER_LOAD_FAILED),
	    "load failed");
}
END_TEST

/* Only reloader_* leaves the shared library and the static one. */
START_TEST(test_exports)
{
	char cmd[PATH_MAX * 2], so[PATH_MAX], *out, *line, *save;
	const char *name;
	int n = 0;

	snprintf(so, sizeof(so), "%s", file_of((void *)reloader_version));
	snprintf(cmd, sizeof(cmd), "nm -D --defined-only '%s'", so);
	out = tu_run(cmd);
	ck_assert_ptr_nonnull(out);
	for (line = strtok_r(out, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		name = strrchr(line, ' ');
		ck_assert_ptr_nonnull(name);
		name++;
		if (strcmp(name, "LIBRELOADER_0") == 0)
			continue;
		ck_assert_msg(strncmp(name, "reloader_", 9) == 0,
		    "libreloader.so exports %s", name);
		n++;
	}
	free(out);
	ck_assert_int_ge(n, 25);

	*strrchr(so, '/') = '\0';
	snprintf(cmd, sizeof(cmd), "nm -g --defined-only '%s/libreloader.a' "
	    "| grep -v ':$' | grep .", so);
	out = tu_run(cmd);
	ck_assert_ptr_nonnull(out);
	n = 0;
	for (line = strtok_r(out, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		name = strrchr(line, ' ');
		ck_assert_ptr_nonnull(name);
		name++;
		ck_assert_msg(strncmp(name, "reloader_", 9) == 0,
		    "libreloader.a defines a global %s", name);
		n++;
	}
	free(out);
	ck_assert_int_ge(n, 25);
}
END_TEST

/* Open, enter, look up, call; then close and free clean up. */
START_TEST(test_open_call)
{
	reloader_t *r = new_handle();
	reloader_module_t *m;
	const char *path = install("hello1", "hello");
	const char *req[] = { "ver", NULL };
	char *pd;

	m = reloader_open(r, path, req);
	ck_assert_msg(m != NULL, "%s", reloader_error(r));
	ck_assert_str_eq(reloader_module_name(m), "hello");
	ck_assert_msg(strncmp(reloader_module_stamp(m), "build-id:", 9) == 0,
	    "stamp %s", reloader_module_stamp(m));
	ck_assert_int_eq(call_int(m, "ver"), 1);
	ck_assert(has_copy("hello.1.so"));
	pd = strdup(private_dir());
	ck_assert_int_eq(reloader_close(m), 0);
	ck_assert(!has_copy("hello.1.so"));
	reloader_free(r);
	ck_assert_int_ne(access(pd, F_OK), 0);
	free(pd);
}
END_TEST

/* A replaced file runs new code from a fresh copy; the same bytes again
 * reload nothing. */
START_TEST(test_reload)
{
	reloader_t *r = new_handle();
	reloader_module_t *m;
	char stamp1[256], file1[PATH_MAX];
	reloader_image_t *img;

	m = reloader_open(r, install("hello1", "hello"), NULL);
	ck_assert_ptr_nonnull(m);
	snprintf(stamp1, sizeof(stamp1), "%s", reloader_module_stamp(m));
	img = reloader_enter(m);
	snprintf(file1, sizeof(file1), "%s", file_of(reloader_sym(img, "ver")));
	reloader_leave(img);
	ck_assert(strstr(file1, "/hello.1.so") != NULL);

	/* The same bytes in a new file: nothing to do. */
	install("hello1", "hello");
	ck_assert_int_eq(reloader_reload(m), RELOADER_OK);
	ck_assert_int_eq(count_recs(RELOADER_EV_RELOAD), 0);
	ck_assert_str_eq(reloader_module_stamp(m), stamp1);
	ck_assert_int_eq(call_int(m, "ver"), 1);

	install("hello2", "hello");
	ck_assert_int_eq(reloader_reload(m), RELOADER_OK);
	ck_assert_int_eq(call_int(m, "ver"), 2);
	ck_assert_str_ne(reloader_module_stamp(m), stamp1);
	ck_assert_int_eq(count_recs(RELOADER_EV_RELOAD), 1);
	ck_assert_int_eq(last_rec(RELOADER_EV_RELOAD)->status, RELOADER_OK);
	ck_assert_str_eq(last_rec(RELOADER_EV_RELOAD)->was, stamp1);
	ck_assert_str_eq(last_rec(RELOADER_EV_RELOAD)->stamp,
	    reloader_module_stamp(m));
	img = reloader_enter(m);
	ck_assert_str_ne(file_of(reloader_sym(img, "ver")), file1);
	reloader_leave(img);
	/* No call was inside the old version: purged at once and its
	 * image out of memory; its copy is kept for a rollback. */
	ck_assert_int_eq(count_recs(RELOADER_EV_PURGE), 1);
	ck_assert_int_eq(last_rec(RELOADER_EV_PURGE)->unmapped, 1);
	ck_assert_str_eq(last_rec(RELOADER_EV_PURGE)->stamp, stamp1);
	ck_assert_str_eq(copies(), "hello.1.so hello.3.so");
	reloader_free(r);
}
END_TEST

/* Stale private directories of dead processes are removed; live ones
 * and other names are not. */
START_TEST(test_stale_dirs)
{
	reloader_t *r = new_handle();
	char dead[PATH_MAX], live[PATH_MAX], other[PATH_MAX];
	char f[PATH_MAX + 16];
	pid_t pid;

	if ((pid = fork()) == 0)
		_exit(0);
	ck_assert_int_gt(pid, 0);
	waitpid(pid, NULL, 0);
	snprintf(dead, sizeof(dead), "%s/reloader-%ld-abcdef", dir, (long)pid);
	snprintf(live, sizeof(live), "%s/reloader-%ld-abcdef", dir,
	    (long)getppid());
	snprintf(other, sizeof(other), "%s/reloader-test", dir);
	ck_assert_int_eq(mkdir(dead, 0700), 0);
	ck_assert_int_eq(mkdir(live, 0700), 0);
	ck_assert_int_eq(mkdir(other, 0700), 0);
	snprintf(f, sizeof(f), "%s/hello.1.so", dead);
	ck_assert_int_eq(tu_spew(f, "x", 1), 0);
	ck_assert_ptr_nonnull(reloader_open(r, install("hello1", "hello"),
	    NULL));
	ck_assert_int_ne(access(dead, F_OK), 0);
	ck_assert_int_eq(access(live, F_OK), 0);
	ck_assert_int_eq(access(other, F_OK), 0);
	reloader_free(r);
}
END_TEST

/* code_change carries the count over and v2 adds its field. */
START_TEST(test_code_change)
{
	reloader_t *r = new_handle();
	reloader_module_t *m;

	m = reloader_open(r, install("counter1", "counter"), NULL);
	ck_assert_msg(m != NULL, "%s", reloader_error(r));
	ck_assert_str_eq(reloader_module_name(m), "counter");
	ck_assert_int_eq(call_state(m, "bump"), 1);
	ck_assert_int_eq(call_state(m, "bump"), 2);
	ck_assert_int_eq(call_state(m, "bump"), 3);
	install("counter2", "counter");
	ck_assert_int_eq(reloader_reload(m), RELOADER_OK);
	ck_assert_int_eq(call_int(m, "ver"), 2);
	ck_assert_int_eq(call_state(m, "bump"), 4);
	ck_assert_int_eq(call_state(m, "extra"), 42);
	ck_assert_str_eq(last_rec(RELOADER_EV_RELOAD)->reason, "");

	/* A version without the hook takes the state as it is, with a
	 * warning. */
	install("counter-plain", "counter");
	ck_assert_int_eq(reloader_reload(m), RELOADER_OK);
	ck_assert_int_eq(call_state(m, "bump"), 5);
	ck_assert(strstr(last_rec(RELOADER_EV_RELOAD)->reason,
	    "no reloader_code_change") != NULL);
	reloader_free(r);
}
END_TEST

/* A failing code_change rolls back: old code, old state. */
START_TEST(test_code_change_fails)
{
	reloader_t *r = new_handle();
	reloader_module_t *m;
	char stamp1[256];

	m = reloader_open(r, install("counter1", "counter"), NULL);
	ck_assert_ptr_nonnull(m);
	snprintf(stamp1, sizeof(stamp1), "%s", reloader_module_stamp(m));
	ck_assert_int_eq(call_state(m, "bump"), 1);
	ck_assert_int_eq(call_state(m, "bump"), 2);
	install("counter-fail", "counter");
	ck_assert_int_eq(reloader_reload(m), RELOADER_ROLLED_BACK);
	ck_assert_str_eq(last_rec(RELOADER_EV_RELOAD)->reason,
	    "reloader_code_change returned -1");
	ck_assert_str_eq(last_rec(RELOADER_EV_RELOAD)->stamp, stamp1);
	ck_assert_str_eq(reloader_module_stamp(m), stamp1);
	ck_assert_int_eq(call_int(m, "ver"), 1);
	ck_assert_int_eq(call_state(m, "bump"), 3);
	ck_assert(strstr(reloader_error(r), "returned -1") != NULL);
	/* Nothing of the failed version is left on disk. */
	ck_assert(!has_copy("counter.2.so"));
	reloader_free(r);
}
END_TEST

/* A code_change that crashes with each of the four signals rolls back,
 * and the process lives on. */
START_TEST(test_code_change_crashes)
{
	static const struct {
		const char *variant, *sig;
	} crashes[] = {
		{ "counter-segv", "SIGSEGV" },
		{ "counter-fpe", "SIGFPE" },
		{ "counter-ill", "SIGILL" },
		{ "counter-bus", "SIGBUS" },
		{ "counter-overflow", "SIGSEGV" },  /* on the alternate stack */
	};
	reloader_t *r = new_handle();
	reloader_module_t *m;
	char want[256];
	size_t i;
	int n = 0;

	m = reloader_open(r, install("counter1", "counter"), NULL);
	ck_assert_ptr_nonnull(m);
	ck_assert_int_eq(call_state(m, "bump"), ++n);
	for (i = 0; i < sizeof(crashes) / sizeof(crashes[0]); i++) {
		install(crashes[i].variant, "counter");
		ck_assert_msg(reloader_reload(m) == RELOADER_ROLLED_BACK,
		    "%s did not roll back", crashes[i].variant);
		snprintf(want, sizeof(want), "reloader_code_change crashed: "
		    "%s; its image is left mapped", crashes[i].sig);
		ck_assert_str_eq(last_rec(RELOADER_EV_RELOAD)->reason, want);
		ck_assert_int_eq(call_int(m, "ver"), 1);
		ck_assert_int_eq(call_state(m, "bump"), ++n);
	}
	/* And a good version still goes in afterwards. */
	install("counter2", "counter");
	ck_assert_int_eq(reloader_reload(m), RELOADER_OK);
	ck_assert_int_eq(call_state(m, "bump"), ++n);
	reloader_free(r);
}
END_TEST

/* A crash in the test hook rolls back too. */
START_TEST(test_test_crashes)
{
	reloader_t *r = new_handle();
	reloader_module_t *m;

	m = reloader_open(r, install("hello1", "hello"), NULL);
	ck_assert_ptr_nonnull(m);
	install("hello-testsegv", "hello");
	ck_assert_int_eq(reloader_reload(m), RELOADER_ROLLED_BACK);
	ck_assert_str_eq(last_rec(RELOADER_EV_RELOAD)->reason,
	    "reloader_test crashed: SIGSEGV; its image is left mapped");
	ck_assert_int_eq(call_int(m, "ver"), 1);
	reloader_free(r);
}
END_TEST

static sigjmp_buf host_env;
static volatile sig_atomic_t host_called;

/* The host's own SIGSEGV handler: notes the call and jumps out. */
static void
host_segv(int sig, siginfo_t *si, void *uc)
{
	(void)si;
	(void)uc;
	host_called = sig;
	siglongjmp(host_env, 1);
}

/* A SIGSEGV outside any hook still reaches the host's handler, through
 * the library's. */
START_TEST(test_host_handler)
{
	struct sigaction sa, now;
	reloader_t *r = new_handle();
	reloader_module_t *m;
	volatile int *page;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = host_segv;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	ck_assert_int_eq(sigaction(SIGSEGV, &sa, NULL), 0);
	m = reloader_open(r, install("hello1", "hello"), NULL);
	ck_assert_ptr_nonnull(m);
	/* Make sure the signal goes through the library's handler. */
	ck_assert_int_eq(sigaction(SIGSEGV, NULL, &now), 0);
	ck_assert(now.sa_sigaction != host_segv);

	page = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert(page != MAP_FAILED);
	host_called = 0;
	if (sigsetjmp(host_env, 1) == 0) {
		*page = 1;
		ck_abort_msg("the write did not fault");
	}
	ck_assert_int_eq(host_called, SIGSEGV);

	/* Hooks are still protected after that. */
	install("hello-testsegv", "hello");
	ck_assert_int_eq(reloader_reload(m), RELOADER_ROLLED_BACK);
	munmap((void *)page, 4096);
	reloader_free(r);
}
END_TEST

/* Outside a hook, a fault in a host with no handler still kills it. */
START_TEST(test_default_action)
{
	int status;
	pid_t pid;

	if ((pid = fork()) == 0) {
		reloader_t *r = reloader_new("child");
		volatile int *page;
		int null = open("/dev/null", O_WRONLY);

		/* ASan reports the fault on stderr: that is expected. */
		if (null != -1)
			dup2(null, 2);

		if (r == NULL || reloader_open(r, install("hello1", "hello"),
		    NULL) == NULL)
			_exit(3);
		page = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE |
		    MAP_ANONYMOUS, -1, 0);
		*page = 1;
		_exit(0);
	}
	ck_assert_int_gt(pid, 0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	if (under_asan()) {
		/* ASan's handler was there before ours, and reports. */
		ck_assert(WIFEXITED(status) && WEXITSTATUS(status) != 0 &&
		    WEXITSTATUS(status) != 3);
	} else
		ck_assert_msg(WIFSIGNALED(status) &&
		    WTERMSIG(status) == SIGSEGV, "status %#x", status);
}
END_TEST

/* A failing test hook rolls back, unless the policy keeps it. */
START_TEST(test_test_fails)
{
	reloader_t *r = new_handle();
	reloader_module_t *m;

	m = reloader_open(r, install("hello1", "hello"), NULL);
	ck_assert_ptr_nonnull(m);
	install("hello-testfail", "hello");
	ck_assert_int_eq(reloader_reload(m), RELOADER_ROLLED_BACK);
	ck_assert_str_eq(last_rec(RELOADER_EV_RELOAD)->reason,
	    "reloader_test returned 1");
	ck_assert_int_eq(call_int(m, "ver"), 1);

	reloader_set_test_policy(r, RELOADER_TEST_KEEP);
	ck_assert_int_eq(reloader_reload(m), RELOADER_TEST_FAILED);
	ck_assert_int_eq(last_rec(RELOADER_EV_RELOAD)->status,
	    RELOADER_TEST_FAILED);
	ck_assert_int_eq(call_int(m, "ver"), 2);
	reloader_free(r);
}
END_TEST

/* A version without a required symbol is refused. */
START_TEST(test_required)
{
	reloader_t *r = new_handle();
	reloader_module_t *m;
	const char *req[] = { "ver", NULL };

	m = reloader_open(r, install("hello1", "hello"), req);
	ck_assert_ptr_nonnull(m);
	install("hello-nover", "hello");
	ck_assert_int_eq(reloader_reload(m), RELOADER_LOAD_FAILED);
	ck_assert_msg(strstr(last_rec(RELOADER_EV_RELOAD)->reason,
	    "lacks the required symbol \"ver\"") != NULL, "%s",
	    last_rec(RELOADER_EV_RELOAD)->reason);
	ck_assert_int_eq(call_int(m, "ver"), 1);
	ck_assert_int_eq(reloader_close(m), 0);

	ck_assert_ptr_null(reloader_open(r, install("hello-nover", "hello"),
	    req));
	ck_assert(strstr(reloader_error(r), "\"ver\"") != NULL);
	ck_assert_ptr_null(reloader_open(r, "/nonexistent/x.so", NULL));
	ck_assert(strstr(reloader_error(r), "/nonexistent/x.so") != NULL);
	reloader_free(r);
}
END_TEST

/* What the in-flight caller thread shares with the test. */
struct inflight {
	reloader_module_t *m;
	int entered, go, result;
	pthread_mutex_t lock;
	pthread_cond_t cond;
};

/* Enters the module, waits to be told, then calls ver() and leaves. */
static void *
inflight_main(void *arg)
{
	struct inflight *f = arg;
	reloader_image_t *img = reloader_enter(f->m);
	int (*ver)(void) = (int (*)(void))reloader_sym(img, "ver");

	pthread_mutex_lock(&f->lock);
	f->entered = 1;
	pthread_cond_broadcast(&f->cond);
	while (!f->go)
		pthread_cond_wait(&f->cond, &f->lock);
	pthread_mutex_unlock(&f->lock);
	f->result = ver();
	reloader_leave(img);
	return NULL;
}

/* A call inside the old version finishes there while new calls go to
 * the new one; the old version is purged after the last one leaves. */
START_TEST(test_inflight)
{
	struct inflight f = { .lock = PTHREAD_MUTEX_INITIALIZER,
	    .cond = PTHREAD_COND_INITIALIZER };
	reloader_t *r = new_handle();
	pthread_t t;

	f.m = reloader_open(r, install("hello1", "hello"), NULL);
	ck_assert_ptr_nonnull(f.m);
	ck_assert_int_eq(pthread_create(&t, NULL, inflight_main, &f), 0);
	pthread_mutex_lock(&f.lock);
	while (!f.entered)
		pthread_cond_wait(&f.cond, &f.lock);
	pthread_mutex_unlock(&f.lock);

	install("hello2", "hello");
	ck_assert_int_eq(reloader_reload(f.m), RELOADER_OK);
	ck_assert_int_eq(call_int(f.m, "ver"), 2);
	pump(r, 50);
	ck_assert_int_eq(count_recs(RELOADER_EV_PURGE), 0);
	ck_assert(has_copy("hello.1.so"));
	ck_assert_int_eq(reloader_close(f.m), -1);

	pthread_mutex_lock(&f.lock);
	f.go = 1;
	pthread_cond_broadcast(&f.cond);
	pthread_mutex_unlock(&f.lock);
	pthread_join(t, NULL);
	ck_assert_int_eq(f.result, 1);

	/* The last leave wakes the descriptor; the purge follows. */
	ck_assert(wait_fd(reloader_fd(r), 2000));
	ck_assert_int_eq(reloader_dispatch(r), 0);
	ck_assert_int_eq(count_recs(RELOADER_EV_PURGE), 1);
	ck_assert_int_eq(last_rec(RELOADER_EV_PURGE)->unmapped, 1);
	ck_assert_int_eq(last_rec(RELOADER_EV_PURGE)->forced, 0);
	ck_assert(has_copy("hello.1.so"));  /* kept for a rollback */
	ck_assert_int_eq(reloader_close(f.m), 0);
	ck_assert_str_eq(copies(), "");
	reloader_free(r);
}
END_TEST

/* An image linked with -z nodelete is reported as still mapped. */
START_TEST(test_nodelete)
{
	reloader_t *r = new_handle();
	reloader_module_t *m;

	m = reloader_open(r, install("hello1", "hello"), NULL);
	ck_assert_ptr_nonnull(m);
	install("hello-nodelete", "hello");
	ck_assert_int_eq(reloader_reload(m), RELOADER_OK);
	ck_assert_int_eq(last_rec(RELOADER_EV_PURGE)->unmapped, 1);
	install("hello3", "hello");
	ck_assert_int_eq(reloader_reload(m), RELOADER_OK);
	ck_assert_int_eq(count_recs(RELOADER_EV_PURGE), 2);
	ck_assert_int_eq(last_rec(RELOADER_EV_PURGE)->unmapped, 0);
	ck_assert_str_eq(last_rec(RELOADER_EV_PURGE)->reason,
	    "RTLD_NODELETE");
	ck_assert_int_eq(call_int(m, "ver"), 3);
	reloader_free(r);
}
END_TEST

/* A third version while the old one is pinned is refused, as Erlang's
 * not_purged; it goes in once the old one is gone. */
START_TEST(test_not_purged)
{
	reloader_t *r = new_handle();
	reloader_module_t *m;
	reloader_image_t *img;

	m = reloader_open(r, install("hello1", "hello"), NULL);
	ck_assert_ptr_nonnull(m);
	img = reloader_enter(m);
	install("hello2", "hello");
	ck_assert_int_eq(reloader_reload(m), RELOADER_OK);
	install("hello3", "hello");
	ck_assert_int_eq(reloader_reload(m), RELOADER_LOAD_FAILED);
	ck_assert_str_eq(last_rec(RELOADER_EV_RELOAD)->reason,
	    "old version of hello still has 1 call inside (not purged)");
	ck_assert_int_eq(call_int(m, "ver"), 2);
	reloader_leave(img);
	pump(r, 20);
	ck_assert_int_eq(count_recs(RELOADER_EV_PURGE), 1);
	ck_assert_int_eq(reloader_reload(m), RELOADER_OK);
	ck_assert_int_eq(call_int(m, "ver"), 3);
	reloader_free(r);
}
END_TEST

/* At the deadline the old version goes even with a call inside. */
START_TEST(test_hard_purge)
{
	reloader_t *r = new_handle();
	reloader_module_t *m;
	reloader_image_t *img;
	struct timespec t0, t1;
	double ms;

	reloader_set_purge_deadline(r, 100);
	m = reloader_open(r, install("hello1", "hello"), NULL);
	ck_assert_ptr_nonnull(m);
	img = reloader_enter(m);
	install("hello2", "hello");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_eq(reloader_reload(m), RELOADER_OK);
	while (count_recs(RELOADER_EV_PURGE) == 0) {
		ck_assert_msg(wait_fd(reloader_fd(r), 2000), "no purge");
		ck_assert_int_eq(reloader_dispatch(r), 0);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (double)(t1.tv_sec - t0.tv_sec) * 1000 +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	ck_assert_msg(ms >= 99 && ms < 1000, "purged after %.1f ms", ms);
	ck_assert_int_eq(last_rec(RELOADER_EV_PURGE)->forced, 1);
	ck_assert_int_eq(last_rec(RELOADER_EV_PURGE)->calls, 1);
	ck_assert(has_copy("hello.1.so"));  /* kept for a rollback */
	reloader_leave(img);
	ck_assert_int_eq(reloader_close(m), 0);
	reloader_free(r);
}
END_TEST

/* A migration waits for calls to leave; past the drain timeout it rolls
 * back. */
START_TEST(test_drain_timeout)
{
	reloader_t *r = new_handle();
	reloader_module_t *m;
	reloader_image_t *img;
	struct timespec t0, t1;
	double ms;

	reloader_set_drain_timeout(r, 100);
	m = reloader_open(r, install("counter1", "counter"), NULL);
	ck_assert_ptr_nonnull(m);
	ck_assert_int_eq(call_state(m, "bump"), 1);
	img = reloader_enter(m);
	install("counter2", "counter");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_eq(reloader_reload(m), RELOADER_ROLLED_BACK);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (double)(t1.tv_sec - t0.tv_sec) * 1000 +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	ck_assert_msg(ms >= 99, "gave up after %.1f ms", ms);
	ck_assert_msg(strstr(last_rec(RELOADER_EV_RELOAD)->reason,
	    "drain timeout of 100 ms") != NULL, "%s",
	    last_rec(RELOADER_EV_RELOAD)->reason);
	/* Calls are not held after giving up. */
	ck_assert_int_eq(call_state(m, "bump"), 2);
	reloader_leave(img);
	ck_assert_int_eq(reloader_reload(m), RELOADER_OK);
	ck_assert_int_eq(call_state(m, "bump"), 3);
	ck_assert_int_eq(call_state(m, "extra"), 42);
	reloader_free(r);
}
END_TEST

/* Reloads the module given, from another thread. */
static void *
reload_main(void *arg)
{
	return (void *)(intptr_t)reloader_reload(arg);
}

/* New calls wait while a migration runs, and then reach the new
 * version. */
START_TEST(test_calls_held)
{
	reloader_t *r = new_handle();
	reloader_module_t *m;
	char mark[PATH_MAX];
	pthread_t t;
	void *status;
	int i;

	snprintf(mark, sizeof(mark), "%s/mark", dir);
	setenv("RL_MARK", mark, 1);
	m = reloader_open(r, install("counter1", "counter"), NULL);
	ck_assert_ptr_nonnull(m);
	ck_assert_int_eq(call_state(m, "bump"), 1);
	install("counter-slow", "counter");
	ck_assert_int_eq(pthread_create(&t, NULL, reload_main, m), 0);
	for (i = 0; i < 2000 && access(mark, F_OK) != 0; i++)
		usleep(1000);
	ck_assert_int_eq(access(mark, F_OK), 0);
	/* The migration is under way: this waits for it to end. */
	ck_assert_int_eq(call_int(m, "ver"), 2);
	ck_assert_int_eq(call_state(m, "bump"), 2);
	pthread_join(t, &status);
	ck_assert_int_eq((int)(intptr_t)status, RELOADER_OK);
	reloader_free(r);
}
END_TEST

/* The fake daemon's side of a connection. */
struct fake {
	int lfd;              /* listening */
	int c;                /* accepted */
	char path[100];
	char buf[65536];
	size_t len;
	reloader_t *r;        /* pumped while waiting, unless threaded */
};

/* Listens on the fake daemon's socket. */
static void
fake_listen(struct fake *f)
{
	struct sockaddr_un sun;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", f->path);
	unlink(f->path);
	f->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(f->lfd, 0);
	ck_assert_int_eq(bind(f->lfd, (struct sockaddr *)&sun, sizeof(sun)),
	    0);
	ck_assert_int_eq(listen(f->lfd, 4), 0);
	f->c = -1;
	f->len = 0;
}

/* Waits up to ms for fd, dispatching the library meanwhile. */
static int
fake_wait(struct fake *f, int fd, int ms)
{
	struct pollfd p[2];
	int i, n;

	for (i = 0; i < ms / 10 + 1; i++) {
		p[0].fd = fd;
		p[0].events = POLLIN;
		p[1].fd = f->r != NULL ? reloader_fd(f->r) : -1;
		p[1].events = POLLIN;
		n = poll(p, 2, 10);
		if (n > 0 && p[1].revents != 0)
			reloader_dispatch(f->r);
		if (n > 0 && p[0].revents != 0)
			return 1;
	}
	return 0;
}

/* Accepts the library's connection. */
static void
fake_accept(struct fake *f)
{
	ck_assert_msg(fake_wait(f, f->lfd, 3000), "the library never "
	    "connected");
	f->c = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC);
	ck_assert_int_ge(f->c, 0);
	f->len = 0;
}

/* Reads one line (without its LF) into line; fails the test after ms. */
static void
fake_read(struct fake *f, char *line, size_t size, int ms)
{
	char *lf;
	ssize_t n;

	for (;;) {
		if ((lf = memchr(f->buf, '\n', f->len)) != NULL) {
			size_t len = (size_t)(lf - f->buf);

			ck_assert_uint_lt(len, size);
			memcpy(line, f->buf, len);
			line[len] = '\0';
			memmove(f->buf, lf + 1, f->len - len - 1);
			f->len -= len + 1;
			return;
		}
		ck_assert_msg(fake_wait(f, f->c, ms), "no line from the "
		    "library (have \"%.*s\")", (int)f->len, f->buf);
		n = read(f->c, f->buf + f->len, sizeof(f->buf) - f->len);
		ck_assert_msg(n > 0, "the library closed the connection");
		f->len += (size_t)n;
	}
}

/* Sends lines to the library. */
static void
fake_send(struct fake *f, const char *fmt, ...)
{
	char buf[32768];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	ck_assert(n > 0 && (size_t)n < sizeof(buf));
	ck_assert_int_eq(write(f->c, buf, (size_t)n), n);
}

/* Reads a line that must start with want. */
static void
fake_expect(struct fake *f, const char *want, char *line, size_t size)
{
	fake_read(f, line, size, 3000);
	ck_assert_msg(strncmp(line, want, strlen(want)) == 0,
	    "expected \"%s...\", got \"%s\"", want, line);
}

/* The handshake and the registration of module name with stamp. */
static void
fake_attach_mod(struct fake *f, const char *name, const char *stamp)
{
	char line[4096], want[4096];

	fake_accept(f);
	snprintf(want, sizeof(want), "hello proto=2 min=1 pid=%ld name=test "
	    "lib=libreloader/" RELOADER_VERSION_STRING, (long)getpid());
	fake_read(f, line, sizeof(line), 3000);
	ck_assert_str_eq(line, want);
	fake_send(f, "welcome proto=1 server=fake/0 client=1 "
	    "max-line=16384\n");
	snprintf(want, sizeof(want), "register module=%s path=%s/%s.so "
	    "stamp=%s", name, dir, name, stamp);
	fake_read(f, line, sizeof(line), 3000);
	ck_assert_str_eq(line, want);
	fake_send(f, "registered module=%s\n", name);
}

/* The handshake and the registration of hello with stamp. */
static void
fake_attach(struct fake *f, const char *stamp)
{
	fake_attach_mod(f, "hello", stamp);
}

/* Returns the value of field key in a protocol line, unescaped, in a
 * static buffer; NULL if the line has no such field. */
static const char *
field(const char *line, const char *key)
{
	static char val[4096];
	const char *p = line;
	size_t klen = strlen(key), n = 0;
	unsigned int byte;

	while ((p = strchr(p, ' ')) != NULL) {
		p++;
		if (strncmp(p, key, klen) == 0 && p[klen] == '=')
			break;
	}
	if (p == NULL)
		return NULL;
	for (p += klen + 1; *p != '\0' && *p != ' ' && n + 1 < sizeof(val);
	    p++) {
		if (p[0] == '\\' && p[1] == '\\') {
			val[n++] = '\\';
			p++;
		} else if (p[0] == '\\' && p[1] == 'x' &&
		    sscanf(p + 2, "%2x", &byte) == 1) {
			val[n++] = (char)byte;
			p += 3;
		} else
			val[n++] = *p;
	}
	val[n] = '\0';
	return val;
}

/* Starts a fake daemon, opens variant as dir/name.so and attaches; the
 * module's first stamp goes in stamp. */
static reloader_module_t *
fake_start(struct fake *f, reloader_t *r, const char *variant,
    const char *name, char *stamp, size_t len)
{
	reloader_module_t *m;

	memset(f, 0, sizeof(*f));
	snprintf(f->path, sizeof(f->path), "%s/d.sock", dir);
	f->r = r;
	fake_listen(f);
	ck_assert_int_eq(reloader_set_socket(r, f->path), 0);
	m = reloader_open(r, install(variant, name), NULL);
	ck_assert_msg(m != NULL, "%s", reloader_error(r));
	snprintf(stamp, len, "%s", reloader_module_stamp(m));
	ck_assert_int_eq(reloader_connect(r), 0);
	fake_attach_mod(f, name, stamp);
	return m;
}

/* Sends a batch of one module line with the given fields besides batch,
 * module and path; reads its result into line and then its done. */
static void
fake_one(struct fake *f, unsigned int batch, const char *name,
    const char *fields, char *line, size_t size)
{
	char done[256], want[64];

	fake_send(f, "reload batch=%u count=1\n"
	    "module batch=%u module=%s path=%s/%s.so %s\n"
	    "end batch=%u\n", batch, batch, name, dir, name, fields, batch);
	snprintf(want, sizeof(want), "result batch=%u module=%s ", batch,
	    name);
	fake_expect(f, want, line, size);
	snprintf(want, sizeof(want), "done batch=%u", batch);
	fake_read(f, done, sizeof(done), 3000);
	ck_assert_str_eq(done, want);
}

/* action=rollback takes a module back to the version its last reload
 * replaced, from the copy kept of it, with its state migrated; a second
 * rollback goes forward again; only one copy is kept, the next reload
 * supersedes it and closing removes it. */
START_TEST(test_rollback)
{
	struct fake f;
	reloader_t *r = new_handle();
	reloader_module_t *m;
	struct rec *rec;
	char line[4096], fields[1024], want[1024], stamp1[256], stamp2[256];

	m = fake_start(&f, r, "counter1", "counter", stamp1, sizeof(stamp1));
	ck_assert_int_eq(call_state(m, "bump"), 1);
	ck_assert_int_eq(call_state(m, "bump"), 2);
	install("counter2", "counter");
	snprintf(fields, sizeof(fields), "stamp=x:2 was=%s", stamp1);
	fake_one(&f, 1, "counter", fields, line, sizeof(line));
	ck_assert_str_eq(field(line, "status"), "ok");
	snprintf(stamp2, sizeof(stamp2), "%s", reloader_module_stamp(m));
	fake_expect(&f, "purged module=counter", line, sizeof(line));
	ck_assert_int_eq(call_state(m, "bump"), 3);
	ck_assert_int_eq(call_state(m, "extra"), 42);
	ck_assert_int_eq(last_rec(RELOADER_EV_RELOAD)->rollback, 0);
	/* Version 1's copy is kept after its purge. */
	ck_assert_str_eq(copies(), "counter.1.so counter.2.so");

	/* Back to version 1: its code_change takes version 2's state. */
	snprintf(fields, sizeof(fields), "stamp=%s was=%s action=rollback",
	    stamp1, stamp2);
	fake_one(&f, 2, "counter", fields, line, sizeof(line));
	ck_assert_msg(strcmp(field(line, "status"), "ok") == 0, "%s", line);
	ck_assert_str_eq(field(line, "stamp"), stamp1);
	ck_assert_ptr_null(field(line, "reason"));
	ck_assert_ptr_nonnull(field(line, "state"));
	snprintf(want, sizeof(want), "purged module=counter stamp=%s ",
	    stamp2);
	fake_expect(&f, want, line, sizeof(line));
	ck_assert_str_eq(reloader_module_stamp(m), stamp1);
	ck_assert_int_eq(call_int(m, "ver"), 1);
	ck_assert_int_eq(call_state(m, "bump"), 4);
	ck_assert_int_eq(call_state(m, "extra"), -1);
	rec = last_rec(RELOADER_EV_RELOAD);
	ck_assert_int_eq(count_recs(RELOADER_EV_RELOAD), 2);
	ck_assert_int_eq(rec->status, RELOADER_OK);
	ck_assert_int_eq(rec->rollback, 1);
	ck_assert_str_eq(rec->stamp, stamp1);
	ck_assert_str_eq(rec->was, stamp2);
	ck_assert_str_eq(rec->reason, "");
	/* Version 1 runs from a fresh copy; version 2's is the one kept. */
	ck_assert_str_eq(copies(), "counter.2.so counter.3.so");

	/* A rollback to another version than the one kept is refused, and
	 * changes nothing: it must not look like a rollback that worked. */
	fake_one(&f, 3, "counter", "stamp=x:1 was=x:2 action=rollback", line,
	    sizeof(line));
	ck_assert_str_eq(field(line, "status"), "load-failed");
	ck_assert_str_eq(field(line, "failed"), "load");
	ck_assert_str_eq(field(line, "stamp"), stamp1);
	snprintf(want, sizeof(want), "the previous version kept is %s, not "
	    "x:1", stamp2);
	ck_assert_str_eq(field(line, "reason"), want);
	ck_assert_int_eq(call_int(m, "ver"), 1);

	/* A second rollback goes forward again. */
	snprintf(fields, sizeof(fields), "stamp=%s was=%s action=rollback",
	    stamp2, stamp1);
	fake_one(&f, 3, "counter", fields, line, sizeof(line));
	ck_assert_str_eq(field(line, "status"), "ok");
	ck_assert_str_eq(field(line, "stamp"), stamp2);
	ck_assert_ptr_null(field(line, "reason"));
	snprintf(want, sizeof(want), "purged module=counter stamp=%s ",
	    stamp1);
	fake_expect(&f, want, line, sizeof(line));
	ck_assert_int_eq(call_int(m, "ver"), 2);
	ck_assert_int_eq(call_state(m, "bump"), 5);
	ck_assert_int_eq(call_state(m, "extra"), 42);
	ck_assert_int_eq(last_rec(RELOADER_EV_RELOAD)->rollback, 1);
	ck_assert_str_eq(copies(), "counter.3.so counter.4.so");

	/* A reload from the file supersedes the kept copy. */
	install("counter-plain", "counter");
	fake_one(&f, 4, "counter", "stamp=x:3", line, sizeof(line));
	ck_assert_str_eq(field(line, "status"), "ok");
	fake_expect(&f, "purged module=counter", line, sizeof(line));
	ck_assert_int_eq(call_state(m, "bump"), 6);
	ck_assert_str_eq(copies(), "counter.4.so counter.5.so");

	/* Closing removes the kept copy with the rest. */
	ck_assert_int_eq(reloader_close(m), 0);
	fake_expect(&f, "unregister module=counter", line, sizeof(line));
	ck_assert_str_eq(copies(), "");
	reloader_free(r);
	close(f.c);
	close(f.lfd);
}
END_TEST

/* A rollback with nothing kept fails and changes nothing; an unknown
 * action is refused, whatever it holds, and so is nothing else. */
START_TEST(test_rollback_nothing)
{
	struct fake f;
	reloader_t *r = new_handle();
	reloader_module_t *m;
	char line[4096], fields[1024], stamp1[256];

	m = fake_start(&f, r, "hello1", "hello", stamp1, sizeof(stamp1));
	snprintf(fields, sizeof(fields), "stamp=x:0 was=%s action=rollback",
	    stamp1);
	fake_one(&f, 1, "hello", fields, line, sizeof(line));
	ck_assert_str_eq(field(line, "status"), "load-failed");
	ck_assert_str_eq(field(line, "stamp"), stamp1);
	ck_assert_str_eq(field(line, "reason"), "no previous version kept");
	ck_assert_int_eq(last_rec(RELOADER_EV_RELOAD)->status,
	    RELOADER_LOAD_FAILED);
	ck_assert_int_eq(last_rec(RELOADER_EV_RELOAD)->rollback, 1);

	/* A failed reload keeps nothing either. */
	install("hello-testfail", "hello");
	fake_one(&f, 2, "hello", "stamp=x:1", line, sizeof(line));
	ck_assert_str_eq(field(line, "status"), "rolled-back");
	fake_one(&f, 3, "hello", "stamp=x:0 action=rollback", line,
	    sizeof(line));
	ck_assert_str_eq(field(line, "reason"), "no previous version kept");

	/* Unknown actions: the file changed, but nothing is tried. */
	install("hello2", "hello");
	fake_one(&f, 4, "hello", "stamp=x:1 action=frob", line, sizeof(line));
	ck_assert_str_eq(field(line, "status"), "load-failed");
	ck_assert_str_eq(field(line, "stamp"), stamp1);
	ck_assert_str_eq(field(line, "reason"), "unknown action \"frob\"");
	fake_one(&f, 5, "hello", "stamp=x:1 action=", line, sizeof(line));
	ck_assert_str_eq(field(line, "status"), "load-failed");
	ck_assert_str_eq(field(line, "reason"), "unknown action \"\"");
	fake_one(&f, 6, "ghost", "stamp=x:1 action=\\x01\\x20rollback\\xff",
	    line, sizeof(line));
	ck_assert_str_eq(field(line, "status"), "load-failed");
	ck_assert_str_eq(field(line, "stamp"), "none:");
	ck_assert_str_eq(field(line, "reason"),
	    "unknown action \"\x01 rollback\xff\"");
	fake_one(&f, 7, "hello", "stamp=x:1 action=Rollback", line,
	    sizeof(line));
	ck_assert_str_eq(field(line, "reason"), "unknown action \"Rollback\"");
	ck_assert_int_eq(count_recs(RELOADER_EV_RELOAD), 3);
	ck_assert_int_eq(call_int(m, "ver"), 1);
	ck_assert_str_eq(copies(), "hello.1.so");

	/* action=load is a load. */
	fake_one(&f, 8, "hello", "stamp=x:1 action=load", line, sizeof(line));
	ck_assert_str_eq(field(line, "status"), "ok");
	ck_assert_int_eq(call_int(m, "ver"), 2);
	reloader_free(r);
	close(f.c);
	close(f.lfd);
}
END_TEST

/* A rollback while the old version still has a call inside is refused
 * as not purged, changes nothing and is not retried; it goes through
 * once the call has left. */
START_TEST(test_rollback_pinned)
{
	struct fake f;
	reloader_t *r = new_handle();
	reloader_module_t *m;
	reloader_image_t *img;
	char line[4096], fields[1024], want[1024], stamp1[256], stamp2[256];

	m = fake_start(&f, r, "hello1", "hello", stamp1, sizeof(stamp1));
	img = reloader_enter(m);
	install("hello2", "hello");
	fake_one(&f, 1, "hello", "stamp=x:2", line, sizeof(line));
	ck_assert_str_eq(field(line, "status"), "ok");
	snprintf(stamp2, sizeof(stamp2), "%s", reloader_module_stamp(m));

	snprintf(fields, sizeof(fields), "stamp=%s was=%s action=rollback",
	    stamp1, stamp2);
	fake_one(&f, 2, "hello", fields, line, sizeof(line));
	ck_assert_str_eq(field(line, "status"), "load-failed");
	ck_assert_str_eq(field(line, "stamp"), stamp2);
	ck_assert_str_eq(field(line, "reason"), "old version of hello still "
	    "has 1 call inside (not purged)");
	ck_assert_int_eq(last_rec(RELOADER_EV_RELOAD)->status,
	    RELOADER_LOAD_FAILED);
	ck_assert_int_eq(last_rec(RELOADER_EV_RELOAD)->rollback, 1);
	ck_assert_str_eq(reloader_module_stamp(m), stamp2);
	ck_assert_int_eq(call_int(m, "ver"), 2);
	ck_assert_str_eq(copies(), "hello.1.so hello.2.so");

	/* The call leaves: purged, and not registered again. */
	reloader_leave(img);
	snprintf(want, sizeof(want), "purged module=hello stamp=%s ", stamp1);
	fake_expect(&f, want, line, sizeof(line));
	fake_send(&f, "ping id=9\n");
	fake_read(&f, line, sizeof(line), 3000);
	ck_assert_str_eq(line, "pong id=9");

	fake_one(&f, 3, "hello", fields, line, sizeof(line));
	ck_assert_str_eq(field(line, "status"), "ok");
	ck_assert_str_eq(field(line, "stamp"), stamp1);
	ck_assert_int_eq(call_int(m, "ver"), 1);
	fake_expect(&f, "purged module=hello", line, sizeof(line));
	ck_assert_str_eq(copies(), "hello.2.so hello.3.so");

	/* A reload supersedes the kept copy at once, even while the
	 * version it replaced still has a call inside. */
	img = reloader_enter(m);
	install("hello3", "hello");
	fake_one(&f, 4, "hello", "stamp=x:3", line, sizeof(line));
	ck_assert_str_eq(field(line, "status"), "ok");
	ck_assert_str_eq(copies(), "hello.3.so hello.4.so");
	reloader_leave(img);
	fake_expect(&f, "purged module=hello", line, sizeof(line));
	ck_assert_str_eq(copies(), "hello.3.so hello.4.so");
	reloader_free(r);
	close(f.c);
	close(f.lfd);
}
END_TEST

/* An older version's code_change that refuses a newer state rolls the
 * rollback back: the current version answers with its state, and the
 * kept copy stays. */
START_TEST(test_rollback_refused)
{
	struct fake f;
	reloader_t *r = new_handle();
	reloader_module_t *m;
	char line[4096], fields[1024], stamp1[256], stamp2[256];

	m = fake_start(&f, r, "counter1-refuse", "counter", stamp1,
	    sizeof(stamp1));
	ck_assert_int_eq(call_state(m, "bump"), 1);
	install("counter2", "counter");
	fake_one(&f, 1, "counter", "stamp=x:2", line, sizeof(line));
	ck_assert_str_eq(field(line, "status"), "ok");
	fake_expect(&f, "purged module=counter", line, sizeof(line));
	snprintf(stamp2, sizeof(stamp2), "%s", reloader_module_stamp(m));
	ck_assert_int_eq(call_state(m, "bump"), 2);

	snprintf(fields, sizeof(fields), "stamp=%s was=%s action=rollback",
	    stamp1, stamp2);
	fake_one(&f, 2, "counter", fields, line, sizeof(line));
	ck_assert_str_eq(field(line, "status"), "rolled-back");
	ck_assert_str_eq(field(line, "stamp"), stamp2);
	ck_assert_str_eq(field(line, "reason"),
	    "reloader_code_change returned -1");
	ck_assert_int_eq(last_rec(RELOADER_EV_RELOAD)->status,
	    RELOADER_ROLLED_BACK);
	ck_assert_int_eq(last_rec(RELOADER_EV_RELOAD)->rollback, 1);
	ck_assert_str_eq(reloader_module_stamp(m), stamp2);
	ck_assert_int_eq(call_int(m, "ver"), 2);
	ck_assert_int_eq(call_state(m, "bump"), 3);
	ck_assert_int_eq(call_state(m, "extra"), 42);
	ck_assert_str_eq(copies(), "counter.1.so counter.2.so");
	reloader_free(r);
	close(f.c);
	close(f.lfd);
}
END_TEST

/* With neither RELOADER_SOCKET nor XDG_RUNTIME_DIR, a user other than
 * root attaches to /tmp/reloader-UID.sock, where the daemon listens by
 * default (as root, the test checks it for the user nobody). */
START_TEST(test_default_socket)
{
	struct sockaddr_un sun;
	struct fake f;
	char line[4096];
	uid_t uid = getuid() == 0 ? 65534 : getuid();
	int status, fd;
	pid_t pid;

	memset(&f, 0, sizeof(f));
	snprintf(f.path, sizeof(f.path), "/tmp/reloader-%lu.sock",
	    (unsigned long)uid);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", f.path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0 ||
	    (errno != ENOENT && errno != ECONNREFUSED)) {
		/* A real daemon is there: leave it alone. */
		close(fd);
		fprintf(stderr, "test_default_socket: %s is in use; "
		    "skipped\n", f.path);
		return;
	}
	close(fd);
	fake_listen(&f);
	ck_assert_int_eq(chmod(f.path, 0777), 0);
	if ((pid = fork()) == 0) {
		reloader_t *r;
		int i;

		if (getuid() == 0 && (setgid(uid) == -1 || setuid(uid) == -1))
			_exit(3);
		unsetenv("RELOADER_SOCKET");
		unsetenv("XDG_RUNTIME_DIR");
		if ((r = reloader_new("child")) == NULL ||
		    reloader_connect(r) == -1)
			_exit(4);
		for (i = 0; i < 300 && !reloader_is_connected(r); i++) {
			wait_fd(reloader_fd(r), 10);
			reloader_dispatch(r);
		}
		_exit(reloader_is_connected(r) ? 0 : 5);
	}
	ck_assert_int_gt(pid, 0);
	fake_accept(&f);
	fake_expect(&f, "hello proto=2 min=1 ", line, sizeof(line));
	fake_send(&f, "welcome proto=1 server=fake/0 client=1 "
	    "max-line=16384\n");
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	close(f.c);
	close(f.lfd);
	unlink(f.path);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "status %#x", status);
}
END_TEST

/* The protocol end to end against a fake daemon: handshake, register,
 * ping, errors, a batch, purged, reconnecting, and re-registering after
 * a not_purged. */
START_TEST(test_protocol)
{
	struct fake f;
	reloader_t *r = new_handle();
	reloader_module_t *m;
	reloader_image_t *img;
	char line[20000], want[4096], stamp1[256], stamp2[256], stamp3[256];
	char *longline;

	memset(&f, 0, sizeof(f));
	snprintf(f.path, sizeof(f.path), "%s/d.sock", dir);
	f.r = r;
	fake_listen(&f);
	ck_assert_int_eq(reloader_set_socket(r, f.path), 0);
	m = reloader_open(r, install("hello1", "hello"), NULL);
	ck_assert_ptr_nonnull(m);
	snprintf(stamp1, sizeof(stamp1), "%s", reloader_module_stamp(m));
	ck_assert_int_eq(reloader_is_connected(r), 0);
	ck_assert_int_eq(reloader_connect(r), 0);
	fake_attach(&f, stamp1);
	pump(r, 20);
	ck_assert_int_eq(reloader_is_connected(r), 1);
	ck_assert_int_eq(count_recs(RELOADER_EV_CONNECTED), 1);

	/* welcome=1 registered=2 ping=3 */
	fake_send(&f, "ping id=7\n");
	fake_expect(&f, "pong id=7", line, sizeof(line));
	fake_send(&f, "Bad Line\n");
	fake_expect(&f, "error code=syntax msg=", line, sizeof(line));
	ck_assert(strstr(line, " line=4") != NULL);
	fake_send(&f, "frobnicate x=1\n");
	fake_expect(&f, "error code=unknown-verb msg=", line, sizeof(line));
	ck_assert(strstr(line, " line=5") != NULL);
	fake_send(&f, "reload batch=9\n");
	fake_expect(&f, "error code=missing-field msg=", line, sizeof(line));
	/* Errors are never answered, even malformed ones. */
	fake_send(&f, "error code=denied msg=no\nerror  bad\nping\n");
	fake_expect(&f, "pong", line, sizeof(line));
	ck_assert_str_eq(line, "pong");
	longline = malloc(20001);
	ck_assert_ptr_nonnull(longline);
	memset(longline, 'a', 20000);
	longline[20000] = '\0';
	fake_send(&f, "ping id=%s\nping id=8\n", longline);
	free(longline);
	fake_expect(&f, "error code=too-long", line, sizeof(line));
	fake_expect(&f, "pong id=8", line, sizeof(line));

	/* A batch: one module loaded here and one that is not. */
	install("hello2", "hello");
	peek_fd = f.c;
	fake_send(&f, "reload batch=1 count=2\n"
	    "module batch=1 module=hello path=%s/hello.so stamp=x:1 was=%s\n"
	    "module batch=1 module=ghost path=/g.so stamp=none:\n"
	    "end batch=1\n", dir, stamp1);
	fake_expect(&f, "result batch=1 module=hello status=ok stamp=build-id:",
	    line, sizeof(line));
	ck_assert_int_eq(call_int(m, "ver"), 2);
	snprintf(stamp2, sizeof(stamp2), "%s", reloader_module_stamp(m));
	snprintf(want, sizeof(want), "stamp=%s load=", stamp2);
	ck_assert_msg(strstr(line, want) != NULL, "%s", line);
	/* The old version goes after the host heard of the switch: its
	 * purge is not in the result, and its event comes second. */
	ck_assert(strstr(line, " purge=") == NULL);
	ck_assert(strstr(line, " reason=") == NULL);
	fake_read(&f, line, sizeof(line), 3000);
	ck_assert_str_eq(line, "result batch=1 module=ghost "
	    "status=load-failed stamp=none: reason=not\\x20loaded\\x20here");
	fake_read(&f, line, sizeof(line), 3000);
	ck_assert_str_eq(line, "done batch=1");
	fake_expect(&f, "purged module=hello stamp=", line, sizeof(line));
	snprintf(want, sizeof(want), "purged module=hello stamp=%s "
	    "unmapped=yes after=", stamp1);
	ck_assert_msg(strncmp(line, want, strlen(want)) == 0, "%s", line);
	ck_assert_int_eq(last_rec(RELOADER_EV_RELOAD)->status, RELOADER_OK);
	ck_assert_msg(last_rec(RELOADER_EV_RELOAD) <
	    last_rec(RELOADER_EV_PURGE), "the purge's event came before the "
	    "reload's");
	/* The host heard of the switch before anything went to the
	 * daemon, which, woken, would take the CPU from it. */
	ck_assert_int_eq(last_rec(RELOADER_EV_RELOAD)->daemon_had, 0);
	peek_fd = -1;

	/* The daemon goes away and comes back: the library reconnects and
	 * registers the version it runs now. */
	close(f.c);
	close(f.lfd);
	unlink(f.path);
	for (int i = 0; i < 100 && count_recs(RELOADER_EV_DISCONNECTED) == 0;
	    i++)
		pump(r, 10);
	ck_assert_int_eq(count_recs(RELOADER_EV_DISCONNECTED), 1);
	ck_assert_int_eq(reloader_is_connected(r), 0);
	pump(r, 200);
	fake_listen(&f);
	/* ... and names the version it keeps for a rollback. */
	snprintf(line, sizeof(line), "%s prev=%s", stamp2, stamp1);
	fake_attach(&f, line);
	pump(r, 20);
	ck_assert_int_eq(count_recs(RELOADER_EV_CONNECTED), 2);

	/* not_purged, marked failed=purge; once the old one is gone the
	 * library says purged (the daemon then offers the change again)
	 * and registers nothing anew. */
	img = reloader_enter(m);
	install("hello3", "hello");
	fake_send(&f, "reload batch=2 count=1\n"
	    "module batch=2 module=hello path=%s/hello.so stamp=x:1\n"
	    "end batch=2\n", dir);
	fake_expect(&f, "result batch=2 module=hello status=ok", line,
	    sizeof(line));
	fake_expect(&f, "done batch=2", line, sizeof(line));
	snprintf(stamp3, sizeof(stamp3), "%s", reloader_module_stamp(m));
	install("hello1", "hello");
	fake_send(&f, "reload batch=3 count=1\n"
	    "module batch=3 module=hello path=%s/hello.so stamp=x:1\n"
	    "end batch=3\n", dir);
	fake_read(&f, line, sizeof(line), 3000);
	snprintf(want, sizeof(want), "result batch=3 module=hello "
	    "status=load-failed stamp=%s ", stamp3);
	ck_assert_msg(strncmp(line, want, strlen(want)) == 0, "%s", line);
	ck_assert(strstr(line, "reason=old\\x20version\\x20of\\x20hello"
	    "\\x20still\\x20has\\x201\\x20call\\x20inside\\x20(not\\x20"
	    "purged)") != NULL);
	ck_assert(strstr(line, " failed=purge ") != NULL);
	fake_expect(&f, "done batch=3", line, sizeof(line));
	reloader_leave(img);
	snprintf(want, sizeof(want), "purged module=hello stamp=%s ", stamp2);
	fake_expect(&f, want, line, sizeof(line));
	/* Offered again, it loads. */
	fake_send(&f, "reload batch=4 count=1\n"
	    "module batch=4 module=hello path=%s/hello.so stamp=x:1\n"
	    "end batch=4\n", dir);
	fake_expect(&f, "result batch=4 module=hello status=ok", line,
	    sizeof(line));
	fake_expect(&f, "done batch=4", line, sizeof(line));
	fake_expect(&f, "purged module=hello", line, sizeof(line));
	ck_assert_int_eq(call_int(m, "ver"), 1);

	/* Closing unregisters. */
	ck_assert_int_eq(reloader_close(m), 0);
	fake_expect(&f, "unregister module=hello", line, sizeof(line));
	reloader_free(r);
	close(f.c);
	close(f.lfd);
}
END_TEST

/* The same with the library dispatching on its own thread, while the
 * host reloads from its own. */
START_TEST(test_thread)
{
	struct fake f;
	reloader_t *r = new_handle();
	reloader_module_t *m;
	char line[4096], stamp1[256];
	int i;

	memset(&f, 0, sizeof(f));
	snprintf(f.path, sizeof(f.path), "%s/d.sock", dir);
	fake_listen(&f);
	ck_assert_int_eq(reloader_set_socket(r, f.path), 0);
	m = reloader_open(r, install("hello1", "hello"), NULL);
	ck_assert_ptr_nonnull(m);
	snprintf(stamp1, sizeof(stamp1), "%s", reloader_module_stamp(m));
	ck_assert_int_eq(reloader_start_thread(r), 0);
	ck_assert_int_eq(reloader_connect(r), 0);
	fake_attach(&f, stamp1);
	for (i = 0; i < 300 && count_recs(RELOADER_EV_CONNECTED) == 0; i++)
		usleep(10000);
	ck_assert_int_eq(reloader_is_connected(r), 1);

	install("hello2", "hello");
	fake_send(&f, "reload batch=4 count=1\n"
	    "module batch=4 module=hello path=%s/hello.so stamp=x:1\n"
	    "end batch=4\n", dir);
	fake_expect(&f, "result batch=4 module=hello status=ok", line,
	    sizeof(line));
	fake_expect(&f, "done batch=4", line, sizeof(line));
	fake_expect(&f, "purged module=hello", line, sizeof(line));
	ck_assert_int_eq(call_int(m, "ver"), 2);
	for (i = 0; i < 300 && count_recs(RELOADER_EV_RELOAD) == 0; i++)
		usleep(10000);
	ck_assert_int_eq(count_recs(RELOADER_EV_RELOAD), 1);

	/* The host reloads from its own thread meanwhile. */
	install("hello3", "hello");
	ck_assert_int_eq(reloader_reload(m), RELOADER_OK);
	ck_assert_int_eq(call_int(m, "ver"), 3);
	fake_expect(&f, "purged module=hello", line, sizeof(line));
	fake_expect(&f, "register module=hello", line, sizeof(line));
	reloader_free(r);
	close(f.c);
	close(f.lfd);
}
END_TEST

/* Hooks that crash on the library's own thread, a stack overflow among
 * them, roll back one after another, on the stack that thread keeps for
 * its life, and the process goes on to load a good version. */
START_TEST(test_thread_hook_crashes)
{
	static const struct {
		const char *variant, *sig;
	} crashes[] = {
		{ "counter-overflow", "SIGSEGV" },
		{ "counter-segv", "SIGSEGV" },
		{ "counter-overflow", "SIGSEGV" },
		{ "counter-fpe", "SIGFPE" },
	};
	struct fake f;
	reloader_t *r = new_handle();
	reloader_module_t *m;
	char line[4096], want[512], stamp1[256];
	size_t i;
	int n = 0;

	memset(&f, 0, sizeof(f));
	snprintf(f.path, sizeof(f.path), "%s/d.sock", dir);
	fake_listen(&f);
	ck_assert_int_eq(reloader_set_socket(r, f.path), 0);
	m = reloader_open(r, install("counter1", "counter"), NULL);
	ck_assert_ptr_nonnull(m);
	snprintf(stamp1, sizeof(stamp1), "%s", reloader_module_stamp(m));
	ck_assert_int_eq(call_state(m, "bump"), ++n);
	ck_assert_int_eq(reloader_start_thread(r), 0);
	ck_assert_int_eq(reloader_connect(r), 0);
	fake_attach_mod(&f, "counter", stamp1);
	for (i = 0; i < sizeof(crashes) / sizeof(crashes[0]); i++) {
		install(crashes[i].variant, "counter");
		fake_send(&f, "reload batch=%zu count=1\n"
		    "module batch=%zu module=counter path=%s/counter.so "
		    "stamp=x:1\nend batch=%zu\n", i + 1, i + 1, dir, i + 1);
		snprintf(want, sizeof(want), "result batch=%zu module=counter "
		    "status=rolled-back stamp=%s ", i + 1, stamp1);
		fake_read(&f, line, sizeof(line), 3000);
		ck_assert_msg(strncmp(line, want, strlen(want)) == 0,
		    "%s: %s", crashes[i].variant, line);
		snprintf(want, sizeof(want), "reloader_code_change\\x20"
		    "crashed:\\x20%s", crashes[i].sig);
		ck_assert_msg(strstr(line, want) != NULL, "%s: %s",
		    crashes[i].variant, line);
		snprintf(want, sizeof(want), "done batch=%zu", i + 1);
		fake_expect(&f, want, line, sizeof(line));
		ck_assert_int_eq(call_int(m, "ver"), 1);
		ck_assert_int_eq(call_state(m, "bump"), ++n);
	}
	install("counter2", "counter");
	fake_send(&f, "reload batch=9 count=1\n"
	    "module batch=9 module=counter path=%s/counter.so stamp=x:1\n"
	    "end batch=9\n", dir);
	fake_expect(&f, "result batch=9 module=counter status=ok", line,
	    sizeof(line));
	ck_assert_int_eq(call_int(m, "ver"), 2);
	ck_assert_int_eq(call_state(m, "bump"), ++n);
	reloader_free(r);
	close(f.c);
	close(f.lfd);
}
END_TEST

/* Fails the test if the loop has run too long. */
static void
ev_guard_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	ev_break(loop, EVBREAK_ALL);
}

/* The libev adapter dispatches the handle in the host's loop. */
START_TEST(test_libev)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct reloader_ev rev;
	struct fake f;
	ev_timer guard;
	reloader_t *r = new_handle();
	char line[4096];
	int i;

	memset(&f, 0, sizeof(f));
	snprintf(f.path, sizeof(f.path), "%s/d.sock", dir);
	fake_listen(&f);
	ck_assert_int_eq(reloader_set_socket(r, f.path), 0);
	ck_assert_int_eq(reloader_connect(r), 0);
	memset(&rev, 0, sizeof(rev));
	ck_assert_int_eq(reloader_ev_attach(loop, &rev, r), 0);
	fake_accept(&f);
	fake_expect(&f, "hello proto=2 min=1 ", line, sizeof(line));
	fake_send(&f, "welcome proto=1 server=fake/0 client=1 "
	    "max-line=16384\nping id=1\n");
	ev_timer_init(&guard, ev_guard_cb, 0.02, 0.);
	for (i = 0; i < 100 && !reloader_is_connected(r); i++) {
		ev_timer_start(loop, &guard);
		ev_run(loop, EVRUN_ONCE);
		ev_timer_stop(loop, &guard);
	}
	ck_assert_int_eq(reloader_is_connected(r), 1);
	fake_expect(&f, "pong id=1", line, sizeof(line));
	reloader_ev_detach(loop, &rev);
	reloader_free(r);
	ev_loop_destroy(loop);
	close(f.c);
	close(f.lfd);
}
END_TEST

/* ---- Protocol version 2: batches that switch all together or not at
 * all (docs/PROTOCOL.md, "Version 2: upgrades"). */

/* The results of the last batch, by the order of its modules. */
static char results[4][4096];

/* Starts a fake daemon that welcomes protocol proto, opens each variant
 * as dir/names[i].so into ms[i], attaches and answers every
 * registration.  The test thread plays the daemon; for a batch that
 * holds calls (a module that migrates state) until the daemon's commit,
 * the library must then dispatch on a thread of its own (threaded). */
static void
fake_start_many(struct fake *f, reloader_t *r, int proto, int threaded,
    const char *const *vars, const char *const *names,
    reloader_module_t **ms, size_t n)
{
	char line[4096];
	size_t i;

	memset(f, 0, sizeof(*f));
	snprintf(f->path, sizeof(f->path), "%s/d.sock", dir);
	f->r = r;
	fake_listen(f);
	ck_assert_int_eq(reloader_set_socket(r, f->path), 0);
	for (i = 0; i < n; i++) {
		ms[i] = reloader_open(r, install(vars[i], names[i]), NULL);
		ck_assert_msg(ms[i] != NULL, "%s", reloader_error(r));
	}
	ck_assert_int_eq(reloader_connect(r), 0);
	fake_accept(f);
	fake_expect(f, "hello proto=2 min=1 ", line, sizeof(line));
	fake_send(f, "welcome proto=%d server=fake/0 client=1 "
	    "max-line=16384\n", proto);
	for (i = 0; i < n; i++) {
		fake_expect(f, "register module=", line, sizeof(line));
		fake_send(f, "registered module=%s\n", field(line, "module"));
	}
	if (threaded) {
		ck_assert_int_eq(reloader_start_thread(r), 0);
		f->r = NULL;
	}
}

/* Sends batch id of the named modules as verb (prepare or reload). */
static void
fake_batch(struct fake *f, const char *verb, unsigned int id,
    const char *const *names, size_t n)
{
	char buf[16384];
	size_t i, o;

	o = (size_t)snprintf(buf, sizeof(buf), "%s batch=%u count=%zu%s\n",
	    verb, id, n, strcmp(verb, "prepare") == 0 ?
	    " group=1 clients=1" : "");
	for (i = 0; i < n; i++)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "module "
		    "batch=%u module=%s path=%s/%s.so stamp=x:1 was=x:0\n", id,
		    names[i], dir, names[i]);
	snprintf(buf + o, sizeof(buf) - o, "end batch=%u\n", id);
	fake_send(f, "%s", buf);
}

/* Reads the results of batch id, one per named module in any order,
 * into results[] by the order of names, then its done. */
static void
fake_results(struct fake *f, unsigned int id, const char *const *names,
    size_t n)
{
	char line[4096], want[64];
	size_t i, k;

	for (k = 0; k < n; k++) {
		snprintf(want, sizeof(want), "result batch=%u ", id);
		fake_expect(f, want, line, sizeof(line));
		for (i = 0; i < n; i++)
			if (strcmp(field(line, "module"), names[i]) == 0)
				break;
		ck_assert_msg(i < n, "a result for another module: %s", line);
		snprintf(results[i], sizeof(results[i]), "%s", line);
	}
	snprintf(want, sizeof(want), "done batch=%u", id);
	fake_read(f, line, sizeof(line), 3000);
	ck_assert_str_eq(line, want);
}

/* Waits (3 s at most) until n events of a type were heard: with the
 * library's own thread, they come after the lines it sent. */
static void
wait_recs(enum reloader_event_type type, int n)
{
	int i;

	for (i = 0; i < 3000 && count_recs(type) < n; i++)
		usleep(1000);
	ck_assert_int_ge(count_recs(type), n);
}

/* Asserts a field of the result of module i. */
static void
result_is(size_t i, const char *key, const char *want)
{
	const char *got = field(results[i], key);

	ck_assert_msg(got != NULL && strcmp(got, want) == 0, "%s: %s is %s, "
	    "not %s", results[i], key, got != NULL ? got : "(none)", want);
}

/* Must show: a batch of three modules whose third's test hook fails
 * prepares the other two, gives them up, and leaves all three on their
 * old version with their state; each result says why. */
START_TEST(test_prepare_all_or_nothing)
{
	static const char *const v1[] = { "counter1", "counter1",
	    "counter1" };
	static const char *const names[] = { "a", "b", "c" };
	reloader_module_t *ms[3];
	char line[4096], stamps[3][256];
	struct fake f;
	reloader_t *r = new_handle();
	size_t i;

	fake_start_many(&f, r, 2, 0, v1, names, ms, 3);
	for (i = 0; i < 3; i++) {
		snprintf(stamps[i], sizeof(stamps[i]), "%s",
		    reloader_module_stamp(ms[i]));
		ck_assert_int_eq(call_state(ms[i], "bump"), 1);
	}
	ck_assert_int_eq(call_state(ms[1], "bump"), 2);
	install("counter2", "a");
	install("counter2", "b");
	install("counter2-testfail", "c");
	fake_batch(&f, "prepare", 1, names, 3);
	fake_results(&f, 1, names, 3);
	result_is(2, "status", "rolled-back");
	result_is(2, "failed", "test");
	result_is(2, "reason", "reloader_test returned 1");
	result_is(2, "stamp", stamps[2]);
	for (i = 0; i < 2; i++) {
		/* They did prepare, and gave it up for c. */
		result_is(i, "status", "prepared");
		ck_assert_str_ne(field(results[i], "stamp"), stamps[i]);
		result_is(i, "reason", "given up: c failed: reloader_test "
		    "returned 1");
		ck_assert_ptr_nonnull(field(results[i], "state"));
	}
	/* Nothing changed: old code, old state, and no copy of the new. */
	for (i = 0; i < 3; i++) {
		ck_assert_str_eq(reloader_module_stamp(ms[i]), stamps[i]);
		ck_assert_int_eq(call_int(ms[i], "ver"), 1);
		ck_assert_int_eq(call_state(ms[i], "extra"), -1);
		ck_assert_int_eq(rec_of(RELOADER_EV_RELOAD, names[i])->status,
		    RELOADER_ROLLED_BACK);
	}
	ck_assert_int_eq(call_state(ms[0], "bump"), 2);
	ck_assert_int_eq(call_state(ms[1], "bump"), 3);
	ck_assert_int_eq(call_state(ms[2], "bump"), 2);
	ck_assert_str_eq(rec_of(RELOADER_EV_RELOAD, "a")->reason,
	    "given up: c failed: reloader_test returned 1");
	ck_assert_str_eq(rec_of(RELOADER_EV_RELOAD, "c")->reason,
	    "reloader_test returned 1");
	ck_assert_str_eq(rec_of(RELOADER_EV_RELOAD, "c")->failed, "test");
	ck_assert_str_eq(copies(), "a.1.so b.1.so c.1.so");
	/* The batch is over: a commit for it is refused. */
	fake_send(&f, "commit batch=1\n");
	fake_expect(&f, "error code=bad-result ", line, sizeof(line));
	ck_assert_int_eq(count_recs(RELOADER_EV_PURGE), 0);
	reloader_free(r);
	close(f.c);
	close(f.lfd);
}
END_TEST

/* A prepared batch switches at the commit, every module at the same
 * instant, which "committed" reports; the old versions are purged after
 * it, and the state carries on. */
START_TEST(test_prepare_commit)
{
	static const char *const v1[] = { "counter1", "counter1" };
	static const char *const names[] = { "a", "b" };
	reloader_module_t *ms[2];
	char line[4096], stamps[2][256];
	struct fake f;
	reloader_t *r = new_handle();
	double at;
	size_t i;

	fake_start_many(&f, r, 2, 1, v1, names, ms, 2);
	for (i = 0; i < 2; i++) {
		snprintf(stamps[i], sizeof(stamps[i]), "%s",
		    reloader_module_stamp(ms[i]));
		ck_assert_int_eq(call_state(ms[i], "bump"), 1);
	}
	install("counter2", "a");
	install("counter-plain", "b");
	fake_batch(&f, "prepare", 7, names, 2);
	fake_results(&f, 7, names, 2);
	for (i = 0; i < 2; i++) {
		result_is(i, "status", "prepared");
		ck_assert_ptr_null(field(results[i], "purge"));
		/* Prepared, not current. */
		ck_assert_str_eq(reloader_module_stamp(ms[i]), stamps[i]);
	}
	ck_assert_ptr_nonnull(field(results[1], "reason"));
	ck_assert_int_eq(count_recs(RELOADER_EV_RELOAD), 0);
	/* b has no code_change: its calls are not held; the prepared
	 * version is not current yet. */
	ck_assert_int_eq(call_int(ms[1], "ver"), 1);

	fake_send(&f, "commit batch=7\n");
	fake_expect(&f, "committed batch=7 at=", line, sizeof(line));
	at = strtod(field(line, "at"), NULL);
	fake_expect(&f, "purged module=", line, sizeof(line));
	fake_expect(&f, "purged module=", line, sizeof(line));
	wait_recs(RELOADER_EV_RELOAD, 2);
	for (i = 0; i < 2; i++) {
		ck_assert_int_eq(call_int(ms[i], "ver"), 2);
		ck_assert_str_ne(reloader_module_stamp(ms[i]), stamps[i]);
		ck_assert_int_eq(rec_of(RELOADER_EV_RELOAD, names[i])->status,
		    RELOADER_OK);
		ck_assert_str_eq(rec_of(RELOADER_EV_RELOAD, names[i])->was,
		    stamps[i]);
	}
	/* One instant for both, the one the daemon was told. */
	ck_assert(rec_of(RELOADER_EV_RELOAD, "a")->at > 0);
	ck_assert(rec_of(RELOADER_EV_RELOAD, "a")->at ==
	    rec_of(RELOADER_EV_RELOAD, "b")->at);
	ck_assert_msg(fabs(rec_of(RELOADER_EV_RELOAD, "a")->at - at) < 2e-6,
	    "event at %.6f, committed at %.6f",
	    rec_of(RELOADER_EV_RELOAD, "a")->at, at);
	ck_assert_int_eq(call_state(ms[0], "bump"), 2);
	ck_assert_int_eq(call_state(ms[0], "extra"), 42);
	ck_assert_int_eq(call_state(ms[1], "bump"), 2);
	ck_assert_str_eq(copies(), "a.1.so a.2.so b.1.so b.2.so");
	/* Once only. */
	fake_send(&f, "commit batch=7\nabort batch=7\n");
	fake_expect(&f, "error code=bad-result ", line, sizeof(line));
	fake_expect(&f, "error code=bad-result ", line, sizeof(line));
	reloader_free(r);
	close(f.c);
	close(f.lfd);
}
END_TEST

/* An abort gives every prepared module up: old code, old state, and
 * calls go on; so does a daemon that goes away before the commit. */
START_TEST(test_prepare_abort)
{
	static const char *const v1[] = { "counter1", "counter1" };
	static const char *const names[] = { "a", "b" };
	reloader_module_t *ms[2];
	char line[4096];
	struct fake f;
	reloader_t *r = new_handle();
	size_t i;

	fake_start_many(&f, r, 2, 1, v1, names, ms, 2);
	for (i = 0; i < 2; i++)
		ck_assert_int_eq(call_state(ms[i], "bump"), 1);
	install("counter2", "a");
	install("counter2", "b");
	fake_batch(&f, "prepare", 3, names, 2);
	fake_results(&f, 3, names, 2);
	fake_send(&f, "abort batch=3 reason=b\\x20failed\\x20in\\x20w[2]\n");
	fake_expect(&f, "aborted batch=3", line, sizeof(line));
	ck_assert_str_eq(line, "aborted batch=3");
	wait_recs(RELOADER_EV_RELOAD, 2);
	for (i = 0; i < 2; i++) {
		ck_assert_int_eq(call_int(ms[i], "ver"), 1);
		ck_assert_int_eq(call_state(ms[i], "bump"), 2);
		ck_assert_int_eq(rec_of(RELOADER_EV_RELOAD, names[i])->status,
		    RELOADER_ROLLED_BACK);
		ck_assert_str_eq(rec_of(RELOADER_EV_RELOAD, names[i])->reason,
		    "aborted: b failed in w[2]");
	}
	ck_assert_str_eq(copies(), "a.1.so b.1.so");

	/* Prepared again, and the daemon goes away. */
	fake_batch(&f, "prepare", 4, names, 2);
	fake_results(&f, 4, names, 2);
	close(f.c);
	wait_recs(RELOADER_EV_DISCONNECTED, 1);
	for (i = 0; i < 2; i++) {
		ck_assert_int_eq(call_int(ms[i], "ver"), 1);
		ck_assert_int_eq(call_state(ms[i], "bump"), 3);
		ck_assert_int_eq(rec_of(RELOADER_EV_RELOAD, names[i])->status,
		    RELOADER_ROLLED_BACK);
		ck_assert_str_eq(rec_of(RELOADER_EV_RELOAD, names[i])->reason,
		    "lost the daemon before it said commit or abort");
	}
	ck_assert_str_eq(copies(), "a.1.so b.1.so");
	reloader_free(r);
	close(f.lfd);
}
END_TEST

/* What the spinning host thread of test_prepare_holds shares. */
struct spinner {
	reloader_t *r;
	reloader_module_t *m;
	volatile int stop;
	volatile long tid;
	volatile int bumps;         /* calls that returned */
	volatile int last;          /* what the last one returned */
	int dispatch;               /* the thread dispatches too */
};

/* Calls bump() in a loop, dispatching between calls if told to. */
static void *
spinner_main(void *arg)
{
	struct spinner *s = arg;
	reloader_image_t *img;
	int (*bump)(void *);

	s->tid = (long)syscall(SYS_gettid);
	while (!s->stop) {
		if (s->dispatch)
			reloader_dispatch(s->r);
		img = reloader_enter(s->m);
		*(void **)&bump = reloader_sym(img, "bump");
		s->last = bump(reloader_state(img));
		reloader_leave(img);
		s->bumps++;
	}
	return NULL;
}

/* Says whether a thread of this process is asleep in the kernel (state
 * S in /proc), as one that waits on a lock or a descriptor is. */
static int
thread_sleeps(long tid)
{
	char path[64], buf[512], *p;
	FILE *fp;
	size_t n;

	snprintf(path, sizeof(path), "/proc/self/task/%ld/stat", tid);
	if ((fp = fopen(path, "r")) == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	return (p = strrchr(buf, ')')) != NULL && p[1] == ' ' && p[2] == 'S';
}

/*
 * Calls into a module whose new version migrated its state are held from
 * the prepare to the commit, so that none changes the old state after
 * it was migrated: a thread calling in all the while blocks (with
 * dispatch on the library's thread: in reloader_enter; dispatching
 * itself: in reloader_dispatch, until the commit comes) and no count is
 * lost.
 */
static void
prepare_holds(int threaded)
{
	static const char *const v1[] = { "counter1" };
	static const char *const names[] = { "a" };
	struct spinner sp;
	reloader_module_t *ms[1];
	struct fake f;
	reloader_t *r = new_handle();
	pthread_t t;
	int before, i;

	fake_start_many(&f, r, 2, 0, v1, names, ms, 1);
	memset(&sp, 0, sizeof(sp));
	sp.r = r;
	sp.m = ms[0];
	sp.dispatch = !threaded;
	if (threaded)
		ck_assert_int_eq(reloader_start_thread(r), 0);
	/* From here on the test thread only plays the daemon. */
	f.r = NULL;
	ck_assert_int_eq(pthread_create(&t, NULL, spinner_main, &sp), 0);
	while (sp.bumps < 3)
		sched_yield();
	install("counter2", "a");
	fake_batch(&f, "prepare", 1, names, 1);
	fake_results(&f, 1, names, 1);
	result_is(0, "status", "prepared");
	/* The spinner gets stuck within a call or two; had it gone on in
	 * the old version, it would do thousands. */
	before = sp.bumps;
	for (i = 0; !thread_sleeps(sp.tid) && sp.bumps < before + 3; i++)
		sched_yield();
	ck_assert_msg(sp.bumps < before + 3, "calls went on into the old "
	    "version after the prepare (%d more)", sp.bumps - before);
	before = sp.bumps;
	fake_send(&f, "commit batch=1\n");
	fake_expect(&f, "committed batch=1 ", results[0], sizeof(results[0]));
	while (sp.bumps < before + 3)
		sched_yield();
	sp.stop = 1;
	pthread_join(t, NULL);
	/* Every call counted, in one state or the other. */
	ck_assert_int_eq(sp.last, sp.bumps);
	ck_assert_int_eq(call_int(ms[0], "ver"), 2);
	ck_assert_int_eq(call_state(ms[0], "bump"), sp.bumps + 1);
	reloader_free(r);
	close(f.c);
	close(f.lfd);
}

START_TEST(test_prepare_holds)
{
	prepare_holds(1);
}
END_TEST

START_TEST(test_prepare_holds_dispatch)
{
	prepare_holds(0);
}
END_TEST

/* A module the host opted out of batch atomicity switches at once,
 * alone, as in version 1, and stays switched when the batch fails. */
START_TEST(test_prepare_alone)
{
	static const char *const v1[] = { "counter1", "counter1",
	    "counter1" };
	static const char *const names[] = { "a", "b", "c" };
	reloader_module_t *ms[3];
	char stamp[256];
	struct fake f;
	reloader_t *r = new_handle();

	fake_start_many(&f, r, 2, 0, v1, names, ms, 3);
	reloader_set_atomic(ms[1], 0);
	snprintf(stamp, sizeof(stamp), "%s", reloader_module_stamp(ms[0]));
	install("counter2", "a");
	install("counter2", "b");
	install("counter2-testfail", "c");
	fake_batch(&f, "prepare", 1, names, 3);
	fake_results(&f, 1, names, 3);
	result_is(0, "status", "prepared");
	result_is(1, "status", "ok");
	result_is(1, "alone", "yes");
	ck_assert_ptr_null(field(results[1], "reason"));
	result_is(2, "status", "rolled-back");
	ck_assert_int_eq(call_int(ms[0], "ver"), 1);
	ck_assert_int_eq(call_int(ms[1], "ver"), 2);
	ck_assert_int_eq(call_int(ms[2], "ver"), 1);
	ck_assert_str_eq(reloader_module_stamp(ms[0]), stamp);
	ck_assert_int_eq(rec_of(RELOADER_EV_RELOAD, "b")->status, RELOADER_OK);
	reloader_free(r);
	close(f.c);
	close(f.lfd);
}
END_TEST

/* With a daemon of protocol version 1, or a host that asks for it, a
 * batch reloads each module at once, as it always did: two switch, the
 * third rolls back alone. */
START_TEST(test_proto1)
{
	static const char *const v1[] = { "counter1", "counter1",
	    "counter1" };
	static const char *const names[] = { "a", "b", "c" };
	reloader_module_t *ms[3];
	char line[4096];
	struct fake f;
	reloader_t *r = new_handle();

	ck_assert_int_eq(reloader_set_proto(r, 3), -1);
	ck_assert_str_eq(reloader_error(r), "protocol version 3: libreloader "
	    "speaks 1 to 2");
	ck_assert_int_eq(reloader_set_proto(r, 0), -1);
	fake_start_many(&f, r, 1, 0, v1, names, ms, 3);
	install("counter2", "a");
	install("counter2", "b");
	install("counter2-testfail", "c");
	/* prepare is no verb of version 1. */
	fake_send(&f, "prepare batch=1 count=1\n");
	fake_expect(&f, "error code=unknown-verb ", line, sizeof(line));
	fake_batch(&f, "reload", 2, names, 3);
	fake_results(&f, 2, names, 3);
	result_is(0, "status", "ok");
	result_is(1, "status", "ok");
	result_is(2, "status", "rolled-back");
	ck_assert_int_eq(call_int(ms[0], "ver"), 2);
	ck_assert_int_eq(call_int(ms[1], "ver"), 2);
	ck_assert_int_eq(call_int(ms[2], "ver"), 1);
	reloader_free(r);
	close(f.c);
	close(f.lfd);

	/* A host that asks for version 1 says so in hello. */
	r = new_handle();
	ck_assert_int_eq(reloader_set_proto(r, 1), 0);
	memset(&f, 0, sizeof(f));
	snprintf(f.path, sizeof(f.path), "%s/d.sock", dir);
	f.r = r;
	fake_listen(&f);
	ck_assert_int_eq(reloader_set_socket(r, f.path), 0);
	ck_assert_int_eq(reloader_connect(r), 0);
	fake_accept(&f);
	fake_expect(&f, "hello proto=1 min=1 ", line, sizeof(line));
	/* A daemon that picks what the host does not speak is left. */
	fake_send(&f, "welcome proto=2 server=fake/0 client=1 "
	    "max-line=16384\n");
	ck_assert(fake_wait(&f, f.c, 3000));
	ck_assert_int_eq(read(f.c, line, sizeof(line)), 0);
	ck_assert_int_eq(reloader_is_connected(r), 0);
	reloader_free(r);
	close(f.c);
	close(f.lfd);
}
END_TEST

/* ---- Sets (docs/PROTOCOL.md, "Module sets"). */

/* A set opens what is there, then what the daemon announces, through a
 * prepare and a commit; a module that leaves is closed after the host
 * heard so; one whose first load fails is named, not opened; closing
 * the set closes the rest. */
START_TEST(test_set)
{
	reloader_t *r = new_handle();
	reloader_set_t *s;
	struct fake f;
	struct rec *x;
	char hdir[PATH_MAX], line[4096], want[PATH_MAX + 16];
	static const char *const c[] = { "c" }, *const d[] = { "d" };

	snprintf(hdir, sizeof(hdir), "%s/handlers", dir);
	ck_assert_int_eq(mkdir(hdir, 0700), 0);
	install("counter1", "handlers/a");
	install("counter2", "handlers/b");
	snprintf(want, sizeof(want), "%s/notes.txt", hdir);
	ck_assert_int_eq(tu_spew(want, "x", 1), 0);
	memset(&f, 0, sizeof(f));
	snprintf(f.path, sizeof(f.path), "%s/d.sock", dir);
	f.r = r;
	fake_listen(&f);
	ck_assert_int_eq(reloader_set_socket(r, f.path), 0);

	/* Bad sets are refused, saying why. */
	ck_assert_ptr_null(reloader_open_set(r, hdir, "*/x", NULL));
	ck_assert(strstr(reloader_error(r), "without '/'") != NULL);
	ck_assert_ptr_null(reloader_open_set(r, "/nonexistent/h", "*.so",
	    NULL));
	ck_assert(strstr(reloader_error(r), "/nonexistent/h: ") != NULL);

	s = reloader_open_set(r, hdir, "*.so", NULL);
	ck_assert_msg(s != NULL, "%s", reloader_error(r));
	/* What is there is opened before it returns. */
	ck_assert_int_eq(count_recs(RELOADER_EV_ADDED), 2);
	x = rec_of(RELOADER_EV_ADDED, "a");
	ck_assert_ptr_eq(x->set, s);
	ck_assert_int_eq(call_state(x->module, "bump"), 1);
	ck_assert_int_eq(call_int(rec_of(RELOADER_EV_ADDED, "b")->module,
	    "ver"), 2);

	ck_assert_int_eq(reloader_connect(r), 0);
	fake_accept(&f);
	fake_expect(&f, "hello proto=2 min=1 ", line, sizeof(line));
	fake_send(&f, "welcome proto=2 server=fake/0 client=1 "
	    "max-line=16384\n");
	fake_expect(&f, "register module=", line, sizeof(line));
	fake_expect(&f, "register module=", line, sizeof(line));
	fake_read(&f, line, sizeof(line), 3000);
	ck_assert_msg(strncmp(line, "watch-set set=1 dir=", 20) == 0, "%s",
	    line);
	ck_assert_str_eq(field(line, "dir"), hdir);
	ck_assert_str_eq(field(line, "pattern"), "*.so");
	fake_send(&f, "set set=1 dir=%s pattern=*.so\n"
	    "set-added set=1 path=%s/a.so module=a stamp=x:1\n", hdir, hdir);

	/* One appears: registered with no version, opened when the daemon
	 * offers it, as the commit of a prepare. */
	install("counter1", "handlers/c");
	fake_send(&f, "set-added set=1 path=%s/c.so module=c stamp=x:1\n",
	    hdir);
	fake_expect(&f, "register module=c ", line, sizeof(line));
	ck_assert_str_eq(field(line, "stamp"), "none:");
	snprintf(want, sizeof(want), "%s/c.so", hdir);
	ck_assert_str_eq(field(line, "path"), want);
	ck_assert_ptr_null(rec_of(RELOADER_EV_ADDED, "c"));
	fake_batch(&f, "prepare", 1, c, 1);
	fake_results(&f, 1, c, 1);
	result_is(0, "status", "prepared");
	ck_assert_ptr_null(rec_of(RELOADER_EV_ADDED, "c"));
	fake_send(&f, "commit batch=1\n");
	fake_expect(&f, "committed batch=1 ", line, sizeof(line));
	pump(r, 20);
	x = rec_of(RELOADER_EV_ADDED, "c");
	ck_assert_ptr_nonnull(x);
	ck_assert(x->at > 0);
	/* Its init ran: a fresh count. */
	ck_assert_int_eq(call_state(x->module, "bump"), 1);

	/* One whose first load fails is named, with no handle, and
	 * stays registered with no version. */
	install("counter-fail", "handlers/d");
	fake_send(&f, "set-added set=1 path=%s/d.so module=d stamp=x:1\n",
	    hdir);
	fake_expect(&f, "register module=d ", line, sizeof(line));
	fake_batch(&f, "prepare", 2, d, 1);
	fake_results(&f, 2, d, 1);
	result_is(0, "status", "rolled-back");
	result_is(0, "stamp", "none:");
	result_is(0, "failed", "code-change");
	x = rec_of(RELOADER_EV_RELOAD, "d");
	ck_assert_ptr_nonnull(x);
	ck_assert_ptr_null(x->module);
	ck_assert_ptr_eq(x->set, s);
	ck_assert_ptr_null(rec_of(RELOADER_EV_ADDED, "d"));

	/* One leaves: the host hears it with a live handle, then it is
	 * closed and unregistered; its copy goes. */
	fake_send(&f, "set-removed set=1 path=%s/a.so module=a\n", hdir);
	fake_expect(&f, "unregister module=a", line, sizeof(line));
	pump(r, 20);
	x = rec_of(RELOADER_EV_REMOVED, "a");
	ck_assert_ptr_nonnull(x);
	ck_assert_str_eq(x->live, "a");
	ck_assert(!has_copy("a.1.so"));
	ck_assert(has_copy("b.1.so"));
	/* Another daemon line about it changes nothing. */
	fake_send(&f, "set-removed set=1 path=%s/a.so module=a\n"
	    "set-added set=9 path=%s/z.so module=z stamp=x:1\nping id=1\n",
	    hdir, hdir);
	fake_expect(&f, "pong id=1", line, sizeof(line));

	ck_assert_int_eq(reloader_close_set(s), 0);
	fake_expect(&f, "unwatch-set set=1", line, sizeof(line));
	fake_expect(&f, "unregister module=", line, sizeof(line));
	fake_expect(&f, "unregister module=", line, sizeof(line));
	fake_expect(&f, "unregister module=", line, sizeof(line));
	ck_assert_str_eq(copies(), "");
	reloader_free(r);
	close(f.c);
	close(f.lfd);
}
END_TEST

/* A set's module whose name another module has is refused by name; a
 * set with a call inside one of its modules is not closed. */
START_TEST(test_set_clash)
{
	reloader_t *r = new_handle();
	reloader_set_t *s;
	reloader_module_t *m;
	reloader_image_t *img;
	char hdir[PATH_MAX];

	snprintf(hdir, sizeof(hdir), "%s/handlers", dir);
	ck_assert_int_eq(mkdir(hdir, 0700), 0);
	m = reloader_open(r, install("counter1", "a"), NULL);
	ck_assert_ptr_nonnull(m);
	install("counter1", "handlers/a");
	install("counter1", "handlers/b");
	s = reloader_open_set(r, hdir, "*.so", NULL);
	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(count_recs(RELOADER_EV_ADDED), 1);
	ck_assert(strstr(rec_of(RELOADER_EV_RELOAD, "a")->reason,
	    "a module named a is already open") != NULL);
	ck_assert_ptr_null(rec_of(RELOADER_EV_RELOAD, "a")->module);
	img = reloader_enter(rec_of(RELOADER_EV_ADDED, "b")->module);
	ck_assert_int_eq(reloader_close_set(s), -1);
	ck_assert(strstr(reloader_error(r), "a call is still inside b") !=
	    NULL);
	reloader_leave(img);
	ck_assert_int_eq(reloader_close_set(s), 0);
	ck_assert_int_eq(call_int(m, "ver"), 1);
	reloader_free(r);
}
END_TEST

/* Assembles the suite. */
static Suite *
libreloader_suite(void)
{
	Suite *s = suite_create("libreloader");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_version);
	tcase_add_test(tc, test_exports);
	tcase_add_test(tc, test_open_call);
	tcase_add_test(tc, test_reload);
	tcase_add_test(tc, test_stale_dirs);
	tcase_add_test(tc, test_code_change);
	tcase_add_test(tc, test_code_change_fails);
	tcase_add_test(tc, test_code_change_crashes);
	tcase_add_test(tc, test_test_crashes);
	tcase_add_test(tc, test_host_handler);
	tcase_add_test(tc, test_default_action);
	tcase_add_test(tc, test_test_fails);
	tcase_add_test(tc, test_required);
	tcase_add_test(tc, test_inflight);
	tcase_add_test(tc, test_nodelete);
	tcase_add_test(tc, test_not_purged);
	tcase_add_test(tc, test_hard_purge);
	tcase_add_test(tc, test_drain_timeout);
	tcase_add_test(tc, test_calls_held);
	tcase_add_test(tc, test_protocol);
	tcase_add_test(tc, test_thread);
	tcase_add_test(tc, test_thread_hook_crashes);
	tcase_add_test(tc, test_libev);
	tcase_add_test(tc, test_rollback);
	tcase_add_test(tc, test_rollback_nothing);
	tcase_add_test(tc, test_rollback_pinned);
	tcase_add_test(tc, test_rollback_refused);
	tcase_add_test(tc, test_default_socket);
	tcase_add_test(tc, test_prepare_all_or_nothing);
	tcase_add_test(tc, test_prepare_commit);
	tcase_add_test(tc, test_prepare_abort);
	tcase_add_test(tc, test_prepare_holds);
	tcase_add_test(tc, test_prepare_holds_dispatch);
	tcase_add_test(tc, test_prepare_alone);
	tcase_add_test(tc, test_proto1);
	tcase_add_test(tc, test_set);
	tcase_add_test(tc, test_set_clash);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr;
	int failed;

	find_incdir();
	if (incdir[0] == '\0') {
		fprintf(stderr, "cannot find include/reloader.h\n");
		return 1;
	}
	if ((libdir = tu_tmpdir()) == NULL || build_all() == -1) {
		fprintf(stderr, "cannot build the test modules\n");
		tu_rmrf(libdir);
		return 1;
	}
	sr = srunner_create(libreloader_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	tu_rmrf(libdir);
	return failed == 0 ? 0 : 1;
}
