/*
 * test-reg.c: unit tests of what a registration waits for (reg.c), driven
 * without a socket or a file: every state, every named transition, and
 * the paths through which old code used to stay running with no word
 * said; then path.c's resolution of registered paths, symlinks and all,
 * and the cleaning of a registered path.
 *
 * The invariant that docs/PROTOCOL.md states is checked here for every
 * state: each one but current ends by itself when its cause ends, and
 * then one offer and one good result leave the registration current.
 */
#include <sys/stat.h>

#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "reloaderd.h"
#include "testutil.h"

/* Returns a build-id stamp whose bytes are all n (0: none). */
static struct stamp
st(int n)
{
	struct stamp s;

	memset(&s, 0, sizeof(s));
	if (n == 0)
		return s;
	s.kind = STAMP_BUILD_ID;
	s.len = 20;
	memset(s.bytes, n, s.len);
	return s;
}

/* Says which version (the n of st(n)) a stamp is; 0 for none. */
static int
ver(const struct stamp *s)
{
	return s->kind == STAMP_NONE ? 0 : s->bytes[0];
}

/* A registration under test, and the disk it is compared with. */
static struct reg g;
static struct stamp disk;
static int held;

/* Starts a registration running version have, with the disk at version
 * on (0: no module there) and nothing kept for a rollback. */
static void
start(int have, int on)
{
	struct stamp h = st(have), p = st(0);

	reg_clear(&g);
	memset(&g, 0, sizeof(g));
	disk = st(on);
	held = 0;
	reg_init(&g, &h, &p, on ? &disk : NULL, held);
}

/* Puts a new build on disk and tells the registration. */
static void
build(int on)
{
	disk = st(on);
	reg_changed(&g, on ? &disk : NULL, held);
}

/* Offers what waits (a load batch unless rollbacks); returns whether it
 * went out. */
static int
offer(int rollbacks)
{
	return reg_offer(&g, disk.kind ? &disk : NULL, rollbacks);
}

/* Answers the offer out: out, and the version the client now runs. */
static int
answer(enum reg_outcome out, int now)
{
	struct stamp n = st(now);

	return reg_result(&g, out, &n, disk.kind ? &disk : NULL, held,
	    out == REG_OK ? NULL : "it broke");
}

/* Offers and answers ok: the client loads what was offered. */
static void
load_ok(void)
{
	ck_assert_int_eq(offer(0), 1);
	ck_assert_int_eq(g.state, REG_OFFERED);
	answer(REG_OK, ver(&g.offered));
}

#define ck_state(s) ck_assert_str_eq(reg_state_name(g.state), \
	reg_state_name(s))

/* Teardown: frees the last registration's reason. */
static void
teardown(void)
{
	reg_clear(&g);
	memset(&g, 0, sizeof(g));
}

START_TEST(test_init)
{
	start(1, 1);
	ck_state(REG_CURRENT);
	start(1, 2);
	ck_state(REG_PENDING);
	ck_assert_int_eq(g.action, REG_LOAD);
	/* No complete module on disk now: nothing to offer. */
	start(1, 0);
	ck_state(REG_CURRENT);
	ck_assert_int_eq(offer(0), 0);
	/* Registered while reloads are held. */
	reg_clear(&g);
	memset(&g, 0, sizeof(g));
	disk = st(2);
	{
		struct stamp h = st(1);

		reg_init(&g, &h, NULL, &disk, 1);
	}
	ck_state(REG_HELD);
	ck_assert_int_eq(offer(0), 0);
}
END_TEST

/* A build reloads once; one that lands while a reload is out is offered
 * after the result, not lost and not doubled. */
START_TEST(test_change_during_reload)
{
	start(1, 1);
	build(2);
	ck_state(REG_PENDING);
	ck_assert_int_eq(offer(1), 0);     /* not in a rollback batch */
	ck_assert_int_eq(offer(0), 1);
	ck_assert_int_eq(ver(&g.offered), 2);
	ck_assert_int_eq(offer(0), 0);     /* out already */
	build(3);
	ck_state(REG_OFFERED);
	ck_assert_int_eq(answer(REG_OK, 2), 1);
	ck_state(REG_PENDING);
	ck_assert_int_eq(ver(&g.have), 2);
	ck_assert_int_eq(ver(&g.prev), 1);
	load_ok();
	ck_state(REG_CURRENT);
	ck_assert_int_eq(ver(&g.have), 3);
	/* An identical build, or a touch, is no change. */
	build(3);
	ck_state(REG_CURRENT);
	/* A file restored to an older build is. */
	build(1);
	ck_state(REG_PENDING);
}
END_TEST

