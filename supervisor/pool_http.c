/*
 * pool_http: see pool_http.h.
 *
 * One client connection is a struct hclient; it carries one request at a
 * time (pipelined requests wait in its input, unparsed).  A request goes
 * through: head (parsed up to its blank line), scan (model paths only: the
 * body up to its "model"), routed (a node chosen, bytes flow to it), and
 * ends when the node's answer is complete.  Bytes move verbatim: the
 * parsers only say where a message ends and what it asks for, so chunked
 * bodies, trailers and headers reach the other side as they were sent.
 *
 * A connection to a node is a struct hup.  Through an SSH node it is one end
 * of a socketpair whose other end forward_attach() carries over a channel
 * (the forward's own pump, no extra listener hop; a refused channel comes
 * back through the handback); to a local node it is a TCP connection to its
 * Ollama URL.  After a complete exchange that both sides keep alive it
 * waits, idle, for the next request to that node.
 */
#include <sys/socket.h>
#include <sys/uio.h>

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>

#include <http_parser.h>

#include "forward.h"
#include "log.h"
#include "node.h"
#include "pool.h"
#include "text.h"
#include "jsonscan.h"
#include "pool_http.h"
#include "probe.h"
#include "tunneld.h"

#define HTTP_BUF_MAX		(256 * 1024)	/* per direction, as forwards */
#define HTTP_URL_MAX		2048
#define HTTP_IDLE_MAX		16		/* idle connections per node */
#define HTTP_IDLE_S		30
#define HTTP_CLIENT_IDLE_S	300		/* between requests */
#define HTTP_NAME_MAX		64

enum herr {
	HE_REFUSED,		/* channel refused, connect failed */
	HE_RESET,		/* closed or reset before an answer */
	HE_TIMEOUT,		/* no first byte within first_byte_timeout */
	HE_UNAVAILABLE,		/* answered 502 or 503 */
	HE_CUT,			/* closed in the middle of the answer */
	HE_NO_MODEL,		/* no healthy node lists the model */
	HE_NO_NODE,		/* no healthy node at all */
	HE_BAD_REQUEST,		/* not HTTP/1.x we can carry */
	HE_N
};
static const char *const herr_names[HE_N] = {
	"refused", "reset", "timeout", "unavailable", "cut", "no_model",
	"no_node", "bad_request"
};

/* Time to first byte, seconds: Prometheus histogram bounds. */
#define TTFB_NB	12
static const double ttfb_le[TTFB_NB] = {
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10
};

struct hstat {
	char		 name[HTTP_NAME_MAX];	/* node; "" for the pool */
	uint64_t	 requests;	/* sent to it (attempts) / received */
	uint64_t	 retries;	/* moved on from it / in the pool */
	uint64_t	 errors[HE_N];
	uint64_t	 ttfb_n, ttfb_b[TTFB_NB];
	double		 ttfb_sum;
};

struct hpool {
	LIST_ENTRY(hpool)	 entry;
	char			 name[HTTP_NAME_MAX];
	struct hstat		 total;
	struct hstat		 node[POOL_NODES_MAX];
	size_t			 nnode;
};
static LIST_HEAD(, hpool) hpools = LIST_HEAD_INITIALIZER(hpools);

struct hclient;

struct hup {
	LIST_ENTRY(hup)		 entry;		/* ups (idle or busy) */
	char			 node[HTTP_NAME_MAX];
	struct bufferevent	*bev;
	struct hclient		*c;		/* NULL: idle, or abandoned */
	struct event		*ev_idle;
	unsigned		 idle:1;
	unsigned		 ready:1;	/* connected, channel open */
	unsigned		 forwarded:1;	/* through a forward */
	unsigned		 opening:1;	/* forward_attach() not answered */
	unsigned		 reused:1;
};
static LIST_HEAD(, hup) ups = LIST_HEAD_INITIALIZER(ups);

struct hclient {
	LIST_ENTRY(hclient)	 entry;
	char			 pool[HTTP_NAME_MAX];
	struct bufferevent	*bev;
	struct sockaddr_storage	 peer;
	http_parser		 rp, sp;	/* request, response */
	struct event		*ev_ttfb;
	struct event		*ev_free;	/* deferred: callers may still hold it */

	/* The request being carried. */
	char			 url[HTTP_URL_MAX];
	size_t			 urllen;
	char			 hfield[32], hvalue[32];
	size_t			 hflen, hvlen;
	int			 hin_value;
	int			 expect_continue, sent_continue;
	int			 head_done, req_done, want_model, routed;
	int			 method, req_keepalive;
	struct evbuffer		*held;		/* every byte so far, for a retry */
	int			 replayable;
	struct evbuffer		*toup;		/* not yet given to the node */
	struct evbuffer		*scan;		/* de-chunked body prefix */
	size_t			 scan_next, scan_resume;
	int			 scan_done;
	char			 model[POOL_HTTP_MODEL_MAX];

	/* Where it goes. */
	char			 cand[POOL_NODES_MAX][HTTP_NAME_MAX];
	size_t			 ncand, next, cur;
	int			 attempts, retries, stale_retry;
	uint64_t		 first_byte_ms;
	struct hup		*up;
	uint64_t		 t_sent;	/* us */

	/* Its answer. */
	struct evbuffer		*rbuf;		/* held until committed */
	int			 got_byte, committed, retry_status;
	int			 interim, resp_done, resp_keepalive;

	int			 closing, client_eof;
};
static LIST_HEAD(, hclient) clients = LIST_HEAD_INITIALIZER(clients);

static http_parser_settings req_settings, resp_settings;

static void	hc_pump(struct hclient *);
static void	hc_attempt(struct hclient *);
static void	hc_attempt_failed(struct hclient *, enum herr, const char *);
static void	hc_free(struct hclient *);
static void	hup_free(struct hup *);
static void	hc_bufs_free(struct hclient *);
static void	hread_more(struct bufferevent *);

/* ------------------------------------------------------------ routing */

size_t
pool_http_route(enum pool_policy policy, const struct pool_http_cand *c,
    size_t n, size_t *order)
{
	enum node_state	 want;
	size_t		 i, j, k, m = 0;
	int		 worse;

	for (want = NODE_UP; m == 0; want = NODE_DEGRADED) {
		for (i = 0; i < n; i++)
			if (c[i].state == want && c[i].reachable &&
			    c[i].has_model)
				order[m++] = i;
		if (want == NODE_DEGRADED)
			break;
	}
	/* Insertion sort: stable, so ties keep the listed order. */
	for (i = 1; i < m; i++) {
		k = order[i];
		for (j = i; j > 0; j--) {
			const struct pool_http_cand *a = &c[order[j - 1]];

			if (a->loaded != c[k].loaded)
				worse = !a->loaded;
			else if (policy == POOL_LEAST_LOAD)
				worse = a->load_score > c[k].load_score;
			else if (policy == POOL_LEAST_OUTSTANDING)
				worse = a->outstanding > c[k].outstanding;
			else
				worse = 0;
			if (!worse)
				break;
			order[j] = order[j - 1];
		}
		order[j] = k;
	}
	return m;
}

int
pool_http_path_has_model(const char *path, size_t len)
{
	static const char *const paths[] = {
		"/api/generate", "/api/chat", "/api/embed", "/api/embeddings",
		"/v1/chat/completions", "/v1/completions", "/v1/embeddings",
		NULL
	};
	size_t	i, n;

	for (n = 0; n < len && path[n] != '?' && path[n] != '#'; n++)
		;
	for (i = 0; paths[i] != NULL; i++)
		if (strlen(paths[i]) == n && memcmp(paths[i], path, n) == 0)
			return 1;
	return 0;
}


