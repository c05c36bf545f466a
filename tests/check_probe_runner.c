/*
 * check_probe_runner: unit tests for the pure parts of the probe runner
 * (supervisor/probe.c): the load_score formula, the interval jitter, the
 * "recent failures" window and ring, required-model checks and ages.
 * The runner itself (channels, children, evhttp) is exercised end to end
 * by tests/t_probes.sh.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probe.h"

static int
near(double a, double b)
{
	double	d = a - b;

	return d < 1e-9 && d > -1e-9;
}

START_TEST(load_score_formula)
{
	/* active x 100 + latency ms / 10 + recent failures x 50 */
	ck_assert(near(probe_load_score(0, 0, 0, 0), 0));
	ck_assert(near(probe_load_score(2, 1, 12.3, 1), 200 + 1.23 + 50));
	ck_assert(near(probe_load_score(0, 1, 1234.5, 0), 123.45));
	ck_assert(near(probe_load_score(1, 0, 999, 3), 100 + 150));
	/* No latency reading: it adds nothing (not a made-up figure). */
	ck_assert(near(probe_load_score(0, 0, 5000, 0), 0));
}
END_TEST

START_TEST(jitter_bounds)
{
	uint64_t	d;
	int		i;

	ck_assert_uint_eq(probe_jitter(10000, 0.1, 0.0), 9000);
	ck_assert_uint_eq(probe_jitter(10000, 0.1, 0.5), 10000);
	ck_assert_uint_le(probe_jitter(10000, 0.1, 0.999999), 11000);
	ck_assert_uint_ge(probe_jitter(10000, 0.1, 0.999999), 10999);
	for (i = 0; i < 1000; i++) {
		d = probe_jitter(2000, 0.1, (double)i / 1000.0);
		ck_assert_uint_ge(d, 1800);
		ck_assert_uint_le(d, 2200);
	}
	/* Never 0: a zero interval would spin the loop. */
	ck_assert_uint_eq(probe_jitter(0, 0.1, 0.0), 1);
	ck_assert_uint_eq(probe_jitter(0, 0.1, 0.7), 1);
}
END_TEST

START_TEST(spread_bounds)
{
	uint64_t	d;
	int		i;

	/* The defaults (10 s, 5 s): half an interval to one and a half. */
	ck_assert_uint_eq(probe_spread(10000, 5000, 0.0), 5000);
	ck_assert_uint_eq(probe_spread(10000, 5000, 0.5), 10000);
	ck_assert_uint_ge(probe_spread(10000, 5000, 0.999999), 14999);
	/* A timeout past half the interval: not before it, still uniform. */
	ck_assert_uint_eq(probe_spread(10000, 8000, 0.0), 8000);
	ck_assert_uint_eq(probe_spread(10000, 8000, 0.5), 11500);
	ck_assert_uint_eq(probe_spread(10000, 10000, 0.0), 10000);
	for (i = 0; i < 1000; i++) {
		d = probe_spread(2000, 1500, (double)i / 1000.0);
		ck_assert_uint_ge(d, 1500);
		ck_assert_uint_le(d, 3000);
	}
	/* A timeout past the window (never from a config): its end. */
	ck_assert_uint_eq(probe_spread(10000, 20000, 0.3), 15000);
	ck_assert_uint_eq(probe_spread(0, 0, 0.5), 1);
}
END_TEST

START_TEST(recent_failures_window)
{
	struct probe_results	*r = calloc(1, sizeof(*r));
	uint64_t		 t0 = 1000000;

	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(probe_recent_failures(NULL, t0), 0);
	ck_assert_uint_eq(probe_recent_failures(r, t0), 0);
	probe_note_failure(r, t0);
	probe_note_failure(r, t0 + 1000);
	ck_assert_uint_eq(probe_recent_failures(r, t0 + 2000), 2);
	/* Within 5 minutes of the end of each failure, and not after. */
	ck_assert_uint_eq(probe_recent_failures(r, t0 + PROBE_RECENT_MS - 1), 2);
	ck_assert_uint_eq(probe_recent_failures(r, t0 + PROBE_RECENT_MS), 1);
	ck_assert_uint_eq(probe_recent_failures(r, t0 + 1000 + PROBE_RECENT_MS),
	    0);
	/* A time before NOW's clock reading (not yet happened) is ignored. */
	ck_assert_uint_eq(probe_recent_failures(r, t0 - 1), 0);
	free(r);
}
END_TEST

