#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "backoff.h"
#include "forward.h"
#include "log.h"
#include "node.h"
#include "probe.h"
#include "session.h"
#include "tunneld.h"

static const char *state_names[NODE_NSTATES] = {
	"stopped", "connecting", "up", "degraded", "backoff",
};

/* A node failing the same way is logged at most this often. */
#define NODE_REPEAT_LOG_MS	60000

const char *
node_state_name(enum node_state s)
{
	return (unsigned)s < NODE_NSTATES ? state_names[s] : "unknown";
}

int
node_state_from_name(const char *name, enum node_state *s)
{
	int	i;

	for (i = 0; i < NODE_NSTATES; i++)
		if (strcmp(name, state_names[i]) == 0) {
			*s = i;
			return 0;
		}
	return -1;
}

/*
 * The state follows from the facts; this is the whole transition table.
 * REASON points into FACTS (or is "") and says why the node is not up.
 */
enum node_state
node_eval(const struct node_facts *f, const char **reason)
{
	*reason = "";
	if (f->stopped) {
		*reason = f->down_reason ? f->down_reason : "";
		return NODE_STOPPED;
	}
	if (f->local || f->session_up) {
		if (f->fault != NULL && *f->fault != '\0') {
			*reason = f->fault;
			return NODE_DEGRADED;
		}
		return NODE_UP;
	}
	if (f->connecting)
		return NODE_CONNECTING;
	*reason = f->down_reason ? f->down_reason : "";
	return NODE_BACKOFF;
}

struct node *
node_find(const char *name)
{
	struct node	*n;

	TAILQ_FOREACH(n, &td->nodes, entry)
		if (strcmp(n->conf->name, name) == 0)
			return n;
	return NULL;
}

struct node *
node_new(struct node_conf *nc)
{
	struct node	*n;

	if ((n = calloc(1, sizeof(*n))) == NULL)
		return NULL;
	n->conf = nc;
	n->state = NODE_STOPPED;
	n->stale_fd = -1;
	n->since = now_ms();
	if (forward_init(n) == -1) {
		/* Kept: the node reports the fault and rebinds later. */
		log_debug("%s: node %s: not every listener is bound", __func__,
		    nc->name);
	}
	if (probe_init(n) == -1) {
		forward_free(n);
		free(n);
		return NULL;
	}
	td->nodes_in[NODE_STOPPED]++;
	return n;
}

void
node_free(struct node *n)
{
	probe_free(n);		/* first: its channel needs the session */
	session_close(n->sess);
	session_unpark(n);
	forward_free(n);
	if (n->ev_retry)
		event_free(n->ev_retry);
	td->nodes_in[n->state]--;
	free(n);
}

/* Record FROM -> TO in the ring and the time spent in FROM. */
static void
node_history_add(struct node *n, enum node_state from, enum node_state to,
    const char *reason)
{
	struct node_change	*c = &n->hist[n->nhist % NODE_HISTORY_MAX];
	struct timespec		 ts;
	uint64_t		 now = now_ms();

	if ((unsigned)from < NODE_NSTATES && now > n->since)
		n->state_ms[from] += now - n->since;
	clock_gettime(CLOCK_REALTIME, &ts);
	c->time = (int64_t)ts.tv_sec;
	c->from = from;
	c->to = to;
	snprintf(c->reason, sizeof(c->reason), "%s", reason);
	n->nhist++;
}

const struct node_change *
node_history(const struct node *n, size_t i)
{
	uint64_t	kept = n->nhist < NODE_HISTORY_MAX ? n->nhist :
			    NODE_HISTORY_MAX;

	if (i >= kept)
		return NULL;
	return &n->hist[(n->nhist - kept + i) % NODE_HISTORY_MAX];
}

uint64_t
node_state_total(const struct node *n, enum node_state s, uint64_t now)
{
	uint64_t	t;

	if ((unsigned)s >= NODE_NSTATES)
		return 0;
	t = n->state_ms[s];
	if (n->state == s && now > n->since)
		t += now - n->since;
	return t;
}

