/*
 * nameidx.c: names to pointers in an open-addressed table (nameidx.h).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nameidx.h"

/* FNV-1a: names are short, and the table's size is a power of two. */
static size_t
nameidx_hash(const char *s)
{
	uint32_t	h = 2166136261u;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

/* The slot of NAME, or the empty one where it would go. */
static struct nameidx_slot *
nameidx_slot(const struct nameidx *x, const char *name)
{
	size_t	i;

	for (i = nameidx_hash(name) & (x->cap - 1); x->slot[i].name != NULL &&
	    strcmp(x->slot[i].name, name) != 0; i = (i + 1) & (x->cap - 1))
		;
	return &x->slot[i];
}

/* At most half full: probes stay short. */
static int
nameidx_grow(struct nameidx *x)
{
	struct nameidx	 bigger = { NULL, x->cap ? x->cap * 2 : 16, x->n };
	size_t		 i;

	if (bigger.cap > SIZE_MAX / 2 / sizeof(*bigger.slot) ||
	    (bigger.slot = calloc(bigger.cap, sizeof(*bigger.slot))) == NULL)
		return -1;
	for (i = 0; i < x->cap; i++)
		if (x->slot[i].name != NULL)
			*nameidx_slot(&bigger, x->slot[i].name) = x->slot[i];
	free(x->slot);
	*x = bigger;
	return 0;
}

int
nameidx_put(struct nameidx *x, const char *name, void *val)
{
	struct nameidx_slot	*s;

	if ((x->n + 1) * 2 > x->cap && nameidx_grow(x) == -1)
		return -1;
	s = nameidx_slot(x, name);
	if (s->name == NULL)
		x->n++;
	s->name = name;
	s->val = val;
	return 0;
}

void *
nameidx_get(const struct nameidx *x, const char *name)
{
	return x->cap == 0 ? NULL : nameidx_slot(x, name)->val;
}

void
nameidx_clear(struct nameidx *x)
{
	if (x->slot != NULL)
		memset(x->slot, 0, x->cap * sizeof(*x->slot));
	x->n = 0;
}

void
nameidx_free(struct nameidx *x)
{
	free(x->slot);
	memset(x, 0, sizeof(*x));
}
