/*
 * metrics: Prometheus exposition of the live state and its HTTP endpoint.
 * See metrics.h for what is exported and why absent readings stay absent.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netdb.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <http_parser.h>

#include "listener.h"
#include "log.h"
#include "metrics.h"
#include "node.h"
#include "pool.h"
#include "probe.h"
#include "tunneld.h"

#define METRICS_CTYPE	"text/plain; version=0.0.4; charset=utf-8"
#define METRICS_RETRY_MS 5000		/* a failed bind is tried again */
/*
 * The endpoint must not take what the tunnels need.  Prometheus keeps one
 * connection; a few people may curl: past METRICS_CLIENTS_MAX the oldest
 * client still waiting for its request is dropped (the control socket
 * does the same).  A request must arrive whole within METRICS_REQUEST_S of
 * the connect (or of the previous answer, on a kept-alive connection):
 * header lines trickling in do not extend it, so a slowloris holds a
 * descriptor 5 s at most.  The listener also leaves the descriptor
 * reserve alone (listener.c).
 */
#define METRICS_CLIENTS_MAX	32	/* waiting; as many being answered */
#define METRICS_GRACE_MS	250
#define METRICS_REQUEST_S	5
#define METRICS_WRITE_S		10
#define METRICS_HEADERS_MAX	16384	/* request line and headers */
#define METRICS_BODY_MAX	1024
#define METRICS_URL_MAX		1024
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

/*
 * The node families: one row each, in exposition order.  A family is of
 * every node, of those with an SSH session (ssh != none), of those with
 * fresh Ollama figures, of their forwards or of their GPUs; its function
 * writes the samples of one: none where the reading is absent, several
 * where a label tells them apart (state, direction).
 */
enum { OF_NODE, OF_SSH, OF_OLLAMA, OF_FWD, OF_GPU };

struct msample {
	FILE			*f;
	const char		*name;
	const char		*lbl;	/* node, then forward or GPU labels */
	const struct node	*n;
	const struct probe_ollama_result *o;	/* OF_OLLAMA */
	const struct forward	*fw;	/* OF_FWD */
	const struct gpu_info	*g;	/* OF_GPU */
	uint64_t		 now;
};

/* NAME{LBL[,EXTRA]} VALUE */
static void
put_u(const struct msample *s, const char *extra, unsigned long long v)
{
	fprintf(s->f, "%s{%s%s%s} %llu\n", s->name, s->lbl,
	    extra ? "," : "", extra ? extra : "", v);
}

static void
put_d(const struct msample *s, const char *extra, double v)
{
	fprintf(s->f, "%s{%s%s%s} %.9g\n", s->name, s->lbl,
	    extra ? "," : "", extra ? extra : "", v);
}

static void
m_node_up(const struct msample *s)
{
	put_u(s, NULL, s->n->state == NODE_UP);
}

static void
m_node_state(const struct msample *s)
{
	char	l[32];
	int	st;

	for (st = 0; st < NODE_NSTATES; st++) {
		snprintf(l, sizeof(l), "state=\"%s\"", node_state_name(st));
		put_u(s, l, (int)s->n->state == st);
	}
}

static void
m_node_state_seconds(const struct msample *s)
{
	put_d(s, NULL, (double)(s->now - s->n->since) / 1000.0);
}

static void
m_ssh_connects(const struct msample *s)
{
	put_u(s, NULL, s->n->connects);
}

static void
m_ssh_reconnects(const struct msample *s)
{
	put_u(s, NULL, s->n->connects > 0 ? s->n->connects - 1 : 0);
}

static void
m_ssh_rtt(const struct msample *s)
{
	if (s->n->has_rtt &&
	    (s->n->state == NODE_UP || s->n->state == NODE_DEGRADED))
		put_d(s, NULL, s->n->rtt_ms / 1000.0);
}

static void
m_fwd_up(const struct msample *s)
{
	put_u(s, NULL, s->fw->state == FWD_UP);
}

static void
m_fwd_active(const struct msample *s)
{
	put_u(s, NULL, s->fw->active);
}

static void
m_fwd_total(const struct msample *s)
{
	put_u(s, NULL, s->fw->total);
}

static void
m_fwd_bytes(const struct msample *s)
{
	put_u(s, "direction=\"in\"", s->fw->bytes_in);
	put_u(s, "direction=\"out\"", s->fw->bytes_out);
}