/* A version that fails is not offered again until a build changes the
 * file, or a forced reload asks. */
START_TEST(test_failed)
{
	start(1, 1);
	build(2);
	ck_assert_int_eq(offer(0), 1);
	ck_assert_int_eq(answer(REG_REFUSED, 1), 0);
	ck_state(REG_FAILED);
	ck_assert_int_eq(ver(&g.blocked), 2);
	ck_assert_str_eq(g.reason, "it broke");
	ck_assert_int_eq(offer(0), 0);
	build(3);
	ck_state(REG_PENDING);
	ck_assert_ptr_null(g.reason);
	ck_assert_int_eq(offer(0), 1);
	answer(REG_REFUSED, 1);
	ck_state(REG_FAILED);
	ck_assert_int_eq(reg_force(&g, &disk, 0), 1);
	ck_state(REG_PENDING);
	ck_assert_int_eq(g.action, REG_LOAD);
	load_ok();
	ck_state(REG_CURRENT);
	/* A failure whose file changed meanwhile: the newer one goes. */
	build(4);
	offer(0);
	build(5);
	answer(REG_REFUSED, 3);
	ck_state(REG_PENDING);
	ck_assert_int_eq(ver(&g.have), 3);
}
END_TEST

/*
 * A client that loads another version than the one offered read a file
 * that changed after the daemon read it (a linker writes the build-id
 * last).  Offering the stamp read again would load the same file again,
 * as fast as the client answers: it fails instead, saying why, until the
 * file is read again.
 */
START_TEST(test_other_loaded)
{
	start(1, 1);
	build(2);
	ck_assert_int_eq(offer(0), 1);
	ck_assert_int_eq(answer(REG_OK, 3), 1);
	ck_state(REG_FAILED);
	ck_assert_int_eq(ver(&g.have), 3);
	ck_assert_int_eq(ver(&g.prev), 1);
	ck_assert_int_eq(ver(&g.blocked), 2);
	ck_assert_ptr_nonnull(g.reason);
	ck_assert_ptr_nonnull(strstr(g.reason, "it loaded build-id:0303"));
	ck_assert_ptr_nonnull(strstr(g.reason, "not the build-id:0202"));
	ck_assert_int_eq(offer(0), 0);
	/* Read again, the file holds what the client loaded. */
	build(3);
	ck_state(REG_CURRENT);
	ck_assert_ptr_null(g.reason);

	/* Read again, it holds yet another build: that one is offered. */
	build(4);
	ck_assert_int_eq(offer(0), 1);
	answer(REG_OK, 5);
	ck_state(REG_FAILED);
	build(6);
	ck_state(REG_PENDING);
	load_ok();
	ck_state(REG_CURRENT);

	/* The disk changed while the offer was out: the newer is offered,
	 * as for any result. */
	build(7);
	offer(0);
	build(8);
	{
		struct stamp n = st(9);

		ck_assert_int_eq(reg_ok_check(&g, &n, &disk),
		    REG_OK_AS_OFFERED);
	}
	answer(REG_OK, 9);
	ck_state(REG_PENDING);
	ck_assert_int_eq(ver(&g.have), 9);

	/* An ok that leaves it on what it ran: held back too, with its own
	 * reason, not offered again and again. */
	start(1, 1);
	build(2);
	offer(0);
	{
		struct stamp n = st(1), o = st(3);

		ck_assert_int_eq(reg_ok_check(&g, &n, &disk),
		    REG_OK_UNCHANGED);
		ck_assert_int_eq(reg_ok_check(&g, &o, &disk), REG_OK_OTHER);
		o = st(2);
		ck_assert_int_eq(reg_ok_check(&g, &o, &disk),
		    REG_OK_AS_OFFERED);
	}
	ck_assert_int_eq(answer(REG_OK, 1), 0);
	ck_state(REG_FAILED);
	ck_assert_ptr_nonnull(strstr(g.reason, "it answered ok but still "
	    "runs build-id:0101"));
	ck_assert_int_eq(offer(0), 0);
	build(3);
	ck_state(REG_PENDING);
	load_ok();
	ck_state(REG_CURRENT);
}
END_TEST

/* Issue path 2: a build under a hold that fails discards what it wrote;
 * the next build that ends offers it again, though it did not write it. */
