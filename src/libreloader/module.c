/*
 * module.c: loading, reloading, calling into and purging modules, with
 * Erlang's two versions.
 *
 * A module has a current version and at most one old version.  New calls
 * (reloader_enter) pin the current one; a call inside the old one keeps
 * it pinned until it leaves.  The old version is purged when its last pin
 * goes (soft purge, at the next dispatch, which reloader_leave wakes), or
 * at the host's deadline (hard purge).  A reload that finds the old
 * version still pinned fails as Erlang's not_purged does, and the module
 * is registered again once the old version is gone, so that the daemon
 * offers the change again.
 *
 * A reload changes nothing unless every step succeeds: the new version
 * is made current only after its code_change and test hooks passed.
 * Calls are held (reloader_enter waits) only while a new version that
 * migrates state does so, after the calls inside have left.
 *
 * The private copy of the version a switch replaced is kept when that
 * version is purged (m->kept), until the next switch or the module is
 * closed: a rollback loads it again, from a fresh copy, through the same
 * steps as a reload.  The version it replaces is then the one kept, so a
 * second rollback goes forward again.
 */
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "libreloader.h"

/* Makes path absolute against the working directory, without resolving
 * links: the daemon is told the path the host named.  The caller frees
 * it; NULL with r's error. */
char *
module_abspath(reloader_t *r, const char *path)
{
	char cwd[4096], *p;

	if (path[0] == '/') {
		if ((p = strdup(path)) == NULL)
			reloader_set_error(r, "out of memory");
		return p;
	}
	if (getcwd(cwd, sizeof(cwd)) == NULL) {
		reloader_set_error(r, "%s: cannot make the path absolute: %s",
		    path, strerror(errno));
		return NULL;
	}
	if (asprintf(&p, "%s/%s", cwd, path) == -1) {
		reloader_set_error(r, "out of memory");
		return NULL;
	}
	return p;
}

/* Returns a symbol that the image itself defines (not one of its
 * dependencies), or NULL. */
static void *
module_own_sym(void *handle, const char *name)
{
	struct link_map *lm, *owner = NULL;
	Dl_info info;
	void *sym;

	if ((sym = dlsym(handle, name)) == NULL)
		return NULL;
	if (dlinfo(handle, RTLD_DI_LINKMAP, &lm) != 0)
		return sym;
	if (dladdr1(sym, &info, (void **)&owner, RTLD_DL_LINKMAP) == 0)
		return sym;
	return owner == lm ? sym : NULL;
}

/* Says whether an image was linked with -z nodelete, which keeps it in
 * memory after dlclose. */
static int
module_nodelete(void *handle)
{
	struct link_map *lm;
	const ElfW(Dyn) *d;

	if (dlinfo(handle, RTLD_DI_LINKMAP, &lm) != 0 || lm->l_ld == NULL)
		return 0;
	for (d = lm->l_ld; d->d_tag != DT_NULL; d++)
		if (d->d_tag == DT_FLAGS_1 && (d->d_un.d_val & DF_1_NODELETE))
			return 1;
	return 0;
}

/* dl_iterate_phdr callback: finds an object by its path. */
static int
module_mapped_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	return info->dlpi_name != NULL &&
	    strcmp(info->dlpi_name, (const char *)arg) == 0;
}

/* Says whether an object loaded from path is still in memory: checked,
 * not assumed, since some images never leave. */
static int
module_mapped(const char *path)
{
	return path != NULL && dl_iterate_phdr(module_mapped_cb,
	    (void *)(uintptr_t)path) != 0;
}

/* Frees an image that is not loaded (or is left loaded on purpose), and
 * removes its copy. */
static void
module_image_free(struct reloader_image *img)
{
	if (img == NULL)
		return;
	copy_remove(&img->copy);
	free(img);
}

/* Makes the private copy of the next version and reads its stamp;
 * nothing is loaded yet. */
static struct reloader_image *
module_image_new(reloader_t *r, const char *path, const char *name,
    unsigned long gen, double *copied_ms)
{
	struct reloader_image *img;

	if ((img = calloc(1, sizeof(*img))) == NULL) {
		reloader_set_error(r, "out of memory");
		return NULL;
	}
	img->gen = gen;
	if (copy_make(r, path, name, gen, &img->copy, &img->st,
	    copied_ms) == -1) {
		free(img);
		return NULL;
	}
	proto_stamp_format(&img->st, img->stamp, sizeof(img->stamp));
	if (img->st.kind == STAMP_VERSION)
		stamp_format_value(&img->st, img->vsn, sizeof(img->vsn));
	else
		snprintf(img->vsn, sizeof(img->vsn), "%s", img->stamp);
	return img;
}

