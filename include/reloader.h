/*
 * reloader.h: the public interface of reloader.
 *
 * Two halves.  The module half is a pair of macros with which a shared
 * object names itself (and, if it wishes, states its own version), and
 * the names of the hooks it may define.  The host half is libreloader:
 * a process links it to load shared objects it can hot-swap, attaches to
 * reloaderd over a Unix socket, and reloads a module whenever the daemon
 * says its file changed, the way Erlang does: two versions at most, new
 * calls to the current one, calls already inside the old one finishing
 * there, and a failed reload changing nothing.
 *
 * The library never prints and never exits.  A function that fails
 * returns NULL or -1 and keeps a message that reloader_error() returns.
 * Every string the library returns is owned by the library; every string
 * passed in is copied if kept.
 */
#ifndef RELOADER_H
#define RELOADER_H

/* The version of reloader, here and nowhere else: the Makefile, the
 * pkg-config file, the daemon, reloaderctl and the Erlang client's .app
 * all read it from these three lines. */
#define RELOADER_VERSION_MAJOR 0
#define RELOADER_VERSION_MINOR 1
#define RELOADER_VERSION_PATCH 0
#define RELOADER_STR_(x) #x
#define RELOADER_XSTR_(x) RELOADER_STR_(x)
#define RELOADER_VERSION_STRING						\
	RELOADER_XSTR_(RELOADER_VERSION_MAJOR) "."			\
	RELOADER_XSTR_(RELOADER_VERSION_MINOR) "."			\
	RELOADER_XSTR_(RELOADER_VERSION_PATCH)
#define RELOADER_VERSION_NUMBER						\
	(RELOADER_VERSION_MAJOR * 10000 + RELOADER_VERSION_MINOR * 100 +	\
	    RELOADER_VERSION_PATCH)

/* The protocol's first version, which every side speaks, and its line
 * limit, LF included (docs/PROTOCOL.md).  libreloader speaks version 2
 * as well, where the daemon does: see reloader_set_proto(). */
#define RELOADER_PROTO_VERSION 1
#define RELOADER_PROTO_MAX_LINE 16384

/*
 * The ELF note that RELOADER_MODULE and RELOADER_MODULE_VERSION place in a
 * shared object, in a section named ".note.reloader":
 *
 *	namesz = 9, descsz, type = RELOADER_NOTE_MODULE, name = "reloader\0",
 *	desc = module name, NUL, version, NUL
 *
 * The version may be empty, in which case reloaderd keeps using the build-id
 * (or a content hash) as the module's stamp and the note only names it.
 * A non-empty version is the stamp: the module's author promises to change
 * it whenever the code changes.  Use at most one of the macros per module,
 * at file scope, with string literals.
 */
#define RELOADER_NOTE_OWNER "reloader"
#define RELOADER_NOTE_MODULE 1

#define RELOADER_NOTE_(name, version)					\
	__attribute__((section(".note.reloader"), used, aligned(4)))	\
	static const struct {						\
		unsigned int namesz, descsz, type;			\
		char owner[12];						\
		char desc[(sizeof(name) + sizeof(version) + 3) & ~3u];	\
	} reloader_module_note_ = {					\
		sizeof(RELOADER_NOTE_OWNER),				\
		sizeof(name) + sizeof(version),				\
		RELOADER_NOTE_MODULE,					\
		RELOADER_NOTE_OWNER,					\
		name "\0" version					\
	}

/* Names this shared object's module; its build-id stays the stamp. */
#define RELOADER_MODULE(name) RELOADER_NOTE_(name, "")

/* Names this shared object's module and makes version its stamp. */
#define RELOADER_MODULE_VERSION(name, version) RELOADER_NOTE_(name, version)

