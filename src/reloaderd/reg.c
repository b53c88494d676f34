/*
 * reg.c: what a registration is waiting for, as one state and named
 * transitions.
 *
 * A registration says "client C runs module M from path P at stamp S".
 * Its state says how that compares with the file on disk and what the
 * daemon will do about it; nothing else about it is kept in flags.  Every
 * state but current ends by itself when its cause ends:
 *
 *	current		runs what is on disk
 *	pending		disk differs: offered at the next flush
 *	held		disk differs: offered when the holds end
 *	reloading	offered in the batch out: the result decides
 *	prepared	(version 2) ready to switch: its group commits or
 *			aborts
 *	failed		the disk's version failed in this client: offered
 *			again when a build changes the file (or on a forced
 *			reload)
 *	discarded	a build that failed wrote it, or it prepared but its
 *			switch aborted: offered when the next build ends
 *	waiting-for-purge  refused while old code still runs: offered again
 *			as soon as the client says it is purged
 *	rolled-back	went back to the previous version on request (its
 *			own rollback, or its application's): the newer
 *			file is offered when a build changes it
 *
 * A client that answers ok with a version other than the one offered
 * loaded a file that changed after the daemon read it: that is failed
 * too, with the reason, until the file is read again (client.c asks for
 * that at once) or a build changes it.  Offering the same stamp again
 * would only load the same file again, as often as the client answers.
 * An ok that leaves the client on the version it ran is failed the same
 * way, with its own reason.
 *
 * The functions here only decide; they take the stamp on disk (NULL when
 * no complete module is there now) and whether reloads are held, and
 * touch nothing but the registration, so that a unit test can drive
 * every path without a socket.  client.c and ctl.c call them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reloaderd.h"

/* Returns the name `list` and the log give a state. */
const char *
reg_state_name(enum reg_state s)
{
	switch (s) {
	case REG_CURRENT:
		return "current";
	case REG_PENDING:
		return "pending";
	case REG_HELD:
		return "held";
	case REG_OFFERED:
		return "reloading";
	case REG_FAILED:
		return "failed";
	case REG_DISCARDED:
		return "discarded";
	case REG_WAIT_PURGE:
		return "waiting-for-purge";
	case REG_ROLLED_BACK:
		return "rolled-back";
	case REG_PREPARED:
		return "prepared";
	}
	return "?";
}

/* Returns what ends a state, as `list` explains it. */
const char *
reg_state_ends(enum reg_state s)
{
	switch (s) {
	case REG_CURRENT:
		return "runs what is on disk";
	case REG_PENDING:
		return "offered at once";
	case REG_HELD:
		return "offered when reloads are released";
	case REG_OFFERED:
		return "the client's result decides";
	case REG_FAILED:
		return "offered again when a build changes the file, or on "
		    "reloaderctl reload";
	case REG_DISCARDED:
		return "a build that failed wrote it; offered when the next "
		    "build ends";
	case REG_WAIT_PURGE:
		return "old code still runs; offered again once it is purged";
	case REG_ROLLED_BACK:
		return "rolled back on request; the newer file is offered "
		    "when a build changes it";
	case REG_PREPARED:
		return "prepared; switches when every process of its switch "
		    "has, or goes back if one fails";
	}
	return "?";
}

/* Replaces a registration's reason (NULL: none). */
static void
reg_set_reason(struct reg *r, const char *reason)
{
	free(r->reason);
	r->reason = NULL;
	if (reason != NULL && *reason != '\0' &&
	    (r->reason = strdup(reason)) == NULL)
		fatal("reg_set_reason");
}

/* Makes a registration wait to be offered: at once, or after the holds. */
static void
reg_wait(struct reg *r, enum reg_action action, int held)
{
	r->state = held ? REG_HELD : REG_PENDING;
	r->action = action;
}

/* Compares what the client runs with the disk and starts afresh: current,
 * or a load waiting.  What was held back is forgotten. */
static void
reg_settle(struct reg *r, const struct stamp *disk, int held)
{
	memset(&r->blocked, 0, sizeof(r->blocked));
	reg_set_reason(r, NULL);
	if (disk != NULL && !stamp_equal(disk, &r->have))
		reg_wait(r, REG_LOAD, held);
	else
		r->state = REG_CURRENT;
}

/* Holds the stamp on disk back from a registration, in state s. */
static void
reg_block(struct reg *r, enum reg_state s, const struct stamp *st,
    const char *reason)
{
	r->state = s;
	r->blocked = *st;
	reg_set_reason(r, reason);
}

/* Starts a registration: the client runs have, kept prev for a rollback;
 * it is current or has a load waiting. */
void
reg_init(struct reg *r, const struct stamp *have, const struct stamp *prev,
    const struct stamp *disk, int held)
{
	r->have = *have;
	if (prev != NULL)
		r->prev = *prev;
	r->reason = NULL;
	reg_settle(r, disk, held);
}

/* Frees what a registration's state owns. */
void
reg_clear(struct reg *r)
{
	reg_set_reason(r, NULL);
}

