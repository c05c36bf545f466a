/*
 * session: one libssh client session per node, driven by the libevent loop.
 *
 * libssh runs in non-blocking mode; its socket is a libevent event and every
 * libssh call that would block returns SSH_AGAIN and is called again when the
 * socket is ready.  The TCP connect is made here, not by libssh, so that a
 * refused or unreachable port can be told from a failure after the TCP
 * handshake (the two are retried at different paces).
 */
#ifndef TUNNELD_SESSION_H
#define TUNNELD_SESSION_H

#include <libssh/libssh.h>

#include "tunneld.h"

int		 session_start(struct node *);
/* Tear down without telling the node (stop, restart, reload). */
void		 session_close(struct session *);
int		 session_is_up(const struct session *);
ssh_session	 session_ssh(struct session *);
int		 session_server_key(struct session *, char *, size_t);
/* After queueing channel writes: arm EV_WRITE if libssh holds output. */
int		 session_flush(struct session *);
/* Ask the one global-request slot for a tcpip-forward (remote forwards). */
void		 session_want_listen(struct session *);
/* Schedule a channel-level sweep (forward_poll) outside any libssh callback. */
void		 session_kick(struct session *);
struct config_errors;
/* ProxyJump/ProxyCommand in ssh_config: refused, errors added to ERRS. */
int		 session_check_config(const struct config *, const char *path,
		    struct config_errors *);
/* Reset the socket a dead session left (node->stale_fd), if any. */
void		 session_unpark(struct node *);

#endif