START_TEST(test_discard)
{
	start(1, 1);
	held = 1;
	build(2);
	ck_state(REG_HELD);
	ck_assert_int_eq(offer(0), 0);
	ck_assert_int_eq(reg_discard(&g, &disk), 1);
	ck_state(REG_DISCARDED);
	ck_assert_int_eq(reg_discard(&g, &disk), 0);
	/* The failed build's release: still discarded. */
	held = 0;
	reg_release(&g, &disk, 0);
	ck_state(REG_DISCARDED);
	ck_assert_int_eq(offer(0), 0);
	/* The next build ends (a release that delivers)... */
	reg_release(&g, &disk, 1);
	ck_state(REG_PENDING);
	load_ok();
	ck_state(REG_CURRENT);
	ck_assert_int_eq(ver(&g.have), 2);

	/* ... or a plain make's changes settle with no hold. */
	held = 1;
	build(3);
	reg_discard(&g, &disk);
	held = 0;
	reg_build_ended(&g, &disk, 0);
	ck_state(REG_PENDING);
	/* A build of the same file clears it too. */
	held = 1;
	build(4);
	reg_discard(&g, &disk);
	held = 0;
	build(5);
	ck_state(REG_PENDING);
	ck_assert_int_eq(ver(&disk), 5);
}
END_TEST

/* Holding turns what waits into held; releasing offers it. */
START_TEST(test_hold)
{
	start(1, 1);
	build(2);
	ck_state(REG_PENDING);
	reg_hold(&g);
	ck_state(REG_HELD);
	reg_release(&g, &disk, 1);
	ck_state(REG_PENDING);
	/* A discard calls off a forced reload and a rollback asked for
	 * under the hold. */
	load_ok();
	reg_hold(&g);
	ck_assert_int_eq(reg_force(&g, &disk, 1), 1);
	ck_state(REG_HELD);
	ck_assert_int_eq(reg_discard(&g, &disk), 1);
	ck_state(REG_CURRENT);
	ck_assert_int_eq(reg_rollback(&g, 1), 1);
	ck_state(REG_HELD);
	ck_assert_int_eq(reg_discard(&g, &disk), 1);
	ck_state(REG_CURRENT);
	/* Without a discard, the release lets them go. */
	ck_assert_int_eq(reg_rollback(&g, 1), 1);
	reg_release(&g, &disk, 0);
	ck_state(REG_PENDING);
	ck_assert_int_eq(g.action, REG_ROLLBACK);
}
END_TEST

/* Issue path 3: refused because old code lingers, offered again once the
 * client says it is purged: the newest version, with no file change. */
START_TEST(test_wait_purge)
{
	start(1, 1);
	build(2);
	load_ok();
	build(3);
	ck_assert_int_eq(offer(0), 1);
	answer(REG_NOT_PURGED, 2);
	ck_state(REG_WAIT_PURGE);
	ck_assert_int_eq(offer(0), 0);
	/* A newer build while waiting: still waiting, for it. */
	build(4);
	ck_state(REG_WAIT_PURGE);
	ck_assert_int_eq(ver(&g.blocked), 4);
	reg_purged(&g, &disk, 0);
	ck_state(REG_PENDING);
	ck_assert_int_eq(offer(0), 1);
	ck_assert_int_eq(ver(&g.offered), 4);
	answer(REG_OK, 4);
	ck_state(REG_CURRENT);
	/* A purge when nothing waits for it changes nothing. */
	reg_purged(&g, &disk, 0);
	ck_state(REG_CURRENT);
	/* Nor does it wait when the disk went back to what runs. */
	build(5);
	offer(0);
	disk = st(4);
	answer(REG_NOT_PURGED, 4);
	ck_state(REG_CURRENT);
}
END_TEST

/* Version 2: a prepared module switches when its group commits, and is
 * discarded (offered at the next build) when the switch aborts. */
START_TEST(test_prepared)
{
	start(1, 1);
	build(2);
	offer(0);
	reg_prepared(&g);
	ck_state(REG_PREPARED);
	build(3);
	ck_state(REG_PREPARED);
	ck_assert_int_eq(reg_force(&g, &disk, 0), 0);
	ck_assert_int_eq(reg_rollback(&g, 0), 0);
	answer(REG_ABORTED, 1);
	ck_state(REG_DISCARDED);
	ck_assert_str_eq(g.reason, "it broke");
	reg_build_ended(&g, &disk, 0);
	ck_state(REG_PENDING);
	offer(0);
	reg_prepared(&g);
	answer(REG_OK, 3);
	ck_state(REG_CURRENT);
	ck_assert_int_eq(ver(&g.prev), 1);
}
END_TEST

/* Issue path 4: a forced reload of the same version keeps the rollback
 * target; a rollback goes to it and holds the newer file back. */
