/*
 * reloaderd.h: the daemon's private interfaces, grouped by file.
 */
#ifndef RELOADERD_H
#define RELOADERD_H

#include <sys/types.h>
#include <sys/stat.h>

#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <ev.h>

#include "proto.h"
#include "stamp.h"

struct proto_msg;
struct proto_out;

/* How a root is watched. */
enum backend {
	BACKEND_AUTO = 0,  /* inotify, polling where inotify cannot serve */
	BACKEND_INOTIFY,
	BACKEND_POLL
};

/* Which processes of a two-phase batch switch together. */
enum switch_mode {
	SWITCH_TOGETHER = 0,        /* every process of the batch */
	SWITCH_PER_PROCESS          /* each process on its own */
};

/* The highest protocol version the daemon speaks (docs/PROTOCOL.md). */
#define RELOADERD_PROTO_MAX 2

/* One watched directory as configured. */
struct root_conf {
	char *path;        /* absolute, normalised */
	char *display;     /* as the user wrote it; used in log lines */
	char **include;    /* NULL-terminated glob list */
	char **exclude;    /* NULL-terminated glob list */
	enum backend backend;
	char *where;       /* "file:line" or "-w" that defined it */
};

/* A whole configuration; built fresh and swapped in only when good. */
struct config {
	char *file;            /* config file read, or NULL */
	char *socket;          /* control socket path */
	char *group;           /* group whose members may attach, or NULL */
	char *admin_group;     /* group whose members steer everyone */
	char *logfile;         /* log file, or NULL for stderr/syslog */
	int loglevel;          /* LOG_ERR .. LOG_DEBUG from <syslog.h> */
	enum backend backend;  /* default for roots */
	double interval;       /* poll interval, seconds, > 0 */
	double settle;         /* settle window, seconds, >= 0 */
	unsigned long max_clients;  /* connections attached at once */
	enum switch_mode switch_mode;  /* who switches together */
	double prepare_timeout;     /* seconds to prepare a two-phase batch */
	int follow_symlinks;   /* read files through links out of roots */
	char **include;        /* default include globs for roots */
	char **exclude;        /* default exclude globs for roots */
	struct root_conf *roots;
	size_t nroots;
};

/* An intrusive chained hash table; nodes carry their own next pointer. */
struct htab {
	void **buckets;
	size_t nbuckets;
	size_t count;
	size_t nextoff;                  /* offset of the next pointer */
	uint64_t (*hash)(const void *);  /* hash of a node's key */
};

/* The bytes of a stamp kept in a file's node: a build-id or an MD5 fits,
 * so that a file costs one allocation; a longer stamp, and a module name
 * other than the one the file's name gives, are kept aside (tree.c). */
#define FSTAMP_INLINE 20

/* The stamp a file had when last read, kept compactly in its node. */
struct fstamp {
	unsigned char kind;              /* enum stamp_kind */
	unsigned char len;
	unsigned char has;               /* FSTAMP_KNOWN | FSTAMP_MODULE */
	unsigned char in[FSTAMP_INLINE]; /* the bytes, if they fit */
};
#define FSTAMP_KNOWN	0x01             /* a read completed */
#define FSTAMP_MODULE	0x02             /* it names its module, unlike the
					    file's name; kept aside */

/* What is known of a file that matches a root's globs. */
enum file_state {
	FILE_NEW = 0,       /* seen, not yet read */
	FILE_OK,            /* stamp read from a complete file */
	FILE_INCOMPLETE,    /* still being written when last read */
	FILE_BAD,           /* not a module we can read */
	FILE_RETRY,         /* could not be read for now; tried again */
	FILE_GONE           /* vanished; removed unless it soon comes back */
};

struct dir;
struct root;

/* A file under a watched root that its globs select.  There are a
 * million of them in a big tree: every byte here counts (bench/README.md,
 * "Memory"). */
