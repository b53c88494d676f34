/*
 * hook.c: running a module's hooks so that a crash in one cannot take
 * the process down.
 *
 * While a hook runs, a thread-local guard points at a sigjmp_buf: a
 * SIGSEGV, SIGBUS, SIGFPE or SIGILL on that thread jumps back out of the
 * hook, which counts as a crash.  At any other time, and on any other
 * thread, our handler passes the signal on to whatever handler the host
 * had installed before us (or to the default action), so the library
 * changes nothing outside hooks.  The handler runs on an alternate
 * signal stack, which a thread without one gets for the hook's
 * duration (the library's own thread keeps one for its life), so that a
 * hook that overflows its stack is caught too.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libreloader.h"

#define HOOK_STACK (64 * 1024)

static const int hook_signals[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL };
#define HOOK_NSIGNALS (sizeof(hook_signals) / sizeof(hook_signals[0]))

/* The host's handlers from before ours, indexed like hook_signals. */
static struct sigaction hook_prev[HOOK_NSIGNALS];
static int hook_ours[HOOK_NSIGNALS];
static pthread_mutex_t hook_mutex = PTHREAD_MUTEX_INITIALIZER;

/* The guard of the hook running on this thread, if any. */
static __thread sigjmp_buf *hook_guard;
static __thread volatile sig_atomic_t hook_caught;

/* The alternate stack the library's own thread keeps for its life, so
 * that its hooks need not set one up each time. */
static __thread void *hook_kept_stack;

/* Returns the short name of a signal a hook may die of. */
const char *
hook_signame(int sig)
{
	switch (sig) {
	case SIGSEGV:
		return "SIGSEGV";
	case SIGBUS:
		return "SIGBUS";
	case SIGFPE:
		return "SIGFPE";
	case SIGILL:
		return "SIGILL";
	default:
		return "a signal";
	}
}

/* Returns the index of sig in hook_signals, or -1. */
static int
hook_index(int sig)
{
	size_t i;

	for (i = 0; i < HOOK_NSIGNALS; i++)
		if (hook_signals[i] == sig)
			return (int)i;
	return -1;
}

/* Hands a signal that did not come from a hook to the host's handler, or
 * lets the default action happen as if we had never been there. */
static void
hook_forward(int sig, siginfo_t *si, void *uc)
{
	struct sigaction dfl;
	int i = hook_index(sig);
	int sent = si == NULL || si->si_code <= 0;

	if (i != -1 && (hook_prev[i].sa_flags & SA_SIGINFO) &&
	    hook_prev[i].sa_sigaction != NULL) {
		hook_prev[i].sa_sigaction(sig, si, uc);
		return;
	}
	if (i != -1 && hook_prev[i].sa_handler != SIG_DFL &&
	    hook_prev[i].sa_handler != SIG_IGN) {
		hook_prev[i].sa_handler(sig);
		return;
	}
	/* An ignored signal that someone sent stays ignored; a fault cannot
	 * be ignored, and the kernel would have killed us for it. */
	if (i != -1 && hook_prev[i].sa_handler == SIG_IGN && sent)
		return;
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	sigaction(sig, &dfl, NULL);
	/* A fault happens again on return, now with the default action; a
	 * sent signal must be sent again (it stays pending until we return). */
	if (sent)
		raise(sig);
}

/* Our handler for the four crash signals. */
static void
hook_handler(int sig, siginfo_t *si, void *uc)
{
	sigjmp_buf *env = hook_guard;
	int saved = errno;

	if (env != NULL) {
		hook_guard = NULL;
		hook_caught = sig;
		siglongjmp(*env, 1);
	}
	hook_forward(sig, si, uc);
	errno = saved;
}

/* Installs our handler for each crash signal where it is not installed,
 * keeping whatever was there before to pass other signals on to; run
 * before every hook, so a host that installed its own after us is
 * chained again. */
void
hook_install(void)
{
	struct sigaction sa, cur;
	size_t i;

	pthread_mutex_lock(&hook_mutex);
	for (i = 0; i < HOOK_NSIGNALS; i++) {
		if (sigaction(hook_signals[i], NULL, &cur) == -1)
			continue;
		if ((cur.sa_flags & SA_SIGINFO) &&
		    cur.sa_sigaction == hook_handler)
			continue;
		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = hook_handler;
		sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
		sigemptyset(&sa.sa_mask);
		hook_prev[i] = cur;
		if (sigaction(hook_signals[i], &sa, NULL) == 0)
			hook_ours[i] = 1;
	}
	pthread_mutex_unlock(&hook_mutex);
}

/* Puts the host's handlers back where ours are still installed; called
 * when the last handle is freed, since the library may be unloaded. */
