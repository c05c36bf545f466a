/*
 * status: the status JSON of the control protocol.  Rendering only: it
 * reads nodes and writes their JSON (jsonw.h), it changes nothing.
 *
 * Probe fields of a node (probe.h holds the results; absent readings are
 * null, never 0):
 *
 *   "ollama": null (no Ollama probe) or {"url", "state": "ok" | "down" |
 *       "pending", "reason", "age_s" (whole seconds since the latest
 *       result, null: none yet), "stale" (the figures are not confirmed by
 *       the latest probe: it failed, or the session is down), "version",
 *       "latency_ms", "models", "models_total", "loaded": [{"name",
 *       "size_vram"}], "missing_models"}; the figures are the latest good
 *       answer's, null before the first.
 *   "gpus": the latest good reading, one object per GPU: "index", "uuid",
 *       "name", "temp_c", "util_pct", "mem_used_mib", "mem_total_mib",
 *       "power_w", "power_limit_w"; [] before the first.
 *   "gpu_probe": null (gpu = none) or {"tool", "state", "reason", "age_s",
 *       "stale", "gpus_total"}.
 *   "http": [{"url", "state", "reason", "age_s", "stale", "status",
 *       "latency_ms"}], one per `http` URL.
 *   "probe_failures_recent": failed probes in the last 5 minutes, the
 *       "failures" term of "load_score".
 *   Each probe object also has "judged" ("passing" | "failing": what the
 *       node's state follows, rise/fall), "consecutive_failures" and
 *       "consecutive_successes"; "gpu_probe" has "outstanding_s": seconds
 *       since the GPU probe still running (or its timed-out tool, not
 *       yet ended) was started, null when none is.
 *   "history": the last 20 state changes, oldest first: {"time" (Unix
 *       seconds), "from", "to", "reason"}.
 *   "up_s_total", "down_s_total" (backoff or connecting),
 *       "degraded_s_total": whole seconds since the node was created.
 *   "probe_settings": {"interval_s", "timeout_s", "rise", "fall"}.
 *
 * "pending" also means: no result since the session came back (a failure
 * seen by an earlier session is history, not a fault of this one).
 */
#ifndef TUNNELD_STATUS_H
#define TUNNELD_STATUS_H

#include <jansson.h>

#include "tunneld.h"

struct evbuffer;
struct jsonw;
/*
 * Node N's status object written to W (jsonw.h: an error is latched
 * there); BRIEF: the summary, what a table row shows (doc/DESIGN.md).
 */
void	 status_node(struct jsonw *w, const struct node *n, uint64_t now,
	    int brief);
/*
 * The status reply (NAME NULL: every node) appended to OUT as one JSON line
 * without its newline, written with jansson's FLAGS (compact always): the
 * same text as dumping the whole object, but each node is written in turn
 * (jsonw, with FLAGS' JSON_REAL_PRECISION; its other flags apply to the
 * head and the pools only), so a reply for thousands of nodes never exists
 * as one tree.  BRIEF writes the summary instead.  0 when written, 1 when
 * NAME names no node, -1 when it could not be built (OUT is then as it
 * was).
 */
int	 status_write(struct evbuffer *out, const char *name, int brief,
	    size_t flags);
/*
 * The same reply in pieces, for a client that takes it as it is written
 * (control.c): status_head() opens it, status_nodes() adds nodes from
 * C on until OUT holds LIMIT bytes or none is left (status_cursor_done()),
 * status_tail() closes it, with the pools when POOLS.  Each returns 0, or
 * -1 when it could not write (OUT then holds a partial reply).
 */
/*
 * Where a status of every node goes on from: the next node of the list,
 * or, once a reload has changed the list under it, NAMES (the nodes not
 * yet written then, and those added since), each looked up as it comes:
 * a node removed meanwhile is left out, none is written twice.
 */
struct status_cursor {
	struct node	*next;		/* without NAMES; NULL: at the end */
	char		**names;
	size_t		 nnames, iname;	/* NAMES[INAME..] are still to come */
	uint64_t	 now;		/* one clock for the whole reply */
	int		 brief;
	int		 first;		/* no node written yet */
};
/* Whether every node is written. */
int	 status_cursor_done(const struct status_cursor *);
/* Before a reload: go on from the names of the nodes still to come. */
int	 status_cursor_detach(struct status_cursor *);
/* NAME was added by a reload: it comes at the end (by name from here on). */
int	 status_cursor_add(struct status_cursor *, const char *name);
void	 status_cursor_free(struct status_cursor *);
int	 status_head(struct evbuffer *out, uint64_t now, size_t flags);
int	 status_nodes(struct evbuffer *out, struct status_cursor *,
	    size_t limit, size_t flags);
int	 status_tail(struct evbuffer *out, int pools, size_t flags);
/* "2/3 nodes up; runpod backoff 8s: connection refused" */
void	 status_line(char *buf, size_t len);
int	 status_all_up(void);

#endif
