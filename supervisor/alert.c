/*
 * alert: the daemon layer.  Reads the live nodes and their probe results,
 * turns them into conditions and hands them to the engine
 * (alert_engine.c), which decides what is worth an entry.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libssh/libssh.h>

#include "alert.h"
#include "log.h"
#include "nameidx.h"
#include "node.h"
#include "probe.h"
#include "session.h"
#include "tunneld.h"

static struct alert_engine	*alerts;
static alert_sink		 alert_out;
static void			*alert_out_arg;

/* The engine's one way out: the sink the daemon (or a test) installed. */
static void
alert_emit(const struct alert_entry *a, void *arg)
{
	if (alert_out != NULL)
		alert_out(a, alert_out_arg);
}

void
alert_set_sink(alert_sink sink, void *arg)
{
	alert_out = sink;
	alert_out_arg = arg;
}

static struct alert_engine *
alert_engine_get(void)
{
	if (alerts == NULL &&
	    (alerts = alert_engine_new(0, alert_emit, NULL)) == NULL)
		fatal("%s: alert_engine_new", __func__);
	/* [alerts] repeat_after may change with every reload. */
	alert_engine_set_repeat(alerts, td->conf->alert_repeat_after);
	return alerts;
}

/* The engine decides; only a condition it had no memory for is said here. */
static void
alert_update(struct alert_engine *e, enum alert_kind kind, const char *node,
    const char *key, int active, const struct alert_vals *v, uint64_t now)
{
	if (alert_engine_update(e, kind, node, key, active, v, now) == -1)
		log_warn("alerts: out of memory");
}

/* Fields of one condition, built in VALS from printf-style strings. */
struct alert_fieldbuf {
	char	buf[ALERT_FIELDS_MAX][ALERT_FIELD_MAX];
	size_t	n;
};

