/*
 * fuzz_jv: jv_parse(), tunnelctl's reader of the daemon's replies, against
 * jansson on arbitrary text: both must accept the same texts and read the
 * same values (jansson is the reference jv replaced for speed), and the
 * streamed form of a reply must hand over the very elements the whole
 * tree holds; and read a piece at a time (jv_split), in pieces cut where
 * the input says, the same.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fuzz.h"
#include "jv.h"

/* What a jv_split hands on, kept to compare with the text it was fed. */
struct fuzz_jv_copy {
	char	*buf;
	size_t	 len, cap;
};

static int
fuzz_jv_copy(const char *b, size_t n, void *arg)
{
	struct fuzz_jv_copy	*c = arg;

	if (n > c->cap - c->len)
		abort();		/* more than the text that was fed */
	memcpy(c->buf + c->len, b, n);
	c->len += n;
	return 0;
}

/* Whether jv's V reads as jansson's J: types, order, numbers, strings. */
static int
fuzz_jv_same(const struct jv *v, json_t *j)
{
	const struct jv	*c;
	json_t		*m;
	size_t		 i = 0;

	switch (v->type) {
	case JV_NULL:
		return json_is_null(j);
	case JV_TRUE:
		return json_is_true(j);
	case JV_FALSE:
		return json_is_false(j);
	case JV_NUMBER:
		return json_is_number(j) && (v->integer ? json_is_integer(j) &&
		    v->num == (double)json_integer_value(j) :
		    v->num == json_real_value(j));
	case JV_STRING:
		return json_is_string(j) && v->len == json_string_length(j) &&
		    strlen(v->str) == v->len &&
		    memcmp(v->str, json_string_value(j), v->len) == 0;
	case JV_ARRAY:
		if (!json_is_array(j) || json_array_size(j) != v->len)
			return 0;
		JV_FOREACH(c, v)
			if (!fuzz_jv_same(c, json_array_get(j, i++)))
				return 0;
		return 1;
	case JV_OBJECT:
		if (!json_is_object(j) || json_object_size(j) > v->len)
			return 0;
		/* Every name as jv_member() finds it (the last of repeats). */
		JV_FOREACH(c, v)
			if ((m = json_object_get(j, c->key)) == NULL ||
			    !fuzz_jv_same(jv_member(v, c->key), m))
				return 0;
		return 1;
	}
	return 0;
}

static int
fuzz_jv_nested(const char *e)
{
	return strncmp(e, "nested too deep", 15) == 0;
}

struct fuzz_jv_seen {
	json_t	*nodes;		/* jansson's "nodes" array */
	size_t	 i;
	int	 bad;
};

