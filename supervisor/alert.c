/*
 * alert: the hysteresis engine (pure, on a given clock) and the daemon
 * layer that feeds it from the live nodes.  See alert.h for the rules and
 * the bound on entries.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include <jansson.h>
#include <libssh/libssh.h>

#include "alert.h"
#include "control.h"
#include "log.h"
#include "node.h"
#include "probe.h"
#include "session.h"
#include "tunneld.h"

static const struct {
	const char	*title;		/* the condition, as it begins */
	const char	*cleared;	/* as it ends */
} alert_titles[ALERT_NKINDS] = {
	[ALERT_NODE_DOWN] =		{ "node down", "node recovered" },
	[ALERT_HOST_KEY_MISMATCH] =	{ "host key mismatch",
					  "host key accepted again" },
	[ALERT_REMOTE_PORT_IN_USE] =	{ "remote port in use",
					  "remote port granted" },
	[ALERT_OLLAMA_UNREACHABLE] =	{ "ollama unreachable",
					  "ollama answers again" },
	[ALERT_OLLAMA_SLOW] =		{ "ollama slow", "ollama fast again" },
	[ALERT_MODEL_MISSING] =		{ "required model missing",
					  "required models present" },
	[ALERT_GPU_HOT] =		{ "gpu hot", "gpu cooled" },
	[ALERT_GPU_MEMORY_HIGH] =	{ "gpu memory high",
					  "gpu memory back under the limit" },
	[ALERT_ALL_NODES_DOWN] =	{ "all nodes down",
					  "mesh serving again" },
	[ALERT_HOST_KEY_UNRECORDED] =	{ "host key not recorded",
					  "host key recorded" },
};

/* msgid.h keeps each kind and its twin side by side, in enum order. */
_Static_assert(ALERT_KINDS_N == 2 * ALERT_NKINDS,
    "msgid.h alert_kinds must hold a begin/cleared pair per alert_kind");

enum emit_type {
	EMIT_BEGIN,
	EMIT_REPEAT,
	EMIT_CLEAR,
	EMIT_FLAP_START,
	EMIT_FLAP_SUMMARY,
	EMIT_SETTLE_ACTIVE,
	EMIT_SETTLE_CLEAR,
};

struct alert_cond {
	TAILQ_ENTRY(alert_cond)	 entry;
	enum alert_kind		 kind;
	int			 has_node;
	char			 node[ALERT_NODE_MAX];
	char			 key[ALERT_KEY_MAX];

	int			 active;	/* as last reported */
	int			 announced;	/* the journal was told it holds */
	int			 flapping;
	uint64_t		 since;		/* start of the announced episode */
	uint64_t		 last_emit;
	uint64_t		 last_change;
	uint64_t		 window_start;	/* of the flap window */
	unsigned		 raises;	/* beginnings announced in it */
	unsigned		 window_changes;
	unsigned		 changes;	/* flapping: since the last entry */
	unsigned		 changes_total;	/* flapping: whole episode */

	char			 reason[ALERT_REASON_MAX];
	char			 fields[ALERT_FIELDS_MAX][ALERT_FIELD_MAX];
	size_t			 nfields;
	char			 clear_node[ALERT_NODE_MAX];
};
TAILQ_HEAD(alert_conds, alert_cond);

struct alert_engine {
	struct alert_conds	 conds;
	size_t			 nconds;
	uint64_t		 repeat_after;
	alert_sink		 sink;
	void			*arg;
};

const char *
alert_kind_title(enum alert_kind k)
{
	return (unsigned)k < ALERT_NKINDS ? alert_titles[k].title : "unknown";
}

