/*
 * probe: run each node's GPU, Ollama and HTTP probes in the libevent loop
 * and keep their results (see probe.h).  The runners live apart, so that
 * a change to one does not mean reading the other: probe_gpu.c (the GPU
 * tool) and probe_http.c (Ollama and HTTP).  Here: the results and their
 * judging (rise/fall), the rounds that start the runners, the node's
 * hooks and reconfiguration.  probe_int.h holds what the three share.
 *
 * State.  Only fresh results make faults (probe_fault): figures kept from
 * a session that is gone are shown, marked stale, but do not degrade a
 * node that has just come back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "log.h"
#include "node.h"
#include "probe.h"
#include "probe_int.h"
#include "session.h"
#include "tunneld.h"

#define PROBE_JITTER		0.1	/* +-10 % of probe_interval */
/*
 * The round after one that ran at once, a first remote round, or one
 * after a new interval: anywhere from half an interval to one and a half,
 * so that nodes started together do not probe together ever after (1,000
 * nodes at +-10 % kept their first round's burst for minutes).
 */
#define PROBE_SPREAD		0.5

static void	probe_round(struct probe_node *);

/* --------------------------------------------------------- pure helpers */

const char *
probe_status_name(enum probe_status s)
{
	switch (s) {
	case PROBE_OK:
		return "ok";
	case PROBE_FAILED:
		return "down";
	default:
		return "pending";
	}
}

double
probe_load_score(uint64_t active, int has_latency, double latency_ms,
    unsigned recent_failures)
{
	double	score = (double)active * 100.0 + (double)recent_failures * 50.0;

	if (has_latency && latency_ms > 0)
		score += latency_ms / 10.0;
	return score;
}

uint64_t
probe_jitter(uint64_t base, double jitter, double r)
{
	double	d = (double)base * (1.0 + jitter * (2.0 * r - 1.0));

	return d < 1.0 ? 1 : (uint64_t)d;
}

uint64_t
probe_spread(uint64_t interval, uint64_t timeout, double r)
{
	double	lo = (double)interval * (1.0 - PROBE_SPREAD);
	double	hi = (double)interval * (1.0 + PROBE_SPREAD), d;

	/*
	 * Not before the round before could have timed out: a round that
	 * finds its probe still running skips it, and a node that hangs
	 * would be judged an interval late.
	 */
	if (lo < (double)timeout)
		lo = (double)timeout < hi ? (double)timeout : hi;
	d = lo + (hi - lo) * r;
	return d < 1.0 ? 1 : (uint64_t)d;
}

void
probe_note_failure(struct probe_results *r, uint64_t now)
{
	r->fail_ring[r->fail_next % PROBE_FAIL_RING] = now;
	r->fail_next++;
}

unsigned
probe_recent_failures(const struct probe_results *r, uint64_t now)
{
	unsigned	i, n = 0;

	if (r == NULL)
		return 0;
	for (i = 0; i < PROBE_FAIL_RING && i < r->fail_next; i++) {
		uint64_t t = r->fail_ring[i];

		if (t != 0 && t <= now && now - t < PROBE_RECENT_MS)
			n++;
	}
	return n;
}

double
probe_age_s(const struct probe_common *c, uint64_t now)
{
	if (c->at == 0)
		return -1;
	return now > c->at ? (double)(now - c->at) / 1000.0 : 0.0;
}

void
probe_check_models(struct probe_ollama_result *o, char *const *req, size_t nreq)
{
	size_t	i;

	o->nmissing = o->nmissing_total = 0;
	if (!o->has_info)
		return;
	for (i = 0; i < nreq; i++) {
		if (ollama_has_model(&o->info, req[i]))
			continue;
		if (o->nmissing < PROBE_MISSING_MAX)
			snprintf(o->missing[o->nmissing++], OLLAMA_NAME_MAX,
			    "%s", req[i]);
		o->nmissing_total++;
	}
}

void
probe_judge_reset(struct probe_judge *j)
{
	j->failing = 0;
	j->fresh = 1;
	j->fails = j->oks = 0;
	j->reason[0] = '\0';
}