static int
fuzz_jv_each(const struct jv *v, void *arg)
{
	struct fuzz_jv_seen	*s = arg;

	if (s->nodes == NULL || s->i >= json_array_size(s->nodes) ||
	    !fuzz_jv_same(v, json_array_get(s->nodes, s->i)))
		s->bad = 1;
	s->i++;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jv_doc		 doc = { 0 };
	struct jv_stream	 st = { "nodes", fuzz_jv_each, NULL };
	struct fuzz_jv_seen	 seen = { NULL, 0, 0 };
	const struct jv		*root, *c;
	json_error_t		 err;
	size_t			 nnodes = 0;
	json_t			*j, *nodes;
	char			*b;
	int			 r;

	/* An exact-size copy: a read past the end shows under ASan. */
	if ((b = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(b, data, size);
	j = json_loadb(b, size, JSON_DECODE_ANY, &err);
	r = jv_parse(&doc, b, size, NULL, &root);
	if (r == -1 && (doc.error[0] == '\0' ||
	    strnlen(doc.error, sizeof(doc.error)) == sizeof(doc.error)))
		abort();		/* a failure says why */
	if (r == 0 && j == NULL)
		abort();		/* jv took what jansson refuses */
	/*
	 * jv refused what jansson takes; a NUL byte aside: jansson reads a
	 * number that one ends as the end of the text ("5\0").
	 */
	if (r == -1 && j != NULL && !fuzz_jv_nested(doc.error) &&
	    strcmp(doc.error, "out of memory") != 0 &&
	    memchr(b, '\0', size) == NULL)
		abort();
	if (r == 0 && !fuzz_jv_same(root, j))
		abort();
	/* jansson keeps the last of repeated "nodes"; a stream, all of them. */
	if (r == 0 && root->type == JV_OBJECT)
		JV_FOREACH(c, root)
			nnodes += strcmp(c->key, "nodes") == 0;
	jv_free(&doc);
	if (nnodes > 1)
		goto out;

	/* Streamed: the same elements, one at a time, then an empty array. */
	nodes = json_is_object(j) ? json_object_get(j, "nodes") : NULL;
	seen.nodes = json_is_array(nodes) ? nodes : NULL;
	st.arg = &seen;
	r = jv_parse(&doc, b, size, &st, &root);
	if (r == 0) {
		if (j == NULL || seen.bad)
			abort();
		if (seen.nodes != NULL && (seen.i != json_array_size(nodes) ||
		    jv_member(root, "nodes")->len != 0))
			abort();
	}
	jv_free(&doc);

	/*
	 * Split: the text fed in pieces, each 1 to 64 bytes long as the text
	 * itself says; accepted exactly when the whole is (depth aside: an
	 * element counts its own), the same elements handed over, and the
	 * text handed on to the copy: all of it when accepted, else a part
	 * from its start.
	 */
	{
		struct jv_split		 sp = { 0 };
		struct fuzz_jv_copy	 cp = { NULL, 0, size };
		const char		*e;
		size_t			 off = 0, n;
		int			 rs = 0;

		if ((cp.buf = malloc(size + 3)) == NULL)
			abort();
		seen.i = 0;
		seen.bad = 0;
		sp.stream = &st;
		sp.copy = fuzz_jv_copy;
		sp.copy_arg = &cp;
		while (off < size && rs == 0) {
			n = 1 + (size_t)(unsigned char)b[off] % 64;
			if (n > size - off)
				n = size - off;
			rs = jv_split_feed(&sp, b + off, n);
			off += n;
		}
		if (rs == 0)
			rs = jv_split_end(&sp, &doc, &root);
		if (rs == 0 && jv_split_flush(&sp) == -1)
			abort();		/* the copy never fails here */
		e = rs == 0 ? "" : sp.failed ? sp.error : doc.error;
		if (rs == -1 && e[0] == '\0')
			abort();		/* a failure says why */
		if (rs == 0 && (j == NULL || seen.bad))
			abort();		/* took what the whole refuses */
		if (rs == 0 && seen.nodes != NULL &&
		    (seen.i != json_array_size(nodes) ||
		    jv_member(root, "nodes")->len != 0))
			abort();
		if (rs == 0 && !json_is_array(nodes) && !fuzz_jv_same(root, j))
			abort();
		if ((rs == 0 && cp.len != size) || memcmp(cp.buf, b, cp.len) != 0)
			abort();		/* not the text, as it came */
		/*
		 * Refused: what was handed on ends with a judged element, and
		 * so closed after it is a whole text; nothing unchecked went.
		 */
		if (rs == -1 && cp.len > 0) {
			json_t	*part;

			memcpy(cp.buf + cp.len, "]}", 2);
			if ((part = json_loadb(cp.buf, cp.len + 2, 0,
			    &err)) == NULL)
				abort();
			json_decref(part);
		}
		free(cp.buf);
		/* Refused what the whole takes; depth and NUL bytes aside. */
		if (rs == -1 && r == 0 && !fuzz_jv_nested(e) &&
		    strcmp(e, "out of memory") != 0 &&
		    memchr(b, '\0', size) == NULL)
			abort();
		jv_free(&doc);
		jv_split_free(&sp);
	}
 out:
	json_decref(j);
	free(b);
	return 0;
}