void
hook_release(void)
{
	struct sigaction cur;
	size_t i;

	pthread_mutex_lock(&hook_mutex);
	for (i = 0; i < HOOK_NSIGNALS; i++) {
		if (!hook_ours[i])
			continue;
		hook_ours[i] = 0;
		if (sigaction(hook_signals[i], NULL, &cur) == -1)
			continue;
		if ((cur.sa_flags & SA_SIGINFO) &&
		    cur.sa_sigaction == hook_handler)
			sigaction(hook_signals[i], &hook_prev[i], NULL);
	}
	pthread_mutex_unlock(&hook_mutex);
}

/* Gives the calling thread, the library's own, an alternate signal stack
 * for as long as it runs, if it has none. */
void
hook_keep_stack(void)
{
	stack_t ss;
	void *stack;

	if (hook_kept_stack != NULL || sigaltstack(NULL, &ss) == -1 ||
	    !(ss.ss_flags & SS_DISABLE) || (stack = malloc(HOOK_STACK)) == NULL)
		return;
	ss.ss_sp = stack;
	ss.ss_size = HOOK_STACK;
	ss.ss_flags = 0;
	if (sigaltstack(&ss, NULL) == -1)
		free(stack);
	else
		hook_kept_stack = stack;
}

/* Takes back the stack hook_keep_stack gave the calling thread. */
void
hook_drop_stack(void)
{
	stack_t none;

	if (hook_kept_stack == NULL)
		return;
	memset(&none, 0, sizeof(none));
	none.ss_flags = SS_DISABLE;
	sigaltstack(&none, NULL);
	free(hook_kept_stack);
	hook_kept_stack = NULL;
}

/* What a hook is called with, and what it returned. */
struct hook_call {
	int kind;
	reloader_code_change_fn *code_change;
	reloader_test_fn *test;
	reloader_unload_fn *unload;
	const char *vsn;
	void *state;
	void **new_state;
	int rc;
};

/*
 * Runs one hook under the guard; returns 0 when it returned (its value
 * in c->rc) or the number of the signal it crashed with.  The hook
 * itself may be left half done: after a crash nothing it touched is to
 * be trusted, and the caller rolls back.
 */
static int
hook_run(struct hook_call *c)
{
	sigjmp_buf env;
	sigjmp_buf *volatile outer = hook_guard;
	stack_t ss, none;
	void *volatile stack = NULL;
	int sig;

	hook_install();
	/* Give the thread an alternate stack if it has none, so that a hook
	 * that overflows its own stack is caught too. */
	if (sigaltstack(NULL, &ss) == 0 && (ss.ss_flags & SS_DISABLE)) {
		if ((stack = malloc(HOOK_STACK)) != NULL) {
			ss.ss_sp = stack;
			ss.ss_size = HOOK_STACK;
			ss.ss_flags = 0;
			if (sigaltstack(&ss, NULL) == -1) {
				free(stack);
				stack = NULL;
			}
		}
	}
	hook_caught = 0;
	if (sigsetjmp(env, 1) == 0) {
		hook_guard = &env;
		switch (c->kind) {
		case 0:
			c->rc = c->code_change(c->vsn, c->state, c->new_state);
			break;
		case 1:
			c->rc = c->test(c->state);
			break;
		default:
			c->unload(c->state);
			c->rc = 0;
			break;
		}
	}
	hook_guard = outer;
	sig = hook_caught;
	hook_caught = 0;
	if (stack != NULL) {
		memset(&none, 0, sizeof(none));
		none.ss_flags = SS_DISABLE;
		sigaltstack(&none, NULL);
		free(stack);
	}
	return sig;
}

/* Runs reloader_code_change under the guard; 0 with its value in *rc, or
 * the signal it crashed with. */
int
hook_code_change(reloader_code_change_fn *fn, const char *vsn,
    void *old_state, void **new_state, int *rc)
{
	struct hook_call c;
	int sig;

	memset(&c, 0, sizeof(c));
	c.kind = 0;
	c.code_change = fn;
	c.vsn = vsn;
	c.state = old_state;
	c.new_state = new_state;
	sig = hook_run(&c);
	*rc = c.rc;
	return sig;
}

/* Runs reloader_test under the guard; 0 with its value in *rc, or the
 * signal it crashed with. */
int
hook_test(reloader_test_fn *fn, void *state, int *rc)
{
	struct hook_call c;
	int sig;

	memset(&c, 0, sizeof(c));
	c.kind = 1;
	c.test = fn;
	c.state = state;
	sig = hook_run(&c);
	*rc = c.rc;
	return sig;
}

/* Runs reloader_unload under the guard; 0, or the signal it crashed
 * with. */
int
hook_unload(reloader_unload_fn *fn, void *state)
{
	struct hook_call c;

	memset(&c, 0, sizeof(c));
	c.kind = 2;
	c.unload = fn;
	c.state = state;
	return hook_run(&c);
}
