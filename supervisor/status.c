#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <jansson.h>

#include "node.h"
#include "probe.h"
#include "pool.h"
#include "status.h"
#include "tunneld.h"

static const char *fwd_state_names[] = { "down", "pending", "up", "refused" };

static json_t *
status_forward(const struct forward *f)
{
	char	listen[CONFIG_HOST_MAX + 8], target[CONFIG_HOST_MAX + 8];
	json_t	*o;

	config_fmt_hostport(listen, sizeof(listen), f->conf->listen_host,
	    f->conf->listen_port);
	config_fmt_hostport(target, sizeof(target), f->conf->target_host,
	    f->conf->target_port);
	o = json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:I}",
	    "kind", f->conf->kind == FWD_LOCAL ? "local" : "remote",
	    "listen", listen, "target", target,
	    "state", fwd_state_names[f->state],
	    "active", (json_int_t)f->active, "total", (json_int_t)f->total,
	    "bytes_in", (json_int_t)f->bytes_in,
	    "bytes_out", (json_int_t)f->bytes_out);
	if (o != NULL && f->reason[0])
		json_object_set_new(o, "reason", json_string(f->reason));
	return o;
}

/* A number, or null when there is none (never a made-up 0). */
static json_t *
num_or_null(int has, double v)
{
	return has ? json_real(v) : json_null();
}

static json_t *
int_or_null(int has, json_int_t v)
{
	return has ? json_integer(v) : json_null();
}

/*
 * What every probe carries: state, reason, age, staleness; unless BRIEF,
 * how close rise/fall is to changing the node's state.
 */
static void
status_probe_common(json_t *o, const struct probe_common *c, uint64_t now,
    int brief)
{
	double	age = probe_age_s(c, now);

	json_object_set_new(o, "state", json_string(probe_status_name(c->status)));
	json_object_set_new(o, "reason", json_string(
	    c->status == PROBE_FAILED ? c->reason : ""));
	/* Whole seconds, like since_s. */
	json_object_set_new(o, "age_s", age < 0 ? json_null() :
	    json_integer((json_int_t)age));
	json_object_set_new(o, "stale", json_boolean(c->stale));
	if (brief)
		return;
	/* Rise/fall: what the node's state follows, and how close it is. */
	json_object_set_new(o, "judged", json_string(c->judge.failing ?
	    "failing" : "passing"));
	json_object_set_new(o, "consecutive_failures",
	    json_integer(c->judge.fails));
	json_object_set_new(o, "consecutive_successes",
	    json_integer(c->judge.oks));
}

static json_t *
status_gpu(const struct gpu_info *g)
{
	return json_pack("{s:i,s:s,s:s,s:o,s:o,s:o,s:o,s:o,s:o}",
	    "index", g->index, "uuid", g->uuid, "name", g->name,
	    "temp_c", int_or_null(g->has_temp, g->temp_c),
	    "util_pct", int_or_null(g->has_util, g->util_pct),
	    "mem_used_mib", int_or_null(g->has_mem_used, g->mem_used_mib),
	    "mem_total_mib", int_or_null(g->has_mem_total, g->mem_total_mib),
	    "power_w", num_or_null(g->has_power, g->power_w),
	    "power_limit_w", num_or_null(g->has_power_limit, g->power_limit_w));
}

/* The latest good reading (marked stale when not confirmed since). */
static json_t *
status_gpus(const struct probe_gpu_result *r)
{
	json_t	*a = json_array();
	size_t	 i;

	if (r->has_sample)
		for (i = 0; i < r->sample.ngpus; i++)
			json_array_append_new(a, status_gpu(&r->sample.gpus[i]));
	return a;
}

