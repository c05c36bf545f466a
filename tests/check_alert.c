/*
 * Unit tests for the alert engine on a fake clock: raise, clear (with the
 * duration), repeat, the flap bound, and the MESSAGE_ID table against the
 * journal catalog.
 */
#include <check.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert_engine.h"

#define S	1000ULL			/* ms */
#define MIN	(60 * S)
#define REPEAT	(10 * MIN)		/* repeat_after = 10m */
#define NMAX	4096

struct rec {
	uint64_t	 t;
	char		 event[48];
	char		 msgid[40];
	int		 prio;
	char		 node[64];
	char		 key[64];
	int		 cleared, repeat;
	unsigned	 flapping;
	uint64_t	 duration_ms;
	char		 fields[1024];		/* "\tK=V\tK=V\t" */
	char		 message[512];
};

static struct rec	 recs[NMAX];
static size_t		 nrecs;
static uint64_t		 clk;

static void
sink(const struct alert_entry *a, void *arg)
{
	struct rec	*r;
	size_t		 i, o;

	ck_assert_uint_lt(nrecs, NMAX);
	r = &recs[nrecs++];
	memset(r, 0, sizeof(*r));
	r->t = clk;
	snprintf(r->event, sizeof(r->event), "%s", a->def->event);
	snprintf(r->msgid, sizeof(r->msgid), "%s", a->def->msgid);
	r->prio = a->def->priority;
	snprintf(r->node, sizeof(r->node), "%s", a->node ? a->node : "");
	snprintf(r->key, sizeof(r->key), "%s", a->key);
	r->cleared = a->cleared;
	r->repeat = a->repeat;
	r->flapping = a->flapping;
	r->duration_ms = a->duration_ms;
	o = snprintf(r->fields, sizeof(r->fields), "\t");
	for (i = 0; a->fields[i] != NULL; i++)
		o += snprintf(r->fields + o, sizeof(r->fields) - o, "%s\t",
		    a->fields[i]);
	snprintf(r->message, sizeof(r->message), "%s", a->message);
}

static int
has_field(const struct rec *r, const char *kv)
{
	char	pat[256];

	snprintf(pat, sizeof(pat), "\t%s\t", kv);
	return strstr(r->fields, pat) != NULL;
}

static int
has_key(const struct rec *r, const char *k)
{
	char	pat[128];

	snprintf(pat, sizeof(pat), "\t%s=", k);
	return strstr(r->fields, pat) != NULL;
}

static struct alert_engine *
engine(uint64_t repeat)
{
	struct alert_engine	*e;

	nrecs = 0;
	clk = 0;
	e = alert_engine_new(repeat, sink, NULL);
	ck_assert_ptr_nonnull(e);
	return e;
}

static const struct alert_vals down_vals = {
	"connection refused", { "TUNNELD_SSH_TARGET=root@10.0.0.1:13323", NULL },
	NULL, 0
};

/* Set the condition at T, then tick: as the daemon does every second. */
static int
node_down_at(struct alert_engine *e, uint64_t t, int active)
{
	int	n;

	clk = t;
	n = alert_engine_update(e, ALERT_NODE_DOWN, "runpod", NULL, active,
	    &down_vals, t);
	return n + alert_engine_tick(e, t);
}

START_TEST(raise_once)
{
	struct alert_engine	*e = engine(REPEAT);
	uint64_t		 t;

	ck_assert_int_eq(node_down_at(e, 5 * S, 1), 1);
	ck_assert_uint_eq(nrecs, 1);
	ck_assert_str_eq(recs[0].event, "node-down");
	ck_assert_str_eq(recs[0].msgid, MSGID_NODE_DOWN);
	ck_assert_int_eq(recs[0].prio, LOG_ERR);
	ck_assert_str_eq(recs[0].node, "runpod");
	ck_assert(has_field(&recs[0], "TUNNELD_SSH_TARGET=root@10.0.0.1:13323"));
	ck_assert(!has_key(&recs[0], "TUNNELD_DURATION"));
	ck_assert(!recs[0].cleared && !recs[0].repeat && !recs[0].flapping);
	ck_assert_ptr_nonnull(strstr(recs[0].message, "connection refused"));
	/* Still down, told again every second: nothing new within repeat_after. */
	for (t = 6 * S; t < 5 * S + REPEAT; t += S)
		ck_assert_int_eq(node_down_at(e, t, 1), 0);
	ck_assert_uint_eq(nrecs, 1);
	ck_assert(alert_engine_active(e, ALERT_NODE_DOWN, "runpod", NULL));
	/* Never-raised conditions reported clear make nothing. */
	clk = t;
	ck_assert_int_eq(alert_engine_update(e, ALERT_GPU_HOT, "runpod", "0", 0,
	    NULL, t), 0);
	ck_assert_uint_eq(alert_engine_count(e), 1);
	alert_engine_free(e);
}
END_TEST

