/*
 * Unit tests for jv_parse(), tunnelctl's reader of the daemon's replies:
 * values, escapes, what is refused and why, and a "nodes" array handed
 * over element by element in memory that is reused.  tests/fuzz/fuzz_jv.c
 * holds it against jansson on arbitrary text.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jv.h"

static struct jv_doc	 doc;
static const struct jv	*root;

static void
setup(void)
{
	memset(&doc, 0, sizeof(doc));
	root = NULL;
}

static void
teardown(void)
{
	jv_free(&doc);
}

static int
parse(const char *text)
{
	return jv_parse(&doc, text, strlen(text), NULL, &root);
}

/* Refused, with an error that starts with WHY. */
static void
refused(const char *text, const char *why)
{
	ck_assert_msg(parse(text) == -1, "accepted: %s", text);
	ck_assert_msg(strncmp(doc.error, why, strlen(why)) == 0,
	    "%s: error \"%s\", not \"%s...\"", text, doc.error, why);
	jv_free(&doc);
}

START_TEST(values)
{
	const struct jv	*v;

	ck_assert_int_eq(parse(" {\"a\":1,\"b\":-2.5e1,\"c\":true,\"d\":false,"
	    "\"e\":null,\"f\":\"x\",\"g\":[1,[2],{}],\"h\":{\"i\":0}} "), 0);
	ck_assert_int_eq(root->type, JV_OBJECT);
	ck_assert_uint_eq(root->len, 8);
	v = jv_member(root, "a");
	ck_assert(v->type == JV_NUMBER && v->integer && v->num == 1);
	v = jv_member(root, "b");
	ck_assert(v->type == JV_NUMBER && !v->integer && v->num == -25);
	ck_assert_int_eq(jv_member(root, "c")->type, JV_TRUE);
	ck_assert_int_eq(jv_member(root, "d")->type, JV_FALSE);
	ck_assert_int_eq(jv_member(root, "e")->type, JV_NULL);
	ck_assert_str_eq(jv_member(root, "f")->str, "x");
	v = jv_member(root, "g");
	ck_assert(v->type == JV_ARRAY && v->len == 3);
	ck_assert(v->child->num == 1 && v->child->next->type == JV_ARRAY &&
	    v->child->next->child->num == 2 &&
	    v->child->next->next->type == JV_OBJECT &&
	    v->child->next->next->len == 0 &&
	    v->child->next->next->next == NULL);
	ck_assert(jv_member(jv_member(root, "h"), "i")->num == 0);
	ck_assert_ptr_null(jv_member(root, "z"));
	ck_assert_ptr_null(jv_member(jv_member(root, "a"), "a"));
	ck_assert_ptr_null(jv_member(NULL, "a"));
}
END_TEST

START_TEST(numbers)
{
	ck_assert_int_eq(parse("[0,-0,123456789012345,1234567890123456789,"
	    "-9223372036854775808,0.5,1E2,1e-2,1.25e+3]"), 0);
	ck_assert(root->child->num == 0);
	ck_assert(!signbit(root->child->next->num));	/* -0: integer 0 */
	ck_assert(root->child->next->next->num == 123456789012345.0);
	ck_assert(root->child->next->next->next->num == 1234567890123456789.0);
	ck_assert(root->child->next->next->next->next->num ==
	    -9223372036854775807.0 - 1);
	ck_assert(root->child->next->next->next->next->next->num == 0.5);
	ck_assert(root->child->next->next->next->next->next->next->num == 100);
	jv_free(&doc);
	refused("9223372036854775808", "number out of range");
	refused("1e400", "number out of range");
	refused("01", "garbage after the value");
	refused("1.", "invalid number");
	refused("-", "invalid number");
	refused(".5", "invalid token");
	refused("+1", "invalid token");
	refused("1e", "invalid number");
}
END_TEST

/*
 * Reals are read by hand where that is exact (jv_number): the same double
 * as strtod() for every form, bit for bit, on both sides of the limits of
 * that path (15 digits, 10^22).
 */