const char *
alert_fmt_duration(char *buf, size_t len, uint64_t ms)
{
	uint64_t	s = ms / 1000, h = s / 3600, m = (s % 3600) / 60;

	if (ms < 1000)
		snprintf(buf, len, "%llums", (unsigned long long)ms);
	else if (s < 60)
		snprintf(buf, len, "%llus", (unsigned long long)s);
	else if (h == 0 && s % 60 == 0)
		snprintf(buf, len, "%llum", (unsigned long long)m);
	else if (h == 0)
		snprintf(buf, len, "%llum%llus", (unsigned long long)m,
		    (unsigned long long)(s % 60));
	else if (m == 0)
		snprintf(buf, len, "%lluh", (unsigned long long)h);
	else
		snprintf(buf, len, "%lluh%llum", (unsigned long long)h,
		    (unsigned long long)m);
	return buf;
}

struct alert_engine *
alert_engine_new(uint64_t repeat_after, alert_sink sink, void *arg)
{
	struct alert_engine	*e;

	if ((e = calloc(1, sizeof(*e))) == NULL)
		return NULL;
	TAILQ_INIT(&e->conds);
	e->repeat_after = repeat_after;
	e->sink = sink;
	e->arg = arg;
	return e;
}

void
alert_engine_free(struct alert_engine *e)
{
	struct alert_cond	*c;

	if (e == NULL)
		return;
	while ((c = TAILQ_FIRST(&e->conds)) != NULL) {
		TAILQ_REMOVE(&e->conds, c, entry);
		free(c);
	}
	free(e);
}

void
alert_engine_set_repeat(struct alert_engine *e, uint64_t ms)
{
	e->repeat_after = ms;
}

size_t
alert_engine_count(const struct alert_engine *e)
{
	return e->nconds;
}

/* The flap window: repeat_after, which a user already chose as "often". */
static uint64_t
alert_window(const struct alert_engine *e)
{
	return e->repeat_after ? e->repeat_after : ALERT_FLAP_WINDOW_MS;
}

static int
cond_match(const struct alert_cond *c, enum alert_kind kind, const char *node,
    const char *key)
{
	if (c->kind != kind)
		return 0;
	if ((node != NULL) != c->has_node ||
	    (node != NULL && strcmp(node, c->node) != 0))
		return 0;
	return strcmp(key ? key : "", c->key) == 0;
}

static struct alert_cond *
cond_find(const struct alert_engine *e, enum alert_kind kind, const char *node,
    const char *key)
{
	struct alert_cond	*c;

	TAILQ_FOREACH(c, &e->conds, entry)
		if (cond_match(c, kind, node, key))
			return c;
	return NULL;
}

int
alert_engine_active(const struct alert_engine *e, enum alert_kind kind,
    const char *node, const char *key)
{
	const struct alert_cond	*c = cond_find(e, kind, node, key);

	return c != NULL && c->announced;
}

static void
cond_store(struct alert_cond *c, const struct alert_vals *v)
{
	size_t	i;

	if (v == NULL)
		return;
	snprintf(c->reason, sizeof(c->reason), "%s", v->reason ? v->reason : "");
	snprintf(c->clear_node, sizeof(c->clear_node), "%s",
	    v->clear_node ? v->clear_node : "");
	if (v->keep_fields && c->nfields > 0)
		return;
	for (i = 0; i < ALERT_FIELDS_MAX && v->fields[i] != NULL; i++)
		snprintf(c->fields[i], sizeof(c->fields[i]), "%s", v->fields[i]);
	c->nfields = i;
}

/* 1 when every word of TITLE is a word of REASON: the reason says it all. */
static int
alert_reason_says(const char *reason, const char *title)
{
	const char	*w, *p;
	size_t		 n;

	for (w = title; *w != '\0'; w += n) {
		w += strspn(w, " ");
		if ((n = strcspn(w, " ")) == 0)
			break;
		for (p = reason; *p != '\0'; p++)
			if (strncmp(p, w, n) == 0 && (p == reason ||
			    !isalnum((unsigned char)p[-1])) &&
			    !isalnum((unsigned char)p[n]))
				break;
		if (*p == '\0')
			return 0;
	}
	return 1;
}