START_TEST(clear_with_duration)
{
	struct alert_engine	*e = engine(REPEAT);

	node_down_at(e, 1000 * S, 1);
	ck_assert_int_eq(node_down_at(e, 1000 * S + 2 * MIN + 13 * S, 0), 1);
	ck_assert_uint_eq(nrecs, 2);
	ck_assert_str_eq(recs[1].event, "node-recovered");
	ck_assert_str_eq(recs[1].msgid, MSGID_NODE_RECOVERED);
	ck_assert_int_eq(recs[1].prio, LOG_NOTICE);
	ck_assert(recs[1].cleared);
	ck_assert_uint_eq(recs[1].duration_ms, 2 * MIN + 13 * S);
	ck_assert(has_field(&recs[1], "TUNNELD_DURATION=2m13s"));
	ck_assert(has_field(&recs[1], "TUNNELD_SSH_TARGET=root@10.0.0.1:13323"));
	ck_assert(!alert_engine_active(e, ALERT_NODE_DOWN, "runpod", NULL));
	/* Clear again: nothing more. */
	ck_assert_int_eq(node_down_at(e, 1200 * S, 0), 0);
	/* Once the flap window is over, nothing is kept. */
	node_down_at(e, 1000 * S + REPEAT + S, 0);
	ck_assert_uint_eq(alert_engine_count(e), 0);
	alert_engine_free(e);
}
END_TEST

START_TEST(repeat_while_it_lasts)
{
	struct alert_engine	*e = engine(REPEAT);
	uint64_t		 t;
	size_t			 i;

	for (t = 0; t <= 30 * MIN; t += S)
		node_down_at(e, t, 1);
	/* begin at 0, repeats at 10m, 20m, 30m */
	ck_assert_uint_eq(nrecs, 4);
	for (i = 1; i < 4; i++) {
		ck_assert(recs[i].repeat);
		ck_assert_str_eq(recs[i].event, "node-down");
		ck_assert_uint_eq(recs[i].t, i * REPEAT);
		ck_assert(has_field(&recs[i], "TUNNELD_REPEAT=1"));
	}
	ck_assert(has_field(&recs[1], "TUNNELD_DURATION=10m"));
	ck_assert(has_field(&recs[3], "TUNNELD_DURATION=30m"));
	node_down_at(e, 31 * MIN, 0);
	ck_assert_uint_eq(nrecs, 5);
	ck_assert(has_field(&recs[4], "TUNNELD_DURATION=31m"));
	alert_engine_free(e);

	/* repeat_after = 0: announced once, never repeated. */
	e = engine(0);
	for (t = 0; t <= 60 * MIN; t += 10 * S)
		node_down_at(e, t, 1);
	ck_assert_uint_eq(nrecs, 1);
	alert_engine_free(e);
}
END_TEST

/* At most MAX entries in any window of length W. */
static unsigned
max_in_window(uint64_t w)
{
	size_t		i, j;
	unsigned	best = 0;

	for (i = 0; i < nrecs; i++) {
		for (j = i; j < nrecs && recs[j].t < recs[i].t + w; j++)
			;
		if (j - i > best)
			best = (unsigned)(j - i);
	}
	return best;
}

