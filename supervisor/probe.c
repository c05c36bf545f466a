/*
 * probe: run each node's GPU, Ollama and HTTP probes in the libevent loop
 * and keep their results (see probe.h).
 *
 * GPU tool.  Over SSH the tool runs in an exec channel of the node's
 * session; the command line is a constant (no byte of it comes from
 * config or from the network), so no shell quoting question arises even
 * though sshd hands it to the account's shell.  Channel data reaches us
 * through libssh channel callbacks while session.c polls the session; the
 * open and exec requests, which need a few round trips, are driven by a
 * short timer (libssh 0.10 has no callback for their answers), and every
 * channel call is non-blocking.  For `ssh = none` nodes the tool is spawned
 * here with posix_spawnp (no shell), in its own process group, stdout and
 * stderr on non-blocking pipes; it is always reaped (a reaper timer takes
 * over children that must be stopped: timeout, tegrastats after its first
 * line, node stopped), and the whole group is killed so that a helper the
 * tool forked cannot keep the pipes open.
 *
 * Channel lifetime.  session.c frees the ssh_session, and with it every
 * channel, when the session fails; node.c tells us afterwards
 * (probe_session_down).  A run therefore touches its channel only while the
 * node's session is the very one it was opened on: up, and with the same
 * connection count (node_session_up bumps it for every new session).
 *
 * Ollama and HTTP.  libevent's evhttp client; one connection per probe
 * run, requests one after the other; bodies capped (evhttp refuses more);
 * our own deadline timer ends the run at probe_timeout.  evhttp request
 * callbacks only record the answer and activate a deferred event: the
 * connection is never freed from inside its own callback.
 *
 * State.  Only fresh results make faults (probe_fault): figures kept from
 * a session that is gone are shown, marked stale, but do not degrade a
 * node that has just come back.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <libssh/callbacks.h>
#include <libssh/libssh.h>

#include "log.h"
#include "node.h"
#include "probe.h"
#include "session.h"
#include "text.h"
#include "tunneld.h"

extern char	**environ;

#define PROBE_JITTER		0.1	/* +-10 % of probe_interval */
#define PROBE_OUT_MAX		(64 * 1024)	/* per stream, GPU tool output */
#define PROBE_HTTP_BODY_MAX	(64 * 1024)	/* health endpoints */
#define PROBE_HEADERS_MAX	(16 * 1024)
#define PROBE_POLL_MS		20	/* channel open/exec, child exit */
#define REAP_POLL_MS		50
#define REAP_KILL_AFTER_MS	1000	/* TERM first (tegrastats), then KILL */
#define REAP_GIVE_UP_MS		(10 * 60 * 1000)

/* Fixed commands: nothing in them comes from config or the network. */
#define TEGRASTATS_INTERVAL	"500"
static const char *const nvidia_smi_argv[] = {
	"nvidia-smi", GPU_NVIDIA_SMI_QUERY, GPU_NVIDIA_SMI_FORMAT, NULL
};
static const char *const tegrastats_argv[] = {
	"tegrastats", "--interval", TEGRASTATS_INTERVAL, NULL
};
#define NVIDIA_SMI_CMD \
	"nvidia-smi " GPU_NVIDIA_SMI_QUERY " " GPU_NVIDIA_SMI_FORMAT
#define TEGRASTATS_CMD	"tegrastats --interval " TEGRASTATS_INTERVAL

struct probe_node;

enum gpu_phase { GP_IDLE, GP_OPEN, GP_EXEC, GP_RUN, GP_LOCAL };

struct gpu_run {
	struct probe_node	*pn;
	enum gpu_phase		 phase;
	uint64_t		 started;
	struct evbuffer		*out, *err;
	int			 overflow;
	struct event		*ev_poll;	/* PROBE_POLL_MS while running */
	struct event		*ev_deadline;
	/* SSH */
	ssh_channel		 chan;
	struct session		*sess;		/* the session CHAN belongs to */
	uint64_t		 connects;	/* node->connects when opened */
	struct ssh_channel_callbacks_struct cb;
	int			 chan_eof, chan_closed, has_exit;
	int			 exit_status;
	/* local child */
	pid_t			 pid;
	int			 fd_out, fd_err;
	struct event		*ev_out, *ev_err;
	int			 reaped;
	uint64_t		 exited_at;
};

enum http_kind { HK_OLLAMA, HK_HTTP };
enum ollama_step { OS_VERSION, OS_TAGS, OS_PS, OS_DONE };

struct http_run {
	struct probe_node	*pn;
	enum http_kind		 kind;
	size_t			 idx;		/* HK_HTTP: which URL */
	int			 active;
	struct evhttp_connection *evcon;
	struct event		*ev_deadline;
	struct event		*ev_next;	/* deferred: after an answer */
	char			 host[CONFIG_HOST_MAX];
	uint16_t		 port;
	char			 prefix[1024];	/* the URL's path without a trailing '/' */
	char			 path[1100];	/* of the request in flight */
	int			 step;
	uint64_t		 started, req_started_us;
	double			 version_ms;
	/* the latest answer */
	int			 inflight;	/* a request awaits its answer */
	int			 answered;
	int			 code;
	int			 err;		/* enum evhttp_request_error, -1: none */
	struct evbuffer		*body;
	double			 elapsed_ms;
	struct ollama_info	*info;		/* being filled (HK_OLLAMA) */
};

/*
 * A timed-out tool that may still run on the node: its channel, closed by
 * us, waits for the server's close (sent when the command ends).  While it
 * waits no other GPU probe starts on that node, so that a wedged driver
 * does not collect one hung nvidia-smi per interval.  (sshd honours the
 * "signal" request we send first only for sessions under privilege
 * separation, not for root logins.)
 */
struct gpu_linger {
	ssh_channel		 chan;
	struct session		*sess;
	uint64_t		 connects;
	struct ssh_channel_callbacks_struct cb;
	int			 closed;	/* the server closed it: free it */
	int			 opening;	/* its open is still unanswered */
	uint64_t		 started;	/* of the probe it belonged to */
	struct event		*ev;		/* deferred free */
};

