/*
 * ollama-standin: an Ollama-compatible HTTP server for the integration
 * tests, serving recorded answers (there is no real Ollama on a test box).
 *
 *	ollama-standin --listen 127.0.0.1:PORT --dir FIXTURE_DIR
 *	    [--control FILE] [--pidfile FILE] [--name NAME]
 *
 * With --name, every answer carries "X-Standin-Node: NAME" (which node of a
 * pool served it); answers to a POST carry "X-Body-Bytes: N", the length
 * of the request body received.
 *
 * Routes (docs/api.md of the ollama project):
 *	GET|HEAD /		200 "Ollama is running"
 *	GET|HEAD /api/version	FIXTURE_DIR/ollama-version.json
 *	GET|HEAD /api/tags	FIXTURE_DIR/ollama-tags.json
 *	GET|HEAD /api/ps	FIXTURE_DIR/ollama-ps.json
 *	POST /api/generate	a canned answer with realistic durations; one
 *				object with "stream":false, else NDJSON
 *	POST /api/chat, /api/embed, /api/embeddings
 *				the same answer (a stand-in: the body's model
 *				and the streaming are what pools look at)
 *	POST /v1/chat/completions, /v1/completions, /v1/embeddings
 *				the same words as OpenAI's server-sent events
 *				with "stream":true (default: one object)
 *
 * Behaviour is switched at runtime by the first word of the --control file,
 * re-read on every request (absent or empty file: ok):
 *	ok		answer normally
 *	slow MS		answer normally after MS milliseconds (a libevent
 *			timer: the loop keeps serving other clients)
 *	fail		HTTP 500 {"error":"..."}
 *	garbage		HTTP 200 with bytes that are not JSON
 *			(FIXTURE_DIR/ollama-garbage.txt, else built-in bytes)
 *	truncated	HTTP 200 with the first half of the body (the
 *			Content-Length matches what is sent: bad JSON)
 *	cut		HTTP 200 announcing the whole body's Content-Length,
 *			then half of it, then the connection is closed
 *			(a connection lost mid-body)
 *	nomodel		tags (FIXTURE_DIR/ollama-tags-nomodel.json, else a
 *			built-in list) and ps without qwen2.5:7b; generate
 *			for it answers 404
 *	hang		never answer (the connection stays open)
 *	interim		"HTTP/1.1 100 Continue", then nothing (the
 *			connection stays open)
 *	halfhead	the first bytes of a 200's head, then nothing
 *	close		close the connection without answering
 *	status N	answer HTTP N {"error":"..."} (502, 503: a node that
 *			is up but cannot serve)
 *	stream MS	answer normally, a streamed answer one line (NDJSON)
 *			or event (SSE) at a time, MS milliseconds apart,
 *			the first at once
 *	cutstream	a streamed answer: its first two lines, then the
 *			connection is closed (a node lost mid-answer)
 * An unknown word answers 500 naming it, so that a typo in a test shows.
 *
 * One line per request on stderr.  SIGTERM/SIGINT: clean exit.
 */
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#define FIXTURE_MAX	(4 * 1024 * 1024)
#define MODEL_MAX	128
#define DEFAULT_MODEL	"qwen2.5:7b"	/* the one "nomodel" takes away */

static const char *opt_dir = ".";
static const char *opt_control;
static const char *opt_pidfile;
static const char *opt_name;
static struct event_base *base;

struct mode {
	char	word[32];
	long	arg;
};

/* Answers held back by "slow". */
struct pending {
	LIST_ENTRY(pending)	 entry;
	struct evhttp_request	*req;
	struct event		*timer;
	int			 status;
	const char		*ctype;
	struct evbuffer		*body;
};
static LIST_HEAD(, pending) pendings = LIST_HEAD_INITIALIZER(pendings);

/* Streamed answers ("stream", "cutstream"): one piece per tick. */
struct streamer {
	LIST_ENTRY(streamer)	 entry;
	struct evhttp_request	*req;		/* NULL: the client went away */
	struct event		*timer;
	struct evbuffer		*body;
	const char		*sep;		/* "\n" or "\n\n" (SSE) */
	long			 gap_ms;
	int			 left;		/* pieces before a cut; -1: all */
};
static LIST_HEAD(, streamer) streamers = LIST_HEAD_INITIALIZER(streamers);