START_TEST(flap_bound)
{
	struct alert_engine	*e = engine(REPEAT);
	uint64_t		 t, hour = 60 * MIN;
	size_t			 i;

	/* Down and up every second for an hour. */
	for (t = 0; t < hour; t += S)
		node_down_at(e, t, (t / S) % 2 == 0);
	/* First window: begin, clear, begin, clear, then one flapping entry. */
	ck_assert_uint_ge(nrecs, 5);
	ck_assert_str_eq(recs[0].event, "node-down");
	ck_assert_str_eq(recs[1].event, "node-recovered");
	ck_assert_str_eq(recs[2].event, "node-down");
	ck_assert_str_eq(recs[3].event, "node-recovered");
	ck_assert_str_eq(recs[4].event, "node-down");
	ck_assert_uint_eq(recs[4].t, 4 * S);
	ck_assert_uint_eq(recs[4].flapping, 5);
	ck_assert(has_field(&recs[4], "TUNNELD_FLAPPING=5"));
	ck_assert_ptr_nonnull(strstr(recs[4].message, "flapping"));
	/* Then one summary per window: 4 s + 10m, 20m, ... 50m. */
	for (i = 5; i < nrecs; i++) {
		ck_assert_str_eq(recs[i].event, "node-down");
		ck_assert_uint_gt(recs[i].flapping, 0);
		ck_assert_uint_eq(recs[i].t, 4 * S + (i - 4) * REPEAT);
	}
	ck_assert_uint_eq(nrecs, 5 + 5);
	/* The stated bound: 2 * ALERT_FLAP_MAX + 1 in the first window, one
	   per window after. */
	ck_assert_uint_le(max_in_window(REPEAT), 2 * ALERT_FLAP_MAX + 1);
	ck_assert_uint_le(nrecs, 2 * ALERT_FLAP_MAX + 1 + hour / REPEAT + 1);
	/* The changes a summary reports add up to the hour's flapping. */
	ck_assert_uint_eq(recs[5].flapping, REPEAT / S);

	/* It settles clear: one cleared entry a window after the last change. */
	for (; t < hour + 2 * REPEAT; t += S)
		node_down_at(e, t, 0);
	ck_assert_uint_eq(nrecs, 12);
	ck_assert_str_eq(recs[10].event, "node-down");	/* 60m04s summary */
	ck_assert_str_eq(recs[11].event, "node-recovered");
	ck_assert(recs[11].cleared);
	ck_assert_uint_eq(recs[11].t, hour - S + REPEAT);
	ck_assert(has_key(&recs[11], "TUNNELD_DURATION"));
	ck_assert(!alert_engine_active(e, ALERT_NODE_DOWN, "runpod", NULL));
	ck_assert_uint_le(nrecs, 12);	/* the bound stated in alert_engine.h */

	/* Settled, a new fault is announced as usual. */
	node_down_at(e, t, 1);
	ck_assert_uint_eq(nrecs, 13);
	ck_assert_str_eq(recs[12].event, "node-down");
	ck_assert_uint_eq(recs[12].flapping, 0);
	alert_engine_free(e);
}
END_TEST

START_TEST(flap_settles_active)
{
	struct alert_engine	*e = engine(REPEAT);
	uint64_t		 t, stop = 100 * S;

	for (t = 0; t < stop; t += S)
		node_down_at(e, t, (t / S) % 2 == 0);
	ck_assert_uint_eq(nrecs, 5);
	/*
	 * It stays down from STOP: the summary due a window after the
	 * flapping entry, then "steady" a window after the last change, then
	 * ordinary repeats.
	 */
	for (; t <= stop + 2 * REPEAT; t += S)
		node_down_at(e, t, 1);
	ck_assert_uint_eq(nrecs, 8);
	ck_assert_uint_eq(recs[5].t, 4 * S + REPEAT);
	ck_assert_uint_eq(recs[5].flapping, (stop - 5 * S) / S + 1);
	ck_assert_str_eq(recs[6].event, "node-down");
	ck_assert(recs[6].repeat);
	ck_assert_uint_eq(recs[6].flapping, 0);
	ck_assert_uint_eq(recs[6].t, stop + REPEAT);
	ck_assert_ptr_nonnull(strstr(recs[6].message, "steady"));
	ck_assert(recs[7].repeat);
	ck_assert_uint_eq(recs[7].t, stop + 2 * REPEAT);
	ck_assert(alert_engine_active(e, ALERT_NODE_DOWN, "runpod", NULL));
	alert_engine_free(e);
}
END_TEST

