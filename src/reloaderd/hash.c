/*
 * hash.c: an intrusive chained hash table.
 *
 * Nodes carry their own next pointer at a fixed offset, so a file or
 * directory costs no allocation beyond itself to be indexed.  The table
 * doubles when it holds as many nodes as buckets.
 */
#include <stdlib.h>
#include <string.h>

#include "reloaderd.h"

#define NEXT(t, n) (*(void **)((char *)(n) + (t)->nextoff))

/* Hashes len bytes with FNV-1a, continuing from h. */
uint64_t
hash_bytes(const void *p, size_t len, uint64_t h)
{
	const unsigned char *b = p;

	while (len-- > 0) {
		h ^= *b++;
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* Hashes a NUL-terminated string. */
uint64_t
hash_str(const char *s)
{
	return hash_bytes(s, strlen(s), 0xcbf29ce484222325ULL);
}

/* Makes an empty table for nodes whose next pointer is at nextoff. */
void
htab_init(struct htab *t, size_t nextoff, uint64_t (*hash)(const void *))
{
	memset(t, 0, sizeof(*t));
	t->nextoff = nextoff;
	t->hash = hash;
}

/* Returns the first node in the chain for hash h; compare keys yourself. */
void *
htab_first(const struct htab *t, uint64_t h)
{
	if (t->nbuckets == 0)
		return NULL;
	return t->buckets[h & (t->nbuckets - 1)];
}

/* Returns the node after n in its chain. */
void *
htab_next(const struct htab *t, const void *n)
{
	return NEXT(t, n);
}

/* Doubles the bucket array and rehashes every node into it. */
static void
htab_grow(struct htab *t)
{
	size_t n = t->nbuckets ? t->nbuckets * 2 : 64, i;
	void **b, *node, *next;

	if ((b = calloc(n, sizeof(*b))) == NULL)
		fatal("hash table of %zu buckets", n);
	for (i = 0; i < t->nbuckets; i++) {
		for (node = t->buckets[i]; node != NULL; node = next) {
			next = NEXT(t, node);
			NEXT(t, node) = b[t->hash(node) & (n - 1)];
			b[t->hash(node) & (n - 1)] = node;
		}
	}
	free(t->buckets);
	t->buckets = b;
	t->nbuckets = n;
}

/* Adds a node; the caller makes sure its key is not there yet. */
void
htab_insert(struct htab *t, void *n)
{
	void **head;

	if (t->count >= t->nbuckets)
		htab_grow(t);
	head = &t->buckets[t->hash(n) & (t->nbuckets - 1)];
	NEXT(t, n) = *head;
	*head = n;
	t->count++;
}

/* Takes a node out of the table; does nothing if it is not there. */
void
htab_remove(struct htab *t, void *n)
{
	void **pp;

	if (t->nbuckets == 0)
		return;
	for (pp = &t->buckets[t->hash(n) & (t->nbuckets - 1)]; *pp != NULL;
	    pp = &NEXT(t, *pp)) {
		if (*pp == n) {
			*pp = NEXT(t, n);
			NEXT(t, n) = NULL;
			t->count--;
			return;
		}
	}
}

/* Frees the bucket array; the nodes belong to the caller. */
void
htab_free(struct htab *t)
{
	free(t->buckets);
	t->buckets = NULL;
	t->nbuckets = t->count = 0;
}