static json_t *
status_gpu_probe(const struct node *n, const struct probe_gpu_result *r,
    uint64_t now, int brief)
{
	json_t		*o;
	uint64_t	 since;

	if (r->kind == GPU_NONE)
		return json_null();
	o = json_pack("{s:s}", "tool", r->kind == GPU_TEGRASTATS ?
	    "tegrastats" : "nvidia-smi");
	status_probe_common(o, &r->c, now, brief);
	json_object_set_new(o, "gpus_total", int_or_null(r->has_sample,
	    (json_int_t)r->sample.ngpus_total));
	/* A wedged tool is still outstanding: no second one starts meanwhile. */
	json_object_set_new(o, "outstanding_s",
	    probe_gpu_outstanding(n, &since) ? json_integer((json_int_t)
	    ((now > since ? now - since : 0) / 1000)) : json_null());
	return o;
}

/* BRIEF: the figures of a table row; the model lists only as a count. */
static json_t *
status_ollama(const struct probe_ollama_result *r, uint64_t now, int brief)
{
	const struct ollama_info *in = &r->info;
	json_t			*o, *models, *loaded, *missing;
	size_t			 i;

	if (r->url == NULL)
		return json_null();
	o = json_pack("{s:s}", "url", r->url);
	status_probe_common(o, &r->c, now, brief);
	if (!r->has_info) {
		json_object_set_new(o, "version", json_null());
		json_object_set_new(o, "latency_ms", json_null());
		json_object_set_new(o, "models_total", json_null());
		if (brief)
			return o;
		json_object_set_new(o, "models", json_null());
		json_object_set_new(o, "loaded", json_null());
		json_object_set_new(o, "missing_models", json_array());
		return o;
	}
	json_object_set_new(o, "version", json_string(in->version));
	json_object_set_new(o, "latency_ms",
	    json_real((double)(int64_t)(r->latency_ms * 10.0) / 10.0));
	json_object_set_new(o, "models_total",
	    json_integer((json_int_t)in->nmodels_total));
	if (brief)
		return o;
	models = json_array();
	for (i = 0; i < in->nmodels; i++)
		json_array_append_new(models, json_string(in->models[i]));
	loaded = json_array();
	for (i = 0; i < in->nloaded; i++)
		json_array_append_new(loaded, json_pack("{s:s,s:o}",
		    "name", in->loaded[i].name, "size_vram",
		    int_or_null(in->loaded[i].has_size_vram,
		    (json_int_t)in->loaded[i].size_vram)));
	missing = json_array();
	for (i = 0; i < r->nmissing; i++)
		json_array_append_new(missing, json_string(r->missing[i]));
	json_object_set_new(o, "models", models);
	json_object_set_new(o, "loaded", loaded);
	json_object_set_new(o, "missing_models", missing);
	return o;
}

static json_t *
status_http(const struct probe_results *r, uint64_t now)
{
	json_t	*a = json_array(), *o;
	size_t	 i;

	for (i = 0; i < r->nhttp; i++) {
		const struct probe_http_result *h = &r->http[i];

		o = json_pack("{s:s}", "url", h->url);
		status_probe_common(o, &h->c, now, 0);
		json_object_set_new(o, "status", int_or_null(h->http_status != 0,
		    h->http_status));
		json_object_set_new(o, "latency_ms", num_or_null(h->c.at != 0,
		    h->latency_ms));
		json_array_append_new(a, o);
	}
	return a;
}

/*
 * Probe results of node N, added to its status object O; BRIEF leaves out
 * the HTTP checks and the failure count.
 */
static void
status_probes(json_t *o, const struct node *n, uint64_t now, int brief)
{
	const struct probe_results	*r = probe_results(n);

	if (r == NULL)
		return;
	json_object_set_new(o, "ollama", status_ollama(&r->ollama, now, brief));
	json_object_set_new(o, "gpus", status_gpus(&r->gpu));
	json_object_set_new(o, "gpu_probe", status_gpu_probe(n, &r->gpu, now,
	    brief));
	if (brief)
		return;
	json_object_set_new(o, "http", status_http(r, now));
	json_object_set_new(o, "probe_failures_recent",
	    json_integer(probe_recent_failures(r, now)));
}

/* The latest state changes, oldest first. */
static json_t *
status_history(const struct node *n)
{
	const struct node_change	*c;
	json_t				*a = json_array();
	size_t				 i;

	for (i = 0; (c = node_history(n, i)) != NULL; i++)
		json_array_append_new(a, json_pack("{s:I,s:s,s:s,s:s}",
		    "time", (json_int_t)c->time,
		    "from", node_state_name(c->from),
		    "to", node_state_name(c->to), "reason", c->reason));
	return a;
}