START_TEST(recent_failures_ring)
{
	struct probe_results	*r = calloc(1, sizeof(*r));
	uint64_t		 t0 = 5000000;
	int			 i;

	ck_assert_ptr_nonnull(r);
	/* More failures than the ring holds: the count saturates. */
	for (i = 0; i < 3 * PROBE_FAIL_RING; i++)
		probe_note_failure(r, t0 + (uint64_t)i);
	ck_assert_uint_eq(probe_recent_failures(r, t0 + 3 * PROBE_FAIL_RING),
	    PROBE_FAIL_RING);
	/* The newest overwrite the oldest: old ones age out together. */
	probe_note_failure(r, t0 + PROBE_RECENT_MS);
	ck_assert_uint_eq(probe_recent_failures(r, t0 + PROBE_RECENT_MS + 1),
	    PROBE_FAIL_RING);
	ck_assert_uint_eq(probe_recent_failures(r, t0 + 2 * PROBE_RECENT_MS - 1),
	    1);
	free(r);
}
END_TEST

static struct probe_ollama_result *
ollama_with(const char *const *models, size_t n)
{
	struct probe_ollama_result	*o = calloc(1, sizeof(*o));
	size_t				 i;

	ck_assert_ptr_nonnull(o);
	o->has_info = 1;
	if (n > 0) {
		o->info.models = calloc(n, sizeof(*o->info.models));
		o->info.model_truncated = calloc(n, 1);
		ck_assert_ptr_nonnull(o->info.models);
		ck_assert_ptr_nonnull(o->info.model_truncated);
	}
	for (i = 0; i < n; i++)
		snprintf(o->info.models[i], OLLAMA_NAME_MAX, "%s", models[i]);
	o->info.nmodels = o->info.nmodels_total = n;
	return o;
}

START_TEST(required_models)
{
	const char *const	 have[] = { "qwen2.5:7b", "llama3.1:8b",
				    "mistral:latest" };
	char			*req[] = { "qwen2.5:7b", "mistral", "gemma:2b",
				    "llama3.1:70b" };
	struct probe_ollama_result *o = ollama_with(have, 3);

	probe_check_models(o, req, 4);
	ck_assert_uint_eq(o->nmissing, 2);
	ck_assert_uint_eq(o->nmissing_total, 2);
	ck_assert_str_eq(o->missing[0], "gemma:2b");
	ck_assert_str_eq(o->missing[1], "llama3.1:70b");

	/* All present: nothing missing, and the old list is cleared. */
	probe_check_models(o, req, 2);
	ck_assert_uint_eq(o->nmissing, 0);
	ck_assert_uint_eq(o->nmissing_total, 0);

	/* No answer yet: nothing can be said to be missing. */
	o->has_info = 0;
	probe_check_models(o, req, 4);
	ck_assert_uint_eq(o->nmissing, 0);
	ollama_info_clear(&o->info);
	free(o);
}
END_TEST

START_TEST(required_models_many)
{
	struct probe_ollama_result *o = ollama_with(NULL, 0);
	char			*req[PROBE_MISSING_MAX + 4];
	char			 names[PROBE_MISSING_MAX + 4][16];
	size_t			 i;

	for (i = 0; i < PROBE_MISSING_MAX + 4; i++) {
		snprintf(names[i], sizeof(names[i]), "m%zu:1b", i);
		req[i] = names[i];
	}
	probe_check_models(o, req, PROBE_MISSING_MAX + 4);
	ck_assert_uint_eq(o->nmissing, PROBE_MISSING_MAX);
	ck_assert_uint_eq(o->nmissing_total, PROBE_MISSING_MAX + 4);
	ck_assert_str_eq(o->missing[0], "m0:1b");
	ollama_info_clear(&o->info);
	free(o);
}
END_TEST

