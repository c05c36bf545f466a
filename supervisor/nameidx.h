/*
 * nameidx: names to pointers, hashed.  Where a lookup by name ran down a
 * list for every item of another list, the work grew with the square of
 * the node count: 15,000 nodes took a second of `--check-config` in
 * duplicate-section checks alone (issue 18).  The index does not own the
 * names: each must outlive its entry.
 */
#ifndef TUNNELD_NAMEIDX_H
#define TUNNELD_NAMEIDX_H

#include <stddef.h>

struct nameidx_slot {
	const char	*name;
	void		*val;
};

/* Zeroed: an empty index. */
struct nameidx {
	struct nameidx_slot	*slot;
	size_t			 cap, n;	/* cap: 0 or a power of two */
};

/* NAME -> VAL, replacing what NAME had: 0, or -1 when out of memory. */
int	 nameidx_put(struct nameidx *, const char *name, void *val);
/* What NAME maps to, or NULL. */
void	*nameidx_get(const struct nameidx *, const char *name);
/* Empty, its table kept for the next fill. */
void	 nameidx_clear(struct nameidx *);
void	 nameidx_free(struct nameidx *);

#endif