static void
cond_emit(struct alert_engine *e, struct alert_cond *c, enum emit_type t,
    uint64_t now)
{
	struct alert_entry	 a;
	char			 msg[1024], dur[32], win[32], fdur[64], frep[32];
	char			 fflap[48], who[ALERT_NODE_MAX + 4];
	const char		*title = alert_titles[c->kind].title;
	const char		*ctitle = alert_titles[c->kind].cleared;
	size_t			 i, nf = 0;

	memset(&a, 0, sizeof(a));
	a.kind = c->kind;
	a.cleared = t == EMIT_CLEAR || t == EMIT_SETTLE_CLEAR;
	a.repeat = t == EMIT_REPEAT || t == EMIT_SETTLE_ACTIVE;
	a.def = &alert_kinds[2 * c->kind + (a.cleared ? 1 : 0)];
	a.node = c->has_node ? c->node : NULL;
	/* The node that ended all-nodes-down is the one the entry is about. */
	if (a.cleared && !c->has_node && c->clear_node[0] != '\0')
		a.node = c->clear_node;
	a.key = c->key;
	a.reason = c->reason;
	a.duration_ms = now - c->since;
	alert_fmt_duration(dur, sizeof(dur), a.duration_ms);
	alert_fmt_duration(win, sizeof(win), alert_window(e));
	snprintf(who, sizeof(who), "%s%s", a.node ? a.node : "",
	    a.node ? ": " : "");

	switch (t) {
	case EMIT_BEGIN:
		/* "remote port 11436 in use" needs no "remote port in use: ". */
		if (alert_reason_says(c->reason, title))
			snprintf(msg, sizeof(msg), "%s%s", who, c->reason);
		else
			snprintf(msg, sizeof(msg), "%s%s: %s", who, title,
			    c->reason);
		break;
	case EMIT_REPEAT:
		snprintf(msg, sizeof(msg), "%s%s for %s now: %s", who, title,
		    dur, c->reason);
		break;
	case EMIT_CLEAR:
		snprintf(msg, sizeof(msg), "%s%s after %s: %s", who, ctitle,
		    dur, c->reason);
		break;
	case EMIT_FLAP_START:
		a.flapping = c->changes;
		snprintf(msg, sizeof(msg), "%s%s is flapping: %u changes within "
		    "%s; further changes are summarised at most every %s: %s",
		    who, title, c->changes, win, win, c->reason);
		break;
	case EMIT_FLAP_SUMMARY:
		a.flapping = c->changes;
		snprintf(msg, sizeof(msg), "%s%s still flapping: %u changes "
		    "since the last report, %u in %s; now %s: %s", who, title,
		    c->changes, c->changes_total, dur,
		    c->active ? "holds" : "clear", c->reason);
		break;
	case EMIT_SETTLE_ACTIVE:
		snprintf(msg, sizeof(msg), "%s%s, steady for %s after flapping "
		    "(%u changes), for %s now: %s", who, title, win,
		    c->changes_total, dur, c->reason);
		break;
	case EMIT_SETTLE_CLEAR:
		snprintf(msg, sizeof(msg), "%s%s after %s of flapping (%u "
		    "changes), steady for %s: %s", who, ctitle, dur,
		    c->changes_total, win, c->reason);
		break;
	}
	a.message = msg;

	for (i = 0; i < c->nfields; i++)
		a.fields[nf++] = c->fields[i];
	if (t != EMIT_BEGIN && t != EMIT_FLAP_START) {
		snprintf(fdur, sizeof(fdur), "TUNNELD_DURATION=%s", dur);
		a.fields[nf++] = fdur;
	}
	if (a.repeat) {
		snprintf(frep, sizeof(frep), "TUNNELD_REPEAT=1");
		a.fields[nf++] = frep;
	}
	if (a.flapping) {
		snprintf(fflap, sizeof(fflap), "TUNNELD_FLAPPING=%u", a.flapping);
		a.fields[nf++] = fflap;
	}
	a.fields[nf] = NULL;

	c->last_emit = now;
	if (e->sink != NULL)
		e->sink(&a, e->arg);
}