int
pool_http_body_model(const char *b, size_t len, int complete,
    size_t *resume, char *model, size_t modelsz)
{
	json_t		*k, *v;
	size_t		 off = *resume, end;
	int		 rc, is_model;

	if (off == 0) {
		off = jsonscan_ws(b, len, 0);
		if (off == len)
			return complete ? -1 : 0;
		if (b[off] != '{')
			return -1;
		off++;
		*resume = off;
	}
	for (;;) {
		/* At a member, or at the '}' that ends an empty object. */
		off = jsonscan_ws(b, len, off);
		if (off == len)
			return complete ? -1 : 0;
		if (b[off] == '}' || b[off] != '"')
			return -1;
		if ((rc = jsonscan_value(b, len, off, complete,
		    JSON_ALLOW_NUL, &k, &end)) != 1)
			return rc;
		is_model = json_is_string(k) &&
		    strcmp(json_string_value(k), "model") == 0;
		json_decref(k);
		off = jsonscan_ws(b, len, end);
		if (off == len)
			return complete ? -1 : 0;
		if (b[off] != ':')
			return -1;
		off = jsonscan_ws(b, len, off + 1);
		if (off == len)
			return complete ? -1 : 0;
		if ((rc = jsonscan_value(b, len, off, complete,
		    JSON_ALLOW_NUL, &v, &end)) != 1)
			return rc;
		if (is_model) {
			/*
			 * A name no node can list (Ollama's names are
			 * printable) is no name: it would reach logs too.
			 */
			rc = -1;
			if (json_is_string(v) && json_string_length(v) > 0 &&
			    json_string_length(v) < modelsz &&
			    text_copy(model, modelsz, json_string_value(v),
			    json_string_length(v)))
				rc = 1;
			else
				model[0] = '\0';
			json_decref(v);
			return rc;
		}
		json_decref(v);
		off = jsonscan_ws(b, len, end);
		if (off == len)
			return complete ? -1 : 0;
		if (b[off] == '}')
			return -1;
		if (b[off] != ',')
			return -1;
		*resume = ++off;
	}
}

/* ------------------------------------------------------------- figures */

static struct hpool *
hpool_get(const char *name)
{
	struct hpool	*hp;

	LIST_FOREACH(hp, &hpools, entry)
		if (strcmp(hp->name, name) == 0)
			return hp;
	if ((hp = calloc(1, sizeof(*hp))) == NULL)
		return NULL;
	snprintf(hp->name, sizeof(hp->name), "%s", name);
	LIST_INSERT_HEAD(&hpools, hp, entry);
	return hp;
}

static struct hstat *
hstat_node(struct hpool *hp, const char *node)
{
	size_t	i;

	for (i = 0; i < hp->nnode; i++)
		if (strcmp(hp->node[i].name, node) == 0)
			return &hp->node[i];
	if (hp->nnode == POOL_NODES_MAX)
		return NULL;
	snprintf(hp->node[hp->nnode].name, HTTP_NAME_MAX, "%s", node);
	return &hp->node[hp->nnode++];
}

/* Count in the pool's figures and, with NODE, in that node's. */
static void
hcount(const char *pool, const char *node, int err, int retry, int req)
{
	struct hpool	*hp = hpool_get(pool);
	struct hstat	*s[2] = { NULL, NULL };
	int		 i;

	if (hp == NULL)
		return;
	s[0] = &hp->total;
	if (node != NULL)
		s[1] = hstat_node(hp, node);
	for (i = 0; i < 2; i++) {
		if (s[i] == NULL)
			continue;
		if (err >= 0)
			s[i]->errors[err]++;
		s[i]->retries += (uint64_t)retry;
		/* the pool counts requests received, a node those sent to it */
		if (req && (i == 1 || node == NULL))
			s[i]->requests++;
	}
}

static void
hcount_ttfb(const char *pool, const char *node, double secs)
{
	struct hpool	*hp = hpool_get(pool);
	struct hstat	*s[2];
	int		 i, b;

	if (hp == NULL)
		return;
	s[0] = &hp->total;
	s[1] = hstat_node(hp, node);
	for (i = 0; i < 2; i++) {
		if (s[i] == NULL)
			continue;
		s[i]->ttfb_n++;
		s[i]->ttfb_sum += secs;
		for (b = 0; b < TTFB_NB; b++)
			if (secs <= ttfb_le[b])
				s[i]->ttfb_b[b]++;
	}
}

/* Requests in flight to NODE (of POOL, or of every pool when NULL). */
static unsigned
houtstanding(const char *pool, const char *node)
{
	struct hclient	*c;
	unsigned	 n = 0;

	LIST_FOREACH(c, &clients, entry)
		if (c->up != NULL && strcmp(c->up->node, node) == 0 &&
		    (pool == NULL || strcmp(c->pool, pool) == 0))
			n++;
	return n;
}

/* Connections to NODE, through its forward or not, carrying a client or not. */
static unsigned
hups_count(const char *node, int forwarded, int busy)
{
	struct hup	*u;
	unsigned	 n = 0;

	LIST_FOREACH(u, &ups, entry)
		if (u->forwarded == forwarded && (u->c != NULL) == busy &&
		    strcmp(u->node, node) == 0)
			n++;
	return n;
}

unsigned
pool_http_idle_forwarded(const char *node)
{
	return hups_count(node, 1, 0);
}

unsigned
pool_http_relayed(const char *node)
{
	return hups_count(node, 0, 1);
}

static json_t *
hstat_json(const struct hstat *s, unsigned in_flight)
{
	json_t	*o, *e, *b;
	int	 i;

	e = json_object();
	for (i = 0; i < HE_N; i++)
		json_object_set_new(e, herr_names[i],
		    json_integer((json_int_t)s->errors[i]));
	b = json_array();
	for (i = 0; i < TTFB_NB; i++)
		json_array_append_new(b, json_integer((json_int_t)s->ttfb_b[i]));
	o = json_pack("{s:I, s:I, s:I, s:o, s:{s:I, s:f, s:o}}",
	    "requests", (json_int_t)s->requests,
	    "in_flight", (json_int_t)in_flight,
	    "retries", (json_int_t)s->retries,
	    "errors", e,
	    "first_byte", "count", (json_int_t)s->ttfb_n,
	    "sum_s", s->ttfb_sum, "buckets", b);
	if (o != NULL && s->ttfb_n > 0)
		json_object_set_new(o, "first_byte_ms_avg",
		    json_real(round(s->ttfb_sum * 1e6 / (double)s->ttfb_n) /
		    1e3));
	return o;
}

void
pool_http_counts(const struct pool_conf *pc, uint64_t *failovers,
    uint64_t *refused)
{
	struct hpool	*hp = hpool_get(pc->name);

	*failovers = *refused = 0;
	if (hp == NULL)
		return;
	*failovers = hp->total.retries;
	*refused = hp->total.errors[HE_NO_NODE] + hp->total.errors[HE_NO_MODEL];
}