static const unsigned char garbage[] =
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n"
    "\x89PNG\r\n\x1a\n\x00\x01\xff\xfe{\"models\":[{\"na\x00me\"\r\n";

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
logline(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
logline(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%lld ollama-standin: ", now_ms());
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(stderr);
}

static void
read_mode(struct mode *m)
{
	char line[256], extra[64];
	FILE *f;
	int n;

	snprintf(m->word, sizeof(m->word), "ok");
	m->arg = 0;
	if (opt_control == NULL || (f = fopen(opt_control, "r")) == NULL)
		return;
	if (fgets(line, sizeof(line), f) != NULL) {
		extra[0] = '\0';
		n = sscanf(line, "%31s %63s", m->word, extra);
		if (n < 1)
			snprintf(m->word, sizeof(m->word), "ok");
		else if (strcmp(m->word, "slow") == 0 ||
		    strcmp(m->word, "stream") == 0 ||
		    strcmp(m->word, "status") == 0) {
			char *end;

			errno = 0;
			m->arg = n == 2 ? strtol(extra, &end, 10) : -1;
			if (n != 2 || errno != 0 || *end != '\0' || m->arg < 0)
				memcpy(m->word + strlen(m->word) - (m->word[
				    strlen(m->word) - 1] == '?'), "?", 2);
		}
	}
	fclose(f);
}

/* A fixture's bytes into BUF; -1 when it cannot be read. */
static int
add_fixture(struct evbuffer *buf, const char *name)
{
	char path[4096], chunk[8192];
	size_t n, total = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", opt_dir, name);
	if ((f = fopen(path, "rb")) == NULL)
		return -1;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0 &&
	    total < FIXTURE_MAX) {
		evbuffer_add(buf, chunk, n);
		total += n;
	}
	fclose(f);
	return 0;
}

/* 1 when FIXTURE_DIR/ollama-tags.json lists MODEL (or cannot be read). */
static int
model_known(const char *model)
{
	struct evbuffer *tags = evbuffer_new();
	char needle[MODEL_MAX + 16];
	int known = 1;

	if (add_fixture(tags, "ollama-tags.json") == 0) {
		snprintf(needle, sizeof(needle), "\"name\":\"%s\"", model);
		known = evbuffer_search(tags, needle, strlen(needle), NULL).pos
		    >= 0;
	}
	evbuffer_free(tags);
	return known;
}

/*
 * Finds "KEY" : in a request body and returns a pointer just past the
 * colon and blanks.  A test stand-in's scan, not a JSON parser.
 */
static const char *
find_key(const char *body, const char *key)
{
	char needle[64];
	const char *p;

	snprintf(needle, sizeof(needle), "\"%s\"", key);
	if ((p = strstr(body, needle)) == NULL)
		return NULL;
	p += strlen(needle);
	p += strspn(p, " \t\r\n");
	if (*p++ != ':')
		return NULL;
	return p + strspn(p, " \t\r\n");
}