int
probe_judge_step(struct probe_judge *j, int ok, unsigned rise, unsigned fall)
{
	int	was = j->failing;

	if (ok) {
		j->oks++;
		j->fails = 0;
	} else {
		j->fails++;
		j->oks = 0;
	}
	if (j->fresh) {
		j->fresh = 0;
		j->failing = !ok;
	} else if (!j->failing && j->fails >= (fall ? fall : 1))
		j->failing = 1;
	else if (j->failing && j->oks >= (rise ? rise : 1))
		j->failing = 0;
	return j->failing != was;
}

/* ------------------------------------------------------------- results */

/* Judge one result: FAULT is NULL for a good one, else what is wrong. */
static void
common_judge(struct probe_node *pn, struct probe_common *c, const char *fault)
{
	const struct node_conf	*nc = pn->node->conf;

	(void)probe_judge_step(&c->judge, fault == NULL, (unsigned)nc->rise,
	    (unsigned)nc->fall);
	if (fault != NULL && c->judge.failing)
		snprintf(c->judge.reason, sizeof(c->judge.reason), "%s", fault);
	else if (!c->judge.failing)
		c->judge.reason[0] = '\0';
}

/* A good probe; FAULT: what its answer shows wrong (a threshold, a model). */
void
probe_common_ok(struct probe_node *pn, struct probe_common *c, uint64_t now,
    const char *fault)
{
	c->status = PROBE_OK;
	c->reason[0] = '\0';
	c->at = c->ok_at = now;
	c->stale = 0;
	c->runs++;
	common_judge(pn, c, fault);
}

void
probe_common_fail(struct probe_node *pn, struct probe_common *c, uint64_t now,
    const char *reason)
{
	int	same = c->status == PROBE_FAILED && strcmp(c->reason, reason) == 0;

	c->status = PROBE_FAILED;
	snprintf(c->reason, sizeof(c->reason), "%s", reason);
	c->at = now;
	c->stale = 1;		/* what is kept is not confirmed any more */
	c->runs++;
	c->failures++;
	probe_note_failure(&pn->r, now);
	common_judge(pn, c, reason);
	if (!same && c->judge.failing)
		log_entry(LOG_INFO, pn->node->conf->name, "probe-failed", reason,
		    NULL, "%s: probe failed: %s", pn->node->conf->name, reason);
	else if (!same)
		log_entry(LOG_INFO, pn->node->conf->name, "probe-failed", reason,
		    NULL, "%s: probe failed: %s (%u in a row, fall = %d: not "
		    "acted on yet)", pn->node->conf->name, reason,
		    c->judge.fails, pn->node->conf->fall);
}

/* "missing models a, b" of a good answer, or NULL when none is missing. */
const char *
probe_ollama_missing_text(const struct probe_ollama_result *o, char *buf,
    size_t bufsz)
{
	size_t	i;
	int	off;

	if (o->nmissing == 0)
		return NULL;
	off = snprintf(buf, bufsz, "missing model%s ",
	    o->nmissing_total > 1 ? "s" : "");
	for (i = 0; i < o->nmissing && off > 0 && (size_t)off < bufsz; i++)
		off += snprintf(buf + off, bufsz - off, "%s%s", i ? ", " : "",
		    o->missing[i]);
	return buf;
}

/*
 * The first GPU over TEMP_C or over MEM_PCT of its memory, said in BUF the
 * way the alert says it; 0 when none is.
 */
int
probe_gpu_threshold(const struct gpu_sample *s, int temp_c, int mem_pct,
    char *buf, size_t bufsz)
{
	const struct gpu_info	*g;
	size_t			 i;

	for (i = 0; i < s->ngpus && i < GPU_MAX; i++) {
		g = &s->gpus[i];
		if (gpu_temp_over(g, temp_c) == 1) {
			snprintf(buf, bufsz, "gpu%d %d°C > %d°C", g->index,
			    g->temp_c, temp_c);
			return 1;
		}
		if (gpu_mem_over(g, mem_pct) == 1) {
			snprintf(buf, bufsz, "gpu%d memory %ld%% > %d%%",
			    g->index, gpu_mem_pct(g), mem_pct);
			return 1;
		}
	}
	return 0;
}

/*
 * The node's fault: the first probe judged failing (rise/fall), in the
 * order gpu, ollama, http, with its latest failure.  A GPU over a
 * threshold (DESIGN: `gpu0 85°C > 80°C`) and a missing model are failures.
 */