struct probe_node {
	struct node		*node;
	struct probe_results	 r;
	int			 running;	/* between probe_start and probe_stop */
	struct event		*ev_round;
	struct gpu_run		 gpu;
	struct gpu_linger	 linger;
	pid_t			 busy_pid;	/* local: stopped child not yet reaped */
	uint64_t		 busy_since;	/* ... started then (monotonic ms) */
	struct http_run		 ollama;
	struct http_run		*http;		/* r.nhttp of them */
	char			 fault[REASON_MAX];
};

/* Children that must still be stopped and reaped. */
struct reap {
	LIST_ENTRY(reap)	 entry;
	struct probe_node	*owner;		/* NULL once the node is gone */
	pid_t			 pid;
	uint64_t		 added;
	int			 killed;
};
static LIST_HEAD(, reap) reaps = LIST_HEAD_INITIALIZER(reaps);
static struct event	*ev_reap;

static void	gpu_cancel(struct gpu_run *);
static void	http_cancel(struct http_run *);
static void	probe_round(struct probe_node *);
static void	probe_changed(struct probe_node *);

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
static void
common_ok(struct probe_node *pn, struct probe_common *c, uint64_t now,
    const char *fault)
{
	c->status = PROBE_OK;
	c->reason[0] = '\0';
	c->at = c->ok_at = now;
	c->stale = 0;
	c->runs++;
	common_judge(pn, c, fault);
}

static void
common_fail(struct probe_node *pn, struct probe_common *c, uint64_t now,
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
static const char *
ollama_missing_text(const struct probe_ollama_result *o, char *buf,
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
static void
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

/* ---------------------------------------------------------------- reaper */

static void
reap_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct reap	*rp, *next;
	struct timeval	 tv = { 0, REAP_POLL_MS * 1000 };
	uint64_t	 now = now_ms();
	int		 status;
	pid_t		 w;

	for (rp = LIST_FIRST(&reaps); rp != NULL; rp = next) {
		next = LIST_NEXT(rp, entry);
		w = waitpid(rp->pid, &status, WNOHANG);
		if (w == rp->pid || (w == -1 && errno == ECHILD)) {
			if (rp->owner != NULL && rp->owner->busy_pid == rp->pid)
				rp->owner->busy_pid = 0;
			LIST_REMOVE(rp, entry);
			free(rp);
			continue;
		}
		if (!rp->killed && now - rp->added >= REAP_KILL_AFTER_MS) {
			/* Not reaped, so the group id is still ours to signal. */
			(void)kill(-rp->pid, SIGKILL);
			rp->killed = 1;
		} else if (now - rp->added >= REAP_GIVE_UP_MS) {
			log_warnx("probe process %ld survives SIGKILL; giving "
			    "up on it", (long)rp->pid);
			if (rp->owner != NULL && rp->owner->busy_pid == rp->pid)
				rp->owner->busy_pid = 0;
			LIST_REMOVE(rp, entry);
			free(rp);
		}
	}
	if (!LIST_EMPTY(&reaps))
		evtimer_add(ev_reap, &tv);
}

/*
 * Signal PID's process group with SIG, and reap it in the background;
 * OWNER's next GPU probe waits until then.
 */
static void
reap_add(struct probe_node *owner, pid_t pid, int sig)
{
	struct reap	*rp;
	struct timeval	 tv = { 0, REAP_POLL_MS * 1000 };

	(void)kill(-pid, sig);
	if ((rp = calloc(1, sizeof(*rp))) == NULL) {
		/* Without memory, wait for it here: it was sent a signal. */
		(void)kill(-pid, SIGKILL);
		(void)waitpid(pid, NULL, 0);
		return;
	}
	rp->owner = owner;
	owner->busy_pid = pid;
	owner->busy_since = owner->gpu.started;
	rp->pid = pid;
	rp->added = now_ms();
	rp->killed = sig == SIGKILL;
	LIST_INSERT_HEAD(&reaps, rp, entry);
	if (ev_reap == NULL &&
	    (ev_reap = evtimer_new(td->base, reap_cb, NULL)) == NULL)
		fatalx("%s: evtimer_new", __func__);
	if (!evtimer_pending(ev_reap, NULL))
		evtimer_add(ev_reap, &tv);
}

/* -------------------------------------------------------------- GPU runs */

static const char *
gpu_tool(enum gpu_kind k)
{
	return k == GPU_TEGRASTATS ? "tegrastats" : "nvidia-smi";
}

static int
gpu_chan_valid(const struct gpu_run *g)
{
	const struct node	*n = g->pn->node;

	return g->chan != NULL && n->sess != NULL && n->sess == g->sess &&
	    session_is_up(n->sess) && n->connects == g->connects;
}

static int
linger_valid(const struct gpu_linger *l, const struct node *n)
{
	return l->chan != NULL && n->sess != NULL && n->sess == l->sess &&
	    session_is_up(n->sess) && n->connects == l->connects;
}

/* Let go of the lingering channel (freed with its session if that went). */
static void
linger_drop(struct probe_node *pn)
{
	struct gpu_linger	*l = &pn->linger;

	if (l->chan != NULL && linger_valid(l, pn->node)) {
		ssh_remove_channel_callbacks(l->chan, &l->cb);
		ssh_channel_free(l->chan);
		session_flush(l->sess);
	}
	l->chan = NULL;
	l->sess = NULL;
	l->closed = l->opening = 0;
	if (l->ev != NULL)
		event_del(l->ev);
}

/*
 * A channel whose open timed out is answered some day: granted, it would
 * hold one of the server's MaxSessions (10 by default) until the session
 * ends, since libssh drops an unanswered channel on free and ignores its
 * late confirmation.  So it lingers until the answer, then is closed.
 */
static void
linger_settle_open(struct probe_node *pn)
{
	struct gpu_linger	*l = &pn->linger;
	int			 rc;

	if (l->chan == NULL || !l->opening)
		return;
	if (!linger_valid(l, pn->node)) {
		linger_drop(pn);
		return;
	}
	if ((rc = ssh_channel_open_session(l->chan)) == SSH_AGAIN)
		return;
	if (rc == SSH_OK)
		(void)ssh_channel_close(l->chan);
	linger_drop(pn);
}

static void
linger_ev_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct probe_node	*pn = arg;

	if (pn->linger.closed || !linger_valid(&pn->linger, pn->node))
		linger_drop(pn);
}

static int
linger_data(ssh_session ss, ssh_channel ch, void *data, uint32_t len,
    int is_stderr, void *arg)
{
	return (int)len;	/* too late: dropped */
}