/* History, time in each kind of state, and the node's probe settings. */
static void
status_record(json_t *o, const struct node *n, uint64_t now)
{
	const struct node_conf	*nc = n->conf;

	json_object_set_new(o, "history", status_history(n));
	json_object_set_new(o, "up_s_total", json_integer((json_int_t)
	    (node_state_total(n, NODE_UP, now) / 1000)));
	json_object_set_new(o, "down_s_total", json_integer((json_int_t)
	    ((node_state_total(n, NODE_BACKOFF, now) +
	    node_state_total(n, NODE_CONNECTING, now)) / 1000)));
	json_object_set_new(o, "degraded_s_total", json_integer((json_int_t)
	    (node_state_total(n, NODE_DEGRADED, now) / 1000)));
	json_object_set_new(o, "probe_settings", json_pack(
	    "{s:f,s:f,s:i,s:i}",
	    "interval_s", (double)nc->probe_interval / 1000.0,
	    "timeout_s", (double)nc->probe_timeout / 1000.0,
	    "rise", nc->rise, "fall", nc->fall));
}

json_t *
status_node(const struct node *n, uint64_t now, int brief)
{
	const struct node_conf	*nc = n->conf;
	json_t			*o, *fw, *ssh = json_null();
	char			 target[CONFIG_HOST_MAX * 2];
	size_t			 i;

	if (!nc->local) {
		ssh = json_pack("{s:s,s:I,s:o,s:s,s:o}",
		    "target", config_fmt_target(target, sizeof(target), n->conf),
		    "connects", (json_int_t)n->connects,
		    "rtt_ms", n->has_rtt ? json_real(n->rtt_ms) : json_null(),
		    "last_error", n->last_error,
		    "next_attempt_s", n->next_attempt > now ?
		    json_real((double)(n->next_attempt - now) / 1000.0) :
		    json_null());
		/* The session's own age: a brief `degraded` leaves it be. */
		if (ssh != NULL)
			json_object_set_new(ssh, "session_s",
			    n->session_up_at != 0 &&
			    now >= n->session_up_at ? json_integer((json_int_t)
			    ((now - n->session_up_at) / 1000)) : json_null());
	}
	fw = json_array();
	for (i = 0; i < n->nfwds; i++)
		json_array_append_new(fw, status_forward(&n->fwds[i]));
	o = json_pack("{s:s,s:s,s:I,s:s,s:i,s:o,s:o,s:f}",
	    "name", nc->name,
	    "state", node_state_name(n->state),
	    "since_s", (json_int_t)((now - n->since) / 1000),
	    "reason", n->reason,
	    "priority", nc->priority,
	    "ssh", ssh,
	    "forwards", fw,
	    "load_score", pool_load_score(n));
	if (o != NULL) {
		status_probes(o, n, now, brief);
		if (!brief)
			status_record(o, n, now);
	}
	return o;
}

static int
status_out(const char *buf, size_t size, void *out)
{
	return evbuffer_add(out, buf, size);
}

/*
 * One JSON value appended to OUT, then freed; -1 when it could not be
 * built or written.
 */
static int
status_put(struct evbuffer *out, json_t *v, size_t flags)
{
	char	 buf[8192];
	size_t	 len;
	int	 rc;

	if (v == NULL)
		return -1;
	/*
	 * A node fits the stack: one copy into OUT, where the callback
	 * would add every token on its own; a larger one (many GPUs, long
	 * model lists) goes token by token.
	 */
	len = json_dumpb(v, buf, sizeof(buf), flags);
	if (len == 0)
		rc = -1;
	else if (len <= sizeof(buf))
		rc = evbuffer_add(out, buf, len);
	else
		rc = json_dump_callback(v, status_out, out, flags);
	json_decref(v);
	return rc;
}

