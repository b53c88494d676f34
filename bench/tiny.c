/*
 * tiny.c: the smallest module with a build-id, which bench/mktree copies
 * into the trees of the scale benchmarks, each copy with its own id.
 */
int reply(void *);

/* Says which build this is; never called by the benchmarks. */
int
reply(void *state)
{
	return 1;
}