static void
linger_close(ssh_session ss, ssh_channel ch, void *arg)
{
	struct probe_node	*pn = arg;

	pn->linger.closed = 1;
	event_active(pn->linger.ev, EV_TIMEOUT, 0);
}

/* Hand the run's channel, signalled and closed by us, to the linger slot. */
static void
linger_take(struct gpu_run *g)
{
	struct gpu_linger	*l = &g->pn->linger;

	ssh_remove_channel_callbacks(g->chan, &g->cb);
	l->chan = g->chan;
	l->sess = g->sess;
	l->connects = g->connects;
	l->started = g->started;
	l->closed = 0;
	memset(&l->cb, 0, sizeof(l->cb));
	l->cb.userdata = g->pn;
	l->cb.channel_data_function = linger_data;
	l->cb.channel_close_function = linger_close;
	ssh_callbacks_init(&l->cb);
	if (ssh_set_channel_callbacks(l->chan, &l->cb) != SSH_OK) {
		l->chan = NULL;
		ssh_channel_free(g->chan);
	}
	g->chan = NULL;
}

/* Release what the run holds; CHAN only if its session is still alive. */
static void
gpu_release(struct gpu_run *g, int stop_sig)
{
	if (g->chan != NULL) {
		if (gpu_chan_valid(g)) {
			int hung = stop_sig == SIGKILL && g->phase == GP_RUN &&
			    !g->chan_closed && ssh_channel_is_open(g->chan);
			int opening = g->phase == GP_OPEN;
			struct session *sess = g->sess;

			if (ssh_channel_is_open(g->chan)) {
				if (stop_sig && !g->chan_closed)
					(void)ssh_channel_request_send_signal(
					    g->chan, stop_sig == SIGKILL ?
					    "KILL" : "TERM");
				(void)ssh_channel_close(g->chan);
			}
			if ((hung || opening) && g->pn->linger.chan == NULL) {
				linger_take(g);
				g->pn->linger.opening = opening;
			} else {
				ssh_remove_channel_callbacks(g->chan, &g->cb);
				ssh_channel_free(g->chan);
			}
			session_flush(sess);
		}
		/* else: freed with its session already */
		g->chan = NULL;
		g->sess = NULL;
	}
	/*
	 * The tool was reaped but its pipes are still open: a helper it
	 * forked holds them.  While one lives the group id cannot be reused,
	 * so the group is still ours to kill.
	 */
	if (g->pid > 0 && g->reaped && (g->ev_out != NULL || g->ev_err != NULL))
		(void)kill(-g->pid, SIGKILL);
	if (g->ev_out) {
		event_free(g->ev_out);
		g->ev_out = NULL;
	}
	if (g->ev_err) {
		event_free(g->ev_err);
		g->ev_err = NULL;
	}
	if (g->fd_out != -1) {
		close(g->fd_out);
		g->fd_out = -1;
	}
	if (g->fd_err != -1) {
		close(g->fd_err);
		g->fd_err = -1;
	}
	if (g->pid > 0 && !g->reaped)
		reap_add(g->pn, g->pid, stop_sig ? stop_sig : SIGKILL);
	g->pid = -1;
	if (g->ev_poll)
		event_del(g->ev_poll);
	if (g->ev_deadline)
		event_del(g->ev_deadline);
	evbuffer_drain(g->out, evbuffer_get_length(g->out));
	evbuffer_drain(g->err, evbuffer_get_length(g->err));
	g->phase = GP_IDLE;
}

static void
gpu_finish(struct gpu_run *g, const char *fail, int stop_sig)
{
	struct probe_node	*pn = g->pn;
	struct probe_gpu_result	*res = &pn->r.gpu;
	struct gpu_sample	*s;
	char			 reason[REASON_MAX];
	size_t			 olen, elen;
	char			*buf;
	uint64_t		 now = now_ms();
	int			 rc;

	if (fail != NULL) {
		gpu_release(g, stop_sig ? stop_sig : SIGKILL);
		snprintf(reason, sizeof(reason), "gpu: %s", fail);
		common_fail(pn, &res->c, now, reason);
		probe_changed(pn);
		return;
	}
	if ((s = malloc(sizeof(*s))) == NULL) {
		gpu_release(g, SIGKILL);
		common_fail(pn, &res->c, now, "gpu: out of memory");
		probe_changed(pn);
		return;
	}
	/* stdout, then stderr, as the parser expects. */
	olen = evbuffer_get_length(g->out);
	elen = evbuffer_get_length(g->err);
	evbuffer_add_buffer(g->out, g->err);
	buf = (char *)evbuffer_pullup(g->out, -1);
	if (res->kind == GPU_TEGRASTATS)
		rc = gpu_parse_tegrastats(buf ? buf : "", olen, s);
	else
		rc = gpu_parse_nvidia_smi(buf ? buf : "", olen + elen,
		    g->has_exit ? g->exit_status : -1, s);
	if (rc == 0 && res->kind == GPU_TEGRASTATS && olen == 0)
		rc = -1;
	if (rc == -1 && res->kind == GPU_TEGRASTATS && elen > 0) {
		/* tegrastats said why on stderr: its first line. */
		const char *e = buf + olen, *nl = memchr(e, '\n', elen);

		/* Sanitised like every other reason: it reaches JSON. */
		text_copy(s->reason, sizeof(s->reason), e,
		    nl ? (size_t)(nl - e) : elen);
	}
	gpu_release(g, stop_sig);
	if (rc == 0) {
		res->sample = *s;
		res->has_sample = 1;
		common_ok(pn, &res->c, now, probe_gpu_threshold(&res->sample,
		    td->conf->alert_gpu_temp_c, td->conf->alert_gpu_mem_pct,
		    reason, sizeof(reason)) ? reason : NULL);
	} else {
		snprintf(reason, sizeof(reason), "gpu: %.240s", s->reason[0] ?
		    s->reason : "no output");
		common_fail(pn, &res->c, now, reason);
	}
	free(s);
	probe_changed(pn);
}

static void
gpu_deadline_cb(evutil_socket_t fd, short ev, void *arg)
{
	gpu_finish(arg, "timeout", SIGKILL);
}

