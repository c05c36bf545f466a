/*
 * Unit tests for the pure parts of the supervisor: backoff, the node state
 * table, the control request parser, the JSON writer and a node's status.
 */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "control.h"
#include "fixed.h"
#include "jsonw.h"
#include "node.h"
#include "pool.h"
#include "probe.h"
#include "probe_int.h"
#include "status.h"
#include "tunneld.h"



static const struct backoff_params bp = { 1000, 60000, 2.0, 0.2 };
static const struct backoff_params nojitter = { 1000, 60000, 2.0, 0.0 };

START_TEST(backoff_doubles_to_cap)
{
	ck_assert_uint_eq(backoff_delay(1, &nojitter, 0.3), 1000);
	ck_assert_uint_eq(backoff_delay(2, &nojitter, 0.3), 2000);
	ck_assert_uint_eq(backoff_delay(3, &nojitter, 0.3), 4000);
	ck_assert_uint_eq(backoff_delay(6, &nojitter, 0.3), 32000);
	ck_assert_uint_eq(backoff_delay(7, &nojitter, 0.3), 60000);
	ck_assert_uint_eq(backoff_delay(1000, &nojitter, 0.3), 60000);
	/* attempt 0 is treated as the first retry */
	ck_assert_uint_eq(backoff_delay(0, &nojitter, 0.3), 1000);
}
END_TEST

START_TEST(backoff_jitter_bounds)
{
	/* rnd 0 -> -20 %, rnd -> 1 -> +20 %, 0.5 -> exact */
	ck_assert_uint_eq(backoff_delay(1, &bp, 0.0), 800);
	ck_assert_uint_eq(backoff_delay(1, &bp, 0.5), 1000);
	ck_assert_uint_le(backoff_delay(1, &bp, 0.999999), 1200);
	ck_assert_uint_ge(backoff_delay(1, &bp, 0.999999), 1199);
	ck_assert_uint_eq(backoff_delay(100, &bp, 0.0), 48000);
	ck_assert_uint_le(backoff_delay(100, &bp, 0.999999), 72000);
	/* out-of-range random numbers do not escape the bounds */
	ck_assert_uint_eq(backoff_delay(1, &bp, 7.0), 1000);
	ck_assert_uint_eq(backoff_delay(1, &bp, -1.0), 1000);
}
END_TEST

START_TEST(backoff_degenerate_params)
{
	struct backoff_params p = { 0, 0, 0.5, 0.0 };

	/* never zero: a zero delay would spin the loop */
	ck_assert_uint_eq(backoff_delay(5, &p, 0.5), 1);
	p.initial = 500;
	p.max = 100000;
	/* a multiplier below 1 does not shrink the delay */
	ck_assert_uint_eq(backoff_delay(5, &p, 0.5), 500);
}
END_TEST

START_TEST(backoff_next_rules)
{
	struct backoff_params	p = { 1000, 60000, 2.0, 0.0 };
	struct backoff_event	refused = { 1, 0, 0 }, handshake = { 0, 0, 0 };
	struct backoff_event	lost_short = { 0, 1, 4000 };
	struct backoff_event	lost_stable = { 0, 1, 30000 };
	struct backoff_event	born_dead = { 0, 1, 50 };
	unsigned		a = 0;

	/* Refused TCP: retry_refused however long, the count untouched. */
	ck_assert_uint_eq(backoff_next(&p, 1000, 30000, &refused, &a, 0.5), 1000);
	ck_assert_uint_eq(a, 0);
	/* Handshake failures double. */
	ck_assert_uint_eq(backoff_next(&p, 1000, 30000, &handshake, &a, 0.5), 1000);
	ck_assert_uint_eq(backoff_next(&p, 1000, 30000, &handshake, &a, 0.5), 2000);
	ck_assert_uint_eq(backoff_next(&p, 1000, 30000, &handshake, &a, 0.5), 4000);
	ck_assert_uint_eq(a, 3);
	/* A session that lived 4 s was lost: at once, even mid-series... */
	ck_assert_uint_eq(backoff_next(&p, 1000, 30000, &lost_short, &a, 0.5), 0);
	ck_assert_uint_eq(a, 3);
	/* ... and a handshake failure after it goes on from the series. */
	ck_assert_uint_eq(backoff_next(&p, 1000, 30000, &handshake, &a, 0.5), 8000);
	/* A session dying at birth is a failure like a handshake's. */
	ck_assert_uint_eq(backoff_next(&p, 1000, 30000, &born_dead, &a, 0.5), 16000);
	/* A stable session resets the series. */
	ck_assert_uint_eq(backoff_next(&p, 1000, 30000, &lost_stable, &a, 0.5), 0);
	ck_assert_uint_eq(a, 1);
	ck_assert_uint_eq(backoff_next(&p, 1000, 30000, &handshake, &a, 0.5), 2000);
}
END_TEST

START_TEST(state_table)
{
	struct node_facts	 f;
	const char		*r;

	memset(&f, 0, sizeof(f));
	f.stopped = 1;
	f.down_reason = "stopped by tunnelctl";
	ck_assert_int_eq(node_eval(&f, &r), NODE_STOPPED);
	ck_assert_str_eq(r, "stopped by tunnelctl");

	memset(&f, 0, sizeof(f));
	f.local = 1;
	ck_assert_int_eq(node_eval(&f, &r), NODE_UP);
	ck_assert_str_eq(r, "");
	f.fault = "ollama: HTTP 500";
	ck_assert_int_eq(node_eval(&f, &r), NODE_DEGRADED);
	ck_assert_str_eq(r, "ollama: HTTP 500");

	memset(&f, 0, sizeof(f));
	f.connecting = 1;
	ck_assert_int_eq(node_eval(&f, &r), NODE_CONNECTING);

	memset(&f, 0, sizeof(f));
	f.down_reason = "connection refused";
	ck_assert_int_eq(node_eval(&f, &r), NODE_BACKOFF);
	ck_assert_str_eq(r, "connection refused");

	memset(&f, 0, sizeof(f));
	f.session_up = 1;
	ck_assert_int_eq(node_eval(&f, &r), NODE_UP);
	f.fault = "remote port 11436 in use";
	ck_assert_int_eq(node_eval(&f, &r), NODE_DEGRADED);
	ck_assert_str_eq(r, "remote port 11436 in use");
	f.fault = "";		/* an empty fault is no fault */
	ck_assert_int_eq(node_eval(&f, &r), NODE_UP);

	/* stopped wins over everything */
	f.stopped = 1;
	ck_assert_int_eq(node_eval(&f, &r), NODE_STOPPED);
}
END_TEST