static void
iso_now(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;
	char date[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%09ldZ", date, ts.tv_nsec);
}

/* POST /api/generate; DELAY_MS is folded into the reported durations. */
static int
generate(struct evhttp_request *req, const struct mode *m, long delay_ms,
    struct evbuffer *out, const char **ctype, int openai)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	char body[16384], model[MODEL_MAX], created[64];
	const char *p, *words[] = { "Hello", "!", " How", " can", " I",
	    " help", " you", " today", "?" };
	size_t n, i, nwords = sizeof(words) / sizeof(words[0]);
	int stream = 1;
	uint64_t load = 21345678, prompt = 35120450, eval = 180456789;

	n = evbuffer_copyout(in, body, sizeof(body) - 1);
	body[n > 0 ? n : 0] = '\0';
	if ((p = find_key(body, "model")) == NULL || *p != '"') {
		evbuffer_add_printf(out, "{\"error\":\"model is required\"}");
		return 400;
	}
	p++;
	n = strcspn(p, "\"\\");
	if (p[n] != '"' || n == 0 || n >= sizeof(model)) {
		evbuffer_add_printf(out, "{\"error\":\"invalid model name\"}");
		return 400;
	}
	memcpy(model, p, n);
	model[n] = '\0';
	if ((p = find_key(body, "stream")) != NULL &&
	    strncmp(p, "false", 5) == 0)
		stream = 0;
	if (openai)
		stream = p != NULL && strncmp(p, "true", 4) == 0;
	if ((strcmp(m->word, "nomodel") == 0 &&
	    strcmp(model, DEFAULT_MODEL) == 0) || !model_known(model)) {
		evbuffer_add_printf(out, "{\"error\":\"model '%s' not found\"}",
		    model);
		return 404;
	}

	load += (uint64_t)delay_ms * 1000000u;
	iso_now(created, sizeof(created));
	if (openai) {
		if (stream) {
			*ctype = "text/event-stream";
			for (i = 0; i < nwords; i++)
				evbuffer_add_printf(out, "data: {\"object\":"
				    "\"chat.completion.chunk\",\"model\":\"%s\","
				    "\"choices\":[{\"index\":0,\"delta\":{"
				    "\"content\":\"%s\"}}]}\n\n", model, words[i]);
			evbuffer_add_printf(out, "data: [DONE]\n\n");
			return 200;
		}
		evbuffer_add_printf(out, "{\"object\":\"chat.completion\","
		    "\"model\":\"%s\",\"choices\":[{\"index\":0,"
		    "\"message\":{\"role\":\"assistant\",\"content\":\"", model);
		for (i = 0; i < nwords; i++)
			evbuffer_add_printf(out, "%s", words[i]);
		evbuffer_add_printf(out, "\"}}]}");
		return 200;
	}
	if (stream) {
		*ctype = "application/x-ndjson";
		for (i = 0; i < nwords; i++)
			evbuffer_add_printf(out, "{\"model\":\"%s\","
			    "\"created_at\":\"%s\",\"response\":\"%s\","
			    "\"done\":false}\n", model, created, words[i]);
	}
	evbuffer_add_printf(out, "{\"model\":\"%s\",\"created_at\":\"%s\","
	    "\"response\":\"", model, created);
	if (!stream)
		for (i = 0; i < nwords; i++)
			evbuffer_add_printf(out, "%s", words[i]);
	evbuffer_add_printf(out, "\",\"done\":true,\"done_reason\":\"stop\","
	    "\"context\":[151644,8948,198,2610,525,1207,16948,13],"
	    "\"total_duration\":%" PRIu64 ",\"load_duration\":%" PRIu64 ","
	    "\"prompt_eval_count\":26,\"prompt_eval_duration\":%" PRIu64 ","
	    "\"eval_count\":%zu,\"eval_duration\":%" PRIu64 "}%s",
	    load + prompt + eval + 4321987, load, prompt, nwords, eval,
	    stream ? "\n" : "");
	return 200;
}