/* Whether the run has what it came for. */
static int
gpu_have_first_line(struct gpu_run *g)
{
	return g->pn->r.gpu.kind == GPU_TEGRASTATS &&
	    evbuffer_search_eol(g->out, NULL, NULL, EVBUFFER_EOL_LF).pos != -1;
}

static void
gpu_ssh_step(struct gpu_run *g)
{
	const char	*cmd;
	int		 rc;

	if (!gpu_chan_valid(g)) {
		/*
		 * The session went (probe_session_down normally cancels the
		 * run first): nothing to report, the node is down anyway.
		 */
		gpu_release(g, 0);
		return;
	}
	switch (g->phase) {
	case GP_OPEN:
		rc = ssh_channel_open_session(g->chan);
		if (rc == SSH_AGAIN)
			break;
		if (rc != SSH_OK) {
			char why[REASON_MAX];

			snprintf(why, sizeof(why), "cannot open a channel: %s",
			    ssh_get_error(session_ssh(g->sess)));
			gpu_finish(g, why, 0);
			return;
		}
		g->phase = GP_EXEC;
		/* FALLTHROUGH */
	case GP_EXEC:
		cmd = g->pn->r.gpu.kind == GPU_TEGRASTATS ? TEGRASTATS_CMD :
		    NVIDIA_SMI_CMD;
		rc = ssh_channel_request_exec(g->chan, cmd);
		if (rc == SSH_AGAIN)
			break;
		if (rc != SSH_OK) {
			char why[REASON_MAX];

			snprintf(why, sizeof(why), "exec refused: %s",
			    ssh_get_error(session_ssh(g->sess)));
			gpu_finish(g, why, 0);
			return;
		}
		g->phase = GP_RUN;
		/* FALLTHROUGH */
	case GP_RUN:
		if (g->overflow) {
			gpu_finish(g, "output too large", SIGKILL);
			return;
		}
		if (gpu_have_first_line(g)) {
			gpu_finish(g, NULL, SIGTERM);
			return;
		}
		/*
		 * OpenSSH sends exit-status before close; data all came
		 * before EOF.  Either close, or EOF plus the status, ends it.
		 */
		if (g->chan_closed || (g->chan_eof && g->has_exit)) {
			gpu_finish(g, NULL, 0);
			return;
		}
		break;
	default:
		return;
	}
	session_flush(g->sess);
}

static int
gpu_chan_data(ssh_session ss, ssh_channel ch, void *data, uint32_t len,
    int is_stderr, void *arg)
{
	struct gpu_run	*g = arg;
	struct evbuffer	*b = is_stderr ? g->err : g->out;

	if (evbuffer_get_length(b) + len > PROBE_OUT_MAX)
		g->overflow = 1;
	else
		evbuffer_add(b, data, len);
	if (g->overflow || (!is_stderr && g->pn->r.gpu.kind == GPU_TEGRASTATS))
		event_active(g->ev_poll, EV_TIMEOUT, 0);
	return (int)len;	/* consumed (or dropped: over the cap) */
}

static void
gpu_chan_eof(ssh_session ss, ssh_channel ch, void *arg)
{
	struct gpu_run	*g = arg;

	g->chan_eof = 1;
	event_active(g->ev_poll, EV_TIMEOUT, 0);
}

static void
gpu_chan_close(ssh_session ss, ssh_channel ch, void *arg)
{
	struct gpu_run	*g = arg;

	g->chan_closed = g->chan_eof = 1;
	event_active(g->ev_poll, EV_TIMEOUT, 0);
}

static void
gpu_chan_exit(ssh_session ss, ssh_channel ch, int status, void *arg)
{
	struct gpu_run	*g = arg;

	g->has_exit = 1;
	g->exit_status = status;
	event_active(g->ev_poll, EV_TIMEOUT, 0);
}

static int
gpu_ssh_start(struct gpu_run *g)
{
	struct node	*n = g->pn->node;

	if ((g->chan = ssh_channel_new(session_ssh(n->sess))) == NULL)
		return -1;
	g->sess = n->sess;
	g->connects = n->connects;
	memset(&g->cb, 0, sizeof(g->cb));
	g->cb.userdata = g;
	g->cb.channel_data_function = gpu_chan_data;
	g->cb.channel_eof_function = gpu_chan_eof;
	g->cb.channel_close_function = gpu_chan_close;
	g->cb.channel_exit_status_function = gpu_chan_exit;
	ssh_callbacks_init(&g->cb);
	if (ssh_set_channel_callbacks(g->chan, &g->cb) != SSH_OK) {
		ssh_channel_free(g->chan);
		g->chan = NULL;
		g->sess = NULL;
		return -1;
	}
	g->phase = GP_OPEN;
	return 0;
}

/* Drain a pipe into B; 1 at EOF (or error), 0 while open. */
static int
gpu_pipe_read(struct gpu_run *g, int fd, struct evbuffer *b)
{
	char	buf[4096];
	ssize_t	r;
	int	i;

	for (i = 0; i < 16; i++) {
		r = read(fd, buf, sizeof(buf));
		if (r > 0) {
			if (evbuffer_get_length(b) + (size_t)r > PROBE_OUT_MAX)
				g->overflow = 1;
			else
				evbuffer_add(b, buf, (size_t)r);
			continue;
		}
		if (r == -1 && (errno == EAGAIN || errno == EINTR))
			return 0;
		return 1;
	}
	return 0;
}

static void
gpu_local_check(struct gpu_run *g)
{
	int	status;
	pid_t	w;

	if (g->overflow) {
		gpu_finish(g, "output too large", SIGKILL);
		return;
	}
	if (gpu_have_first_line(g)) {
		gpu_finish(g, NULL, SIGTERM);
		return;
	}
	if (!g->reaped) {
		w = waitpid(g->pid, &status, WNOHANG);
		if (w == g->pid) {
			g->reaped = 1;
			g->exited_at = now_ms();
			g->has_exit = 1;
			g->exit_status = WIFEXITED(status) ? WEXITSTATUS(status) :
			    128 + WTERMSIG(status);
		} else if (w == -1 && errno == ECHILD) {
			g->reaped = 1;
			g->exited_at = now_ms();
		}
	}
	/*
	 * Done when it exited and both pipes reached EOF, or shortly after
	 * it exited when a helper it left behind holds a pipe open.
	 */
	if (g->reaped && ((g->ev_out == NULL && g->ev_err == NULL) ||
	    now_ms() - g->exited_at >= 200))
		gpu_finish(g, NULL, 0);
}

