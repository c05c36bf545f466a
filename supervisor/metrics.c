/*
 * metrics: Prometheus exposition of the live state and its HTTP endpoint.
 * See metrics.h for what is exported and why absent readings stay absent.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include "listener.h"
#include "log.h"
#include "metrics.h"
#include "pool.h"
#include "probe.h"
#include "tunneld.h"

#define METRICS_CTYPE	"text/plain; version=0.0.4; charset=utf-8"
#define METRICS_RETRY_MS 5000		/* a failed bind is tried again */
#define LBL_MAX		1024	/* node + kind + listen, each escaped */

void
metrics_escape(char *buf, size_t len, const char *s)
{
	size_t	o = 0;

	if (len == 0)
		return;
	for (; *s != '\0' && o + 3 < len; s++) {
		if (*s == '\\' || *s == '"') {
			buf[o++] = '\\';
			buf[o++] = *s;
		} else if (*s == '\n') {
			buf[o++] = '\\';
			buf[o++] = 'n';
		} else
			buf[o++] = *s;
	}
	buf[o] = '\0';
}

static void
fam(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One sample: NAME{LABELS} VALUE; labels already escaped and joined. */
static void
sample_u(FILE *f, const char *name, const char *labels, unsigned long long v)
{
	fprintf(f, "%s{%s} %llu\n", name, labels, v);
}

static void
sample_d(FILE *f, const char *name, const char *labels, double v)
{
	fprintf(f, "%s{%s} %.9g\n", name, labels, v);
}

static void
lbl_node(char *buf, size_t len, const struct node *n)
{
	char	e[128];

	metrics_escape(e, sizeof(e), n->conf->name);
	snprintf(buf, len, "node=\"%s\"", e);
}

static void
lbl_fwd(char *buf, size_t len, const struct forward *fw)
{
	char	node[144], hp[CONFIG_HOST_MAX + 8], e[CONFIG_HOST_MAX * 2 + 16];

	lbl_node(node, sizeof(node), fw->node);
	config_fmt_hostport(hp, sizeof(hp), fw->conf->listen_host,
	    fw->conf->listen_port);
	metrics_escape(e, sizeof(e), hp);
	snprintf(buf, len, "%s,kind=\"%s\",listen=\"%s\"", node,
	    fw->conf->kind == FWD_LOCAL ? "local" : "remote", e);
}

static void
lbl_gpu(char *buf, size_t len, const struct node *n, const struct gpu_info *g)
{
	char	node[144];

	lbl_node(node, sizeof(node), n);
	snprintf(buf, len, "%s,gpu=\"%d\"", node, g->index);
}

/* The figures of the latest probe, if it succeeded and is not stale. */
static const struct probe_ollama_result *
fresh_ollama(const struct node *n)
{
	const struct probe_results	*r = probe_results(n);

	if (r == NULL || r->ollama.url == NULL ||
	    r->ollama.c.status != PROBE_OK || r->ollama.c.stale ||
	    !r->ollama.has_info)
		return NULL;
	return &r->ollama;
}

static const struct probe_gpu_result *
fresh_gpu(const struct node *n)
{
	const struct probe_results	*r = probe_results(n);

	if (r == NULL || r->gpu.kind == GPU_NONE ||
	    r->gpu.c.status != PROBE_OK || r->gpu.c.stale || !r->gpu.has_sample)
		return NULL;
	return &r->gpu;
}

typedef void (*gpu_fn)(FILE *, const char *name, const char *lbl,
    const struct gpu_info *);

static void
gpu_temp(FILE *f, const char *name, const char *l, const struct gpu_info *g)
{
	if (g->has_temp)
		fprintf(f, "%s{%s} %d\n", name, l, g->temp_c);
}

static void
gpu_util(FILE *f, const char *name, const char *l, const struct gpu_info *g)
{
	if (g->has_util)
		sample_d(f, name, l, (double)g->util_pct / 100.0);
}

static void
gpu_used(FILE *f, const char *name, const char *l, const struct gpu_info *g)
{
	if (g->has_mem_used)
		sample_u(f, name, l, (unsigned long long)g->mem_used_mib << 20);
}

static void
gpu_total(FILE *f, const char *name, const char *l, const struct gpu_info *g)
{
	if (g->has_mem_total)
		sample_u(f, name, l, (unsigned long long)g->mem_total_mib << 20);
}

static void
gpu_power(FILE *f, const char *name, const char *l, const struct gpu_info *g)
{
	if (g->has_power)
		sample_d(f, name, l, g->power_w);
}

static void
gpu_power_limit(FILE *f, const char *name, const char *l,
    const struct gpu_info *g)
{
	if (g->has_power_limit)
		sample_d(f, name, l, g->power_limit_w);
}

static void
gpu_family(FILE *f, const char *name, const char *help, gpu_fn fn)
{
	const struct probe_gpu_result	*r;
	struct node			*n;
	char				 l[LBL_MAX];
	size_t				 i;

	fam(f, name, "gauge", help);
	TAILQ_FOREACH(n, &td->nodes, entry) {
		if ((r = fresh_gpu(n)) == NULL)
			continue;
		for (i = 0; i < r->sample.ngpus && i < GPU_MAX; i++) {
			lbl_gpu(l, sizeof(l), n, &r->sample.gpus[i]);
			fn(f, name, l, &r->sample.gpus[i]);
		}
	}
}

/* Pools, from the figures status shows: one source for both. */
/* One sample per pool, from the field of its status object. */
static const struct {
	const char	*name, *type, *help, *field;
} pool_fams[] = {
	{ "tunneld_pool_listening", "gauge",
	  "1 while the pool's listener is bound; 0 while it is retried.",
	  "listening" },
	{ "tunneld_pool_failovers_total", "counter",
	  "Nodes skipped because their connection failed before a byte moved.",
	  "failovers" },
	{ "tunneld_pool_refused_total", "counter",
	  "Clients closed because no node of the pool was healthy.",
	  "refused" },
};

static void
metrics_pools(FILE *f)
{
	json_t		*pools, *p, *per, *v;
	const char	*node;
	char		 pl[144], nl[144], l[LBL_MAX];
	size_t		 i, k;

	if ((pools = pool_status_json()) == NULL)
		return;
	if (json_array_size(pools) == 0) {
		json_decref(pools);
		return;
	}
	fam(f, "tunneld_pool_connections_total", "counter",
	    "Clients a pool handed to each node.");
	json_array_foreach(pools, i, p) {
		metrics_escape(pl, sizeof(pl),
		    json_string_value(json_object_get(p, "name")));
		per = json_object_get(p, "per_node");
		json_object_foreach(per, node, v) {
			metrics_escape(nl, sizeof(nl), node);
			snprintf(l, sizeof(l), "pool=\"%s\",node=\"%s\"", pl, nl);
			sample_u(f, "tunneld_pool_connections_total", l,
			    (unsigned long long)json_integer_value(v));
		}
	}
	for (k = 0; k < sizeof(pool_fams) / sizeof(pool_fams[0]); k++) {
		fam(f, pool_fams[k].name, pool_fams[k].type, pool_fams[k].help);
		json_array_foreach(pools, i, p) {
			metrics_escape(pl, sizeof(pl),
			    json_string_value(json_object_get(p, "name")));
			snprintf(l, sizeof(l), "pool=\"%s\"", pl);
			v = json_object_get(p, pool_fams[k].field);
			sample_u(f, pool_fams[k].name, l, json_is_boolean(v) ?
			    (unsigned long long)json_is_true(v) :
			    (unsigned long long)json_integer_value(v));
		}
	}
	json_decref(pools);
}

/*
 * HTTP pools (mode = http), from the "http" object of their status: the
 * pool's own figures (requests received, errors of any kind, its own 404
 * and 503 included) and each node's (requests sent to it, retries away
 * from it, its errors, time to first byte).
 */
enum { HF_COUNTER, HF_GAUGE, HF_ERRORS, HF_HIST };
static const struct {
	const char	*name, *help, *field;
	int		 kind, per_node;
} http_fams[] = {
	{ "tunneld_pool_http_requests_total", "Requests an http pool received.",
	  "requests", HF_COUNTER, 0 },
	{ "tunneld_pool_http_in_flight", "Requests an http pool carries now.",
	  "in_flight", HF_GAUGE, 0 },
	{ "tunneld_pool_http_retries_total", "Requests sent to another node "
	  "after one failed before its first byte.", "retries", HF_COUNTER, 0 },
	{ "tunneld_pool_http_errors_total", "Failures by kind, the pool's own "
	  "answers (no_model, no_node, bad_request) included.", "errors",
	  HF_ERRORS, 0 },
	{ "tunneld_pool_http_node_requests_total", "Requests an http pool sent "
	  "to each node, retries included.", "requests", HF_COUNTER, 1 },
	{ "tunneld_pool_http_node_in_flight", "Requests in flight to each node.",
	  "in_flight", HF_GAUGE, 1 },
	{ "tunneld_pool_http_node_retries_total", "Requests moved on from each "
	  "node to the next.", "retries", HF_COUNTER, 1 },
	{ "tunneld_pool_http_node_errors_total", "Failures of each node by kind.",
	  "errors", HF_ERRORS, 1 },
	{ "tunneld_pool_http_first_byte_seconds", "Time from sending a request "
	  "to the head of the answer passed to the client.", "first_byte",
	  HF_HIST, 1 },
};

static void
metrics_http_sample(FILE *f, size_t k, const json_t *h, const json_t *le,
    const char *lbl)
{
	const json_t	*v = json_object_get(h, http_fams[k].field), *e;
	const char	*kind;
	char		 l[LBL_MAX], name[96];
	size_t		 i;

	switch (http_fams[k].kind) {
	case HF_COUNTER:
	case HF_GAUGE:
		sample_u(f, http_fams[k].name, lbl,
		    (unsigned long long)json_integer_value(v));
		break;
	case HF_ERRORS:
		json_object_foreach((json_t *)v, kind, e) {
			snprintf(l, sizeof(l), "%s,kind=\"%s\"", lbl, kind);
			sample_u(f, http_fams[k].name, l,
			    (unsigned long long)json_integer_value(e));
		}
		break;
	case HF_HIST:
		snprintf(name, sizeof(name), "%s_bucket", http_fams[k].name);
		for (i = 0; i < json_array_size(le); i++) {
			snprintf(l, sizeof(l), "%s,le=\"%g\"", lbl,
			    json_real_value(json_array_get(le, i)));
			sample_u(f, name, l, (unsigned long long)
			    json_integer_value(json_array_get(
			    json_object_get(v, "buckets"), i)));
		}
		snprintf(l, sizeof(l), "%s,le=\"+Inf\"", lbl);
		sample_u(f, name, l, (unsigned long long)json_integer_value(
		    json_object_get(v, "count")));
		snprintf(name, sizeof(name), "%s_sum", http_fams[k].name);
		sample_d(f, name, lbl, json_real_value(json_object_get(v,
		    "sum_s")));
		snprintf(name, sizeof(name), "%s_count", http_fams[k].name);
		sample_u(f, name, lbl, (unsigned long long)json_integer_value(
		    json_object_get(v, "count")));
		break;
	}
}

static void
metrics_pools_http(FILE *f)
{
	json_t		*pools, *p, *h, *nh;
	const char	*node;
	char		 pl[144], nl[144], l[LBL_MAX];
	size_t		 i, k;
	int		 any = 0;

	if ((pools = pool_status_json()) == NULL)
		return;
	json_array_foreach(pools, i, p)
		if (json_object_get(p, "http") != NULL)
			any = 1;
	for (k = 0; any && k < sizeof(http_fams) / sizeof(http_fams[0]); k++) {
		fam(f, http_fams[k].name, http_fams[k].kind == HF_HIST ?
		    "histogram" : http_fams[k].kind == HF_GAUGE ? "gauge" :
		    "counter", http_fams[k].help);
		json_array_foreach(pools, i, p) {
			if ((h = json_object_get(p, "http")) == NULL)
				continue;
			metrics_escape(pl, sizeof(pl),
			    json_string_value(json_object_get(p, "name")));
			if (!http_fams[k].per_node) {
				snprintf(l, sizeof(l), "pool=\"%s\"", pl);
				metrics_http_sample(f, k, h, NULL, l);
				continue;
			}
			json_object_foreach(json_object_get(h, "per_node"),
			    node, nh) {
				metrics_escape(nl, sizeof(nl), node);
				snprintf(l, sizeof(l), "pool=\"%s\",node=\"%s\"",
				    pl, nl);
				metrics_http_sample(f, k, nh,
				    json_object_get(h, "first_byte_le"), l);
			}
		}
	}
	json_decref(pools);
}

static void
metrics_write(FILE *f)
{
	const struct probe_results	*pr;
	const struct probe_ollama_result *o;
	struct node			*n;
	const struct forward		*fw;
	char				 l[LBL_MAX];
	uint64_t			 now = now_ms();
	size_t				 i;
	int				 s;

	fam(f, "tunneld_up", "gauge", "1 while the tunneld that answers runs.");
	fprintf(f, "tunneld_up 1\n");
	fam(f, "tunneld_uptime_seconds", "gauge",
	    "Seconds since this tunneld started.");
	fprintf(f, "tunneld_uptime_seconds %.3f\n",
	    (double)(now - td->started) / 1000.0);

	fam(f, "tunneld_node_up", "gauge",
	    "1 when the node is up (session, forwards and probes all good).");
	TAILQ_FOREACH(n, &td->nodes, entry) {
		lbl_node(l, sizeof(l), n);
		sample_u(f, "tunneld_node_up", l, n->state == NODE_UP);
	}
	fam(f, "tunneld_node_state", "gauge",
	    "One series per state; 1 for the node's current state.");
	TAILQ_FOREACH(n, &td->nodes, entry) {
		for (s = 0; s < NODE_NSTATES; s++) {
			char	ls[LBL_MAX + 32];

			lbl_node(l, sizeof(l), n);
			snprintf(ls, sizeof(ls), "%s,state=\"%s\"", l,
			    node_state_name(s));
			sample_u(f, "tunneld_node_state", ls, (int)n->state == s);
		}
	}
	fam(f, "tunneld_node_state_seconds", "gauge",
	    "Seconds since the node entered its current state.");
	TAILQ_FOREACH(n, &td->nodes, entry) {
		lbl_node(l, sizeof(l), n);
		sample_d(f, "tunneld_node_state_seconds", l,
		    (double)(now - n->since) / 1000.0);
	}

	/* SSH: only nodes that have a session to speak of (ssh != none). */
	fam(f, "tunneld_ssh_connects_total", "counter",
	    "SSH sessions established to the node since tunneld started.");
	TAILQ_FOREACH(n, &td->nodes, entry) {
		if (n->conf->local)
			continue;
		lbl_node(l, sizeof(l), n);
		sample_u(f, "tunneld_ssh_connects_total", l, n->connects);
	}
	fam(f, "tunneld_ssh_reconnects_total", "counter",
	    "SSH sessions established after the first one (recoveries).");
	TAILQ_FOREACH(n, &td->nodes, entry) {
		if (n->conf->local)
			continue;
		lbl_node(l, sizeof(l), n);
		sample_u(f, "tunneld_ssh_reconnects_total", l,
		    n->connects > 0 ? n->connects - 1 : 0);
	}
	fam(f, "tunneld_ssh_keepalive_rtt_seconds", "gauge",
	    "Round trip of the latest answered SSH keepalive.");
	TAILQ_FOREACH(n, &td->nodes, entry) {
		if (n->conf->local || !n->has_rtt ||
		    (n->state != NODE_UP && n->state != NODE_DEGRADED))
			continue;
		lbl_node(l, sizeof(l), n);
		sample_d(f, "tunneld_ssh_keepalive_rtt_seconds", l,
		    n->rtt_ms / 1000.0);
	}

	fam(f, "tunneld_forward_up", "gauge",
	    "1 when the forward is established (listening, or granted).");
	TAILQ_FOREACH(n, &td->nodes, entry)
		for (i = 0; i < n->nfwds; i++) {
			fw = &n->fwds[i];
			lbl_fwd(l, sizeof(l), fw);
			sample_u(f, "tunneld_forward_up", l, fw->state == FWD_UP);
		}
	fam(f, "tunneld_forward_active_connections", "gauge",
	    "Connections the forward carries now.");
	TAILQ_FOREACH(n, &td->nodes, entry)
		for (i = 0; i < n->nfwds; i++) {
			fw = &n->fwds[i];
			lbl_fwd(l, sizeof(l), fw);
			sample_u(f, "tunneld_forward_active_connections", l,
			    fw->active);
		}
	fam(f, "tunneld_forward_connections_total", "counter",
	    "Connections the forward has carried since tunneld started.");
	TAILQ_FOREACH(n, &td->nodes, entry)
		for (i = 0; i < n->nfwds; i++) {
			fw = &n->fwds[i];
			lbl_fwd(l, sizeof(l), fw);
			sample_u(f, "tunneld_forward_connections_total", l,
			    fw->total);
		}
	fam(f, "tunneld_forward_bytes_total", "counter",
	    "Bytes carried; direction in: towards the client that connected, "
	    "out: from it.");
	TAILQ_FOREACH(n, &td->nodes, entry)
		for (i = 0; i < n->nfwds; i++) {
			char	ld[LBL_MAX + 32];

			fw = &n->fwds[i];
			lbl_fwd(l, sizeof(l), fw);
			snprintf(ld, sizeof(ld), "%s,direction=\"in\"", l);
			sample_u(f, "tunneld_forward_bytes_total", ld,
			    fw->bytes_in);
			snprintf(ld, sizeof(ld), "%s,direction=\"out\"", l);
			sample_u(f, "tunneld_forward_bytes_total", ld,
			    fw->bytes_out);
		}

	fam(f, "tunneld_ollama_up", "gauge",
	    "1 when the latest Ollama probe succeeded, 0 when it failed.");
	TAILQ_FOREACH(n, &td->nodes, entry) {
		pr = probe_results(n);
		if (pr == NULL || pr->ollama.url == NULL ||
		    pr->ollama.c.status == PROBE_PENDING)
			continue;
		lbl_node(l, sizeof(l), n);
		sample_u(f, "tunneld_ollama_up", l,
		    pr->ollama.c.status == PROBE_OK && !pr->ollama.c.stale);
	}
	fam(f, "tunneld_ollama_latency_seconds", "gauge",
	    "Duration of the latest good Ollama probe, end to end.");
	TAILQ_FOREACH(n, &td->nodes, entry) {
		if ((o = fresh_ollama(n)) == NULL)
			continue;
		lbl_node(l, sizeof(l), n);
		sample_d(f, "tunneld_ollama_latency_seconds", l,
		    o->latency_ms / 1000.0);
	}
	fam(f, "tunneld_ollama_models", "gauge",
	    "Models Ollama lists (/api/tags).");
	TAILQ_FOREACH(n, &td->nodes, entry) {
		if ((o = fresh_ollama(n)) == NULL)
			continue;
		lbl_node(l, sizeof(l), n);
		sample_u(f, "tunneld_ollama_models", l, o->info.nmodels_total);
	}
	fam(f, "tunneld_ollama_loaded_models", "gauge",
	    "Models Ollama holds in memory (/api/ps).");
	TAILQ_FOREACH(n, &td->nodes, entry) {
		if ((o = fresh_ollama(n)) == NULL)
			continue;
		lbl_node(l, sizeof(l), n);
		sample_u(f, "tunneld_ollama_loaded_models", l,
		    o->info.nloaded_total);
	}
	fam(f, "tunneld_ollama_missing_models", "gauge",
	    "Models of require_models that Ollama does not list.");
	TAILQ_FOREACH(n, &td->nodes, entry) {
		if ((o = fresh_ollama(n)) == NULL)
			continue;
		lbl_node(l, sizeof(l), n);
		sample_u(f, "tunneld_ollama_missing_models", l,
		    o->nmissing_total);
	}

	fam(f, "tunneld_gpu_probe_up", "gauge",
	    "1 when the latest GPU probe succeeded, 0 when it failed.");
	TAILQ_FOREACH(n, &td->nodes, entry) {
		pr = probe_results(n);
		if (pr == NULL || pr->gpu.kind == GPU_NONE ||
		    pr->gpu.c.status == PROBE_PENDING)
			continue;
		lbl_node(l, sizeof(l), n);
		sample_u(f, "tunneld_gpu_probe_up", l,
		    pr->gpu.c.status == PROBE_OK && !pr->gpu.c.stale);
	}
	gpu_family(f, "tunneld_gpu_temperature_celsius",
	    "GPU temperature.", gpu_temp);
	gpu_family(f, "tunneld_gpu_utilization_ratio",
	    "GPU utilisation, 0 to 1.", gpu_util);
	gpu_family(f, "tunneld_gpu_memory_used_bytes",
	    "GPU memory in use (nvidia-smi MiB, or RAM for tegrastats).",
	    gpu_used);
	gpu_family(f, "tunneld_gpu_memory_total_bytes",
	    "GPU memory in all.", gpu_total);
	gpu_family(f, "tunneld_gpu_power_watts", "GPU power draw.", gpu_power);
	gpu_family(f, "tunneld_gpu_power_limit_watts", "GPU power limit.",
	    gpu_power_limit);
	metrics_pools(f);
	metrics_pools_http(f);
}

char *
metrics_render(size_t *lenp)
{
	char	*buf = NULL;
	size_t	 len = 0;
	FILE	*f;

	if ((f = open_memstream(&buf, &len)) == NULL)
		return NULL;
	metrics_write(f);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	if (lenp != NULL)
		*lenp = len;
	return buf;
}

/* ------------------------------------------------------------------ */
/* HTTP                                                                */

static struct evhttp	*mhttp;
static struct listener_rest *mrest;
static char		*mbound;	/* metrics_listen being served */
static char		*mfailed;	/* metrics_listen that failed to bind */
static uint64_t		 mretry_at;

static void
metrics_text_free(const void *data, size_t len, void *arg)
{
	free((void *)data);
}

static void
metrics_http_cb(struct evhttp_request *req, void *arg)
{
	struct evkeyvalq	*h = evhttp_request_get_output_headers(req);
	struct evbuffer		*body;
	const char		*uri = evhttp_request_get_uri(req);
	char			*text;
	size_t			 len;

	if ((body = evbuffer_new()) == NULL) {
		evhttp_send_error(req, HTTP_SERVUNAVAIL, NULL);
		return;
	}
	/* /metrics, with or without a query string (Prometheus adds none). */
	if (uri == NULL || (strcmp(uri, "/metrics") != 0 &&
	    strncmp(uri, "/metrics?", 9) != 0)) {
		evhttp_add_header(h, "Content-Type", "text/plain; charset=utf-8");
		evbuffer_add_printf(body, "tunneld: metrics are at /metrics\n");
		evhttp_send_reply(req, HTTP_NOTFOUND, "Not Found", body);
		evbuffer_free(body);
		return;
	}
	if ((text = metrics_render(&len)) == NULL) {
		evbuffer_free(body);
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	evbuffer_add_reference(body, text, len, metrics_text_free, NULL);
	evhttp_add_header(h, "Content-Type", METRICS_CTYPE);
	evhttp_send_reply(req, HTTP_OK, "OK", body);
	evbuffer_free(body);
}

void
metrics_close(void)
{
	listener_rest_free(mrest);
	mrest = NULL;
	if (mhttp != NULL)
		evhttp_free(mhttp);
	mhttp = NULL;
	free(mbound);
	mbound = NULL;
}

static void
metrics_accept_error(struct evconnlistener *l, void *arg)
{
	listener_rest_error(mrest, EVUTIL_SOCKET_ERROR());
}

static int
streq(const char *a, const char *b)
{
	return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

int
metrics_sync(void)
{
	const char	*want = td->conf->metrics_listen;
	struct evhttp_bound_socket *bound;
	struct evconnlistener *l;
	char		 host[CONFIG_HOST_MAX], what[CONFIG_HOST_MAX + 16];
	uint16_t	 port;
	uint64_t	 now = now_ms();

	if (streq(want, mbound) && (want == NULL || mhttp != NULL))
		return 0;
	if (mhttp != NULL) {
		log_info("metrics: no longer serving %s", mbound);
		metrics_close();
	}
	if (want == NULL)
		return 0;
	if (streq(want, mfailed) && now < mretry_at)
		return -1;
	if (config_parse_hostport(want, host, sizeof(host), &port) == -1) {
		log_warnx("metrics_listen %s is not a host:port", want);
		return -1;
	}
	if ((mhttp = evhttp_new(td->base)) == NULL)
		fatalx("%s: evhttp_new", __func__);
	evhttp_set_allowed_methods(mhttp, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_timeout(mhttp, 10);
	evhttp_set_max_headers_size(mhttp, 16384);
	evhttp_set_max_body_size(mhttp, 1024);
	evhttp_set_gencb(mhttp, metrics_http_cb, NULL);
	if ((bound = evhttp_bind_socket_with_handle(mhttp, host, port)) ==
	    NULL) {
		/* Logged once per address, retried quietly (a port in TIME_WAIT). */
		if (!streq(want, mfailed))
			log_entry(LOG_WARNING, NULL, "metrics-bind-failed", NULL,
			    NULL, "metrics: cannot listen on %s; retrying every "
			    "%ds", want, METRICS_RETRY_MS / 1000);
		free(mfailed);
		mfailed = strdup(want);
		mretry_at = now + METRICS_RETRY_MS;
		evhttp_free(mhttp);
		mhttp = NULL;
		return -1;
	}
	l = evhttp_bound_socket_get_listener(bound);
	snprintf(what, sizeof(what), "metrics %s", want);
	if ((mrest = listener_rest_new(l, what)) == NULL) {
		log_warnx("metrics: out of memory");
		evhttp_free(mhttp);
		mhttp = NULL;
		return -1;
	}
	evconnlistener_set_error_cb(l, metrics_accept_error);
	free(mfailed);
	mfailed = NULL;
	if ((mbound = strdup(want)) == NULL)
		fatal("%s: strdup", __func__);
	log_info("metrics: serving http://%s/metrics", want);
	return 0;
}