START_TEST(test_force_then_rollback)
{
	start(5, 5);
	build(8);
	load_ok();
	ck_assert_int_eq(ver(&g.prev), 5);
	ck_assert_int_eq(reg_force(&g, &disk, 0), 1);
	ck_assert_int_eq(g.action, REG_FORCE);
	ck_assert_int_eq(offer(0), 1);
	ck_assert_int_eq(reg_offer_forced(&g), 1);
	ck_assert_int_eq(answer(REG_OK, 8), 0);
	ck_state(REG_CURRENT);
	ck_assert_int_eq(ver(&g.prev), 5);
	ck_assert_int_eq(reg_rollback(&g, 0), 1);
	ck_assert_int_eq(offer(0), 0);     /* rollbacks go on their own */
	ck_assert_int_eq(offer(1), 1);
	ck_assert_int_eq(ver(&g.offered), 5);
	ck_assert_int_eq(answer(REG_OK, 5), 1);
	ck_state(REG_ROLLED_BACK);
	ck_assert_int_eq(ver(&g.have), 5);
	ck_assert_int_eq(ver(&g.prev), 8);
	ck_assert_int_eq(offer(0), 0);
	/* A second rollback goes forward again. */
	ck_assert_int_eq(reg_rollback(&g, 0), 1);
	ck_assert_int_eq(offer(1), 1);
	ck_assert_int_eq(ver(&g.offered), 8);
	answer(REG_OK, 8);
	ck_state(REG_CURRENT);
	/* The newer build after a rollback is offered. */
	reg_rollback(&g, 0);
	offer(1);
	answer(REG_OK, 5);
	ck_state(REG_ROLLED_BACK);
	build(9);
	ck_state(REG_PENDING);
}
END_TEST

/* A module switched along with another registration of its batch (an
 * Erlang application's downgrade): it runs the older code, so it is
 * rolled back and the newer file is held back until a build; along with
 * a load it is compared with the disk; a module in the batch itself, or
 * one whose code did not change, is left as it is. */
START_TEST(test_moved)
{
	struct stamp n;

	start(5, 5);
	build(8);
	load_ok();
	n = st(5);
	ck_assert_int_eq(reg_moved(&g, &n, &disk, held, 1), 1);
	ck_state(REG_ROLLED_BACK);
	ck_assert_int_eq(ver(&g.have), 5);
	ck_assert_int_eq(ver(&g.prev), 8);
	ck_assert_int_eq(ver(&g.blocked), 8);
	ck_assert_int_eq(offer(0), 0);
	/* Its code did not change: nothing to say. */
	ck_assert_int_eq(reg_moved(&g, &n, &disk, held, 1), 0);
	ck_state(REG_ROLLED_BACK);
	/* A rollback of the module itself then goes forward again. */
	ck_assert_int_eq(reg_rollback(&g, 0), 1);
	ck_assert_int_eq(offer(1), 1);
	ck_assert_int_eq(ver(&g.offered), 8);
	answer(REG_OK, 8);
	ck_state(REG_CURRENT);
	/* The next build after it is offered. */
	ck_assert_int_eq(reg_moved(&g, &n, &disk, held, 1), 1);
	build(9);
	ck_state(REG_PENDING);
	load_ok();
	ck_state(REG_CURRENT);

	/* Moved along with a load to what is on disk: current. */
	start(5, 8);
	n = st(8);
	ck_assert_int_eq(reg_moved(&g, &n, &disk, held, 0), 1);
	ck_state(REG_CURRENT);
	/* Moved along with a load to what is not on disk: offered. */
	n = st(7);
	ck_assert_int_eq(reg_moved(&g, &n, &disk, held, 0), 1);
	ck_state(REG_PENDING);
	/* Held: offered after the holds. */
	held = 1;
	n = st(6);
	ck_assert_int_eq(reg_moved(&g, &n, &disk, held, 0), 1);
	ck_state(REG_HELD);
	held = 0;
	/* Rolled back to what is on disk: current. */
	n = st(8);
	ck_assert_int_eq(reg_moved(&g, &n, &disk, held, 1), 1);
	ck_state(REG_CURRENT);

	/* In the batch itself: its own result decides. */
	start(5, 5);
	build(8);
	ck_assert_int_eq(offer(0), 1);
	n = st(4);
	ck_assert_int_eq(reg_moved(&g, &n, &disk, held, 1), 0);
	ck_state(REG_OFFERED);
	ck_assert_int_eq(ver(&g.have), 5);
}
END_TEST

/* A rollback that fails, or that a client says ok to while still running
 * the same version, changes nothing: the state is what it was. */