/* Two faults in a window are not flapping; the third beginning is. */
START_TEST(flap_threshold)
{
	struct alert_engine	*e = engine(REPEAT);

	node_down_at(e, 0, 1);
	node_down_at(e, 60 * S, 0);
	node_down_at(e, 120 * S, 1);
	node_down_at(e, 180 * S, 0);
	ck_assert_uint_eq(nrecs, 4);
	/* A window later the count starts over. */
	node_down_at(e, REPEAT + S, 1);
	ck_assert_uint_eq(nrecs, 5);
	ck_assert_uint_eq(recs[4].flapping, 0);
	node_down_at(e, REPEAT + 2 * S, 0);
	node_down_at(e, REPEAT + 3 * S, 1);
	ck_assert_uint_eq(nrecs, 7);
	ck_assert_uint_eq(recs[6].flapping, 0);
	node_down_at(e, REPEAT + 4 * S, 0);
	node_down_at(e, REPEAT + 5 * S, 1);
	ck_assert_uint_eq(nrecs, 9);
	ck_assert_uint_eq(recs[8].flapping, 5);
	alert_engine_free(e);
}
END_TEST

START_TEST(keys_and_nodes_apart)
{
	struct alert_engine	*e = engine(REPEAT);
	struct alert_vals	 v = { "gpu0 85°C > 80°C", { "TUNNELD_GPU=0",
				    "TUNNELD_GPU_TEMP_C=85", "TUNNELD_THRESHOLD=80",
				    NULL }, NULL, 0 };
	struct alert_vals	 v1 = { "gpu1 86°C > 80°C", { "TUNNELD_GPU=1",
				    "TUNNELD_GPU_TEMP_C=86", "TUNNELD_THRESHOLD=80",
				    NULL }, NULL, 0 };
	struct alert_vals	 cool = { "gpu0 70°C <= 80°C", { "TUNNELD_GPU=0",
				    "TUNNELD_GPU_TEMP_C=70", "TUNNELD_THRESHOLD=80",
				    NULL }, NULL, 0 };

	ck_assert_int_eq(alert_engine_update(e, ALERT_GPU_HOT, "runpod", "0", 1,
	    &v, 0), 1);
	ck_assert_int_eq(alert_engine_update(e, ALERT_GPU_HOT, "runpod", "1", 1,
	    &v1, 0), 1);
	ck_assert_int_eq(alert_engine_update(e, ALERT_GPU_HOT, "vengeance", "0",
	    1, &v, 0), 1);
	ck_assert_uint_eq(nrecs, 3);
	ck_assert_str_eq(recs[0].event, "gpu-hot");
	ck_assert_str_eq(recs[0].msgid, MSGID_GPU_HOT);
	ck_assert_int_eq(recs[0].prio, LOG_WARNING);
	ck_assert_str_eq(recs[1].key, "1");
	ck_assert(has_field(&recs[1], "TUNNELD_GPU_TEMP_C=86"));
	clk = 90 * S;
	ck_assert_int_eq(alert_engine_update(e, ALERT_GPU_HOT, "runpod", "0", 0,
	    &cool, clk), 1);
	ck_assert_str_eq(recs[3].event, "gpu-hot-cleared");
	ck_assert_str_eq(recs[3].key, "0");
	ck_assert_str_eq(recs[3].node, "runpod");
	/* The cleared entry carries the values as they are now. */
	ck_assert(has_field(&recs[3], "TUNNELD_GPU_TEMP_C=70"));
	ck_assert(has_field(&recs[3], "TUNNELD_DURATION=1m30s"));
	ck_assert(alert_engine_active(e, ALERT_GPU_HOT, "runpod", "1"));
	ck_assert(alert_engine_active(e, ALERT_GPU_HOT, "vengeance", "0"));

	/* forget: a stopped node's conditions go without an entry. */
	alert_engine_forget(e, "vengeance", ALERT_NKINDS);
	ck_assert(!alert_engine_active(e, ALERT_GPU_HOT, "vengeance", "0"));
	ck_assert_uint_eq(nrecs, 4);
	alert_engine_free(e);
}
END_TEST

static int
only_runpod(const char *node, void *arg)
{
	ck_assert_ptr_eq(arg, &clk);
	return strcmp(node, "runpod") == 0;
}