START_TEST(state_names_roundtrip)
{
	enum node_state s;
	int i;

	for (i = 0; i < NODE_NSTATES; i++) {
		ck_assert_int_eq(node_state_from_name(node_state_name(i), &s), 0);
		ck_assert_int_eq(s, i);
	}
	ck_assert_int_eq(node_state_from_name("running", &s), -1);
	ck_assert_str_eq(node_state_name(NODE_BACKOFF), "backoff");
	ck_assert_str_eq(node_state_name(99), "unknown");
}
END_TEST

START_TEST(control_victim_floods_only_itself)
{
	/* root (0) waits; 65534 floods with waiting and answered clients. */
	struct ctl_slot	s[6] = {
		{ 0, 0, 0 }, { 65534, 1, 0 }, { 65534, 0, 0 }, { 1000, 0, 0 },
		{ 65534, 0, 0 }, { 0, 1, 0 },
	};
	struct ctl_slot	one[1] = { { 0, 0, 0 } };
	struct ctl_slot	done[3] = { { 7, 0, 0 }, { 8, 1, 0 }, { 8, 1, 0 } };
	struct ctl_slot	tie[4] = {
		{ 5, 1, 0 }, { 6, 0, 0 }, { 6, 1, 0 }, { 5, 0, 0 },
	};

	/* The flooder's oldest client still waiting, not root's older one. */
	ck_assert_uint_eq(control_victim(s, 6, 0), 2);
	ck_assert_uint_eq(control_victim(s, 6, 65534), 2);
	ck_assert_uint_eq(control_victim(one, 1, 1000), 0);
	/* All of the top user's clients are done: its oldest goes. */
	ck_assert_uint_eq(control_victim(done, 3, 7), 1);
	/* A tie: the user met first (the oldest client) is the one to yield. */
	ck_assert_uint_eq(control_victim(tie, 4, 6), 3);
}
END_TEST

START_TEST(control_victim_spares_fresh_requests)
{
	/* 65534's waiting clients, the oldest two still in their grace. */
	struct ctl_slot	fresh[4] = {
		{ 65534, 0, 1 }, { 0, 0, 0 }, { 65534, 0, 1 }, { 65534, 0, 0 },
	};
	struct ctl_slot	all_fresh[3] = {
		{ 65534, 0, 1 }, { 65534, 0, 1 }, { 0, 0, 0 },
	};
	/* Just answered (its reply may not be written yet), or long ago. */
	struct ctl_slot	answered[4] = {
		{ 65534, 1, 1 }, { 65534, 0, 1 }, { 0, 0, 0 }, { 65534, 1, 0 },
	};
	struct ctl_slot	just_answered[3] = {
		{ 65534, 1, 1 }, { 65534, 0, 1 }, { 0, 0, 0 },
	};

	/* Past its grace beats older: the first one that had its chance. */
	ck_assert_uint_eq(control_victim(fresh, 4, 65534), 3);
	/* Only fresh ones: the same user is turned away at the door... */
	ck_assert_uint_eq(control_victim(all_fresh, 3, 65534), 3);
	/* ...another user still gets in, at the flooder's expense. */
	ck_assert_uint_eq(control_victim(all_fresh, 3, 0), 0);
	ck_assert_uint_eq(control_victim(all_fresh, 3, 1000), 0);
	/* Answered long ago yields before anything in its grace... */
	ck_assert_uint_eq(control_victim(answered, 4, 65534), 3);
	/* ...and one just answered is as safe as one just connected. */
	ck_assert_uint_eq(control_victim(just_answered, 3, 65534), 3);
	ck_assert_uint_eq(control_victim(just_answered, 3, 0), 0);
}
END_TEST

static int
parse(const char *line, struct ctl_request *req, char *err)
{
	return control_parse(line, strlen(line), req, err, 256);
}

START_TEST(control_parse_good)
{
	struct ctl_request	req;
	char			err[256];

	ck_assert_int_eq(parse("status", &req, err), 0);
	ck_assert_int_eq(req.cmd, CTL_STATUS);
	ck_assert_str_eq(req.arg, "");
	ck_assert_int_eq(parse("status runpod", &req, err), 0);
	ck_assert_str_eq(req.arg, "runpod");
	ck_assert_int_eq(parse("  restart   all  ", &req, err), 0);
	ck_assert_int_eq(req.cmd, CTL_RESTART);
	ck_assert_str_eq(req.arg, "all");
	ck_assert_int_eq(parse("stop vengeance\r", &req, err), 0);
	ck_assert_int_eq(req.cmd, CTL_STOP);
	ck_assert_str_eq(req.arg, "vengeance");
	ck_assert_int_eq(parse("watch", &req, err), 0);
	ck_assert_int_eq(req.cmd, CTL_WATCH);
	ck_assert_int_eq(parse("best chat --model qwen2.5:7b", &req, err), 0);
	ck_assert_int_eq(req.cmd, CTL_BEST);
	ck_assert_str_eq(req.arg, "chat");
	ck_assert_str_eq(req.model, "qwen2.5:7b");
	ck_assert_int_eq(parse("best", &req, err), 0);
	ck_assert_str_eq(req.arg, "");
	ck_assert_int_eq(control_cmd_mutates(CTL_RELOAD), 1);
	ck_assert_int_eq(control_cmd_mutates(CTL_STATUS), 0);
	ck_assert_int_eq(control_cmd_mutates(CTL_WATCH), 0);
}
END_TEST

START_TEST(control_parse_bad)
{
	struct ctl_request	req;
	char			err[256], big[2048];

	ck_assert_int_eq(parse("", &req, err), -1);
	ck_assert_str_eq(err, "empty request");
	ck_assert_int_eq(parse("   ", &req, err), -1);
	ck_assert_int_eq(parse("frobnicate", &req, err), -1);
	ck_assert_ptr_nonnull(strstr(err, "unknown command 'frobnicate'"));
	ck_assert_int_eq(parse("restart", &req, err), -1);
	ck_assert_str_eq(err, "usage: restart NODE|all");
	ck_assert_int_eq(parse("stop a b", &req, err), -1);
	ck_assert_str_eq(err, "usage: stop NODE");
	ck_assert_int_eq(parse("reload now", &req, err), -1);
	ck_assert_str_eq(err, "usage: reload");
	ck_assert_int_eq(parse("status ../../etc", &req, err), -1);
	ck_assert_str_eq(err, "malformed name in request");
	ck_assert_int_eq(parse("status \"x\"", &req, err), -1);
	ck_assert_int_eq(parse("best --model", &req, err), -1);
	ck_assert_int_eq(control_parse("sta\0tus", 7, &req, err, sizeof(err)),
	    -1);
	ck_assert_str_eq(err, "malformed request: control character 0x00 at "
	    "byte 4");
	ck_assert_int_eq(parse("status \x1b[2J", &req, err), -1);
	memset(big, 'a', sizeof(big));
	ck_assert_int_eq(control_parse(big, sizeof(big), &req, err,
	    sizeof(err)), -1);
	ck_assert_str_eq(err, "request too long (at most 1024 bytes)");
	memset(big, 'x', 100);
	big[100] = '\0';
	ck_assert_int_eq(parse(big, &req, err), -1);
	ck_assert_int_eq(parse("a b c d e f g h i", &req, err), -1);
	ck_assert_str_eq(err, "too many words in request");
}
END_TEST