static void
probe_refresh_fault(struct probe_node *pn)
{
	const struct probe_results	*r = &pn->r;
	const struct probe_judge	*j = NULL;
	size_t				 i;

	pn->fault[0] = '\0';
	if (r->gpu.kind != GPU_NONE && r->gpu.c.judge.failing)
		j = &r->gpu.c.judge;
	else if (r->ollama.url != NULL && r->ollama.c.judge.failing)
		j = &r->ollama.c.judge;
	for (i = 0; j == NULL && i < r->nhttp; i++)
		if (r->http[i].c.judge.failing)
			j = &r->http[i].c.judge;
	if (j != NULL)
		snprintf(pn->fault, sizeof(pn->fault), "%s", j->reason);
}

/* A result arrived: the node's state may follow (node_set_state tells). */
void
probe_changed(struct probe_node *pn)
{
	probe_refresh_fault(pn);
	node_update(pn->node);
}

/*
 * Results that no probe can confirm now (session gone, node stopped): kept,
 * marked stale, and no longer a fault.
 */
static void
probe_mark_stale(struct probe_node *pn)
{
	size_t	i;

	pn->r.gpu.c.stale = 1;
	pn->r.ollama.c.stale = 1;
	for (i = 0; i < pn->r.nhttp; i++)
		pn->r.http[i].c.stale = 1;
	/* A failure from the old session is history, not a current fault. */
	if (pn->r.gpu.c.status == PROBE_FAILED)
		pn->r.gpu.c.status = PROBE_PENDING;
	if (pn->r.ollama.c.status == PROBE_FAILED)
		pn->r.ollama.c.status = PROBE_PENDING;
	for (i = 0; i < pn->r.nhttp; i++)
		if (pn->r.http[i].c.status == PROBE_FAILED)
			pn->r.http[i].c.status = PROBE_PENDING;
	pn->r.ollama.nmissing = pn->r.ollama.nmissing_total = 0;
	/* A new session is judged afresh. */
	probe_judge_reset(&pn->r.gpu.c.judge);
	probe_judge_reset(&pn->r.ollama.c.judge);
	for (i = 0; i < pn->r.nhttp; i++)
		probe_judge_reset(&pn->r.http[i].c.judge);
	probe_refresh_fault(pn);
}

/* ---------------------------------------------------------------- rounds */

/* Probes need the session (remote nodes) or nothing (local nodes). */
static int
probe_can_run(const struct probe_node *pn)
{
	const struct node	*n = pn->node;

	if (!pn->running || n->admin_stopped || !n->conf->enabled)
		return 0;
	return n->conf->local || session_is_up(n->sess);
}

static void
probe_arm(struct probe_node *pn, uint64_t ms)
{
	struct timeval	tv;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(pn->ev_round, &tv);
}

/* The next round, INTERVAL from now within SPREAD (a fraction of it). */
static void
probe_arm_next(struct probe_node *pn, uint64_t interval, double spread)
{
	probe_arm(pn, probe_jitter(interval, spread,
	    (double)(random() % 1000000) / 1000000.0));
}

/* The next round anywhere from half an interval on (probe_spread()). */
static void
probe_arm_spread(struct probe_node *pn)
{
	const struct node_conf	*nc = pn->node->conf;

	probe_arm(pn, probe_spread(nc->probe_interval, nc->probe_timeout,
	    (double)(random() % 1000000) / 1000000.0));
}

/* A round at once; the next is placed anywhere in the interval. */
static void
probe_arm_now(struct probe_node *pn)
{
	pn->spread = 1;
	probe_arm(pn, 0);
}

static void
probe_round(struct probe_node *pn)
{
	size_t	i;

	if (pn->spread)
		probe_arm_spread(pn);
	else
		probe_arm_next(pn, pn->node->conf->probe_interval,
		    PROBE_JITTER);
	pn->spread = 0;
	if (!probe_can_run(pn))
		return;
	probe_gpu_start(pn);
	if (!pn->running)
		return;		/* a result stopped the node meanwhile */
	probe_http_start(&pn->ollama, pn->r.ollama.url);
	for (i = 0; i < pn->r.nhttp && pn->running; i++)
		probe_http_start(&pn->http[i], pn->r.http[i].url);
}

static void
probe_round_cb(evutil_socket_t fd, short ev, void *arg)
{
	probe_round(arg);
}