START_TEST(reals_as_strtod)
{
	static const char *fixed[] = {
		"0.0498", "-0.0", "0.30000000000000004", "9007199254740993.0",
		"1e22", "1e23", "123456789012345.6", "0.000001e-16", "5e-324",
		"2.2250738585072014e-308", "1.7976931348623157e308", "0.1e1",
		"100000000000000000000000e-2", "4.35", "1.005", "0.0e0",
	};
	char		 text[96];
	double		 want, got;
	unsigned	 seed = 2026;
	size_t		 i, n, k;
	int		 len;

	for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]) + 200000; i++) {
		if (i < sizeof(fixed) / sizeof(fixed[0]))
			snprintf(text, sizeof(text), "%s", fixed[i]);
		else {
			len = 0;
			if (rand_r(&seed) % 2)
				text[len++] = '-';
			n = rand_r(&seed) % 19;	/* integer digits; 0: "0" */
			if (n == 0)
				text[len++] = '0';
			for (k = 0; k < n; k++)
				text[len++] = '0' + (k == 0 ? 1 +
				    rand_r(&seed) % 9 : rand_r(&seed) % 10);
			text[len++] = '.';
			n = 1 + rand_r(&seed) % 19;	/* fraction digits */
			for (k = 0; k < n; k++)
				text[len++] = '0' + (rand_r(&seed) % 3 == 0 ?
				    0 : rand_r(&seed) % 10);
			if (rand_r(&seed) % 2)
				len += snprintf(text + len, sizeof(text) -
				    (size_t)len, "e%d",
				    (int)(rand_r(&seed) % 61) - 30);
			text[len] = '\0';
		}
		want = strtod(text, NULL);
		ck_assert_msg(parse(text) == 0, "%s: %s", text, doc.error);
		got = root->num;
		ck_assert_msg(memcmp(&got, &want, sizeof(got)) == 0,
		    "%s: read %.17g, strtod %.17g", text, got, want);
		jv_free(&doc);
	}
}
END_TEST

/*
 * Strings are scanned 8 bytes at a time: whatever needs a look (the end,
 * an escape, a control character, UTF-8) is found at every offset.
 */
START_TEST(string_scan_offsets)
{
	char	text[128], want[32];
	size_t	at, k;

	for (at = 0; at < 24; at++) {
		memset(want, 'a', at);
		want[at] = '\0';
		snprintf(text, sizeof(text), "\"%s\"", want);
		ck_assert_int_eq(parse(text), 0);
		ck_assert_str_eq(root->str, want);
		jv_free(&doc);

		snprintf(text, sizeof(text), "\"%s\\nbc\"", want);
		ck_assert_int_eq(parse(text), 0);
		ck_assert_uint_eq(root->len, at + 3);
		ck_assert(root->str[at] == '\n' && root->str[at + 1] == 'b');
		jv_free(&doc);

		snprintf(text, sizeof(text), "\"%s\xc3\xa9" "bcdefghijk\"", want);
		ck_assert_int_eq(parse(text), 0);
		ck_assert(memcmp(root->str + at, "\xc3\xa9" "b", 3) == 0);
		jv_free(&doc);

		for (k = 0; k < 3; k++) {
			static const char bad[] = { 0x01, 0x1f, (char)0xff };

			snprintf(text, sizeof(text), "\"%s%cbcdefghijk\"", want,
			    bad[k]);
			ck_assert_int_eq(parse(text), -1);
			jv_free(&doc);
		}
		/* A quote or backslash of the 8 bytes ends the fast scan. */
		snprintf(text, sizeof(text), "\"%s\"bcdefghijk\"", want);
		ck_assert_int_eq(parse(text), -1);	/* garbage after */
		jv_free(&doc);
	}
}
END_TEST

START_TEST(strings)
{
	/* é as UTF-8 and as \u00e9; U+1F600 as a surrogate pair. */
	ck_assert_int_eq(parse("[\"\xc3\xa9\",\"\\u00e9\",\"\\ud83d\\ude00\","
	    "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\",\"\"]"), 0);
	ck_assert_str_eq(root->child->str, "\xc3\xa9");
	ck_assert_str_eq(root->child->next->str, "\xc3\xa9");
	ck_assert_str_eq(root->child->next->next->str, "\xf0\x9f\x98\x80");
	ck_assert_uint_eq(root->child->next->next->len, 4);
	ck_assert_str_eq(root->child->next->next->next->str,
	    "\"\\/\b\f\n\r\t");
	ck_assert_str_eq(root->child->next->next->next->next->str, "");
	jv_free(&doc);
	refused("\"a", "unterminated string");
	refused("\"a\\", "unterminated string");
	refused("\"a\x01\"", "control character in a string at byte 2");
	refused("\"\xff\"", "invalid UTF-8 in a string at byte 1");
	refused("\"\xc0\xaf\"", "invalid UTF-8");	/* overlong '/' */
	refused("\"\xed\xa0\x80\"", "invalid UTF-8");	/* a surrogate */
	refused("\"\xf4\x90\x80\x80\"", "invalid UTF-8");	/* > U+10FFFF */
	refused("\"\\ud800\"", "invalid escape");	/* a lone surrogate */
	refused("\"\\udc00\\ud800\"", "invalid escape");
	refused("\"\\u0000\"", "invalid escape");	/* C strings: no NUL */
	refused("\"\\x\"", "invalid escape");
	refused("\"\\u12\"", "invalid escape");
}
END_TEST

