/*
 * check_pool_http: the pure parts of the http pool: which node a request
 * goes to (pool_http_route), which paths carry a model, and the body's
 * top-level "model" read through jansson from a growing prefix
 * (pool_http_body_model).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "pool_http.h"

#define C(state, reach, has, loaded, score, out) \
	{ state, reach, has, loaded, score, out }

static size_t
route(enum pool_policy pol, const struct pool_http_cand *c, size_t n,
    size_t *o)
{
	return pool_http_route(pol, c, n, o);
}

START_TEST(route_model_and_state)
{
	/* b lacks the model, c is down, d unreachable: a, then e */
	struct pool_http_cand c[] = {
		C(NODE_UP, 1, 1, 0, 0, 0), C(NODE_UP, 1, 0, 1, 0, 0),
		C(NODE_BACKOFF, 1, 1, 1, 0, 0), C(NODE_UP, 0, 1, 1, 0, 0),
		C(NODE_UP, 1, 1, 0, 0, 0),
	};
	size_t o[5];

	ck_assert_uint_eq(route(POOL_PRIORITY, c, 5, o), 2);
	ck_assert_uint_eq(o[0], 0);
	ck_assert_uint_eq(o[1], 4);
}
END_TEST

START_TEST(route_loaded_first)
{
	struct pool_http_cand c[] = {
		C(NODE_UP, 1, 1, 0, 0, 0), C(NODE_UP, 1, 1, 1, 500, 9),
		C(NODE_UP, 1, 1, 0, 0, 0), C(NODE_UP, 1, 1, 1, 100, 1),
	};
	size_t o[4];

	/* loaded ones first, in listed order; then the others */
	ck_assert_uint_eq(route(POOL_PRIORITY, c, 4, o), 4);
	ck_assert_uint_eq(o[0], 1);
	ck_assert_uint_eq(o[1], 3);
	ck_assert_uint_eq(o[2], 0);
	ck_assert_uint_eq(o[3], 2);
	/* within the loaded, by policy */
	ck_assert_uint_eq(route(POOL_LEAST_LOAD, c, 4, o), 4);
	ck_assert_uint_eq(o[0], 3);
	ck_assert_uint_eq(o[1], 1);
	ck_assert_uint_eq(route(POOL_LEAST_OUTSTANDING, c, 4, o), 4);
	ck_assert_uint_eq(o[0], 3);
	ck_assert_uint_eq(o[1], 1);
}
END_TEST

START_TEST(route_least_outstanding_stable)
{
	struct pool_http_cand c[] = {
		C(NODE_UP, 1, 1, 0, 0, 2), C(NODE_UP, 1, 1, 0, 900, 0),
		C(NODE_UP, 1, 1, 0, 0, 2), C(NODE_UP, 1, 1, 0, 0, 1),
	};
	size_t o[4];

	ck_assert_uint_eq(route(POOL_LEAST_OUTSTANDING, c, 4, o), 4);
	ck_assert_uint_eq(o[0], 1);
	ck_assert_uint_eq(o[1], 3);
	ck_assert_uint_eq(o[2], 0);	/* tie: listed order */
	ck_assert_uint_eq(o[3], 2);
}
END_TEST

START_TEST(route_degraded_only_when_no_up)
{
	struct pool_http_cand c[] = {
		C(NODE_DEGRADED, 1, 1, 1, 0, 0), C(NODE_UP, 1, 0, 0, 0, 0),
		C(NODE_DEGRADED, 1, 1, 0, 0, 0),
	};
	size_t o[3];

	/* the only up node lacks the model: the degraded ones that list it */
	ck_assert_uint_eq(route(POOL_PRIORITY, c, 3, o), 2);
	ck_assert_uint_eq(o[0], 0);
	ck_assert_uint_eq(o[1], 2);
	c[1].has_model = 1;
	ck_assert_uint_eq(route(POOL_PRIORITY, c, 3, o), 1);
	ck_assert_uint_eq(o[0], 1);
	c[1].state = NODE_STOPPED;
	c[0].has_model = c[2].has_model = 0;
	ck_assert_uint_eq(route(POOL_PRIORITY, c, 3, o), 0);
}
END_TEST

START_TEST(paths)
{
	static const char *yes[] = {
		"/api/generate", "/api/chat", "/api/embed", "/api/embeddings",
		"/v1/chat/completions", "/v1/completions", "/v1/embeddings",
		"/api/chat?x=1", NULL
	};
	static const char *no[] = {
		"/api/tags", "/api/ps", "/", "/api/chatx", "/api/cha",
		"/v1/models", "/API/CHAT", "", NULL
	};
	size_t i;

	for (i = 0; yes[i] != NULL; i++)
		ck_assert_msg(pool_http_path_has_model(yes[i], strlen(yes[i])),
		    "%s", yes[i]);
	for (i = 0; no[i] != NULL; i++)
		ck_assert_msg(!pool_http_path_has_model(no[i], strlen(no[i])),
		    "%s", no[i]);
}
END_TEST

/* The model of a whole body, or "" with the return code. */
static int
model_of(const char *body, int complete, char *m)
{
	size_t resume = 0;

	m[0] = '\0';
	return pool_http_body_model(body, strlen(body), complete, &resume, m,
	    POOL_HTTP_MODEL_MAX);
}

