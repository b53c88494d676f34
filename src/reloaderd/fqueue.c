/*
 * fqueue.c: a queue of files, oldest first (struct fqueue).
 *
 * It is an array: a file keeps its slot's index, 4 bytes, where two
 * links took 16, and a file taken out early leaves its slot empty.  The
 * array doubles when full, unless at most half its slots hold a file:
 * then they move to the front, so that pushing stays O(1) amortized.
 * The first scan's queue can hold every file of a tree; an emptied queue
 * bigger than FQ_KEEP slots gives its array back.
 */
#include <stdint.h>
#include <stdlib.h>

#include "reloaderd.h"

#define FQ_KEEP 1024

/* Makes room at the end of a queue: moves its files to the front when
 * at most half its slots hold one, else doubles it. */
static void
fq_make_room(struct fqueue *q)
{
	struct file **v;
	uint32_t i, o = 0;

	if (q->cap > 0 && q->n <= q->cap / 2) {
		for (i = q->head; i < q->tail; i++)
			if (q->v[i] != NULL) {
				q->v[o] = q->v[i];
				q->v[o]->qidx = o;
				o++;
			}
		q->head = 0;
		q->tail = o;
		return;
	}
	if (q->cap > UINT32_MAX / 2)
		fatalx("fq_make_room: more than %u files queued", q->cap);
	if ((v = reallocarray(q->v, q->cap ? q->cap * 2 : 64,
	    sizeof(*v))) == NULL)
		fatal("fq_make_room");
	q->v = v;
	q->cap = q->cap ? q->cap * 2 : 64;
}

/* Appends a file to a queue. */
void
fq_push(struct fqueue *q, struct file *f)
{
	if (q->tail == q->cap)
		fq_make_room(q);
	f->qidx = q->tail;
	q->v[q->tail++] = f;
	q->n++;
}

/* Takes a file out of the queue it is in; an empty queue starts over. */
void
fq_del(struct fqueue *q, struct file *f)
{
	if (f->qidx < q->head || f->qidx >= q->tail || q->v[f->qidx] != f)
		fatalx("fq_del: %s is not in slot %u of the queue", f->name,
		    f->qidx);
	q->v[f->qidx] = NULL;
	if (--q->n > 0)
		return;
	q->head = q->tail = 0;
	if (q->cap > FQ_KEEP) {
		free(q->v);
		q->v = NULL;
		q->cap = 0;
	}
}

/* Returns the oldest file in a queue, or NULL. */
struct file *
fq_first(struct fqueue *q)
{
	while (q->head < q->tail && q->v[q->head] == NULL)
		q->head++;
	return q->head < q->tail ? q->v[q->head] : NULL;
}

/* Frees a queue's array; the files in it stay where they are. */
void
fq_free(struct fqueue *q)
{
	free(q->v);
	q->v = NULL;
	q->head = q->tail = q->cap = q->n = 0;
}