START_TEST(test_rollback_fails)
{
	start(5, 5);
	build(8);
	load_ok();
	reg_rollback(&g, 0);
	offer(1);
	ck_assert_int_eq(answer(REG_OK, 8), 0);
	ck_state(REG_CURRENT);
	ck_assert_int_eq(ver(&g.prev), 5);
	reg_rollback(&g, 0);
	offer(1);
	answer(REG_REFUSED, 8);
	ck_state(REG_CURRENT);
	/* From rolled-back, a failed forward rollback stays rolled back. */
	reg_rollback(&g, 0);
	offer(1);
	answer(REG_OK, 5);
	ck_state(REG_ROLLED_BACK);
	reg_rollback(&g, 0);
	offer(1);
	answer(REG_NOT_PURGED, 5);
	ck_state(REG_ROLLED_BACK);
	ck_assert_int_eq(ver(&g.blocked), 8);
	/* Nothing kept, or a reload out: no rollback. */
	start(1, 1);
	ck_assert_int_eq(reg_rollback(&g, 0), 0);
	build(2);
	offer(0);
	ck_assert_int_eq(reg_rollback(&g, 0), 0);
	ck_assert_int_eq(reg_force(&g, &disk, 0), 0);
	answer(REG_OK, 2);
	ck_assert_int_eq(reg_force(&g, NULL, 0), 0);
}
END_TEST

/* A client that may no longer read the file is not offered it. */
START_TEST(test_denied)
{
	start(1, 1);
	build(2);
	reg_denied(&g, &disk, "uid 7 may not read it");
	ck_state(REG_FAILED);
	ck_assert_str_eq(g.reason, "uid 7 may not read it");
	build(3);
	ck_state(REG_PENDING);
}
END_TEST

/* Brings the registration into state s, with a build waiting behind it
 * where the state holds one back. */
static void
reach(enum reg_state s)
{
	start(1, 1);
	build(2);
	load_ok();
	switch (s) {
	case REG_CURRENT:
		break;
	case REG_PENDING:
		build(3);
		break;
	case REG_HELD:
		held = 1;
		build(3);
		break;
	case REG_OFFERED:
		build(3);
		offer(0);
		break;
	case REG_FAILED:
		build(3);
		offer(0);
		answer(REG_REFUSED, 2);
		break;
	case REG_DISCARDED:
		held = 1;
		build(3);
		reg_discard(&g, &disk);
		held = 0;
		break;
	case REG_WAIT_PURGE:
		build(3);
		offer(0);
		answer(REG_NOT_PURGED, 2);
		break;
	case REG_ROLLED_BACK:
		reg_rollback(&g, 0);
		offer(1);
		answer(REG_OK, 1);
		break;
	case REG_PREPARED:
		build(3);
		offer(0);
		reg_prepared(&g);
		break;
	}
	ck_state(s);
}

/* Ends the cause of state s the way its reg_state_ends says. */
static void
end_cause(enum reg_state s)
{
	switch (s) {
	case REG_CURRENT:
	case REG_PENDING:
		break;
	case REG_HELD:
		held = 0;
		reg_release(&g, &disk, 1);
		break;
	case REG_OFFERED:
	case REG_PREPARED:
		answer(REG_OK, ver(&g.offered));
		break;
	case REG_FAILED:
	case REG_ROLLED_BACK:
		build(7);
		break;
	case REG_DISCARDED:
		reg_build_ended(&g, &disk, 0);
		break;
	case REG_WAIT_PURGE:
		reg_purged(&g, &disk, 0);
		break;
	}
}

/* The invariant: every state but current has a name and says what ends
 * it; when that happens, at most one offer and a good result leave the
 * registration current with the disk. */
START_TEST(test_every_state_ends)
{
	enum reg_state s;
	const char *seen[REG_PREPARED + 1];

	for (s = REG_CURRENT; s <= REG_PREPARED; s++) {
		seen[s] = reg_state_name(s);
		ck_assert_str_ne(seen[s], "?");
		ck_assert_str_ne(reg_state_ends(s), "?");
		for (enum reg_state t = REG_CURRENT; t < s; t++)
			ck_assert_str_ne(seen[t], seen[s]);
		reach(s);
		end_cause(s);
		if (g.state == REG_PENDING)
			load_ok();
		ck_assert_msg(g.state == REG_CURRENT, "%s does not end: %s",
		    reg_state_name(s), reg_state_name(g.state));
		ck_assert_int_eq(ver(&g.have), ver(&disk));
	}
}
END_TEST