/* A build changed the file (or the path now leads to another one): what
 * failed, was discarded or rolled back from is forgotten, and the new
 * stamp is compared.  A reload in flight decides at its result; a forced
 * reload of what still runs stays forced; a registration waiting for a
 * purge keeps waiting, for the newest version. */
void
reg_changed(struct reg *r, const struct stamp *disk, int held)
{
	switch (r->state) {
	case REG_OFFERED:
	case REG_PREPARED:
		return;
	case REG_WAIT_PURGE:
		if (disk != NULL && !stamp_equal(disk, &r->have)) {
			r->blocked = *disk;
			return;
		}
		break;
	case REG_PENDING:
	case REG_HELD:
		if (r->action == REG_FORCE && disk != NULL &&
		    stamp_equal(disk, &r->have))
			return;
		break;
	default:
		break;
	}
	reg_settle(r, disk, held);
}

/* Puts a registration in the batch being built if it waits for exactly
 * that kind of batch (rollbacks go in one of their own); returns 1 if it
 * does, with what is offered.  A load needs a complete file on disk. */
int
reg_offer(struct reg *r, const struct stamp *disk, int rollbacks)
{
	if (r->state != REG_PENDING ||
	    (r->action == REG_ROLLBACK) != (rollbacks != 0))
		return 0;
	if (rollbacks)
		r->offered = r->prev;
	else if (disk == NULL)
		return 0;
	else
		r->offered = *disk;
	r->state = REG_OFFERED;
	return 1;
}

/* The client may not read the file any more (its permissions changed):
 * it is not offered until the file changes. */
void
reg_denied(struct reg *r, const struct stamp *disk, const char *reason)
{
	if (r->state == REG_PENDING && disk != NULL)
		reg_block(r, REG_FAILED, disk, reason);
}

/* The client prepared the version offered (protocol version 2): it
 * switches when its group commits. */
void
reg_prepared(struct reg *r)
{
	if (r->state == REG_OFFERED)
		r->state = REG_PREPARED;
}

/* Says whether the offer out must say force=yes: a forced reload of the
 * very version the client runs. */
int
reg_offer_forced(const struct reg *r)
{
	return r->state == REG_OFFERED && r->action == REG_FORCE &&
	    stamp_equal(&r->offered, &r->have);
}

/* Goes back to where a rollback that did not change anything started
 * from, unless a build changed the file meanwhile. */
static void
reg_restore(struct reg *r, const struct stamp *disk, int held)
{
	switch (r->before) {
	case REG_FAILED:
	case REG_DISCARDED:
	case REG_ROLLED_BACK:
	case REG_WAIT_PURGE:
		if (disk != NULL && r->blocked.kind != STAMP_NONE &&
		    stamp_equal(disk, &r->blocked)) {
			r->state = r->before;
			return;
		}
		break;
	default:
		break;
	}
	reg_settle(r, disk, held);
}

/*
 * Says how an ok for the offer out stands against it, before it is taken:
 * as offered; or, while the disk still says the version offered, the
 * client runs another one (it loaded a file that changed after it was
 * read), or still the one it ran.  A rollback is judged by its own rules.
 */
enum reg_ok
reg_ok_check(const struct reg *r, const struct stamp *now,
    const struct stamp *disk)
{
	if ((r->state != REG_OFFERED && r->state != REG_PREPARED) ||
	    r->action == REG_ROLLBACK || disk == NULL ||
	    stamp_equal(now, &r->offered) || !stamp_equal(disk, &r->offered))
		return REG_OK_AS_OFFERED;
	return stamp_equal(now, &r->have) ? REG_OK_UNCHANGED : REG_OK_OTHER;
}

/* Holds the disk's version back from a client that answered ok without
 * running it (how, from reg_ok_check), saying why. */
static void
reg_not_as_offered(struct reg *r, enum reg_ok how, const struct stamp *now,
    const struct stamp *offered, const struct stamp *disk)
{
	char got[PROTO_STAMP_MAX], want[PROTO_STAMP_MAX];
	char why[2 * PROTO_STAMP_MAX + 64];

	proto_stamp_format(now, got, sizeof(got));
	proto_stamp_format(offered, want, sizeof(want));
	if (how == REG_OK_OTHER)
		snprintf(why, sizeof(why), "it loaded %s, not the %s "
		    "offered: the file changed after it was read", got, want);
	else
		snprintf(why, sizeof(why), "it answered ok but still runs "
		    "%s, not the %s offered", got, want);
	reg_block(r, REG_FAILED, disk, why);
}

/*
 * Takes the client's result for the offer out: now is what it runs now.
 * A rollback that succeeded holds the newer file back; one that failed
 * or changed nothing goes back to where it started.  A load that
 * succeeded is compared with the disk again (it may have changed
 * meanwhile); one refused because old code runs waits for the purge; one
 * that failed holds that stamp back, unless a newer build came meanwhile;
 * one that prepared but whose switch aborted is discarded until the next
 * build ends.  Returns 1 when the client switched to another version.
 */