void
node_set_state(struct node *n, enum node_state to, const char *reason)
{
	enum node_state	 from = n->state;
	int		 prio;

	if (reason == NULL)
		reason = "";
	if (from == to) {
		/* Same state, new reason (backoff after another failure). */
		snprintf(n->reason, sizeof(n->reason), "%s", reason);
		tunneld_node_changed(n, from, to, reason);
		return;
	}
	node_history_add(n, from, to, reason);
	td->nodes_in[from]--;
	td->nodes_in[to]++;
	n->state = to;
	n->since = now_ms();
	snprintf(n->reason, sizeof(n->reason), "%s", reason);

	prio = to == NODE_UP ? LOG_NOTICE :
	    (to == NODE_BACKOFF || to == NODE_DEGRADED) ? LOG_WARNING : LOG_INFO;
	log_entry(prio, n->conf->name, "state", *reason ? reason : NULL, NULL,
	    "%s: %s -> %s%s%s", n->conf->name, node_state_name(from),
	    node_state_name(to), *reason ? ": " : "", reason);
	tunneld_node_changed(n, from, to, reason);
}

void
node_counts_check(void)
{
	unsigned	 count[NODE_NSTATES] = { 0 };
	struct node	*n;
	int		 s;

	TAILQ_FOREACH(n, &td->nodes, entry)
		count[n->state]++;
	for (s = 0; s < NODE_NSTATES; s++)
		if (count[s] != td->nodes_in[s])
			fatalx("%s: %u nodes %s in the list, %u counted",
			    __func__, count[s],
			    node_state_name((enum node_state)s),
			    td->nodes_in[s]);
}

void
node_update(struct node *n)
{
	struct node_facts	 f;
	const char		*reason;
	enum node_state		 s;

	memset(&f, 0, sizeof(f));
	f.stopped = n->admin_stopped || !n->conf->enabled;
	f.local = n->conf->local;
	f.session_up = session_is_up(n->sess);
	/*
	 * A retry in a failure series stays `backoff` with the last reason:
	 * an sshd down for an hour must not yield two transitions a second.
	 */
	f.connecting = n->sess != NULL && !f.session_up &&
	    n->last_error[0] == '\0';
	f.down_reason = f.stopped ? (n->conf->enabled ? "stopped by tunnelctl" :
	    "disabled in config") : n->last_error;
	if ((f.fault = forward_fault(n)) == NULL)
		f.fault = probe_fault(n);
	s = node_eval(&f, &reason);
	node_set_state(n, s, reason);
}

static const struct node_failure node_oom = { SESSION_FAIL_LOCAL, "", ENOMEM };

/* No failure on record: a fresh start, or a session that came up. */
static void
node_fail_clear(struct node *n)
{
	n->last_error[0] = '\0';
	memset(&n->fail, 0, sizeof(n->fail));
}

static void
node_retry_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct node	*n = arg;

	n->next_attempt = 0;
	if (n->admin_stopped || !n->conf->enabled || n->sess != NULL)
		return;
	if (session_start(n) == -1)
		node_session_lost(n, &node_oom,
		    "cannot start a session: out of memory", 0);
	node_update(n);
}

int
node_start(struct node *n)
{
	n->admin_stopped = 0;
	if (n->conf->enabled)
		probe_start(n);
	if (!n->conf->enabled || n->conf->local) {
		node_update(n);
		return 0;
	}
	if (n->sess == NULL) {
		if (n->ev_retry)
			event_del(n->ev_retry);
		n->next_attempt = 0;
		if (session_start(n) == -1)
			node_session_lost(n, &node_oom,
			    "cannot start a session: out of memory", 0);
	}
	node_update(n);
	return 0;
}

void
node_stop(struct node *n, const char *reason)
{
	n->admin_stopped = 1;
	probe_stop(n);		/* before its channel's session goes */
	session_close(n->sess);
	if (n->ev_retry)
		event_del(n->ev_retry);
	n->next_attempt = 0;
	node_update(n);
}