struct file {
	struct file *hnext;              /* in the path table */
	struct file *dnext, **dprev;     /* in its directory's list */
	struct dir *dir;                 /* its directory (maybe a ghost) */
	uint64_t sig;                    /* stat last seen (file_note_stat) */
	unsigned int seen;               /* scan generation that saw it */
	uint32_t qidx;                   /* its slot in the queue it is in */
	unsigned char state;             /* enum file_state */
	unsigned char gonegen;           /* grace period it vanished in */
	unsigned char err;               /* FILE_RETRY, FILE_BAD: errno, or 0 */
	unsigned char tries;             /* FILE_RETRY: reads failed so far */
	unsigned char queued : 2;        /* QUEUED_BATCH, QUEUED_UNREAD */
	unsigned char scanned : 1;       /* stat from the first scan, stamp
					    not read yet */
	unsigned char rewritten : 1;     /* scanned, and its stat moved */
	unsigned char racy : 1;          /* changed too recently to trust stat */
	unsigned char outside : 1;       /* a symlink out of every root */
	unsigned char source : 1;        /* a source, not a module: sig leaves
					    ctime out */
	struct fstamp sbuf;              /* its stamp, once a read completed */
	char name[];                     /* in its directory */
};

/* The bytes a file's node takes, with its name of len bytes. */
#define FILE_SIZE(len) (offsetof(struct file, name) + (len) + 1)

/* A queue of files, oldest first: an array, in which a file taken out
 * early leaves its slot empty, so that a file keeps 4 bytes for it. */
struct fqueue {
	struct file **v;
	uint32_t head, tail;             /* the slots in use: [head, tail) */
	uint32_t cap;
	uint32_t n;                      /* files in it */
};

/* A watched directory. */
struct dir {
	struct dir *wnext;               /* in the watch-descriptor table */
	struct dir *inext;               /* in the device/inode table */
	struct dir *parent;
	struct dir *child;               /* first subdirectory */
	struct dir *snext, **sprev;      /* among its siblings */
	struct file *files;
	struct root *root;
	dev_t dev;
	ino_t ino;
	int64_t mtime;                   /* ns: when its entries were last
					    read */
	uint64_t phash;                  /* hash of path and "/" */
	unsigned int seen;               /* scan generation that saw it */
	int wd;                          /* inotify watch, or -1 */
	unsigned int plen;               /* strlen(path) */
	unsigned int sweep_slot;         /* in the poll sweep under way: its
					    index + 1, or 0 */
	unsigned char racy;              /* mtime too recent to trust */
	unsigned char ghost;             /* gone; kept for its files */
	char path[];                     /* absolute */
};

/* The root a file is watched under. */
#define file_root(f) ((f)->dir->root)

/* A file name a client needs in an implicit root's directory. */
struct tname {
	struct tname *hnext;             /* in rd->tnames, by path */
	struct tname *next, **prev;      /* among its root's */
	struct root *root;
	char path[];                     /* absolute */
};

/* A root's glob, compiled (tree.c glob_compile). */
struct rglob {
	const char *glob;                /* NULL ends a list */
	size_t len;
	size_t pre;                      /* simple: bytes before the '*' */
	int simple;                      /* literal, one '*', literal */
	int slash;                       /* matches the relative path */
};

/* A watched directory tree, live. */
struct root {
	struct root *next;
	struct root *inext;              /* implicit: in rd->implicits */
	struct tname *names;             /* implicit: the files it is for */
	struct root_conf conf;           /* owned copy */
	struct rglob *include;           /* conf's globs, compiled */
	struct rglob *exclude;
	enum backend backend;            /* in use: inotify or poll */
	struct dir *top;                 /* NULL while the directory is gone */
	int missing_logged;
	int shadowed;                    /* inside another root's tree */
	int nospace;                     /* inotify ran out of watches */
	int implicit;                    /* made for clients' modules: one
					    directory, no subdirectories */
	size_t nfiles;
	size_t nunread;                  /* files whose stamp is not read */
	size_t nsites;                   /* implicit: wsites it is kept for */
	size_t nlisted;                  /* implicit: module sets that need
					    every entry, not only names */
	int lingering;                   /* implicit, needed by nobody */
	ev_tstamp idle_since;            /* lingering: since when */
};

