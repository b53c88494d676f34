/*
 * libreloader.h: libreloader's private interfaces, grouped by file.
 *
 * Locking.  Each handle has a mutex (r->lock) that every API function
 * taking a reloader_t or a module (other than the four call functions)
 * holds while it works, so that the library's own thread and the host's
 * threads can share a handle.  Each module has a mutex of its own
 * (m->lock) that guards what reloader_enter() and friends touch: the
 * current and old image, their pins and the hold flag.  The order is
 * r->lock, then m->lock; m->lock is never held while a hook runs.  Only
 * a commit holds several modules' locks at once (in the order of its
 * batch, always with r->lock held, so no other thread can take two).
 * Events are queued while r->lock is held and delivered by whoever
 * releases it (reloader_unlock), with no lock held.
 */
#ifndef LIBRELOADER_H
#define LIBRELOADER_H

/* Everything but the public API is built with -fvisibility=hidden. */
#pragma GCC visibility push(default)
#include "reloader.h"
#pragma GCC visibility pop

#include <sys/types.h>

#include <pthread.h>
#include <stddef.h>

#include "proto.h"
#include "stamp.h"

#define RL_ERR_MAX 512          /* an error or reason message */
#define RL_OUT_MAX (1024 * 1024) /* queued output before we give up */
#define RL_OUT_BATCH 65536      /* a batch's results held at most */
#define RL_BACKOFF_MIN 50       /* ms before the first retry */
#define RL_BACKOFF_MAX 2000     /* ms between retries at most */
#define RL_PROTO_MAX 2          /* the highest protocol version spoken */
#define RL_COMMIT_WAIT 10000    /* ms a prepared batch waits for the
				   daemon's commit or abort at most */

/* One loaded version of a module. */
struct reloader_image {
	reloader_module_t *m;
	void *handle;               /* from dlopen */
	char *copy;                 /* its private copy; NULL once removed */
	unsigned long gen;          /* generation, in the copy's name */
	struct stamp st;            /* of the bytes that were loaded */
	char stamp[PROTO_STAMP_MAX];/* the same as "kind:value" */
	char vsn[PROTO_STAMP_MAX];  /* what reloader_code_change sees */
	void *state;                /* the state as this version has it */
	unsigned int pins;          /* calls inside, under m->lock */
	int crashed;                /* a hook crashed in it: never dlclosed */
	int nodelete;               /* DF_1_NODELETE: it will stay mapped */
	int purged;                 /* hard-purged while calls were inside */
	double replaced;            /* when it stopped being current, ms */
	reloader_code_change_fn *code_change;
	reloader_test_fn *test;
	reloader_unload_fn *unload;
	struct reloader_image *next;/* in m->gone */
};

/* A module in all its versions. */
struct reloader_module {
	reloader_t *r;
	struct reloader_module *next;
	char *name;
	char *path;                 /* absolute */
	char **required;            /* NULL-ended, or NULL */
	pthread_mutex_t lock;
	pthread_cond_t cond;        /* pins dropped, calls released */
	struct reloader_image *cur; /* NULL until its first version is in */
	struct reloader_image *old;
	struct reloader_image *prep;/* prepared, not current until commit */
	struct reloader_image *gone;/* hard-purged images still pinned */
	int held;                   /* calls held for a state migration */
	int prep_held;              /* held since prep's migration */
	pthread_t holder;           /* the thread holding them */
	int atomic;                 /* switches with its batch (default) */
	struct reloader_set *set;   /* the set it came from, or NULL */
	int removing;               /* left its set: 1 until the host heard
				       so, then 2: closed once free */
	unsigned long gen;
	char *kept;                 /* the replaced version's copy: rollback */
	char kept_stamp[PROTO_STAMP_MAX]; /* its stamp */
	int kept_stale;             /* a switch superseded it: removed by
				       the purge pass after the events */
	char stamp[PROTO_STAMP_MAX];/* the current version's, for the host */
};