json_t *
pool_http_status_json(const struct pool_conf *pc)
{
	struct hpool	*hp = hpool_get(pc->name);
	struct hstat	 zero, *s;
	json_t		*o, *per, *le;
	unsigned	 inflight = 0, k;
	size_t		 i;
	int		 b;

	if (hp == NULL)
		return NULL;
	memset(&zero, 0, sizeof(zero));
	per = json_object();
	for (i = 0; i < pc->nnodes; i++) {
		if ((s = hstat_node(hp, pc->nodes[i])) == NULL)
			s = &zero;
		k = houtstanding(pc->name, pc->nodes[i]);
		inflight += k;
		json_object_set_new(per, pc->nodes[i], hstat_json(s, k));
	}
	le = json_array();
	for (b = 0; b < TTFB_NB; b++)
		json_array_append_new(le, json_real(ttfb_le[b]));
	o = hstat_json(&hp->total, inflight);
	if (o != NULL) {
		json_object_set_new(o, "retries_max", json_integer(pc->retries));
		json_object_set_new(o, "first_byte_timeout_ms",
		    json_integer((json_int_t)pc->first_byte_timeout));
		json_object_set_new(o, "first_byte_le", le);
		json_object_set_new(o, "per_node", per);
	} else {
		json_decref(le);
		json_decref(per);
	}
	return o;
}

/* ------------------------------------------------------------- choice */

static const struct pool_conf *
hconf(const char *pool)
{
	struct pool_conf	*pc;

	TAILQ_FOREACH(pc, &td->conf->pools, entry)
		if (strcmp(pc->name, pool) == 0 && pc->mode == POOL_MODE_HTTP)
			return pc;
	return NULL;
}

/* "qwen2.5" and "qwen2.5:latest" are one model. */
static int
same_model(const char *a, const char *b)
{
	size_t	la = strlen(a), lb = strlen(b);

	if (strcmp(a, b) == 0)
		return 1;
	if (la + 7 == lb && strchr(a, ':') == NULL &&
	    strncmp(a, b, la) == 0 && strcmp(b + la, ":latest") == 0)
		return 1;
	return lb + 7 == la && strchr(b, ':') == NULL &&
	    strncmp(a, b, lb) == 0 && strcmp(a + lb, ":latest") == 0;
}

static void
hcandidates(const struct pool_conf *pc, const char *model,
    struct pool_http_cand *c, struct node **nodes, size_t *np)
{
	const struct probe_results	*r;
	struct forward			*f;
	char				 host[CONFIG_HOST_MAX];
	size_t				 i, j, n;
	int				 port;

	n = pc->nnodes < POOL_NODES_MAX ? pc->nnodes : POOL_NODES_MAX;
	for (i = 0; i < n; i++) {
		memset(&c[i], 0, sizeof(c[i]));
		c[i].state = NODE_STOPPED;
		if ((nodes[i] = node_find(pc->nodes[i])) == NULL)
			continue;
		c[i].state = nodes[i]->state;
		c[i].reachable = pool_node_endpoint(nodes[i], &f, host,
		    sizeof(host), &port) == 0;
		c[i].load_score = pool_load_score(nodes[i]);
		c[i].outstanding = houtstanding(NULL, pc->nodes[i]);
		c[i].has_model = 1;
		if (model == NULL || *model == '\0')
			continue;
		r = probe_results(nodes[i]);
		c[i].has_model = r != NULL && r->ollama.has_info &&
		    ollama_has_model(&r->ollama.info, model);
		for (j = 0; c[i].has_model && j < r->ollama.info.nloaded &&
		    j < OLLAMA_MODELS_MAX; j++)
			if (!r->ollama.info.loaded[j].truncated &&
			    same_model(r->ollama.info.loaded[j].name, model))
				c[i].loaded = 1;
	}
	*np = n;
}

struct node *
pool_http_best(const struct pool_conf *pc, const char *model, char *why,
    size_t whysz)
{
	struct pool_http_cand	 c[POOL_NODES_MAX];
	struct node		*nodes[POOL_NODES_MAX], *n;
	size_t			 order[POOL_NODES_MAX], m, nn;

	hcandidates(pc, model, c, nodes, &nn);
	if ((m = pool_http_route(pc->policy, c, nn, order)) == 0) {
		snprintf(why, whysz, "no node of %s is up%s%s", pc->name,
		    model && *model ? " with model " : "",
		    model && *model ? model : "");
		return NULL;
	}
	n = nodes[order[0]];
	snprintf(why, whysz, "%s, %s%s", node_state_name(n->state),
	    c[order[0]].loaded ? "model loaded, " : "",
	    pc->policy == POOL_LEAST_LOAD ? "lowest load_score" :
	    pc->policy == POOL_LEAST_OUTSTANDING ? "fewest requests in flight" :
	    "first in the pool's order");
	return n;
}

/* ---------------------------------------------------------- upstreams */

static void
hup_free(struct hup *u)
{
	LIST_REMOVE(u, entry);
	if (u->ev_idle != NULL)
		event_free(u->ev_idle);
	if (u->bev != NULL)
		bufferevent_free(u->bev);
	free(u);
}

/*
 * Let go of U: an SSH channel still opening keeps it until the forward
 * answers (the handback holds U); anything else goes now.
 */
static void
hup_drop(struct hup *u)
{
	u->c = NULL;
	if (u->opening) {
		/* Our end closed: the forward sees EOF once it opens. */
		bufferevent_free(u->bev);
		u->bev = NULL;
		return;
	}
	hup_free(u);
}

static void
hup_idle_expired(evutil_socket_t fd, short what, void *arg)
{
	hup_free(arg);
}

/* An idle connection that speaks or closes is of no more use. */
static void
hup_idle_event(struct bufferevent *bev, short what, void *arg)
{
	hup_free(arg);
}

static void
hup_idle_read(struct bufferevent *bev, void *arg)
{
	hup_free(arg);
}

/* Keep U for the next request to its node, if room. */
static void
hup_park(struct hup *u)
{
	struct hup	*o;
	struct timeval	 tv = { HTTP_IDLE_S, 0 };
	unsigned	 n = 0;

	u->c = NULL;
	LIST_FOREACH(o, &ups, entry)
		if (o->idle && strcmp(o->node, u->node) == 0)
			n++;
	if (n >= HTTP_IDLE_MAX || (u->ev_idle == NULL &&
	    (u->ev_idle = evtimer_new(td->base, hup_idle_expired, u)) == NULL)) {
		hup_free(u);
		return;
	}
	u->idle = 1;
	bufferevent_setcb(u->bev, hup_idle_read, NULL, hup_idle_event, u);
	bufferevent_enable(u->bev, EV_READ);
	evtimer_add(u->ev_idle, &tv);
}

static void	hu_read(struct bufferevent *, void *);
static void	hu_write(struct bufferevent *, void *);
static void	hu_event(struct bufferevent *, short, void *);
static void	hc_up_ready(struct hclient *);

/* forward_attach() says whether the channel opened. */
static void
hup_handback(evutil_socket_t fd, void *arg)
{
	struct hup	*u = arg;
	struct hclient	*c = u->c;

	u->opening = 0;
	if (fd != -1) {
		close(fd);
		if (c != NULL)
			c->up = NULL;
		hup_free(u);
		if (c != NULL)
			hc_attempt_failed(c, HE_REFUSED, "channel refused");
		return;
	}
	if (c == NULL) {
		hup_free(u);
		return;
	}
	u->ready = 1;
	hc_up_ready(c);
}

/*
 * Told when half the bound is written, not only when all is: a body keeps
 * flowing instead of stopping for the buffer to run dry each time.
 */
static void
hup_watermark(struct hup *u)
{
	bufferevent_setwatermark(u->bev, EV_WRITE, HTTP_BUF_MAX / 2, 0);
}