/* Repeats, flapping summaries and settling due at NOW; entries written. */
static int
cond_due(struct alert_engine *e, struct alert_cond *c, uint64_t now)
{
	uint64_t	w = alert_window(e);

	if (c->flapping) {
		if (now - c->last_change >= w) {
			/* Steady for a whole window: say how it settled. */
			c->flapping = 0;
			c->raises = 0;
			c->window_changes = 0;
			if (c->active)
				cond_emit(e, c, EMIT_SETTLE_ACTIVE, now);
			else {
				cond_emit(e, c, EMIT_SETTLE_CLEAR, now);
				c->announced = 0;
			}
			c->changes = c->changes_total = 0;
			return 1;
		}
		if (now - c->last_emit >= w) {
			cond_emit(e, c, EMIT_FLAP_SUMMARY, now);
			c->changes = 0;
			return 1;
		}
		return 0;
	}
	if (c->announced && c->active && e->repeat_after > 0 &&
	    now - c->last_emit >= e->repeat_after) {
		cond_emit(e, c, EMIT_REPEAT, now);
		return 1;
	}
	return 0;
}

int
alert_engine_update(struct alert_engine *e, enum alert_kind kind,
    const char *node, const char *key, int active,
    const struct alert_vals *vals, uint64_t now)
{
	struct alert_cond	*c;
	int			 n = 0;

	if ((unsigned)kind >= ALERT_NKINDS)
		return 0;
	active = active != 0;
	if ((c = cond_find(e, kind, node, key)) == NULL) {
		if (!active)
			return 0;	/* nothing was said, nothing to clear */
		if ((c = calloc(1, sizeof(*c))) == NULL) {
			log_warn("alerts: out of memory");
			return 0;
		}
		c->kind = kind;
		c->has_node = node != NULL;
		snprintf(c->node, sizeof(c->node), "%s", node ? node : "");
		snprintf(c->key, sizeof(c->key), "%s", key ? key : "");
		TAILQ_INSERT_TAIL(&e->conds, c, entry);
		e->nconds++;
	}
	cond_store(c, vals);

	if (active != c->active) {
		c->active = active;
		c->last_change = now;
		if (c->flapping) {
			/* Counted only; cond_due() reports at most once a window. */
			c->changes++;
			c->changes_total++;
		} else if (active) {
			if (c->raises == 0 || now - c->window_start >=
			    alert_window(e)) {
				c->window_start = now;
				c->raises = 0;
				c->window_changes = 0;
			}
			c->window_changes++;
			if (c->raises < ALERT_FLAP_MAX) {
				c->raises++;
				c->announced = 1;
				c->since = now;
				cond_emit(e, c, EMIT_BEGIN, now);
			} else {
				c->flapping = 1;
				c->announced = 1;
				c->since = now;
				c->changes = c->changes_total = c->window_changes;
				cond_emit(e, c, EMIT_FLAP_START, now);
				c->changes = 0;
			}
			n++;
		} else {
			c->window_changes++;
			if (c->announced) {
				cond_emit(e, c, EMIT_CLEAR, now);
				c->announced = 0;
				n++;
			}
		}
	}
	n += cond_due(e, c, now);
	return n;
}

/* Nothing to say any more and no flap history worth keeping. */
static int
cond_idle(const struct alert_engine *e, const struct alert_cond *c,
    uint64_t now)
{
	return !c->announced && !c->flapping && !c->active &&
	    (c->raises == 0 || now - c->window_start >= alert_window(e));
}

int
alert_engine_tick(struct alert_engine *e, uint64_t now)
{
	struct alert_cond	*c, *next;
	int			 n = 0;

	for (c = TAILQ_FIRST(&e->conds); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		n += cond_due(e, c, now);
		if (cond_idle(e, c, now)) {
			TAILQ_REMOVE(&e->conds, c, entry);
			e->nconds--;
			free(c);
		}
	}
	return n;
}

void
alert_engine_forget(struct alert_engine *e, const char *node,
    enum alert_kind kind)
{
	struct alert_cond	*c, *next;

	for (c = TAILQ_FIRST(&e->conds); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (kind != ALERT_NKINDS && c->kind != kind)
			continue;
		if (node != NULL && (!c->has_node || strcmp(c->node, node) != 0))
			continue;
		TAILQ_REMOVE(&e->conds, c, entry);
		e->nconds--;
		free(c);
	}
}