START_TEST(structure)
{
	char	deep[2 * JV_MAX_DEPTH + 3];

	refused("", "premature end of input at byte 0");
	refused("[1,", "premature end of input");
	refused("[1 2]", "expected ',' or ']' at byte 3");
	refused("{\"a\" 1}", "expected ':'");
	refused("{\"a\":1,}", "expected a member name");
	refused("{1:1}", "expected a member name");
	refused("{\"a\":1 \"b\":2}", "expected ',' or '}'");
	refused("nul", "invalid token");
	refused("[] []", "garbage after the value");
	memset(deep, '[', JV_MAX_DEPTH + 1);
	memset(deep + JV_MAX_DEPTH + 1, ']', JV_MAX_DEPTH + 1);
	deep[2 * JV_MAX_DEPTH + 2] = '\0';
	refused(deep, "nested too deep");
	deep[JV_MAX_DEPTH * 2 + 1] = '\0';
	ck_assert_int_eq(parse(deep + 1), 0);	/* JV_MAX_DEPTH is fine */
}
END_TEST

START_TEST(repeated_member)
{
	ck_assert_int_eq(parse("{\"a\":1,\"a\":2}"), 0);
	/* The last, as jansson keeps it. */
	ck_assert(jv_member(root, "a")->num == 2);
}
END_TEST

struct seen {
	int		 n;
	const void	*first;		/* where the first element lived */
	int		 reused;
	int		 stop_at;
};

static int
each(const struct jv *v, void *arg)
{
	struct seen	*s = arg;

	ck_assert_int_eq(v->type, JV_OBJECT);
	ck_assert(jv_member(v, "i")->num == s->n);
	ck_assert_str_eq(jv_member(v, "name")->str, s->n % 2 ? "odd" : "even");
	if (s->n == 0)
		s->first = v;
	else if ((const void *)v == s->first)
		s->reused++;
	return ++s->n == s->stop_at ? -1 : 0;
}

static int
count_any(const struct jv *v, void *arg)
{
	(void)v, (void)arg;
	return 0;
}

START_TEST(stream)
{
	struct seen		 s = { 0, NULL, 0, -1 };
	struct jv_stream	 st = { "nodes", each, &s };
	char			 text[64 * 1024];
	size_t			 off;
	int			 i;

	off = (size_t)snprintf(text, sizeof(text), "{\"ok\":true,\"nodes\":[");
	for (i = 0; i < 1000; i++)
		off += (size_t)snprintf(text + off, sizeof(text) - off,
		    "%s{\"i\":%d,\"name\":\"%s\"}", i ? "," : "", i,
		    i % 2 ? "odd" : "even");
	snprintf(text + off, sizeof(text) - off, "],\"pools\":[{\"n\":1}]}");
	ck_assert_int_eq(jv_parse(&doc, text, strlen(text), &st, &root), 0);
	ck_assert_int_eq(s.n, 1000);
	/* Every element in the memory of the first: nothing piles up. */
	ck_assert_int_eq(s.reused, 999);
	ck_assert_int_eq(jv_member(root, "nodes")->type, JV_ARRAY);
	ck_assert_uint_eq(jv_member(root, "nodes")->len, 0);
	ck_assert(jv_member(root, "ok")->type == JV_TRUE);
	ck_assert(jv_member(jv_member(root, "pools")->child, "n")->num == 1);
	jv_free(&doc);

	/* -1 from EACH ends the parse; a "nodes" deeper down is no stream. */
	s.n = 0;
	s.stop_at = 3;
	ck_assert_int_eq(jv_parse(&doc, text, strlen(text), &st, &root), -1);
	ck_assert_int_eq(s.n, 3);
	jv_free(&doc);
	s.n = 0;
	snprintf(text, sizeof(text), "{\"x\":{\"nodes\":[{\"i\":0}]}}");
	ck_assert_int_eq(jv_parse(&doc, text, strlen(text), &st, &root), 0);
	ck_assert_int_eq(s.n, 0);
	ck_assert_uint_eq(jv_member(jv_member(root, "x"), "nodes")->len, 1);
}
END_TEST