/* ------------------------------------------------------- rise and fall */

/* Feed RESULTS ('+' good, '-' failed); the judged states, one per result. */
static void
judge_run(unsigned rise, unsigned fall, const char *results, char *judged)
{
	struct probe_judge	j;

	memset(&j, 0, sizeof(j));
	probe_judge_reset(&j);
	for (; *results; results++)
		*judged++ = (probe_judge_step(&j, *results == '+', rise, fall),
		    j.failing ? 'F' : 'P');
	*judged = '\0';
}

START_TEST(judge_rise_fall)
{
	char	out[64];

	/* fall = 3: one or two blips change nothing, the third fails. */
	judge_run(2, 3, "++-+--+---", out);
	ck_assert_str_eq(out, "PPPPPPPPPF");
	/* rise = 2: one good result after failing is not enough. */
	judge_run(2, 3, "+---+-++", out);
	ck_assert_str_eq(out, "PPPFFFFP");
	/* The first result is judged alone: no history to smooth. */
	judge_run(2, 3, "-+++", out);
	ck_assert_str_eq(out, "FFPP");
	judge_run(2, 3, "+", out);
	ck_assert_str_eq(out, "P");
	/* rise = fall = 1: every result counts at once. */
	judge_run(1, 1, "+-+-", out);
	ck_assert_str_eq(out, "PFPF");
	/* 0 is read as 1, never as "never". */
	judge_run(0, 0, "+-+", out);
	ck_assert_str_eq(out, "PFP");
}
END_TEST

START_TEST(judge_counts_and_changes)
{
	struct probe_judge	j;

	memset(&j, 0, sizeof(j));
	probe_judge_reset(&j);
	ck_assert_int_eq(probe_judge_step(&j, 1, 2, 3), 0);
	ck_assert_int_eq(probe_judge_step(&j, 0, 2, 3), 0);
	ck_assert_int_eq(probe_judge_step(&j, 0, 2, 3), 0);
	ck_assert_uint_eq(j.fails, 2);
	ck_assert_uint_eq(j.oks, 0);
	ck_assert_int_eq(probe_judge_step(&j, 0, 2, 3), 1);	/* fell */
	ck_assert_int_eq(probe_judge_step(&j, 0, 2, 3), 0);
	ck_assert_uint_eq(j.fails, 4);
	ck_assert_int_eq(probe_judge_step(&j, 1, 2, 3), 0);
	ck_assert_uint_eq(j.oks, 1);
	ck_assert_uint_eq(j.fails, 0);
	ck_assert_int_eq(probe_judge_step(&j, 1, 2, 3), 1);	/* rose */
	ck_assert_int_eq(j.failing, 0);
	/* A reset (new session) makes the next result decide alone again. */
	probe_judge_step(&j, 0, 2, 3);
	probe_judge_reset(&j);
	ck_assert_int_eq(j.failing, 0);
	ck_assert_int_eq(probe_judge_step(&j, 0, 2, 3), 1);
}
END_TEST

/* ------------------------------------------------------- reload plans */

START_TEST(reload_plan_by_key)
{
	static const struct { unsigned keys; int session, local; unsigned plan; }
	    t[] = {
		{ 0, 0, 0, 0 },
		{ NODE_KEY_PRIORITY, 0, 0, RELOAD_ADOPT },
		{ NODE_KEY_OLLAMA, 0, 0, RELOAD_PROBES },
		{ NODE_KEY_GPU, 0, 0, RELOAD_PROBES },
		{ NODE_KEY_HTTP, 0, 0, RELOAD_PROBES },
		{ NODE_KEY_REQUIRE_MODELS, 0, 0, RELOAD_PROBES },
		{ NODE_KEY_PROBE_INTERVAL, 0, 0, RELOAD_PROBES },
		{ NODE_KEY_PROBE_TIMEOUT, 0, 0, RELOAD_PROBES },
		{ NODE_KEY_RISE | NODE_KEY_FALL, 0, 0, RELOAD_PROBES },
		{ NODE_KEY_PRIORITY | NODE_KEY_OLLAMA, 0, 0, RELOAD_PROBES },
		{ NODE_KEY_LOCAL_FORWARD, 0, 0, RELOAD_REBIND },
		{ NODE_KEY_LOCAL_FORWARD | NODE_KEY_REQUIRE_MODELS, 0, 0,
		    RELOAD_REBIND | RELOAD_PROBES },
		{ NODE_KEY_IDENTITY, 0, 0, RELOAD_RESTART },
		{ NODE_KEY_SSH, 0, 0, RELOAD_RESTART },
		{ NODE_KEY_REMOTE_FORWARD, 0, 0, RELOAD_RESTART },
		{ NODE_KEY_ENABLED, 0, 0, RELOAD_RESTART },
		{ NODE_KEY_IDENTITY | NODE_KEY_OLLAMA, 0, 0, RELOAD_RESTART },
		/* host key / keepalive settings of [tunneld]: every session */
		{ 0, 1, 0, RELOAD_RESTART },
		{ NODE_KEY_OLLAMA, 1, 0, RELOAD_RESTART },
		/* ... but a node without one has nothing to restart */
		{ 0, 1, 1, 0 },
		{ NODE_KEY_OLLAMA, 1, 1, RELOAD_PROBES },
	};
	size_t	i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		ck_assert_msg(tunneld_reload_plan(t[i].keys, t[i].session,
		    t[i].local) == t[i].plan, "case %zu: plan %#x, want %#x", i,
		    tunneld_reload_plan(t[i].keys, t[i].session, t[i].local),
		    t[i].plan);
	ck_assert_str_eq(tunneld_reload_plan_text(RELOAD_RESTART),
	    "session restarted");
	ck_assert_str_eq(tunneld_reload_plan_text(RELOAD_PROBES),
	    "probes updated, session and connections kept");
	ck_assert_str_eq(tunneld_reload_plan_text(0), "unchanged");
}
END_TEST