int
reg_result(struct reg *r, enum reg_outcome out, const struct stamp *now,
    const struct stamp *disk, int held, const char *reason)
{
	struct stamp offered = r->offered;
	int switched = !stamp_equal(now, &r->have);
	enum reg_ok how = reg_ok_check(r, now, disk);

	if (r->state != REG_OFFERED && r->state != REG_PREPARED)
		return 0;
	if (switched) {
		r->prev = r->have;
		r->have = *now;
	}
	if (r->action == REG_ROLLBACK) {
		if (out == REG_OK && switched) {
			if (disk != NULL && !stamp_equal(disk, &r->have))
				reg_block(r, REG_ROLLED_BACK, disk, NULL);
			else
				reg_settle(r, disk, held);
		} else
			reg_restore(r, disk, held);
		return switched;
	}
	switch (out) {
	case REG_OK:
		if (how != REG_OK_AS_OFFERED)
			reg_not_as_offered(r, how, now, &offered, disk);
		else
			reg_settle(r, disk, held);
		break;
	case REG_NOT_PURGED:
		if (disk != NULL && !stamp_equal(disk, &r->have))
			reg_block(r, REG_WAIT_PURGE, disk, reason);
		else
			reg_settle(r, disk, held);
		break;
	case REG_REFUSED:
		if (disk != NULL && stamp_equal(disk, &offered) &&
		    !stamp_equal(disk, &r->have))
			reg_block(r, REG_FAILED, disk, reason);
		else
			reg_settle(r, disk, held);
		break;
	case REG_ABORTED:
		/* It was fine; its switch was not: the next build offers it
		 * again, with whatever fixes what failed. */
		if (disk != NULL && !stamp_equal(disk, &r->have))
			reg_block(r, REG_DISCARDED, disk, reason);
		else
			reg_settle(r, disk, held);
		break;
	}
	return switched;
}

/*
 * The client switched the module to now along with another registration
 * of the same batch (an application's downgrade loads the old code of
 * its modules): after a rollback the newer file on disk is held back, as
 * for a rollback of the module itself; otherwise the disk is compared
 * again.  A module in a batch of its own answers for itself.  Returns 1
 * when the client switched to another version.
 */
int
reg_moved(struct reg *r, const struct stamp *now, const struct stamp *disk,
    int held, int rollback)
{
	if (r->state == REG_OFFERED || r->state == REG_PREPARED ||
	    stamp_equal(now, &r->have))
		return 0;
	r->prev = r->have;
	r->have = *now;
	if (rollback && disk != NULL && !stamp_equal(disk, &r->have))
		reg_block(r, REG_ROLLED_BACK, disk, NULL);
	else
		reg_settle(r, disk, held);
	return 1;
}

/* The client's old code is purged: a load refused for it is offered. */
void
reg_purged(struct reg *r, const struct stamp *disk, int held)
{
	if (r->state == REG_WAIT_PURGE)
		reg_settle(r, disk, held);
}

/* Asks for the file to be loaded again even if the client runs it, which
 * also clears a failure; 0 if a reload is already out or there is no
 * complete file to load. */
int
reg_force(struct reg *r, const struct stamp *disk, int held)
{
	if (r->state == REG_OFFERED || r->state == REG_PREPARED ||
	    disk == NULL)
		return 0;
	reg_settle(r, disk, held);
	reg_wait(r, stamp_equal(disk, &r->have) ? REG_FORCE : REG_LOAD, held);
	return 1;
}

/* Asks for the previous version again; 0 if none is known or a reload is
 * out.  What was held back stays known, for a rollback that fails. */
int
reg_rollback(struct reg *r, int held)
{
	if (r->state == REG_OFFERED || r->state == REG_PREPARED ||
	    r->prev.kind == STAMP_NONE)
		return 0;
	r->before = r->state;
	reg_wait(r, REG_ROLLBACK, held);
	return 1;
}

/* Reloads are now held: what waits to be offered waits for the release. */
void
reg_hold(struct reg *r)
{
	if (r->state == REG_PENDING)
		r->state = REG_HELD;
}

/* A build under a hold failed, or the holder asked to discard: a load it
 * held is discarded (until the next build ends), a forced reload or a
 * rollback asked for meanwhile is called off.  Returns 1 if one was. */
int
reg_discard(struct reg *r, const struct stamp *disk)
{
	if (r->state != REG_HELD)
		return 0;
	switch (r->action) {
	case REG_LOAD:
		reg_block(r, REG_DISCARDED, disk != NULL ? disk : &r->have,
		    NULL);
		break;
	case REG_FORCE:
		reg_settle(r, disk, 1);
		break;
	case REG_ROLLBACK:
		reg_restore(r, disk, 1);
		break;
	}
	return 1;
}

/* The last hold ended: what it held is offered; with deliver, the build
 * ended well, and what an earlier failed build discarded is offered too. */
void
reg_release(struct reg *r, const struct stamp *disk, int deliver)
{
	if (r->state == REG_HELD)
		r->state = REG_PENDING;
	else if (deliver)
		reg_build_ended(r, disk, 0);
}

/* A build ended (a batch settled with no hold): a change that a failed
 * build discarded is compared with the disk again. */
void
reg_build_ended(struct reg *r, const struct stamp *disk, int held)
{
	if (r->state == REG_DISCARDED)
		reg_settle(r, disk, held);
}