/* A text longer than a chunk, in pieces past it: values stay where made. */
static int	copy_to(const char *, size_t, void *);

/*
 * The size of the pieces a text is cut into, for K = 1..PIECES_MAX: a
 * byte and up (each element split and judged as it comes), then pieces
 * that hold whole elements (read where they lie), then the whole text.
 */
#define PIECES_MAX	11
static size_t
pieces(size_t k)
{
	return k <= 9 ? k : k == 10 ? 64 : (size_t)-1;
}

/*
 * TEXT fed to a jv_split in pieces of CHUNK bytes, handed on to C unless
 * it is NULL; jv_split_end()'s result, then jv_split_flush()'s.
 */
static int
split_copy(struct jv_split *sp, const struct jv_stream *st, void *c,
    const char *text, size_t chunk)
{
	size_t	off, n, len = strlen(text);

	memset(sp, 0, sizeof(*sp));
	sp->stream = st;
	if (c != NULL) {
		sp->copy = copy_to;
		sp->copy_arg = c;
	}
	for (off = 0; off < len; off += n) {
		n = len - off < chunk ? len - off : chunk;
		if (jv_split_feed(sp, text + off, n) == -1)
			return -1;
	}
	if (jv_split_end(sp, &doc, &root) == -1)
		return -1;
	return jv_split_flush(sp);
}

static int
split(struct jv_split *sp, const struct jv_stream *st, const char *text,
    size_t chunk)
{
	return split_copy(sp, st, NULL, text, chunk);
}

START_TEST(split_pieces)
{
	struct seen		 s;
	struct jv_stream	 st = { "nodes", each, &s };
	struct jv_split		 sp;
	static char		 text[64 * 1024], deep[512];
	size_t			 off, chunk;
	int			 i;

	off = (size_t)snprintf(text, sizeof(text),
	    "{\"ok\":true, \"x\":\"nodes\", \"p\":[{\"nodes\":[1]}], \"nodes\" : [ ");
	for (i = 0; i < 200; i++)
		off += (size_t)snprintf(text + off, sizeof(text) - off,
		    "%s{\"i\":%d,\"name\":\"%s\",\"q\":\"],\\\"[{\"}", i ? " , " : "",
		    i, i % 2 ? "odd" : "even");
	snprintf(text + off, sizeof(text) - off, " ],\"pools\":[{\"n\":1}]}");
	/* Cut anywhere, strings holding brackets, quotes and commas; whole. */
	for (chunk = 1; chunk <= 71; chunk++) {
		memset(&s, 0, sizeof(s));
		s.stop_at = -1;
		ck_assert_msg(split(&sp, &st, text,
		    chunk <= 70 ? chunk : (size_t)-1) == 0,
		    "chunk %zu: %s %s", chunk, sp.error, doc.error);
		ck_assert_int_eq(s.n, 200);
		ck_assert_int_eq(s.reused, 199);	/* one node's memory */
		ck_assert_uint_eq(jv_member(root, "nodes")->len, 0);
		ck_assert_str_eq(jv_member(root, "x")->str, "nodes");
		ck_assert_uint_eq(jv_member(jv_member(root, "p")->child,
		    "nodes")->len, 1);
		ck_assert(jv_member(jv_member(root, "pools")->child, "n")->num
		    == 1);
		/* REST never held a node. */
		ck_assert_uint_lt(sp.rest_len, 128);
		jv_free(&doc);
		jv_split_free(&sp);
	}

	/* A name written with escapes: handed over by jv_split_end(). */
	memset(&s, 0, sizeof(s));
	s.stop_at = -1;
	ck_assert_int_eq(split(&sp, &st, "{\"node\\u0073\":[{\"i\":0,"
	    "\"name\":\"even\"},{\"i\":1,\"name\":\"odd\"}],\"ok\":true}", 3), 0);
	ck_assert_int_eq(s.n, 2);
	jv_free(&doc);
	jv_split_free(&sp);

	/* Refused as the whole would be. */
	{
		static const char *bad[] = {
			"{\"nodes\":[,{\"i\":0,\"name\":\"even\"}]}",
			"{\"nodes\":[{\"i\":0,\"name\":\"even\"},]}",
			"{\"nodes\":[{\"i\":0,\"name\":\"even\"},,{}]}",
			"{\"nodes\":[{\"i\":0,\"name\":\"even\"} {}]}",
			"{\"nodes\":[{\"i\":0,\"name\":\"even\"}]]}",
			"{\"nodes\":[{\"i\":0,\"name\":\"even\"}",
			"{\"nodes\":[{\"i\":0,\"name\":\"even\"}],}",
			"{\"nodes\":[{\"i\":0,\"name\":\"ev\x01" "en\"}]}",
			"{\"nodes\":[]",
		};

		for (i = 0; i < (int)(sizeof(bad) / sizeof(bad[0])); i++)
			for (chunk = 1; chunk <= PIECES_MAX; chunk++) {
				memset(&s, 0, sizeof(s));
				s.stop_at = -1;
				ck_assert_msg(split(&sp, &st, bad[i],
				    pieces(chunk)) == -1,
				    "accepted: %s", bad[i]);
				ck_assert(sp.error[0] != '\0' ||
				    doc.error[0] != '\0');
				jv_free(&doc);
				jv_split_free(&sp);
			}
	}

	/* -1 from EACH ends it. */
	memset(&s, 0, sizeof(s));
	s.stop_at = 3;
	ck_assert_int_eq(split(&sp, &st, text, 100), -1);
	ck_assert_int_eq(s.n, 3);
	jv_free(&doc);
	jv_split_free(&sp);

	/* An element's depth is its own (the one difference, documented). */
	off = (size_t)snprintf(deep, sizeof(deep), "{\"nodes\":[");
	for (i = 0; i < JV_MAX_DEPTH - 1; i++)
		deep[off++] = '[';
	for (i = 0; i < JV_MAX_DEPTH - 1; i++)
		deep[off++] = ']';
	snprintf(deep + off, sizeof(deep) - off, "]}");
	ck_assert_int_eq(jv_parse(&doc, deep, strlen(deep), NULL, &root), -1);
	jv_free(&doc);
	st.each = count_any;
	ck_assert_int_eq(split(&sp, &st, deep, 5), 0);
	jv_free(&doc);
	jv_split_free(&sp);
}
END_TEST