static void
gpu_pipe_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct gpu_run	*g = arg;

	if (fd == g->fd_out && gpu_pipe_read(g, fd, g->out)) {
		event_free(g->ev_out);
		g->ev_out = NULL;
		close(g->fd_out);
		g->fd_out = -1;
	} else if (fd == g->fd_err && gpu_pipe_read(g, fd, g->err)) {
		event_free(g->ev_err);
		g->ev_err = NULL;
		close(g->fd_err);
		g->fd_err = -1;
	}
	gpu_local_check(g);
}

static int
gpu_local_start(struct gpu_run *g, char *why, size_t whysz)
{
	const char *const	*argv = g->pn->r.gpu.kind == GPU_TEGRASTATS ?
				    tegrastats_argv : nvidia_smi_argv;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t	 at;
	sigset_t		 def, none;
	int			 po[2] = { -1, -1 }, pe[2] = { -1, -1 }, rc;

	if (pipe2(po, O_CLOEXEC) == -1 || pipe2(pe, O_CLOEXEC) == -1) {
		snprintf(why, whysz, "pipe: %s", strerror(errno));
		goto fail;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, po[1], 1);
	posix_spawn_file_actions_adddup2(&fa, pe[1], 2);
	posix_spawnattr_init(&at);
	/* Its own group: a timeout kills whatever it started too. */
	posix_spawnattr_setpgroup(&at, 0);
	/* We ignore SIGPIPE; tegrastats must die of it when we stop reading. */
	sigemptyset(&def);
	sigaddset(&def, SIGPIPE);
	sigaddset(&def, SIGTERM);
	sigaddset(&def, SIGINT);
	sigaddset(&def, SIGHUP);
	sigaddset(&def, SIGCHLD);
	posix_spawnattr_setsigdefault(&at, &def);
	sigemptyset(&none);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP |
	    POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
	rc = posix_spawnp(&g->pid, argv[0], &fa, &at, (char *const *)argv,
	    environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close(po[1]);
	close(pe[1]);
	po[1] = pe[1] = -1;
	if (rc != 0) {
		g->pid = -1;
		snprintf(why, whysz, "%s: %s", argv[0], rc == ENOENT ?
		    "command not found" : strerror(rc));
		goto fail;
	}
	g->fd_out = po[0];
	g->fd_err = pe[0];
	g->reaped = 0;
	if (fcntl(g->fd_out, F_SETFL, O_NONBLOCK) == -1 ||
	    fcntl(g->fd_err, F_SETFL, O_NONBLOCK) == -1 ||
	    (g->ev_out = event_new(td->base, g->fd_out, EV_READ | EV_PERSIST,
	    gpu_pipe_cb, g)) == NULL ||
	    (g->ev_err = event_new(td->base, g->fd_err, EV_READ | EV_PERSIST,
	    gpu_pipe_cb, g)) == NULL) {
		snprintf(why, whysz, "cannot watch %s", argv[0]);
		g->phase = GP_LOCAL;
		gpu_release(g, SIGKILL);
		return -1;
	}
	event_add(g->ev_out, NULL);
	event_add(g->ev_err, NULL);
	g->phase = GP_LOCAL;
	return 0;
fail:
	if (po[0] != -1)
		close(po[0]);
	if (po[1] != -1)
		close(po[1]);
	if (pe[0] != -1)
		close(pe[0]);
	if (pe[1] != -1)
		close(pe[1]);
	return -1;
}

static void
gpu_poll_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct gpu_run	*g = arg;

	switch (g->phase) {
	case GP_OPEN:
	case GP_EXEC:
	case GP_RUN:
		gpu_ssh_step(g);
		break;
	case GP_LOCAL:
		gpu_local_check(g);
		break;
	default:
		break;
	}
}

static void
gpu_start(struct probe_node *pn)
{
	struct gpu_run	*g = &pn->gpu;
	struct node	*n = pn->node;
	struct timeval	 tv;
	uint64_t	 tmo = n->conf->probe_timeout;
	char		 why[REASON_MAX];

	if (pn->r.gpu.kind == GPU_NONE || g->phase != GP_IDLE)
		return;
	if (pn->linger.chan != NULL && !linger_valid(&pn->linger, n))
		linger_drop(pn);
	linger_settle_open(pn);
	if (!n->conf->local && pn->linger.opening) {
		gpu_finish(g, "timeout (the server has not answered an earlier "
		    "probe's channel open)", 0);
		return;
	}
	if ((!n->conf->local && pn->linger.chan != NULL) ||
	    (n->conf->local && pn->busy_pid != 0)) {
		snprintf(why, sizeof(why), "timeout (%s from an earlier probe "
		    "still running)", gpu_tool(pn->r.gpu.kind));
		gpu_finish(g, why, 0);
		return;
	}
	g->started = now_ms();
	g->overflow = g->chan_eof = g->chan_closed = g->has_exit = 0;
	g->exit_status = -1;
	if (n->conf->local) {
		if (gpu_local_start(g, why, sizeof(why)) == -1) {
			g->phase = GP_IDLE;
			gpu_finish(g, why, 0);
			return;
		}
	} else if (gpu_ssh_start(g) == -1) {
		gpu_finish(g, "cannot create a channel", 0);
		return;
	}
	tv.tv_sec = tmo / 1000;
	tv.tv_usec = (tmo % 1000) * 1000;
	evtimer_add(g->ev_deadline, &tv);
	tv.tv_sec = 0;
	tv.tv_usec = PROBE_POLL_MS * 1000;
	event_add(g->ev_poll, &tv);
	if (g->phase != GP_LOCAL)
		gpu_ssh_step(g);
}

static void
gpu_cancel(struct gpu_run *g)
{
	if (g->phase != GP_IDLE)
		gpu_release(g, SIGKILL);
}

/* ------------------------------------------------------ Ollama and HTTP */

static void	http_request(struct http_run *);