/* The normal answer to REQ, as Ollama would give it. */
static int
route(struct evhttp_request *req, const char *path, const struct mode *m,
    long delay_ms, struct evbuffer *out, const char **ctype)
{
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	int get = cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD;
	int nomodel = strcmp(m->word, "nomodel") == 0;
	const char *fixture = NULL;

	*ctype = "application/json; charset=utf-8";
	if (strcmp(path, "/") == 0) {
		if (!get)
			goto not_allowed;
		*ctype = "text/plain; charset=utf-8";
		evbuffer_add_printf(out, "Ollama is running");
		return 200;
	}
	if (strcmp(path, "/api/generate") == 0 ||
	    strcmp(path, "/api/chat") == 0 || strcmp(path, "/api/embed") == 0 ||
	    strcmp(path, "/api/embeddings") == 0 ||
	    strncmp(path, "/v1/", 4) == 0) {
		if (cmd != EVHTTP_REQ_POST)
			goto not_allowed;
		return generate(req, m, delay_ms, out, ctype,
		    strncmp(path, "/v1/", 4) == 0);
	}
	if (strcmp(path, "/api/version") == 0)
		fixture = "ollama-version.json";
	else if (strcmp(path, "/api/tags") == 0) {
		fixture = "ollama-tags.json";
		if (nomodel && add_fixture(out, "ollama-tags-nomodel.json") != 0)
			evbuffer_add_printf(out, "{\"models\":[{\"name\":"
			    "\"llama3.2:3b\",\"model\":\"llama3.2:3b\","
			    "\"modified_at\":\"2025-05-04T17:37:44.706015396-07:00\","
			    "\"size\":2019393189,\"digest\":\"a80c4f17acd55265"
			    "feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72\","
			    "\"details\":{\"parent_model\":\"\",\"format\":\"gguf\","
			    "\"family\":\"llama\",\"families\":[\"llama\"],"
			    "\"parameter_size\":\"3.2B\","
			    "\"quantization_level\":\"Q4_K_M\"}}]}");
	} else if (strcmp(path, "/api/ps") == 0) {
		fixture = "ollama-ps.json";
		if (nomodel)
			evbuffer_add_printf(out, "{\"models\":[]}");
	} else {
		*ctype = "text/plain";
		evbuffer_add_printf(out, "404 page not found");
		return 404;
	}
	if (!get)
		goto not_allowed;
	if (evbuffer_get_length(out) > 0)
		return 200;
	if (add_fixture(out, fixture) != 0) {
		logline("fixture %s/%s: %s", opt_dir, fixture, strerror(errno));
		evbuffer_add_printf(out, "{\"error\":\"ollama-standin: fixture "
		    "%s missing\"}", fixture);
		return 500;
	}
	return 200;

not_allowed:
	evbuffer_drain(out, evbuffer_get_length(out));
	*ctype = "text/plain";
	evbuffer_add_printf(out, "405 method not allowed");
	return 405;
}

static void
add_headers(struct evhttp_request *req)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	char n[32];

	if (opt_name != NULL)
		evhttp_add_header(h, "X-Standin-Node", opt_name);
	if (evhttp_request_get_command(req) == EVHTTP_REQ_POST) {
		snprintf(n, sizeof(n), "%zu", evbuffer_get_length(
		    evhttp_request_get_input_buffer(req)));
		evhttp_add_header(h, "X-Body-Bytes", n);
	}
}

static void
send_answer(struct evhttp_request *req, int status, const char *ctype,
    struct evbuffer *body)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	add_headers(req);
	evhttp_add_header(h, "Content-Type", ctype);
	evhttp_send_reply(req, status, status == 200 ? "OK" :
	    status == 404 ? "Not Found" : status == 400 ? "Bad Request" :
	    status == 405 ? "Method Not Allowed" : "Internal Server Error",
	    body);
}

static void
pending_free(struct pending *p)
{
	LIST_REMOVE(p, entry);
	event_free(p->timer);
	evbuffer_free(p->body);
	free(p);
}

/* "cut": the first half is on the wire; now drop the connection. */
static void
on_cut_written(struct evhttp_connection *evcon, void *arg)
{
	struct evhttp_request *req = arg;
	struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);

	if (bev != NULL)
		shutdown(bufferevent_getfd(bev), SHUT_RDWR);
	evhttp_send_reply_end(req);
}

static void
send_cut(struct evhttp_request *req, const char *ctype, struct evbuffer *body)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	size_t len = evbuffer_get_length(body);
	struct evbuffer *half = evbuffer_new();
	char clen[32];

	snprintf(clen, sizeof(clen), "%zu", len);
	add_headers(req);
	evhttp_add_header(h, "Content-Type", ctype);
	evhttp_add_header(h, "Content-Length", clen);
	evbuffer_remove_buffer(body, half, len / 2);
	evhttp_send_reply_start(req, 200, "OK");
	evhttp_send_reply_chunk_with_cb(req, half, on_cut_written, req);
	evbuffer_free(half);
}

/*
 * The timer of a "slow" answer.  If the client went away meanwhile, libevent
 * has detached REQ from its connection and evhttp_send_reply() frees it.
 */
static void
on_slow(evutil_socket_t fd, short what, void *arg)
{
	struct pending *p = arg;

	(void)fd;
	(void)what;
	send_answer(p->req, p->status, p->ctype, p->body);
	pending_free(p);
}

static void
streamer_free(struct streamer *st)
{
	LIST_REMOVE(st, entry);
	event_free(st->timer);
	evbuffer_free(st->body);
	free(st);
}

