/*
 * probe_int.h: what probe.c (results, rounds), probe_gpu.c (the GPU runner)
 * and probe_http.c (the Ollama and HTTP runner) share; nothing outside
 * them includes it.  The public interface is probe.h.
 */
#ifndef TUNNELD_PROBE_INT_H
#define TUNNELD_PROBE_INT_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#include <libssh/callbacks.h>
#include <libssh/libssh.h>

#include "probe.h"
#include "tunneld.h"

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
	int			 spread;	/* this round ran at once: spread the next */
	struct event		*ev_round;
	struct gpu_run		 gpu;
	struct gpu_linger	 linger;
	pid_t			 busy_pid;	/* local: stopped child not yet reaped */
	uint64_t		 busy_since;	/* ... started then (monotonic ms) */
	struct http_run		 ollama;
	struct http_run		*http;		/* r.nhttp of them */
	char			 fault[REASON_MAX];
};

/* probe.c */
void		 probe_changed(struct probe_node *);
void		 probe_common_ok(struct probe_node *, struct probe_common *,
		    uint64_t now, const char *fault);
void		 probe_common_fail(struct probe_node *, struct probe_common *,
		    uint64_t now, const char *reason);
const char	*probe_ollama_missing_text(const struct probe_ollama_result *,
		    char *buf, size_t bufsz);

/* probe_gpu.c */
int		 probe_gpu_init(struct probe_node *);
void		 probe_gpu_free(struct probe_node *);
void		 probe_gpu_start(struct probe_node *);
void		 probe_gpu_cancel(struct gpu_run *);
void		 probe_gpu_linger_drop(struct probe_node *);

/* probe_http.c */
int		 probe_http_init(struct http_run *, struct probe_node *,
		    enum http_kind, size_t idx);
void		 probe_http_free(struct http_run *);
void		 probe_http_start(struct http_run *, const char *url);
void		 probe_http_cancel(struct http_run *);
int		 probe_http_via_forward(const struct http_run *,
		    const struct node *);

#endif
