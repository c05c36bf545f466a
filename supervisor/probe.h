/*
 * probe: the runner that gets the bytes the pure parsers in probes/ read.
 *
 * Per node, every probe_interval (with +-10 % jitter, so that nodes do not
 * probe in lockstep) each configured probe starts, bounded by probe_timeout:
 *
 * - gpu: nvidia-smi (or tegrastats, first line, then the tool is stopped)
 *   through an exec channel of the node's SSH session, or spawned without a
 *   shell for `ssh = none` nodes;
 * - ollama: GET /api/version, /api/tags, /api/ps with libevent's HTTP
 *   client against the node's `ollama` URL (normally a local forward, so
 *   end to end through the tunnel);
 * - http: GET each `http` URL, 2xx expected.
 *
 * Everything runs in the one libevent loop; nothing blocks.  A node's probes
 * are independent of every other node's.
 *
 * The results below are read by status (JSON), by node (state, load_score)
 * and by alerts/metrics.  They are the stable interface of this module:
 * fields may be added, never renamed or removed.
 */
#ifndef TUNNELD_PROBE_H
#define TUNNELD_PROBE_H

#include <stddef.h>
#include <stdint.h>

#include "gpu.h"
#include "ollama.h"
#include "tunneld.h"

enum probe_status {
	PROBE_PENDING,		/* configured, no result yet */
	PROBE_OK,
	PROBE_FAILED,		/* reason says why */
};

/*
 * Rise and fall, as HAProxy's health checks have them: a probe is judged
 * failing after `fall` failed results in a row and passing again after
 * `rise` good ones, so that one blip moves neither the node's state nor
 * pool traffic nor an alert.  The first result after a start or a new
 * session is judged alone: there is no history to smooth yet.  What counts
 * as a failure: a failed probe, a GPU over a threshold, an Ollama lacking
 * a required model.
 */
struct probe_judge {
	int			 failing;	/* the judged state */
	int			 fresh;		/* the next result decides alone */
	unsigned		 fails;		/* failed results in a row */
	unsigned		 oks;		/* good results in a row */
	char			 reason[REASON_MAX];	/* latest failure, while failing */
};

/*
 * Common to every probe.  Times are monotonic ms (now_ms()); 0: never.
 * STALE: the figures kept (last good ones) are not confirmed by the latest
 * probe, because the session is down, the node stopped or the latest probe
 * failed.  Figures are never erased: a stale reading is still shown, marked.
 */
struct probe_common {
	enum probe_status	 status;
	char			 reason[REASON_MAX];	/* "" unless FAILED */
	uint64_t		 at;		/* end of the latest probe */
	uint64_t		 ok_at;		/* end of the latest good probe */
	int			 stale;
	uint64_t		 runs;		/* probes finished */
	uint64_t		 failures;	/* of which failed */
	struct probe_judge	 judge;		/* what the node's state follows */
};

struct probe_gpu_result {
	struct probe_common	 c;
	enum gpu_kind		 kind;		/* GPU_NONE: no GPU probe */
	int			 has_sample;	/* sample holds a good reading */
	struct gpu_sample	 sample;	/* latest good reading */
};

#define PROBE_MISSING_MAX	16

struct probe_ollama_result {
	struct probe_common	 c;
	const char		*url;		/* NULL: no Ollama probe; our own copy */
	int			 has_info;	/* info holds a good answer */
	double			 latency_ms;	/* of the latest good probe */
	struct ollama_info	 info;		/* latest good answer */
	/* require_models absent from info (checked on each good answer) */
	size_t			 nmissing;	/* stored, at most PROBE_MISSING_MAX */
	size_t			 nmissing_total;
	char			 missing[PROBE_MISSING_MAX][OLLAMA_NAME_MAX];
};

struct probe_http_result {
	struct probe_common	 c;
	const char		*url;		/* our own copy */
	int			 http_status;	/* of the latest answer, 0: none */
	double			 latency_ms;	/* of the latest answer */
};

/* A failure counts towards load_score for this long. */
#define PROBE_RECENT_MS		(5 * 60 * 1000)
#define PROBE_FAIL_RING		64

struct probe_results {
	struct probe_gpu_result	 gpu;
	struct probe_ollama_result ollama;
	struct probe_http_result *http;		/* nhttp entries, conf order */
	size_t			 nhttp;
	/* End times of failed probes, newest at fail_ring[(fail_next-1) % RING]. */
	uint64_t		 fail_ring[PROBE_FAIL_RING];
	unsigned		 fail_next;
};

/* Lifecycle, called by node.c. */
int		 probe_init(struct node *);	/* node_new */
void		 probe_free(struct node *);	/* node_free, before the session goes */
void		 probe_start(struct node *);	/* node_start: schedule rounds */
void		 probe_stop(struct node *);	/* node_stop/restart, before session_close */
void		 probe_session_up(struct node *);	/* a round now */
void		 probe_session_down(struct node *);	/* session gone: mark stale */

/* NULL when the node has no probe state. */
const struct probe_results *probe_results(const struct node *);
unsigned	 probe_forward_conns(const struct node *);
/*
 * The first fault a fresh probe result shows, in the order gpu, ollama,
 * required models, http; NULL when none.  Points into the node's results.
 */
const char	*probe_fault(const struct node *);
/* Failed probes that ended within PROBE_RECENT_MS before NOW. */
unsigned	 probe_recent_failures(const struct probe_results *, uint64_t now);
/* Seconds since the latest result, or -1 when there is none. */
double		 probe_age_s(const struct probe_common *, uint64_t now);
const char	*probe_status_name(enum probe_status);

/*
 * The GPU probe still running (or its tool, timed out but not yet gone):
 * 1 and SINCE (monotonic ms) when there is one.
 */
int		 probe_gpu_outstanding(const struct node *, uint64_t *since);
/* The node's config changed (OLD: the one before); its session is kept. */
void		 probe_reconf(struct node *, const struct node_conf *old);

/* Pure helpers, exposed for tests. */
/* One result (OK or not) judged; returns 1 when the judged state changed. */
int		 probe_judge_step(struct probe_judge *, int ok, unsigned rise,
		    unsigned fall);
void		 probe_judge_reset(struct probe_judge *);
/* The chat backend's formula. */
double		 probe_load_score(uint64_t active_conns, int has_latency,
		    double latency_ms, unsigned recent_failures);
/* BASE +- JITTER (0.1 = 10 %) with R in [0,1). */
uint64_t	 probe_jitter(uint64_t base, double jitter, double r);
/*
 * The round after one run at once, with R in [0,1): from half INTERVAL
 * (TIMEOUT, if that is later) to one and a half INTERVAL later.
 */
uint64_t	 probe_spread(uint64_t interval, uint64_t timeout, double r);
/* The first GPU above a threshold, worded like its alert; 0: none. */
int		 probe_gpu_threshold(const struct gpu_sample *, int temp_c,
		    int mem_pct, char *buf, size_t bufsz);
/* Record a failure ending at NOW in the ring. */
void		 probe_note_failure(struct probe_results *, uint64_t now);
/* Fill r->missing from INFO and the required list. */
void		 probe_check_models(struct probe_ollama_result *,
		    char *const *required, size_t nrequired);

#endif