/* ------------------------------------------------------------------ */
/* The daemon layer.                                                   */

static struct alert_engine	*alerts;
static alert_sink		 alert_test_sink;
static void			*alert_test_arg;

/* The journal (with MESSAGE_ID) and every `tunnelctl watch`. */
static void
alert_publish(const struct alert_entry *a, void *arg)
{
	const char	*fields[LOG_FIELDS_MAX + 1];
	char		 msgid[48], ts[32];
	size_t		 i, nf = 0;
	json_t		*ev, *fo;
	const char	*eq;
	time_t		 t = time(NULL);
	struct tm	 tm;

	if (alert_test_sink != NULL) {
		alert_test_sink(a, alert_test_arg);
		return;
	}
	snprintf(msgid, sizeof(msgid), "MESSAGE_ID=%s", a->def->msgid);
	fields[nf++] = msgid;
	for (i = 0; a->fields[i] != NULL && nf < LOG_FIELDS_MAX; i++)
		fields[nf++] = a->fields[i];
	fields[nf] = NULL;
	log_entry(a->def->priority, a->node, a->def->event,
	    a->reason[0] ? a->reason : NULL, fields, "%s", a->message);

	gmtime_r(&t, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fo = json_object();
	for (i = 0; a->fields[i] != NULL; i++) {
		char	key[64];
		size_t	klen;

		if ((eq = strchr(a->fields[i], '=')) == NULL)
			continue;
		klen = (size_t)(eq - a->fields[i]);
		if (klen >= sizeof(key))
			continue;
		memcpy(key, a->fields[i], klen);
		key[klen] = '\0';
		json_object_set_new(fo, key, json_string(eq + 1));
	}
	ev = json_pack("{s:s,s:s,s:s,s:i,s:s,s:s,s:b,s:b,s:o,s:s}",
	    "event", "alert", "kind", a->def->event,
	    "message_id", a->def->msgid, "priority", a->def->priority,
	    "reason", a->reason, "message", a->message,
	    "cleared", a->cleared, "repeat", a->repeat, "fields", fo,
	    "time", ts);
	if (ev == NULL)
		return;
	json_object_set_new(ev, "node", a->node ? json_string(a->node) :
	    json_null());
	if (a->key[0])
		json_object_set_new(ev, "key", json_string(a->key));
	if (a->flapping)
		json_object_set_new(ev, "flapping", json_integer(a->flapping));
	control_broadcast(ev);
}

void
alert_set_sink(alert_sink sink, void *arg)
{
	alert_test_sink = sink;
	alert_test_arg = arg;
}

static struct alert_engine *
alert_engine_get(void)
{
	if (alerts == NULL &&
	    (alerts = alert_engine_new(0, alert_publish, NULL)) == NULL)
		fatal("%s: alert_engine_new", __func__);
	/* [alerts] repeat_after may change with every reload. */
	alert_engine_set_repeat(alerts, td->conf->alert_repeat_after);
	return alerts;
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
	char			 key[SESSION_KEY_MAX], khname[CONFIG_HOST_MAX + 16];
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
	alert_engine_update(e, ALERT_HOST_KEY_MISMATCH, nc->name, NULL, active,
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
	alert_engine_update(e, ALERT_HOST_KEY_UNRECORDED, nc->name, NULL,
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
		alert_engine_update(e, ALERT_REMOTE_PORT_IN_USE, n->conf->name,
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
	int			 w;

	names[0] = reason[0] = '\0';
	/*
	 * Runs on every transition of every node: counting only.  The text
	 * (two short buffers) is made only when every node is down.
	 */
	TAILQ_FOREACH(m, &td->nodes, entry) {
		if (m->state == NODE_STOPPED)
			continue;
		total++;
		if (m->state == NODE_UP || m->state == NODE_DEGRADED) {
			live++;
			if (back == NULL || m == trigger)
				back = m->conf->name;
		} else if (m->state == NODE_BACKOFF)
			down++;
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
		alert_engine_update(e, ALERT_ALL_NODES_DOWN, NULL, NULL, 0, &v,
		    now);
	} else if (down == total) {
		/*
		 * Only once every node has failed: not while some still make
		 * their first attempt (at start, one refused port must not
		 * page anyone before the others had their chance).
		 */
		vals_init(&v, &fb, reason);
		fb_add(&fb, &v, "TUNNELD_NODES=%s", names);
		alert_engine_update(e, ALERT_ALL_NODES_DOWN, NULL, NULL, 1, &v,
		    now);
	}
}

void
alert_node(struct node *n)
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
		alert_engine_update(e, ALERT_NODE_DOWN, nc->name, NULL, 1, &v, now);
	} else if (!nc->local && (n->state == NODE_UP ||
	    n->state == NODE_DEGRADED)) {
		snprintf(why, sizeof(why), "session established (connection "
		    "%llu)%s%s", (unsigned long long)n->connects,
		    n->state == NODE_DEGRADED ? "; degraded: " : "",
		    n->state == NODE_DEGRADED ? n->reason : "");
		vals_init(&v, &fb, why);
		fb_add(&fb, &v, "TUNNELD_SSH_TARGET=%s", nc->ssh);
		alert_engine_update(e, ALERT_NODE_DOWN, nc->name, NULL, 0, &v, now);
	}
	if (!nc->local && n->state != NODE_STOPPED) {
		alert_host_key(e, n, now);
		alert_host_key_unrecorded(e, n, now);
		alert_remote_ports(e, n, now);
	}
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
	alert_engine_update(e, ALERT_OLLAMA_UNREACHABLE, name, NULL,
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
	alert_engine_update(e, ALERT_OLLAMA_SLOW, name, NULL, slow, &v, now);

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
	alert_engine_update(e, ALERT_MODEL_MISSING, name, NULL,
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
			alert_engine_update(e, ALERT_GPU_HOT, n->conf->name, key,
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
			alert_engine_update(e, ALERT_GPU_MEMORY_HIGH,
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
static const char	**alert_names;
static size_t		  alert_names_cap;

static size_t
alert_names_hash(const char *s)
{
	size_t	h = 2166136261u;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

static void
alert_names_fill(void)
{
	struct node	*n;
	size_t		 count = 0, cap, i;

	TAILQ_FOREACH(n, &td->nodes, entry)
		count++;
	for (cap = 16; cap < count * 2; cap *= 2)
		;
	if (cap != alert_names_cap) {
		free(alert_names);
		if ((alert_names = calloc(cap, sizeof(*alert_names))) == NULL)
			fatal("%s: calloc", __func__);
		alert_names_cap = cap;
	} else
		memset(alert_names, 0, cap * sizeof(*alert_names));
	TAILQ_FOREACH(n, &td->nodes, entry) {
		for (i = alert_names_hash(n->conf->name) & (cap - 1);
		    alert_names[i] != NULL; i = (i + 1) & (cap - 1))
			;
		alert_names[i] = n->conf->name;
	}
}

static int
alert_names_has(const char *name)
{
	size_t	i;

	for (i = alert_names_hash(name) & (alert_names_cap - 1);
	    alert_names[i] != NULL; i = (i + 1) & (alert_names_cap - 1))
		if (strcmp(alert_names[i], name) == 0)
			return 1;
	return 0;
}

void
alert_tick(void)
{
	struct alert_engine	*e = alert_engine_get();
	struct alert_cond	*c, *next;
	uint64_t		 now = now_ms();

	/* Conditions of nodes a reload removed end without an entry. */
	alert_names_fill();
	for (c = TAILQ_FIRST(&e->conds); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (c->has_node && !alert_names_has(c->node)) {
			TAILQ_REMOVE(&e->conds, c, entry);
			e->nconds--;
			free(c);
		}
	}
	/* Probe results are judged as they arrive (node_update -> alert_node). */
	alert_all_down(e, NULL, now);
	alert_engine_tick(e, now);
}
