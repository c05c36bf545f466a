/*
 * tunneld.h: the daemon's shared types.
 *
 * One libevent loop owns everything below; nothing here is touched from
 * another thread.
 */
#ifndef TUNNELD_H
#define TUNNELD_H

#include <stdint.h>
#include <sys/queue.h>
#include <time.h>

#include <event2/event.h>
#include <event2/util.h>

#include "config.h"

#define TUNNELD_PROTOCOL	1
#define REASON_MAX		256

enum node_state {
	NODE_STOPPED,
	NODE_CONNECTING,
	NODE_UP,
	NODE_DEGRADED,
	NODE_BACKOFF,
};
#define NODE_NSTATES	(NODE_BACKOFF + 1)

enum fwd_state {
	FWD_DOWN,		/* no session to carry it */
	FWD_PENDING,		/* remote: tcpip-forward asked, no answer yet */
	FWD_UP,
	FWD_REFUSED,		/* remote: the server said no; retried with backoff */
};

struct node;
struct probe_node;
struct session;
struct conn;
LIST_HEAD(conn_list, conn);

struct forward {
	struct node		*node;
	const struct fwd_conf	*conf;		/* points into node->conf */
	enum fwd_state		 state;
	char			 reason[REASON_MAX];
	struct evconnlistener	*listener;	/* local forwards */
	struct listener_rest	*rest;		/* when accept() fails */
	struct conn_list	 conns;
	unsigned		 attempt;	/* remote: refused requests in a row */
	struct event		*ev_retry;	/* remote: next tcpip-forward */
	int			 want_request;	/* remote: ask again when the slot frees */
	uint64_t		 active;
	uint64_t		 total;
	uint64_t		 bytes_in;	/* towards the client that connected */
	uint64_t		 bytes_out;	/* from it */
};

/*
 * Why the last session attempt failed, as values: session.c hands them to
 * node_session_lost() with the sentence it keeps in last_error.  Whatever
 * must tell one failure from another (alert.c) reads these, never the
 * sentence, whose wording is free to change.
 */
enum session_failure {
	SESSION_FAIL_NONE,
	SESSION_FAIL_RESOLVE,		/* the name did not resolve */
	SESSION_FAIL_CONNECT,		/* no address took the TCP connect */
	SESSION_FAIL_TIMEOUT,		/* the handshake took too long */
	SESSION_FAIL_KEX,		/* key exchange */
	SESSION_FAIL_HOSTKEY_MISMATCH,	/* known_hosts has another key */
	SESSION_FAIL_HOSTKEY_UNKNOWN,	/* strict, and not in known_hosts */
	SESSION_FAIL_HOSTKEY_UNRECORDED, /* accept-new could not write it */
	SESSION_FAIL_HOSTKEY_CHECK,	/* libssh could not check it */
	SESSION_FAIL_IDENTITY,		/* our key: missing, open, unloadable */
	SESSION_FAIL_AUTH,		/* the server refused our key */
	SESSION_FAIL_LOST,		/* an established session ended */
	SESSION_FAIL_LOCAL,		/* memory, libssh, socket, ssh_config */
};
#define SESSION_KEY_MAX		160

struct node_failure {
	enum session_failure	 kind;
	char			 key[SESSION_KEY_MAX];	/* host key kinds: the
							   server's, "TYPE
							   SHA256:..." */
	int			 err;		/* errno, 0: none */
};

/* A state change, as `tunnelctl status NODE` lists the latest ones. */
#define NODE_HISTORY_MAX	20
struct node_change {
	int64_t			 time;		/* wall clock, unix seconds */
	enum node_state		 from, to;
	char			 reason[REASON_MAX];
};

struct node {
	TAILQ_ENTRY(node)	 entry;
	struct node_conf	*conf;		/* owned by the running config */
	enum node_state		 state;
	char			 reason[REASON_MAX];
	uint64_t		 since;		/* monotonic ms of the last transition */
	int			 admin_stopped;

	struct session		*sess;		/* NULL: no session right now */
	int			 stale_fd;	/* session.c: a lost session's socket, -1 none */
	struct forward		*fwds;
	size_t			 nfwds;

	/* Reconnect bookkeeping. */
	unsigned		 attempt;	/* failed attempts since the last stable session */
	struct event		*ev_retry;
	uint64_t		 next_attempt;	/* monotonic ms, 0: none planned */
	uint64_t		 session_up_at;	/* monotonic ms, 0: not up */
	uint64_t		 last_logged;	/* monotonic ms of the last failure log */

	uint64_t		 connects;	/* sessions established */
	char			 last_error[REASON_MAX];
	struct node_failure	 fail;		/* last_error, as values */
	int			 has_rtt;
	double			 rtt_ms;

	/* Probes (probe.c): runner state and results, see probe.h. */
	struct probe_node	*probe;

	/* The latest state changes (a ring) and the time spent in each state. */
	struct node_change	 hist[NODE_HISTORY_MAX];
	uint64_t		 nhist;		/* changes so far */
	uint64_t		 state_ms[NODE_NSTATES];	/* up to `since` */
};
TAILQ_HEAD(node_list, node);

struct control;

struct tunneld {
	struct event_base	*base;
	struct evdns_base	*dns;
	struct config		*conf;
	struct node_list	 nodes;
	struct control		*control;
	uint64_t		 started;	/* monotonic ms */
	uint64_t		 watchdog_usec;
	struct event		*ev_tick;
	int			 admin_gid;	/* -1: admin_group does not exist */
	int			 stopping;
	/* Nodes in each state, kept by node.c: read in O(1) per transition. */
	unsigned		 nodes_in[NODE_NSTATES];
};

extern struct tunneld	*td;

static inline uint64_t
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Latency wants finer grain: loopback answers take well under 1 ms. */
static inline uint64_t
now_us(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* tunneld.c */
extern const char *config_path;
struct config	*tunneld_load(const char *path, int print_errors);
void		 tunneld_admin_gid(void);
int		 tunneld_reload(char *err, size_t errsz);
/* What a reload does to a kept node (pure; see tunneld.c). */
#define RELOAD_ADOPT	0x1	/* new values read where used (priority) */
#define RELOAD_PROBES	0x2	/* probe keys applied to the running node */
#define RELOAD_REBIND	0x4	/* changed local forwards rebound alone */
#define RELOAD_RESTART	0x8	/* the session restarts */
unsigned	 tunneld_reload_plan(unsigned keys, int session, int local);
const char	*tunneld_reload_plan_text(unsigned plan);
void		 tunneld_status_changed(void);
/* The one way node.c tells the views (watch, alerts, STATUS=) of a change. */
void		 tunneld_node_changed(struct node *, enum node_state from,
		    enum node_state to, const char *reason);
struct alert_entry;
void		 tunneld_alert_sink(const struct alert_entry *, void *arg);
void		 tunneld_status_flush(void);
void		 tunneld_status_free(void);
void		 tunneld_signal(evutil_socket_t, short, void *);
void		 tunneld_tick(evutil_socket_t, short, void *);
void		 tunneld_raise_nofile(void);

#endif