int
status_head(struct evbuffer *out, uint64_t now, size_t flags)
{
	json_t	*head;
	char	*s;
	int	 rc;

	head = json_pack("{s:b,s:i,s:s,s:i,s:I}", "ok", 1,
	    "protocol", TUNNELD_PROTOCOL, "version", PACKAGE_VERSION,
	    "pid", (int)getpid(),
	    "uptime_s", (json_int_t)((now - td->started) / 1000));
	s = head != NULL ? json_dumps(head, flags | JSON_COMPACT) : NULL;
	json_decref(head);
	if (s == NULL)
		return -1;
	/* The head's members, its closing brace left off for the lists. */
	rc = evbuffer_add_printf(out, "%.*s,\"nodes\":[",
	    (int)strlen(s) - 1, s) == -1 ? -1 : 0;
	free(s);
	return rc;
}

int
status_nodes(struct evbuffer *out, struct status_cursor *c, size_t limit,
    size_t flags)
{
	while (c->next != NULL && evbuffer_get_length(out) < limit) {
		if ((!c->first && evbuffer_add(out, ",", 1) == -1) ||
		    status_put(out, status_node(c->next, c->now, c->brief),
		    flags | JSON_COMPACT) == -1)
			return -1;
		c->first = 0;
		c->next = TAILQ_NEXT(c->next, entry);
	}
	return 0;
}

int
status_tail(struct evbuffer *out, int pools, size_t flags)
{
	if (evbuffer_add(out, "]", 1) == -1)
		return -1;
	if (pools && (evbuffer_add(out, ",\"pools\":", 9) == -1 ||
	    status_put(out, pool_status_json(), flags | JSON_COMPACT) == -1))
		return -1;
	return evbuffer_add(out, "}", 1);
}

int
status_write(struct evbuffer *dst, const char *name, int brief,
    size_t flags)
{
	struct status_cursor	 c = { NULL, now_ms(), brief, 1 };
	struct evbuffer		*out;
	int			 rc;

	if (name != NULL && (c.next = node_find(name)) == NULL)
		return 1;
	/* Built aside: a reply cut short must not reach DST. */
	if ((out = evbuffer_new()) == NULL)
		return -1;
	rc = status_head(out, c.now, flags);
	if (rc == 0 && name != NULL)
		rc = status_put(out, status_node(c.next, c.now, brief),
		    flags | JSON_COMPACT);
	else if (rc == 0) {
		c.next = TAILQ_FIRST(&td->nodes);
		rc = status_nodes(out, &c, SIZE_MAX, flags);
	}
	if (rc == 0)
		rc = status_tail(out, name == NULL, flags);
	if (rc == 0)
		rc = evbuffer_add_buffer(dst, out);
	evbuffer_free(out);
	return rc;
}

int
status_all_up(void)
{
	struct node	*n;

	TAILQ_FOREACH(n, &td->nodes, entry)
		if (n->state != NODE_UP)
			return 0;
	return 1;
}

/* One line for systemd's STATUS=: the count, then the first node not up. */
void
status_line(char *buf, size_t len)
{
	struct node	*n, *worst = NULL;
	unsigned	 up = 0, total = 0;
	uint64_t	 now = now_ms();
	int		 off;

	TAILQ_FOREACH(n, &td->nodes, entry) {
		total++;
		if (n->state == NODE_UP)
			up++;
		else if (worst == NULL || (worst->state == NODE_STOPPED &&
		    n->state != NODE_STOPPED))
			worst = n;
	}
	off = snprintf(buf, len, "%u/%u nodes up", up, total);
	if (worst == NULL || off < 0 || (size_t)off >= len)
		return;
	off += snprintf(buf + off, len - off, "; %s %s", worst->conf->name,
	    node_state_name(worst->state));
	if (worst->state == NODE_BACKOFF && worst->next_attempt > now &&
	    (size_t)off < len)
		off += snprintf(buf + off, len - off, " %llus",
		    (unsigned long long)((worst->next_attempt - now + 999) / 1000));
	if (worst->reason[0] && (size_t)off < len)
		snprintf(buf + off, len - off, ": %s", worst->reason);
}