/* ------------------------------------------------------- node history */

START_TEST(node_history_ring)
{
	static struct node	n;
	const struct node_change *c;
	size_t			 i;

	memset(&n, 0, sizeof(n));
	ck_assert_ptr_null(node_history(&n, 0));
	/* 25 changes recorded: the ring keeps the last 20, oldest first. */
	for (i = 0; i < 25; i++)
		n.hist[i % NODE_HISTORY_MAX].time = (int64_t)i;
	n.nhist = 25;
	for (i = 0; i < NODE_HISTORY_MAX; i++) {
		c = node_history(&n, i);
		ck_assert_ptr_nonnull(c);
		ck_assert_int_eq(c->time, (int64_t)(i + 5));
	}
	ck_assert_ptr_null(node_history(&n, NODE_HISTORY_MAX));
	n.nhist = 3;
	ck_assert_int_eq(node_history(&n, 2)->time, 22);	/* slot 2, written last by 22 */
	ck_assert_ptr_null(node_history(&n, 3));
	/* Time in a state: the closed stretches plus the current one. */
	n.state = NODE_UP;
	n.since = 10000;
	n.state_ms[NODE_UP] = 5000;
	n.state_ms[NODE_BACKOFF] = 700;
	ck_assert_uint_eq(node_state_total(&n, NODE_UP, 12500), 7500);
	ck_assert_uint_eq(node_state_total(&n, NODE_BACKOFF, 12500), 700);
	ck_assert_uint_eq(node_state_total(&n, NODE_DEGRADED, 12500), 0);
}
END_TEST

/* ------------------------------------------------------------- pools */

static size_t
rank(enum pool_policy pol, const struct pool_cand *c, size_t n, size_t *o)
{
	return pool_rank(pol, c, n, o);
}

START_TEST(pool_priority_keeps_listed_order)
{
	struct pool_cand c[] = {
		{ NODE_BACKOFF, 0, 1 }, { NODE_UP, 900, 1 }, { NODE_UP, 5, 1 },
		{ NODE_DEGRADED, 0, 1 },
	};
	size_t o[4];

	ck_assert_uint_eq(rank(POOL_PRIORITY, c, 4, o), 2);
	ck_assert_uint_eq(o[0], 1);
	ck_assert_uint_eq(o[1], 2);
}
END_TEST

START_TEST(pool_least_load_sorts_stably)
{
	struct pool_cand c[] = {
		{ NODE_UP, 300, 1 }, { NODE_UP, 12.5, 1 }, { NODE_UP, 300, 1 },
		{ NODE_UP, 0.4, 1 }, { NODE_CONNECTING, 0, 1 },
	};
	size_t o[5];

	ck_assert_uint_eq(rank(POOL_LEAST_LOAD, c, 5, o), 4);
	ck_assert_uint_eq(o[0], 3);
	ck_assert_uint_eq(o[1], 1);
	ck_assert_uint_eq(o[2], 0);	/* tie: listed order */
	ck_assert_uint_eq(o[3], 2);
}
END_TEST

START_TEST(pool_degraded_only_when_none_up)
{
	struct pool_cand c[] = {
		{ NODE_DEGRADED, 50, 1 }, { NODE_BACKOFF, 0, 1 },
		{ NODE_DEGRADED, 10, 1 }, { NODE_STOPPED, 0, 1 },
	};
	size_t o[4];

	ck_assert_uint_eq(rank(POOL_PRIORITY, c, 4, o), 2);
	ck_assert_uint_eq(o[0], 0);
	ck_assert_uint_eq(o[1], 2);
	ck_assert_uint_eq(rank(POOL_LEAST_LOAD, c, 4, o), 2);
	ck_assert_uint_eq(o[0], 2);
	c[1].state = NODE_UP;
	ck_assert_uint_eq(rank(POOL_LEAST_LOAD, c, 4, o), 1);
	ck_assert_uint_eq(o[0], 1);
}
END_TEST

START_TEST(pool_unreachable_and_empty)
{
	struct pool_cand c[] = {
		{ NODE_UP, 0, 0 }, { NODE_BACKOFF, 0, 1 },
	};
	size_t o[2];

	/* Up but with no endpoint: never chosen. */
	ck_assert_uint_eq(rank(POOL_PRIORITY, c, 2, o), 0);
	ck_assert_uint_eq(rank(POOL_PRIORITY, c, 0, o), 0);
}
END_TEST

/* ------------------------------------------------------------- jsonw */

/* V written alone at the top, as text (static: valid until the next call). */
static const char *
jw_text(struct jsonw *w)
{
	static char	out[4096];

	ck_assert_int_eq(jsonw_done(w), 0);
	ck_assert_uint_lt(w->len, sizeof(out));
	memcpy(out, w->buf, w->len);
	out[w->len] = '\0';
	return out;
}

static const char *
jw_str(const char *s)
{
	char		buf[64];
	struct jsonw	w;
	const char	*t;

	jsonw_init(&w, buf, sizeof(buf), 15);
	ck_assert_int_eq(jsonw_key_str(&w, NULL, s), 0);
	t = jw_text(&w);
	jsonw_free(&w);
	return t;
}

/* Without a ck_assert when it works: called 100,000 times. */
static const char *
jw_real(double v, int precision)
{
	static char	out[64];
	char		buf[64];
	struct jsonw	w;

	jsonw_init(&w, buf, sizeof(buf), precision);
	if (jsonw_key_real(&w, NULL, v) == -1 || jsonw_done(&w) == -1 ||
	    w.len >= sizeof(out))
		ck_abort_msg("%.17g: not written", v);
	memcpy(out, w.buf, w.len);
	out[w.len] = '\0';
	jsonw_free(&w);
	return out;
}

static const char *
jw_int(int64_t v)
{
	char		buf[64];
	struct jsonw	w;
	const char	*t;

	jsonw_init(&w, buf, sizeof(buf), 15);
	ck_assert_int_eq(jsonw_key_int(&w, NULL, v), 0);
	t = jw_text(&w);
	jsonw_free(&w);
	return t;
}

/* What jansson writes for the same value: the text jsonw must match. */
static char *
jansson_text(json_t *v, int precision)
{
	char	*s;

	s = v != NULL ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY |
	    JSON_REAL_PRECISION(precision)) : NULL;
	json_decref(v);
	if (s == NULL)
		ck_abort_msg("jansson wrote nothing");
	return s;
}