/*
 * Hooks a module may define, all optional, looked up by these names in
 * each new version (define them with default visibility, extern "C" in
 * C++).  When the new version has reloader_code_change, it and the test
 * hook run with the module's calls held (reloader_enter waits), after the
 * calls already inside the old version have left; without it nothing is
 * held, and calls in flight finish in the old version while new ones
 * reach the new.  A crash in a hook (SIGSEGV, SIGBUS, SIGFPE, SIGILL) is
 * caught and rolls the reload back, whatever the test policy.  Hooks run
 * on the thread that dispatches, with the handle locked: they may call
 * only reloader_enter, reloader_leave, reloader_sym and reloader_state.
 *
 * reloader_code_change(old_vsn, old_state, &new_state) migrates the
 * module's state to the new version, like gen_server's code_change/3.
 * old_vsn is the stamp of the version being replaced ("build-id:5e2a...",
 * or for a RELOADER_MODULE_VERSION module just its version text); at the
 * first load both old_vsn and old_state are NULL, which makes this the
 * module's init.  It returns 0 on success.  It must not change old_state:
 * if it fails, or a later step does, the old version carries on with it.
 * A version without this hook takes the old state over unchanged.
 *
 * Rollback.  The daemon may ask for the version that ran before the last
 * successful reload (`reloaderctl rollback`, like a release_handler
 * downgrade).  The library keeps the private copy of the version each
 * reload replaced (one only: the next successful reload or rollback
 * drops it, and reloader_close() removes it) and loads it again as a
 * new version, with the same steps, rules and events as a reload.  So
 * an older version's reloader_code_change may be called with the vsn
 * and the state of a NEWER version than itself: it must recognise the
 * state it is given before it reads it, and return non-zero if it cannot
 * take it over, which rolls the rollback back (nothing changes, status
 * RELOADER_ROLLED_BACK).  After a rollback the version it replaced is
 * the one kept, so a second rollback goes forward again.
 *
 * reloader_test(state) checks the freshly loaded version, like
 * mochiweb's Module:test/0; 0 means it passed.  By default a failing test
 * rolls the reload back; see reloader_set_test_policy().
 *
 * reloader_unload(state) runs in a version just before its image is
 * unloaded, to free what that version owns.  state is the state that
 * version made or was given and no other version took over: the module's
 * state when it is closed for good (reloader_close); a new version's own
 * state when that version is abandoned by a rollback; the old state when
 * the old version is purged after reloader_code_change returned a new
 * one.  It is NULL when the state passed on unchanged, as the same
 * pointer, to a newer version.
 */
#define RELOADER_HOOK_CODE_CHANGE "reloader_code_change"
#define RELOADER_HOOK_TEST "reloader_test"
#define RELOADER_HOOK_UNLOAD "reloader_unload"

typedef int reloader_code_change_fn(const char *old_vsn, void *old_state,
    void **new_state);
typedef int reloader_test_fn(void *state);
typedef void reloader_unload_fn(void *state);

/* One attachment of this process to reloaderd; owns its modules. */
typedef struct reloader reloader_t;
/* A shared object loaded through libreloader, in all its versions. */
typedef struct reloader_module reloader_module_t;
/* One loaded version of a module, pinned by reloader_enter(). */
typedef struct reloader_image reloader_image_t;
/* The modules in a directory whose names match a pattern, opened as
 * they appear and closed as they go; owned by its reloader_t. */
typedef struct reloader_set reloader_set_t;

/* How one module's reload ended (docs/PROTOCOL.md, "Reloads"). */
enum reloader_status {
	RELOADER_OK = 0,        /* the new version is current */
	RELOADER_LOAD_FAILED,   /* could not be loaded; nothing changed */
	RELOADER_TEST_FAILED,   /* test failed, new version kept by policy */
	RELOADER_ROLLED_BACK    /* a hook failed; the old version is current */
};

/* What happened, as told to the host's event callback. */
enum reloader_event_type {
	RELOADER_EV_CONNECTED = 1,  /* attached to the daemon (again) */
	RELOADER_EV_DISCONNECTED,   /* lost the daemon; retrying */
	RELOADER_EV_RELOAD,         /* a module's reload ended */
	RELOADER_EV_PURGE,          /* an old version was unloaded (after
				       the RELOAD that replaced it) */
	RELOADER_EV_ADDED,          /* a module of a set was opened */
	RELOADER_EV_REMOVED         /* a module left its set: it is closed
				       once the callback returned and no
				       call is inside it; drop the handle */
};

/* An event; valid only during the callback, every pointer owned by the
 * library.  Fields that do not apply to the type are NULL or 0. */