/* Give C a connection to node N: a kept one, or a new one.  0 or -1. */
static int
hup_open(struct hclient *c, struct node *n)
{
	struct hup	*u;
	struct forward	*f = NULL;
	char		 host[CONFIG_HOST_MAX];
	int		 port, sp[2];

	LIST_FOREACH(u, &ups, entry)
		if (u->idle && strcmp(u->node, n->conf->name) == 0)
			break;
	if (u != NULL) {
		evtimer_del(u->ev_idle);
		u->idle = 0;
		u->reused = 1;
		u->c = c;
		c->up = u;
		bufferevent_setcb(u->bev, hu_read, hu_write, hu_event, u);
		hc_up_ready(c);
		return 0;
	}
	if (pool_node_endpoint(n, &f, host, sizeof(host), &port) == -1)
		return -1;
	if ((u = calloc(1, sizeof(*u))) == NULL)
		return -1;
	snprintf(u->node, sizeof(u->node), "%s", n->conf->name);
	u->c = c;
	if (f != NULL) {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0, sp) == -1) {
			free(u);
			return -1;
		}
		if ((u->bev = bufferevent_socket_new(td->base, sp[0],
		    BEV_OPT_CLOSE_ON_FREE)) == NULL) {
			close(sp[0]);
			close(sp[1]);
			free(u);
			return -1;
		}
		u->forwarded = 1;
		u->opening = 1;
		bufferevent_setcb(u->bev, hu_read, hu_write, hu_event, u);
		hup_watermark(u);
		LIST_INSERT_HEAD(&ups, u, entry);
		c->up = u;
		/* May call hup_handback() before it returns. */
		if (forward_attach(f, sp[1], (struct sockaddr *)&c->peer,
		    hup_handback, u) == -1) {
			close(sp[1]);
			c->up = NULL;
			hup_free(u);
			return -1;
		}
		return 0;
	}
	if ((u->bev = bufferevent_socket_new(td->base, -1,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		free(u);
		return -1;
	}
	bufferevent_setcb(u->bev, hu_read, hu_write, hu_event, u);
	hup_watermark(u);
	LIST_INSERT_HEAD(&ups, u, entry);
	c->up = u;
	if (bufferevent_socket_connect_hostname(u->bev, td->dns, AF_UNSPEC,
	    host, port) == -1) {
		c->up = NULL;
		hup_free(u);
		return -1;
	}
	return 0;
}

/* --------------------------------------------------- request parsing */

static int
rq_url(http_parser *p, const char *at, size_t len)
{
	struct hclient	*c = p->data;
	size_t		 n = sizeof(c->url) - 1 - c->urllen;

	if (len < n)
		n = len;
	memcpy(c->url + c->urllen, at, n);
	c->urllen += n;
	c->url[c->urllen] = '\0';
	return 0;
}

static void
rq_header_end(struct hclient *c)
{
	if (c->hflen == 6 && strcasecmp(c->hfield, "expect") == 0 &&
	    strcasecmp(c->hvalue, "100-continue") == 0)
		c->expect_continue = 1;
	c->hflen = c->hvlen = 0;
	c->hfield[0] = c->hvalue[0] = '\0';
}

static int
rq_header_field(http_parser *p, const char *at, size_t len)
{
	struct hclient	*c = p->data;
	size_t		 n;

	if (c->hin_value) {
		rq_header_end(c);
		c->hin_value = 0;
	}
	n = sizeof(c->hfield) - 1 - c->hflen;
	if (len < n)
		n = len;
	memcpy(c->hfield + c->hflen, at, n);
	c->hflen += n;
	c->hfield[c->hflen] = '\0';
	return 0;
}

static int
rq_header_value(http_parser *p, const char *at, size_t len)
{
	struct hclient	*c = p->data;
	size_t		 n = sizeof(c->hvalue) - 1 - c->hvlen;

	c->hin_value = 1;
	if (len < n)
		n = len;
	memcpy(c->hvalue + c->hvlen, at, n);
	c->hvlen += n;
	c->hvalue[c->hvlen] = '\0';
	return 0;
}

static int
rq_headers_complete(http_parser *p)
{
	struct hclient	*c = p->data;

	if (c->hin_value)
		rq_header_end(c);
	c->hin_value = 0;
	c->head_done = 1;
	c->method = p->method;
	c->req_keepalive = http_should_keep_alive(p);
	c->want_model = p->method == HTTP_POST &&
	    pool_http_path_has_model(c->url, c->urllen);
	/* Stop here: the route may be chosen before the body is read. */
	http_parser_pause(p, 1);
	return 0;
}

static int
rq_body(http_parser *p, const char *at, size_t len)
{
	struct hclient	*c = p->data;
	size_t		 have;

	if (c->want_model && !c->scan_done && (have =
	    evbuffer_get_length(c->scan)) < POOL_HTTP_SCAN_MAX)
		evbuffer_add(c->scan, at, len < POOL_HTTP_SCAN_MAX - have ?
		    len : POOL_HTTP_SCAN_MAX - have);
	return 0;
}

static int
rq_message_complete(http_parser *p)
{
	struct hclient	*c = p->data;

	c->req_done = 1;
	/* The next request waits, unparsed, until this one is answered. */
	http_parser_pause(p, 1);
	return 0;
}

/* -------------------------------------------------- response parsing */

static int
rs_headers_complete(http_parser *p)
{
	struct hclient	*c = p->data;
	unsigned	 st = p->status_code;

	if (st >= 100 && st < 200)
		return 0;
	if ((st == 502 || st == 503) && c->replayable &&
	    c->attempts < c->retries && c->next < c->ncand) {
		c->retry_status = (int)st;
		http_parser_pause(p, 1);
		return 0;
	}
	c->committed = 1;
	return c->method == HTTP_HEAD ? 1 : 0;
}

static int
rs_message_complete(http_parser *p)
{
	struct hclient	*c = p->data;

	if (p->status_code >= 100 && p->status_code < 200)
		c->interim = 1;
	else {
		c->resp_done = 1;
		c->resp_keepalive = http_should_keep_alive(p);
	}
	http_parser_pause(p, 1);
	return 0;
}

static void
hsettings_init(void)
{
	static int	done;

	if (done)
		return;
	http_parser_settings_init(&req_settings);
	req_settings.on_url = rq_url;
	req_settings.on_header_field = rq_header_field;
	req_settings.on_header_value = rq_header_value;
	req_settings.on_headers_complete = rq_headers_complete;
	req_settings.on_body = rq_body;
	req_settings.on_message_complete = rq_message_complete;
	http_parser_settings_init(&resp_settings);
	resp_settings.on_headers_complete = rs_headers_complete;
	resp_settings.on_message_complete = rs_message_complete;
	done = 1;
}

/* ------------------------------------------------------------ clients */

/* A client's four buffers; 0, or -1 with none left allocated. */
static int
hc_bufs_new(struct hclient *c)
{
	c->held = evbuffer_new();
	c->toup = evbuffer_new();
	c->scan = evbuffer_new();
	c->rbuf = evbuffer_new();
	if (c->held != NULL && c->toup != NULL && c->scan != NULL &&
	    c->rbuf != NULL)
		return 0;
	hc_bufs_free(c);
	return -1;
}

static void
hc_bufs_free(struct hclient *c)
{
	if (c->held != NULL)
		evbuffer_free(c->held);
	if (c->toup != NULL)
		evbuffer_free(c->toup);
	if (c->scan != NULL)
		evbuffer_free(c->scan);
	if (c->rbuf != NULL)
		evbuffer_free(c->rbuf);
	c->held = c->toup = c->scan = c->rbuf = NULL;
}

static void
hc_request_reset(struct hclient *c)
{
	c->urllen = 0;
	c->url[0] = '\0';
	c->hflen = c->hvlen = 0;
	c->hin_value = 0;
	c->expect_continue = c->sent_continue = 0;
	c->head_done = c->req_done = c->want_model = c->routed = 0;
	c->replayable = 1;
	evbuffer_drain(c->held, evbuffer_get_length(c->held));
	evbuffer_drain(c->toup, evbuffer_get_length(c->toup));
	evbuffer_drain(c->scan, evbuffer_get_length(c->scan));
	c->scan_next = c->scan_resume = 0;
	c->scan_done = 0;
	c->model[0] = '\0';
	c->ncand = c->next = 0;
	c->attempts = c->stale_retry = 0;
	evbuffer_drain(c->rbuf, evbuffer_get_length(c->rbuf));
	c->got_byte = c->committed = c->retry_status = 0;
	c->interim = c->resp_done = c->resp_keepalive = 0;
	c->t_sent = 0;
	http_parser_init(&c->sp, HTTP_RESPONSE);
	c->sp.data = c;
}

static void
hc_free(struct hclient *c)
{
	LIST_REMOVE(c, entry);
	if (c->up != NULL)
		hup_drop(c->up);
	if (c->ev_ttfb != NULL)
		event_free(c->ev_ttfb);
	if (c->ev_free != NULL)
		event_free(c->ev_free);
	bufferevent_free(c->bev);
	hc_bufs_free(c);
	free(c);
}

/*
 * Write what is queued now, as forwards do: a bufferevent would wait for a
 * loop turn and an epoll_ctl() pair first, on every hop of every request.
 * What the socket does not take goes out on the bufferevent's write event;
 * a failure is the bufferevent's to find.
 */
static void
hflush(struct bufferevent *bev)
{
	struct evbuffer	*out = bufferevent_get_output(bev);

	if (evbuffer_get_length(out) > 0)
		(void)evbuffer_write(out, bufferevent_getfd(bev));
}

static void
hc_free_cb(evutil_socket_t fd, short what, void *arg)
{
	hc_free(arg);
}

/*
 * Close once what is queued for the client is written.  Never frees at
 * once: the callers up the stack still look at C (c->closing).
 */
static void
hc_close(struct hclient *c)
{
	c->closing = 1;
	if (c->up != NULL) {
		hup_drop(c->up);
		c->up = NULL;
	}
	evtimer_del(c->ev_ttfb);
	bufferevent_disable(c->bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		event_active(c->ev_free, EV_TIMEOUT, 1);
}

/* Our own answer (no node's byte reached the client yet). */
static void
hc_reply(struct hclient *c, int status, const char *reason, json_t *body)
{
	struct evbuffer	*out = bufferevent_get_output(c->bev);
	char		*s;
	int		 keep = c->req_done && c->req_keepalive;

	s = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	/* A HEAD's answer has the length of the body it leaves out. */
	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\nContent-Type: "
	    "application/json; charset=utf-8\r\nContent-Length: %zu\r\n"
	    "Connection: %s\r\n\r\n%s", status, reason,
	    s != NULL ? strlen(s) : 2, keep ? "keep-alive" : "close",
	    c->req_done && c->method == HTTP_HEAD ? "" : s != NULL ? s : "{}");
	free(s);
	hflush(c->bev);
	if (c->up != NULL) {
		hup_drop(c->up);
		c->up = NULL;
	}
	evtimer_del(c->ev_ttfb);
	if (!keep) {
		hc_close(c);
		return;
	}
	hc_request_reset(c);
	hc_pump(c);
}

static json_t * __attribute__((format(printf, 1, 2)))
hjson_error(const char *fmt, ...)
{
	char	msg[512];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return json_pack("{s:s}", "error", msg);
}

static void
hc_route(struct hclient *c)
{
	const struct pool_conf	*pc = hconf(c->pool);
	struct pool_http_cand	 cand[POOL_NODES_MAX];
	struct node		*nodes[POOL_NODES_MAX];
	size_t			 order[POOL_NODES_MAX], m, n, i;
	json_t			*o, *arr;

	c->routed = 1;
	hcount(c->pool, NULL, -1, 0, 1);
	if (pc == NULL) {
		hc_reply(c, 503, "Service Unavailable",
		    hjson_error("pool %s is gone", c->pool));
		return;
	}
	c->retries = pc->retries;
	c->first_byte_ms = pc->first_byte_timeout;
	hcandidates(pc, c->model, cand, nodes, &n);
	if ((m = pool_http_route(pc->policy, cand, n, order)) == 0) {
		arr = json_array();
		for (i = 0; i < n; i++)
			json_array_append_new(arr, json_pack("{s:s, s:s, s:b, "
			    "s:b}", "name", pc->nodes[i], "state",
			    node_state_name(cand[i].state), "reachable",
			    cand[i].reachable, "has_model", cand[i].has_model &&
			    c->model[0] != '\0'));
		if (c->model[0] != '\0') {
			hcount(c->pool, NULL, HE_NO_MODEL, 0, 0);
			o = hjson_error("no healthy node of pool %s lists model '%s'",
			    c->pool, c->model);
			json_object_set_new(o, "model", json_string(c->model));
		} else {
			hcount(c->pool, NULL, HE_NO_NODE, 0, 0);
			o = hjson_error("no healthy node in pool %s", c->pool);
		}
		json_object_set_new(o, "pool", json_string(c->pool));
		json_object_set_new(o, "nodes", arr);
		log_entry(LOG_WARNING, NULL, "pool-refused", c->model[0] ?
		    "model not listed" : "no healthy node", NULL,
		    "pool %s: %s%s%s; answered %d", c->pool, c->model[0] ?
		    "no healthy node lists model " : "no healthy node",
		    c->model, "", c->model[0] ? 404 : 503);
		if (c->model[0] != '\0')
			hc_reply(c, 404, "Not Found", o);
		else
			hc_reply(c, 503, "Service Unavailable", o);
		return;
	}
	for (i = 0; i < m; i++)
		snprintf(c->cand[i], HTTP_NAME_MAX, "%s", pc->nodes[order[i]]);
	c->ncand = m;
	c->next = 0;
	hc_attempt(c);
}

/* The next candidate node, or our 502 when none is left. */
static void
hc_attempt(struct hclient *c)
{
	struct node	*n;
	char		 msg[256];

	while (c->next < c->ncand) {
		c->cur = c->next++;
		if ((n = node_find(c->cand[c->cur])) == NULL)
			continue;
		hcount(c->pool, c->cand[c->cur], -1, 0, 1);
		/* May fail over to the next one before it returns. */
		if (hup_open(c, n) == 0)
			return;
		/* Moved on before a byte was sent: a failover too. */
		hcount(c->pool, c->cand[c->cur], HE_REFUSED,
		    c->next < c->ncand, 0);
	}
	snprintf(msg, sizeof(msg), "pool %s: no node could take the request",
	    c->pool);
	hc_reply(c, 502, "Bad Gateway", json_pack("{s:s}", "error", msg));
}

static void
hc_ttfb_expired(evutil_socket_t fd, short what, void *arg)
{
	struct hclient	*c = arg;
	char		 why[64];

	snprintf(why, sizeof(why), "no answer within %llu ms",
	    (unsigned long long)c->first_byte_ms);
	hc_attempt_failed(c, HE_TIMEOUT, why);
}

/*
 * The wait for the first byte starts once the whole request is handed to
 * the node: a big body may take long to upload, and that is no silence.
 */
static void
hc_arm_ttfb(struct hclient *c)
{
	struct timeval	 tv;

	if (c->got_byte || c->t_sent != 0 || !c->req_done || c->up == NULL ||
	    !c->up->ready || evbuffer_get_length(c->toup) > 0)
		return;
	tv.tv_sec = (time_t)(c->first_byte_ms / 1000);
	tv.tv_usec = (suseconds_t)(c->first_byte_ms % 1000) * 1000;
	c->t_sent = now_us();
	evtimer_add(c->ev_ttfb, &tv);
}

static void
hc_up_ready(struct hclient *c)
{
	c->up->ready = 1;
	bufferevent_enable(c->up->bev, EV_READ | EV_WRITE);
	evbuffer_add_buffer(bufferevent_get_output(c->up->bev), c->toup);
	c->t_sent = 0;
	hc_arm_ttfb(c);
	hc_pump(c);
}

/*
 * The node failed before its first byte reached the client.  Try the next
 * (a kept connection that the node had closed meanwhile: the same node, on
 * a new one, once), or answer 502/504 ourselves.
 */
static void
hc_attempt_failed(struct hclient *c, enum herr kind, const char *why)
{
	struct hup	*u = c->up;
	const char	*node = c->cand[c->cur];
	int		 stale = u != NULL && u->reused && !c->got_byte &&
	    (kind == HE_RESET) && !c->stale_retry;
	struct evbuffer_ptr pos;
	struct evbuffer_iovec v;
	char		 msg[512];

	evtimer_del(c->ev_ttfb);
	if (u != NULL) {
		hup_drop(u);
		c->up = NULL;
	}
	evbuffer_drain(c->rbuf, evbuffer_get_length(c->rbuf));
	c->got_byte = c->committed = c->retry_status = 0;
	c->interim = c->resp_done = 0;
	c->t_sent = 0;
	http_parser_init(&c->sp, HTTP_RESPONSE);
	c->sp.data = c;
	if (c->replayable) {
		/* Everything read so far goes to the next one. */
		evbuffer_drain(c->toup, evbuffer_get_length(c->toup));
		evbuffer_ptr_set(c->held, &pos, 0, EVBUFFER_PTR_SET);
		while (evbuffer_peek(c->held, -1, &pos, &v, 1) == 1 &&
		    v.iov_len > 0) {
			evbuffer_add(c->toup, v.iov_base, v.iov_len);
			if (evbuffer_ptr_set(c->held, &pos, v.iov_len,
			    EVBUFFER_PTR_ADD) == -1)
				break;
		}
	}
	if (stale && c->replayable) {
		c->stale_retry = 1;
		c->next = c->cur;
		hc_attempt(c);
		return;
	}
	hcount(c->pool, node, kind, 0, 0);
	if (c->replayable && c->attempts < c->retries &&
	    c->next < c->ncand) {
		c->attempts++;
		hcount(c->pool, node, -1, 1, 0);
		log_entry(LOG_INFO, node, "pool-failover", why, NULL,
		    "pool %s: %s: %s; request sent to the next node", c->pool,
		    node, why);
		hc_attempt(c);
		return;
	}
	log_entry(LOG_WARNING, node, "pool-failed", why, NULL,
	    "pool %s: %s: %s; %s", c->pool, node, why, !c->replayable ?
	    "the request is too large to send again" : "no retry left");
	snprintf(msg, sizeof(msg), "pool %s: node %s: %s", c->pool, node, why);
	if (kind == HE_TIMEOUT)
		hc_reply(c, 504, "Gateway Timeout",
		    json_pack("{s:s}", "error", msg));
	else
		hc_reply(c, 502, "Bad Gateway",
		    json_pack("{s:s}", "error", msg));
}

/* The answer is complete: keep what can be kept, go on to the next. */
static void
hc_exchange_done(struct hclient *c)
{
	struct hup	*u = c->up;

	c->up = NULL;
	evtimer_del(c->ev_ttfb);
	if (u != NULL) {
		/* Bytes past the answer: nothing to reuse. */
		if (c->resp_keepalive && c->req_done &&
		    evbuffer_get_length(bufferevent_get_output(u->bev)) == 0 &&
		    evbuffer_get_length(bufferevent_get_input(u->bev)) == 0)
			hup_park(u);
		else
			hup_drop(u);
	}
	/*
	 * An answer before its request ended leaves the rest unread.  A
	 * client that has shut its side may still have requests in line.
	 */
	if (!c->req_done || !c->req_keepalive || !c->resp_keepalive ||
	    (c->client_eof &&
	    evbuffer_get_length(bufferevent_get_input(c->bev)) == 0)) {
		hc_close(c);
		return;
	}
	hc_request_reset(c);
	hc_pump(c);
}

/* Decide on the model once enough of the body is here. */
static int
hc_scan(struct hclient *c)
{
	size_t	len = evbuffer_get_length(c->scan);
	int	rc;

	if (c->scan_done)
		return 1;
	if (!c->req_done && len < POOL_HTTP_SCAN_MAX &&
	    (len == 0 || len < c->scan_next))
		return 0;
	rc = pool_http_body_model((const char *)evbuffer_pullup(c->scan, -1),
	    len, c->req_done || len >= POOL_HTTP_SCAN_MAX, &c->scan_resume,
	    c->model, sizeof(c->model));
	if (rc == 0) {
		/* Geometric: a big member is read again O(log n) times. */
		c->scan_next = len * 2;
		return 0;
	}
	if (rc != 1)
		c->model[0] = '\0';
	c->scan_done = 1;
	evbuffer_drain(c->scan, len);
	return 1;
}

/* Where request bytes go now: the node, or a queue until it is ready. */
static struct evbuffer *
hc_sink(struct hclient *c)
{
	if (c->up != NULL && c->up->ready && evbuffer_get_length(c->toup) == 0)
		return bufferevent_get_output(c->up->bev);
	return c->toup;
}

/*
 * Read the client's bytes through the request parser as far as the
 * current request allows, route it when its head (and model) is known.
 */
static void
hc_pump(struct hclient *c)
{
	struct evbuffer		*in = bufferevent_get_input(c->bev), *sink;
	struct evbuffer_iovec	 v;
	size_t			 parsed;
	enum http_errno		 err;
	char			 msg[256];

	while (!c->closing) {
		if (c->up != NULL && c->up->ready &&
		    evbuffer_get_length(c->toup) > 0)
			evbuffer_add_buffer(bufferevent_get_output(c->up->bev),
			    c->toup);
		/*
		 * A client that does not read its answers gets no more of
		 * them: our own (404, 503...) are made right here, and a
		 * pipeline of requests would pile them up without end.
		 * hc_write() goes on when the client has taken half.
		 */
		if (!c->routed && evbuffer_get_length(
		    bufferevent_get_output(c->bev)) >= HTTP_BUF_MAX)
			break;
		if (c->head_done && !c->routed && (!c->want_model ||
		    hc_scan(c))) {
			hc_route(c);
			continue;
		}
		if (c->req_done) {
			hc_arm_ttfb(c);
			break;
		}
		/*
		 * The model is in the body, which a client that asked for
		 * 100-continue sends only when told to.
		 */
		if (c->head_done && c->want_model && !c->routed &&
		    c->expect_continue && !c->sent_continue) {
			c->sent_continue = 1;
			evbuffer_add_printf(bufferevent_get_output(c->bev),
			    "HTTP/1.1 100 Continue\r\n\r\n");
		}
		/*
		 * Bytes wait for a node up to the bound; while the model is
		 * looked for, up to as much body as is scanned for it too, or
		 * a model past the bound would never be found (nor the
		 * request ever routed).
		 */
		sink = hc_sink(c);
		if (evbuffer_get_length(sink) >= HTTP_BUF_MAX +
		    (!c->routed && c->want_model && !c->scan_done ?
		    POOL_HTTP_SCAN_MAX : 0))
			break;
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 || v.iov_len == 0) {
			/* Shut by the client: what it has not sent, never. */
			if (c->client_eof && !c->req_done) {
				hc_close(c);
				return;
			}
			break;
		}
		parsed = http_parser_execute(&c->rp, &req_settings,
		    v.iov_base, v.iov_len);
		err = HTTP_PARSER_ERRNO(&c->rp);
		if (c->replayable && parsed > 0) {
			evbuffer_add(c->held, v.iov_base, parsed);
			if (evbuffer_get_length(c->held) > POOL_HTTP_REPLAY_MAX) {
				c->replayable = 0;
				evbuffer_drain(c->held,
				    evbuffer_get_length(c->held));
			}
		}
		evbuffer_remove_buffer(in, sink, parsed);
		/* CONNECT or an upgrade shows when the head ends (paused). */
		if (err == HPE_PAUSED && !c->rp.upgrade)
			http_parser_pause(&c->rp, 0);
		else if ((err != HPE_OK && err != HPE_PAUSED) ||
		    c->rp.upgrade) {
			snprintf(msg, sizeof(msg), "bad request: %s",
			    c->rp.upgrade ? "protocol upgrades are not "
			    "carried" : http_errno_description(err));
			hcount(c->pool, NULL, HE_BAD_REQUEST, 0, 1);
			/* What follows cannot be framed: close after. */
			c->req_done = 0;
			if (!c->committed && !c->got_byte)
				hc_reply(c, c->rp.upgrade ? 501 : 400,
				    c->rp.upgrade ? "Not Implemented" :
				    "Bad Request", json_pack("{s:s}", "error",
				    msg));
			else
				hc_close(c);
			return;
		}
	}
	if (c->up != NULL && c->up->ready)
		hflush(c->up->bev);
	/* Input waits in the bufferevent; stop reading past a bound. */
	if (!c->closing) {
		if (evbuffer_get_length(in) >= HTTP_BUF_MAX)
			bufferevent_disable(c->bev, EV_READ);
		else if (!c->client_eof)
			bufferevent_enable(c->bev, EV_READ);
	}
}

