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
#include <unistd.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <libssh/libssh.h>

#include "alert.h"
#include "control.h"
#include "forward.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "session.h"
#include "status.h"
#include "pool.h"
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

void
tunneld_status_changed(void)
{
	char	line[512];

	status_line(line, sizeof(line));
	notify_status(line);
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

static int
tunneld_streq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
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
	return tunneld_streq(a->known_hosts, b->known_hosts) &&
	    a->host_key_policy == b->host_key_policy &&
	    tunneld_streq(a->ssh_config, b->ssh_config) &&
	    a->keepalive_interval == b->keepalive_interval &&
	    a->keepalive_count == b->keepalive_count;
}

/*
 * Apply a new config: unchanged nodes and their connections are left
 * alone, removed ones stop, changed ones restart, added ones start.  A bad
 * file changes nothing.
 */
int
tunneld_reload(char *msg, size_t msgsz)
{
	struct config		*nconf, *old = td->conf;
	struct node_list	 keep, gone;
	struct node		*n;
	struct node_conf	*nc;
	unsigned		 added = 0, removed = 0, changed = 0, same = 0;
	char			 why[768];

	notify_reloading();
	log_info("reloading %s", config_path);
	if ((nconf = tunneld_load_report(config_path, 0, why,
	    sizeof(why))) == NULL) {
		snprintf(msg, msgsz, "reload failed, the running configuration "
		    "is kept: %s", why);
		log_entry(LOG_ERR, NULL, "reload-failed", NULL, NULL, "%s", msg);
		notify_ready();
		return -1;
	}
	if (strcmp(nconf->control_socket, old->control_socket) != 0)
		log_warnx("control_socket change takes effect at restart");

	TAILQ_FOREACH(nc, &nconf->nodes, entry)
		if (config_find_node(old, nc->name) == NULL)
			added++;

	/* Removed or changed nodes go first: their ports free up for others. */
	TAILQ_INIT(&keep);
	TAILQ_INIT(&gone);
	while ((n = TAILQ_FIRST(&td->nodes)) != NULL) {
		TAILQ_REMOVE(&td->nodes, n, entry);
		nc = config_find_node(nconf, n->conf->name);
		if (nc != NULL && node_conf_equal(n->conf, nc) &&
		    tunneld_session_settings_equal(old, nconf)) {
			tunneld_adopt(n, nc);
			TAILQ_INSERT_TAIL(&keep, n, entry);
			same++;
		} else {
			if (nc != NULL)
				changed++;
			else
				removed++;
			log_entry(LOG_INFO, n->conf->name, nc ? "node-changed" :
			    "node-removed", NULL, NULL, "%s: %s", n->conf->name,
			    nc ? "changed, restarting" : "removed");
			TAILQ_INSERT_TAIL(&gone, n, entry);
		}
	}
	/*
	 * Pool clients the gone nodes hand back look for another node: the
	 * kept ones must be findable while the gone ones are freed.
	 */
	TAILQ_CONCAT(&td->nodes, &keep, entry);
	while ((n = TAILQ_FIRST(&gone)) != NULL) {
		TAILQ_REMOVE(&gone, n, entry);
		node_free(n);
	}
	TAILQ_CONCAT(&keep, &td->nodes, entry);
	/* Before the old config goes: pools compare against it. */
	if (pool_reload(nconf) == -1)
		log_warnx("%s: not every pool listener could be bound; "
		    "retrying every second", __func__);
	td->conf = nconf;
	config_free(old);
	tunneld_admin_gid();

	/* Rebuild in the order of the new file. */
	TAILQ_FOREACH(nc, &nconf->nodes, entry) {
		struct node *k;

		TAILQ_FOREACH(k, &keep, entry)
			if (k->conf == nc)
				break;
		if (k != NULL) {
			TAILQ_REMOVE(&keep, k, entry);
			TAILQ_INSERT_TAIL(&td->nodes, k, entry);
			continue;
		}
		if ((n = node_new(nc)) == NULL)
			fatal("%s: node_new", __func__);
		TAILQ_INSERT_TAIL(&td->nodes, n, entry);
		node_start(n);
	}
	snprintf(msg, msgsz, "reloaded %s: %u added, %u removed, %u changed, "
	    "%u unchanged", config_path, added, removed, changed, same);
	log_entry(LOG_NOTICE, NULL, "reloaded", NULL, NULL, "%s", msg);
	tunneld_status_changed();
	notify_ready();
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
		log_info("%s received, stopping", strsignal(sig));
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