struct reloader_event {
	enum reloader_event_type type;
	reloader_module_t *module;  /* RELOAD, PURGE, ADDED, REMOVED; NULL
				       for the failed first load of a set's
				       module (it is not opened) */
	const char *name;           /* module name */
	const char *path;           /* the file it is loaded from */
	enum reloader_status status;/* RELOAD */
	const char *stamp;          /* RELOAD: what runs now; PURGE: what left */
	const char *was;            /* RELOAD: what ran before */
	const char *reason;         /* why, or a warning; "" if none */
	double load_ms;             /* RELOAD: copy, dlopen, symbol checks */
	double state_ms;            /* RELOAD: reloader_code_change */
	double test_ms;             /* RELOAD: reloader_test */
	int unmapped;               /* PURGE: 1 if the image left memory */
	int forced;                 /* PURGE: 1 if a hard purge at the deadline */
	unsigned int calls;         /* PURGE: calls still inside when forced */
	int rollback;               /* RELOAD: 1 if back to the kept version */
	const char *failed;         /* RELOAD: the step that failed, "" if
				       none: "load", "purge" (the old version
				       still has calls inside; the daemon
				       offers the change again once it is
				       purged), "code-change" or "test" */
	reloader_set_t *set;        /* the set the module came from, or NULL */
	double at;                  /* RELOAD, ADDED: when the new version
				       became current, CLOCK_MONOTONIC
				       seconds; 0 if none did */
};

typedef void reloader_event_fn(reloader_t *, const struct reloader_event *,
    void *arg);

/* What to do when a new version's test hook fails. */
enum reloader_test_policy {
	RELOADER_TEST_ROLLBACK = 0, /* roll back, report "rolled back" (default) */
	RELOADER_TEST_KEEP          /* keep the new version, report "test failed" */
};

/* Returns the library's version, "MAJOR.MINOR.PATCH"; compare it with
 * RELOADER_VERSION_STRING to catch a header/library mismatch. */
const char *reloader_version(void);

/* Returns the library's version as RELOADER_VERSION_NUMBER does. */
int reloader_version_number(void);

/* Creates an attachment named name in the daemon's log (NULL: the program's
 * name).  It does not connect until reloader_connect().  NULL only when out
 * of memory. */
reloader_t *reloader_new(const char *name);

/* Closes every module, stops the thread if any, disconnects and frees r.
 * Modules with calls still inside are unloaded regardless: leave first. */
void reloader_free(reloader_t *r);

/* Returns the message of the last failure on r; never NULL. */
const char *reloader_error(const reloader_t *r);

/* Sets the daemon's socket path (default: $RELOADER_SOCKET, then
 * $XDG_RUNTIME_DIR/reloader.sock, then /run/reloader/reloader.sock for
 * root and /tmp/reloader-UID.sock for anyone else, UID being the
 * effective user id: where the daemon listens by default).  Call before
 * reloader_connect().  Returns 0, or -1 if it is too long. */
int reloader_set_socket(reloader_t *r, const char *path);

/* Chooses what a failing test hook does (default RELOADER_TEST_ROLLBACK). */
void reloader_set_test_policy(reloader_t *r, enum reloader_test_policy p);

/* Sets the hard-purge deadline: an old version still in use this many ms
 * after it was replaced is unloaded anyway, as Erlang's code:purge/1 kills
 * the processes still in old code.  A call still inside it then crashes,
 * so set one only when calls are bounded.  0 (the default) means soft
 * purge only: the old version waits until no call is inside. */
void reloader_set_purge_deadline(reloader_t *r, unsigned int ms);

/* Sets how long a reload that migrates state waits for the calls inside
 * the module to leave before it gives up and rolls back (default 1000). */
void reloader_set_drain_timeout(reloader_t *r, unsigned int ms);

/* Sets the callback that hears of every event (NULL: none).  It runs on
 * the thread that calls reloader_dispatch(), or the library's own. */
void reloader_set_event_cb(reloader_t *r, reloader_event_fn *fn, void *arg);

/* Chooses the highest protocol version to speak, from the next
 * connection on: 2 (the default) where the daemon speaks it, 1 to reload
 * every module of a batch at once, on its own, as before version 2.
 * Returns 0, or -1 for a version libreloader does not speak. */
int reloader_set_proto(reloader_t *r, int version);

/* Starts attaching to the daemon.  A daemon that is not running is not an
 * error: the library retries with backoff (50 ms to 2 s) for as long as r
 * lives, and registers every module again each time it attaches.  Returns
 * -1 only when the socket path is unusable. */
int reloader_connect(reloader_t *r);

/* Says whether r is attached to the daemon right now. */
int reloader_is_connected(const reloader_t *r);

/* Returns a descriptor that becomes readable when reloader_dispatch() has
 * work; it stays the same for the life of r, across reconnects.  Watch it
 * for reading in the host's loop (see reloader-ev.h for libev). */
int reloader_fd(const reloader_t *r);

