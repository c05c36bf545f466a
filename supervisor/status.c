#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <jansson.h>

#include "jsonw.h"
#include "node.h"
#include "probe.h"
#include "pool.h"
#include "status.h"
#include "tunneld.h"

static const char *fwd_state_names[] = { "down", "pending", "up", "refused" };

/*
 * A node is written with jsonw, not built as a jansson tree: a tree per
 * node was most of the cost of a reply for every node (an allocation per
 * value, freed at once).  The text is the same as before: keys in the same
 * order, null where there is no figure.  jsonw latches its first error, so
 * the writers below return nothing; status_put_node() checks once per
 * node.
 */

static void
status_forward(struct jsonw *w, const struct forward *f)
{
	char	listen[CONFIG_HOST_MAX + 8], target[CONFIG_HOST_MAX + 8];

	config_fmt_hostport(listen, sizeof(listen), f->conf->listen_host,
	    f->conf->listen_port);
	config_fmt_hostport(target, sizeof(target), f->conf->target_host,
	    f->conf->target_port);
	jsonw_obj_open(w, NULL);
	jsonw_key_str(w, "kind", f->conf->kind == FWD_LOCAL ? "local" : "remote");
	jsonw_key_str(w, "listen", listen);
	jsonw_key_str(w, "target", target);
	jsonw_key_str(w, "state", fwd_state_names[f->state]);
	jsonw_key_int(w, "active", (int64_t)f->active);
	jsonw_key_int(w, "total", (int64_t)f->total);
	jsonw_key_int(w, "bytes_in", (int64_t)f->bytes_in);
	jsonw_key_int(w, "bytes_out", (int64_t)f->bytes_out);
	if (f->reason[0])
		jsonw_key_str(w, "reason", f->reason);
	jsonw_obj_close(w);
}

/* A number, or null when there is none (never a made-up 0). */
static void
num_or_null(struct jsonw *w, const char *key, int has, double v)
{
	if (has)
		jsonw_key_real(w, key, v);
	else
		jsonw_key_null(w, key);
}

static void
int_or_null(struct jsonw *w, const char *key, int has, int64_t v)
{
	if (has)
		jsonw_key_int(w, key, v);
	else
		jsonw_key_null(w, key);
}

/*
 * What every probe carries: state, reason, age, staleness; unless BRIEF,
 * how close rise/fall is to changing the node's state.
 */
static void
status_probe_common(struct jsonw *w, const struct probe_common *c,
    uint64_t now, int brief)
{
	double	age = probe_age_s(c, now);

	jsonw_key_str(w, "state", probe_status_name(c->status));
	jsonw_key_str(w, "reason", c->status == PROBE_FAILED ? c->reason : "");
	/* Whole seconds, like since_s. */
	int_or_null(w, "age_s", !(age < 0), (int64_t)age);
	jsonw_key_bool(w, "stale", c->stale);
	if (brief)
		return;
	/* Rise/fall: what the node's state follows, and how close it is. */
	jsonw_key_str(w, "judged", c->judge.failing ? "failing" : "passing");
	jsonw_key_int(w, "consecutive_failures", c->judge.fails);
	jsonw_key_int(w, "consecutive_successes", c->judge.oks);
}

static void
status_gpu(struct jsonw *w, const struct gpu_info *g)
{
	jsonw_obj_open(w, NULL);
	jsonw_key_int(w, "index", g->index);
	jsonw_key_str(w, "uuid", g->uuid);
	jsonw_key_str(w, "name", g->name);
	int_or_null(w, "temp_c", g->has_temp, g->temp_c);
	int_or_null(w, "util_pct", g->has_util, g->util_pct);
	int_or_null(w, "mem_used_mib", g->has_mem_used, g->mem_used_mib);
	int_or_null(w, "mem_total_mib", g->has_mem_total, g->mem_total_mib);
	num_or_null(w, "power_w", g->has_power, g->power_w);
	num_or_null(w, "power_limit_w", g->has_power_limit, g->power_limit_w);
	jsonw_obj_close(w);
}

/* The latest good reading (marked stale when not confirmed since). */
static void
status_gpus(struct jsonw *w, const struct probe_gpu_result *r)
{
	size_t	i;

	jsonw_arr_open(w, "gpus");
	if (r->has_sample)
		for (i = 0; i < r->sample.ngpus; i++)
			status_gpu(w, &r->sample.gpus[i]);
	jsonw_arr_close(w);
}