/* What a jv_split's COPY was handed, in order. */
struct copied {
	char	 buf[4096];
	size_t	 len;
	int	 stop;		/* -1 from the next call */
};

static int
copy_to(const char *b, size_t n, void *arg)
{
	struct copied	*c = arg;

	if (c->stop)
		return -1;
	ck_assert_uint_le(n, sizeof(c->buf) - c->len);
	memcpy(c->buf + c->len, b, n);
	c->len += n;
	return 0;
}

START_TEST(split_copy_exact)
{
	static const char *good[] = {
		"{\"ok\":true,\"nodes\":[{\"i\":0,\"name\":\"even\"},"
		    "{\"i\":1,\"name\":\"odd\"}],\"pools\":[]}",
		" { \"nodes\" : [ {\"i\":0,\"name\":\"even\"} ,\t"
		    "{\"i\":1,\"name\":\"odd\"} ] , \"ok\" : true } ",
		"{\"nodes\":[ ],\"ok\":true}",
		"{\"nodes\":[],\"x\":\"],[\",\"ok\":true}",
		"{\"node\\u0073\":[{\"i\":0,\"name\":\"even\"}],\"ok\":true}",
		"{\"nodes\":[ ],\"nodes\":[{\"i\":0,\"name\":\"even\"}]}",
		"{\"nodes\":[{\"i\":0,\"name\":\"e\\\"ven\\\\\"}]}",
	};
	struct seen		 s;
	struct jv_stream	 st = { "nodes", count_any, &s };
	struct jv_split		 sp;
	struct copied		 c;
	size_t			 i, chunk;

	/* Accepted: the copy is the text, byte for byte, however cut. */
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		for (chunk = 1; chunk <= PIECES_MAX; chunk++) {
			memset(&c, 0, sizeof(c));
			ck_assert_msg(split_copy(&sp, &st, &c, good[i],
			    pieces(chunk))
			    == 0, "refused: %s: %s %s", good[i], sp.error,
			    doc.error);
			ck_assert_uint_eq(c.len, strlen(good[i]));
			ck_assert_msg(memcmp(c.buf, good[i], c.len) == 0,
			    "copy differs: %.*s", (int)c.len, c.buf);
			jv_free(&doc);
			jv_split_free(&sp);
		}
}
END_TEST