/* A reload removed vengeance: its conditions end silently, and for good. */
START_TEST(forget_removed_nodes)
{
	struct alert_engine	*e = engine(REPEAT);
	struct alert_vals	 all = { "runpod: refused; vengeance: refused",
				    { "TUNNELD_NODES=runpod vengeance", NULL },
				    NULL, 0 };
	size_t			 i;

	ck_assert_int_eq(node_down_at(e, 0, 1), 1);
	ck_assert_int_eq(alert_engine_update(e, ALERT_NODE_DOWN, "vengeance",
	    NULL, 1, &down_vals, 0), 1);
	ck_assert_int_eq(alert_engine_update(e, ALERT_ALL_NODES_DOWN, NULL,
	    NULL, 1, &all, 0), 1);
	ck_assert_uint_eq(alert_engine_count(e), 3);

	alert_engine_forget_nodes(e, only_runpod, &clk);
	ck_assert_uint_eq(alert_engine_count(e), 2);
	ck_assert(!alert_engine_active(e, ALERT_NODE_DOWN, "vengeance", NULL));
	ck_assert(alert_engine_active(e, ALERT_NODE_DOWN, "runpod", NULL));
	ck_assert(alert_engine_active(e, ALERT_ALL_NODES_DOWN, NULL, NULL));
	ck_assert_uint_eq(nrecs, 3);

	/* Repeats go on for what stayed, never for what went. */
	clk = REPEAT;
	ck_assert_int_eq(alert_engine_tick(e, clk), 2);
	for (i = 3; i < nrecs; i++) {
		ck_assert(recs[i].repeat);
		ck_assert_str_ne(recs[i].node, "vengeance");
	}
	alert_engine_free(e);
}
END_TEST

START_TEST(all_nodes_down_and_kept_fields)
{
	struct alert_engine	*e = engine(REPEAT);
	struct alert_vals	 down = { "runpod: connection refused; "
				    "vengeance: keepalive timeout after 15s",
				    { "TUNNELD_NODES=runpod vengeance", NULL },
				    NULL, 0 };
	struct alert_vals	 back = { "requests can be served again", { NULL },
				    "vengeance", 0 };
	struct alert_vals	 miss = { "missing model qwen2.5:7b",
				    { "TUNNELD_OLLAMA_URL=http://127.0.0.1:11435",
				    "TUNNELD_MODELS=qwen2.5:7b", NULL }, NULL, 0 };
	struct alert_vals	 found = { "every required model is listed",
				    { NULL }, NULL, 1 };

	alert_engine_update(e, ALERT_ALL_NODES_DOWN, NULL, NULL, 1, &down, 0);
	ck_assert_uint_eq(nrecs, 1);
	ck_assert_str_eq(recs[0].event, "all-nodes-down");
	ck_assert_int_eq(recs[0].prio, LOG_CRIT);
	ck_assert_str_eq(recs[0].node, "");
	ck_assert(has_field(&recs[0], "TUNNELD_NODES=runpod vengeance"));
	clk = 45 * S;
	alert_engine_update(e, ALERT_ALL_NODES_DOWN, NULL, NULL, 0, &back, clk);
	ck_assert_uint_eq(nrecs, 2);
	ck_assert_str_eq(recs[1].event, "all-nodes-down-cleared");
	ck_assert_str_eq(recs[1].msgid, MSGID_ALL_NODES_DOWN_CLEARED);
	ck_assert_str_eq(recs[1].node, "vengeance");
	ck_assert(has_field(&recs[1], "TUNNELD_DURATION=45s"));

	/* model-missing-cleared names the models that were missing. */
	alert_engine_update(e, ALERT_MODEL_MISSING, "runpod", NULL, 1, &miss,
	    clk);
	clk += 3723 * S;
	alert_engine_update(e, ALERT_MODEL_MISSING, "runpod", NULL, 0, &found,
	    clk);
	ck_assert_uint_eq(nrecs, 4);
	ck_assert_str_eq(recs[3].event, "model-missing-cleared");
	ck_assert(has_field(&recs[3], "TUNNELD_MODELS=qwen2.5:7b"));
	ck_assert(has_field(&recs[3], "TUNNELD_DURATION=1h2m"));
	ck_assert_ptr_nonnull(strstr(recs[3].message,
	    "every required model is listed"));
	alert_engine_free(e);
}
END_TEST