/* Tear down and connect now, whatever the backoff said. */
int
node_restart(struct node *n)
{
	probe_session_down(n);
	session_close(n->sess);
	n->attempt = 0;
	node_fail_clear(n);
	log_entry(LOG_INFO, n->conf->name, "restart", NULL, NULL,
	    "%s: restart requested", n->conf->name);
	return node_start(n);
}

void
node_session_up(struct node *n)
{
	n->connects++;
	n->session_up_at = now_ms();
	node_fail_clear(n);
	log_entry(LOG_INFO, n->conf->name, "connected", NULL, NULL,
	    "%s: session established (%llu so far)", n->conf->name,
	    (unsigned long long)n->connects);
	probe_session_up(n);
	node_update(n);
}

/*
 * The session failed or was lost; N->sess is already gone.  Failures after
 * the TCP handshake back off exponentially (each costs the server a log
 * line); a refused or unanswered TCP connect costs it nothing and is
 * retried at retry_refused pace, so traffic resumes about a second after
 * sshd returns.
 */
void
node_session_lost(struct node *n, const struct node_failure *fail,
    const char *reason, int tcp_level)
{
	const struct config	*c = td->conf;
	struct backoff_params	 bp = { c->backoff_initial, c->backoff_max,
				    c->backoff_multiplier, c->backoff_jitter };
	static uint64_t		 seq;
	struct backoff_event	 ev;
	struct timeval		 tv;
	uint64_t		 now = now_ms(), delay;
	int			 same, was_up = n->session_up_at != 0;

	ev.tcp_level = tcp_level;
	ev.was_up = was_up;
	ev.lived_ms = was_up ? now - n->session_up_at : 0;
	n->session_up_at = 0;
	probe_session_down(n);	/* its channel went with the session */
	delay = backoff_next(&bp, c->retry_refused, c->stable_after, &ev,
	    &n->attempt, (double)((seq++ * 2654435761u + (uint64_t)random()) %
	    1000000) / 1000000.0);

	same = strcmp(n->last_error, reason) == 0;
	snprintf(n->last_error, sizeof(n->last_error), "%s", reason);
	n->fail = *fail;
	/* A node failing the same way every second must not flood the log. */
	if (!same || now - n->last_logged >= NODE_REPEAT_LOG_MS) {
		log_entry(LOG_WARNING, n->conf->name, "connect-failed", reason,
		    NULL, "%s: %s; next attempt in %.1fs%s", n->conf->name,
		    reason, (double)delay / 1000.0,
		    same ? " (still failing)" : "");
		n->last_logged = now;
	}

	if (n->ev_retry == NULL &&
	    (n->ev_retry = evtimer_new(td->base, node_retry_cb, n)) == NULL)
		fatalx("%s: evtimer_new", __func__);
	n->next_attempt = now + delay;
	tv.tv_sec = delay / 1000;
	tv.tv_usec = (delay % 1000) * 1000;
	evtimer_add(n->ev_retry, &tv);
	node_update(n);
}

/*
 * A reload restarts N's session (its SSH target, identity or forwards
 * that cannot be rebound alone changed): everything the old config built
 * goes, first, so that its ports are free for whoever takes them; the
 * node itself stays, with its history and counters.
 */
void
node_reconf_down(struct node *n)
{
	probe_free(n);		/* first: its channel needs the session */
	session_close(n->sess);
	forward_free(n);
	if (n->ev_retry)
		event_del(n->ev_retry);
	n->next_attempt = 0;
	n->attempt = 0;
	n->session_up_at = 0;
	node_fail_clear(n);
	n->has_rtt = 0;
}

/* ... and comes back with config NC. */
void
node_reconf_up(struct node *n, struct node_conf *nc)
{
	n->conf = nc;
	if (forward_init(n) == -1)
		log_warnx("%s: node %s: not every listener is bound", __func__,
		    nc->name);
	if (probe_init(n) == -1)
		fatalx("%s: %s: out of memory", __func__, nc->name);
	if (n->admin_stopped) {
		node_update(n);
		return;
	}
	node_start(n);
}