static void
probe_cancel_all(struct probe_node *pn)
{
	size_t	i;

	probe_gpu_cancel(&pn->gpu);
	probe_gpu_linger_drop(pn);
	probe_http_cancel(&pn->ollama);
	for (i = 0; i < pn->r.nhttp; i++)
		probe_http_cancel(&pn->http[i]);
}

/* ------------------------------------------------------------- lifecycle */

int
probe_init(struct node *n)
{
	const struct node_conf	*nc = n->conf;
	struct probe_node	*pn;
	size_t			 i;

	if ((pn = calloc(1, sizeof(*pn))) == NULL)
		return -1;
	pn->node = n;
	pn->r.gpu.kind = nc->gpu;
	probe_judge_reset(&pn->r.gpu.c.judge);
	probe_judge_reset(&pn->r.ollama.c.judge);
	/*
	 * Copies: a reload keeps an unchanged node (same URLs) but frees the
	 * config its strings lived in.
	 */
	if (nc->ollama != NULL &&
	    (pn->r.ollama.url = strdup(nc->ollama)) == NULL)
		goto fail;
	pn->ev_round = evtimer_new(td->base, probe_round_cb, pn);
	if (probe_gpu_init(pn) == -1 || pn->ev_round == NULL ||
	    probe_http_init(&pn->ollama, pn, HK_OLLAMA, 0))
		goto fail;
	if (nc->nhttp > 0) {
		pn->r.http = calloc(nc->nhttp, sizeof(*pn->r.http));
		pn->http = calloc(nc->nhttp, sizeof(*pn->http));
		if (pn->r.http == NULL || pn->http == NULL)
			goto fail;
		pn->r.nhttp = nc->nhttp;
		for (i = 0; i < nc->nhttp; i++) {
			probe_judge_reset(&pn->r.http[i].c.judge);
			if ((pn->r.http[i].url = strdup(nc->http[i])) == NULL ||
			    probe_http_init(&pn->http[i], pn, HK_HTTP, i) == -1)
				goto fail;
		}
	}
	n->probe = pn;
	return 0;
fail:
	n->probe = pn;
	probe_free(n);
	return -1;
}

void
probe_free(struct node *n)
{
	struct probe_node	*pn = n->probe;
	size_t			 i;

	if (pn == NULL)
		return;
	pn->running = 0;
	probe_gpu_free(pn);
	if (pn->ev_round)
		event_free(pn->ev_round);
	probe_http_free(&pn->ollama);
	if (pn->http != NULL)
		for (i = 0; i < pn->r.nhttp; i++)
			probe_http_free(&pn->http[i]);
	if (pn->r.http != NULL)
		for (i = 0; i < pn->r.nhttp; i++)
			free((char *)pn->r.http[i].url);
	free((char *)pn->r.ollama.url);
	ollama_info_clear(&pn->r.ollama.info);
	free(pn->http);
	free(pn->r.http);
	free(pn);
	n->probe = NULL;
}

void
probe_start(struct node *n)
{
	struct probe_node	*pn = n->probe;

	if (pn == NULL)
		return;
	pn->running = 1;
	/* Local nodes: a first round at once; remote: at session up. */
	if (evtimer_pending(pn->ev_round, NULL))
		return;
	if (n->conf->local)
		probe_arm_now(pn);
	else
		probe_arm_spread(pn);
}

void
probe_stop(struct node *n)
{
	struct probe_node	*pn = n->probe;

	if (pn == NULL)
		return;
	pn->running = 0;
	evtimer_del(pn->ev_round);
	probe_cancel_all(pn);
	probe_mark_stale(pn);
}

void
probe_session_up(struct node *n)
{
	struct probe_node	*pn = n->probe;

	if (pn == NULL || !pn->running)
		return;
	/* Fresh figures as soon as the node can give them. */
	evtimer_del(pn->ev_round);
	probe_arm_now(pn);
}

void
probe_session_down(struct node *n)
{
	struct probe_node	*pn = n->probe;

	if (pn == NULL)
		return;
	probe_cancel_all(pn);
	probe_mark_stale(pn);
}

/*
 * Our own probe connections through N's forwards: load_score counts the
 * clients', so a node is not ranked down for being probed.
 */
unsigned
probe_forward_conns(const struct node *n)
{
	const struct probe_node	*pn = n->probe;
	unsigned		 k;
	size_t			 i;

	if (pn == NULL)
		return 0;
	k = probe_http_via_forward(&pn->ollama, n);
	for (i = 0; i < pn->r.nhttp; i++)
		k += probe_http_via_forward(&pn->http[i], n);
	return k;
}