/* A set: the modules in a directory that match a pattern. */
struct reloader_set {
	reloader_t *r;
	struct reloader_set *next;
	unsigned long id;           /* its set= in the protocol */
	char *dir;                  /* absolute, as the host named it */
	char *pattern;
	char **required;            /* NULL-ended, or NULL */
};

/* An event waiting to be delivered, with copies of its strings. */
struct rl_event {
	struct reloader_event ev;
	char *name, *path, *stamp, *was, *reason;
	struct rl_event *next;
};

/* How one reload went, for the event and the daemon's result line. */
struct rl_result {
	enum reloader_status status;
	int changed;                /* a new version was tried */
	int rollback;               /* it was a rollback */
	int prepared;               /* ready, waiting for the commit */
	int alone;                  /* switched at once, outside the batch */
	double at;                  /* ms (monotonic) it became current, or 0 */
	const char *failed;         /* the step that failed: "load", "purge",
				       "code-change", "test"; "" if none */
	char stamp[PROTO_STAMP_MAX];/* what runs now */
	char was[PROTO_STAMP_MAX];  /* what ran before */
	char reason[RL_ERR_MAX];
	double load_ms;             /* each < 0 when the step did not run */
	double copied_ms;
	double state_ms;
	double test_ms;
	double purge_ms;
};

/* What a module line of a batch asks for (its action field). */
enum conn_action {
	CONN_LOAD = 0,      /* absent or "load" */
	CONN_ROLLBACK,      /* "rollback" */
	CONN_UNKNOWN        /* anything else: answered load-failed */
};

/* One module line of a batch from the daemon. */
struct conn_entry {
	char *module;
	enum conn_action action;
	char *stamp;                /* CONN_ROLLBACK: the stamp asked for */
	char *bad;                  /* CONN_UNKNOWN: the action as sent */
	int force;                  /* force=yes: load even if unchanged */
	int first;                  /* the module had no version yet */
	struct rl_result res;       /* how it went */
	struct conn_entry *next;
};

/* Where the connection to the daemon stands. */
enum conn_state {
	CONN_OFF = 0,       /* reloader_connect() not called */
	CONN_WAIT,          /* backing off before the next attempt */
	CONN_CONNECTING,    /* a non-blocking connect in progress */
	CONN_HELLO,         /* hello sent, waiting for welcome */
	CONN_READY          /* attached */
};

/* An attachment to the daemon. */
struct reloader {
	pthread_mutex_t lock;
	char err[RL_ERR_MAX];
	char *name;
	char *sockpath;
	enum reloader_test_policy test_policy;
	unsigned int purge_deadline;
	unsigned int drain_timeout;
	reloader_event_fn *cb;
	void *cbarg;
	int proto_max;              /* the highest version to speak */
	struct reloader_module *modules;
	struct reloader_set *sets;
	unsigned long nextset;
	unsigned int removing;      /* modules left their set, not closed */
	struct rl_event *events;    /* queued for delivery */
	struct rl_event **events_tail;
	char *dir;                  /* private directory of copies */

	int epfd;                   /* what reloader_fd() returns */
	int tfd;                    /* timerfd: retries and purge deadlines */
	int efd;                    /* eventfd: wakeups from other threads */

	enum conn_state state;
	int sock;
	int dead;                   /* socket failed: drop at a safe point */
	int pollout;                /* EPOLLOUT is being watched */
	unsigned int backoff;       /* ms, the next wait */
	double retry_at;            /* ms, monotonic */
	char in[PROTO_MAX_LINE];    /* what one read brings */
	struct linebuf lines;       /* cut into lines */
	unsigned long long lineno;  /* lines received on this connection */
	char *out;
	size_t outlen, outcap;
	char *later;                /* lines held until the batch is done */
	size_t laterlen, latercap;
	int proto;                  /* the version the daemon chose */
	int in_batch;
	int events_first;           /* reloader_dispatch is at work: purges
				       and output wait until the host has
				       heard of its switches */
	int batch_open;
	int batch_prepare;          /* the batch is a prepare (version 2) */
	int prepared;               /* it was prepared: commit or abort due */
	double prepared_at;         /* when, ms (monotonic) */
	unsigned long long batch_id, batch_count, batch_n;
	struct conn_entry *batch, **batch_tail;
	char daemon_err[RL_ERR_MAX];/* the daemon's last error line */