/* What the kernel says about the peer of a client connection. */
struct cred {
	uid_t uid;
	gid_t gid;
	pid_t pid;
	gid_t *groups;                   /* supplementary groups */
	int ngroups;
};

struct client;
struct wpath;
struct upgrade;

/* Where a client's batch out stands. */
enum client_phase {
	PHASE_IDLE = 0,                  /* no batch out */
	PHASE_LOAD,                      /* version 1: results, then done */
	PHASE_PREPARE,                   /* prepare out: results, then done */
	PHASE_PREPARED,                  /* all prepared: waits for its group */
	PHASE_COMMIT,                    /* commit sent: waits for committed */
	PHASE_ABORT                      /* abort sent: waits for aborted */
};

/* A symlink, or a name not there yet, that a registered path's
 * resolution goes through: a change of it may send the path elsewhere. */
struct wsite {
	struct wsite *hnext;             /* in rd->sites, by path */
	struct wsite *next;              /* among its wpath's */
	struct wpath *wp;
	struct root *root;               /* implicit root it keeps, or NULL */
	dev_t dev;                       /* lstat when resolved; ino 0: */
	ino_t ino;                       /* nothing there */
	struct timespec ctime;
	char path[];                     /* real directory + "/" + name */
};

/* A file that registered paths resolve to now. */
struct wtarget {
	struct wtarget *hnext;           /* in rd->targets, by path */
	struct wpath *paths;             /* via tnext */
	char path[];                     /* absolute, as the tree knows it */
};

/* A path that clients have loaded modules from, as they named it: the
 * registration's identity, symlinks included. */
struct wpath {
	struct wpath *hnext;             /* in rd->wanted, by path */
	struct wpath *tnext;             /* among its target's */
	struct wpath *qnext;             /* in the re-resolution queue */
	struct wpath *lnext, **lprev;    /* in rd->linked, with sites */
	struct wtarget *target;          /* what it resolves to; NULL: none */
	struct wsite *sites;
	struct reg *regs;                /* registrations, via pnext */
	int queued;                      /* in the re-resolution queue */
	int err;                         /* why it does not resolve */
	char path[];                     /* absolute, lexically cleaned */
};

/* What a registration is waiting for (reg.c has what ends each). */
enum reg_state {
	REG_CURRENT = 0,                 /* runs what is on disk */
	REG_PENDING,                     /* disk differs: offered now */
	REG_HELD,                        /* disk differs: offered at release */
	REG_OFFERED,                     /* in the batch out */
	REG_FAILED,                      /* the disk's version failed */
	REG_DISCARDED,                   /* a failed build wrote it */
	REG_WAIT_PURGE,                  /* refused while old code runs */
	REG_ROLLED_BACK,                 /* went back on request */
	REG_PREPARED                     /* ready to switch with its group */
};

/* How long the poll backend's sweeps take against the interval. */
enum poll_pace {
	PACE_QUICK = 0,                  /* within it */
	PACE_SLOW                        /* longer: only loaded modules are
					    looked at every interval */
};

/* What an offer asks of the client. */
enum reg_action {
	REG_LOAD = 0,                    /* load the file on disk */
	REG_FORCE,                       /* load it even if the client runs it */
	REG_ROLLBACK                     /* go back to the previous version */
};

/* How a client's result ended, as the state machine needs it. */
enum reg_outcome {
	REG_OK = 0,                      /* ok, or test-failed and kept */
	REG_NOT_PURGED,                  /* load-failed failed=purge */
	REG_REFUSED,                     /* load-failed, rolled-back, none */
	REG_ABORTED                      /* prepared, then the switch aborted */
};

