/*
 * alert_engine: the hysteresis engine, pure, on the clock it is given.
 * See alert_engine.h for the rules and the bound on entries.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "alert_engine.h"

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

static void
cond_drop(struct alert_engine *e, struct alert_cond *c)
{
	TAILQ_REMOVE(&e->conds, c, entry);
	e->nconds--;
	free(c);
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
		if ((c = calloc(1, sizeof(*c))) == NULL)
			return -1;
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
		if (cond_idle(e, c, now))
			cond_drop(e, c);
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
		cond_drop(e, c);
	}
}

void
alert_engine_forget_nodes(struct alert_engine *e,
    int (*live)(const char *, void *), void *arg)
{
	struct alert_cond	*c, *next;

	for (c = TAILQ_FIRST(&e->conds); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (c->has_node && !live(c->node, arg))
			cond_drop(e, c);
	}
}
