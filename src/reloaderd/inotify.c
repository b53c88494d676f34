/*
 * inotify.c: the inotify backend.
 *
 * Every directory under an inotify root has its own watch.  A file is
 * looked at when it is closed after writing or renamed into place, never
 * on IN_MODIFY, so a linker's half-written output is not read while it
 * is being written; completeness is still checked by the stamp readers.
 * A root that disappears (make clean) is waited for through watches on
 * its nearest existing ancestor, and re-armed when it comes back.
 */
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "reloaderd.h"

#define DIR_MASK (IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | \
	IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ATTRIB | IN_ONLYDIR | \
	IN_DONT_FOLLOW)
#define ANCESTOR_MASK (IN_CREATE | IN_MOVED_TO | IN_DELETE_SELF | \
	IN_MOVE_SELF | IN_ONLYDIR | IN_MASK_ADD)

static void inotify_read_cb(struct ev_loop *, ev_io *, int);
static void inotify_read(void);

/* For tests: pretend the watch limit is reached after this many watches,
 * and pretend every filesystem gives no events.  Set from the
 * environment (RELOADERD_TEST_MAX_WATCHES, RELOADERD_TEST_NOEVENT_FS)
 * because no unprivileged test can lower the real limit or mount NFS. */
static long test_max_watches = -1;
static long nwatches;
static const char *test_noevent_fs;

/* Opens the inotify instance; on failure every root is polled. */
int
inotify_start(void)
{
	const char *s;

	if ((s = getenv("RELOADERD_TEST_MAX_WATCHES")) != NULL)
		test_max_watches = strtol(s, NULL, 10);
	test_noevent_fs = getenv("RELOADERD_TEST_NOEVENT_FS");
	if (rd->ifd != -1)
		return 0;
	if ((rd->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) == -1) {
		if (!rd->inotify_failed)
			log_warn("inotify_init1 (fs.inotify.max_user_instances "
			    "may be reached); polling every root");
		rd->inotify_failed = 1;
		return -1;
	}
	ev_io_init(&rd->inotify_ev, inotify_read_cb, rd->ifd, EV_READ);
	ev_io_start(rd->loop, &rd->inotify_ev);
	return 0;
}

/* Closes the inotify instance. */
void
inotify_stop(void)
{
	if (rd->ifd == -1)
		return;
	ev_io_stop(rd->loop, &rd->inotify_ev);
	close(rd->ifd);
	rd->ifd = -1;
	free(rd->awatch);
	rd->awatch = NULL;
	rd->nawatch = 0;
}

/* Says whether filesystems like NFS, CIFS and FUSE hold path: there
 * inotify sees only local changes, so polling is needed. */
int
inotify_fs_works(const char *path, const char **name)
{
	struct statfs sf;

	if (test_noevent_fs != NULL) {
		*name = test_noevent_fs;
		return 0;
	}
	if (statfs(path, &sf) == -1)
		return 1;
	switch ((unsigned long)sf.f_type) {
	case 0x6969UL:          /* NFS_SUPER_MAGIC */
		*name = "NFS";
		return 0;
	case 0xff534d42UL:      /* CIFS_MAGIC_NUMBER */
	case 0xfe534d42UL:      /* SMB2_MAGIC_NUMBER */
	case 0x517bUL:          /* SMB_SUPER_MAGIC */
		*name = "CIFS/SMB";
		return 0;
	case 0x65735546UL:      /* FUSE_SUPER_MAGIC */
		*name = "FUSE";
		return 0;
	case 0x01021997UL:      /* V9FS_MAGIC */
		*name = "9p";
		return 0;
	case 0x73757245UL:      /* CODA_SUPER_MAGIC */
		*name = "Coda";
		return 0;
	case 0x00c36400UL:      /* CEPH_SUPER_MAGIC */
		*name = "Ceph";
		return 0;
	default:
		return 1;
	}
}

/* Says whether wd is one of the ancestor watches of missing roots. */
static int
inotify_is_awatch(int wd)
{
	size_t i;

	for (i = 0; i < rd->nawatch; i++)
		if (rd->awatch[i] == wd)
			return 1;
	return 0;
}

/* Removes a watch unless a directory or a missing root still uses it. */
static void
inotify_release(int wd)
{
	if (wd < 0 || dir_by_wd(wd) != NULL || inotify_is_awatch(wd))
		return;
	inotify_rm_watch(rd->ifd, wd);
	nwatches--;
}

