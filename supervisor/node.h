/*
 * node.h: a node's life (node.c): its state machine, fed by the session,
 * forwards and probes below it; news of a change goes up only through
 * tunneld_node_changed().
 */
#ifndef TUNNELD_NODE_H
#define TUNNELD_NODE_H

#include "tunneld.h"

struct node_facts {
	int		 stopped;	/* by config or by tunnelctl stop */
	int		 local;		/* ssh = none */
	int		 session_up;	/* authenticated and carrying */
	int		 connecting;	/* an attempt is under way */
	const char	*down_reason;	/* why there is no session */
	const char	*fault;		/* first forward or probe fault, if any */
};
const char	*node_state_name(enum node_state);
int		 node_state_from_name(const char *, enum node_state *);
enum node_state	 node_eval(const struct node_facts *, const char **reason);

struct node	*node_new(struct node_conf *);
void		 node_free(struct node *);
struct node	*node_find(const char *name);
int		 node_start(struct node *);
void		 node_stop(struct node *, const char *reason);
int		 node_restart(struct node *);
void		 node_update(struct node *);
void		 node_session_up(struct node *);
/* FAIL is kept on the node with REASON (last_error): the same failure. */
void		 node_session_lost(struct node *, const struct node_failure *,
		    const char *reason, int tcp_refused);
void		 node_set_state(struct node *, enum node_state,
		    const char *reason);
/* td->nodes_in[] against a count of td->nodes: fatal when they differ. */
void		 node_counts_check(void);
/* The I-th latest change kept (0: the oldest), or NULL past the end. */
const struct node_change *node_history(const struct node *, size_t i);
/* Milliseconds spent in STATE until NOW, the current stretch included. */
uint64_t	 node_state_total(const struct node *, enum node_state,
		    uint64_t now);
/* Reconfigure a kept node at reload (reload path of tunneld.c). */
void		 node_reconf_down(struct node *);
void		 node_reconf_up(struct node *, struct node_conf *);

#endif