/*
 * Bytes from the node: through the response parser to the client.
 * Returns -1 when U is no longer C's node connection (the exchange ended or
 * moved on): the caller touches neither.
 */
static int
hu_drain(struct bufferevent *bev, void *arg)
{
	struct hup		*u = arg;
	struct hclient		*c = u->c;
	struct evbuffer		*in = bufferevent_get_input(bev);
	struct evbuffer		*out;
	struct evbuffer_iovec	 v;
	size_t			 parsed;
	enum http_errno		 err;
	char			 why[128];

	if (c == NULL) {
		hup_free(u);
		return -1;
	}
	out = bufferevent_get_output(c->bev);
	while (evbuffer_peek(in, -1, NULL, &v, 1) == 1 && v.iov_len > 0) {
		if (evbuffer_get_length(out) >= HTTP_BUF_MAX) {
			bufferevent_disable(bev, EV_READ);
			return 0;
		}
		/*
		 * first_byte_timeout runs on until a final answer's head is
		 * whole (committed, below): a 100 Continue, or half a head,
		 * and then silence is a node that does not answer.
		 */
		c->got_byte = 1;
		parsed = http_parser_execute(&c->sp, &resp_settings,
		    v.iov_base, v.iov_len);
		err = HTTP_PARSER_ERRNO(&c->sp);
		if (c->committed)	/* a final head, whole */
			evtimer_del(c->ev_ttfb);
		evbuffer_remove_buffer(in, c->rbuf, parsed);
		if (c->committed || c->interim) {
			if (c->committed && evbuffer_get_length(c->rbuf) > 0 &&
			    c->t_sent != 0) {
				hcount_ttfb(c->pool, u->node,
				    (double)(now_us() - c->t_sent) / 1e6);
				c->t_sent = 0;
			}
			evbuffer_add_buffer(out, c->rbuf);
			hflush(c->bev);
			c->interim = 0;
		}
		if (err == HPE_PAUSED) {
			http_parser_pause(&c->sp, 0);
			if (c->retry_status) {
				snprintf(why, sizeof(why), "HTTP %d",
				    c->retry_status);
				hc_attempt_failed(c, HE_UNAVAILABLE, why);
				return -1;
			}
			if (c->resp_done) {
				hc_exchange_done(c);
				return -1;
			}
		} else if (err != HPE_OK) {
			snprintf(why, sizeof(why), "bad answer: %s",
			    http_errno_description(err));
			if (c->committed) {
				hcount(c->pool, u->node, HE_CUT, 0, 0);
				hc_close(c);
			} else
				hc_attempt_failed(c, HE_RESET, why);
			return -1;
		}
	}
	bufferevent_enable(bev, EV_READ);
	return 0;
}