/* How an ok for an offer stands against it (reg_ok_check). */
enum reg_ok {
	REG_OK_AS_OFFERED = 0,           /* runs what was offered */
	REG_OK_OTHER,                    /* runs another version: the file
					    changed after it was read */
	REG_OK_UNCHANGED                 /* still runs what it ran */
};

/* One client's statement "I have module M from path P at stamp S". */
struct reg {
	struct reg *next;                /* among the client's */
	struct reg *pnext;               /* among the path's */
	struct client *c;
	struct wpath *wp;
	char *module;
	char *given;                     /* the path as the client sent it */
	char *origin;                    /* whence, as the client says: "otp"
					    for OTP's own modules; or NULL */
	enum reg_state state;
	enum reg_action action;          /* pending, held, offered: what */
	enum reg_state before;           /* where a rollback started */
	struct stamp have;               /* what the client runs */
	struct stamp prev;               /* what it ran before, for rollback */
	struct stamp offered;            /* what the batch out offers */
	struct stamp blocked;            /* the disk stamp held back */
	char *reason;                    /* the client's, for failed states */
	char *note;                      /* prepared: its times, for the log */
	double times[3];                 /* prepared: load, state, test ms */
	unsigned long batch;             /* the batch it was last offered in */
};

/* An attached process: its connection and what it has registered. */
struct client {
	struct client *next;
	int fd;                          /* -1 once dropped */
	ev_io rio, wio;
	struct cred cred;
	unsigned int id;
	char *name;                      /* from hello; NULL before it */
	long pid;                        /* from hello, for the log */
	char label[96];                  /* "name[pid]" or "client 3" */
	struct linebuf lines;            /* what it sent, cut into lines */
	unsigned long lineno;            /* lines received */
	int errors;                      /* erroneous lines in a row */
	char *out;                       /* queued output, or NULL */
	size_t outlen, outoff, outcap;
	struct reg *regs;                /* its registrations */
	size_t newregs;                  /* registered since last summary */
	char *regnote;                   /* the first of them, "M (path)", */
	char *regpath;                   /* and its path */
	unsigned long batch;             /* batch out, or 0 */
	unsigned long lastbatch;         /* the one before: node= results */
	size_t inbatch;                  /* modules of it not answered */
	int proto;                       /* protocol version it speaks */
	enum client_phase phase;         /* where its batch out stands */
	struct upgrade *upgrade;         /* the switch it takes part in */
	size_t nprepared;                /* modules answered prepared */
	char *failure;                   /* why its prepare failed, or NULL */
	int dirty;                       /* some registration is pending */
	struct client *dnext;            /* in rd->dirtyq */
	int dqueued;                     /* in rd->dirtyq */
	int dead;                        /* dropped; freed by clients_reap */
	int control;                     /* said hello with role=control */
	int subscribed;                  /* gets event lines */
	int following;                   /* gets log lines as they happen */
	const char *reqid;               /* id= of the request being handled */
	ev_tstamp since;                 /* when it said hello */
};

/* How long a hold lasts. */
enum hold_scope {
	HOLD_CONNECTION = 0,             /* until its connection closes */
	HOLD_DAEMON                      /* until a release */
};

/* Whom a hold keeps reloads from. */
enum hold_reach {
	HOLD_EVERYONE = 0,               /* every client: an admin's hold */
	HOLD_UID                         /* the clients of one uid */
};

/* A hold on reloads (hold.c). */
struct hold {
	struct hold *next;
	struct client *owner;            /* who took it; NULL once gone */
	enum hold_scope scope;
	enum hold_reach reach;
	uid_t uid;                       /* HOLD_UID: whose */
};

/* Whether a peer could read a file: what it may be told of it. */
enum cred_sight {
	CRED_SEES = 0,                   /* all: it could read the file */
	CRED_SEES_PATH,                  /* the path, not the stamps */
	CRED_BLIND                       /* neither: a directory is shut */
};

