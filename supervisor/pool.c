#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/listener.h>

#include "forward.h"
#include "listener.h"
#include "log.h"
#include "node.h"
#include "pool.h"
#include "pool_http.h"
#include "probe.h"
#include "tunneld.h"

/* Per direction, as for forwards: a slow reader stops the other side. */
#define RELAY_BUF_MAX	(256 * 1024)

struct pool {
	TAILQ_ENTRY(pool)	 entry;
	struct pool_conf	*conf;		/* owned by the running config */
	struct evconnlistener	*listener;	/* NULL: not bound, see reason */
	struct listener_rest	*rest;		/* when accept() fails */
	char			 reason[256];
	uint64_t		 total;		/* clients handed to a node */
	uint64_t		 failovers;	/* candidates skipped after a failure */
	uint64_t		 refused;	/* clients with no node to go to */
	uint64_t		 per_node[POOL_NODES_MAX];
	LIST_HEAD(, pool_client) pending;	/* still choosing a node */
};
static TAILQ_HEAD(, pool) pools = TAILQ_HEAD_INITIALIZER(pools);

/* A client between accept and the node that takes it. */
struct pool_client {
	LIST_ENTRY(pool_client)	 entry;
	struct pool		*pool;		/* NULL: the pool went away */
	evutil_socket_t		 fd;
	struct sockaddr_storage	 peer;
	size_t			 order[POOL_NODES_MAX];	/* indexes into conf->nodes */
	size_t			 ncand, next;
	size_t			 cur;		/* index being tried */
	struct bufferevent	*up;		/* local node: connect in flight */
	char			*up_node;	/* ... to this node */
};

/* A client relayed to a local node's port (no SSH session to carry it). */
struct pool_relay {
	LIST_ENTRY(pool_relay)	 entry;
	char			*node;		/* for least-load: whose port */
	struct bufferevent	*bev[2];	/* client, upstream */
	unsigned		 eof[2];	/* read side reached EOF */
	unsigned		 shut[2];	/* write side shut */
};

static void	pool_client_next(struct pool_client *);

/* ------------------------------------------------------------ ranking */

size_t
pool_rank(enum pool_policy policy, const struct pool_cand *c, size_t n,
    size_t *order)
{
	enum node_state	 want;
	size_t		 i, j, k, m = 0;

	for (want = NODE_UP; m == 0; want = NODE_DEGRADED) {
		for (i = 0; i < n; i++)
			if (c[i].state == want && c[i].reachable)
				order[m++] = i;
		if (want == NODE_DEGRADED)
			break;
	}
	if (policy == POOL_LEAST_LOAD) {
		/* Insertion sort: stable, so ties keep the listed order. */
		for (i = 1; i < m; i++) {
			k = order[i];
			for (j = i; j > 0 &&
			    c[order[j - 1]].load_score > c[k].load_score; j--)
				order[j] = order[j - 1];
			order[j] = k;
		}
	}
	return m;
}

/* --------------------------------------------------------- endpoints */

/* host and port of the node's Ollama URL; -1 when it has none. */
static int
pool_node_url(const struct node *n, char *host, size_t hostsz, int *port)
{
	struct evhttp_uri	*u;
	const char		*h;
	int			 rc = -1;

	if (n->conf->ollama == NULL ||
	    (u = evhttp_uri_parse(n->conf->ollama)) == NULL)
		return -1;
	if ((h = evhttp_uri_get_host(u)) != NULL && *h != '\0') {
		snprintf(host, hostsz, "%s", h);
		*port = evhttp_uri_get_port(u);
		if (*port == -1)
			*port = 80;
		rc = 0;
	}
	evhttp_uri_free(u);
	return rc;
}

/*
 * The local forward a pool hands N's clients to, without a hop: the one
 * the Ollama URL points at, or, with ollama = none, the first one.
 */