const struct probe_results *
probe_results(const struct node *n)
{
	return n->probe != NULL ? &n->probe->r : NULL;
}

const char *
probe_fault(const struct node *n)
{
	if (n->probe == NULL || n->probe->fault[0] == '\0')
		return NULL;
	return n->probe->fault;
}

/* The http probes afresh: URLs added, removed or reordered. */
static int
probe_reconf_http(struct probe_node *pn, const struct node_conf *nc)
{
	struct probe_http_result	*r = NULL;
	struct http_run			*h = NULL;
	size_t				 i;

	for (i = 0; i < pn->r.nhttp; i++) {
		probe_http_free(&pn->http[i]);
		free((char *)pn->r.http[i].url);
	}
	free(pn->http);
	free(pn->r.http);
	pn->http = NULL;
	pn->r.http = NULL;
	pn->r.nhttp = 0;
	if (nc->nhttp == 0)
		return 0;
	if ((r = calloc(nc->nhttp, sizeof(*r))) == NULL ||
	    (h = calloc(nc->nhttp, sizeof(*h))) == NULL) {
		free(r);
		return -1;
	}
	pn->r.http = r;
	pn->http = h;
	for (i = 0; i < nc->nhttp; i++) {
		probe_judge_reset(&r[i].c.judge);
		if ((r[i].url = strdup(nc->http[i])) == NULL ||
		    probe_http_init(&h[i], pn, HK_HTTP, i) == -1) {
			pn->r.nhttp = i + 1;
			return -1;
		}
	}
	pn->r.nhttp = nc->nhttp;
	return 0;
}

/*
 * A reload changed probe keys of N (n->conf is the new config already):
 * only what changed starts over, the session and the other probes' figures
 * stay.  A new interval applies from the next round, which is re-armed
 * now; a new timeout from the next probe; new rise/fall from the next
 * result; new required models are checked against the latest answer now.
 */
void
probe_reconf(struct node *n, const struct node_conf *old)
{
	struct probe_node	*pn = n->probe;
	const struct node_conf	*nc = n->conf;
	struct probe_ollama_result *o;
	char			 why[REASON_MAX];
	unsigned		 d;

	if (pn == NULL)
		return;
	d = config_node_diff(old, nc);
	o = &pn->r.ollama;
	if (d & NODE_KEY_OLLAMA) {
		probe_http_cancel(&pn->ollama);
		free((char *)o->url);
		ollama_info_clear(&o->info);
		memset(o, 0, sizeof(*o));
		probe_judge_reset(&o->c.judge);
		if (nc->ollama != NULL && (o->url = strdup(nc->ollama)) == NULL)
			log_warnx("%s: %s: out of memory", __func__, nc->name);
	} else if ((d & NODE_KEY_REQUIRE_MODELS) && o->has_info &&
	    o->c.status == PROBE_OK) {
		probe_check_models(o, nc->require_models, nc->nrequire_models);
		/* The same answer, judged against the new list. */
		probe_judge_reset(&o->c.judge);
		common_judge(pn, &o->c, probe_ollama_missing_text(o, why,
		    sizeof(why)));
	}
	if (d & NODE_KEY_GPU) {
		probe_gpu_cancel(&pn->gpu);
		memset(&pn->r.gpu, 0, sizeof(pn->r.gpu));
		pn->r.gpu.kind = nc->gpu;
		probe_judge_reset(&pn->r.gpu.c.judge);
	}
	if ((d & NODE_KEY_HTTP) && probe_reconf_http(pn, nc) == -1)
		log_warnx("%s: %s: out of memory", __func__, nc->name);
	if ((d & NODE_KEY_PROBE_INTERVAL) && pn->running &&
	    evtimer_pending(pn->ev_round, NULL)) {
		evtimer_del(pn->ev_round);
		probe_arm_spread(pn);
	}
	/* New probes or new URLs: a round now, not an interval from now. */
	if ((d & (NODE_KEY_OLLAMA | NODE_KEY_GPU | NODE_KEY_HTTP)) &&
	    pn->running) {
		evtimer_del(pn->ev_round);
		probe_arm_now(pn);
	}
	probe_changed(pn);
}
