/*
 * tunneld: the daemon context, reload and the periodic tick.
 */

#include <sys/resource.h>

#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <jansson.h>
#include <libssh/libssh.h>

#include "alert.h"
#include "control.h"
#include "forward.h"
#include "log.h"
#include "metrics.h"
#include "node.h"
#include "notify.h"
#include "session.h"
#include "status.h"
#include "pool.h"
#include "probe.h"
#include "tunneld.h"

struct tunneld	*td;

const char	*config_path = CONFIG_DEFAULT_PATH;

/*
 * Load PATH.  On failure every error goes to stderr (PRINT: the command
 * line) or to the log, and FIRST (if not NULL) gets the first one and how
 * many others there are: what `tunnelctl reload` tells its user.
 */
static struct config *
tunneld_load_report(const char *path, int print, char *first, size_t firstsz)
{
	struct config_errors	 errs = { NULL, 0 };
	struct config		*conf;
	size_t			 i;

	conf = config_load(path, &errs);
	if (conf != NULL && session_check_config(conf, path, &errs) > 0) {
		config_free(conf);
		conf = NULL;
	}
	if (conf == NULL) {
		for (i = 0; i < errs.n; i++) {
			if (print)
				fprintf(stderr, "%s\n", errs.msg[i]);
			else
				log_entry(LOG_ERR, NULL, "config-error", errs.msg[i],
				    NULL, "%s", errs.msg[i]);
		}
		if (first != NULL && errs.n == 0)
			snprintf(first, firstsz, "%s: not valid", path);
		else if (first != NULL && errs.n == 1)
			snprintf(first, firstsz, "%s", errs.msg[0]);
		else if (first != NULL)
			snprintf(first, firstsz, "%s (and %zu more error%s, "
			    "see the log)", errs.msg[0], errs.n - 1,
			    errs.n == 2 ? "" : "s");
	}
	config_errors_clear(&errs);
	return conf;
}

struct config *
tunneld_load(const char *path, int print)
{
	return tunneld_load_report(path, print, NULL, 0);
}

void
tunneld_admin_gid(void)
{
	struct group	*gr;

	td->admin_gid = -1;
	if ((gr = getgrnam(td->conf->admin_group)) != NULL)
		td->admin_gid = (int)gr->gr_gid;
	else
		log_warnx("admin_group %s does not exist: only root may change "
		    "state", td->conf->admin_group);
}

/*
 * STATUS= is rebuilt over every node, so it is not rebuilt on every
 * transition: a start-up of N nodes would cost N^2 (20,000 nodes kept a
 * core busy for minutes).  A change asks for a rebuild at the next turn of
 * the loop, so a burst of transitions makes one line, and at most every
 * STATUS_GAP_MS; systemd shows a few a second at most anyway.
 */
#define STATUS_GAP_MS	200

static struct event	*status_ev;
static uint64_t		 status_at;	/* when STATUS= was last rebuilt */

static void
tunneld_status_send(evutil_socket_t fd, short ev, void *arg)
{
	char	line[512];

	status_at = now_ms();
	status_line(line, sizeof(line));
	notify_status(line);
}

void
tunneld_status_changed(void)
{
	struct timeval	tv = { 0, 0 };
	uint64_t	now = now_ms(), due = status_at + STATUS_GAP_MS;

	if (status_ev == NULL &&
	    (status_ev = evtimer_new(td->base, tunneld_status_send, NULL)) == NULL)
		fatal("%s: evtimer_new", __func__);
	if (evtimer_pending(status_ev, NULL))
		return;
	if (status_at != 0 && due > now) {
		tv.tv_sec = (time_t)((due - now) / 1000);
		tv.tv_usec = (suseconds_t)((due - now) % 1000) * 1000;
	}
	evtimer_add(status_ev, &tv);
}

/*
 * Every view of a node hears of its changes here, so node.c knows none of
 * them: a transition goes to the watch stream and STATUS=; a new reason in
 * the same state (another failure while in backoff) only to the alerts.
 */