START_TEST(durations)
{
	char	b[32];

	ck_assert_str_eq(alert_fmt_duration(b, sizeof(b), 850), "850ms");
	ck_assert_str_eq(alert_fmt_duration(b, sizeof(b), 45 * S), "45s");
	ck_assert_str_eq(alert_fmt_duration(b, sizeof(b), 2 * MIN), "2m");
	ck_assert_str_eq(alert_fmt_duration(b, sizeof(b), 133 * S), "2m13s");
	ck_assert_str_eq(alert_fmt_duration(b, sizeof(b), 3600 * S), "1h");
	ck_assert_str_eq(alert_fmt_duration(b, sizeof(b), 3840 * S), "1h4m");
	ck_assert_str_eq(alert_fmt_duration(b, sizeof(b), 26 * 3600 * S), "26h");
}
END_TEST

/* Every kind: a begin/cleared pair, distinct ids, each in the catalog. */
START_TEST(msgids_match_catalog)
{
	const char	*src = getenv("top_srcdir");
	char		 path[4096], line[512], *cat = NULL;
	size_t		 i, j, len = 0, k;
	FILE		*f;

	for (i = 0; i < ALERT_KINDS_N; i++) {
		ck_assert_uint_eq(strlen(alert_kinds[i].msgid), 32);
		for (k = 0; k < 32; k++)
			ck_assert(isxdigit((unsigned char)alert_kinds[i].msgid[k]) &&
			    !isupper((unsigned char)alert_kinds[i].msgid[k]));
		for (j = i + 1; j < ALERT_KINDS_N; j++)
			ck_assert_str_ne(alert_kinds[i].msgid,
			    alert_kinds[j].msgid);
		ck_assert_ptr_eq(alert_kind_find(alert_kinds[i].event),
		    &alert_kinds[i]);
		if (i % 2 == 1)
			ck_assert_int_eq(alert_kinds[i].priority, LOG_NOTICE);
		else
			ck_assert_int_lt(alert_kinds[i].priority, LOG_NOTICE);
	}
	ck_assert_str_eq(alert_kinds[2 * ALERT_NODE_DOWN + 1].event,
	    "node-recovered");
	for (k = ALERT_HOST_KEY_MISMATCH; k < ALERT_NKINDS; k++) {
		snprintf(line, sizeof(line), "%s-cleared",
		    alert_kinds[2 * k].event);
		ck_assert_str_eq(alert_kinds[2 * k + 1].event, line);
	}
	ck_assert_int_eq(alert_kinds[2 * ALERT_ALL_NODES_DOWN].priority,
	    LOG_CRIT);

	snprintf(path, sizeof(path), "%s/units/tunneld.catalog",
	    src ? src : ".");
	f = fopen(path, "r");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	cat = calloc(1, 1);
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "-- ", 3) != 0)
			continue;
		cat = realloc(cat, len + strlen(line) + 1);
		strcpy(cat + len, line);
		len += strlen(line);
	}
	fclose(f);
	for (i = 0; i < ALERT_KINDS_N; i++) {
		snprintf(line, sizeof(line), "-- %s\n", alert_kinds[i].msgid);
		ck_assert_msg(strstr(cat, line) != NULL, "%s (%s) not in %s",
		    alert_kinds[i].msgid, alert_kinds[i].event, path);
	}
	/* ...and nothing else: one entry per id. */
	ck_assert_uint_eq(len, ALERT_KINDS_N * strlen("-- 0123456789abcdef"
	    "0123456789abcdef\n"));
	free(cat);
}
END_TEST

static Suite *
alert_suite(void)
{
	Suite	*s = suite_create("alert");
	TCase	*tc;

	tc = tcase_create("engine");
	tcase_add_test(tc, raise_once);
	tcase_add_test(tc, clear_with_duration);
	tcase_add_test(tc, repeat_while_it_lasts);
	tcase_add_test(tc, flap_bound);
	tcase_add_test(tc, flap_settles_active);
	tcase_add_test(tc, flap_threshold);
	tcase_add_test(tc, keys_and_nodes_apart);
	tcase_add_test(tc, forget_removed_nodes);
	tcase_add_test(tc, all_nodes_down_and_kept_fields);
	tcase_add_test(tc, durations);
	suite_add_tcase(s, tc);
	tc = tcase_create("ids");
	tcase_add_test(tc, msgids_match_catalog);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(alert_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