static void
hu_read(struct bufferevent *bev, void *arg)
{
	hread_more(bev);
	(void)hu_drain(bev, arg);
}

static void
hu_write(struct bufferevent *bev, void *arg)
{
	struct hup	*u = arg;

	if (u->c != NULL)
		hc_pump(u->c);
}

static void
hu_event(struct bufferevent *bev, short what, void *arg)
{
	struct hup	*u = arg;
	struct hclient	*c = u->c;
	char		 why[128];

	if (c == NULL) {
		hup_free(u);
		return;
	}
	if (what & BEV_EVENT_CONNECTED) {
		hc_up_ready(c);
		return;
	}
	if (!u->ready) {
		snprintf(why, sizeof(why), "connect: %s",
		    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		hc_attempt_failed(c, HE_REFUSED, why);
		return;
	}
	/* Whatever came before the close first. */
	if (hu_drain(bev, u) == -1 || c->closing)
		return;
	if (!c->got_byte) {
		hc_attempt_failed(c, HE_RESET, (what & BEV_EVENT_ERROR) ?
		    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()) :
		    "closed before an answer");
		return;
	}
	/* An answer that ends with the connection. */
	(void)http_parser_execute(&c->sp, &resp_settings, NULL, 0);
	if (c->resp_done) {
		c->resp_keepalive = 0;
		evbuffer_add_buffer(bufferevent_get_output(c->bev), c->rbuf);
		hc_exchange_done(c);
		return;
	}
	if (!c->committed) {
		hc_attempt_failed(c, HE_RESET, "closed within the answer's head");
		return;
	}
	hcount(c->pool, u->node, HE_CUT, 0, 0);
	log_entry(LOG_INFO, u->node, NULL, NULL, NULL,
	    "pool %s: %s closed in the middle of an answer; client closed",
	    c->pool, u->node);
	hc_close(c);
}