/* Loads an image from its copy, checks the symbols every version must
 * have and finds its hooks. */
static int
module_image_load(reloader_t *r, struct reloader_image *img,
    const char *path, char **required)
{
	const char *e;
	size_t i;

	dlerror();
	if ((img->handle = dlopen(img->copy, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		e = dlerror();
		reloader_set_error(r, "%s: %s", path, e != NULL ? e :
		    "dlopen failed");
		return -1;
	}
	for (i = 0; required != NULL && required[i] != NULL; i++) {
		if (dlsym(img->handle, required[i]) == NULL) {
			reloader_set_error(r, "%s lacks the required symbol "
			    "\"%s\"", path, required[i]);
			dlclose(img->handle);
			img->handle = NULL;
			return -1;
		}
	}
	img->code_change = (reloader_code_change_fn *)module_own_sym(
	    img->handle, RELOADER_HOOK_CODE_CHANGE);
	img->test = (reloader_test_fn *)module_own_sym(img->handle,
	    RELOADER_HOOK_TEST);
	img->unload = (reloader_unload_fn *)module_own_sym(img->handle,
	    RELOADER_HOOK_UNLOAD);
	img->nodelete = module_nodelete(img->handle);
	return 0;
}

/* Unloads an image that is being given up or purged: runs its unload hook
 * with state, then dlcloses it, unless a hook crashed in it.  Appends
 * what went wrong to reason. */
static void
module_image_unload(struct reloader_image *img, void *state, char *reason,
    size_t len)
{
	size_t n = strlen(reason);
	int sig;

	if (!img->crashed && img->unload != NULL &&
	    (sig = hook_unload(img->unload, state)) != 0) {
		img->crashed = 1;
		snprintf(reason + n, len - n, "%sreloader_unload crashed: %s; "
		    "its image is left mapped", n > 0 ? "; " : "",
		    hook_signame(sig));
	}
	if (!img->crashed && img->handle != NULL) {
		dlclose(img->handle);
		img->handle = NULL;
	}
}

/* Holds new calls to m and waits until none is inside its current
 * version; returns 0, or how many stayed inside past the timeout (then
 * nothing is held). */
static unsigned int
module_hold(reloader_module_t *m, unsigned int timeout)
{
	struct timespec ts;
	unsigned int left;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += timeout / 1000;
	ts.tv_nsec += (long)(timeout % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&m->lock);
	m->held = 1;
	m->holder = pthread_self();
	while (m->cur->pins > 0) {
		if (pthread_cond_timedwait(&m->cond, &m->lock, &ts) ==
		    ETIMEDOUT)
			break;
	}
	if ((left = m->cur->pins) > 0) {
		m->held = 0;
		pthread_cond_broadcast(&m->cond);
	}
	pthread_mutex_unlock(&m->lock);
	return left;
}

/* Lets calls into m go on. */
static void
module_release(reloader_module_t *m)
{
	pthread_mutex_lock(&m->lock);
	m->held = 0;
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
}

/*
 * Unloads m's old version: at once if no call is inside it, or by force
 * at the deadline.  Runs its unload hook (with NULL if its state passed
 * on to the current version as it was, else with the state the current
 * version replaced, to free), dlcloses it, checks whether it really left
 * memory, removes its copy, and tells the host and the daemon.  An image
 * that calls are still inside is kept (unloaded) until they leave.
 * Returns the ms it took.
 */
static double
module_purge(reloader_module_t *m)
{
	reloader_t *r = m->r;
	struct reloader_image *img;
	struct reloader_event ev;
	char reason[RL_ERR_MAX] = "";
	unsigned int calls;
	double t0 = reloader_now();
	int unmapped, keep;

	pthread_mutex_lock(&m->lock);
	img = m->old;
	m->old = NULL;
	calls = img->pins;
	pthread_mutex_unlock(&m->lock);

	/* A state the new version replaced, rather than took over, is the
	 * old version's to free. */
	module_image_unload(img, img->state != m->cur->state ? img->state :
	    NULL, reason, sizeof(reason));
	unmapped = !module_mapped(img->copy);
	if (!unmapped && reason[0] == '\0')
		snprintf(reason, sizeof(reason), "%s", img->nodelete ?
		    "RTLD_NODELETE" : "still mapped after dlclose (a unique "
		    "symbol or a thread-local destructor keeps it)");
	/* Its copy stays, for a rollback, unless it is the very version
	 * that runs now (a forced reload): then the one kept before stays
	 * the one to go back to. */
	if (stamp_equal(&img->st, &m->cur->st))
		copy_remove(&img->copy);
	else {
		copy_remove(&m->kept);
		m->kept_stale = 0;
		m->kept = img->copy;
		snprintf(m->kept_stamp, sizeof(m->kept_stamp), "%s",
		    img->stamp);
		img->copy = NULL;
	}

	memset(&ev, 0, sizeof(ev));
	ev.type = RELOADER_EV_PURGE;
	ev.module = m;
	ev.name = m->name;
	ev.path = m->path;
	ev.stamp = img->stamp;
	ev.reason = reason;
	ev.unmapped = unmapped;
	ev.forced = calls > 0;
	ev.calls = calls;
	reloader_queue(r, &ev);
	conn_purged(r, m, img->stamp, unmapped, t0 - img->replaced, reason);

	/* Calls still inside keep the struct until they leave. */
	pthread_mutex_lock(&m->lock);
	if ((keep = img->pins > 0)) {
		img->purged = 1;
		img->next = m->gone;
		m->gone = img;
	}
	pthread_mutex_unlock(&m->lock);
	if (!keep)
		free(img);

	return reloader_now() - t0;
}

/* Purges m's old version if it is free, or due by the deadline; returns
 * 0 if there is no old version any more, -1 if it stays. */
static int
module_purge_if(reloader_module_t *m, double now)
{
	reloader_t *r = m->r;
	unsigned int pins;

	if (m->old == NULL)
		return 0;
	pthread_mutex_lock(&m->lock);
	pins = m->old->pins;
	pthread_mutex_unlock(&m->lock);
	if (pins > 0 && (r->purge_deadline == 0 ||
	    now < m->old->replaced + r->purge_deadline))
		return -1;
	module_purge(m);
	return 0;
}

/* Purges every old version that is free or due, and closes the modules
 * that left their set once no call is inside them; while purges wait for
 * the host's events (events_first), does nothing. */
void
module_purge_due(reloader_t *r)
{
	reloader_module_t *m;
	double now = reloader_now();

	if (r->events_first)
		return;
	for (m = r->modules; m != NULL; m = m->next) {
		if (m->kept_stale) {
			copy_remove(&m->kept);
			m->kept_stale = 0;
		}
		module_purge_if(m, now);
	}
	if (r->removing > 0)
		module_reap(r);
}

/* Returns when the next old version falls due (ms, monotonic), or -1. */
double
module_next_deadline(reloader_t *r)
{
	reloader_module_t *m;
	double next = -1, t;

	if (r->purge_deadline == 0)
		return -1;
	for (m = r->modules; m != NULL; m = m->next) {
		if (m->old == NULL)
			continue;
		t = m->old->replaced + r->purge_deadline;
		if (next < 0 || t < next)
			next = t;
	}
	return next;
}

/* Finds an open module by name (not one that left its set). */
reloader_module_t *
module_find(reloader_t *r, const char *name)
{
	reloader_module_t *m;

	for (m = r->modules; m != NULL; m = m->next)
		if (!m->removing && strcmp(m->name, name) == 0)
			return m;
	return NULL;
}

/* Tells the host how a module's reload ended (RELOAD), that a set's
 * module was opened (ADDED, res its first load) or leaves (REMOVED, res
 * NULL).  A module with no version yet (a set's, whose first load
 * failed) is not the host's: it is named, not passed. */
void
module_event(reloader_module_t *m, enum reloader_event_type type,
    const struct rl_result *res)
{
	struct reloader_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.type = type;
	ev.module = m->cur != NULL ? m : NULL;
	ev.set = m->set;
	ev.name = m->name;
	ev.path = m->path;
	ev.stamp = m->stamp;
	if (res != NULL) {
		ev.status = res->status;
		ev.stamp = res->stamp;
		ev.was = type == RELOADER_EV_RELOAD ? res->was : NULL;
		ev.reason = res->reason;
		ev.load_ms = res->load_ms > 0 ? res->load_ms : 0;
		ev.state_ms = res->state_ms > 0 ? res->state_ms : 0;
		ev.test_ms = res->test_ms > 0 ? res->test_ms : 0;
		ev.rollback = res->rollback;
		ev.failed = res->failed;
		ev.at = res->at > 0 ? res->at / 1000 : 0;
	}
	reloader_queue(m->r, &ev);
}

/* Appends to a reason, after a "; " if it holds something already. */
static void
module_reason(struct rl_result *res, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
module_reason(struct rl_result *res, const char *fmt, ...)
{
	size_t n = strlen(res->reason);
	va_list ap;

	if (n > 0 && n + 2 < sizeof(res->reason)) {
		memcpy(res->reason + n, "; ", 3);
		n += 2;
	}
	va_start(ap, fmt);
	vsnprintf(res->reason + n, sizeof(res->reason) - n, fmt, ap);
	va_end(ap);
}

/* Starts a result: nothing tried yet, the current version (if any)
 * runs. */
static void
module_result_init(reloader_module_t *m, struct rl_result *res)
{
	memset(res, 0, sizeof(*res));
	res->status = RELOADER_OK;
	res->load_ms = res->copied_ms = res->state_ms = res->test_ms =
	    res->purge_ms = -1;
	snprintf(res->stamp, sizeof(res->stamp), "%s", m->stamp);
	snprintf(res->was, sizeof(res->was), "%s", m->stamp);
}

/* Purges m's old version if it can go; otherwise refuses the switch, as
 * Erlang's not_purged, and returns -1. */
static int
module_need_purged(reloader_module_t *m, struct rl_result *res, double now)
{
	unsigned int left;

	if (module_purge_if(m, now) == 0)
		return 0;
	pthread_mutex_lock(&m->lock);
	left = m->old->pins;
	pthread_mutex_unlock(&m->lock);
	res->status = RELOADER_LOAD_FAILED;
	res->failed = "purge";
	module_reason(res, "old version of %s still has %u call%s inside "
	    "(not purged)", m->name, left, left == 1 ? "" : "s");
	return -1;
}

/* Runs a hook of img under the guard and says how it went: 0 if it
 * returned 0; else -1, with the reason in res and, after a crash, img
 * marked never to be unloaded. */
static int
module_hook(struct reloader_image *img, const char *hook, int sig, int rc,
    struct rl_result *res)
{
	if (sig != 0) {
		img->crashed = 1;
		module_reason(res, "%s crashed: %s; its image is left mapped",
		    hook, hook_signame(sig));
		return -1;
	}
	if (rc != 0) {
		module_reason(res, "%s returned %d", hook, rc);
		return -1;
	}
	return 0;
}

/*
 * Prepares img, a new version of m whose copy is made: loads it, checks
 * its symbols, migrates the state into a new one (calls into m held from
 * then on, until the commit or the give-up) and runs its test hook, but
 * makes nothing current: img becomes m->prep.  If a step fails, gives
 * img up and leaves m as it was, and returns -1.  m has no old version
 * and may have no current one yet (its first load: its init is
 * reloader_code_change(NULL, NULL, &state)).  Takes img over.  t0 is
 * when the switch began, for res->load_ms.
 */
static int
module_ready(reloader_module_t *m, struct reloader_image *img,
    struct rl_result *res, double t0)
{
	reloader_t *r = m->r;
	struct reloader_image *cur = m->cur;
	void *old_state = cur != NULL ? cur->state : NULL;
	void *new_state = old_state;
	unsigned int left;
	double t1;
	int rc, sig, held = 0;

	if (module_image_load(r, img, m->path, m->required) == -1) {
		res->status = RELOADER_LOAD_FAILED;
		res->failed = "load";
		module_reason(res, "%s", r->err);
		module_image_free(img);
		return -1;
	}
	img->m = m;
	res->load_ms = reloader_now() - t0;

	if (img->code_change != NULL) {
		res->failed = "code-change";
		if (cur != NULL && (left = module_hold(m,
		    r->drain_timeout)) > 0) {
			module_reason(res, "%u call%s stayed inside %s past "
			    "the drain timeout of %u ms", left,
			    left == 1 ? "" : "s", m->name, r->drain_timeout);
			goto giveup;
		}
		held = cur != NULL;
		t1 = reloader_now();
		sig = hook_code_change(img->code_change, cur != NULL ?
		    cur->vsn : NULL, old_state, &new_state, &rc);
		res->state_ms = reloader_now() - t1;
		if (module_hook(img, RELOADER_HOOK_CODE_CHANGE, sig, rc,
		    res) == -1)
			goto giveup;
	}
	res->failed = "";
	if (img->test != NULL) {
		t1 = reloader_now();
		sig = hook_test(img->test, new_state, &rc);
		res->test_ms = reloader_now() - t1;
		if (module_hook(img, RELOADER_HOOK_TEST, sig, rc, res) == -1) {
			res->failed = "test";
			if (sig != 0 || r->test_policy != RELOADER_TEST_KEEP)
				goto giveup;
			res->status = RELOADER_TEST_FAILED;
		}
	}
	if (cur != NULL && cur->code_change != NULL &&
	    img->code_change == NULL)
		module_reason(res, "new version has no reloader_code_change "
		    "(the old one had); state passed on unchanged");
	img->state = new_state;
	m->prep = img;
	m->prep_held = held;
	/* What it would switch to: a prepare's answer. */
	snprintf(res->stamp, sizeof(res->stamp), "%s", img->stamp);
	return 0;

giveup:
	res->status = RELOADER_ROLLED_BACK;
	if (!img->crashed)
		module_image_unload(img, new_state != old_state ? new_state :
		    NULL, res->reason, sizeof(res->reason));
	module_image_free(img);
	if (held)
		module_release(m);
	return -1;
}

/*
 * Prepares the next version of m: from its file, if the file's stamp
 * differs from the current version's or force is set (the daemon's
 * forced reload); or, when to is not NULL, the version the last switch
 * replaced, whose stamp must be to (a rollback).  Called with r->lock
 * held.  Returns 0 with m->prep set, or with res->changed 0 when there
 * is nothing to do; -1 when it failed, with nothing changed.
 */
int
module_prepare(reloader_module_t *m, struct rl_result *res, int force,
    const char *to)
{
	reloader_t *r = m->r;
	struct reloader_image *img;
	double t0 = reloader_now();

	module_result_init(m, res);
	res->rollback = to != NULL;
	if (m->prep != NULL) {
		res->changed = 1;
		res->status = RELOADER_LOAD_FAILED;
		res->failed = "load";
		module_reason(res, "a switch of %s is already prepared",
		    m->name);
		return -1;
	}
	if (to != NULL) {
		res->changed = 1;
		/* Not offered again after the purge: a rollback is asked
		 * for. */
		if (module_need_purged(m, res, t0) == -1)
			return -1;
		res->status = RELOADER_LOAD_FAILED;
		res->failed = "load";
		if (m->kept == NULL) {
			module_reason(res, "no previous version kept");
			return -1;
		}
		if (strcmp(m->kept_stamp, m->stamp) == 0) {
			module_reason(res, "the previous version kept is %s, "
			    "the one running: nothing to go back to",
			    m->kept_stamp);
			return -1;
		}
		if (strcmp(to, m->kept_stamp) != 0) {
			module_reason(res, "the previous version kept is %s, "
			    "not %s", m->kept_stamp, to);
			return -1;
		}
	}
	img = module_image_new(r, to != NULL ? m->kept : m->path, m->name,
	    ++m->gen, &res->copied_ms);
	if (img == NULL) {
		res->changed = 1;
		res->status = RELOADER_LOAD_FAILED;
		res->failed = "load";
		module_reason(res, "%s", r->err);
		return -1;
	}
	res->status = RELOADER_OK;
	res->failed = "";
	if (to == NULL && !force && m->cur != NULL &&
	    stamp_equal(&img->st, &m->cur->st)) {
		module_image_free(img);
		return 0;
	}
	res->changed = 1;
	/* At most two versions: the old one must go first.  The daemon
	 * offers the newest version again once the purge is reported. */
	if (to == NULL && module_need_purged(m, res, t0) == -1) {
		module_image_free(img);
		return -1;
	}
	return module_ready(m, img, res, t0);
}

/*
 * Makes the prepared version of each of the n modules current at once:
 * the pointers swapped with every module's lock held, so that calls wait
 * only for that instant and none sees one module switched and another
 * not; calls held for a migration go on, into the new versions.  The
 * versions replaced become old, to be purged.  Modules with nothing
 * prepared are left alone.  Fills the stamp and at of the results of
 * those switched; returns the time of the switch (ms, monotonic).
 */
double
module_commit(reloader_module_t **ms, struct rl_result **res, size_t n)
{
	reloader_module_t *m;
	double now;
	size_t i;

	for (i = 0; i < n; i++) {
		res[i]->at = 0;
		if (ms[i]->prep != NULL) {
			pthread_mutex_lock(&ms[i]->lock);
			res[i]->at = -1;        /* locked, to switch */
		}
	}
	now = reloader_now();
	for (i = 0; i < n; i++) {
		if (res[i]->at != -1)
			continue;
		m = ms[i];
		if (m->cur != NULL) {
			m->cur->replaced = now;
			m->old = m->cur;
		}
		m->cur = m->prep;
		m->prep = NULL;
		snprintf(m->stamp, sizeof(m->stamp), "%s", m->cur->stamp);
		m->held = m->prep_held = 0;
		pthread_cond_broadcast(&m->cond);
	}
	for (i = n; i-- > 0;)
		if (res[i]->at == -1)
			pthread_mutex_unlock(&ms[i]->lock);
	for (i = 0; i < n; i++) {
		if (res[i]->at != -1)
			continue;
		m = ms[i];
		res[i]->at = now;
		snprintf(res[i]->stamp, sizeof(res[i]->stamp), "%s", m->stamp);
		/* The copy kept from the switch before is no longer wanted:
		 * the old version's takes its place when it is purged,
		 * unless the new version is the same code (a forced
		 * reload).  In reloader_dispatch it goes in the purge pass,
		 * once the host has heard of the switch. */
		if (m->old != NULL && !stamp_equal(&m->cur->st, &m->old->st)) {
			if (m->r->events_first)
				m->kept_stale = 1;
			else
				copy_remove(&m->kept);
		}
	}
	return now;
}

/* Gives up m's prepared version, if any: unloads it with the state it
 * made (if it made one) and lets held calls go on; m stays as it was.
 * res, if not NULL, says so, why first. */
void
module_giveup(reloader_module_t *m, struct rl_result *res, const char *why)
{
	struct reloader_image *img = m->prep;
	char reason[RL_ERR_MAX] = "";
	void *old_state = m->cur != NULL ? m->cur->state : NULL;

	if (img == NULL)
		return;
	m->prep = NULL;
	if (res != NULL) {
		res->status = RELOADER_ROLLED_BACK;
		res->prepared = 0;
		res->failed = "";
		snprintf(res->stamp, sizeof(res->stamp), "%s", m->stamp);
		snprintf(res->reason, sizeof(res->reason), "%s", why);
	}
	module_image_unload(img, img->state != old_state ? img->state : NULL,
	    res != NULL ? res->reason : reason, res != NULL ?
	    sizeof(res->reason) : sizeof(reason));
	module_image_free(img);
	if (m->prep_held) {
		m->prep_held = 0;
		module_release(m);
	}
}

/* Switches m at once, as version 1 does, to what module_prepare made
 * ready; purges the old version if it can go, unless that waits until the
 * host has heard of the switch (events_first). */
static void
module_switch(reloader_module_t *m, struct rl_result *res)
{
	double t1;

	if (m->prep == NULL)
		return;
	module_commit(&m, &res, 1);
	if (m->r->events_first)
		return;
	t1 = reloader_now();
	if (module_purge_if(m, t1) == 0)
		res->purge_ms = reloader_now() - t1;
}

/*
 * Reloads m from its file at once, if the file's stamp differs from the
 * current version's or force is set.  Called with r->lock held.  res
 * says how it went; res->changed is 0 when there was nothing to do.
 */
void
module_reload(reloader_module_t *m, struct rl_result *res, int force)
{
	if (module_prepare(m, res, force, NULL) == 0)
		module_switch(m, res);
}

/*
 * Takes m back at once to the version the last switch replaced, from the
 * copy kept of it, as a reload does: the same two-version rule, hooks
 * and failures.  want is the stamp the daemon asks for; a kept version
 * that is not that one, or is the one running, is refused, since a
 * rollback that changes nothing, or changes to something else, must not
 * look like one that worked.  Called with r->lock held.
 */
void
module_rollback(reloader_module_t *m, const char *want, struct rl_result *res)
{
	if (module_prepare(m, res, 0, want) == 0)
		module_switch(m, res);
}

/* Copies a NULL-ended list of strings (NULL stays NULL) into *dst, which
 * module_strv_free() frees; -1 when out of memory. */
int
module_strv_dup(char ***dst, const char *const *src)
{
	size_t i, n = 0;

	*dst = NULL;
	if (src == NULL)
		return 0;
	while (src[n] != NULL)
		n++;
	if ((*dst = calloc(n + 1, sizeof(char *))) == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		if (((*dst)[i] = strdup(src[i])) == NULL) {
			module_strv_free(*dst);
			*dst = NULL;
			return -1;
		}
	}
	return 0;
}

/* Frees a list made by module_strv_dup(). */
void
module_strv_free(char **v)
{
	char **p;

	for (p = v; p != NULL && *p != NULL; p++)
		free(*p);
	free(v);
}

/* Unloads every version of m, removes its copies (the kept one too) and
 * frees it; m must be off r->modules. */
void
module_destroy(reloader_module_t *m)
{
	struct reloader_image *img, *next;
	char reason[RL_ERR_MAX] = "";

	module_giveup(m, NULL, NULL);
	if (m->old != NULL) {
		module_image_unload(m->old, m->cur != NULL &&
		    m->old->state != m->cur->state ? m->old->state : NULL,
		    reason, sizeof(reason));
		module_image_free(m->old);
	}
	if (m->cur != NULL) {
		module_image_unload(m->cur, m->cur->state, reason,
		    sizeof(reason));
		module_image_free(m->cur);
	}
	for (img = m->gone; img != NULL; img = next) {
		next = img->next;
		module_image_free(img);
	}
	copy_remove(&m->kept);
	module_strv_free(m->required);
	pthread_cond_destroy(&m->cond);
	pthread_mutex_destroy(&m->lock);
	free(m->name);
	free(m->path);
	free(m);
}

/* Allocates an empty module for path, with no version yet: it runs
 * nothing ("none:") and switches with its batch. */
reloader_module_t *
module_new(reloader_t *r, const char *path, const char *const *required)
{
	reloader_module_t *m;
	pthread_condattr_t ca;

	if ((m = calloc(1, sizeof(*m))) == NULL) {
		reloader_set_error(r, "out of memory");
		return NULL;
	}
	m->r = r;
	m->atomic = 1;
	snprintf(m->stamp, sizeof(m->stamp), "none:");
	if (pthread_condattr_init(&ca) != 0) {
		free(m);
		reloader_set_error(r, "out of memory");
		return NULL;
	}
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	if (pthread_cond_init(&m->cond, &ca) != 0) {
		pthread_condattr_destroy(&ca);
		free(m);
		reloader_set_error(r, "out of memory");
		return NULL;
	}
	pthread_condattr_destroy(&ca);
	if (pthread_mutex_init(&m->lock, NULL) != 0) {
		pthread_cond_destroy(&m->cond);
		free(m);
		reloader_set_error(r, "out of memory");
		return NULL;
	}
	if ((m->path = module_abspath(r, path)) == NULL)
		goto fail;
	if (module_strv_dup(&m->required, required) == -1) {
		reloader_set_error(r, "out of memory");
		goto fail;
	}
	return m;

fail:
	module_destroy(m);
	return NULL;
}

/*
 * Opens the module at path: loads its first version, runs its init
 * (reloader_code_change(NULL, NULL, &state)) and test hooks through the
 * same steps as a switch, and makes it current.  The module is neither
 * on r->modules nor registered yet (module_link).  Returns NULL with r's
 * error and res saying why.  Called with r->lock held.
 */
reloader_module_t *
module_open(reloader_t *r, const char *path, const char *const *required,
    struct rl_result *res)
{
	reloader_module_t *m, *other;
	struct reloader_image *img;
	char name[STAMP_MODULE_MAX];
	double t0 = reloader_now();

	memset(res, 0, sizeof(*res));
	res->status = RELOADER_LOAD_FAILED;
	res->failed = "load";
	if ((m = module_new(r, path, required)) == NULL)
		goto fail;
	module_result_init(m, res);
	m->gen = 1;
	if ((img = module_image_new(r, m->path, NULL, m->gen,
	    &res->copied_ms)) == NULL)
		goto fail;
	stamp_module_name(m->path, &img->st, name, sizeof(name));
	if ((other = module_find(r, name)) != NULL) {
		module_image_free(img);
		reloader_set_error(r, "%s: a module named %s is already open "
		    "(from %s)", path, name, other->path);
		goto fail;
	}
	if ((m->name = strdup(name)) == NULL) {
		module_image_free(img);
		reloader_set_error(r, "out of memory");
		goto fail;
	}
	res->changed = 1;
	/* From the first module on, a crash in any hook is caught. */
	hook_install();
	if (module_ready(m, img, res, t0) == -1) {
		/* A load failure names the file already. */
		if (strcmp(res->failed, "load") != 0)
			reloader_set_error(r, "%s: %s", path, res->reason);
		else
			reloader_set_error(r, "%s", res->reason);
		module_destroy(m);
		return NULL;
	}
	module_commit(&m, &res, 1);
	return m;

fail:
	res->status = RELOADER_LOAD_FAILED;
	res->failed = "load";
	snprintf(res->reason, sizeof(res->reason), "%s", r->err);
	if (m != NULL)
		module_destroy(m);
	return NULL;
}

/* Puts an opened module on r->modules and registers it. */
void
module_link(reloader_module_t *m)
{
	reloader_t *r = m->r;

	m->next = r->modules;
	r->modules = m;
	conn_register(r, m);
}

/* Takes m off r->modules; -1 if it was not there. */
int
module_unlink(reloader_module_t *m)
{
	reloader_module_t **p;

	for (p = &m->r->modules; *p != NULL; p = &(*p)->next) {
		if (*p == m) {
			*p = m->next;
			return 0;
		}
	}
	return -1;
}

/* Counts the calls inside any version of m. */
unsigned int
module_pins(reloader_module_t *m)
{
	struct reloader_image *img;
	unsigned int pins = 0;

	pthread_mutex_lock(&m->lock);
	if (m->cur != NULL)
		pins += m->cur->pins;
	if (m->old != NULL)
		pins += m->old->pins;
	for (img = m->gone; img != NULL; img = img->next)
		pins += img->pins;
	pthread_mutex_unlock(&m->lock);
	return pins;
}

/* Closes m for good: off r->modules, unregistered (unless it left its
 * set, and so is already), every version unloaded. */
void
module_close(reloader_module_t *m)
{
	reloader_t *r = m->r;

	module_unlink(m);
	if (m->removing)
		r->removing--;
	else
		conn_unregister(r, m);
	module_destroy(m);
}

/* Closes the modules that left their set, once no call is inside them
 * and the host heard RELOADER_EV_REMOVED (removing 2); they are
 * unregistered already. */
void
module_reap(reloader_t *r)
{
	reloader_module_t *m, *next;

	for (m = r->modules; m != NULL; m = next) {
		next = m->next;
		if (m->removing == 2 && module_pins(m) == 0)
			module_close(m);
	}
}

/* Loads a module's first version and runs its init and test hooks. */
reloader_module_t *
reloader_open(reloader_t *r, const char *path, const char *const *required)
{
	reloader_module_t *m;
	struct rl_result res;

	if (path == NULL || *path == '\0') {
		reloader_set_error(r, "reloader_open: no path");
		return NULL;
	}
	reloader_lock(r);
	if ((m = module_open(r, path, required, &res)) != NULL)
		module_link(m);
	reloader_unlock(r);
	return m;
}

/* Closes a module for good, unless a call is inside it. */
int
reloader_close(reloader_module_t *m)
{
	reloader_t *r;
	unsigned int pins;

	if (m == NULL)
		return 0;
	r = m->r;
	reloader_lock(r);
	if ((pins = module_pins(m)) > 0) {
		reloader_set_error(r, "cannot close %s: %u call%s still "
		    "inside", m->name, pins, pins == 1 ? " is" : "s are");
		reloader_unlock(r);
		return -1;
	}
	module_close(m);
	reloader_unlock(r);
	return 0;
}

/* Chooses whether m switches with the rest of its batch (1, the
 * default) or at once, on its own, as in protocol version 1 (0). */
void
reloader_set_atomic(reloader_module_t *m, int atomic)
{
	reloader_lock(m->r);
	m->atomic = atomic != 0;
	reloader_unlock(m->r);
}

/* Reloads a module from its file now, if it changed. */
enum reloader_status
reloader_reload(reloader_module_t *m)
{
	reloader_t *r = m->r;
	struct rl_result res;

	reloader_lock(r);
	module_reload(m, &res, 0);
	if (res.changed) {
		module_event(m, RELOADER_EV_RELOAD, &res);
		if (res.status == RELOADER_LOAD_FAILED ||
		    res.status == RELOADER_ROLLED_BACK)
			reloader_set_error(r, "%s: %s", m->name, res.reason);
		else
			conn_register(r, m);  /* the daemon's stamp is stale */
	}
	conn_timer_update(r);
	reloader_unlock(r);
	return res.status;
}

/* Returns the module's name. */
const char *
reloader_module_name(const reloader_module_t *m)
{
	return m->name;
}

/* Returns the stamp of the module's current version. */
const char *
reloader_module_stamp(const reloader_module_t *m)
{
	return m->stamp;
}

/* Pins the current version, waiting while calls are held. */
reloader_image_t *
reloader_enter(reloader_module_t *m)
{
	struct reloader_image *img;

	pthread_mutex_lock(&m->lock);
	/* A hook of the module may call into it while calls are held. */
	while (m->held && !pthread_equal(m->holder, pthread_self()))
		pthread_cond_wait(&m->cond, &m->lock);
	img = m->cur;
	img->pins++;
	pthread_mutex_unlock(&m->lock);
	return img;
}

/* Releases a pin; the last one on the old version wakes the dispatcher
 * to purge it. */
void
reloader_leave(reloader_image_t *img)
{
	reloader_module_t *m;
	struct reloader_image **p;
	uint64_t one = 1;
	int wake = 0, efd;

	if (img == NULL)
		return;
	m = img->m;
	efd = m->r->efd;
	pthread_mutex_lock(&m->lock);
	if (img->pins > 0)
		img->pins--;
	if (img->pins == 0) {
		if (img == m->old || m->removing)
			wake = 1;
		else if (img->purged) {
			for (p = &m->gone; *p != NULL; p = &(*p)->next) {
				if (*p == img) {
					*p = img->next;
					break;
				}
			}
			free(img);
		}
		pthread_cond_broadcast(&m->cond);
	}
	pthread_mutex_unlock(&m->lock);
	if (wake && write(efd, &one, sizeof(one)) == -1) {
		/* The counter is full, so a wakeup is pending anyway. */
	}
}

/* Looks a symbol up in a pinned version. */
void *
reloader_sym(reloader_image_t *img, const char *name)
{
	if (img == NULL || name == NULL || img->purged || img->handle == NULL)
		return NULL;
	return dlsym(img->handle, name);
}

/* Returns the module's state as a pinned version sees it. */
void *
reloader_state(reloader_image_t *img)
{
	return img != NULL ? img->state : NULL;
}