/* Watches a directory; -1 with errno set (ENOSPC: out of watches). */
int
inotify_arm_dir(struct dir *d, char *err, size_t errlen)
{
	struct dir *old;
	int wd;

	if (rd->ifd == -1) {
		errno = ENOSYS;
		snprintf(err, errlen, "inotify is not available");
		return -1;
	}
	if (test_max_watches >= 0 && nwatches >= test_max_watches) {
		errno = ENOSPC;
		snprintf(err, errlen, "%s", strerror(errno));
		return -1;
	}
	if ((wd = inotify_add_watch(rd->ifd, d->path, DIR_MASK)) == -1) {
		snprintf(err, errlen, "%s", strerror(errno));
		return -1;
	}
	if ((old = dir_by_wd(wd)) != NULL && old != d) {
		/* The kernel gave out a descriptor we still hold for a
		 * directory whose IN_IGNORED is not read yet: that node's
		 * watch is gone, so it no longer owns the number. */
		htab_remove(&rd->dirs_wd, old);
		old->wd = -1;
	} else if (old == NULL)
		nwatches++;
	d->wd = wd;
	htab_insert(&rd->dirs_wd, d);
	return 0;
}

/* Stops watching a directory. */
void
inotify_disarm_dir(struct dir *d)
{
	int wd = d->wd;

	if (wd < 0)
		return;
	htab_remove(&rd->dirs_wd, d);
	d->wd = -1;
	inotify_release(wd);
}

/* Watches the nearest existing ancestor of every missing inotify root,
 * so that its reappearance raises an event. */
void
inotify_wait_missing(void)
{
	struct root *r;
	struct stat sb;
	char *p, *slash;
	int wd, *nw;
	size_t i, old = rd->nawatch;
	int *prev = rd->awatch;

	if (rd->ifd == -1)
		return;
	rd->awatch = NULL;
	rd->nawatch = 0;
	for (r = rd->roots; r != NULL; r = r->next) {
		if (r->top != NULL || r->shadowed ||
		    r->backend == BACKEND_POLL)
			continue;
		if ((p = strdup(r->conf.path)) == NULL)
			fatal("inotify_wait_missing");
		for (;;) {
			if ((slash = strrchr(p, '/')) == NULL)
				break;
			if (slash == p)
				slash[1] = '\0';
			else
				*slash = '\0';
			if (stat(p, &sb) == 0 && S_ISDIR(sb.st_mode))
				break;
			if (slash == p)
				break;
		}
		wd = inotify_add_watch(rd->ifd, p, ANCESTOR_MASK);
		if (wd == -1)
			log_warn("%s: cannot watch for %s to appear", p,
			    log_esc(r->conf.display));
		else if (!inotify_is_awatch(wd)) {
			nw = reallocarray(rd->awatch, rd->nawatch + 1,
			    sizeof(*nw));
			if (nw == NULL)
				fatal("inotify_wait_missing");
			rd->awatch = nw;
			rd->awatch[rd->nawatch++] = wd;
			if (dir_by_wd(wd) == NULL)
				nwatches++;
		}
		free(p);
	}
	/* Watches no longer needed go after the new ones are in place, so
	 * a shared ancestor is never unwatched in between. */
	for (i = 0; i < old; i++)
		if (!inotify_is_awatch(prev[i]))
			inotify_release(prev[i]);
	free(prev);
}

/* Looks at every inotify root again after events were lost. */
void
inotify_rescan(void)
{
	struct root *r;

	for (r = rd->roots; r != NULL; r = r->next)
		if (r->backend == BACKEND_INOTIFY && r->top != NULL)
			dir_scan(r->top, 1, 1);
	wanted_refresh_linked();
	roots_retry();
}

/* Handles IN_IGNORED: the kernel dropped a watch, because the directory
 * went away or its filesystem was unmounted.  The descriptor may already
 * belong to a newer watch, so check before forgetting anything. */
static void
inotify_ignored(struct dir *d)
{
	struct stat sb;
	struct root *r = d->root;
	char err[256];
	int wd = d->wd;

	if (lstat(d->path, &sb) == 0 && S_ISDIR(sb.st_mode) &&
	    sb.st_dev == d->dev && sb.st_ino == d->ino) {
		htab_remove(&rd->dirs_wd, d);
		d->wd = -1;
		if (inotify_arm_dir(d, err, sizeof(err)) == 0) {
			if (d->wd != wd)
				dir_scan(d, 1, 0);
			return;
		}
	}
	htab_remove(&rd->dirs_wd, d);
	d->wd = -1;
	nwatches--;
	if (d == r->top) {
		log_info("%s was removed; waiting for it to come back",
		    log_esc(r->conf.display));
		r->missing_logged = 1;
	}
	dir_remove(d);
}