START_TEST(gpu_thresholds)
{
	struct gpu_sample	s;
	char			buf[128];

	memset(&s, 0, sizeof(s));
	s.ok = 1;
	s.ngpus = 2;
	s.gpus[0].index = 0;
	s.gpus[0].has_temp = 1;
	s.gpus[0].temp_c = 80;			/* at the limit: not over */
	s.gpus[0].has_mem_used = s.gpus[0].has_mem_total = 1;
	s.gpus[0].mem_used_mib = 22107;		/* 89.99 % of 24564 */
	s.gpus[0].mem_total_mib = 24564;
	s.gpus[1].index = 1;			/* no readings at all */
	ck_assert_int_eq(probe_gpu_threshold(&s, 80, 90, buf, sizeof(buf)), 0);

	s.gpus[0].mem_used_mib = 22108;		/* 90.004 %: over */
	ck_assert_int_eq(probe_gpu_threshold(&s, 80, 90, buf, sizeof(buf)), 1);
	ck_assert_str_eq(buf, "gpu0 memory 90% > 90%");

	s.gpus[1].has_temp = 1;
	s.gpus[1].temp_c = 85;
	s.gpus[0].mem_used_mib = 100;
	ck_assert_int_eq(probe_gpu_threshold(&s, 80, 90, buf, sizeof(buf)), 1);
	ck_assert_str_eq(buf, "gpu1 85°C > 80°C");

	/* The predicates the alerts share: -1 without the reading. */
	ck_assert_int_eq(gpu_temp_over(&s.gpus[1], 85), 0);
	ck_assert_int_eq(gpu_temp_over(&s.gpus[1], 84), 1);
	s.gpus[1].has_temp = 0;
	ck_assert_int_eq(gpu_temp_over(&s.gpus[1], 84), -1);
	ck_assert_int_eq(gpu_mem_over(&s.gpus[1], 90), -1);
	ck_assert_int_eq(gpu_mem_pct(&s.gpus[1]), -1);
	s.gpus[0].mem_used_mib = 22107;
	ck_assert_int_eq(gpu_mem_over(&s.gpus[0], 90), 0);
	ck_assert_int_eq(gpu_mem_pct(&s.gpus[0]), 90);
	s.gpus[0].mem_total_mib = 0;		/* a tool that said 0 MiB */
	ck_assert_int_eq(gpu_mem_over(&s.gpus[0], 90), -1);
}
END_TEST

START_TEST(ages_and_names)
{
	struct probe_common	c;

	memset(&c, 0, sizeof(c));
	ck_assert(near(probe_age_s(&c, 5000), -1));
	c.at = 1000;
	ck_assert(near(probe_age_s(&c, 3500), 2.5));
	ck_assert(near(probe_age_s(&c, 1000), 0));
	ck_assert(near(probe_age_s(&c, 500), 0));	/* clock never goes back */
	ck_assert_str_eq(probe_status_name(PROBE_PENDING), "pending");
	ck_assert_str_eq(probe_status_name(PROBE_OK), "ok");
	ck_assert_str_eq(probe_status_name(PROBE_FAILED), "down");
}
END_TEST

static Suite *
runner_suite(void)
{
	Suite	*s = suite_create("probe_runner");
	TCase	*tc = tcase_create("pure");

	tcase_add_test(tc, load_score_formula);
	tcase_add_test(tc, jitter_bounds);
	tcase_add_test(tc, spread_bounds);
	tcase_add_test(tc, recent_failures_window);
	tcase_add_test(tc, recent_failures_ring);
	tcase_add_test(tc, required_models);
	tcase_add_test(tc, required_models_many);
	tcase_add_test(tc, ages_and_names);
	tcase_add_test(tc, gpu_thresholds);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(runner_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