/*
 * libevent 2.1's bufferevent reads at most 4 KiB a loop turn (EVBUFFER_MAX_READ):
 * a big body would cost a turn per 4 KiB.  Take what the socket holds now, up
 * to the bound; EOF and errors are left for the bufferevent to find (the
 * socket stays readable).
 */
static void
hread_more(struct bufferevent *bev)
{
	struct evbuffer		*in = bufferevent_get_input(bev);
	struct evbuffer_iovec	 v[2];
	struct iovec		 iov[2];
	size_t			 have, room, left;
	ssize_t			 r;
	int			 i, nv;

	while ((have = evbuffer_get_length(in)) < HTTP_BUF_MAX) {
		room = HTTP_BUF_MAX - have;
		if ((nv = evbuffer_reserve_space(in, (ev_ssize_t)room, v,
		    2)) <= 0)
			return;
		for (i = 0, left = room; i < nv; i++) {
			if (v[i].iov_len > left)
				v[i].iov_len = left;
			left -= v[i].iov_len;
			iov[i].iov_base = v[i].iov_base;
			iov[i].iov_len = v[i].iov_len;
		}
		if ((r = readv(bufferevent_getfd(bev), iov, nv)) <= 0)
			return;
		for (i = 0, left = (size_t)r; i < nv && left > 0; i++) {
			if (v[i].iov_len > left)
				v[i].iov_len = left;
			left -= v[i].iov_len;
		}
		if (evbuffer_commit_space(in, v, i) == -1 ||
		    (size_t)r < room)
			return;
	}
}