static struct forward *
pool_node_forward(struct node *n)
{
	const struct fwd_conf	*fc;
	char			 host[CONFIG_HOST_MAX];
	size_t			 i;
	int			 port, url;

	if (n->conf->local)
		return NULL;
	url = pool_node_url(n, host, sizeof(host), &port) == 0;
	for (i = 0; i < n->nfwds; i++) {
		fc = n->fwds[i].conf;
		if (fc->kind != FWD_LOCAL)
			continue;
		/* A wildcard listener is reached on loopback too. */
		if (!url || (fc->listen_port == port &&
		    (strcmp(fc->listen_host, host) == 0 ||
		    ((config_host_is_loopback(fc->listen_host) ||
		    strcmp(fc->listen_host, "0.0.0.0") == 0 ||
		    strcmp(fc->listen_host, "::") == 0) &&
		    config_host_is_loopback(host)))))
			return &n->fwds[i];
	}
	return NULL;
}

/*
 * Where a pool sends N's clients: its local forward (see above), else the
 * host:port of its Ollama URL, whatever its `ssh` (ssh = none, or a node
 * whose Ollama the hub reaches some other way, such as the far end of a
 * reverse tunnel).  -1 with WHY when it has neither.
 */
static int
pool_node_addr(struct node *n, char *addr, size_t addrsz, char *why,
    size_t whysz)
{
	struct forward	*f;
	char		 host[CONFIG_HOST_MAX];
	int		 port;

	if ((f = pool_node_forward(n)) != NULL) {
		config_fmt_hostport(addr, addrsz, f->conf->listen_host,
		    f->conf->listen_port);
		return 0;
	}
	if (pool_node_url(n, host, sizeof(host), &port) == 0) {
		config_fmt_hostport(addr, addrsz, host, (uint16_t)port);
		return 0;
	}
	snprintf(why, whysz, "no address: %s and ollama = none",
	    n->conf->local ? "ssh = none" : "no local_forward");
	return -1;
}

static void
pool_candidates(struct pool_conf *pc, struct pool_cand *c, struct node **nodes)
{
	char	 addr[CONFIG_HOST_MAX + 8], why[128];
	size_t	 i;

	for (i = 0; i < pc->nnodes && i < POOL_NODES_MAX; i++) {
		nodes[i] = node_find(pc->nodes[i]);
		memset(&c[i], 0, sizeof(c[i]));
		c[i].state = NODE_STOPPED;
		if (nodes[i] == NULL)
			continue;
		c[i].state = nodes[i]->state;
		c[i].load_score = pool_load_score(nodes[i]);
		c[i].reachable = pool_node_addr(nodes[i], addr,
		    sizeof(addr), why, sizeof(why)) == 0;
	}
}

/* The node's latest good Ollama answer lists MODEL (stale counts: a node
 * that is up again keeps its models until the next probe says otherwise). */
static int
node_has_model(const struct node *n, const char *model)
{
	const struct probe_results	*r = probe_results(n);

	return r != NULL && r->ollama.has_info &&
	    ollama_has_model(&r->ollama.info, model);
}

/* ------------------------------------------------------------- relay */

/* Relays alive, for least-load and for freeing at exit. */
static LIST_HEAD(, pool_relay) relays = LIST_HEAD_INITIALIZER(relays);

static void
relay_free(struct pool_relay *r)
{
	LIST_REMOVE(r, entry);
	bufferevent_free(r->bev[0]);
	bufferevent_free(r->bev[1]);
	free(r->node);
	free(r);
}

/*
 * Clients relayed to local node NODE, or connecting to it: its share of
 * load_score's active connections, which forwards count for SSH nodes
 * from the moment the channel is asked for.  A burst of clients accepted
 * before the first connect completes must not all go to the same node.
 */
unsigned
pool_relays_active(const char *node)
{
	struct pool_relay	*r;
	struct pool_client	*pc;
	struct pool		*p;
	unsigned		 n = 0;

	LIST_FOREACH(r, &relays, entry)
		if (strcmp(r->node, node) == 0)
			n++;
	TAILQ_FOREACH(p, &pools, entry)
		LIST_FOREACH(pc, &p->pending, entry)
			if (pc->up != NULL && pc->up_node != NULL &&
			    strcmp(pc->up_node, node) == 0)
				n++;
	return n;
}

/*
 * Move what side I read to the other side, stop reading I while the other
 * side's output is full, pass EOF on once everything before it is written.
 */