static void
on_stream_close(struct evhttp_connection *evcon, void *arg)
{
	struct streamer *st;

	(void)arg;
	LIST_FOREACH(st, &streamers, entry)
		if (st->req != NULL &&
		    evhttp_request_get_connection(st->req) == evcon)
			st->req = NULL;
}

/* One piece of a streamed answer; the end, or the cut, after the last. */
static void
on_stream_tick(evutil_socket_t fd, short what, void *arg)
{
	struct streamer *st = arg;
	struct evbuffer_ptr at;
	struct evbuffer *piece;
	struct timeval tv = { st->gap_ms / 1000, (st->gap_ms % 1000) * 1000 };
	struct timeval soon = { 0, 50000 };
	size_t n;

	(void)fd;
	(void)what;
	if (st->req == NULL) {
		streamer_free(st);
		return;
	}
	if (st->left == 0) {
		on_cut_written(evhttp_request_get_connection(st->req), st->req);
		streamer_free(st);
		return;
	}
	at = evbuffer_search(st->body, st->sep, strlen(st->sep), NULL);
	n = at.pos < 0 ? evbuffer_get_length(st->body) :
	    (size_t)at.pos + strlen(st->sep);
	piece = evbuffer_new();
	evbuffer_remove_buffer(st->body, piece, n);
	evhttp_send_reply_chunk(st->req, piece);
	evbuffer_free(piece);
	if (st->left > 0)
		st->left--;
	if (evbuffer_get_length(st->body) == 0 && st->left < 0) {
		evhttp_send_reply_end(st->req);
		streamer_free(st);
		return;
	}
	evtimer_add(st->timer, st->left == 0 ? &soon : &tv);
}

static void
send_stream(struct evhttp_request *req, const char *ctype,
    struct evbuffer *body, long gap_ms, int cut)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	struct streamer *st = calloc(1, sizeof(*st));

	if (st == NULL) {
		logline("out of memory");
		exit(1);
	}
	st->req = req;
	st->body = evbuffer_new();
	evbuffer_add_buffer(st->body, body);
	st->sep = strcmp(ctype, "text/event-stream") == 0 ? "\n\n" : "\n";
	st->gap_ms = gap_ms;
	st->left = cut ? 2 : -1;
	st->timer = evtimer_new(base, on_stream_tick, st);
	LIST_INSERT_HEAD(&streamers, st, entry);
	evhttp_connection_set_closecb(evhttp_request_get_connection(req),
	    on_stream_close, NULL);
	add_headers(req);
	evhttp_add_header(h, "Content-Type", ctype);
	evhttp_send_reply_start(req, 200, "OK");
	on_stream_tick(-1, 0, st);
}