static void
hc_read(struct bufferevent *bev, void *arg)
{
	hread_more(bev);
	hc_pump(arg);
}

static void
hc_write(struct bufferevent *bev, void *arg)
{
	struct hclient	*c = arg;

	if (c->closing) {
		if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
			hc_free(c);
		return;
	}
	/* Room again for the node's answer, or for the next request's. */
	if (c->up != NULL && c->up->ready)
		(void)hu_drain(c->up->bev, c->up);
	else if (!c->routed)
		hc_pump(c);
}

static void
hc_event(struct bufferevent *bev, short what, void *arg)
{
	struct hclient	*c = arg;

	if ((what & BEV_EVENT_TIMEOUT) && (what & BEV_EVENT_READING)) {
		/* Idle between requests, or a head that never ends. */
		if (!c->routed || c->closing) {
			hc_free(c);
			return;
		}
		bufferevent_enable(bev, EV_READ);
		return;
	}
	if (what & BEV_EVENT_EOF) {
		c->client_eof = 1;
		/* A request not read in full cannot be carried. */
		if (!c->req_done || c->closing) {
			hc_free(c);
			return;
		}
		return;
	}
	hc_free(c);
}

void
pool_http_accept(const struct pool_conf *pc, evutil_socket_t fd,
    const struct sockaddr *sa, int salen)
{
	struct hclient	*c;
	struct timeval	 tv = { HTTP_CLIENT_IDLE_S, 0 };

	hsettings_init();
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		close(fd);
		return;
	}
	snprintf(c->pool, sizeof(c->pool), "%s", pc->name);
	if ((size_t)salen <= sizeof(c->peer))
		memcpy(&c->peer, sa, salen);
	c->bev = bufferevent_socket_new(td->base, fd, BEV_OPT_CLOSE_ON_FREE);
	c->ev_ttfb = evtimer_new(td->base, hc_ttfb_expired, c);
	c->ev_free = event_new(td->base, -1, 0, hc_free_cb, c);
	if (hc_bufs_new(c) == -1 || c->bev == NULL || c->ev_ttfb == NULL ||
	    c->ev_free == NULL) {
		if (c->bev != NULL)
			bufferevent_free(c->bev);
		else
			close(fd);
		hc_bufs_free(c);
		if (c->ev_ttfb != NULL)
			event_free(c->ev_ttfb);
		if (c->ev_free != NULL)
			event_free(c->ev_free);
		free(c);
		return;
	}
	LIST_INSERT_HEAD(&clients, c, entry);
	http_parser_init(&c->rp, HTTP_REQUEST);
	c->rp.data = c;
	hc_request_reset(c);
	bufferevent_setcb(c->bev, hc_read, hc_write, hc_event, c);
	bufferevent_setwatermark(c->bev, EV_WRITE, HTTP_BUF_MAX / 2, 0);
	bufferevent_set_timeouts(c->bev, &tv, NULL);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

void
pool_http_free_all(void)
{
	struct hclient	*c;
	struct hup	*u;
	struct hpool	*hp;

	while ((c = LIST_FIRST(&clients)) != NULL)
		hc_free(c);
	while ((u = LIST_FIRST(&ups)) != NULL)
		hup_free(u);
	while ((hp = LIST_FIRST(&hpools)) != NULL) {
		LIST_REMOVE(hp, entry);
		free(hp);
	}
}

/* ------------------------------------------------------------- replay */

static uint64_t
hhash(uint64_t h, const void *p, size_t len)
{
	const unsigned char	*b = p;

	while (len-- > 0)
		h = (h ^ *b++) * 1099511628211ULL;	/* FNV-1a */
	return h;
}

static void
replay_note(struct hclient *c, int response, struct pool_http_seen *seen)
{
	int	v = response ? (int)c->sp.status_code : c->method;

	seen->hash = hhash(seen->hash, &v, sizeof(v));
	if (!response) {
		seen->hash = hhash(seen->hash, c->url, c->urllen);
		seen->hash = hhash(seen->hash, c->model, strlen(c->model) + 1);
		seen->with_model += c->model[0] != '\0';
	}
}

void
pool_http_replay(int response, int head, const char *buf, size_t len,
    size_t step, struct pool_http_seen *seen)
{
	struct hclient		*c;
	http_parser		*p;
	const http_parser_settings *set;
	size_t			 off = 0, n, parsed;
	enum http_errno		 err = HPE_OK;

	memset(seen, 0, sizeof(*seen));
	seen->hash = 14695981039346656037ULL;
	hsettings_init();
	if (step == 0 || (c = calloc(1, sizeof(*c))) == NULL)
		return;
	if (hc_bufs_new(c) == -1) {
		free(c);
		return;
	}
	http_parser_init(&c->rp, HTTP_REQUEST);
	c->rp.data = c;
	hc_request_reset(c);
	c->method = head ? HTTP_HEAD : HTTP_GET;
	p = response ? &c->sp : &c->rp;
	set = response ? &resp_settings : &req_settings;
	while (off < len) {
		n = len - off < step ? len - off : step;
		parsed = http_parser_execute(p, set, buf + off, n);
		off += parsed;
		err = HTTP_PARSER_ERRNO(p);
		/* First what the callbacks saw, even before an error. */
		if (response) {
			if (c->committed && !c->routed) {
				c->routed = 1;
				seen->heads++;
			}
			if (c->interim) {
				seen->interim++;
				c->interim = 0;
			}
			if (c->resp_done) {
				seen->messages++;
				replay_note(c, 1, seen);
				c->resp_done = c->committed = c->routed = 0;
			}
		} else {
			if (c->head_done && !c->routed) {
				c->routed = 1;
				seen->heads++;
			}
			if (c->want_model)
				(void)hc_scan(c);
			if (c->req_done) {
				seen->messages++;
				replay_note(c, 0, seen);
				hc_request_reset(c);
			}
		}
		if (err != HPE_OK && err != HPE_PAUSED)
			break;
		/* Paused on the head's last byte: nothing consumed, go on. */
		if (err == HPE_PAUSED)
			http_parser_pause(p, 0);
		else if (parsed == 0 || p->upgrade)
			break;
		err = HPE_OK;
		if (!response && c->rp.upgrade)
			break;
	}
	seen->error = (int)err;
	hc_bufs_free(c);
	free(c);
}