/* Acts on one event for a watched directory. */
static void
inotify_event(struct dir *d, const struct inotify_event *ev)
{
	struct root *r = d->root;
	struct stat sb;
	struct dir *sub;
	struct file *f;
	char *path;

	if (ev->mask & IN_IGNORED) {
		inotify_ignored(d);
		return;
	}
	if (ev->mask & IN_MOVE_SELF && d == r->top) {
		/* The watch follows the directory to its new name, which is
		 * not the root any more. */
		log_info("%s was moved away; waiting for it to come back",
		    log_esc(r->conf.display));
		r->missing_logged = 1;
		dir_remove(d);
		return;
	}
	if (ev->len == 0 || ev->name[0] == '\0')
		return;
	if (asprintf(&path, "%s%s%s", d->path, strcmp(d->path, "/") ? "/" :
	    "", ev->name) == -1)
		fatal("inotify_event");
	/* A symlink a registered path goes through, or a name it waits for. */
	wanted_site_event(path);
	if (ev->mask & IN_ISDIR) {
		if (ev->mask & (IN_DELETE | IN_MOVED_FROM)) {
			if ((sub = dir_child(d, ev->name)) != NULL)
				dir_remove(sub);
		} else if (ev->mask & (IN_CREATE | IN_MOVED_TO) &&
		    r->implicit)
			sources_dir_appeared(path);
		else if (ev->mask & (IN_CREATE | IN_MOVED_TO) &&
		    lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode) &&
		    dir_child(d, ev->name) == NULL) {
			/* Watch first, then list: files made in between are
			 * found by the listing, later ones by events. */
			if ((sub = dir_add(r, d, path, &sb)) != NULL) {
				dir_scan(sub, 1, 1);
				if (r->nospace)
					root_fallback(r, NULL);
			}
		}
	} else if (ev->mask & (IN_CLOSE_WRITE | IN_MOVED_TO)) {
		if (root_matches(r, path))
			batch_queue(file_get(r, d, path));
	} else if (ev->mask & IN_CREATE) {
		/* A symlink or a hard link is whole as it appears, and no
		 * close-after-write follows (cargo links its output into
		 * place); a file being written is read when it is closed.
		 * The name is matched first: a build's temporary file is
		 * not looked at, since an lstat of it can wait for the
		 * rename that moves it into place to finish. */
		if (root_matches(r, path) && lstat(path, &sb) == 0 &&
		    (S_ISLNK(sb.st_mode) || (S_ISREG(sb.st_mode) &&
		    sb.st_nlink > 1)))
			batch_queue(file_get(r, d, path));
	} else if (ev->mask & (IN_DELETE | IN_MOVED_FROM)) {
		if ((f = file_lookup(path)) != NULL)
			batch_queue(f);
	} else if (ev->mask & IN_ATTRIB) {
		/* A chmod may let the daemon read what it could not; a
		 * touched source changed. */
		if ((f = file_lookup(path)) != NULL && ((f->state ==
		    FILE_BAD && f->err != 0) || (!file_has_stamp(f) &&
		    sources_selects(path))))
			batch_queue(f);
	}
	free(path);
}

/* Reads and dispatches every pending inotify event. */
static void
inotify_read(void)
{
	char buf[65536] __attribute__((aligned(__alignof__(struct inotify_event))));
	const struct inotify_event *ev;
	struct dir *d;
	ssize_t n;
	char *p;
	int overflow = 0;

	for (;;) {
		n = read(rd->ifd, buf, sizeof(buf));
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (p = buf; p < buf + n;
		    p += sizeof(struct inotify_event) + ev->len) {
			ev = (const struct inotify_event *)p;
			if (ev->mask & IN_Q_OVERFLOW) {
				overflow = 1;
				continue;
			}
			if ((d = dir_by_wd(ev->wd)) != NULL)
				inotify_event(d, ev);
		}
	}
	if (overflow) {
		log_warnx("inotify event queue overflowed "
		    "(fs.inotify.max_queued_events); rescanning");
		inotify_rescan();
	} else
		/* An ancestor event, or a root just removed: re-arm or
		 * wait for whatever root is missing now. */
		roots_retry();
}

/* Handles the events the loop found, and runs their batch at once when
 * there is no settle window to wait for. */
static void
inotify_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	inotify_read();
	batch_due();
}

/* Handles every event the kernel has queued, now, without waiting for
 * the loop: a release must see all of a build's changes. */
void
inotify_drain(void)
{
	if (rd->ifd != -1)
		inotify_read();
}

/* Returns how many watches the daemon holds. */
long
inotify_watches(void)
{
	return nwatches;
}