/* Does whatever work is due (reads the daemon, reloads, purges, retries
 * the connection) without blocking for input, and returns.  Returns 0, or
 * -1 with a message if r is unusable. */
int reloader_dispatch(reloader_t *r);

/* Runs the dispatching on a thread of the library's own instead of in the
 * host's loop; reloader_free() stops it.  Returns 0 or -1. */
int reloader_start_thread(reloader_t *r);

/* Loads the shared object at path from a private copy, runs its
 * reloader_code_change(NULL, NULL, &state) and reloader_test(state) if it
 * has them, and registers it with the daemon.  required is a NULL-ended
 * list of symbols every version must have (NULL: none); a version without
 * one is refused.  Returns NULL with a message on failure. */
reloader_module_t *reloader_open(reloader_t *r, const char *path,
    const char *const *required);

/*
 * Batches.  With protocol version 2 the daemon sends what a build changed
 * together as one batch, which the library prepares whole (every module
 * loaded, migrated and tested, none made current) before the daemon says
 * to commit it, when every process that has a module of it is ready:
 * then they all become current at once.  If one module fails, none
 * changes, here or in the other processes, and the host hears
 * RELOADER_ROLLED_BACK for the others, with a reason naming the
 * one that failed.  Calls into a module whose new version migrates state
 * are held from the migration until the commit or the abort, on every
 * thread (a host that dispatches on its own thread waits in
 * reloader_dispatch()).
 */

/* Chooses whether m switches with the rest of its batch (atomic, the
 * default) or at once, on its own, as with protocol version 1 (0). */
void reloader_set_atomic(reloader_module_t *m, int atomic);

/*
 * Sets.  reloader_open_set() opens every module in dir (absolute, or
 * relative to the working directory) whose file name matches pattern
 * (fnmatch(3), no '/'), and every one that appears there later, as
 * reloader_open() would with required; and closes each that leaves it
 * for good (the daemon waits for the end of a build, so `make clean &&
 * make` closes nothing).  The host hears RELOADER_EV_ADDED for each
 * module opened, with its handle, and RELOADER_EV_REMOVED before one is
 * closed; the events of the modules there at the start are delivered
 * before reloader_open_set() returns.  A module that fails to load is
 * reported as a RELOADER_EV_RELOAD with no handle, and tried again when
 * its file changes.  The daemon announces modules only with protocol
 * version 2; the modules there at the start are opened whatever the
 * daemon.  Returns NULL with a message if dir is not a directory or the
 * pattern is empty or holds '/'.
 */
reloader_set_t *reloader_open_set(reloader_t *r, const char *dir,
    const char *pattern, const char *const *required);

/* Closes every module of the set and the set; returns -1 and does
 * nothing if a call is still inside one of them. */
int reloader_close_set(reloader_set_t *s);

/* Unregisters the module, runs reloader_unload(state) in its current
 * version, unloads every version and removes its private copies, the
 * one kept for a rollback included.  Returns -1 and does nothing if a
 * call is still inside it. */
int reloader_close(reloader_module_t *m);

/* Reloads a module from its file now, without waiting for the daemon, if
 * its stamp differs from the current version's; the event callback hears
 * the result.  Returns the status (RELOADER_OK when nothing changed). */
enum reloader_status reloader_reload(reloader_module_t *m);

/* Returns the module's name (from its note, else its file name). */
const char *reloader_module_name(const reloader_module_t *m);

/* Returns the stamp of the module's current version, "kind:value". */
const char *reloader_module_stamp(const reloader_module_t *m);

/*
 * Calling into a module.  reloader_enter() pins the current version and
 * returns it; calls through it run in that version even if a new one
 * becomes current meanwhile, and the old version is not unloaded until
 * every pin on it is released by reloader_leave().  It waits while a
 * state migration of the module is under way.  These four are safe from
 * any thread at any time.
 */

/* Pins and returns the module's current version; never NULL. */
reloader_image_t *reloader_enter(reloader_module_t *m);

/* Releases a pin taken by reloader_enter(). */
void reloader_leave(reloader_image_t *img);

/* Returns the address of symbol name in a pinned version, or NULL. */
void *reloader_sym(reloader_image_t *img, const char *name);

/* Returns the module's state as a pinned version sees it. */
void *reloader_state(reloader_image_t *img);

/* The printable name of a status: "ok", "load failed", "test failed",
 * "rolled back". */
const char *reloader_status_name(enum reloader_status s);

#endif /* RELOADER_H */