/* Refused part way: the copy stops after the last element accepted. */
START_TEST(split_copy_refused)
{
	static const struct {
		const char	*text;
		const char	*copied;
	} bad[] = {
		{ "{\"nodes\":[{\"i\":0},{\"i\":1,}]}", "{\"nodes\":[{\"i\":0}" },
		{ "{\"nodes\":[{\"i\":0},]}", "{\"nodes\":[{\"i\":0}" },
		{ "{\"nodes\":[{\"i\":0}] x", "{\"nodes\":[{\"i\":0}" },
		{ "{\"nodes\":[{\"i\":0}", "" },	/* not judged: no ',' nor ']' */
		/* The text before the list is judged before it goes on. */
		{ "{\"ok\" true,\"nodes\":[{\"i\":0},{\"i\"]}", "" },
		{ "{\"ok\":tru,\"nodes\":[{\"i\":0}]}", "" },
		{ "xyz{\"ok\":true,\"nodes\":[{\"i\":0},{\"i\":1}]}", "" },
		{ "{\"ok\":true,\"nodes\":[{\"i\":0}] x ,\"nodes\":[{\"i\":1}]}",
		    "{\"ok\":true,\"nodes\":[{\"i\":0}" },
		{ "{\"ok\":true,\"pools\":[1,],\"nodes\":[{\"i\":0}]}", "" },
		{ "not json at all", "" },
		{ "{\"nodes\":[{]}", "" },
		{ "{\"nodes\":[]", "" },
	};
	struct jv_stream	 st = { "nodes", count_any, NULL };
	struct jv_split		 sp;
	struct copied		 c;
	size_t			 i, chunk;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		for (chunk = 1; chunk <= PIECES_MAX; chunk++) {
			memset(&c, 0, sizeof(c));
			ck_assert_msg(split_copy(&sp, &st, &c, bad[i].text,
			    pieces(chunk)) == -1, "accepted: %s", bad[i].text);
			ck_assert_msg(c.len == strlen(bad[i].copied) &&
			    memcmp(c.buf, bad[i].copied, c.len) == 0,
			    "%s, cut by %zu: copied \"%.*s\"", bad[i].text,
			    chunk, (int)c.len, c.buf);
			jv_free(&doc);
			jv_split_free(&sp);
		}

	/* -1 from COPY stops the feed, as -1 from EACH does. */
	memset(&c, 0, sizeof(c));
	c.stop = 1;
	ck_assert_int_eq(split_copy(&sp, &st, &c,
	    "{\"nodes\":[{\"i\":0},{\"i\":1}]}", 4), -1);
	ck_assert_str_eq(sp.error, "");
	ck_assert_uint_eq(c.len, 0);
	jv_free(&doc);
	jv_split_free(&sp);
}
END_TEST

START_TEST(large)
{
	static char	text[1024 * 1024];
	const struct jv	*v;
	size_t		 off = 0;
	int		 i, n = 0;

	text[off++] = '[';
	for (i = 0; i < 20000; i++)
		off += (size_t)snprintf(text + off, sizeof(text) - off,
		    "%s\"%040d\"", i ? "," : "", i);
	text[off++] = ']';
	text[off] = '\0';
	ck_assert_int_eq(parse(text), 0);
	JV_FOREACH(v, root)
		ck_assert_int_eq(atoi(v->str), n++);
	ck_assert_int_eq(n, 20000);
}
END_TEST

static Suite *
jv_suite(void)
{
	Suite	*s = suite_create("jv");
	TCase	*tc = tcase_create("parse");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, values);
	tcase_add_test(tc, numbers);
	tcase_add_test(tc, reals_as_strtod);
	tcase_add_test(tc, string_scan_offsets);
	tcase_add_test(tc, strings);
	tcase_add_test(tc, structure);
	tcase_add_test(tc, repeated_member);
	tcase_add_test(tc, stream);
	tcase_add_test(tc, split_pieces);
	tcase_add_test(tc, split_copy_exact);
	tcase_add_test(tc, split_copy_refused);
	tcase_add_test(tc, large);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(jv_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