static void
relay_step(struct pool_relay *r)
{
	int	i, o;

	for (i = 0; i < 2; i++) {
		o = !i;
		struct evbuffer *in = bufferevent_get_input(r->bev[i]);
		struct evbuffer *out = bufferevent_get_output(r->bev[o]);

		if (evbuffer_get_length(in) > 0 && !r->shut[o])
			evbuffer_add_buffer(out, in);
		if (evbuffer_get_length(out) >= RELAY_BUF_MAX)
			bufferevent_disable(r->bev[i], EV_READ);
		else if (!r->eof[i])
			bufferevent_enable(r->bev[i], EV_READ);
		if (r->eof[i] && !r->shut[o] && evbuffer_get_length(out) == 0) {
			shutdown(bufferevent_getfd(r->bev[o]), SHUT_WR);
			r->shut[o] = 1;
		}
	}
	if (r->shut[0] && r->shut[1])
		relay_free(r);
}

static void
relay_read(struct bufferevent *bev, void *arg)
{
	relay_step(arg);
}

static void
relay_write(struct bufferevent *bev, void *arg)
{
	relay_step(arg);
}

static void
relay_event(struct bufferevent *bev, short what, void *arg)
{
	struct pool_relay	*r = arg;
	int			 i = bev == r->bev[0] ? 0 : 1;

	if (what & BEV_EVENT_EOF) {
		r->eof[i] = 1;
		bufferevent_disable(bev, EV_READ);
		relay_step(r);
		return;
	}
	/* An error on either side ends both: a stream is whole or closed. */
	relay_free(r);
}