static void
fb_add(struct alert_fieldbuf *fb, struct alert_vals *v, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
fb_add(struct alert_fieldbuf *fb, struct alert_vals *v, const char *fmt, ...)
{
	va_list	ap;

	if (fb->n >= ALERT_FIELDS_MAX)
		return;
	va_start(ap, fmt);
	vsnprintf(fb->buf[fb->n], sizeof(fb->buf[fb->n]), fmt, ap);
	va_end(ap);
	v->fields[fb->n] = fb->buf[fb->n];
	fb->n++;
	v->fields[fb->n] = NULL;
}

static void
vals_init(struct alert_vals *v, struct alert_fieldbuf *fb, const char *reason)
{
	memset(v, 0, sizeof(*v));
	fb->n = 0;
	v->reason = reason;
}

/* The key the live session's server presented. */
static void
alert_hostkey_of_session(struct node *n, char *buf, size_t len)
{
	if (!session_is_up(n->sess) ||
	    session_server_key(n->sess, buf, len) == -1)
		buf[0] = '\0';
}

static void
alert_host_key(struct alert_engine *e, struct node *n, uint64_t now)
{
	const struct node_conf	*nc = n->conf;
	struct alert_fieldbuf	 fb;
	struct alert_vals	 v;
	char			 key[SESSION_KEY_MAX];
	char			 khname[CONFIG_HOST_MAX + 16];
	unsigned		 port = nc->port ? nc->port : 22;
	int			 active;

	if (n->state == NODE_BACKOFF &&
	    n->fail.kind == SESSION_FAIL_HOSTKEY_MISMATCH) {
		active = 1;
		snprintf(key, sizeof(key), "%s", n->fail.key);
	} else if (n->state == NODE_UP || n->state == NODE_DEGRADED) {
		active = 0;
		if (!alert_engine_active(e, ALERT_HOST_KEY_MISMATCH, nc->name, NULL))
			return;
		alert_hostkey_of_session(n, key, sizeof(key));
	} else
		return;		/* no verdict on the key in this state */

	/* known_hosts writes a port other than 22 as [host]:port. */
	if (port == 22)
		snprintf(khname, sizeof(khname), "%s", nc->host);
	else
		snprintf(khname, sizeof(khname), "[%s]:%u", nc->host, port);
	vals_init(&v, &fb, active ? n->last_error :
	    "the server's host key is accepted");
	fb_add(&fb, &v, "TUNNELD_SSH_TARGET=%s", nc->ssh);
	fb_add(&fb, &v, "TUNNELD_HOST_KEY=%s", key[0] ? key : "unknown");
	fb_add(&fb, &v, "TUNNELD_KNOWN_HOSTS_FILE=%s", td->conf->known_hosts);
	if (active) {
		fb_add(&fb, &v, "TUNNELD_SSH_HOST=%s", nc->host);
		fb_add(&fb, &v, "TUNNELD_SSH_PORT=%u", port);
		fb_add(&fb, &v, "TUNNELD_KNOWN_HOSTS_NAME=%s", khname);
	}
	alert_update(e, ALERT_HOST_KEY_MISMATCH, nc->name, NULL, active,
	    &v, now);
}

/*
 * accept-new could not write the server's key (session_record_key()).
 * Cleared once the node is up, i.e. the key is on disk.
 */
static void
alert_host_key_unrecorded(struct alert_engine *e, struct node *n,
    uint64_t now)
{
	const struct node_conf	*nc = n->conf;
	struct alert_fieldbuf	 fb;
	struct alert_vals	 v;
	char			 key[SESSION_KEY_MAX];
	int			 active, err = 0;

	if (n->state == NODE_BACKOFF &&
	    n->fail.kind == SESSION_FAIL_HOSTKEY_UNRECORDED) {
		active = 1;
		snprintf(key, sizeof(key), "%s", n->fail.key);
		err = n->fail.err;
	} else if (n->state == NODE_UP || n->state == NODE_DEGRADED) {
		active = 0;
		if (!alert_engine_active(e, ALERT_HOST_KEY_UNRECORDED, nc->name,
		    NULL))
			return;
		alert_hostkey_of_session(n, key, sizeof(key));
	} else
		return;
	vals_init(&v, &fb, active ? n->last_error :
	    "the server's host key is recorded");
	fb_add(&fb, &v, "TUNNELD_SSH_TARGET=%s", nc->ssh);
	fb_add(&fb, &v, "TUNNELD_HOST_KEY=%s", key[0] ? key : "unknown");
	fb_add(&fb, &v, "TUNNELD_KNOWN_HOSTS_FILE=%s", td->conf->known_hosts);
	if (active && err > 0)
		fb_add(&fb, &v, "ERRNO=%d", err);
	alert_update(e, ALERT_HOST_KEY_UNRECORDED, nc->name, NULL,
	    active, &v, now);
}

static void
alert_remote_ports(struct alert_engine *e, struct node *n, uint64_t now)
{
	struct alert_fieldbuf	 fb;
	struct alert_vals	 v;
	struct forward		*f;
	char			 listen[CONFIG_HOST_MAX + 8];
	size_t			 i;
	int			 active;

	for (i = 0; i < n->nfwds; i++) {
		f = &n->fwds[i];
		if (f->conf->kind != FWD_REMOTE)
			continue;
		if (f->state == FWD_REFUSED)
			active = 1;
		else if (f->state == FWD_UP)
			active = 0;
		else
			continue;	/* no session: no answer from the server */
		config_fmt_hostport(listen, sizeof(listen), f->conf->listen_host,
		    f->conf->listen_port);
		vals_init(&v, &fb, active ? f->reason :
		    "the server granted the remote forward");
		fb_add(&fb, &v, "TUNNELD_SSH_TARGET=%s", n->conf->ssh);
		fb_add(&fb, &v, "TUNNELD_LISTEN=%s", listen);
		fb_add(&fb, &v, "TUNNELD_PORT=%u", f->conf->listen_port);
		alert_update(e, ALERT_REMOTE_PORT_IN_USE, n->conf->name,
		    listen, active, &v, now);
	}
}

static void
alert_all_down(struct alert_engine *e, struct node *trigger, uint64_t now)
{
	struct alert_fieldbuf	 fb;
	struct alert_vals	 v;
	struct node		*m;
	const char		*back = NULL;
	char			 names[ALERT_FIELD_MAX - 16];
	char			 reason[ALERT_REASON_MAX];
	size_t			 ol = 0, orr = 0;
	unsigned		 total = 0, live = 0, down = 0;
	int			 st, w;

	names[0] = reason[0] = '\0';
	/*
	 * Runs on every transition of every node: node.c's counts, not a
	 * walk of every node (that walk was a quarter of a 5,000-node
	 * start-up).  Nodes are walked only for the text: the names when
	 * every node is down, the node that is back when an announced alert
	 * clears.
	 */
	for (st = 0; st < NODE_NSTATES; st++)
		if (st != NODE_STOPPED)
			total += td->nodes_in[st];
	live = td->nodes_in[NODE_UP] + td->nodes_in[NODE_DEGRADED];
	down = td->nodes_in[NODE_BACKOFF];
	if (trigger != NULL && (trigger->state == NODE_UP ||
	    trigger->state == NODE_DEGRADED))
		back = trigger->conf->name;
	else if (live > 0 &&
	    alert_engine_active(e, ALERT_ALL_NODES_DOWN, NULL, NULL))
		TAILQ_FOREACH(m, &td->nodes, entry)
			if (m->state == NODE_UP || m->state == NODE_DEGRADED) {
				back = m->conf->name;
				break;
			}
	TAILQ_FOREACH(m, &td->nodes, entry) {
		if (live > 0 || down != total)
			break;
		if (ol + 1 >= sizeof(names) && orr + 1 >= sizeof(reason))
			break;		/* both full: the rest would not show */
		if (m->state == NODE_STOPPED)
			continue;
		w = snprintf(names + ol, sizeof(names) - ol, "%s%s",
		    ol ? " " : "", m->conf->name);
		if (w > 0 && ol + (size_t)w < sizeof(names))
			ol += (size_t)w;
		else
			ol = sizeof(names);
		w = snprintf(reason + orr, sizeof(reason) - orr, "%s%s: %s",
		    orr ? "; " : "", m->conf->name,
		    m->reason[0] ? m->reason : node_state_name(m->state));
		if (w > 0 && orr + (size_t)w < sizeof(reason))
			orr += (size_t)w;
		else
			orr = sizeof(reason);
	}
	if (total == 0) {
		/* Every node stopped on purpose: nothing to alert about. */
		alert_engine_forget(e, NULL, ALERT_ALL_NODES_DOWN);
		return;
	}
	if (live > 0) {
		vals_init(&v, &fb, "requests can be served again");
		v.clear_node = back;
		alert_update(e, ALERT_ALL_NODES_DOWN, NULL, NULL, 0, &v,
		    now);
	} else if (down == total) {
		/*
		 * Only once every node has failed: not while some still make
		 * their first attempt (at start, one refused port must not
		 * page anyone before the others had their chance).
		 */
		vals_init(&v, &fb, reason);
		fb_add(&fb, &v, "TUNNELD_NODES=%s", names);
		alert_update(e, ALERT_ALL_NODES_DOWN, NULL, NULL, 1, &v,
		    now);
	}
}

void
alert_node(struct node *n, int transition)
{
	struct alert_engine	*e = alert_engine_get();
	const struct node_conf	*nc = n->conf;
	struct alert_fieldbuf	 fb;
	struct alert_vals	 v;
	uint64_t		 now = now_ms();
	char			 why[REASON_MAX + 64];

	if (n->state == NODE_STOPPED) {
		/* Stopped on purpose: whatever was wrong is not news any more. */
		alert_engine_forget(e, nc->name, ALERT_NKINDS);
	} else if (!nc->local && n->state == NODE_BACKOFF) {
		vals_init(&v, &fb, n->reason[0] ? n->reason : n->last_error);
		fb_add(&fb, &v, "TUNNELD_SSH_TARGET=%s", nc->ssh);
		alert_update(e, ALERT_NODE_DOWN, nc->name, NULL, 1, &v, now);
	} else if (!nc->local && (n->state == NODE_UP ||
	    n->state == NODE_DEGRADED)) {
		snprintf(why, sizeof(why), "session established (connection "
		    "%llu)%s%s", (unsigned long long)n->connects,
		    n->state == NODE_DEGRADED ? "; degraded: " : "",
		    n->state == NODE_DEGRADED ? n->reason : "");
		vals_init(&v, &fb, why);
		fb_add(&fb, &v, "TUNNELD_SSH_TARGET=%s", nc->ssh);
		alert_update(e, ALERT_NODE_DOWN, nc->name, NULL, 0, &v, now);
	}
	if (!nc->local && n->state != NODE_STOPPED) {
		alert_host_key(e, n, now);
		alert_host_key_unrecorded(e, n, now);
		alert_remote_ports(e, n, now);
	}
	/*
	 * Whether every node is down changes only with a state: a probe
	 * result or a new reason must not cost a walk of every node.
	 */
	if (transition)
		alert_all_down(e, n, now);
	/* A probe result that changed the state is judged at once. */
	alert_probe_result(n);
}

static int
alert_probe_fresh(const struct node *n, const struct probe_common *pc)
{
	/* A result from before the session came back says nothing now. */
	return pc->status != PROBE_PENDING && pc->at != 0 &&
	    (n->conf->local || pc->at >= n->session_up_at);
}

static void
alert_ollama(struct alert_engine *e, struct node *n,
    const struct probe_ollama_result *r, uint64_t now)
{
	const struct config	*c = td->conf;
	const char		*name = n->conf->name;
	struct alert_fieldbuf	 fb;
	struct alert_vals	 v;
	char			 why[REASON_MAX + 64], models[ALERT_FIELD_MAX];
	uint64_t		 lat;
	size_t			 i, ol = 0;
	int			 w, slow;

	if (r->url == NULL || !alert_probe_fresh(n, &r->c))
		return;
	/*
	 * Alerts follow the judged state (rise/fall): a result the judge
	 * has not acted on yet (a blip, or the first good answers after a
	 * failure) changes no alert.
	 */
	if ((r->c.status == PROBE_FAILED || r->nmissing_total > 0) !=
	    (r->c.judge.failing != 0))
		return;

	if (r->c.status == PROBE_FAILED) {
		vals_init(&v, &fb, r->c.reason);
	} else {
		snprintf(why, sizeof(why), "Ollama %s answered in %.0f ms",
		    r->info.version[0] ? r->info.version : "", r->latency_ms);
		vals_init(&v, &fb, why);
	}
	fb_add(&fb, &v, "TUNNELD_OLLAMA_URL=%s", r->url);
	alert_update(e, ALERT_OLLAMA_UNREACHABLE, name, NULL,
	    r->c.status == PROBE_FAILED, &v, now);
	if (r->c.status != PROBE_OK)
		return;		/* no latency or model list to judge */

	/* ollama_latency = 0 turns the latency alert off. */
	lat = (uint64_t)(r->latency_ms + 0.5);
	slow = c->alert_ollama_latency > 0 && lat > c->alert_ollama_latency;
	snprintf(why, sizeof(why), "probe took %llu ms, %s %llu ms",
	    (unsigned long long)lat, slow ? "above" : "within",
	    (unsigned long long)c->alert_ollama_latency);
	vals_init(&v, &fb, why);
	fb_add(&fb, &v, "TUNNELD_OLLAMA_URL=%s", r->url);
	fb_add(&fb, &v, "TUNNELD_LATENCY_MS=%llu", (unsigned long long)lat);
	fb_add(&fb, &v, "TUNNELD_THRESHOLD=%llu",
	    (unsigned long long)c->alert_ollama_latency);
	alert_update(e, ALERT_OLLAMA_SLOW, name, NULL, slow, &v, now);

	if (!r->has_info)
		return;
	models[0] = '\0';
	for (i = 0; i < r->nmissing && i < PROBE_MISSING_MAX; i++) {
		w = snprintf(models + ol, sizeof(models) - ol, "%s%s",
		    ol ? " " : "", r->missing[i]);
		if (w < 0 || ol + (size_t)w >= sizeof(models))
			break;
		ol += (size_t)w;
	}
	if (r->nmissing_total > 0) {
		snprintf(why, sizeof(why), "missing model%s %s",
		    r->nmissing_total > 1 ? "s" : "", models);
		vals_init(&v, &fb, why);
		fb_add(&fb, &v, "TUNNELD_OLLAMA_URL=%s", r->url);
		fb_add(&fb, &v, "TUNNELD_MODELS=%s", models);
	} else {
		/* The cleared entry names the models that were missing. */
		vals_init(&v, &fb, "every required model is listed");
		v.keep_fields = 1;
	}
	alert_update(e, ALERT_MODEL_MISSING, name, NULL,
	    r->nmissing_total > 0, &v, now);
}

static void
alert_gpus(struct alert_engine *e, struct node *n,
    const struct probe_gpu_result *r, uint64_t now)
{
	const struct config	*c = td->conf;
	const struct gpu_info	*g;
	struct alert_fieldbuf	 fb;
	struct alert_vals	 v;
	char			 key[16], why[128];
	long			 pct;
	size_t			 i;
	int			 on;

	if (r->kind == GPU_NONE || !alert_probe_fresh(n, &r->c) ||
	    r->c.status != PROBE_OK || !r->has_sample)
		return;
	/* As for Ollama: only a reading the judge agrees with. */
	if (probe_gpu_threshold(&r->sample, c->alert_gpu_temp_c,
	    c->alert_gpu_mem_pct, why, sizeof(why)) != r->c.judge.failing)
		return;
	for (i = 0; i < r->sample.ngpus && i < GPU_MAX; i++) {
		g = &r->sample.gpus[i];
		snprintf(key, sizeof(key), "%d", g->index);
		if ((on = gpu_temp_over(g, c->alert_gpu_temp_c)) != -1) {
			snprintf(why, sizeof(why), "gpu%d %d°C %s %d°C",
			    g->index, g->temp_c, on ? ">" : "<=",
			    c->alert_gpu_temp_c);
			vals_init(&v, &fb, why);
			fb_add(&fb, &v, "TUNNELD_GPU=%d", g->index);
			fb_add(&fb, &v, "TUNNELD_GPU_TEMP_C=%d", g->temp_c);
			fb_add(&fb, &v, "TUNNELD_THRESHOLD=%d",
			    c->alert_gpu_temp_c);
			alert_update(e, ALERT_GPU_HOT, n->conf->name, key,
			    on, &v, now);
		}
		if ((on = gpu_mem_over(g, c->alert_gpu_mem_pct)) != -1) {
			pct = gpu_mem_pct(g);
			snprintf(why, sizeof(why), "gpu%d memory %ld%% (%ld of "
			    "%ld MiB) %s %d%%", g->index, pct, g->mem_used_mib,
			    g->mem_total_mib, on ? ">" : "<=",
			    c->alert_gpu_mem_pct);
			vals_init(&v, &fb, why);
			fb_add(&fb, &v, "TUNNELD_GPU=%d", g->index);
			fb_add(&fb, &v, "TUNNELD_GPU_MEM_PCT=%ld", pct);
			fb_add(&fb, &v, "TUNNELD_GPU_MEM_USED_MIB=%ld",
			    g->mem_used_mib);
			fb_add(&fb, &v, "TUNNELD_GPU_MEM_TOTAL_MIB=%ld",
			    g->mem_total_mib);
			fb_add(&fb, &v, "TUNNELD_THRESHOLD=%d",
			    c->alert_gpu_mem_pct);
			alert_update(e, ALERT_GPU_MEMORY_HIGH,
			    n->conf->name, key, on, &v, now);
		}
	}
}

/*
 * After a probe round (the probe runner's one hook), and from alert_tick
 * for every node, so that nothing is missed if a round ends elsewhere.
 * Probe alerts are judged only while the node's session is up: with the
 * node down, node-down says it all.
 */
void
alert_probe_result(struct node *n)
{
	struct alert_engine		*e = alert_engine_get();
	const struct probe_results	*r;
	uint64_t			 now = now_ms();

	if (n->state != NODE_UP && n->state != NODE_DEGRADED)
		return;
	if ((r = probe_results(n)) == NULL)
		return;
	alert_ollama(e, n, &r->ollama, now);
	alert_gpus(e, n, &r->gpu, now);
}

/*
 * The live node names, hashed, for alert_tick(): a node_find() per
 * condition was conditions x nodes every second (5,000 nodes whose Ollama
 * probe fails: 25 million comparisons a second, status unanswered).
 */
static struct nameidx	alert_names;

static void
alert_names_fill(void)
{
	struct node	*n;

	nameidx_clear(&alert_names);
	TAILQ_FOREACH(n, &td->nodes, entry)
		if (nameidx_put(&alert_names, n->conf->name, n) == -1)
			fatal("%s: out of memory", __func__);
}

static int
alert_names_has(const char *name, void *arg)
{
	(void)arg;
	return nameidx_get(&alert_names, name) != NULL;
}

void
alert_tick(void)
{
	struct alert_engine	*e = alert_engine_get();
	uint64_t		 now = now_ms();

	/* Conditions of nodes a reload removed end without an entry. */
	alert_names_fill();
	alert_engine_forget_nodes(e, alert_names_has, NULL);
	/* Probe results are judged as they arrive (node_update -> alert_node). */
	alert_all_down(e, NULL, now);
	alert_engine_tick(e, now);
}