void
tunneld_node_changed(struct node *n, enum node_state from,
    enum node_state to, const char *reason)
{
	if (from != to) {
		control_event_state(n, from, to, reason);
		tunneld_status_changed();
	}
	alert_node(n, from != to);
}

/*
 * Where every alert goes (installed by main with alert_set_sink()): the
 * journal, with MESSAGE_ID, and every `tunnelctl watch`.
 */
void
tunneld_alert_sink(const struct alert_entry *a, void *arg)
{
	const char	*fields[LOG_FIELDS_MAX + 1];
	char		 msgid[48], ts[32];
	size_t		 i, nf = 0;
	json_t		*ev, *fo;
	const char	*eq;
	time_t		 t = time(NULL);
	struct tm	 tm;

	snprintf(msgid, sizeof(msgid), "MESSAGE_ID=%s", a->def->msgid);
	fields[nf++] = msgid;
	for (i = 0; a->fields[i] != NULL && nf < LOG_FIELDS_MAX; i++)
		fields[nf++] = a->fields[i];
	fields[nf] = NULL;
	log_entry(a->def->priority, a->node, a->def->event,
	    a->reason[0] ? a->reason : NULL, fields, "%s", a->message);

	gmtime_r(&t, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fo = json_object();
	for (i = 0; a->fields[i] != NULL; i++) {
		char	key[64];
		size_t	klen;

		if ((eq = strchr(a->fields[i], '=')) == NULL)
			continue;
		klen = (size_t)(eq - a->fields[i]);
		if (klen >= sizeof(key))
			continue;
		memcpy(key, a->fields[i], klen);
		key[klen] = '\0';
		json_object_set_new(fo, key, json_string(eq + 1));
	}
	ev = json_pack("{s:s,s:s,s:s,s:i,s:s,s:s,s:b,s:b,s:o,s:s}",
	    "event", "alert", "kind", a->def->event,
	    "message_id", a->def->msgid, "priority", a->def->priority,
	    "reason", a->reason, "message", a->message,
	    "cleared", a->cleared, "repeat", a->repeat, "fields", fo,
	    "time", ts);
	if (ev == NULL)
		return;
	json_object_set_new(ev, "node", a->node ? json_string(a->node) :
	    json_null());
	if (a->key[0])
		json_object_set_new(ev, "key", json_string(a->key));
	if (a->flapping)
		json_object_set_new(ev, "flapping", json_integer(a->flapping));
	control_broadcast(ev);
}

/* Now, not at the next turn: READY=1 and STOPPING=1 follow a true line. */
void
tunneld_status_flush(void)
{
	if (status_ev != NULL)
		evtimer_del(status_ev);
	tunneld_status_send(-1, 0, NULL);
}

void
tunneld_status_free(void)
{
	if (status_ev != NULL)
		event_free(status_ev);
	status_ev = NULL;
}

/* Node conf pointers move to the new config; the node itself stays. */
static void
tunneld_adopt(struct node *n, struct node_conf *nc)
{
	size_t	i;

	n->conf = nc;
	for (i = 0; i < n->nfwds; i++)
		n->fwds[i].conf = &nc->fwds[i];
}

/*
 * The [tunneld] settings a live session was set up with: the host key it
 * was checked against, the ssh_config that resolved it, its keepalive
 * timer and TCP_USER_TIMEOUT.  A change restarts every session.  The
 * others (probe_*, backoff_*, retry_refused, stable_after,
 * connect_timeout) are read where they are used, so a reload changes
 * them without dropping anyone's tunnel.
 */
static int
tunneld_session_settings_equal(const struct config *a, const struct config *b)
{
	return config_streq(a->known_hosts, b->known_hosts) &&
	    a->host_key_policy == b->host_key_policy &&
	    config_streq(a->ssh_config, b->ssh_config) &&
	    a->keepalive_interval == b->keepalive_interval &&
	    a->keepalive_count == b->keepalive_count;
}

/*
 * What a reload does to a node whose keys KEYS changed (NODE_KEY_* bits);
 * SESSION: the [tunneld] settings its session was made with changed;
 * LOCAL: the node has no session (ssh = none, before and after).  Only
 * what the SSH session depends on restarts it: its target, identity,
 * remote forwards (the server holds their listeners), whether it runs at
 * all, and host key and keepalive settings.  Local forwards are rebound
 * alone; probe keys apply to the running node; priority is read where it
 * is used.
 */
unsigned
tunneld_reload_plan(unsigned keys, int session, int local)
{
	unsigned	plan = 0;

	if ((session && !local) || (keys & (NODE_KEY_SSH | NODE_KEY_IDENTITY |
	    NODE_KEY_REMOTE_FORWARD | NODE_KEY_ENABLED)))
		return RELOAD_RESTART;
	if (keys & NODE_KEY_LOCAL_FORWARD)
		plan |= RELOAD_REBIND;
	if (keys & (NODE_KEY_OLLAMA | NODE_KEY_GPU | NODE_KEY_REQUIRE_MODELS |
	    NODE_KEY_HTTP | NODE_KEY_PROBE_INTERVAL | NODE_KEY_PROBE_TIMEOUT |
	    NODE_KEY_RISE | NODE_KEY_FALL))
		plan |= RELOAD_PROBES;
	if (keys != 0 && plan == 0)
		plan = RELOAD_ADOPT;
	return plan;
}

/* What PLAN does, in words for the log and for tunnelctl reload. */
const char *
tunneld_reload_plan_text(unsigned plan)
{
	if (plan & RELOAD_RESTART)
		return "session restarted";
	if ((plan & RELOAD_REBIND) && (plan & RELOAD_PROBES))
		return "changed forwards rebound, probes updated, session kept";
	if (plan & RELOAD_REBIND)
		return "changed forwards rebound, session kept";
	if (plan & RELOAD_PROBES)
		return "probes updated, session and connections kept";
	if (plan & RELOAD_ADOPT)
		return "applied, session and connections kept";
	return "unchanged";
}

/* A kept node and what the reload does to it. */
struct reload_item {
	struct node		*node;
	struct node_conf	*nc;		/* in the new config */
	unsigned		 keys;
	unsigned		 plan;
};

/* What was done to IT, in words: `enabled` says stopped or started. */
static const char *
reload_item_text(const struct reload_item *it)
{
	if ((it->plan & RELOAD_RESTART) && (it->keys & NODE_KEY_ENABLED))
		return it->nc->enabled ? "started" : "stopped (enabled = no)";
	return tunneld_reload_plan_text(it->plan);
}

/*
 * Apply a new config key by key: removed nodes stop, added ones start,
 * and a kept node gets only what its changed keys need (see
 * tunneld_reload_plan).  A bad file changes nothing.
 */
int
tunneld_reload(char *msg, size_t msgsz)
{
	struct config		*nconf, *old = td->conf;
	struct node_list	 gone;
	struct node		*n, *tmp;
	struct node_conf	*nc;
	struct reload_item	*items = NULL;
	struct nameidx		 kept = { 0 };	/* new node name -> its item */
	size_t			 nitems = 0, i, off;
	unsigned		 added = 0, removed = 0, changed = 0, same = 0;
	int			 session, w;
	char			 why[768], keys[256];

	notify_reloading();
	log_info("reloading %s", config_path);
	if ((nconf = tunneld_load_report(config_path, 0, why,
	    sizeof(why))) == NULL) {
		snprintf(msg, msgsz, "reload failed, the running configuration "
		    "is kept: %s", why);
		log_entry(LOG_ERR, NULL, "reload-failed", NULL, NULL, "%s", msg);
		notify_ready();
		event_base_update_cache_time(td->base);	/* as below */
		return -1;
	}
	if (strcmp(nconf->control_socket, old->control_socket) != 0)
		log_warnx("control_socket change takes effect at restart");
	session = !tunneld_session_settings_equal(old, nconf);

	TAILQ_FOREACH(nc, &nconf->nodes, entry)
		if (config_find_node(old, nc->name) == NULL)
			added++;
	if (td->conf->nnodes > 0 &&
	    (items = calloc(td->conf->nnodes, sizeof(*items))) == NULL)
		fatal("%s: calloc", __func__);

	/*
	 * Removed nodes go first, and restarted ones are taken down: their
	 * ports free up for others.  Pool clients the gone nodes hand back
	 * look for another node: the kept ones stay findable.
	 */
	control_reload_begin();
	TAILQ_INIT(&gone);
	for (n = TAILQ_FIRST(&td->nodes); n != NULL; n = tmp) {
		tmp = TAILQ_NEXT(n, entry);
		if ((nc = config_find_node(nconf, n->conf->name)) == NULL) {
			removed++;
			log_entry(LOG_INFO, n->conf->name, "node-removed", NULL,
			    NULL, "%s: removed", n->conf->name);
			TAILQ_REMOVE(&td->nodes, n, entry);
			TAILQ_INSERT_TAIL(&gone, n, entry);
			continue;
		}
		items[nitems].node = n;
		items[nitems].nc = nc;
		items[nitems].keys = config_node_diff(n->conf, nc);
		items[nitems].plan = tunneld_reload_plan(items[nitems].keys,
		    session, n->conf->local && nc->local);
		if (nameidx_put(&kept, nc->name, &items[nitems]) == -1)
			fatal("%s: out of memory", __func__);
		nitems++;
	}
	while ((n = TAILQ_FIRST(&gone)) != NULL) {
		TAILQ_REMOVE(&gone, n, entry);
		node_free(n);
	}
	for (i = 0; i < nitems; i++) {
		struct reload_item *it = &items[i];

		if (it->plan == 0) {
			same++;
			continue;
		}
		changed++;
		if (it->keys != 0)
			config_node_keys_fmt(it->keys, keys, sizeof(keys));
		else
			snprintf(keys, sizeof(keys), "%s", "session settings of "
			    "[tunneld]");
		/* Local forwards that cannot be rebound alone: restart. */
		if ((it->plan & RELOAD_REBIND) && !(it->plan & RELOAD_RESTART)) {
			struct node_conf *was = it->node->conf;

			it->node->conf = it->nc;
			if (forward_reconf(it->node, was) == -1) {
				it->node->conf = was;
				it->plan = RELOAD_RESTART;
			}
			it->node->conf = was;
		}
		log_entry(LOG_INFO, it->node->conf->name, "node-changed", keys,
		    NULL, "%s: %s changed: %s", it->node->conf->name, keys,
		    reload_item_text(it));
		if (it->plan & RELOAD_RESTART)
			node_reconf_down(it->node);
	}
	/* Before the old config goes: pools compare against it. */
	if (pool_reload(nconf) == -1)
		log_warnx("not every pool can listen yet; "
		    "retrying every second");

	/* Kept nodes move to the new config, in the order of the new file. */
	TAILQ_INIT(&gone);
	TAILQ_CONCAT(&gone, &td->nodes, entry);
	TAILQ_FOREACH(nc, &nconf->nodes, entry) {
		struct reload_item *it = nameidx_get(&kept, nc->name);

		if (it == NULL) {
			if ((n = node_new(nc)) == NULL)
				fatal("%s: node_new", __func__);
			TAILQ_INSERT_TAIL(&td->nodes, n, entry);
			control_node_added(n);
			node_start(n);
			continue;
		}
		n = it->node;
		TAILQ_REMOVE(&gone, n, entry);
		TAILQ_INSERT_TAIL(&td->nodes, n, entry);
		if (it->plan & RELOAD_RESTART) {
			node_reconf_up(n, nc);
			continue;
		}
		{
			struct node_conf *was = n->conf;

			tunneld_adopt(n, nc);
			if (it->plan & RELOAD_PROBES)
				probe_reconf(n, was);
		}
	}
	td->conf = nconf;
	config_free(old);
	tunneld_admin_gid();

	off = 0;
	w = snprintf(msg, msgsz, "reloaded %s: %u added, %u removed, %u "
	    "changed, %u unchanged", config_path, added, removed, changed,
	    same);
	off = w > 0 ? (size_t)w : 0;
	for (i = 0; i < nitems && off < msgsz; i++) {
		if (items[i].plan == 0)
			continue;
		if (items[i].keys != 0)
			config_node_keys_fmt(items[i].keys, keys, sizeof(keys));
		else
			snprintf(keys, sizeof(keys), "session settings");
		w = snprintf(msg + off, msgsz - off, "; %s: %s (%s)",
		    items[i].nc->name, keys, reload_item_text(&items[i]));
		if (w < 0 || off + (size_t)w >= msgsz) {
			/* Cut at a whole entry: the log has them all. */
			msg[off] = '\0';
			if (off + 20 < msgsz)
				snprintf(msg + off, msgsz - off, "; more in the log");
			break;
		}
		off += (size_t)w;
	}
	nameidx_free(&kept);
	free(items);
	log_entry(LOG_NOTICE, NULL, "reloaded", NULL, NULL, "%s", msg);
	tunneld_status_changed();
	notify_ready();
	/*
	 * A reload of thousands of nodes takes seconds: timeouts armed from
	 * here on (the reply's write timeout) must count from now, not from
	 * the loop's cached clock, or they fire at once and drop the client.
	 */
	event_base_update_cache_time(td->base);
	return 0;
}

void
tunneld_signal(evutil_socket_t sig, short ev, void *arg)
{
	char	msg[512];

	switch (sig) {
	case SIGHUP:
		(void)tunneld_reload(msg, sizeof(msg));
		break;
	case SIGTERM:
	case SIGINT:
		log_info("%s received, stopping", sigabbrev_np(sig));
		td->stopping = 1;
		metrics_close();
		notify_stopping();
		event_base_loopbreak(td->base);
		break;
	}
}

/*
 * Once a second: STATUS= stays true (backoff countdowns), listeners that
 * could not bind are tried again, and the watchdog is fed.  This runs only
 * when the loop turns, so a wedged daemon stops feeding the watchdog.
 */
void
tunneld_tick(evutil_socket_t fd, short ev, void *arg)
{
	static uint64_t	 last_ping;
	struct node	*n;
	uint64_t	 now = now_ms();

	/* Only a listener bound at last changes the node's state. */
	TAILQ_FOREACH(n, &td->nodes, entry)
		if (forward_fault(n) != NULL && forward_rebind(n) > 0)
			node_update(n);
	/* alert_all_down() trusts these counts: an invariant, checked. */
	node_counts_check();
	pool_tick();
	tunneld_status_changed();
	/* Alert repeats and settling; metrics_listen bound, rebound, retried. */
	alert_tick();
	(void)metrics_sync();
	/*
	 * The tick fires about every half of WATCHDOG_USEC (or more often),
	 * never exactly: a tick 1 ms early must not skip a ping, or the gap
	 * doubles to the full watchdog period and systemd kills us.  Hence
	 * the slack of half a tick (main() ticks at most every quarter
	 * period).
	 */
	if (td->watchdog_usec) {
		uint64_t slack = td->watchdog_usec / 8 < 500000 ?
		    td->watchdog_usec / 8 : 500000;

		if ((now - last_ping) * 1000 + slack >= td->watchdog_usec / 2) {
			notify_watchdog();
			last_ping = now;
		}
	}
}

void
tunneld_raise_nofile(void)
{
	struct rlimit	rl;

	/* Each forwarded connection holds a socket; 1024 is too few. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