/* What the daemon has done since it started, for `status`. */
struct stats {
	unsigned long changes;           /* modules added, changed, removed */
	unsigned long batches;           /* reload batches sent */
	unsigned long offered;           /* modules offered in them */
	unsigned long ok, loadfailed, rolledback, testfailed;
	unsigned long remote;            /* results from other nodes */
	unsigned long rollbacks;         /* rollbacks that succeeded */
};

/* The daemon's state. */
struct daemon {
	struct ev_loop *loop;
	struct config conf;
	struct root *roots;
	struct htab files;               /* by path */
	struct htab dirs_wd;             /* by inotify watch descriptor */
	struct htab dirs_ino;            /* by device and inode */
	struct htab implicits;           /* implicit roots, by path */
	struct htab tnames;              /* their files' names, by path */
	/* Every timer the daemon starts is named in loop_timing() (loop.c). */
	ev_timer linger_ev;              /* drops implicit roots let go */
	int ifd;                         /* inotify instance, or -1 */
	ev_io inotify_ev;
	ev_timer poll_ev;
	ev_timer sweep_ev;               /* the poll sweep's next slice */
	ev_timer settle_ev;
	ev_timer gone_ev;                /* grace period for vanished files */
	size_t ngone;
	unsigned char gonegen;
	ev_tstamp batch_start;
	struct fqueue queue;             /* files to read when it settles */
	struct fqueue unread;            /* stamps to read in the */
	size_t nunread;                  /* background, and how many */
	size_t nread;                    /* read by it since it started */
	ev_timer read_ev;                /* reads them, a slice a turn */
	ev_timer read_gate_ev;           /* tests: waits for the gate */
	ev_tstamp read_start;
	int *awatch;                     /* ancestor watches, missing roots */
	size_t nawatch;
	unsigned int scangen;
	int inotify_failed;              /* inotify_init1 failed; logged */
	int lfd;                         /* listening socket, or -1 */
	ev_io listen_ev;
	char *sockpath;                  /* the socket we made, to unlink */
	int has_group;                   /* conf.group resolved: */
	gid_t group;                     /* its gid */
	int has_admin_group;             /* conf.admin_group resolved: */
	gid_t admin_group;               /* its gid */
	struct client *clients;
	struct client *dirtyq;           /* clients that may have a batch */
	int flush_all;                   /* dirty set directly: look at all */
	size_t ndead;                    /* dropped, not reaped yet */
	struct htab wanted;              /* registered paths, by path */
	struct htab targets;             /* files they resolve to, by path */
	struct htab sites;               /* symlinks they go through */
	struct wpath *linked;            /* wanted paths with sites */
	struct wpath *requeue;           /* wanted paths to resolve again */
	void **retry;                    /* files to read again, and */
	size_t nretry;                   /* how many */
	void **retry_dirs;               /* directories to list again */
	size_t nretry_dirs;
	ev_timer retry_ev;
	ev_timer regsum_ev;              /* sums registrations up, per client */
	double retry_wait;               /* seconds, doubled per round */
	unsigned int nextclient;         /* id of the next client */
	unsigned long nextbatch;         /* id of the next reload batch */
	ev_tstamp started;               /* for uptime */
	int holds;                       /* holds in effect (all kinds) */
	struct stats stats;
};

extern struct daemon *rd;

/* hash.c */
uint64_t hash_bytes(const void *, size_t, uint64_t);
uint64_t hash_str(const char *);
void htab_init(struct htab *, size_t, uint64_t (*)(const void *));
void *htab_first(const struct htab *, uint64_t);
void *htab_next(const struct htab *, const void *);
void htab_insert(struct htab *, void *);
void htab_remove(struct htab *, void *);
void htab_free(struct htab *);

/* Where a file is queued (struct file's queued). */
#define QUEUED_BATCH  1              /* read when the batch settles */
#define QUEUED_UNREAD 2              /* its first stamp read while idle */

/* What file_check found. */
#define CHECK_NOTHING 0
#define CHECK_ADDED   1
#define CHECK_CHANGED 2
#define CHECK_REMOVED 3
#define CHECK_FORGOTTEN 4             /* freed: it never held a module */