static void
status_gpu_probe(struct jsonw *w, const struct node *n,
    const struct probe_gpu_result *r, uint64_t now, int brief)
{
	uint64_t	since;

	if (r->kind == GPU_NONE) {
		jsonw_key_null(w, "gpu_probe");
		return;
	}
	jsonw_obj_open(w, "gpu_probe");
	jsonw_key_str(w, "tool", r->kind == GPU_TEGRASTATS ? "tegrastats" :
	    "nvidia-smi");
	status_probe_common(w, &r->c, now, brief);
	int_or_null(w, "gpus_total", r->has_sample,
	    (int64_t)r->sample.ngpus_total);
	/* A wedged tool is still outstanding: no second one starts meanwhile. */
	if (probe_gpu_outstanding(n, &since))
		jsonw_key_int(w, "outstanding_s",
		    (int64_t)((now > since ? now - since : 0) / 1000));
	else
		jsonw_key_null(w, "outstanding_s");
	jsonw_obj_close(w);
}

/* BRIEF: the figures of a table row; the model lists only as a count. */
static void
status_ollama(struct jsonw *w, const struct probe_ollama_result *r,
    uint64_t now, int brief)
{
	const struct ollama_info	*in = &r->info;
	const struct ollama_loaded	*l;
	size_t				 i;

	if (r->url == NULL) {
		jsonw_key_null(w, "ollama");
		return;
	}
	jsonw_obj_open(w, "ollama");
	jsonw_key_str(w, "url", r->url);
	status_probe_common(w, &r->c, now, brief);
	if (!r->has_info) {
		jsonw_key_null(w, "version");
		jsonw_key_null(w, "latency_ms");
		jsonw_key_null(w, "models_total");
		if (!brief) {
			jsonw_key_null(w, "models");
			jsonw_key_null(w, "loaded");
			jsonw_arr_open(w, "missing_models");
			jsonw_arr_close(w);
		}
		jsonw_obj_close(w);
		return;
	}
	jsonw_key_str(w, "version", in->version);
	jsonw_key_real(w, "latency_ms",
	    (double)(int64_t)(r->latency_ms * 10.0) / 10.0);
	jsonw_key_int(w, "models_total", (int64_t)in->nmodels_total);
	if (!brief) {
		jsonw_arr_open(w, "models");
		for (i = 0; i < in->nmodels; i++)
			jsonw_key_str(w, NULL, in->models[i]);
		jsonw_arr_close(w);
		jsonw_arr_open(w, "loaded");
		for (i = 0; i < in->nloaded; i++) {
			l = &in->loaded[i];
			jsonw_obj_open(w, NULL);
			jsonw_key_str(w, "name", l->name);
			int_or_null(w, "size_vram", l->has_size_vram,
			    (int64_t)l->size_vram);
			jsonw_obj_close(w);
		}
		jsonw_arr_close(w);
		jsonw_arr_open(w, "missing_models");
		for (i = 0; i < r->nmissing; i++)
			jsonw_key_str(w, NULL, r->missing[i]);
		jsonw_arr_close(w);
	}
	jsonw_obj_close(w);
}

static void
status_http(struct jsonw *w, const struct probe_results *r, uint64_t now)
{
	const struct probe_http_result	*h;
	size_t				 i;

	jsonw_arr_open(w, "http");
	for (i = 0; i < r->nhttp; i++) {
		h = &r->http[i];
		jsonw_obj_open(w, NULL);
		jsonw_key_str(w, "url", h->url);
		status_probe_common(w, &h->c, now, 0);
		int_or_null(w, "status", h->http_status != 0, h->http_status);
		num_or_null(w, "latency_ms", h->c.at != 0, h->latency_ms);
		jsonw_obj_close(w);
	}
	jsonw_arr_close(w);
}

/*
 * Probe results of node N, added to its status object; BRIEF leaves out
 * the HTTP checks and the failure count.
 */
