/*
 * sig.c: the signals a follow or a build must notice.
 *
 * SIGINT, SIGTERM, SIGHUP and SIGCHLD are blocked and caught; they are
 * let through only inside ppoll(2) (conn_read), so that a signal can
 * never slip in between checking the flags and going to sleep.  SIGINT
 * and SIGHUP stay ignored if they were (a background job, nohup).
 */
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <time.h>

#include "ctl.h"

volatile sig_atomic_t sig_pending;     /* SIGINT, SIGTERM or SIGHUP */
volatile sig_atomic_t sig_from_user;   /* it was sent by kill(2) */
volatile sig_atomic_t sig_child;       /* SIGCHLD arrived */

static const int sig_list[] = { SIGINT, SIGTERM, SIGHUP, SIGCHLD };
static struct sigaction sig_old[4];
static sigset_t sig_oldmask, sig_during;
static int sig_caught;

/* Notes which signal arrived and whether a process sent it (rather than
 * the terminal, which sends it to the whole process group). */
static void
sig_handler(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	if (sig == SIGCHLD) {
		sig_child = 1;
		return;
	}
	sig_pending = sig;
	sig_from_user = si != NULL &&
	    (si->si_code == SI_USER || si->si_code == SI_QUEUE);
}

/* Starts catching the signals; they arrive only while conn_read waits. */
void
sig_catch(void)
{
	struct sigaction sa;
	sigset_t set;
	size_t i;

	if (sig_caught)
		return;
	sigemptyset(&set);
	for (i = 0; i < sizeof(sig_list) / sizeof(sig_list[0]); i++)
		sigaddset(&set, sig_list[i]);
	sigprocmask(SIG_BLOCK, &set, &sig_oldmask);
	sig_during = sig_oldmask;
	for (i = 0; i < sizeof(sig_list) / sizeof(sig_list[0]); i++)
		sigdelset(&sig_during, sig_list[i]);
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = sig_handler;
	sa.sa_flags = SA_SIGINFO | SA_NOCLDSTOP;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < sizeof(sig_list) / sizeof(sig_list[0]); i++) {
		sigaction(sig_list[i], NULL, &sig_old[i]);
		/* A shell starts background jobs with SIGINT ignored (and
		 * nohup SIGHUP): they stay ignored, for us and the build. */
		if ((sig_list[i] == SIGINT || sig_list[i] == SIGHUP) &&
		    sig_old[i].sa_handler == SIG_IGN)
			continue;
		sigaction(sig_list[i], &sa, NULL);
	}
	sig_caught = 1;
}

/* Puts back the dispositions and the mask from before sig_catch: in a
 * command about to be executed, and once a build's command is over. */
void
sig_restore(void)
{
	size_t i;

	if (!sig_caught)
		return;
	for (i = 0; i < sizeof(sig_list) / sizeof(sig_list[0]); i++)
		sigaction(sig_list[i], &sig_old[i], NULL);
	sigprocmask(SIG_SETMASK, &sig_oldmask, NULL);
	sig_caught = 0;
}

/* Forgets the SIGCHLD of a child already reaped, which may still be
 * pending (blocked) if the child ended before a ppoll let it in: else
 * the next wait of "build --watch" would take it for a new signal. */
void
sig_forget_child(void)
{
	struct timespec zero = { 0, 0 };
	sigset_t set;

	if (sig_caught) {
		sigemptyset(&set);
		sigaddset(&set, SIGCHLD);
		while (sigtimedwait(&set, NULL, &zero) == SIGCHLD)
			;
	}
	sig_child = 0;
}

/* Returns the mask for ppoll: the caught signals let through, or NULL
 * to keep the mask as it is when none are caught. */
const sigset_t *
sig_waitmask(void)
{
	return sig_caught ? &sig_during : NULL;
}
