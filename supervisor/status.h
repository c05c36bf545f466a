/*
 * status: the status JSON of the control protocol.  Rendering only: it
 * reads nodes and builds jansson objects, it changes nothing.
 */
#ifndef TUNNELD_STATUS_H
#define TUNNELD_STATUS_H

#include <jansson.h>

#include "tunneld.h"

json_t	*status_node(const struct node *, uint64_t now);
/* NAME NULL: every node.  NULL when NAME names no node. */
json_t	*status_reply(const char *name);
/* "2/3 nodes up; runpod backoff 8s: connection refused" */
void	 status_line(char *buf, size_t len);
int	 status_all_up(void);

#endif
