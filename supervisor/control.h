/*
 * control: the Unix-socket query protocol (one request line, JSON lines
 * back) and the `watch` event stream.
 */
#ifndef TUNNELD_CONTROL_H
#define TUNNELD_CONTROL_H

#include <stddef.h>

#include "tunneld.h"

#define CTL_LINE_MAX	1024
#define CTL_NAME_MAX	64

enum ctl_cmd {
	CTL_STATUS,
	CTL_SUMMARY,
	CTL_RESTART,
	CTL_STOP,
	CTL_START,
	CTL_RELOAD,
	CTL_WATCH,
	CTL_METRICS,
	CTL_VERSION,
	CTL_BEST,
};

/*
 * The "kind" of an error reply ({"ok":false,"error":...,"kind":...}):
 * what a client decides on, the sentence being for people.
 */
#define CTL_ERR_USAGE		"usage"		/* malformed or unknown request */
#define CTL_ERR_NO_NODE		"no-such-node"	/* with "name", "did_you_mean" */
#define CTL_ERR_NO_POOL		"no-such-pool"	/* with "name", "did_you_mean" */
#define CTL_ERR_PERMISSION	"permission"	/* needs root or admin_group */
#define CTL_ERR_CONFIG		"config"	/* reload: the file is not valid */
#define CTL_ERR_INTERNAL	"internal"	/* the daemon could not do it */

struct ctl_request {
	enum ctl_cmd	 cmd;
	char		 arg[CTL_NAME_MAX];	/* node, pool or "all"; "" if none */
	char		 model[128];		/* best --model */
};

/*
 * Parse one request line (without its newline).  Pure; returns 0, or -1
 * with ERR set to what the client is told.
 */
int	control_parse(const char *line, size_t len, struct ctl_request *,
	    char *err, size_t errsz);
int	control_cmd_mutates(enum ctl_cmd);

/* A control client as control_victim() sees it. */
struct ctl_slot {
	unsigned	uid;
	int		done;		/* answered, or a watcher: not waiting */
	int		fresh;		/* within 1 s of connecting or of its
					   answer, or its request is in */
};
/*
 * Which of the N clients in SLOTS (oldest first, N > 0) to drop when the
 * table is full and a client of user UID connects.  Pure; returns an
 * index, or N to turn the newcomer away instead.
 */
size_t	control_victim(const struct ctl_slot *slots, size_t n, unsigned uid);

int	control_init(const char *path);
void	control_close(void);
void	control_event_state(struct node *, enum node_state from,
	    enum node_state to, const char *reason);
/*
 * A reload is about to change td->nodes: each status being written goes
 * on from the names of the nodes it has still to write (removed ones are
 * then left out); a node the reload adds is called in with
 * control_node_added(), to come at their end.
 */
void	control_reload_begin(void);
void	control_node_added(struct node *);
/* Send an already built event object (stolen) to every watcher. */
struct json_t;
void	control_broadcast(struct json_t *event);

#endif