START_TEST(body_model_whole)
{
	char m[POOL_HTTP_MODEL_MAX];

	ck_assert_int_eq(model_of("{\"model\":\"qwen2.5:7b\"}", 1, m), 1);
	ck_assert_str_eq(m, "qwen2.5:7b");
	ck_assert_int_eq(model_of(" \r\n{ \"prompt\" : \"a \\\"model\\\": x\","
	    " \"n\": -1.5e3, \"ok\": true, \"z\": null, \"o\": {\"model\":"
	    "\"inner\"}, \"a\": [\"model\"], \"model\" : \"llava\" } ", 1, m), 1);
	ck_assert_str_eq(m, "llava");
	/* escapes are decoded, as Ollama's own decoder would */
	ck_assert_int_eq(model_of("{\"model\":\"a\\u0062c\"}", 1, m), 1);
	ck_assert_str_eq(m, "abc");
	ck_assert_int_eq(model_of("{\"prompt\":\"x\"}", 1, m), -1);
	ck_assert_int_eq(model_of("{}", 1, m), -1);
	ck_assert_int_eq(model_of("[{\"model\":\"x\"}]", 1, m), -1);
	ck_assert_int_eq(model_of("{\"model\":42}", 1, m), -1);
	ck_assert_int_eq(model_of("{\"model\":\"\"}", 1, m), -1);
	ck_assert_int_eq(model_of("{\"model\":\"a\\u0000b\"}", 1, m), -1);
	ck_assert_int_eq(model_of("{\"model\":\"a\\nb\"}", 1, m), -1);
	ck_assert_int_eq(model_of("{\"model\":\"a\\u007fb\"}", 1, m), -1);
	/* C1 controls too: the fuzzer found U+009D accepted */
	ck_assert_int_eq(model_of("{\"model\":\"a\\u009db\"}", 1, m), -1);
	ck_assert_int_eq(model_of("{\"model\":\"a\xc2\x9d\"}", 1, m), -1);
	ck_assert_int_eq(model_of("{\"model\":\"\u00e9t\u00e9\"}", 1, m), 1);
	ck_assert_int_eq(model_of("{\"a\" 1, \"model\":\"x\"}", 1, m), -1);
	ck_assert_int_eq(model_of("{\"a\":1 \"model\":\"x\"}", 1, m), -1);
	ck_assert_int_eq(model_of("", 1, m), -1);
	ck_assert_int_eq(model_of("{\"a\":1,", 1, m), -1);
}
END_TEST

START_TEST(body_model_too_long)
{
	char m[POOL_HTTP_MODEL_MAX], body[POOL_HTTP_MODEL_MAX + 32];

	memset(body, 'x', sizeof(body));
	memcpy(body, "{\"model\":\"", 10);
	memcpy(body + 10 + POOL_HTTP_MODEL_MAX, "\"}", 3);
	ck_assert_int_eq(model_of(body, 1, m), -1);
}
END_TEST

START_TEST(body_model_prefixes)
{
	static const char body[] = "{\"prompt\":\"hello\",\"n\":123,"
	    "\"flag\":true,\"images\":[\"AAAA\",\"BBBB\"],\"model\":\"llava:7b\","
	    "\"after\":1}";
	char m[POOL_HTTP_MODEL_MAX];
	size_t i, resume, end = strstr(body, "\"llava:7b\"") - body + 10;
	int rc;

	/* every prefix: more needed, until the model's string is whole */
	for (i = 0; i < sizeof(body) - 1; i++) {
		resume = 0;
		rc = pool_http_body_model(body, i, 0, &resume, m, sizeof(m));
		ck_assert_msg(rc == (i >= end ? 1 : 0), "prefix %zu: %d", i, rc);
		if (rc == 1)
			ck_assert_str_eq(m, "llava:7b");
	}
	/* the same prefix grown byte by byte, resuming */
	resume = 0;
	for (i = 0; i < sizeof(body) - 1; i++) {
		rc = pool_http_body_model(body, i, 0, &resume, m, sizeof(m));
		ck_assert_msg(rc == (i >= end ? 1 : 0), "grown %zu: %d", i, rc);
		if (rc == 1)
			break;
	}
	ck_assert_uint_eq(i, end);
	/* a number cut at the end of the prefix may go on */
	resume = 0;
	ck_assert_int_eq(pool_http_body_model("{\"n\":12", 7, 0, &resume, m,
	    sizeof(m)), 0);
	/* invalid JSON is not waited for */
	resume = 0;
	ck_assert_int_eq(pool_http_body_model("{\"n\":xyz, \"model\":\"a\"",
	    22, 0, &resume, m, sizeof(m)), -1);
}
END_TEST

static Suite *
pool_http_suite(void)
{
	Suite	*s = suite_create("pool_http");
	TCase	*tc;

	tc = tcase_create("route");
	tcase_add_test(tc, route_model_and_state);
	tcase_add_test(tc, route_loaded_first);
	tcase_add_test(tc, route_least_outstanding_stable);
	tcase_add_test(tc, route_degraded_only_when_no_up);
	suite_add_tcase(s, tc);
	tc = tcase_create("body");
	tcase_add_test(tc, paths);
	tcase_add_test(tc, body_model_whole);
	tcase_add_test(tc, body_model_too_long);
	tcase_add_test(tc, body_model_prefixes);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(pool_http_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