static void
status_probes(struct jsonw *w, const struct node *n, uint64_t now, int brief)
{
	const struct probe_results	*r = probe_results(n);

	if (r == NULL)
		return;
	status_ollama(w, &r->ollama, now, brief);
	status_gpus(w, &r->gpu);
	status_gpu_probe(w, n, &r->gpu, now, brief);
	if (brief)
		return;
	status_http(w, r, now);
	jsonw_key_int(w, "probe_failures_recent",
	    probe_recent_failures(r, now));
}

/* The latest state changes, oldest first. */
static void
status_history(struct jsonw *w, const struct node *n)
{
	const struct node_change	*c;
	size_t				 i;

	jsonw_arr_open(w, "history");
	for (i = 0; (c = node_history(n, i)) != NULL; i++) {
		jsonw_obj_open(w, NULL);
		jsonw_key_int(w, "time", c->time);
		jsonw_key_str(w, "from", node_state_name(c->from));
		jsonw_key_str(w, "to", node_state_name(c->to));
		jsonw_key_str(w, "reason", c->reason);
		jsonw_obj_close(w);
	}
	jsonw_arr_close(w);
}

/* History, time in each kind of state, and the node's probe settings. */
static void
status_record(struct jsonw *w, const struct node *n, uint64_t now)
{
	const struct node_conf	*nc = n->conf;

	status_history(w, n);
	jsonw_key_int(w, "up_s_total",
	    (int64_t)(node_state_total(n, NODE_UP, now) / 1000));
	jsonw_key_int(w, "down_s_total",
	    (int64_t)((node_state_total(n, NODE_BACKOFF, now) +
	    node_state_total(n, NODE_CONNECTING, now)) / 1000));
	jsonw_key_int(w, "degraded_s_total",
	    (int64_t)(node_state_total(n, NODE_DEGRADED, now) / 1000));
	jsonw_obj_open(w, "probe_settings");
	jsonw_key_real(w, "interval_s", (double)nc->probe_interval / 1000.0);
	jsonw_key_real(w, "timeout_s", (double)nc->probe_timeout / 1000.0);
	jsonw_key_int(w, "rise", nc->rise);
	jsonw_key_int(w, "fall", nc->fall);
	jsonw_obj_close(w);
}

static void
status_ssh(struct jsonw *w, const struct node *n, uint64_t now)
{
	char	target[CONFIG_HOST_MAX * 2];

	if (n->conf->local) {
		jsonw_key_null(w, "ssh");
		return;
	}
	jsonw_obj_open(w, "ssh");
	jsonw_key_str(w, "target", config_fmt_target(target, sizeof(target),
	    n->conf));
	jsonw_key_int(w, "connects", (int64_t)n->connects);
	num_or_null(w, "rtt_ms", n->has_rtt, n->rtt_ms);
	jsonw_key_str(w, "last_error", n->last_error);
	num_or_null(w, "next_attempt_s", n->next_attempt > now,
	    (double)(n->next_attempt - now) / 1000.0);
	/* The session's own age: a brief `degraded` leaves it be. */
	int_or_null(w, "session_s", n->session_up_at != 0 &&
	    now >= n->session_up_at, (int64_t)((now - n->session_up_at) / 1000));
	jsonw_obj_close(w);
}

void
status_node(struct jsonw *w, const struct node *n, uint64_t now, int brief)
{
	const struct node_conf	*nc = n->conf;
	size_t			 i;

	jsonw_obj_open(w, NULL);
	jsonw_key_str(w, "name", nc->name);
	jsonw_key_str(w, "state", node_state_name(n->state));
	jsonw_key_int(w, "since_s", (int64_t)((now - n->since) / 1000));
	jsonw_key_str(w, "reason", n->reason);
	jsonw_key_int(w, "priority", nc->priority);
	status_ssh(w, n, now);
	jsonw_arr_open(w, "forwards");
	for (i = 0; i < n->nfwds; i++)
		status_forward(w, &n->fwds[i]);
	jsonw_arr_close(w);
	jsonw_key_real(w, "load_score", pool_load_score(n));
	status_probes(w, n, now, brief);
	if (!brief)
		status_record(w, n, now);
	jsonw_obj_close(w);
}

/* jansson's JSON_REAL_PRECISION() back out of FLAGS (dump.c). */
#define STATUS_PRECISION(flags)	((int)(((flags) >> 11) & 0x1F))