START_TEST(jsonw_escapes)
{
	static const char *same[] = {
		"", "plain", "a\"b\\c", "\x01\x1f\n\t\r\b\f\x7f", "/",
		"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "\xf4\x8f\xbf\xbf",
	};
	char	*s;
	size_t	 i;

	ck_assert_str_eq(jw_str("a\"b\\c"), "\"a\\\"b\\\\c\"");
	/* Upper-case hex, as jansson; DEL and '/' as they are. */
	ck_assert_str_eq(jw_str("\x01\x1f\n\t\r\b\f\x7f/"),
	    "\"\\u0001\\u001F\\n\\t\\r\\b\\f\x7f/\"");
	/* Valid UTF-8 is kept as it is. */
	ck_assert_str_eq(jw_str("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"),
	    "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");
	/* Not UTF-8: each byte that starts no valid sequence is U+FFFD. */
	ck_assert_str_eq(jw_str("a\xc3("), "\"a\xef\xbf\xbd(\"");
	ck_assert_str_eq(jw_str("\xc0\x80"), "\"\xef\xbf\xbd\xef\xbf\xbd\"");
	ck_assert_str_eq(jw_str("\xe2\x82"), "\"\xef\xbf\xbd\xef\xbf\xbd\"");
	ck_assert_str_eq(jw_str("\xed\xa0\x80"),	/* a surrogate half */
	    "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
	ck_assert_str_eq(jw_str("\xf4\x90\x80\x80x"),	/* past U+10FFFF */
	    "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdx\"");
	ck_assert_str_eq(jw_str("\xff"), "\"\xef\xbf\xbd\"");
	ck_assert_str_eq(jw_str(NULL), "null");
	for (i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
		s = jansson_text(json_string(same[i]), 15);
		ck_assert_str_eq(jw_str(same[i]), s);
		free(s);
	}
}
END_TEST

START_TEST(jsonw_integers)
{
	ck_assert_str_eq(jw_int(0), "0");
	ck_assert_str_eq(jw_int(7), "7");
	ck_assert_str_eq(jw_int(-1), "-1");
	ck_assert_str_eq(jw_int(1234567890123LL), "1234567890123");
	ck_assert_str_eq(jw_int(INT64_MAX), "9223372036854775807");
	ck_assert_str_eq(jw_int(INT64_MIN), "-9223372036854775808");
}
END_TEST

START_TEST(jsonw_reals)
{
	static const double	 vals[] = {
		1.0, 0.1, 13.4573, 1e300, 1e-7, 398.41, -2.5, 0.0001,
		9.99999999999999e-5, 1e15, 999999999999999.0, 1e16, 1e21,
		0.30000000000000004, 5e-324, 1.7976931348623157e308, 123.456,
	};
	static const int	 precs[] = { 15, 17, 0, 6, 1 };
	uint64_t		 x = 88172645463325252ULL;
	double			 v;
	char			*s;
	const char		*t;
	size_t			 i, p;

	ck_assert_str_eq(jw_real(1.0, 15), "1.0");
	ck_assert_str_eq(jw_real(0.1, 15), "0.1");
	ck_assert_str_eq(jw_real(13.4573, 15), "13.4573");
	/* jansson drops the exponent's '+' and leading zeros. */
	ck_assert_str_eq(jw_real(1e300, 15), "1e300");
	ck_assert_str_eq(jw_real(1e-7, 15), "1e-7");
	ck_assert_str_eq(jw_real(1e15, 15), "1e15");
	ck_assert_str_eq(jw_real(123456789012345.0, 15), "123456789012345.0");
	ck_assert_str_eq(jw_real(0.30000000000000004, 15), "0.3");
	ck_assert_str_eq(jw_real(0.1, 17), "0.10000000000000001");
	ck_assert_str_eq(jw_real(0.0, 15), "0.0");
	ck_assert_str_eq(jw_real(-0.0, 15), "-0.0");
	ck_assert_str_eq(jw_real(-12.5, 15), "-12.5");
	/* JSON has no NaN nor infinity. */
	ck_assert_str_eq(jw_real(NAN, 15), "null");
	ck_assert_str_eq(jw_real(INFINITY, 15), "null");
	ck_assert_str_eq(jw_real(-INFINITY, 15), "null");
	/* Whatever the value, the text is jansson's. */
	for (p = 0; p < sizeof(precs) / sizeof(precs[0]); p++) {
		for (i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
			s = jansson_text(json_real(vals[i]), precs[p]);
			ck_assert_str_eq(jw_real(vals[i], precs[p]), s);
			free(s);
		}
		for (i = 0; i < 20000; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			switch (i % 3) {
			case 0:		/* any bits */
				memcpy(&v, &x, sizeof(v));
				if (!isfinite(v))
					continue;
				break;
			case 1:		/* a few decimals */
				v = (double)(int64_t)(x % 100000000) /
				    pow(10, (double)(x >> 60));
				break;
			default:	/* milliseconds as seconds */
				v = (double)(x % 10000000) / 1000.0;
				break;
			}
			/* Checked quietly: each ck_assert is a message to
			   the runner, 100,000 of them take seconds. */
			s = jansson_text(json_real(v), precs[p]);
			t = jw_real(v, precs[p]);
			if (strcmp(t, s) != 0)
				ck_abort_msg("%.17g: \"%s\", jansson \"%s\"",
				    v, t, s);
			free(s);
		}
	}
}
END_TEST

START_TEST(jsonw_nesting)
{
	char		buf[256];
	struct jsonw	w;

	jsonw_init(&w, buf, sizeof(buf), 15);
	jsonw_obj_open(&w, NULL);
	jsonw_arr_open(&w, "a");
	jsonw_key_int(&w, NULL, 1);
	jsonw_key_int(&w, NULL, 2);
	jsonw_obj_open(&w, NULL);
	jsonw_key_null(&w, "b");
	jsonw_obj_close(&w);
	jsonw_arr_open(&w, NULL);
	jsonw_arr_close(&w);
	jsonw_arr_close(&w);
	jsonw_obj_open(&w, "c");
	jsonw_obj_close(&w);
	jsonw_key_bool(&w, "d", 1);
	jsonw_key_bool(&w, "e", 0);
	jsonw_key_real(&w, "f", 2.0);
	jsonw_key_str(&w, "g\n", "x");
	jsonw_obj_close(&w);
	ck_assert_str_eq(jw_text(&w), "{\"a\":[1,2,{\"b\":null},[]],\"c\":{},"
	    "\"d\":true,\"e\":false,\"f\":2.0,\"g\\n\":\"x\"}");
	/* Top-level values follow each other; the caller frames them. */
	jsonw_reset(&w);
	jsonw_key_int(&w, NULL, 1);
	jsonw_raw(&w, ",", 1);
	jsonw_obj_open(&w, NULL);
	jsonw_obj_close(&w);
	ck_assert_str_eq(jw_text(&w), "1,{}");
	jsonw_free(&w);
}
END_TEST

START_TEST(jsonw_errors_latch)
{
	char		buf[256];
	struct jsonw	w;
	int		i;

	/* Nesting: JSONW_DEPTH_MAX is fine, one more is an error. */
	jsonw_init(&w, buf, sizeof(buf), 15);
	for (i = 0; i < JSONW_DEPTH_MAX; i++)
		ck_assert_int_eq(jsonw_arr_open(&w, NULL), 0);
	ck_assert_int_eq(jsonw_arr_open(&w, NULL), -1);
	/* Latched: nothing works any more, not even what was fine. */
	ck_assert_int_eq(jsonw_arr_close(&w), -1);
	ck_assert_int_eq(jsonw_key_int(&w, NULL, 1), -1);
	ck_assert_int_eq(jsonw_done(&w), -1);
	ck_assert_uint_eq(w.len, JSONW_DEPTH_MAX);
	/* reset clears it. */
	jsonw_reset(&w);
	ck_assert_int_eq(jsonw_key_int(&w, NULL, 1), 0);
	ck_assert_int_eq(jsonw_done(&w), 0);

	/* A key inside an array, none inside an object, at the top. */
	jsonw_reset(&w);
	jsonw_arr_open(&w, NULL);
	ck_assert_int_eq(jsonw_key_int(&w, "k", 1), -1);
	ck_assert_int_eq(jsonw_done(&w), -1);
	jsonw_reset(&w);
	jsonw_obj_open(&w, NULL);
	ck_assert_int_eq(jsonw_key_int(&w, NULL, 1), -1);
	jsonw_reset(&w);
	ck_assert_int_eq(jsonw_key_int(&w, "k", 1), -1);
	/* A close that does not match, one too many, raw bytes inside. */
	jsonw_reset(&w);
	jsonw_obj_open(&w, NULL);
	ck_assert_int_eq(jsonw_arr_close(&w), -1);
	jsonw_reset(&w);
	ck_assert_int_eq(jsonw_obj_close(&w), -1);
	jsonw_reset(&w);
	jsonw_arr_open(&w, NULL);
	ck_assert_int_eq(jsonw_raw(&w, ",", 1), -1);
	/* Unclosed is not done. */
	jsonw_reset(&w);
	jsonw_arr_open(&w, NULL);
	ck_assert_int_eq(jsonw_done(&w), -1);
	jsonw_free(&w);
}
END_TEST

START_TEST(jsonw_grows)
{
	char		 buf[8], big[10000];
	struct jsonw	 w;
	json_t		*v;
	size_t		 i;

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	jsonw_init(&w, buf, sizeof(buf), 15);
	jsonw_arr_open(&w, NULL);
	for (i = 0; i < 5; i++)
		jsonw_key_str(&w, NULL, big);
	jsonw_arr_close(&w);
	ck_assert_int_eq(jsonw_done(&w), 0);
	ck_assert_ptr_ne(w.buf, buf);
	ck_assert_uint_eq(w.len, 2 + 5 * (sizeof(big) - 1 + 2) + 4);
	v = json_loadb(w.buf, w.len, 0, NULL);
	ck_assert_ptr_nonnull(v);
	ck_assert_uint_eq(json_array_size(v), 5);
	ck_assert_str_eq(json_string_value(json_array_get(v, 4)), big);
	json_decref(v);
	/* Reset keeps the heap buffer; free gives the caller's back. */
	jsonw_reset(&w);
	ck_assert_uint_eq(w.len, 0);
	jsonw_free(&w);
	ck_assert_ptr_eq(w.buf, buf);
	/* No first buffer at all: the heap from the start. */
	jsonw_init(&w, NULL, 0, 15);
	jsonw_key_str(&w, NULL, "abc");
	ck_assert_str_eq(jw_text(&w), "\"abc\"");
	jsonw_free(&w);
}
END_TEST

START_TEST(jsonw_roundtrip)
{
	char		 buf[512];
	struct jsonw	 w;
	json_t		*v, *a;
	json_error_t	 err;
	const char	*k;
	json_t		*m;
	static const char *order[] = { "s", "ctl", "bad", "i", "min", "r", "n",
	    "t", "a", "o" };
	size_t		 i = 0;

	jsonw_init(&w, buf, sizeof(buf), 15);
	jsonw_obj_open(&w, NULL);
	jsonw_key_str(&w, "s", "caf\xc3\xa9 \"x\"");
	jsonw_key_str(&w, "ctl", "\x01\n");
	jsonw_key_str(&w, "bad", "a\xff" "b");
	jsonw_key_int(&w, "i", -42);
	jsonw_key_int(&w, "min", INT64_MIN);
	jsonw_key_real(&w, "r", 12.5);
	jsonw_key_real(&w, "n", NAN);
	jsonw_key_bool(&w, "t", 1);
	jsonw_arr_open(&w, "a");
	jsonw_key_int(&w, NULL, 1);
	jsonw_key_real(&w, NULL, 1.0);
	jsonw_arr_close(&w);
	jsonw_obj_open(&w, "o");
	jsonw_obj_close(&w);
	jsonw_obj_close(&w);
	ck_assert_int_eq(jsonw_done(&w), 0);
	v = json_loadb(w.buf, w.len, 0, &err);
	ck_assert_msg(v != NULL, "%s", err.text);
	ck_assert_str_eq(json_string_value(json_object_get(v, "s")),
	    "caf\xc3\xa9 \"x\"");
	ck_assert_str_eq(json_string_value(json_object_get(v, "ctl")), "\x01\n");
	ck_assert_str_eq(json_string_value(json_object_get(v, "bad")),
	    "a\xef\xbf\xbd" "b");
	ck_assert(json_is_integer(json_object_get(v, "i")));
	ck_assert_int_eq(json_integer_value(json_object_get(v, "i")), -42);
	ck_assert(json_integer_value(json_object_get(v, "min")) == INT64_MIN);
	ck_assert(json_is_real(json_object_get(v, "r")));
	ck_assert(json_real_value(json_object_get(v, "r")) == 12.5);
	ck_assert(json_is_null(json_object_get(v, "n")));
	ck_assert(json_is_true(json_object_get(v, "t")));
	a = json_object_get(v, "a");
	ck_assert(json_is_integer(json_array_get(a, 0)));
	ck_assert(json_is_real(json_array_get(a, 1)));
	ck_assert(json_is_object(json_object_get(v, "o")));
	/* Keys in the order written. */
	json_object_foreach(v, k, m) {
		ck_assert_uint_lt(i, sizeof(order) / sizeof(order[0]));
		ck_assert_str_eq(k, order[i]);
		i++;
	}
	ck_assert_uint_eq(i, sizeof(order) / sizeof(order[0]));
	json_decref(v);
	jsonw_free(&w);
}
END_TEST

/* ------------------------------------------------------------ status */

/* The keys of object O, in order, joined by ','. */
static const char *
keys_of(json_t *o)
{
	static char	 out[1024];
	const char	*k;
	json_t		*v;

	ck_assert(json_is_object(o));
	out[0] = '\0';
	json_object_foreach(o, k, v) {
		if (out[0] != '\0')
			strcat(out, ",");
		strcat(out, k);
	}
	return out;
}

/* NODE's status object, BRIEF or full, written through jsonw and parsed. */
static json_t *
status_of(const struct node *n, uint64_t now, int brief)
{
	char		 buf[512];	/* small: the full one grows the heap */
	struct jsonw	 w;
	json_t		*v;
	json_error_t	 err;

	jsonw_init(&w, buf, sizeof(buf), 15);
	status_node(&w, n, now, brief);
	ck_assert_int_eq(jsonw_done(&w), 0);
	v = json_loadb(w.buf, w.len, 0, &err);
	ck_assert_msg(v != NULL, "%s", err.text);
	jsonw_free(&w);
	return v;
}

/* fixed_fmt() writes what snprintf's "%.0f" and "%.1f" write, or defers. */
START_TEST(fixed_matches_printf)
{
	static const double	 edge[] = {
		0, 0.05, 0.15, 0.25, 0.35, 0.45, 0.5, 0.95, 1.5, 2.5, 9.95,
		9.949999999, 99.95, 999.5, 1e8 - 0.05, 1e8 + 0.05, 999999999.9,
		-0.0, -1, 1e9, 1e300, NAN, INFINITY, 0.04999999999999999
	};
	char		 want[512], got[FIXED_MAX];
	double		 v;
	size_t		 n;
	unsigned	 seed = 2026, deferred = 0;
	int		 i, d;

	for (i = 0; i < 100000; i++) {
		if (i < (int)(sizeof(edge) / sizeof(edge[0])))
			v = edge[i];
		else if (i % 3 == 0)	/* tenths and halves, the ties */
			v = (double)(rand_r(&seed) % 200000) / 20.0;
		else			/* any magnitude a figure has */
			v = ldexp((double)rand_r(&seed) / RAND_MAX,
			    rand_r(&seed) % 40 - 10);
		for (d = 0; d <= 1; d++) {
			snprintf(want, sizeof(want), d ? "%.1f" : "%.0f", v);
			if ((n = fixed_fmt(got, v, d)) == 0) {
				deferred += i % 3 != 0;
				continue;
			}
			ck_assert_msg(n == strlen(got) && strcmp(got, want) == 0,
			    "%.17g with %d decimals: '%s', printf '%s'", v, d,
			    got, want);
		}
	}
	/* Halves and figures of 1e9 and more defer; the rest does not. */
	ck_assert_uint_lt(deferred, 2 * 66666 / 20);
	ck_assert_uint_eq(fixed_fmt(got, 0.25, 1), 0);
	ck_assert_uint_eq(fixed_fmt(got, 2.5, 0), 0);
	ck_assert_uint_eq(fixed_fmt(got, 12.34, 1), 4);
	ck_assert_str_eq(got, "12.3");
}
END_TEST

START_TEST(status_node_keys)
{
	static struct node		 n;
	static struct node_conf		 nc;
	static struct fwd_conf		 fc;
	static struct forward		 f;
	static struct probe_node	 pn;
	static struct probe_http_result	 h;
	static struct http_run		 hr;
	static char			 models[2][OLLAMA_NAME_MAX] = { "a:7b", "b" };
	static struct ollama_loaded	 loaded = { "a:7b", 0, 1, 4096 };
	struct probe_results		*r = &pn.r;
	struct gpu_info			*g = &r->gpu.sample.gpus[0];
	uint64_t			 now = 10000000;
	json_t				*v, *o;

	nc.name = "gpu1";
	nc.host = "gpu1.example.org";
	nc.user = "ops";
	nc.priority = 10;
	nc.probe_interval = 2500;
	nc.probe_timeout = 1000;
	nc.rise = 2;
	nc.fall = 3;
	fc.kind = FWD_LOCAL;
	strcpy(fc.listen_host, "127.0.0.1");
	fc.listen_port = 11434;
	strcpy(fc.target_host, "localhost");
	fc.target_port = 11434;
	nc.fwds = &fc;
	nc.nfwds = 1;
	f.conf = &fc;
	f.node = &n;
	f.state = 2;
	f.total = 5;
	n.conf = &nc;
	n.fwds = &f;
	n.nfwds = 1;
	n.state = NODE_UP;
	n.since = now - 61500;
	strcpy(n.reason, "bad \xff byte");
	n.connects = 1;
	n.has_rtt = 1;
	n.rtt_ms = 1.25;
	n.session_up_at = now - 30000;
	n.nhist = 1;
	n.hist[0].time = 1700000000;
	n.hist[0].from = NODE_CONNECTING;
	n.hist[0].to = NODE_UP;
	n.probe = &pn;
	pn.node = &n;
	pn.http = &hr;
	r->gpu.kind = GPU_NVIDIA_SMI;
	r->gpu.c.status = PROBE_OK;
	r->gpu.c.at = now - 2000;
	r->gpu.has_sample = 1;
	r->gpu.sample.ngpus = r->gpu.sample.ngpus_total = 1;
	strcpy(g->uuid, "GPU-1");
	strcpy(g->name, "H100");
	g->has_util = 1;
	g->util_pct = 40;
	g->has_power = 1;
	g->power_w = 123.45;
	r->ollama.url = "http://127.0.0.1:11434";
	r->ollama.c.status = PROBE_FAILED;
	strcpy(r->ollama.c.reason, "timeout");
	r->ollama.c.at = now - 1000;
	r->ollama.has_info = 1;
	r->ollama.latency_ms = 12.34;
	strcpy(r->ollama.info.version, "0.5.1");
	r->ollama.info.models = models;
	r->ollama.info.nmodels = r->ollama.info.nmodels_total = 2;
	r->ollama.info.loaded = &loaded;
	r->ollama.info.nloaded = 1;
	h.url = "http://127.0.0.1:8080/";
	r->http = &h;
	r->nhttp = 1;

	v = status_of(&n, now, 1);
	ck_assert_str_eq(keys_of(v), "name,state,since_s,reason,priority,ssh,"
	    "forwards,load_score,ollama,gpus,gpu_probe");
	ck_assert_int_eq(json_integer_value(json_object_get(v, "since_s")), 61);
	ck_assert_str_eq(json_string_value(json_object_get(v, "reason")),
	    "bad \xef\xbf\xbd byte");
	o = json_object_get(v, "ssh");
	ck_assert_str_eq(keys_of(o), "target,connects,rtt_ms,last_error,"
	    "next_attempt_s,session_s");
	ck_assert_str_eq(json_string_value(json_object_get(o, "target")),
	    "ops@gpu1.example.org");
	ck_assert(json_real_value(json_object_get(o, "rtt_ms")) == 1.25);
	ck_assert(json_is_null(json_object_get(o, "next_attempt_s")));
	ck_assert_int_eq(json_integer_value(json_object_get(o, "session_s")), 30);
	ck_assert_str_eq(keys_of(json_array_get(json_object_get(v, "forwards"),
	    0)), "kind,listen,target,state,active,total,bytes_in,bytes_out");
	ck_assert(json_is_real(json_object_get(v, "load_score")));
	o = json_object_get(v, "ollama");
	ck_assert_str_eq(keys_of(o), "url,state,reason,age_s,stale,version,"
	    "latency_ms,models_total");
	ck_assert_str_eq(json_string_value(json_object_get(o, "reason")),
	    "timeout");
	ck_assert(json_real_value(json_object_get(o, "latency_ms")) == 12.3);
	o = json_array_get(json_object_get(v, "gpus"), 0);
	ck_assert_str_eq(keys_of(o), "index,uuid,name,temp_c,util_pct,"
	    "mem_used_mib,mem_total_mib,power_w,power_limit_w");
	ck_assert(json_is_null(json_object_get(o, "temp_c")));
	ck_assert_int_eq(json_integer_value(json_object_get(o, "util_pct")), 40);
	ck_assert(json_real_value(json_object_get(o, "power_w")) == 123.45);
	ck_assert_str_eq(keys_of(json_object_get(v, "gpu_probe")),
	    "tool,state,reason,age_s,stale,gpus_total,outstanding_s");
	json_decref(v);

	v = status_of(&n, now, 0);
	ck_assert_str_eq(keys_of(v), "name,state,since_s,reason,priority,ssh,"
	    "forwards,load_score,ollama,gpus,gpu_probe,http,"
	    "probe_failures_recent,history,up_s_total,down_s_total,"
	    "degraded_s_total,probe_settings");
	o = json_object_get(v, "ollama");
	ck_assert_str_eq(keys_of(o), "url,state,reason,age_s,stale,judged,"
	    "consecutive_failures,consecutive_successes,version,latency_ms,"
	    "models_total,models,loaded,missing_models");
	ck_assert_uint_eq(json_array_size(json_object_get(o, "models")), 2);
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(
	    json_object_get(o, "loaded"), 0), "size_vram")), 4096);
	ck_assert_str_eq(keys_of(json_array_get(json_object_get(v, "http"), 0)),
	    "url,state,reason,age_s,stale,judged,consecutive_failures,"
	    "consecutive_successes,status,latency_ms");
	ck_assert_str_eq(keys_of(json_array_get(json_object_get(v, "history"),
	    0)), "time,from,to,reason");
	o = json_object_get(v, "probe_settings");
	ck_assert_str_eq(keys_of(o), "interval_s,timeout_s,rise,fall");
	ck_assert(json_is_real(json_object_get(o, "timeout_s")));
	ck_assert(json_real_value(json_object_get(o, "interval_s")) == 2.5);
	json_decref(v);

	/* ssh = none and no Ollama: nulls, not missing members. */
	nc.local = 1;
	r->ollama.url = NULL;
	r->gpu.kind = GPU_NONE;
	v = status_of(&n, now, 1);
	ck_assert(json_is_null(json_object_get(v, "ssh")));
	ck_assert(json_is_null(json_object_get(v, "ollama")));
	ck_assert(json_is_null(json_object_get(v, "gpu_probe")));
	json_decref(v);
}
END_TEST