/* ---- hold.c ---------------------------------------------------------- */

/* An admin's hold covers everyone, a member's only its uid's clients; a
 * release finds the connection's own hold first, then one that outlives
 * its connection and that the peer may end. */
START_TEST(test_holds)
{
	struct client admin, member, other, other2;
	struct hold *h1, *h2, *h3;

	memset(&admin, 0, sizeof(admin));
	memset(&member, 0, sizeof(member));
	memset(&other, 0, sizeof(other));
	memset(&other2, 0, sizeof(other2));
	admin.cred.uid = geteuid();
	member.cred.uid = geteuid() + 1000;
	other.cred.uid = geteuid() + 2000;
	other2.cred.uid = other.cred.uid;
	ck_assert_int_eq(hold_client_held(&member), 0);

	h1 = hold_take(&member, HOLD_CONNECTION);
	ck_assert_int_eq(h1->reach, HOLD_UID);
	ck_assert_int_eq(hold_client_held(&member), 1);
	ck_assert_int_eq(hold_client_held(&other), 0);
	ck_assert_int_eq(hold_client_held(&admin), 0);
	/* Another connection of another uid cannot end it. */
	ck_assert_ptr_null(hold_find(&other));
	ck_assert_ptr_eq(hold_find(&member), h1);

	h2 = hold_take(&other, HOLD_DAEMON);
	ck_assert_int_eq(hold_client_held(&other2), 1);
	/* Its own uid's other connection may end a lasting hold. */
	ck_assert_ptr_eq(hold_find(&other2), h2);
	ck_assert_ptr_eq(hold_next_of(&other, NULL), h2);
	ck_assert_ptr_null(hold_next_of(&other, h2));

	h3 = hold_take(&admin, HOLD_CONNECTION);
	ck_assert_int_eq(h3->reach, HOLD_EVERYONE);
	ck_assert_int_eq(hold_covers(h3, &member), 1);
	ck_assert_int_eq(rd->holds, 3);
	hold_drop(h1);
	hold_drop(h2);
	ck_assert_int_eq(hold_client_held(&other), 1);
	/* An admin ends any lasting hold. */
	h2 = hold_take(&other, HOLD_DAEMON);
	hold_drop(h3);
	ck_assert_ptr_eq(hold_find(&admin), h2);
	hold_free_all();
	ck_assert_int_eq(rd->holds, 0);
	ck_assert_int_eq(hold_client_held(&other), 0);
}
END_TEST

/* ---- path.c ---------------------------------------------------------- */

static char *tmp;

/* Makes the scratch directory for the path tests. */
static void
path_setup(void)
{
	tmp = tu_tmpdir();
	ck_assert_ptr_nonnull(tmp);
}

/* Removes it. */
static void
path_teardown(void)
{
	tu_rmrf(tmp);
	tmp = NULL;
}

/* Makes a file, directory or link under the scratch directory. */
static void
mk(const char *what, const char *name, const char *to)
{
	char p[PATH_MAX];
	FILE *fp;

	snprintf(p, sizeof(p), "%s/%s", tmp, name);
	if (strcmp(what, "file") == 0) {
		ck_assert_ptr_nonnull(fp = fopen(p, "w"));
		fclose(fp);
	} else if (strcmp(what, "dir") == 0)
		ck_assert_int_eq(mkdir(p, 0755), 0);
	else
		ck_assert_int_eq(symlink(to, p), 0);
}

/* Resolves tmp/name; checks the result (relative to tmp) or the errno,
 * and the sites (relative to tmp, space-separated). */
static void
resolves(const char *name, const char *real, int err, const char *sites)
{
	struct path_res res;
	char given[PATH_MAX], want[PATH_MAX], got[4096] = "";
	size_t i, n = strlen(tmp);
	int rc;

	snprintf(given, sizeof(given), "%s/%s", tmp, name);
	rc = path_resolve(given, NULL, &res);
	if (err == 0) {
		ck_assert_msg(rc == 0, "%s: %s", name, res.msg);
		snprintf(want, sizeof(want), "%s/%s", tmp, real);
		ck_assert_str_eq(res.real, want);
	} else {
		ck_assert_int_eq(rc, -1);
		ck_assert_msg(res.err == err, "%s: errno %d, not %d (%s)",
		    name, res.err, err, res.msg);
	}
	for (i = 0; i < res.nsites; i++) {
		ck_assert(strncmp(res.sites[i], tmp, n) == 0);
		snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s",
		    i ? " " : "", res.sites[i] + n + 1);
	}
	ck_assert_str_eq(got, sites);
	path_res_free(&res);
}