	int threaded;
	pthread_t thread;
	int stopfd;
};

/* reloader.c */
void reloader_set_error(reloader_t *, const char *, ...)
    __attribute__((format(printf, 2, 3)));
void reloader_lock(reloader_t *);
void reloader_unlock(reloader_t *);
void reloader_queue(reloader_t *, const struct reloader_event *);
double reloader_now(void);

/* batch.c */
void batch_free(reloader_t *);
void batch_run(reloader_t *);
void batch_prepare(reloader_t *);
int batch_holding(reloader_t *);
void batch_commit(reloader_t *);
void batch_abort(reloader_t *, const char *, int);

/* conn.c */
int conn_init(reloader_t *);
void conn_send(reloader_t *, struct proto_out *);
void conn_send_held(reloader_t *);
void conn_send_now(reloader_t *);
void conn_free(reloader_t *);
void conn_register(reloader_t *, reloader_module_t *);
void conn_unregister(reloader_t *, reloader_module_t *);
void conn_purged(reloader_t *, reloader_module_t *, const char *, int,
    double, const char *);
void conn_result(reloader_t *, unsigned long long, const char *,
    const struct rl_result *);
void conn_timer_update(reloader_t *);
void conn_watch_set(reloader_t *, const struct reloader_set *);
void conn_unwatch_set(reloader_t *, const struct reloader_set *);

/* module.c */
char *module_abspath(reloader_t *, const char *);
int module_prepare(reloader_module_t *, struct rl_result *, int,
    const char *);
double module_commit(reloader_module_t **, struct rl_result **, size_t);
void module_giveup(reloader_module_t *, struct rl_result *, const char *);
void module_reload(reloader_module_t *, struct rl_result *, int);
void module_rollback(reloader_module_t *, const char *, struct rl_result *);
void module_event(reloader_module_t *, enum reloader_event_type,
    const struct rl_result *);
void module_purge_due(reloader_t *);
double module_next_deadline(reloader_t *);
reloader_module_t *module_find(reloader_t *, const char *);
reloader_module_t *module_new(reloader_t *, const char *,
    const char *const *);
reloader_module_t *module_open(reloader_t *, const char *,
    const char *const *, struct rl_result *);
void module_link(reloader_module_t *);
int module_unlink(reloader_module_t *);
unsigned int module_pins(reloader_module_t *);
void module_close(reloader_module_t *);
void module_reap(reloader_t *);
int module_strv_dup(char ***, const char *const *);
void module_strv_free(char **);
void module_destroy(reloader_module_t *);

/* set.c */
void set_added(reloader_t *, const char *, const char *, const char *);
void set_removed(reloader_t *, const char *, const char *);
void set_free_all(reloader_t *);

/* copy.c */
int copy_dir(reloader_t *);
int copy_make(reloader_t *, const char *, const char *, unsigned long,
    char **, struct stamp *, double *);
void copy_remove(char **);
void copy_dir_remove(reloader_t *);

/* hook.c */
int hook_code_change(reloader_code_change_fn *, const char *, void *,
    void **, int *);
int hook_test(reloader_test_fn *, void *, int *);
int hook_unload(reloader_unload_fn *, void *);
void hook_install(void);
void hook_release(void);
void hook_keep_stack(void);
void hook_drop_stack(void);
const char *hook_signame(int);

/* thread.c */
void thread_stop(reloader_t *);

#endif /* LIBRELOADER_H */