static int
relay_start(evutil_socket_t fd, struct bufferevent *up, const char *node)
{
	struct pool_relay	*r;
	int			 i;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return -1;
	if ((r->node = strdup(node)) == NULL ||
	    (r->bev[0] = bufferevent_socket_new(td->base, fd,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		free(r->node);
		free(r);
		return -1;
	}
	r->bev[1] = up;
	LIST_INSERT_HEAD(&relays, r, entry);
	for (i = 0; i < 2; i++) {
		bufferevent_setcb(r->bev[i], relay_read, relay_write,
		    relay_event, r);
		bufferevent_setwatermark(r->bev[i], EV_READ, 0, RELAY_BUF_MAX);
		bufferevent_enable(r->bev[i], EV_READ | EV_WRITE);
	}
	return 0;
}

/* ------------------------------------------------------------ clients */

static void
pool_client_free(struct pool_client *pc)
{
	if (pc->up != NULL)
		bufferevent_free(pc->up);
	if (pc->fd != -1)
		close(pc->fd);
	if (pc->pool != NULL)
		LIST_REMOVE(pc, entry);
	free(pc->up_node);
	free(pc);
}

static void
pool_client_done(struct pool_client *pc)
{
	if (pc->pool != NULL) {
		pc->pool->total++;
		pc->pool->per_node[pc->cur]++;
	}
	pc->fd = -1;		/* a forward or a relay owns it now */
	pc->up = NULL;
	pool_client_free(pc);
}

static void
pool_client_failed(struct pool_client *pc, const char *why)
{
	if (pc->pool == NULL) {
		pool_client_free(pc);
		return;
	}
	log_entry(LOG_INFO, pc->pool->conf->nodes[pc->cur], "pool-failover",
	    why, NULL, "pool %s: %s: %s; trying the next node",
	    pc->pool->conf->name, pc->pool->conf->nodes[pc->cur], why);
	pc->pool->failovers++;
	pool_client_next(pc);
}

/* forward_attach() says whether the node's channel opened. */
static void
pool_handback(evutil_socket_t fd, void *arg)
{
	struct pool_client	*pc = arg;

	if (fd == -1) {
		pool_client_done(pc);
		return;
	}
	pc->fd = fd;
	pool_client_failed(pc, "channel refused");
}

static void
pool_up_event(struct bufferevent *bev, short what, void *arg)
{
	struct pool_client	*pc = arg;
	int			 one = 1;

	if (what & BEV_EVENT_CONNECTED) {
		(void)setsockopt(bufferevent_getfd(bev), IPPROTO_TCP,
		    TCP_NODELAY, &one, sizeof(one));
		if (relay_start(pc->fd, bev, pc->up_node) == -1) {
			pool_client_free(pc);
			return;
		}
		pool_client_done(pc);
		return;
	}
	bufferevent_free(pc->up);
	pc->up = NULL;
	free(pc->up_node);
	pc->up_node = NULL;
	pool_client_failed(pc, (what & BEV_EVENT_ERROR) ?
	    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()) :
	    "connection closed");
}

/* Try candidates in order until one takes the client. */
static void
pool_client_next(struct pool_client *pc)
{
	struct pool	*p = pc->pool;
	struct node	*n;
	struct forward	*f;
	char		 host[CONFIG_HOST_MAX];
	int		 port;

	while (p != NULL && pc->next < pc->ncand) {
		pc->cur = pc->order[pc->next++];
		if ((n = node_find(p->conf->nodes[pc->cur])) == NULL)
			continue;
		if ((f = pool_node_forward(n)) != NULL) {
			/* May call pool_handback() before it returns. */
			if (forward_attach(f, pc->fd, (struct sockaddr *)&pc->peer,
			    pool_handback, pc) == 0)
				return;
			continue;
		}
		if (pool_node_url(n, host, sizeof(host), &port) == -1)
			continue;
		if ((pc->up_node = strdup(n->conf->name)) == NULL)
			continue;
		if ((pc->up = bufferevent_socket_new(td->base, -1,
		    BEV_OPT_CLOSE_ON_FREE)) != NULL) {
			bufferevent_setcb(pc->up, NULL, NULL, pool_up_event,
			    pc);
			if (bufferevent_socket_connect_hostname(pc->up,
			    td->dns, AF_UNSPEC, host, port) == 0)
				return;
			bufferevent_free(pc->up);
			pc->up = NULL;
		}
		free(pc->up_node);
		pc->up_node = NULL;
	}
	if (p != NULL) {
		p->refused++;
		log_entry(LOG_WARNING, NULL, "pool-refused", "no healthy node",
		    NULL, "pool %s: no healthy node for a client; closed",
		    p->conf->name);
	}
	pool_client_free(pc);
}

static void
pool_accept(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct pool		*p = arg;
	struct pool_client	*pc;
	struct pool_cand	 c[POOL_NODES_MAX];
	struct node		*nodes[POOL_NODES_MAX];
	size_t			 n = p->conf->nnodes;

	if (p->conf->mode == POOL_MODE_HTTP) {
		p->total++;
		pool_http_accept(p->conf, fd, sa, salen);
		return;
	}
	if (n > POOL_NODES_MAX)
		n = POOL_NODES_MAX;
	if ((pc = calloc(1, sizeof(*pc))) == NULL) {
		close(fd);
		return;
	}
	pc->pool = p;
	pc->fd = fd;
	if ((size_t)salen <= sizeof(pc->peer))
		memcpy(&pc->peer, sa, salen);
	LIST_INSERT_HEAD(&p->pending, pc, entry);
	pool_candidates(p->conf, c, nodes);
	pc->ncand = pool_rank(p->conf->policy, c, n, pc->order);
	pool_client_next(pc);
}

/* --------------------------------------------------------- lifecycle */

static void
pool_accept_error(struct evconnlistener *l, void *arg)
{
	struct pool	*p = arg;

	listener_rest_error(p->rest, EVUTIL_SOCKET_ERROR());
}

/* Bind P's listener, or say why not in p->reason.  0 or -1. */
static int
pool_bind(struct pool *p)
{
	char	what[256];

	snprintf(what, sizeof(what), "pool %s", p->conf->name);
	return listener_bind(p->conf->listen_host, p->conf->listen_port,
	    pool_accept, pool_accept_error, p, what, &p->listener, &p->rest,
	    p->reason, sizeof(p->reason));
}

/*
 * A pool, listening if it can.  One that cannot is kept, shown in status
 * with its reason and bound again by pool_tick(), as local forwards are.
 */
static struct pool *
pool_new(struct pool_conf *conf)
{
	struct pool	*p;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	p->conf = conf;
	LIST_INIT(&p->pending);
	if (pool_bind(p) == -1)
		log_entry(LOG_ERR, NULL, "listen-failed", p->reason, NULL,
		    "pool %s: %s", conf->name, p->reason);
	return p;
}

static void
pool_free(struct pool *p)
{
	struct pool_client	*pc;

	/*
	 * A client waiting for a forward's answer finishes on its own,
	 * without the pool; one connecting to a local node is ours alone.
	 */
	while ((pc = LIST_FIRST(&p->pending)) != NULL) {
		LIST_REMOVE(pc, entry);
		pc->pool = NULL;
		if (pc->up != NULL)
			pool_client_free(pc);
	}
	listener_rest_free(p->rest);
	if (p->listener != NULL)
		evconnlistener_free(p->listener);
	TAILQ_REMOVE(&pools, p, entry);
	free(p);
}

int
pool_init(struct config *conf)
{
	struct pool_conf	*pc;
	struct pool		*p;

	/* At start-up, as for local forwards: no READY with a port missing. */
	TAILQ_FOREACH(pc, &conf->pools, entry) {
		if ((p = pool_new(pc)) == NULL) {
			log_warnx("pool %s: out of memory",
			    pc->name);
			pool_free_all();
			return -1;
		}
		TAILQ_INSERT_TAIL(&pools, p, entry);
		if (p->listener == NULL) {
			pool_free_all();
			return -1;
		}
	}
	return 0;
}

/* Once a second: listeners that could not be bound are tried again. */
void
pool_tick(void)
{
	struct pool	*p;
	char		 hp[CONFIG_HOST_MAX + 8];

	TAILQ_FOREACH(p, &pools, entry) {
		if (p->listener != NULL || pool_bind(p) == -1)
			continue;
		config_fmt_hostport(hp, sizeof(hp), p->conf->listen_host,
		    p->conf->listen_port);
		log_entry(LOG_NOTICE, NULL, NULL, NULL, NULL,
		    "pool %s: listening on %s", p->conf->name, hp);
	}
}

/* Same name and listen address: the listener can stay. */
static int
pool_conf_same_listener(const struct pool_conf *a, const struct pool_conf *b)
{
	return strcmp(a->name, b->name) == 0 &&
	    strcmp(a->listen_host, b->listen_host) == 0 &&
	    a->listen_port == b->listen_port;
}

/* P keeps its listener and takes NC: counters follow the node names. */
static void
pool_adopt(struct pool *p, struct pool_conf *nc)
{
	struct pool_client *pcl;
	uint64_t	per[POOL_NODES_MAX];
	size_t		i, j, k;

	memset(per, 0, sizeof(per));
	for (i = 0; i < nc->nnodes && i < POOL_NODES_MAX; i++)
		for (j = 0; j < p->conf->nnodes && j < POOL_NODES_MAX; j++)
			if (strcmp(nc->nodes[i], p->conf->nodes[j]) == 0)
				per[i] = p->per_node[j];
	memcpy(p->per_node, per, sizeof(per));
	/* Clients still choosing: their candidates, by name, in the new list. */
	LIST_FOREACH(pcl, &p->pending, entry) {
		for (i = 0, k = 0; i < pcl->ncand; i++) {
			for (j = 0; j < nc->nnodes && j < POOL_NODES_MAX; j++)
				if (strcmp(nc->nodes[j],
				    p->conf->nodes[pcl->order[i]]) == 0)
					break;
			if (j < nc->nnodes && j < POOL_NODES_MAX)
				pcl->order[k++] = j;
			else if (i < pcl->next)
				pcl->next--;
		}
		pcl->ncand = k;
		for (j = 0; j < nc->nnodes && j < POOL_NODES_MAX; j++)
			if (strcmp(nc->nodes[j], p->conf->nodes[pcl->cur]) == 0)
				break;
		/* cur names a node the new list lacks: count it nowhere. */
		pcl->cur = j < nc->nnodes && j < POOL_NODES_MAX ? j : 0;
	}
	p->conf = nc;
}

static int
pool_conf_equal(const struct pool_conf *a, const struct pool_conf *b)
{
	size_t	i;

	if (strcmp(a->name, b->name) != 0 ||
	    strcmp(a->listen_host, b->listen_host) != 0 ||
	    a->listen_port != b->listen_port || a->policy != b->policy ||
	    a->nnodes != b->nnodes || a->mode != b->mode ||
	    a->retries != b->retries ||
	    a->first_byte_timeout != b->first_byte_timeout)
		return 0;
	for (i = 0; i < a->nnodes; i++)
		if (strcmp(a->nodes[i], b->nodes[i]) != 0)
			return 0;
	return 1;
}

/*
 * A pool whose name and listen address stay keeps its listener, its
 * clients and its figures, whatever else changed (nodes, policy): the new
 * ones apply from the next client.  The others are closed before the new
 * ones bind, so a pool may move to a port another freed.
 */
int
pool_reload(struct config *nconf)
{
	struct pool		*p, *tmp;
	struct pool_conf	*pc;
	int			 rc = 0;

	/* glibc's sys/queue.h has no TAILQ_FOREACH_SAFE. */
	for (p = TAILQ_FIRST(&pools); p != NULL; p = tmp) {
		tmp = TAILQ_NEXT(p, entry);
		TAILQ_FOREACH(pc, &nconf->pools, entry)
			if (pool_conf_same_listener(p->conf, pc))
				break;
		if (pc == NULL)
			pool_free(p);
		else if (pool_conf_equal(p->conf, pc))
			p->conf = pc;
		else
			pool_adopt(p, pc);
	}
	TAILQ_FOREACH(pc, &nconf->pools, entry) {
		TAILQ_FOREACH(p, &pools, entry)
			if (p->conf == pc)
				break;
		if (p != NULL)
			continue;
		if ((p = pool_new(pc)) == NULL) {
			rc = -1;
			continue;
		}
		TAILQ_INSERT_TAIL(&pools, p, entry);
	}
	/* Kept ones included: one still unbound since an earlier reload. */
	TAILQ_FOREACH(p, &pools, entry)
		if (p->listener == NULL)
			rc = -1;
	return rc;
}

void
pool_free_all(void)
{
	struct pool		*p;
	struct pool_relay	*r;

	while ((p = TAILQ_FIRST(&pools)) != NULL)
		pool_free(p);
	while ((r = LIST_FIRST(&relays)) != NULL)
		relay_free(r);
	pool_http_free_all();
}

/* ------------------------------------------------------------ queries */

/*
 * Each member: the address a client would be sent to ("addr") and, when
 * the pool would not choose it now, why ("skipped"): it has no address,
 * or its state (a degraded node only serves when no member is up).
 */
static json_t *
pool_members_json(struct pool_conf *pc)
{
	struct pool_cand	 c[POOL_NODES_MAX];
	struct node		*nodes[POOL_NODES_MAX];
	size_t			 order[POOL_NODES_MAX], m, i, k, n;
	char			 addr[CONFIG_HOST_MAX + 8], why[REASON_MAX + 64];
	json_t			*arr = json_array(), *o;
	int			 ranked;

	n = pc->nnodes < POOL_NODES_MAX ? pc->nnodes : POOL_NODES_MAX;
	pool_candidates(pc, c, nodes);
	m = pool_rank(pc->policy, c, n, order);
	for (i = 0; i < n; i++) {
		o = json_pack("{s:s}", "node", pc->nodes[i]);
		if (o == NULL)
			continue;
		for (k = 0, ranked = -1; k < m; k++)
			if (order[k] == i)
				ranked = (int)k;
		if (nodes[i] == NULL) {
			json_object_set_new(o, "skipped", json_string("no such node"));
			json_array_append_new(arr, o);
			continue;
		}
		json_object_set_new(o, "state",
		    json_string(node_state_name(nodes[i]->state)));
		if (pool_node_addr(nodes[i], addr, sizeof(addr), why,
		    sizeof(why)) == 0)
			json_object_set_new(o, "addr", json_string(addr));
		else
			ranked = -2;
		if (ranked >= 0)
			json_object_set_new(o, "rank", json_integer(ranked + 1));
		else {
			if (ranked == -1 && nodes[i]->state == NODE_DEGRADED)
				snprintf(why, sizeof(why), "degraded (%s); "
				    "another member is up", nodes[i]->reason);
			else if (ranked == -1)
				snprintf(why, sizeof(why), "%s%s%s",
				    node_state_name(nodes[i]->state),
				    nodes[i]->reason[0] ? ": " : "",
				    nodes[i]->reason);
			json_object_set_new(o, "skipped", json_string(why));
		}
		json_array_append_new(arr, o);
	}
	return arr;
}

json_t *
pool_status_json(void)
{
	struct pool	*p;
	json_t		*arr, *o, *per;
	char		 listen[CONFIG_HOST_MAX + 8];
	uint64_t	 failovers, refused;
	size_t		 i;

	if ((arr = json_array()) == NULL)
		return NULL;
	TAILQ_FOREACH(p, &pools, entry) {
		/*
		 * An http pool fails over and refuses requests, not
		 * connections: its own counts, under the same names.
		 */
		failovers = p->failovers;
		refused = p->refused;
		if (p->conf->mode == POOL_MODE_HTTP)
			pool_http_counts(p->conf, &failovers, &refused);
		per = json_object();
		for (i = 0; i < p->conf->nnodes && i < POOL_NODES_MAX; i++)
			json_object_set_new(per, p->conf->nodes[i],
			    json_integer((json_int_t)p->per_node[i]));
		config_fmt_hostport(listen, sizeof(listen),
		    p->conf->listen_host, p->conf->listen_port);
		o = json_pack("{s:s, s:s, s:b, s:s, s:I, s:I, s:I, s:o}",
		    "name", p->conf->name, "listen", listen,
		    "listening", p->listener != NULL,
		    "policy", p->conf->policy == POOL_LEAST_LOAD ?
		    "least-load" : p->conf->policy == POOL_LEAST_OUTSTANDING ?
		    "least-outstanding" : "priority",
		    "connections", (json_int_t)p->total,
		    "failovers", (json_int_t)failovers,
		    "refused", (json_int_t)refused,
		    "per_node", per);
		if (o != NULL && p->listener == NULL)
			json_object_set_new(o, "reason", json_string(p->reason));
		if (o != NULL)
			json_object_set_new(o, "members", pool_members_json(p->conf));
		if (o != NULL)
			json_object_set_new(o, "mode", json_string(
			    p->conf->mode == POOL_MODE_HTTP ? "http" : "tcp"));
		if (o != NULL && p->conf->mode == POOL_MODE_HTTP)
			json_object_set_new(o, "http",
			    pool_http_status_json(p->conf));
		if (o != NULL)
			json_array_append_new(arr, o);
	}
	return arr;
}

/* N before BEST for best(): up before degraded, then the lower priority. */
static int
pool_outranks(const struct node *n, const struct node *best)
{
	if (best == NULL)
		return 1;
	if ((n->state == NODE_UP) != (best->state == NODE_UP))
		return n->state == NODE_UP;
	return n->conf->priority < best->conf->priority;
}

/*
 * No pool: the node best() answers with is up (degraded only when none
 * is), has an address and, when asked, the model; the lowest priority
 * value wins, ties in the file's order.  Every node is looked at, not a
 * pool's POOL_NODES_MAX: a cluster may have more nodes than a pool.
 */
static struct node *
pool_best_any(const char *model)
{
	struct node	*n, *best = NULL;
	char		 addr[CONFIG_HOST_MAX + 8], why[128];

	TAILQ_FOREACH(n, &td->nodes, entry) {
		if (n->state != NODE_UP && n->state != NODE_DEGRADED)
			continue;
		if (!pool_outranks(n, best))
			continue;	/* ties: the first in the file */
		if (model != NULL && *model != '\0' &&
		    !node_has_model(n, model))
			continue;
		if (pool_node_addr(n, addr, sizeof(addr), why,
		    sizeof(why)) != 0)
			continue;
		best = n;
	}
	return best;
}

struct node *
pool_best(const char *pool, const char *model, char *addr, size_t addrsz,
    char *why, size_t whysz, int *nopool)
{
	struct pool_cand	 c[POOL_NODES_MAX];
	struct node		*nodes[POOL_NODES_MAX], *n;
	struct pool_conf	*pc = NULL;
	size_t			 order[POOL_NODES_MAX], m, i;

	*nopool = 0;
	if (pool != NULL && *pool != '\0') {
		TAILQ_FOREACH(pc, &td->conf->pools, entry)
			if (strcmp(pc->name, pool) == 0)
				break;
		if (pc == NULL) {
			snprintf(why, whysz, "no pool '%s'", pool);
			*nopool = 1;
			return NULL;
		}
	} else if ((pc = TAILQ_FIRST(&td->conf->pools)) == NULL) {
		if ((n = pool_best_any(model)) == NULL) {
			snprintf(why, whysz, "no node of all nodes is up%s%s",
			    model && *model ? " with model " : "",
			    model && *model ? model : "");
			return NULL;
		}
		(void)pool_node_addr(n, addr, addrsz, why, whysz);
		snprintf(why, whysz, "%s, highest priority",
		    node_state_name(n->state));
		return n;
	}
	if (pc->mode == POOL_MODE_HTTP) {
		/* What the pool's next request would do, model and all. */
		char	 unused[128];

		if ((n = pool_http_best(pc, model, why, whysz)) != NULL)
			(void)pool_node_addr(n, addr, addrsz, unused,
			    sizeof(unused));
		return n;
	}
	pool_candidates(pc, c, nodes);
	for (i = 0; model != NULL && *model != '\0' && i < pc->nnodes &&
	    i < POOL_NODES_MAX; i++)
		if (nodes[i] == NULL || !node_has_model(nodes[i], model))
			c[i].reachable = 0;
	m = pool_rank(pc->policy, c, pc->nnodes < POOL_NODES_MAX ?
	    pc->nnodes : POOL_NODES_MAX, order);
	if (m == 0) {
		snprintf(why, whysz, "no node of %s is up%s%s",
		    pc->name, model && *model ? " with model " : "",
		    model && *model ? model : "");
		return NULL;
	}
	n = nodes[order[0]];
	(void)pool_node_addr(n, addr, addrsz, why, whysz);
	snprintf(why, whysz, "%s, %s", node_state_name(n->state),
	    pc->policy == POOL_LEAST_LOAD ? "lowest load_score" :
	    "first in the pool's order");
	return n;
}

/*
 * Where a pool reaches node N, for pool_http.c: *F, its local forward, or
 * HOST:PORT of its Ollama URL, by pool_node_addr()'s rule.  0 or -1.
 */
int
pool_node_endpoint(struct node *n, struct forward **f, char *host,
    size_t hostsz, int *port)
{
	if ((*f = pool_node_forward(n)) != NULL)
		return 0;
	if (pool_node_url(n, host, hostsz, port) == 0)
		return 0;
	return -1;
}

/*
 * A node's load as the pools rank it (and status shows it): the chat
 * backend's formula, so that both rank nodes alike: active
 * client connections x 100 + Ollama latency ms / 10 + recent failures x
 * 50, where "recent" means probe failures that ended in the last
 * PROBE_RECENT_MS (5 minutes) and the latency is the latest good Ollama
 * probe's.  Clients are those of the node's forwards (less our probes'
 * own) and those a pool relays to it when it is local.
 */
double
pool_load_score(const struct node *n)
{
	const struct probe_results	*r = probe_results(n);
	uint64_t			 active = forward_active(n);
	unsigned			 probes = probe_forward_conns(n);

	/* Idle connections an http pool keeps are not clients. */
	probes += pool_http_idle_forwarded(n->conf->name);
	active = active > probes ? active - probes : 0;
	active += pool_relays_active(n->conf->name);
	active += pool_http_relayed(n->conf->name);
	return probe_load_score(active,
	    r != NULL && r->ollama.has_info, r ? r->ollama.latency_ms : 0,
	    probe_recent_failures(r, now_ms()));
}