/* tree.c */
struct root *root_new(const struct root_conf *);
void root_free(struct root *);
void root_arm(struct root *, int);
void root_disarm(struct root *);
void root_fallback(struct root *, const char *);
void roots_retry(void);
int root_globs(const struct root *, const char *);
int root_matches(const struct root *, const char *);
const char *root_display(const struct root *, const char *);
struct dir *dir_add(struct root *, struct dir *, const char *,
    const struct stat *);
void dir_remove(struct dir *);
struct dir *dir_child(struct dir *, const char *);
void dir_scan(struct dir *, int, int);
struct file *file_lookup(const char *);
const char *file_path(const struct file *);
struct file *file_get(struct root *, struct dir *, const char *);
int file_check(struct file *, int);
int file_stat_differs(const struct file *, const struct stat *);
int file_gone(struct file *);
void file_detach(struct file *);
void file_free(struct file *);
uint64_t file_hash(const void *);
uint64_t dir_hash_wd(const void *);
uint64_t dir_hash_ino(const void *);
void tree_init(void);
void tree_free(void);
struct dir *dir_by_wd(int);
struct dir *dir_by_ino(dev_t, ino_t);

struct file *tree_track(const char *);
void tree_untrack(const char *);
struct root *tree_site_watch(const char *);
void tree_site_unwatch(struct root *);
struct root *tree_list_watch(const char *);
int tree_source_seen(const char *);
void tree_sources_forget(const char *);
void tree_list_unwatch(struct root *);
int file_stamp(const struct file *, struct stamp *);
int file_has_stamp(const struct file *);
int64_t tree_ns(const struct timespec *);
void file_module_name(const struct file *, char *, size_t);
void tree_links_recheck(void);

/* batch.c */
void batch_init(void);
void batch_arm(void);
void batch_due(void);
void batch_queue(struct file *);
void batch_unqueue(struct file *);
void batch_run(void);
void batch_catch_up(void);
void batch_gone(struct file *);
void batch_unread(struct file *);
int batch_check(struct file *, int);
void batch_retry(struct file *);
void batch_unretry(struct file *);
void batch_retry_dir(struct dir *);
void batch_unretry_dir(struct dir *);

/* A path followed to its file (path.c). */
struct path_res {
	char real[PATH_MAX];             /* the file it names */
	char **sites;                    /* symlinks on the way, and the */
	size_t nsites;                   /* name found missing */
	int err;                         /* errno of a failure */
	int denied;                      /* EACCES: 1 a directory may not be
					    searched, 2 the file read */
	char msg[PATH_MAX + 64];         /* what failed */
};

/* fqueue.c */
void fq_push(struct fqueue *, struct file *);
void fq_del(struct fqueue *, struct file *);
struct file *fq_first(struct fqueue *);
void fq_free(struct fqueue *);

/* loop.c */
struct ev_loop *loop_new(void);
void loop_arm(void);

/* relay.c */
int relay_releases(struct client *, struct proto_msg *);
int relay_row(struct client *, struct proto_msg *);
int relay_done(struct client *, struct proto_msg *);
void relay_unknown(struct client *);
void relay_forget(struct client *);
int relay_timing(void);

/* sources.c */
int sources_temp_name(const char *);
int sources_glob(const char *, const char *);
int sources_selects(const char *);
void sources_changed(const char *, const char *);
void sources_dir_appeared(const char *);
void sources_forget(struct client *);
int sources_watch(struct client *, struct proto_msg *);
int sources_unwatch(struct client *, struct proto_msg *);

/* set.c */
int set_selects(const char *);
void set_flush(struct client *);
void set_file_added(const struct file *);
void set_file_removed(const struct file *);
void set_forget(struct client *);
int set_watch(struct client *, struct proto_msg *);
int set_unwatch(struct client *, struct proto_msg *);

