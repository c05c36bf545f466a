/*
 * pool: one address in front of several nodes.
 *
 * Each client accepted on a pool's listener goes to the best node at that
 * moment: nodes that are `up` first, ranked by the pool's policy; `degraded`
 * ones only when none is up.  A node whose connection fails before a byte
 * has moved either way is skipped for the next candidate, so a client sees
 * no error while any node is healthy.  A node is reached through the local
 * forward its Ollama URL points at (the socket is handed to the forward,
 * no extra hop), else by relaying to the host:port of its Ollama URL
 * (ssh = none, or an SSH node whose Ollama the hub reaches otherwise, such
 * as the hub end of the node's own reverse tunnel), else, with
 * ollama = none, through its first local forward.  The config refuses a
 * member with none of these; the status lists each member's address, or
 * why the pool skips it now.
 */
#ifndef TUNNELD_POOL_H
#define TUNNELD_POOL_H

#include <stddef.h>

#include <jansson.h>

#include "tunneld.h"

#define POOL_NODES_MAX	CONFIG_POOL_NODES_MAX

/* What ranking needs to know of a node; pure, for tests. */
struct pool_cand {
	enum node_state	 state;
	double		 load_score;
	int		 reachable;	/* has an endpoint (forward or URL) */
};

/*
 * Order the N candidates (given in the pool's listed order) into ORDER,
 * best first; returns how many qualify.  Up nodes only, or, when none is
 * up, degraded ones.  `priority` keeps the listed order; `least-load` sorts
 * by load_score, ties in listed order.
 */
size_t	 pool_rank(enum pool_policy, const struct pool_cand *, size_t n,
	    size_t *order);

int	 pool_init(struct config *);		/* bind every pool's listener */
int	 pool_reload(struct config *);		/* apply the difference */
void	 pool_tick(void);			/* bind what could not be */
void	 pool_free_all(void);

json_t	*pool_status_json(void);
unsigned pool_relays_active(const char *node);
/* N's load score: its clients x 100 + Ollama ms / 10 + recent failures x 50 */
double	 pool_load_score(const struct node *);

/*
 * The best node of POOL (NULL: the first pool, or every node by priority
 * when there is no pool), restricted to nodes whose Ollama lists MODEL when
 * MODEL is not NULL.  Fills ADDR with its host:port and WHY with a reason;
 * returns the node, or NULL with WHY saying why none qualifies.
 */
struct node *pool_best(const char *pool, const char *model, char *addr,
	    size_t addrsz, char *why, size_t whysz, int *nopool);

/* Where a pool reaches node N: its forward, or a local node's host:port. */
struct forward;
int	 pool_node_endpoint(struct node *, struct forward **, char *host,
	    size_t hostsz, int *port);

#endif