static void
on_request(struct evhttp_request *req, void *arg)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	const char *method, *ctype;
	struct evbuffer *body;
	struct mode m;
	int status;
	long delay = 0;

	(void)arg;
	switch (evhttp_request_get_command(req)) {
	case EVHTTP_REQ_GET:	method = "GET"; break;
	case EVHTTP_REQ_HEAD:	method = "HEAD"; break;
	case EVHTTP_REQ_POST:	method = "POST"; break;
	default:		method = "OTHER"; break;
	}
	if (path == NULL || *path == '\0')
		path = "/";
	read_mode(&m);

	if (strcmp(m.word, "hang") == 0) {
		/* Never answered: evhttp_free() reclaims it at exit. */
		logline("%s %s mode=hang -> no answer", method, path);
		return;
	}
	if (strcmp(m.word, "interim") == 0 || strcmp(m.word, "halfhead") == 0) {
		struct evhttp_connection *evcon =
		    evhttp_request_get_connection(req);
		struct bufferevent *bev = evcon ?
		    evhttp_connection_get_bufferevent(evcon) : NULL;
		const char *part = strcmp(m.word, "interim") == 0 ?
		    "HTTP/1.1 100 Continue\r\n\r\n" :
		    "HTTP/1.1 200 OK\r\nContent-Le";

		/* Written under evhttp, which never answers this request. */
		logline("%s %s mode=%s -> a part, then no answer", method,
		    path, m.word);
		if (bev != NULL)
			(void)write(bufferevent_getfd(bev), part, strlen(part));
		return;
	}
	if (strcmp(m.word, "close") == 0) {
		struct evhttp_connection *evcon =
		    evhttp_request_get_connection(req);
		struct bufferevent *bev = evcon ?
		    evhttp_connection_get_bufferevent(evcon) : NULL;

		logline("%s %s mode=close -> connection closed", method, path);
		/*
		 * Shut the socket down under libevent's feet: nothing reaches
		 * the client, and the reply below fails to write, which makes
		 * libevent free the request and the connection in due course.
		 */
		if (bev != NULL)
			shutdown(bufferevent_getfd(bev), SHUT_RDWR);
		evhttp_send_reply(req, 500, "Closed", NULL);
		return;
	}

	body = evbuffer_new();
	if (strcmp(m.word, "slow") == 0)
		delay = m.arg;
	if (strcmp(m.word, "ok") == 0 || strcmp(m.word, "slow") == 0 ||
	    strcmp(m.word, "nomodel") == 0 || strcmp(m.word, "truncated") == 0 ||
	    strcmp(m.word, "cut") == 0 || strcmp(m.word, "stream") == 0 ||
	    strcmp(m.word, "cutstream") == 0)
		status = route(req, path, &m, delay, body, &ctype);
	else if (strcmp(m.word, "status") == 0) {
		status = (int)m.arg;
		ctype = "application/json; charset=utf-8";
		evbuffer_add_printf(body, "{\"error\":\"ollama-standin: "
		    "status %d\"}", status);
	}
	else if (strcmp(m.word, "fail") == 0) {
		status = 500;
		ctype = "application/json; charset=utf-8";
		evbuffer_add_printf(body, "{\"error\":\"llama runner process "
		    "has terminated: exit status 2\"}");
	} else if (strcmp(m.word, "garbage") == 0) {
		status = 200;
		ctype = "application/json; charset=utf-8";
		if (add_fixture(body, "ollama-garbage.txt") != 0)
			evbuffer_add(body, garbage, sizeof(garbage) - 1);
	} else {
		status = 500;
		ctype = "application/json; charset=utf-8";
		evbuffer_add_printf(body, "{\"error\":\"ollama-standin: unknown "
		    "control mode '%s'\"}", m.word);
	}
	if (strcmp(m.word, "truncated") == 0 && status == 200) {
		struct evbuffer *half = evbuffer_new();

		evbuffer_remove_buffer(body, half,
		    evbuffer_get_length(body) / 2);
		evbuffer_free(body);
		body = half;
	}
	if (delay > 0)
		logline("%s %s mode=slow %ld -> %d (%zu bytes) in %ld ms",
		    method, path, delay, status, evbuffer_get_length(body),
		    delay);
	else
		logline("%s %s mode=%s -> %d (%zu bytes)", method, path,
		    m.word, status, evbuffer_get_length(body));

	if (delay > 0) {
		struct pending *p = calloc(1, sizeof(*p));
		struct timeval tv = { delay / 1000, (delay % 1000) * 1000 };

		if (p == NULL) {
			logline("out of memory");
			exit(1);
		}
		p->req = req;
		p->status = status;
		p->ctype = ctype;
		p->body = body;
		p->timer = evtimer_new(base, on_slow, p);
		LIST_INSERT_HEAD(&pendings, p, entry);
		evtimer_add(p->timer, &tv);
		return;
	}
	if ((strcmp(m.word, "stream") == 0 || strcmp(m.word, "cutstream") == 0)
	    && status == 200 && (strcmp(ctype, "text/event-stream") == 0 ||
	    strcmp(ctype, "application/x-ndjson") == 0))
		send_stream(req, ctype, body, m.arg,
		    strcmp(m.word, "cutstream") == 0);
	else if (strcmp(m.word, "cut") == 0 && status == 200 &&
	    evhttp_request_get_command(req) != EVHTTP_REQ_HEAD)
		send_cut(req, ctype, body);
	else
		send_answer(req, status, ctype, body);
	evbuffer_free(body);
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	(void)arg;
	logline("signal %d, exiting", (int)sig);
	event_base_loopexit(base, NULL);
}

