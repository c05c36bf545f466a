/*
 * metrics: the Prometheus text exposition (format 0.0.4) of the live
 * state, for `tunnelctl metrics` and for HTTP GET /metrics on
 * metrics_listen (libevent's evhttp, in the daemon's one loop).
 *
 * Families and labels follow doc/DESIGN.md: node, kind, listen, gpu,
 * direction, state.  Every family has HELP and TYPE lines, even while it
 * has no series.  Units are in the names (_seconds, _bytes, _celsius,
 * _ratio, _watts, _total for counters).  A reading that does not exist is
 * an absent series, never a 0: a node without an SSH session has no RTT, a
 * card that does not report power has no power series, and a probe whose
 * latest run failed, or whose figures are stale (session down), exports
 * none of its figures, only tunneld_ollama_up 0 or tunneld_gpu_probe_up 0.
 */
#ifndef TUNNELD_METRICS_H
#define TUNNELD_METRICS_H

#include <stddef.h>

/* The exposition text, NUL-terminated, malloc'd; NULL on memory failure. */
char	*metrics_render(size_t *len);
/* Label value escaping of the format: \ " and newline. */
void	 metrics_escape(char *buf, size_t len, const char *s);

/*
 * Serve td->conf->metrics_listen (or stop serving when it is unset): binds,
 * rebinds after a reload changed it, and retries a failed bind.  Called
 * once a second from the daemon's tick.  Returns 0 when the configured
 * state is reached.
 */
int	 metrics_sync(void);
void	 metrics_close(void);

#endif