/*
 * Node N (after a comma unless FIRST) appended to OUT: written into W
 * (reset first), then one copy.  A node fits W's first buffer (on the
 * caller's stack) unless it has many GPUs, models or long reasons; W then
 * grows on the heap, kept until the caller's jsonw_free().  -1 when it
 * could not be written (out of memory).
 */
static int
status_put_node(struct evbuffer *out, struct jsonw *w, const struct node *n,
    uint64_t now, int brief, int first)
{
	jsonw_reset(w);
	if (!first)
		jsonw_raw(w, ",", 1);
	status_node(w, n, now, brief);
	if (jsonw_done(w) == -1)
		return -1;
	return evbuffer_add(out, w->buf, w->len);
}

static int
status_out(const char *buf, size_t size, void *out)
{
	return evbuffer_add(out, buf, size);
}

/*
 * One JSON value appended to OUT, then freed; -1 when it could not be
 * built or written.  The pools: once per reply, a tree is fine there.
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
	 * It fits the stack: one copy into OUT, where the callback would
	 * add every token on its own; a larger one goes token by token.
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
status_cursor_done(const struct status_cursor *c)
{
	return c->names != NULL ? c->iname == c->nnames : c->next == NULL;
}

int
status_cursor_add(struct status_cursor *c, const char *name)
{
	char	**names, *s;
	size_t	  i;

	if (c->names == NULL && status_cursor_detach(c) == -1)
		return -1;
	for (i = c->iname; i < c->nnames; i++)
		if (strcmp(c->names[i], name) == 0)
			return 0;	/* still to come: once is enough */
	if ((s = strdup(name)) == NULL || (names = reallocarray(c->names,
	    c->nnames + 1, sizeof(*names))) == NULL) {
		free(s);
		return -1;
	}
	c->names = names;
	c->names[c->nnames++] = s;
	return 0;
}

int
status_cursor_detach(struct status_cursor *c)
{
	struct node	*n;

	if (c->names != NULL)
		return 0;
	/* An empty list, not NULL: the names stand from here on. */
	if ((c->names = calloc(1, sizeof(*c->names))) == NULL)
		return -1;
	for (n = c->next; n != NULL; n = TAILQ_NEXT(n, entry))
		if (status_cursor_add(c, n->conf->name) == -1)
			return -1;
	c->next = NULL;
	return 0;
}

void
status_cursor_free(struct status_cursor *c)
{
	size_t	i;

	for (i = 0; i < c->nnames; i++)
		free(c->names[i]);
	free(c->names);
	c->names = NULL;
	c->nnames = c->iname = 0;
	c->next = NULL;
}

/* The next node to write, or NULL at the end. */
static struct node *
status_cursor_next(struct status_cursor *c)
{
	struct node	*n;

	if (c->names == NULL) {
		if ((n = c->next) != NULL)
			c->next = TAILQ_NEXT(n, entry);
		return n;
	}
	while (c->iname < c->nnames)
		if ((n = node_find(c->names[c->iname++])) != NULL)
			return n;
	return NULL;
}

int
status_nodes(struct evbuffer *out, struct status_cursor *c, size_t limit,
    size_t flags)
{
	char		 buf[8192];
	struct jsonw	 w;
	struct node	*n;
	int		 rc = 0;

	jsonw_init(&w, buf, sizeof(buf), STATUS_PRECISION(flags));
	while (evbuffer_get_length(out) < limit &&
	    (n = status_cursor_next(c)) != NULL) {
		if ((rc = status_put_node(out, &w, n, c->now, c->brief,
		    c->first)) == -1)
			break;
		c->first = 0;
	}
	jsonw_free(&w);
	return rc;
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
	struct status_cursor	 c = { .now = now_ms(), .brief = brief,
				    .first = 1 };
	struct evbuffer		*out;
	int			 rc;

	if (name != NULL && (c.next = node_find(name)) == NULL)
		return 1;
	/* Built aside: a reply cut short must not reach DST. */
	if ((out = evbuffer_new()) == NULL)
		return -1;
	rc = status_head(out, c.now, flags);
	if (rc == 0 && name != NULL) {
		char		buf[8192];
		struct jsonw	w;

		jsonw_init(&w, buf, sizeof(buf), STATUS_PRECISION(flags));
		rc = status_put_node(out, &w, c.next, c.now, brief, 1);
		jsonw_free(&w);
	} else if (rc == 0) {
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