/* Written to PATH.tmp, then renamed: a reader never sees it half done. */
static int
write_pidfile(const char *path)
{
	char tmp[4096];
	FILE *f;
	int ok;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((f = fopen(tmp, "w")) == NULL) {
		fprintf(stderr, "ollama-standin: %s: %s\n", tmp, strerror(errno));
		return -1;
	}
	ok = fprintf(f, "%ld\n", (long)getpid()) > 0;
	ok = fclose(f) == 0 && ok;
	if (!ok || rename(tmp, path) != 0) {
		fprintf(stderr, "ollama-standin: pidfile %s: %s\n", path,
		    strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

static void
usage(void)
{
	fprintf(stderr, "usage: ollama-standin --listen HOST:PORT --dir "
	    "FIXTURE_DIR [--control FILE] [--pidfile FILE] [--name NAME]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	const char *listen = NULL;
	char host[256], *colon, *end;
	struct evhttp *http;
	struct evhttp_bound_socket *bound;
	struct event *ev_term, *ev_int;
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	long port;
	int i, bport = 0, rc = 0;

	for (i = 1; i < argc; i++) {
		if (i + 1 >= argc)
			usage();
		if (strcmp(argv[i], "--listen") == 0)
			listen = argv[++i];
		else if (strcmp(argv[i], "--dir") == 0)
			opt_dir = argv[++i];
		else if (strcmp(argv[i], "--control") == 0)
			opt_control = argv[++i];
		else if (strcmp(argv[i], "--pidfile") == 0)
			opt_pidfile = argv[++i];
		else if (strcmp(argv[i], "--name") == 0)
			opt_name = argv[++i];
		else
			usage();
	}
	if (listen == NULL || strlen(listen) >= sizeof(host))
		usage();
	snprintf(host, sizeof(host), "%s", listen);
	if ((colon = strrchr(host, ':')) == NULL)
		usage();
	*colon = '\0';
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || port < 0 || port > 65535)
		usage();

	signal(SIGPIPE, SIG_IGN);
	if ((base = event_base_new()) == NULL ||
	    (http = evhttp_new(base)) == NULL) {
		fprintf(stderr, "ollama-standin: libevent init failed\n");
		return 1;
	}
	/* "hang" and "slow" must not be cut short by evhttp's 50 s default. */
	evhttp_set_timeout(http, 3600);
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD |
	    EVHTTP_REQ_POST | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE);
	evhttp_set_gencb(http, on_request, NULL);
	bound = evhttp_bind_socket_with_handle(http, host, (ev_uint16_t)port);
	if (bound == NULL) {
		fprintf(stderr, "ollama-standin: cannot listen on %s: %s\n",
		    listen, strerror(errno));
		evhttp_free(http);
		event_base_free(base);
		return 1;
	}
	if (getsockname(evhttp_bound_socket_get_fd(bound),
	    (struct sockaddr *)&ss, &sslen) == 0) {
		if (ss.ss_family == AF_INET)
			bport = ntohs(((struct sockaddr_in *)&ss)->sin_port);
		else if (ss.ss_family == AF_INET6)
			bport = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	}
	ev_term = evsignal_new(base, SIGTERM, on_signal, NULL);
	ev_int = evsignal_new(base, SIGINT, on_signal, NULL);
	evsignal_add(ev_term, NULL);
	evsignal_add(ev_int, NULL);

	/* The pidfile is written once the port listens: a readiness mark. */
	if (opt_pidfile != NULL && write_pidfile(opt_pidfile) != 0)
		rc = 1;
	else {
		logline("listening on %s:%d, fixtures in %s, control %s", host,
		    bport, opt_dir, opt_control ? opt_control : "(none)");
		event_base_dispatch(base);
		if (opt_pidfile != NULL)
			unlink(opt_pidfile);
	}

	while (!LIST_EMPTY(&pendings))
		pending_free(LIST_FIRST(&pendings));
	while (!LIST_EMPTY(&streamers))
		streamer_free(LIST_FIRST(&streamers));
	evhttp_free(http);
	event_free(ev_term);
	event_free(ev_int);
	event_base_free(base);
	return rc;
}