/* hold.c */
int hold_covers(const struct hold *, const struct client *);
int hold_client_held(const struct client *);
struct hold *hold_take(struct client *, enum hold_scope);
struct hold *hold_find(const struct client *);
void hold_drop(struct hold *);
struct hold *hold_next_of(const struct client *, struct hold *);
void hold_free_all(void);

/* path.c */
int path_resolve(const char *, const struct cred *, struct path_res *);
void path_res_free(struct path_res *);

/* wanted.c */
void wanted_init(void);
void wanted_free(void);
void wanted_clean(const char *, char *, size_t);
struct wpath *wanted_lookup(const char *);
struct wpath *wanted_get(const char *);
void wanted_put(struct wpath *);
int wanted_resolve(struct wpath *);
int wanted_file(const char *);
const struct stamp *wanted_disk(const struct wpath *, struct stamp *);
void wanted_reread(const struct wpath *);
const char *wanted_condition(const struct wpath *, char *, size_t);
void wanted_site_event(const char *);
void wanted_target_linked(const char *);
void wanted_poll_sites(void);
void wanted_refresh(void);
void wanted_refresh_linked(void);
size_t wanted_run(void);

/* What an upgrade (processes switching together) is doing. */
enum upgrade_state {
	UPGRADE_PREPARING = 0,             /* prepares out */
	UPGRADE_COMMITTING,                /* commits sent */
	UPGRADE_ABORTING                   /* aborts sent */
};

/* The processes that switch one set of batches together (upgrade.c). */
struct upgrade {
	struct upgrade *next;
	unsigned long id;
	enum upgrade_state state;
	struct client **members;         /* NULL where one went away */
	size_t nmembers;
	size_t nready;                   /* prepared, waiting */
	size_t nacked;                   /* committed or aborted, or gone */
	char *reason;                    /* why it aborts */
	double first_at, last_at;        /* committed at, for the skew */
	int busy;                        /* telling its members: not freed */
	ev_timer timer;                  /* prepare-timeout */
};

/* upgrade.c */
struct upgrade *upgrade_new(void);
void upgrade_add(struct upgrade *, struct client *);
void upgrade_start(struct upgrade *);
int upgrade_alone(struct upgrade *);
void upgrade_ready(struct client *);
void upgrade_skip(struct client *);
void upgrade_failed(struct client *, const char *);
void upgrade_acked(struct client *, int, double);
void upgrade_leave(struct client *);
int upgrade_timing(void);

/* reg.c */
const char *reg_state_name(enum reg_state);
const char *reg_state_ends(enum reg_state);
void reg_init(struct reg *, const struct stamp *, const struct stamp *,
    const struct stamp *, int);
void reg_clear(struct reg *);
void reg_changed(struct reg *, const struct stamp *, int);
int reg_offer(struct reg *, const struct stamp *, int);
int reg_offer_forced(const struct reg *);
void reg_denied(struct reg *, const struct stamp *, const char *);
void reg_prepared(struct reg *);
enum reg_ok reg_ok_check(const struct reg *, const struct stamp *,
    const struct stamp *);
int reg_result(struct reg *, enum reg_outcome, const struct stamp *,
    const struct stamp *, int, const char *);
int reg_moved(struct reg *, const struct stamp *, const struct stamp *,
    int, int);
void reg_purged(struct reg *, const struct stamp *, int);
int reg_force(struct reg *, const struct stamp *, int);
int reg_rollback(struct reg *, int);
void reg_hold(struct reg *);
int reg_discard(struct reg *, const struct stamp *);
void reg_release(struct reg *, const struct stamp *, int);
void reg_build_ended(struct reg *, const struct stamp *, int);

/* inotify.c */
int inotify_start(void);
void inotify_stop(void);
int inotify_arm_dir(struct dir *, char *, size_t);
void inotify_disarm_dir(struct dir *);
int inotify_fs_works(const char *, const char **);
void inotify_drain(void);
long inotify_watches(void);
void inotify_wait_missing(void);
void inotify_rescan(void);

