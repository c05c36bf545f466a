/*
 * probe_http: the Ollama and HTTP runner of probe.c: one evhttp connection
 * per run, through the tunnel when the URL is a local forward.
 *
 * Ollama and HTTP.  libevent's evhttp client; one connection per probe
 * run, requests one after the other; bodies capped (evhttp refuses more);
 * our own deadline timer ends the run at probe_timeout.  evhttp request
 * callbacks only record the answer and activate a deferred event: the
 * connection is never freed from inside its own callback.
 */
#include <sys/socket.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "probe.h"
#include "probe_int.h"
#include "tunneld.h"

#define PROBE_HTTP_BODY_MAX	(64 * 1024)	/* health endpoints */
#define PROBE_HEADERS_MAX	(16 * 1024)

enum ollama_step { OS_VERSION, OS_TAGS, OS_PS, OS_DONE };

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

void
probe_http_cancel(struct http_run *h)
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
	probe_common_fail(pn, c, now_ms(), buf);
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
	probe_common_ok(pn, &o->c, now_ms(), probe_ollama_missing_text(o, why,
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
	probe_common_ok(pn, &r->c, now_ms(), NULL);
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

void
probe_http_start(struct http_run *h, const char *url)
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

int
probe_http_init(struct http_run *h, struct probe_node *pn, enum http_kind k,
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

void
probe_http_free(struct http_run *h)
{
	http_release(h);
	if (h->ev_deadline)
		event_free(h->ev_deadline);
	if (h->ev_next)
		event_free(h->ev_next);
	if (h->body)
		evbuffer_free(h->body);
}

/* H has a request in flight through one of N's local forwards. */
int
probe_http_via_forward(const struct http_run *h, const struct node *n)
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
