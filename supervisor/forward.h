/*
 * forward: local (-L) and remote (-R) forwards of a node and the byte pump
 * between a local socket and an SSH channel.
 *
 * libssh callbacks only record what happened (data appended, EOF, close,
 * window opened); conn_step() acts on it from outside libssh, so no channel
 * or socket is ever freed under libssh's feet.
 */
#ifndef TUNNELD_FORWARD_H
#define TUNNELD_FORWARD_H

#include "tunneld.h"

struct sockaddr;

int	forward_init(struct node *);		/* bind local listeners */
int	forward_attach(struct forward *, evutil_socket_t, const struct sockaddr *,
	    void (*)(evutil_socket_t, void *), void *);
void	forward_free(struct node *);
int	forward_rebind(struct node *);		/* retry listeners that failed; how many bound */
void	forward_session_up(struct node *);
void	forward_session_down(struct node *);
/* After libssh processed packets: open channels, accept -R, pump, reap. */
void	forward_poll(struct node *);
int	forward_wants_opens(const struct node *);
/* The remote forward the global-request slot should ask for next, or NULL. */
struct forward *forward_next_listen(struct node *);
void	forward_listen_result(struct forward *, int ok, const char *why);
const char *forward_fault(const struct node *);
uint64_t forward_active(const struct node *);
/* A reload changed local forwards of N: rebind those alone; -1: cannot. */
int	forward_reconf(struct node *, const struct node_conf *old);

#endif