/* poll.c */
void poll_update(void);
void poll_stop(void);
void poll_root(struct root *);
void poll_forget_dir(struct dir *);
enum poll_pace poll_pace_next(enum poll_pace, double, double);

/* notify.c */
int notify_init(char *, size_t);
int notify_listen_fd(void);
int notify_activated(void);
int notify_enabled(void);
void notify_start(void);
void notify_stop(void);
void notify_ready(void);
void notify_reloading(void);
void notify_stopping(void);
void notify_status(const char *, ...) __attribute__((format(printf, 1, 2)));
void notify_status_changed(void);
void notify_last_reload(const char *, ...)
    __attribute__((format(printf, 1, 2)));
void notify_config_failed(const char *);
int notify_timing(void);

/* cred.c */
int cred_peer(int, struct cred *);
void cred_free(struct cred *);
int cred_allowed(const struct cred *);
int cred_may(const struct cred *, const struct stat *, int);
int cred_admin(const struct cred *);
int cred_can_search(const struct cred *, const char *, char *, size_t,
    char *, size_t);
enum cred_sight cred_sight(const struct cred *, const char *);
int cred_resolve_admin(char *, size_t);
int cred_can_read(const struct cred *, const char *, char *, size_t);

/* control.c */
int control_open(char *, size_t);
void control_limits(void);
void control_close(void);
int control_send(struct client *, const char *, size_t);
int control_timing(void);
void control_drop(struct client *, const char *, ...)
    __attribute__((format(printf, 2, 3)));
void clients_reap(void);

/* client.c */
void client_line(struct client *, char *, size_t);
void client_too_long(struct client *);
void client_error(struct client *, const char *, const char *, ...)
    __attribute__((format(printf, 3, 4)));
void client_forget(struct client *);
void client_file_checked(struct file *, int);
void client_path_changed(struct wpath *, const char *);
int client_send(struct client *, struct proto_out *);
const char *client_reg_view(const struct reg *, struct stamp *, char *,
    size_t);
int client_held(const struct client *);
void clients_hold(const struct hold *);
size_t clients_discard(const struct hold *);
void clients_release(const struct hold *, int);
void clients_build_ended(void);
void client_note(struct client *);
void client_dirty(struct client *);
void clients_flush(void);
void clients_free(void);
void clients_init(void);

/* ctl.c */
int ctl_line(struct client *, const char *, struct proto_msg *);
void ctl_event(struct proto_out *);
void ctl_event_about(struct proto_out *, const char *);
void ctl_forget(struct client *);
void ctl_log_line(const struct timespec *, int, const char *,
    const char *);
int ctl_subscribers(void);
int ctl_names(const struct client *, const char *);

/* config.c */
void config_init(struct config *);
int config_load(struct config *, const char *, char *, size_t);
int config_parse_buf(struct config *, const char *, const char *, size_t,
    char *, size_t);
int config_add_root(struct config *, const char *, const char *,
    const char *, char *, size_t);
void config_free(struct config *);
int config_parse_duration(const char *, double *, char *, size_t);
int config_parse_backend(const char *, enum backend *);
const char *config_backend_name(enum backend);
int config_parse_loglevel(const char *, int *);
char *config_abspath(const char *, const char *);
char **config_strv_dup(const char *const *);
void config_strv_free(char **);

/* log.c */
void log_init(int, int);
void log_setlevel(int);
int log_getlevel(void);
int log_open_file(const char *);
int log_reopen(void);
void log_close(void);
void log_hold(void);
void log_release(void);
void log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void log_errorx(const char *, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *, ...)
    __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *, ...)
    __attribute__((format(printf, 1, 2), noreturn));
const char *log_esc(const char *);
const char *log_level_name(int);
void log_format_time(const struct timespec *, char *, size_t);
void log_about(const char *);
void log_set_tap(void (*)(const struct timespec *, int, const char *,
    const char *));
size_t log_ring_count(void);
int log_ring_get(size_t, struct timespec *, int *, const char **,
    const char **);

#endif /* RELOADERD_H */