/* Up or not once a probe has answered; figures only from a fresh one. */
static void
m_ollama_up(const struct msample *s)
{
	const struct probe_results	*r = probe_results(s->n);

	if (r != NULL && r->ollama.url != NULL &&
	    r->ollama.c.status != PROBE_PENDING)
		put_u(s, NULL, r->ollama.c.status == PROBE_OK &&
		    !r->ollama.c.stale);
}

static void
m_ollama_latency(const struct msample *s)
{
	put_d(s, NULL, s->o->latency_ms / 1000.0);
}

static void
m_ollama_models(const struct msample *s)
{
	put_u(s, NULL, s->o->info.nmodels_total);
}

static void
m_ollama_loaded(const struct msample *s)
{
	put_u(s, NULL, s->o->info.nloaded_total);
}

static void
m_ollama_missing(const struct msample *s)
{
	put_u(s, NULL, s->o->nmissing_total);
}

static void
m_gpu_probe_up(const struct msample *s)
{
	const struct probe_results	*r = probe_results(s->n);

	if (r != NULL && r->gpu.kind != GPU_NONE &&
	    r->gpu.c.status != PROBE_PENDING)
		put_u(s, NULL, r->gpu.c.status == PROBE_OK && !r->gpu.c.stale);
}

/* The parsers keep temperatures within -50..200: %.9g prints them whole. */
static void
m_gpu_temp(const struct msample *s)
{
	if (s->g->has_temp)
		put_d(s, NULL, s->g->temp_c);
}

static void
m_gpu_util(const struct msample *s)
{
	if (s->g->has_util)
		put_d(s, NULL, (double)s->g->util_pct / 100.0);
}

static void
m_gpu_mem_used(const struct msample *s)
{
	if (s->g->has_mem_used)
		put_u(s, NULL, (unsigned long long)s->g->mem_used_mib << 20);
}

static void
m_gpu_mem_total(const struct msample *s)
{
	if (s->g->has_mem_total)
		put_u(s, NULL, (unsigned long long)s->g->mem_total_mib << 20);
}

static void
m_gpu_power(const struct msample *s)
{
	if (s->g->has_power)
		put_d(s, NULL, s->g->power_w);
}

static void
m_gpu_power_limit(const struct msample *s)
{
	if (s->g->has_power_limit)
		put_d(s, NULL, s->g->power_limit_w);
}

static const struct {
	const char	*name, *type;
	int		 of;
	void		(*fn)(const struct msample *);
	const char	*help;
} node_fams[] = {
	{ "tunneld_node_up", "gauge", OF_NODE, m_node_up,
	  "1 when the node is up (session, forwards and probes all good)." },
	{ "tunneld_node_state", "gauge", OF_NODE, m_node_state,
	  "One series per state; 1 for the node's current state." },
	{ "tunneld_node_state_seconds", "gauge", OF_NODE, m_node_state_seconds,
	  "Seconds since the node entered its current state." },
	{ "tunneld_ssh_connects_total", "counter", OF_SSH, m_ssh_connects,
	  "SSH sessions established to the node since tunneld started." },
	{ "tunneld_ssh_reconnects_total", "counter", OF_SSH, m_ssh_reconnects,
	  "SSH sessions established after the first one (recoveries)." },
	{ "tunneld_ssh_keepalive_rtt_seconds", "gauge", OF_SSH, m_ssh_rtt,
	  "Round trip of the latest answered SSH keepalive." },
	{ "tunneld_forward_up", "gauge", OF_FWD, m_fwd_up,
	  "1 when the forward is established (listening, or granted)." },
	{ "tunneld_forward_active_connections", "gauge", OF_FWD, m_fwd_active,
	  "Connections the forward carries now." },
	{ "tunneld_forward_connections_total", "counter", OF_FWD, m_fwd_total,
	  "Connections the forward has carried since tunneld started." },
	{ "tunneld_forward_bytes_total", "counter", OF_FWD, m_fwd_bytes,
	  "Bytes carried; direction in: towards the client that connected, "
	  "out: from it." },
	{ "tunneld_ollama_up", "gauge", OF_NODE, m_ollama_up,
	  "1 when the latest Ollama probe succeeded, 0 when it failed." },
	{ "tunneld_ollama_latency_seconds", "gauge", OF_OLLAMA,
	  m_ollama_latency,
	  "Duration of the latest good Ollama probe, end to end." },
	{ "tunneld_ollama_models", "gauge", OF_OLLAMA, m_ollama_models,
	  "Models Ollama lists (/api/tags)." },
	{ "tunneld_ollama_loaded_models", "gauge", OF_OLLAMA, m_ollama_loaded,
	  "Models Ollama holds in memory (/api/ps)." },
	{ "tunneld_ollama_missing_models", "gauge", OF_OLLAMA, m_ollama_missing,
	  "Models of require_models that Ollama does not list." },
	{ "tunneld_gpu_probe_up", "gauge", OF_NODE, m_gpu_probe_up,
	  "1 when the latest GPU probe succeeded, 0 when it failed." },
	{ "tunneld_gpu_temperature_celsius", "gauge", OF_GPU, m_gpu_temp,
	  "GPU temperature." },
	{ "tunneld_gpu_utilization_ratio", "gauge", OF_GPU, m_gpu_util,
	  "GPU utilisation, 0 to 1." },
	{ "tunneld_gpu_memory_used_bytes", "gauge", OF_GPU, m_gpu_mem_used,
	  "GPU memory in use (nvidia-smi MiB, or RAM for tegrastats)." },
	{ "tunneld_gpu_memory_total_bytes", "gauge", OF_GPU, m_gpu_mem_total,
	  "GPU memory in all." },
	{ "tunneld_gpu_power_watts", "gauge", OF_GPU, m_gpu_power,
	  "GPU power draw." },
	{ "tunneld_gpu_power_limit_watts", "gauge", OF_GPU, m_gpu_power_limit,
	  "GPU power limit." },
};