/*
 * Abort the connection under a request still in flight (timeout, cancel)
 * with a reset.  evhttp_connection_free() would shutdown(SHUT_WR) first: a
 * FIN, which a tunnel's forward takes for a half-close, so it would wait
 * for the hung server for ever, one connection per round.  dup2() of
 * /dev/null over the socket closes it at once (SO_LINGER 0: a reset, no
 * FIN) and leaves evhttp a harmless descriptor to shut down and close.
 */
static void
http_abort_socket(struct http_run *h)
{
	static int		 devnull = -1;
	struct bufferevent	*bev;
	struct linger		 lg = { 1, 0 };
	evutil_socket_t		 fd;

	if ((bev = evhttp_connection_get_bufferevent(h->evcon)) == NULL ||
	    (fd = bufferevent_getfd(bev)) == -1)
		return;
	if (devnull == -1 &&
	    (devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) == -1)
		return;
	if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)) == -1)
		return;
	/*
	 * Out of epoll while it is still a socket: once it is /dev/null every
	 * epoll_ctl MOD on it fails (EPERM), one warning per aborted probe.
	 */
	bufferevent_disable(bev, EV_READ | EV_WRITE);
	(void)dup3(devnull, fd, O_CLOEXEC);
}

static void
http_release(struct http_run *h)
{
	if (h->evcon != NULL) {
		if (h->inflight)
			http_abort_socket(h);
		/* Frees pending requests without calling their callbacks. */
		evhttp_connection_free(h->evcon);
		h->evcon = NULL;
	}
	h->inflight = 0;
	if (h->ev_deadline)
		event_del(h->ev_deadline);
	if (h->ev_next)
		event_del(h->ev_next);
	if (h->body)
		evbuffer_drain(h->body, evbuffer_get_length(h->body));
	ollama_info_clear(h->info);
	free(h->info);
	h->info = NULL;
	h->active = 0;
}

static void
http_cancel(struct http_run *h)
{
	if (h->active)
		http_release(h);
}

static void
http_fail(struct http_run *h, const char *reason)
{
	struct probe_node	*pn = h->pn;
	struct probe_common	*c;
	char			 buf[REASON_MAX + 64];

	http_release(h);
	if (h->kind == HK_OLLAMA) {
		c = &pn->r.ollama.c;
		snprintf(buf, sizeof(buf), "ollama: %s", reason);
	} else {
		c = &pn->r.http[h->idx].c;
		snprintf(buf, sizeof(buf), "%s: %s", pn->r.http[h->idx].url,
		    reason);
	}
	common_fail(pn, c, now_ms(), buf);
	probe_changed(pn);
}

static void
http_deadline_cb(evutil_socket_t fd, short ev, void *arg)
{
	http_fail(arg, "timeout");
}

/* Only record: the connection must not be freed from inside evhttp. */
static void
http_done_cb(struct evhttp_request *req, void *arg)
{
	struct http_run	*h = arg;
	struct evbuffer	*in;

	h->answered = 1;
	h->inflight = 0;
	h->elapsed_ms = (double)(now_us() - h->req_started_us) / 1000.0;
	if (req != NULL) {
		h->code = evhttp_request_get_response_code(req);
		if ((in = evhttp_request_get_input_buffer(req)) != NULL)
			evbuffer_add_buffer(h->body, in);
	}
	event_active(h->ev_next, EV_TIMEOUT, 0);
}

static void
http_error_cb(enum evhttp_request_error err, void *arg)
{
	struct http_run	*h = arg;

	h->err = (int)err;
}

static const char *
http_error_text(const struct http_run *h)
{
	switch (h->err) {
	case EVREQ_HTTP_TIMEOUT:
		return "timeout";
	case EVREQ_HTTP_EOF:
		return "connection closed before the answer was complete";
	case EVREQ_HTTP_INVALID_HEADER:
		return "malformed HTTP answer";
	case EVREQ_HTTP_BUFFER_ERROR:
		return "read error";
	case EVREQ_HTTP_DATA_TOO_LONG:
		return h->kind == HK_OLLAMA ? "body too large (over 1 MiB)" :
		    "body too large (over 64 KiB)";
	case -1:
		/*
		 * evhttp reports a failed connect by a callback with no
		 * status and no error code, and the socket error is gone by
		 * then.  On loopback (the tunnels' side) only a refusal
		 * fails a connect; elsewhere it may be unreachable too.
		 */
		return config_host_is_loopback(h->host) ?
		    "connection refused" : "cannot connect";
	default:
		return "request failed";
	}
}

static void
ollama_answer(struct http_run *h)
{
	struct probe_node		*pn = h->pn;
	struct probe_ollama_result	*o = &pn->r.ollama;
	char				 reason[OLLAMA_REASON_MAX];
	char				 why[REASON_MAX];
	const char			*body;
	size_t				 len;
	int				 rc;

	len = evbuffer_get_length(h->body);
	body = len ? (const char *)evbuffer_pullup(h->body, -1) : "";
	if (h->code < 200 || h->code > 299) {
		ollama_http_error(h->code, body, len, reason);
		snprintf(why, sizeof(why), "%.180s (%.60s)", reason, h->path);
		http_fail(h, why);
		return;
	}
	switch (h->step) {
	case OS_VERSION:
		h->version_ms = h->elapsed_ms;
		rc = ollama_parse_version(body, len, h->info, reason);
		break;
	case OS_TAGS:
		rc = ollama_parse_tags(body, len, h->info, reason);
		break;
	default:
		/* ps fills only the loaded part; the rest stays. */
		rc = ollama_parse_ps(body, len, h->info, reason);
		break;
	}
	if (rc == -1) {
		snprintf(why, sizeof(why), "%.60s: %.180s", h->path, reason);
		http_fail(h, why);
		return;
	}
	evbuffer_drain(h->body, len);
	if (++h->step < OS_DONE) {
		http_request(h);
		return;
	}
	ollama_info_move(&o->info, h->info);
	o->has_info = 1;
	o->latency_ms = h->version_ms;
	probe_check_models(o, pn->node->conf->require_models,
	    pn->node->conf->nrequire_models);
	http_release(h);
	common_ok(pn, &o->c, now_ms(), ollama_missing_text(o, why,
	    sizeof(why)));
	probe_changed(pn);
}