static Suite *
core_suite(void)
{
	Suite	*s = suite_create("core");
	TCase	*tc;

	tc = tcase_create("backoff");
	tcase_add_test(tc, backoff_doubles_to_cap);
	tcase_add_test(tc, backoff_jitter_bounds);
	tcase_add_test(tc, backoff_degenerate_params);
	tcase_add_test(tc, backoff_next_rules);
	suite_add_tcase(s, tc);
	tc = tcase_create("state");
	tcase_add_test(tc, state_table);
	tcase_add_test(tc, state_names_roundtrip);
	suite_add_tcase(s, tc);
	tc = tcase_create("control");
	tcase_add_test(tc, control_parse_good);
	tcase_add_test(tc, control_parse_bad);
	tcase_add_test(tc, control_victim_floods_only_itself);
	tcase_add_test(tc, control_victim_spares_fresh_requests);
	suite_add_tcase(s, tc);
	tc = tcase_create("pool");
	tcase_add_test(tc, pool_priority_keeps_listed_order);
	tcase_add_test(tc, pool_least_load_sorts_stably);
	tcase_add_test(tc, pool_degraded_only_when_none_up);
	tcase_add_test(tc, pool_unreachable_and_empty);
	tcase_add_test(tc, judge_rise_fall);
	tcase_add_test(tc, judge_counts_and_changes);
	tcase_add_test(tc, reload_plan_by_key);
	tcase_add_test(tc, node_history_ring);
	suite_add_tcase(s, tc);
	tc = tcase_create("jsonw");
	tcase_add_test(tc, jsonw_escapes);
	tcase_add_test(tc, jsonw_integers);
	tcase_add_test(tc, jsonw_reals);
	tcase_add_test(tc, jsonw_nesting);
	tcase_add_test(tc, jsonw_errors_latch);
	tcase_add_test(tc, jsonw_grows);
	tcase_add_test(tc, jsonw_roundtrip);
	tcase_add_test(tc, status_node_keys);
	tcase_add_test(tc, fixed_matches_printf);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(core_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