static void
metrics_node_family(FILE *f, size_t k, uint64_t now)
{
	char				 l[LBL_MAX];
	struct msample			 s = { .f = f, .name = node_fams[k].name,
					    .lbl = l, .now = now };
	const struct probe_gpu_result	*r;
	struct node			*n;
	size_t				 i;

	fam(f, node_fams[k].name, node_fams[k].type, node_fams[k].help);
	TAILQ_FOREACH(n, &td->nodes, entry) {
		s.n = n;
		switch (node_fams[k].of) {
		case OF_SSH:
			if (n->conf->local)
				break;
			/* FALLTHROUGH */
		case OF_NODE:
			lbl_node(l, sizeof(l), n);
			node_fams[k].fn(&s);
			break;
		case OF_OLLAMA:
			if ((s.o = fresh_ollama(n)) == NULL)
				break;
			lbl_node(l, sizeof(l), n);
			node_fams[k].fn(&s);
			break;
		case OF_FWD:
			for (i = 0; i < n->nfwds; i++) {
				s.fw = &n->fwds[i];
				lbl_fwd(l, sizeof(l), s.fw);
				node_fams[k].fn(&s);
			}
			break;
		case OF_GPU:
			if ((r = fresh_gpu(n)) == NULL)
				break;
			for (i = 0; i < r->sample.ngpus && i < GPU_MAX; i++) {
				s.g = &r->sample.gpus[i];
				lbl_gpu(l, sizeof(l), n, s.g);
				node_fams[k].fn(&s);
			}
			break;
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
	  "Nodes skipped because their connection (an http pool: request) "
	  "failed before a byte moved.",
	  "failovers" },
	{ "tunneld_pool_refused_total", "counter",
	  "Clients (an http pool: requests) turned away: no node of the pool "
	  "was healthy (or listed the model).",
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
	uint64_t	now = now_ms();
	size_t		k;

	fam(f, "tunneld_up", "gauge", "1 while the tunneld that answers runs.");
	fprintf(f, "tunneld_up 1\n");
	fam(f, "tunneld_uptime_seconds", "gauge",
	    "Seconds since this tunneld started.");
	fprintf(f, "tunneld_uptime_seconds %.3f\n",
	    (double)(now - td->started) / 1000.0);
	for (k = 0; k < sizeof(node_fams) / sizeof(node_fams[0]); k++)
		metrics_node_family(f, k, now);
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

struct mclient {
	TAILQ_ENTRY(mclient)	 entry;
	struct bufferevent	*bev;
	struct event		*deadline;
	http_parser		 hp;
	char			 url[METRICS_URL_MAX];
	size_t			 urllen;
	size_t			 body;
	int			 url_long;
	int			 complete;	/* a whole request was parsed */
	int			 answering;	/* its answer is being written */
	int			 close_after;
	uint64_t		 since;		/* ms of the connect or last answer */
};

static TAILQ_HEAD(, mclient) mclients = TAILQ_HEAD_INITIALIZER(mclients);
static struct evconnlistener *mlistener;
static struct listener_rest *mrest;
static char		*mbound;	/* metrics_listen being served */
static char		*mfailed;	/* metrics_listen that failed to bind */
static uint64_t		 mretry_at;

static void	mclient_parse(struct mclient *);

static void
mclient_free(struct mclient *c)
{
	TAILQ_REMOVE(&mclients, c, entry);
	event_free(c->deadline);
	listener_client_free(c->bev);
	free(c);
}

static void
mclient_deadline(evutil_socket_t fd, short ev, void *arg)
{
	struct mclient	*c = arg;

	log_debug("metrics: a client sent no whole request in %d s; closed",
	    METRICS_REQUEST_S);
	mclient_free(c);
}

static void
mclient_arm(struct mclient *c)
{
	struct timeval	tv = { METRICS_REQUEST_S, 0 };

	evtimer_add(c->deadline, &tv);
}

static void
metrics_text_free(const void *data, size_t len, void *arg)
{
	free((void *)data);
}

/* Queue an answer; BODY (malloc'd, owned from here on) may be NULL. */
static void
mclient_answer(struct mclient *c, int code, const char *msg,
    const char *ctype, const char *extra, char *body, size_t len)
{
	struct evbuffer	*out = bufferevent_get_output(c->bev);

	if (code >= 400 || !http_should_keep_alive(&c->hp))
		c->close_after = 1;
	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
	    "Content-Length: %zu\r\n%s%s\r\n", code, msg, ctype, len,
	    extra ? extra : "", c->close_after ? "Connection: close\r\n" : "");
	if (body != NULL) {
		if (c->complete && c->hp.method == HTTP_HEAD)
			free(body);
		else if (evbuffer_add_reference(out, body, len,
		    metrics_text_free, NULL) == -1) {
			free(body);
			c->close_after = 1;
		}
	}
	c->answering = 1;
	evtimer_del(c->deadline);
	bufferevent_disable(c->bev, EV_READ);
	bufferevent_enable(c->bev, EV_WRITE);
}

static void
mclient_error(struct mclient *c, int code, const char *msg)
{
	char	*body = NULL;
	int	 len;

	if ((len = asprintf(&body, "tunneld: %s\n", msg)) == -1) {
		body = NULL;
		len = 0;
	}
	mclient_answer(c, code, msg, "text/plain; charset=utf-8",
	    code == 405 ? "Allow: GET, HEAD\r\n" : NULL, body, (size_t)len);
}

/* Clients whose answer is being written. */
static unsigned
mclients_answering(void)
{
	struct mclient	*o;
	unsigned	 n = 0;

	TAILQ_FOREACH(o, &mclients, entry)
		if (o->answering)
			n++;
	return n;
}

static void
mclient_request(struct mclient *c)
{
	char	*text, *nf;
	size_t	 len;

	if (c->url_long) {
		mclient_error(c, 414, "URI Too Long");
		return;
	}
	if (c->hp.method != HTTP_GET && c->hp.method != HTTP_HEAD) {
		mclient_error(c, 405, "Method Not Allowed");
		return;
	}
	/* /metrics, with or without a query string (Prometheus adds none). */
	if (strcmp(c->url, "/metrics") != 0 &&
	    strncmp(c->url, "/metrics?", 9) != 0) {
		if ((nf = strdup("tunneld: metrics are at /metrics\n")) == NULL)
			mclient_error(c, 500, "Internal Server Error");
		else
			mclient_answer(c, 404, "Not Found",
			    "text/plain; charset=utf-8", NULL, nf, strlen(nf));
		return;
	}
	/*
	 * Each answer being written holds its own copy of the text (MBs at
	 * thousands of nodes), and a request may come long after the
	 * connect, where metrics_make_room() counted the client as waiting.
	 */
	if (mclients_answering() >= METRICS_CLIENTS_MAX) {
		mclient_error(c, 503, "Service Unavailable");
		return;
	}
	if ((text = metrics_render(&len)) == NULL) {
		mclient_error(c, 500, "Internal Server Error");
		return;
	}
	mclient_answer(c, 200, "OK", METRICS_CTYPE, NULL, text, len);
}

static int
mhp_begin(http_parser *hp)
{
	struct mclient	*c = hp->data;

	c->urllen = c->body = 0;
	c->url[0] = '\0';
	c->url_long = c->complete = 0;
	return 0;
}

static int
mhp_url(http_parser *hp, const char *at, size_t len)
{
	struct mclient	*c = hp->data;

	if (c->urllen + len >= sizeof(c->url)) {
		c->url_long = 1;
		return 0;
	}
	memcpy(c->url + c->urllen, at, len);
	c->urllen += len;
	c->url[c->urllen] = '\0';
	return 0;
}

static int
mhp_body(http_parser *hp, const char *at, size_t len)
{
	struct mclient	*c = hp->data;

	c->body += len;
	return c->body > METRICS_BODY_MAX ? -1 : 0;
}

/* One request at a time: the parser waits while its answer is written. */
static int
mhp_complete(http_parser *hp)
{
	((struct mclient *)hp->data)->complete = 1;
	http_parser_pause(hp, 1);
	return 0;
}

static const http_parser_settings mhp_settings = {
	.on_message_begin = mhp_begin,
	.on_url = mhp_url,
	.on_body = mhp_body,
	.on_message_complete = mhp_complete,
};

static void
mclient_parse(struct mclient *c)
{
	struct evbuffer		*in = bufferevent_get_input(c->bev);
	enum http_errno		 err;
	size_t			 len, n;
	char			*p;

	while (!c->answering && (len = evbuffer_get_contiguous_space(in)) > 0) {
		p = (char *)evbuffer_pullup(in, (ev_ssize_t)len);
		n = http_parser_execute(&c->hp, &mhp_settings, p, len);
		err = HTTP_PARSER_ERRNO(&c->hp);
		evbuffer_drain(in, n);
		if (err == HPE_PAUSED && c->complete) {
			mclient_request(c);
			return;
		}
		if (err != HPE_OK) {
			if (err == HPE_CB_body)
				mclient_error(c, 413, "Payload Too Large");
			else if (err == HPE_HEADER_OVERFLOW)
				mclient_error(c, 431, "Request Header Fields "
				    "Too Large");
			else
				mclient_error(c, 400, "Bad Request");
			return;
		}
	}
}

static void
mclient_read(struct bufferevent *bev, void *arg)
{
	mclient_parse(arg);
}

/* The answer is in the kernel: close, or wait for the next request. */
static void
mclient_written(struct bufferevent *bev, void *arg)
{
	struct mclient	*c = arg;

	if (!c->answering)
		return;
	if (c->close_after) {
		mclient_free(c);
		return;
	}
	c->answering = c->complete = 0;
	c->since = now_ms();
	http_parser_pause(&c->hp, 0);
	mclient_arm(c);
	/* A new request: the client is young again, last in line to go. */
	TAILQ_REMOVE(&mclients, c, entry);
	TAILQ_INSERT_TAIL(&mclients, c, entry);
	bufferevent_disable(c->bev, EV_WRITE);
	bufferevent_enable(c->bev, EV_READ);
	mclient_parse(c);
}

static void
mclient_event(struct bufferevent *bev, short what, void *arg)
{
	struct mclient	*c = arg;

	/* EOF while an answer is being written: write it, then close. */
	if ((what & BEV_EVENT_EOF) && c->answering &&
	    !(what & (BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))) {
		c->close_after = 1;
		return;
	}
	mclient_free(c);
}

/*
 * Room for C, just accepted and read once: 0, or -1 when C is to be turned
 * away.  A client whose whole request came with its connect is being
 * answered already and only needs room among those (it is written out
 * soon); a client still waiting for its request may push out the oldest
 * other waiting one, unless that one connected less than METRICS_GRACE_MS
 * ago (its request may be on the way).  So a flood of slow clients keeps
 * cycling through the waiting slots; a scraper whose request came with
 * its connect is answered, but one accepted before its request arrived
 * counts as waiting and, while every waiting slot is young, is turned
 * away (a flood of fresh connections can refuse most scrapes).  Past the
 * answering cap a request is answered 503 (mclient_request()).
 */
static int
metrics_make_room(struct mclient *c)
{
	struct mclient	*o, *victim = NULL;
	unsigned	 waiting = 0, answering = 0;
	uint64_t	 now = now_ms();

	TAILQ_FOREACH(o, &mclients, entry) {
		if (o == c)
			continue;
		if (o->answering)
			answering++;
		else {
			waiting++;
			if (victim == NULL && now - o->since >= METRICS_GRACE_MS)
				victim = o;
		}
	}
	if (c->answering)
		return answering < METRICS_CLIENTS_MAX ? 0 : -1;
	if (waiting < METRICS_CLIENTS_MAX)
		return 0;
	if (victim == NULL)
		return -1;
	log_debug("metrics: %u clients wait for their request, dropping the "
	    "oldest", waiting);
	mclient_free(victim);
	return 0;
}

static void
metrics_accept(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct timeval	 wtv = { METRICS_WRITE_S, 0 };
	struct mclient	*c;

	listener_reserve_check(mrest, fd);
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		close(fd);
		return;
	}
	c->bev = bufferevent_socket_new(td->base, fd, BEV_OPT_CLOSE_ON_FREE);
	c->deadline = evtimer_new(td->base, mclient_deadline, c);
	if (c->bev == NULL || c->deadline == NULL) {
		if (c->bev != NULL)
			listener_client_free(c->bev);
		else
			close(fd);
		if (c->deadline != NULL)
			event_free(c->deadline);
		free(c);
		return;
	}
	c->since = now_ms();
	http_parser_init(&c->hp, HTTP_REQUEST);
	c->hp.data = c;
	bufferevent_setcb(c->bev, mclient_read, mclient_written, mclient_event,
	    c);
	bufferevent_set_timeouts(c->bev, NULL, &wtv);
	bufferevent_enable(c->bev, EV_READ);
	mclient_arm(c);
	TAILQ_INSERT_TAIL(&mclients, c, entry);
	/* What came with the connect decides where the client stands. */
	(void)evbuffer_read(bufferevent_get_input(c->bev), fd,
	    METRICS_HEADERS_MAX);
	mclient_parse(c);
	if (metrics_make_room(c) == -1)
		mclient_free(c);
}

void
metrics_close(void)
{
	struct mclient	*c;

	while ((c = TAILQ_FIRST(&mclients)) != NULL)
		mclient_free(c);
	listener_rest_free(mrest);
	mrest = NULL;
	if (mlistener != NULL)
		evconnlistener_free(mlistener);
	mlistener = NULL;
	free(mbound);
	mbound = NULL;
}

static void
metrics_accept_error(struct evconnlistener *l, void *arg)
{
	listener_rest_error(mrest, EVUTIL_SOCKET_ERROR());
}

/* A listener on HOST:PORT, or NULL with errno. */
static struct evconnlistener *
metrics_bind(const char *host, uint16_t port)
{
	struct addrinfo		 hints, *res = NULL;
	struct evconnlistener	*l;
	char			 ps[8];

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(ps, sizeof(ps), "%u", port);
	if (getaddrinfo(host, ps, &hints, &res) != 0 || res == NULL)
		return NULL;
	l = evconnlistener_new_bind(td->base, metrics_accept, NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_REUSEABLE,
	    128, res->ai_addr, (int)res->ai_addrlen);
	freeaddrinfo(res);
	return l;
}

int
metrics_sync(void)
{
	const char	*want = td->conf->metrics_listen;
	char		 host[CONFIG_HOST_MAX], what[CONFIG_HOST_MAX + 16];
	uint16_t	 port;
	uint64_t	 now = now_ms();

	if (config_streq(want, mbound) && (want == NULL || mlistener != NULL))
		return 0;
	if (mlistener != NULL) {
		log_info("metrics: no longer serving %s", mbound);
		metrics_close();
	}
	if (want == NULL)
		return 0;
	if (config_streq(want, mfailed) && now < mretry_at)
		return -1;
	if (config_parse_hostport(want, host, sizeof(host), &port) == -1) {
		log_warnx("metrics_listen %s is not a host:port", want);
		return -1;
	}
	if ((mlistener = metrics_bind(host, port)) == NULL) {
		/* Logged once per address, retried quietly (a port in TIME_WAIT). */
		if (!config_streq(want, mfailed))
			log_entry(LOG_WARNING, NULL, "metrics-bind-failed", NULL,
			    NULL, "metrics: cannot listen on %s; retrying every "
			    "%ds", want, METRICS_RETRY_MS / 1000);
		free(mfailed);
		mfailed = strdup(want);
		mretry_at = now + METRICS_RETRY_MS;
		return -1;
	}
	snprintf(what, sizeof(what), "metrics %s", want);
	if ((mrest = listener_rest_new(mlistener, what)) == NULL) {
		log_warnx("metrics: out of memory");
		evconnlistener_free(mlistener);
		mlistener = NULL;
		return -1;
	}
	evconnlistener_set_error_cb(mlistener, metrics_accept_error);
	free(mfailed);
	mfailed = NULL;
	if ((mbound = strdup(want)) == NULL)
		fatal("%s: strdup", __func__);
	log_info("metrics: serving http://%s/metrics", want);
	return 0;
}