static void
http_answer(struct http_run *h)
{
	struct probe_node	*pn = h->pn;
	struct probe_http_result *r = &pn->r.http[h->idx];
	char			 why[64];

	r->latency_ms = h->elapsed_ms;
	if (h->code < 200 || h->code > 299) {
		r->http_status = h->code;
		snprintf(why, sizeof(why), "%d", h->code);
		http_fail(h, why);
		return;
	}
	r->http_status = h->code;
	http_release(h);
	common_ok(pn, &r->c, now_ms(), NULL);
	probe_changed(pn);
}

static void
http_next_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct http_run	*h = arg;

	if (!h->active || !h->answered)
		return;
	h->answered = 0;
	if (h->code == 0) {
		http_fail(h, http_error_text(h));
		return;
	}
	if (h->kind == HK_OLLAMA)
		ollama_answer(h);
	else
		http_answer(h);
}

static void
http_request(struct http_run *h)
{
	static const char *const ollama_paths[] = {
		"/api/version", "/api/tags", "/api/ps"
	};
	struct evhttp_request	*req;
	struct evkeyvalq	*hdr;
	char			 hosthdr[CONFIG_HOST_MAX + 16];

	if (h->kind == HK_OLLAMA)
		snprintf(h->path, sizeof(h->path), "%s%s", h->prefix,
		    ollama_paths[h->step]);
	h->code = 0;
	h->err = -1;
	h->answered = 0;
	if ((req = evhttp_request_new(http_done_cb, h)) == NULL) {
		http_fail(h, "out of memory");
		return;
	}
	evhttp_request_set_error_cb(req, http_error_cb);
	hdr = evhttp_request_get_output_headers(req);
	config_fmt_hostport(hosthdr, sizeof(hosthdr), h->host, h->port);
	evhttp_add_header(hdr, "Host", hosthdr);
	evhttp_add_header(hdr, "User-Agent", "tunneld/" PACKAGE_VERSION);
	evhttp_add_header(hdr, "Accept", "application/json");
	h->req_started_us = now_us();
	h->inflight = 1;
	/* On failure evhttp frees REQ itself. */
	if (evhttp_make_request(h->evcon, req, EVHTTP_REQ_GET, h->path) == -1)
		http_fail(h, "cannot send the request");
}

/* Split URL into host, port and path; -1 with WHY when unusable. */
static int
http_parse_url(struct http_run *h, const char *url, char *why, size_t whysz)
{
	struct evhttp_uri	*u;
	const char		*host, *path, *query;
	int			 port;

	if ((u = evhttp_uri_parse(url)) == NULL) {
		snprintf(why, whysz, "cannot parse URL");
		return -1;
	}
	host = evhttp_uri_get_host(u);
	port = evhttp_uri_get_port(u);
	path = evhttp_uri_get_path(u);
	query = evhttp_uri_get_query(u);
	if (evhttp_uri_get_scheme(u) == NULL ||
	    strcmp(evhttp_uri_get_scheme(u), "http") != 0 || host == NULL ||
	    *host == '\0') {
		evhttp_uri_free(u);
		snprintf(why, whysz, "not an http:// URL");
		return -1;
	}
	/* libevent keeps an IPv6 literal's brackets; the resolver wants none. */
	if (host[0] == '[' && host[strlen(host) - 1] == ']')
		snprintf(h->host, sizeof(h->host), "%.*s",
		    (int)strlen(host) - 2, host + 1);
	else
		snprintf(h->host, sizeof(h->host), "%s", host);
	h->port = port > 0 ? (uint16_t)port : 80;
	if (path == NULL || *path == '\0')
		path = "/";
	if (h->kind == HK_OLLAMA) {
		size_t l = strlen(path);

		while (l > 0 && path[l - 1] == '/')
			l--;
		snprintf(h->prefix, sizeof(h->prefix), "%.*s", (int)l, path);
	} else
		snprintf(h->path, sizeof(h->path), "%s%s%s", path,
		    query ? "?" : "", query ? query : "");
	evhttp_uri_free(u);
	return 0;
}

static void
http_start(struct http_run *h, const char *url)
{
	struct timeval	 tv;
	uint64_t	 tmo = h->pn->node->conf->probe_timeout;
	char		 why[128];

	if (h->active || url == NULL)
		return;
	h->active = 1;
	h->step = OS_VERSION;
	h->started = now_ms();
	if (http_parse_url(h, url, why, sizeof(why)) == -1) {
		http_fail(h, why);
		return;
	}
	if (h->kind == HK_OLLAMA &&
	    (h->info = calloc(1, sizeof(*h->info))) == NULL) {
		http_fail(h, "out of memory");
		return;
	}
	if ((h->evcon = evhttp_connection_base_new(td->base, td->dns, h->host,
	    h->port)) == NULL) {
		http_fail(h, "cannot create a connection");
		return;
	}
	/* Our deadline decides; evhttp's own timeout only backs it up. */
	tv.tv_sec = tmo / 1000 + 1;
	tv.tv_usec = (tmo % 1000) * 1000;
	evhttp_connection_set_timeout_tv(h->evcon, &tv);
	evhttp_connection_set_retries(h->evcon, 0);
	evhttp_connection_set_max_body_size(h->evcon, h->kind == HK_OLLAMA ?
	    OLLAMA_BODY_MAX : PROBE_HTTP_BODY_MAX);
	evhttp_connection_set_max_headers_size(h->evcon, PROBE_HEADERS_MAX);
	tv.tv_sec = tmo / 1000;
	tv.tv_usec = (tmo % 1000) * 1000;
	evtimer_add(h->ev_deadline, &tv);
	http_request(h);
}

static int
http_init(struct http_run *h, struct probe_node *pn, enum http_kind k,
    size_t idx)
{
	h->pn = pn;
	h->kind = k;
	h->idx = idx;
	h->ev_deadline = evtimer_new(td->base, http_deadline_cb, h);
	h->ev_next = event_new(td->base, -1, 0, http_next_cb, h);
	h->body = evbuffer_new();
	if (h->ev_deadline == NULL || h->ev_next == NULL || h->body == NULL)
		return -1;
	return 0;
}

