/*
 * alert_engine: journal alerts with hysteresis, decided on a given clock.
 *
 * The engine is pure: it is told, on a clock it is given, whether each
 * condition (node, kind, key) holds, and decides which journal entries
 * that is worth; it never reads the time or the daemon's state itself, so
 * tests drive it on a fake clock (tests/check_alert.c links it alone).
 * What it decides goes to the sink it was made with.  alert.c feeds it
 * from the live nodes.
 *
 * Hysteresis, per condition:
 *  - announced once when it begins (the kind's entry) and once when it
 *    ends (the "-cleared" twin, with TUNNELD_DURATION: how long it lasted);
 *  - while it lasts, repeated at most every repeat_after (TUNNELD_REPEAT=1,
 *    TUNNELD_DURATION so far);
 *  - flapping: at most ALERT_FLAP_MAX beginnings are announced per flap
 *    window (repeat_after, or ALERT_FLAP_WINDOW_MS when repeat_after is 0).
 *    The next beginning inside the window is announced once as flapping
 *    (the kind's MESSAGE_ID, TUNNELD_FLAPPING=changes so far); from then on
 *    changes are only counted, and summarised (TUNNELD_FLAPPING=changes since
 *    the previous entry) at most once per window, until the condition has
 *    held steady for a whole window: then one entry settles it (the cleared
 *    twin if it ended, a repeat if it still holds).
 *
 * The bound: one condition yields at most 2 * ALERT_FLAP_MAX + 1 entries in
 * the window that starts with its first announcement, then at most one per
 * window for as long as it keeps changing or holding, whatever the rate of
 * change.  A node flapping every second for an hour with repeat_after = 10m
 * makes 5 + 6 + 1 = 12 entries at most (tests/check_alert.c counts them).
 */
#ifndef TUNNELD_ALERT_ENGINE_H
#define TUNNELD_ALERT_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "msgid.h"

#define ALERT_FLAP_MAX		2		/* announced beginnings per window */
#define ALERT_FLAP_WINDOW_MS	600000		/* when repeat_after = 0 */
#define ALERT_FIELDS_MAX	10		/* measured values per condition */
#define ALERT_FIELD_MAX		192		/* "KEY=value" */
#define ALERT_KEY_MAX		64
#define ALERT_NODE_MAX		64
#define ALERT_REASON_MAX	256

/* Each kind is a begin/end pair of msgid.h: alert_kinds[2k], [2k + 1]. */
enum alert_kind {
	ALERT_NODE_DOWN,		/* node-down / node-recovered */
	ALERT_HOST_KEY_MISMATCH,
	ALERT_REMOTE_PORT_IN_USE,
	ALERT_OLLAMA_UNREACHABLE,
	ALERT_OLLAMA_SLOW,
	ALERT_MODEL_MISSING,
	ALERT_GPU_HOT,
	ALERT_GPU_MEMORY_HIGH,
	ALERT_ALL_NODES_DOWN,
	ALERT_HOST_KEY_UNRECORDED,	/* accept-new could not write the key */
	ALERT_NKINDS
};

/* What a condition is, now: the caller's words and measured values. */
struct alert_vals {
	const char	*reason;		/* one line, TUNNELD_REASON */
	const char	*fields[ALERT_FIELDS_MAX + 1];	/* "KEY=value", NULL-ended */
	const char	*clear_node;		/* all-nodes-down-cleared: the node back */
	int		 keep_fields;		/* keep the fields stored before
						   (model-missing-cleared names
						   the models that were missing) */
};

/* One entry the engine wants written; valid during the sink call only. */
struct alert_entry {
	enum alert_kind			 kind;
	const struct alert_kind_def	*def;	/* begin or cleared twin */
	const char			*node;	/* NULL: all-nodes-down */
	const char			*key;	/* "" when the kind has none */
	int				 cleared;
	int				 repeat;
	unsigned			 flapping; /* changes reported, 0: no */
	uint64_t			 duration_ms; /* cleared, repeat */
	const char			*reason;
	const char			*message;
	const char			*fields[ALERT_FIELDS_MAX + 6];
};

typedef void (*alert_sink)(const struct alert_entry *, void *arg);

struct alert_engine;

struct alert_engine *alert_engine_new(uint64_t repeat_after_ms, alert_sink,
		    void *arg);
void		 alert_engine_free(struct alert_engine *);
void		 alert_engine_set_repeat(struct alert_engine *, uint64_t ms);
/*
 * The condition (KIND, NODE, KEY) holds (ACTIVE) or not at NOW (ms on any
 * monotonic clock).  VALS describes it as it is now; it is kept for the
 * entries the engine writes later on its own (repeats, settling).  Returns
 * the number of entries written, or -1 when a new condition found no
 * memory (it is then not followed; the caller says so).
 */
int		 alert_engine_update(struct alert_engine *, enum alert_kind,
		    const char *node, const char *key, int active,
		    const struct alert_vals *, uint64_t now);
/* Repeats, flapping summaries and settling that are due at NOW. */
int		 alert_engine_tick(struct alert_engine *, uint64_t now);
/* Drop conditions without an entry: of NODE (NULL: all) and KIND
   (ALERT_NKINDS: every kind); for a node stopped or removed on purpose. */
void		 alert_engine_forget(struct alert_engine *, const char *node,
		    enum alert_kind);
/* Drop, without an entry, the conditions of every node LIVE (called with
   ARG) says is gone: the nodes a reload removed.  All-nodes-down stays. */
void		 alert_engine_forget_nodes(struct alert_engine *,
		    int (*live)(const char *node, void *arg), void *arg);
/* 1 when the journal was told (KIND, NODE, KEY) holds and not yet cleared. */
int		 alert_engine_active(const struct alert_engine *, enum alert_kind,
		    const char *node, const char *key);
size_t		 alert_engine_count(const struct alert_engine *);

/* "45s", "2m13s", "1h4m", "850ms": the config's duration syntax. */
const char	*alert_fmt_duration(char *buf, size_t len, uint64_t ms);
const char	*alert_kind_title(enum alert_kind);

#endif