START_TEST(test_resolve)
{
	mk("dir", "build", NULL);
	mk("dir", "build/release-7", NULL);
	mk("dir", "build/release-8", NULL);
	mk("file", "build/libfoo.so.1.2", NULL);
	mk("file", "build/release-7/handler.so", NULL);
	mk("file", "build/release-8/handler.so", NULL);
	mk("link", "build/libfoo.so", "libfoo.so.1.2");
	mk("link", "build/current", "release-7");
	mk("link", "build/h.so", "current/handler.so");
	mk("link", "abs", tmp);

	resolves("build/libfoo.so.1.2", "build/libfoo.so.1.2", 0, "");
	resolves("build/libfoo.so", "build/libfoo.so.1.2", 0,
	    "build/libfoo.so");
	resolves("build/current/handler.so", "build/release-7/handler.so", 0,
	    "build/current");
	resolves("build/h.so", "build/release-7/handler.so", 0,
	    "build/h.so build/current");
	resolves("abs/build/./current/../libfoo.so",
	    "build/libfoo.so.1.2", 0,
	    "abs build/current build/libfoo.so");
	/* What is missing is a site too: its appearance is a change. */
	mk("link", "build/dangling.so", "release-9/handler.so");
	resolves("build/dangling.so", NULL, ENOENT,
	    "build/dangling.so build/release-9");
	resolves("build/nothing.so", NULL, ENOENT, "build/nothing.so");
	resolves("build/libfoo.so.1.2/x", NULL, ENOTDIR, "");
	resolves("build/release-7", NULL, EINVAL, "");
	mk("link", "loop", "loop");
	resolves("loop", NULL, ELOOP, "loop loop loop loop loop loop loop "
	    "loop loop loop loop loop loop loop loop loop loop loop loop loop "
	    "loop loop loop loop loop loop loop loop loop loop loop loop loop "
	    "loop loop loop loop loop loop loop");
}
END_TEST

/* With a peer's credentials, every directory on the way must let it
 * search, those a symlink leads through included. */