static void
http_free(struct http_run *h)
{
	http_release(h);
	if (h->ev_deadline)
		event_free(h->ev_deadline);
	if (h->ev_next)
		event_free(h->ev_next);
	if (h->body)
		evbuffer_free(h->body);
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

static void
probe_round(struct probe_node *pn)
{
	size_t	i;

	probe_arm(pn, probe_jitter(pn->node->conf->probe_interval,
	    PROBE_JITTER, (double)(random() % 1000000) / 1000000.0));
	if (!probe_can_run(pn))
		return;
	gpu_start(pn);
	if (!pn->running)
		return;		/* a result stopped the node meanwhile */
	http_start(&pn->ollama, pn->r.ollama.url);
	for (i = 0; i < pn->r.nhttp && pn->running; i++)
		http_start(&pn->http[i], pn->r.http[i].url);
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

	gpu_cancel(&pn->gpu);
	linger_drop(pn);
	http_cancel(&pn->ollama);
	for (i = 0; i < pn->r.nhttp; i++)
		http_cancel(&pn->http[i]);
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
	pn->gpu.pn = pn;
	pn->gpu.pid = -1;
	pn->gpu.fd_out = pn->gpu.fd_err = -1;
	pn->gpu.out = evbuffer_new();
	pn->gpu.err = evbuffer_new();
	pn->gpu.ev_poll = event_new(td->base, -1, EV_PERSIST, gpu_poll_cb,
	    &pn->gpu);
	pn->gpu.ev_deadline = evtimer_new(td->base, gpu_deadline_cb, &pn->gpu);
	pn->ev_round = evtimer_new(td->base, probe_round_cb, pn);
	pn->linger.ev = event_new(td->base, -1, 0, linger_ev_cb, pn);
	if (pn->linger.ev == NULL || pn->gpu.out == NULL || pn->gpu.err == NULL ||
	    pn->gpu.ev_poll == NULL || pn->gpu.ev_deadline == NULL ||
	    pn->ev_round == NULL || http_init(&pn->ollama, pn, HK_OLLAMA, 0))
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
			    http_init(&pn->http[i], pn, HK_HTTP, i) == -1)
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
	if (pn->gpu.out != NULL && pn->gpu.err != NULL)
		gpu_cancel(&pn->gpu);
	linger_drop(pn);
	if (pn->linger.ev)
		event_free(pn->linger.ev);
	{
		struct reap *rp;

		LIST_FOREACH(rp, &reaps, entry)
			if (rp->owner == pn)
				rp->owner = NULL;
	}
	if (pn->gpu.out)
		evbuffer_free(pn->gpu.out);
	if (pn->gpu.err)
		evbuffer_free(pn->gpu.err);
	if (pn->gpu.ev_poll)
		event_free(pn->gpu.ev_poll);
	if (pn->gpu.ev_deadline)
		event_free(pn->gpu.ev_deadline);
	if (pn->ev_round)
		event_free(pn->ev_round);
	http_free(&pn->ollama);
	if (pn->http != NULL)
		for (i = 0; i < pn->r.nhttp; i++)
			http_free(&pn->http[i]);
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
	if (!evtimer_pending(pn->ev_round, NULL))
		probe_arm(pn, n->conf->local ? 0 : probe_jitter(
		    n->conf->probe_interval, PROBE_JITTER,
		    (double)(random() % 1000000) / 1000000.0));
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
	probe_arm(pn, 0);
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

/* H has a request in flight through one of N's local forwards. */
static int
http_via_forward(const struct http_run *h, const struct node *n)
{
	const struct fwd_conf	*f;
	size_t			 i;

	if (!h->active || h->evcon == NULL)
		return 0;
	for (i = 0; i < n->conf->nfwds; i++) {
		f = &n->conf->fwds[i];
		if (f->kind == FWD_LOCAL && f->listen_port == h->port &&
		    (strcmp(f->listen_host, h->host) == 0 ||
		    (config_host_is_loopback(f->listen_host) &&
		    config_host_is_loopback(h->host))))
			return 1;
	}
	return 0;
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
	k = http_via_forward(&pn->ollama, n);
	for (i = 0; i < pn->r.nhttp; i++)
		k += http_via_forward(&pn->http[i], n);
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

int
probe_gpu_outstanding(const struct node *n, uint64_t *since)
{
	const struct probe_node	*pn = n->probe;
	uint64_t		 t = 0;

	if (pn == NULL || pn->r.gpu.kind == GPU_NONE)
		return 0;
	if (pn->gpu.phase != GP_IDLE)
		t = pn->gpu.started;
	if (pn->linger.chan != NULL && linger_valid(&pn->linger, n) &&
	    (t == 0 || pn->linger.started < t))
		t = pn->linger.started;
	if (n->conf->local && pn->busy_pid != 0 &&
	    (t == 0 || pn->busy_since < t))
		t = pn->busy_since;
	if (t == 0)
		return 0;
	*since = t;
	return 1;
}

/* The http probes afresh: URLs added, removed or reordered. */
static int
probe_reconf_http(struct probe_node *pn, const struct node_conf *nc)
{
	struct probe_http_result	*r = NULL;
	struct http_run			*h = NULL;
	size_t				 i;

	for (i = 0; i < pn->r.nhttp; i++) {
		http_free(&pn->http[i]);
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
		    http_init(&h[i], pn, HK_HTTP, i) == -1) {
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
		http_cancel(&pn->ollama);
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
		common_judge(pn, &o->c, ollama_missing_text(o, why,
		    sizeof(why)));
	}
	if (d & NODE_KEY_GPU) {
		gpu_cancel(&pn->gpu);
		memset(&pn->r.gpu, 0, sizeof(pn->r.gpu));
		pn->r.gpu.kind = nc->gpu;
		probe_judge_reset(&pn->r.gpu.c.judge);
	}
	if ((d & NODE_KEY_HTTP) && probe_reconf_http(pn, nc) == -1)
		log_warnx("%s: %s: out of memory", __func__, nc->name);
	if ((d & NODE_KEY_PROBE_INTERVAL) && pn->running &&
	    evtimer_pending(pn->ev_round, NULL)) {
		evtimer_del(pn->ev_round);
		probe_arm(pn, probe_jitter(nc->probe_interval, PROBE_JITTER,
		    (double)(random() % 1000000) / 1000000.0));
	}
	/* New probes or new URLs: a round now, not an interval from now. */
	if ((d & (NODE_KEY_OLLAMA | NODE_KEY_GPU | NODE_KEY_HTTP)) &&
	    pn->running) {
		evtimer_del(pn->ev_round);
		probe_arm(pn, 0);
	}
	probe_changed(pn);
}
