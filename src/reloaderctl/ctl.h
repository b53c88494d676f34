/*
 * ctl.h: reloaderctl's private interfaces, grouped by file.
 *
 * reloaderctl speaks the Control part of docs/PROTOCOL.md to reloaderd:
 * one connection, one request at a time (each with its own id=), and the
 * subscription's events interleaved with the answers.
 */
#ifndef CTL_H
#define CTL_H

#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <sysexits.h>

#include "proto.h"

/* What conn_read found. */
#define CONN_LINE 0          /* a line, parsed */
#define CONN_EOF 1           /* the daemon closed the connection */
#define CONN_TIMEOUT 2       /* the deadline passed */
#define CONN_SIGNAL 3        /* a caught signal arrived (sig_pending) */
#define CONN_ERROR 4         /* a bad line or a failed read; see c->err */

/* A deadline that takes only what has already come. */
#define CONN_NOWAIT (-1LL)

/* What conn_answer found. */
#define ANS_DATA 10          /* a data line of the answer */
#define ANS_OK 11            /* the closing "ok" line */
#define ANS_ERROR 12         /* an "error" line */

struct conn;

/* Where lines that answer no request go: events, sources-changed,
 * followed log lines. */
typedef void conn_event_fn(struct conn *, struct proto_msg *, void *);

/* The one connection to the daemon. */
struct conn {
	int fd;                          /* -1 when not connected */
	const char *path;                /* the socket */
	char in[PROTO_MAX_LINE];         /* what one read brings */
	struct linebuf lines;            /* cut into lines */
	char line[PROTO_MAX_LINE + 1];   /* the line last parsed */
	char out[PROTO_MAX_LINE + 1];    /* the line being sent */
	unsigned long nextid;            /* id= of the next request */
	long long deadline;              /* ms on the monotonic clock, 0 or
	                                    CONN_NOWAIT */
	char err[PROTO_MAX_LINE + 256];  /* why CONN_ERROR, or a failure */
	int errcode;                     /* the exit status that goes with it */
	conn_event_fn *on_event;
	void *arg;
};

/* What a reload, a rollback or a release waits for: per module a number
 * of results, or a number of batches and every result of them. */
struct wait {
	const char **modules;            /* NULL: wait by batches */
	unsigned long *want;             /* results wanted per module */
	unsigned long *got;
	size_t nmodules;
	unsigned long wantbatches;       /* batches wanted (by batches) */
	unsigned long *batch, *count, *bgot;  /* the batches seen */
	size_t nbatches;
	int armed;                       /* counting events from now on */
	int failed;                      /* some result was not ok */
	unsigned long results;           /* results printed */
	FILE *fp;                        /* where results are printed */
	const char *prefix;              /* before each result line */
};

/* A --watch pattern as the daemon's watch-sources takes it. */
struct watch_spec {
	const char *pattern;             /* as given */
	char *dir;                       /* absolute, symlinks resolved */
	char *match;                     /* relative to dir; NULL: every file */
};

/* The sources changed since the last build of "build --watch" began. */
struct watch_queue {
	char **paths;                    /* distinct */
	size_t npaths;
	char what[16];                   /* changed, created or removed */
	int busy;                        /* a build runs */
};

/* The options every command sees. */
struct opts {
	const char *socket;
	double timeout;                  /* seconds; 0 waits forever */
	int json;
	int verbose;
};

extern struct opts opts;
extern const char *ctl_progname;

/* reloaderctl.c */
void ctl_die(int, const char *, ...)
    __attribute__((noreturn, format(printf, 2, 3)));
void ctl_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void ctl_usage_error(const char *, ...)
    __attribute__((noreturn, format(printf, 1, 2)));
int ctl_getopt(int, char **, const char *, const struct option *, int);

/* conn.c */
int conn_open(struct conn *);
void conn_connect(struct conn *);
int conn_hello(struct conn *, struct proto_msg *);
void conn_close(struct conn *);
void conn_set_timeout(struct conn *, double);
long long conn_now(void);
unsigned long conn_start(struct conn *, struct proto_out *, const char *);
int conn_send(struct conn *, struct proto_out *);
void conn_send_or_die(struct conn *, struct proto_out *);
int conn_read(struct conn *, struct proto_msg *);
int conn_answer_try(struct conn *, unsigned long, struct proto_msg *);
int conn_answer(struct conn *, unsigned long, struct proto_msg *);
void conn_fail(struct conn *, int) __attribute__((noreturn));
void conn_error_die(struct conn *, const struct proto_msg *, const char *)
    __attribute__((noreturn));
int conn_error_status(const char *);
const char *conn_error_text(const struct proto_msg *, const char *,
    char *, size_t);
void conn_simple(struct conn *, const char *, struct proto_msg *);
void conn_expect_ok(struct conn *, unsigned long, const char *,
    struct proto_msg *);

/* sig.c */
extern volatile sig_atomic_t sig_pending;
extern volatile sig_atomic_t sig_from_user;
extern volatile sig_atomic_t sig_child;
void sig_catch(void);
void sig_restore(void);
void sig_forget_child(void);
const sigset_t *sig_waitmask(void);

/* out.c */
void out_init(void);
const char *out_color(const char *);
const char *out_reset(void);
void out_safe(FILE *, const char *);
char *out_vis(const char *, char *, size_t);
void out_json(FILE *, const char *, const struct proto_msg *);
void out_json_string(FILE *, const char *);
const char *out_stamp(const char *, char *, size_t);
const char *out_path(const char *);
const char *out_uptime(const char *, char *, size_t);
void out_flush(FILE *);
struct table *table_new(size_t);
void table_add(struct table *, const char *, ...);
void table_cell(struct table *, const char *, const char *);
void table_row(struct table *);
void table_print(struct table *, FILE *, const char *);
void table_free(struct table *);

/* cmd.c */
int cmd_status(struct conn *, int, char **);
int cmd_list(struct conn *, int, char **);
int cmd_hold(struct conn *, int, char **);
int cmd_release(struct conn *, int, char **);
int cmd_tail(struct conn *, int, char **);
int cmd_subscribe(struct conn *, int, char **);

/* releases.c */
int cmd_releases(struct conn *, int, char **);

/* reload.c */
int cmd_reload(struct conn *, int, char **);
int cmd_rollback(struct conn *, int, char **);
void wait_init(struct wait *, FILE *, const char *);
void wait_module(struct wait *, const char *, unsigned long);
void wait_free(struct wait *);
void wait_event(struct conn *, struct proto_msg *, void *);
int wait_done(const struct wait *);
int wait_run(struct conn *, struct wait *);
void names_load(struct conn *);
void names_add(const char *, const char *, const char *);
const char *names_label(const char *, const char *, char *, size_t);
void result_print(FILE *, const char *, const struct proto_msg *);

/* build.c */
int cmd_build(struct conn *, int, char **);

/* watch.c */
size_t watch_split(const char *, const char **);
int watch_resolve(struct watch_spec *, const char *, char *, size_t);
void watch_spec_free(struct watch_spec *);
void watch_change(struct watch_queue *, const char *, const char *);
int watch_start(struct watch_queue *, char *, size_t);
void watch_done(struct watch_queue *);
void watch_free(struct watch_queue *);

#endif /* CTL_H */