START_TEST(test_resolve_cred)
{
	struct cred nobody = { .uid = 65534, .gid = 65534, .pid = 1 };
	struct path_res res;
	char p[PATH_MAX], err[512];

	mk("dir", "open", NULL);
	mk("dir", "shut", NULL);
	mk("file", "shut/secret.so", NULL);
	mk("link", "open/link.so", "../shut/secret.so");
	snprintf(p, sizeof(p), "%s/shut", tmp);
	ck_assert_int_eq(chmod(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/open", tmp);
	ck_assert_int_eq(chmod(p, 0755), 0);
	ck_assert_int_eq(chmod(tmp, 0755), 0);
	snprintf(p, sizeof(p), "%s/open/link.so", tmp);
	ck_assert_int_eq(path_resolve(p, &nobody, &res), -1);
	ck_assert_int_eq(res.err, EACCES);
	ck_assert_ptr_nonnull(strstr(res.msg, "may not search"));
	path_res_free(&res);
	ck_assert_int_eq(cred_can_read(&nobody, p, err, sizeof(err)), -1);
	ck_assert_int_eq(errno, EACCES);
	/* Its own files are fine for the daemon's own user. */
	ck_assert_int_eq(path_resolve(p, NULL, &res), 0);
	path_res_free(&res);
}
END_TEST

/* A registered path is cleaned of what cannot change where it leads. */
START_TEST(test_clean)
{
	static const char *const cases[][2] = {
		{ "/a/b.so", "/a/b.so" },
		{ "//a///b.so", "/a/b.so" },
		{ "/a/./b.so", "/a/b.so" },
		{ "/a/.", "/a" },
		{ "/a/b/", "/a/b" },
		{ "/", "/" },
		{ "/./", "/" },
		{ "/a/../b.so", "/a/../b.so" },
		{ "/a/.b.so", "/a/.b.so" },
	};
	char buf[PATH_MAX];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		wanted_clean(cases[i][0], buf, sizeof(buf));
		ck_assert_msg(strcmp(buf, cases[i][1]) == 0, "%s -> %s, not %s",
		    cases[i][0], buf, cases[i][1]);
	}
}
END_TEST

/* An application's .app and .appup files are stamped by the MD5 of their
 * bytes, and are whole once their term's full stop is written. */
START_TEST(test_app_stamp)
{
	static const char app[] = "{application, nine9s, [{vsn, \"0.2.0\"}]}.\n";
	char p[PATH_MAX], err[STAMP_ERR_MAX], hex[64];
	struct stamp st;
	FILE *fp;

	snprintf(p, sizeof(p), "%s/nine9s.app", tmp);
	ck_assert_ptr_nonnull(fp = fopen(p, "w"));
	fwrite(app, 1, strlen(app) - 3, fp);	/* not the "}.\n" yet */
	fclose(fp);
	ck_assert_int_eq(stamp_read_file(p, &st, err, sizeof(err)),
	    STAMP_INCOMPLETE);
	ck_assert_ptr_nonnull(fp = fopen(p, "w"));
	fputs(app, fp);
	fclose(fp);
	ck_assert_int_eq(stamp_read_file(p, &st, err, sizeof(err)), STAMP_OK);
	ck_assert_int_eq(st.kind, STAMP_CONTENT);
	stamp_format_value(&st, hex, sizeof(hex));
	/* md5sum of the same bytes. */
	ck_assert_str_eq(hex, "aa2571078fe55fbe0b02f83ec8dce5f3");
	snprintf(p, sizeof(p), "%s/nine9s.appup", tmp);
	ck_assert_ptr_nonnull(fp = fopen(p, "w"));
	fputs("{\"0.2.0\", [], []}.", fp);
	fclose(fp);
	ck_assert_int_eq(stamp_read_file(p, &st, err, sizeof(err)), STAMP_OK);
	ck_assert_int_eq(st.kind, STAMP_CONTENT);
}
END_TEST

/* One rule names a module after its file, wherever it is named: the
 * daemon's log and events, and libreloader. */
START_TEST(test_module_name)
{
	static const char *const cases[][2] = {
		{ "/b/hello.so", "hello" },
		{ "/b/hello.v2.so", "hello.v2" },
		{ "/b/a.b.so", "a.b" },
		{ "/b/lib.so", "lib" },
		{ "/b/.so", ".so" },
		{ "/b/x.beam.so", "x.beam" },
		{ "/b/x.so.so", "x.so" },
		{ "/b/libfoo.so.1.2", "libfoo" },
		{ "/b/libfoo.so.1", "libfoo" },
		{ "/b/libfoo.so.x", "libfoo.so.x" },
		{ "/b/counter.beam", "counter" },
		{ "/b/.beam", ".beam" },
		{ "/b/plain", "plain" },
		{ "noslash.so", "noslash" },
	};
	struct stamp s;
	char buf[STAMP_MODULE_MAX];
	size_t i;

	memset(&s, 0, sizeof(s));
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		stamp_module_name(cases[i][0], &s, buf, sizeof(buf));
		ck_assert_msg(strcmp(buf, cases[i][1]) == 0, "%s -> %s, not %s",
		    cases[i][0], buf, cases[i][1]);
		stamp_module_name(cases[i][0], NULL, buf, sizeof(buf));
		ck_assert_str_eq(buf, cases[i][1]);
	}
	/* The module's own name wins. */
	snprintf(s.module, sizeof(s.module), "greeter");
	stamp_module_name("/b/hello.v2.so", &s, buf, sizeof(buf));
	ck_assert_str_eq(buf, "greeter");
	/* A small buffer truncates and stays terminated. */
	memset(&s, 0, sizeof(s));
	stamp_module_name("/b/abcdef.so", &s, buf, 4);
	ck_assert_str_eq(buf, "abc");
}
END_TEST

/* Builds the suite. */
static Suite *
reg_suite(void)
{
	Suite *s = suite_create("reg");
	TCase *tc;

	tc = tcase_create("states");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, test_init);
	tcase_add_test(tc, test_change_during_reload);
	tcase_add_test(tc, test_failed);
	tcase_add_test(tc, test_other_loaded);
	tcase_add_test(tc, test_discard);
	tcase_add_test(tc, test_hold);
	tcase_add_test(tc, test_wait_purge);
	tcase_add_test(tc, test_force_then_rollback);
	tcase_add_test(tc, test_rollback_fails);
	tcase_add_test(tc, test_moved);
	tcase_add_test(tc, test_denied);
	tcase_add_test(tc, test_every_state_ends);
	tcase_add_test(tc, test_prepared);
	tcase_add_test(tc, test_holds);
	suite_add_tcase(s, tc);

	tc = tcase_create("paths");
	tcase_add_checked_fixture(tc, path_setup, path_teardown);
	tcase_add_test(tc, test_resolve);
	tcase_add_test(tc, test_resolve_cred);
	tcase_add_test(tc, test_clean);
	tcase_add_test(tc, test_module_name);
	tcase_add_test(tc, test_app_stamp);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(reg_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
