/*
 * Unit tests for the pure parts of the supervisor: backoff, the node state
 * table and the control request parser.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "control.h"
#include "node.h"
#include "pool.h"
#include "probe.h"
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
