/*
 * pool_http: a pool in `mode = http`, routing each HTTP/1.1 request.
 *
 * The pool's listener (pool.c) hands each client here.  Every request on a
 * keep-alive connection is routed on its own: its head is parsed (Node's
 * http_parser, incrementally), and for the paths that name a model (Ollama's
 * generate/chat/embed, OpenAI's chat/completions/embeddings) the JSON body
 * is read, through jansson, up to its top-level "model" member, at most
 * POOL_HTTP_SCAN_MAX bytes of it.  The request then goes to a healthy node
 * that lists the model, one that has it loaded first, then by the pool's
 * policy.  Bytes pass through verbatim both ways; bodies stream (only the
 * scanned prefix and, for a retry, the first POOL_HTTP_REPLAY_MAX bytes of
 * the request are held).  A node that fails before the first byte of its
 * answer (channel refused, reset, 502/503, first_byte_timeout) is replaced by
 * the next, at most `retries` times; after it, the client gets what the node
 * sent.  Nodes are reached where the TCP pool reaches them
 * (pool_node_endpoint()); connections to them are kept for the next request.
 */
#ifndef TUNNELD_POOL_HTTP_H
#define TUNNELD_POOL_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "tunneld.h"

#define POOL_HTTP_SCAN_MAX	(1024 * 1024)	/* body bytes read for "model" */
#define POOL_HTTP_REPLAY_MAX	(1024 * 1024)	/* request bytes kept for a retry */
#define POOL_HTTP_MODEL_MAX	128

struct sockaddr;

/* What routing needs to know of a node; pure, for tests. */
struct pool_http_cand {
	enum node_state	 state;
	int		 reachable;	/* has an endpoint */
	int		 has_model;	/* lists the model (1 when none asked) */
	int		 loaded;	/* has it in VRAM */
	double		 load_score;
	unsigned	 outstanding;	/* requests in flight to it */
};

/*
 * Order the N candidates (listed order) into ORDER, best first; returns how
 * many qualify.  Qualify: reachable and listing the model; up ones, or, when
 * none is, degraded ones.  Loaded before not loaded, then by POLICY
 * (priority: listed order; least-load: load_score; least-outstanding:
 * requests in flight), ties in listed order.
 */
size_t	 pool_http_route(enum pool_policy, const struct pool_http_cand *,
	    size_t n, size_t *order);

/* 1 when PATH (query string allowed) is one whose JSON body names a model. */
int	 pool_http_path_has_model(const char *path, size_t len);

/*
 * The top-level "model" string of a JSON object body, from a prefix of BUF
 * (LEN bytes; COMPLETE: the whole body).  Returns 1 with MODEL set, 0 when
 * more bytes are needed, -1 when it is not there (not an object, invalid
 * JSON, no such member, not a string, too long).  *RESUME (0 at first)
 * keeps the offset of the first member not yet read, so that calls on a
 * growing prefix do not read the same members again.
 */
int	 pool_http_body_model(const char *buf, size_t len, int complete,
	    size_t *resume, char *model, size_t modelsz);

/*
 * For the fuzzer and tests: run the request (RESPONSE = 0) or answer parser
 * and this module's callbacks over BUF, fed STEP bytes at a time, as a
 * connection would (pauses at each head and message end, the body scanned
 * for the model); HEAD: the answers are to HEAD requests.  SEEN says what
 * was read; it does not depend on STEP.
 */
struct pool_http_seen {
	unsigned	 heads;		/* heads parsed in full */
	unsigned	 messages;	/* messages read to their end */
	unsigned	 interim;	/* 1xx answers */
	unsigned	 with_model;	/* requests whose model was found */
	int		 error;		/* http_errno where parsing stopped */
	uint64_t	 hash;		/* of method/status, URL, model of each */
};
void	 pool_http_replay(int response, int head, const char *buf, size_t len,
	    size_t step, struct pool_http_seen *);

void	 pool_http_accept(const struct pool_conf *, evutil_socket_t,
	    const struct sockaddr *, int salen);
void	 pool_http_free_all(void);
json_t	*pool_http_status_json(const struct pool_conf *);
/*
 * The pool's figures in the terms of a tcp pool: requests sent to another
 * node after a failure (its retries), and requests answered that no node
 * could take (no healthy node, or none that lists the model).
 */
void	 pool_http_counts(const struct pool_conf *, uint64_t *failovers,
	    uint64_t *refused);
/* Idle connections to NODE held through its forward (not its clients). */
unsigned pool_http_idle_forwarded(const char *node);
/* Requests relayed to local node NODE right now. */
unsigned pool_http_relayed(const char *node);

/* best [--model] for an http pool: the node its next request goes to. */
struct node *pool_http_best(const struct pool_conf *, const char *model,
	    char *why, size_t whysz);

#endif
