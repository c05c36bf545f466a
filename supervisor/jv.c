/*
 * jv.c: a JSON text into an arena-held tree (jv.h).
 */
#include <errno.h>
#include <float.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "jv.h"
#include "utf8.h"

/*
 * The arena: chunks of at least JV_CHUNK bytes, handed out front to back.
 * Nothing is freed alone; a mark taken before a streamed element is
 * returned to after it, so the chunks it used serve the next one.
 */
#define JV_CHUNK	(64 * 1024)
#define JV_ALIGN	_Alignof(max_align_t)	/* a struct jv holds a double */

struct jv_chunk {
	struct jv_chunk	*next;
	size_t		 size, used;
	char		*data;
};

struct jv_mark {
	struct jv_chunk	*chunk;
	size_t		 used;
};

static struct jv_chunk *
jv_chunk_new(size_t need)
{
	struct jv_chunk	*c;
	size_t		 size = need > JV_CHUNK ? need : JV_CHUNK;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	if ((c->data = malloc(size)) == NULL) {
		free(c);
		return NULL;
	}
	c->size = size;
	return c;
}

/* jv_alloc() past the current chunk's end. */
static void *
jv_alloc_chunk(struct jv_doc *d, size_t n)
{
	struct jv_chunk	*c = d->cur, *nc;
	void		*p;

	if (c == NULL) {
		if ((c = d->first = d->cur = jv_chunk_new(n)) == NULL)
			return NULL;
	} else if (c->size - c->used < n) {
		/* Chunks after the current one are empty (jv_rollback). */
		if (c->next != NULL && c->next->size >= n)
			nc = c->next;
		else {
			if ((nc = jv_chunk_new(n)) == NULL)
				return NULL;
			nc->next = c->next;
			c->next = nc;
		}
		c = d->cur = nc;
	}
	p = c->data + c->used;
	c->used += n;
	return p;
}

static inline void *
jv_alloc(struct jv_doc *d, size_t n)
{
	struct jv_chunk	*c = d->cur;
	void		*p;

	n = (n + JV_ALIGN - 1) & ~(JV_ALIGN - 1);
	if (c == NULL || c->size - c->used < n)
		return jv_alloc_chunk(d, n);
	p = c->data + c->used;
	c->used += n;
	return p;
}

static struct jv_mark
jv_mark(const struct jv_doc *d)
{
	struct jv_mark	m = { d->cur, d->cur != NULL ? d->cur->used : 0 };

	return m;
}

static void
jv_rollback(struct jv_doc *d, struct jv_mark m)
{
	struct jv_chunk	*c;

	if (m.chunk == NULL)
		m.chunk = d->first;
	if (m.chunk == NULL)
		return;
	m.chunk->used = m.used;
	for (c = m.chunk->next; c != NULL; c = c->next)
		c->used = 0;
	d->cur = m.chunk;
}

void
jv_reset(struct jv_doc *d)
{
	struct jv_chunk	*c;

	for (c = d->first; c != NULL; c = c->next)
		c->used = 0;
	d->cur = d->first;
}

void
jv_free(struct jv_doc *d)
{
	struct jv_chunk	*c, *next;

	for (c = d->first; c != NULL; c = next) {
		next = c->next;
		free(c->data);
		free(c);
	}
	d->first = d->cur = NULL;
}

const struct jv *
jv_member(const struct jv *o, const char *key)
{
	const struct jv	*v, *found = NULL;
	size_t		 n = strlen(key);

	if (o == NULL || o->type != JV_OBJECT)
		return NULL;
	/*
	 * The last of duplicate names, as jansson keeps it.  The first byte
	 * spares most memcmp() calls: a node's names are mostly of like
	 * lengths ("state", "since_s" and "reason" alike are looked up on
	 * every row).
	 */
	JV_FOREACH(v, o)
		if (v->keylen == n && v->key[0] == key[0] &&
		    memcmp(v->key, key, n) == 0)
			found = v;
	return found;
}

/* ------------------------------------------------------------ parser */

struct jv_parser {
	struct jv_doc		*doc;
	const unsigned char	*b;
	size_t			 len, off;
	const struct jv_stream	*stream;
	int			 depth;
};

static struct jv	*jv_value(struct jv_parser *);

static void *
jv_fail(struct jv_parser *p, const char *what)
{
	/* The first failure is the one that says where. */
	if (p->doc->error[0] == '\0')
		snprintf(p->doc->error, sizeof(p->doc->error), "%s at byte %zu",
		    what, p->off);
	return NULL;
}

static void *
jv_nomem(struct jv_parser *p)
{
	snprintf(p->doc->error, sizeof(p->doc->error), "out of memory");
	return NULL;
}

static void
jv_ws(struct jv_parser *p)
{
	while (p->off < p->len && (p->b[p->off] == ' ' ||
	    p->b[p->off] == '\n' || p->b[p->off] == '\r' ||
	    p->b[p->off] == '\t'))
		p->off++;
}

static struct jv *
jv_new(struct jv_parser *p, enum jv_type type)
{
	struct jv	*v;

	if ((v = jv_alloc(p->doc, sizeof(*v))) == NULL)
		return jv_nomem(p);
	memset(v, 0, sizeof(*v));
	v->type = type;
	return v;
}

static int
jv_hex4(const unsigned char *s, unsigned *out)
{
	unsigned	v = 0;
	int		i;

	for (i = 0; i < 4; i++) {
		v <<= 4;
		if (s[i] >= '0' && s[i] <= '9')
			v |= s[i] - '0';
		else if (s[i] >= 'a' && s[i] <= 'f')
			v |= s[i] - 'a' + 10;
		else if (s[i] >= 'A' && s[i] <= 'F')
			v |= s[i] - 'A' + 10;
		else
			return -1;
	}
	*out = v;
	return 0;
}

static size_t
jv_put_utf8(unsigned char *d, unsigned cp)
{
	if (cp < 0x80) {
		d[0] = cp;
		return 1;
	}
	if (cp < 0x800) {
		d[0] = 0xc0 | cp >> 6;
		d[1] = 0x80 | (cp & 0x3f);
		return 2;
	}
	if (cp < 0x10000) {
		d[0] = 0xe0 | cp >> 12;
		d[1] = 0x80 | (cp >> 6 & 0x3f);
		d[2] = 0x80 | (cp & 0x3f);
		return 3;
	}
	d[0] = 0xf0 | cp >> 18;
	d[1] = 0x80 | (cp >> 12 & 0x3f);
	d[2] = 0x80 | (cp >> 6 & 0x3f);
	d[3] = 0x80 | (cp & 0x3f);
	return 4;
}

/*
 * The escapes of S[0..N), a string's body already checked for raw control
 * characters and UTF-8, written to D; its length, or -1 for a bad escape.
 * No escape writes more bytes than it takes: \uXXXX is at most 3 bytes,
 * a surrogate pair of 12 characters 4.
 */
static ssize_t
jv_unescape(const unsigned char *s, size_t n, unsigned char *d)
{
	size_t		i, o = 0;
	unsigned	cp, lo;

	for (i = 0; i < n; i++) {
		if (s[i] != '\\') {
			d[o++] = s[i];
			continue;
		}
		switch (s[++i]) {
		case '"': case '\\': case '/':
			d[o++] = s[i];
			continue;
		case 'b': d[o++] = '\b'; continue;
		case 'f': d[o++] = '\f'; continue;
		case 'n': d[o++] = '\n'; continue;
		case 'r': d[o++] = '\r'; continue;
		case 't': d[o++] = '\t'; continue;
		case 'u':
			break;
		default:
			return -1;
		}
		if (i + 4 >= n || jv_hex4(s + i + 1, &cp) == -1)
			return -1;
		i += 4;
		if (cp >= 0xdc00 && cp <= 0xdfff)
			return -1;		/* a low surrogate first */
		if (cp >= 0xd800 && cp <= 0xdbff) {
			if (i + 6 >= n || s[i + 1] != '\\' || s[i + 2] != 'u' ||
			    jv_hex4(s + i + 3, &lo) == -1 ||
			    lo < 0xdc00 || lo > 0xdfff)
				return -1;
			cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			i += 6;
		}
		if (cp == 0)
			return -1;	/* no NUL: strings are C strings */
		o += jv_put_utf8(d + o, cp);
	}
	return (ssize_t)o;
}

/*
 * Whether any of the 8 bytes at Q needs a closer look in a string: a
 * quote, a backslash, a control character or a byte of a multibyte
 * sequence.  A word at a time, as the per-byte loop was most of the time
 * spent reading a reply; the tests for a byte under N and for a zero byte
 * are exact as to whether there is one (N <= 128).
 */
#define JV_ONES		0x0101010101010101ULL
#define JV_HIGHS	0x8080808080808080ULL

/* The high bit of each byte of W that equals C (exact as to whether any). */
static inline uint64_t
jv_word_has(uint64_t w, unsigned char c)
{
	uint64_t	x = w ^ (JV_ONES * c);

	return (x - JV_ONES) & ~x & JV_HIGHS;
}

static inline int
jv_word_plain(const unsigned char *q)
{
	uint64_t	w;

	memcpy(&w, q, sizeof(w));
	return (((w | ((w - JV_ONES * 0x20) & ~w)) & JV_HIGHS) |
	    jv_word_has(w, '"') | jv_word_has(w, '\\')) == 0;
}

/* The bytes jv_word_plain() passes, one at a time: all but '"' and '\\'. */
static const unsigned char jv_plain[256] = {
	[0x20 ... 0x21] = 1, [0x23 ... 0x5b] = 1, [0x5d ... 0x7f] = 1,
};

/* The string at P's offset (its opening quote), NUL-terminated, into *OUT. */
static int
jv_string(struct jv_parser *p, const char **out, size_t *outlen)
{
	const unsigned char	*s = p->b + p->off + 1, *end = p->b + p->len;
	const unsigned char	*q = s;
	unsigned char		*d;
	ssize_t			 n;
	size_t			 u;
	int			 escaped = 0;

	for (;;) {
		/* The common case: printable ASCII. */
		while (end - q >= 8 && jv_word_plain(q))
			q += 8;
		while (q < end && jv_plain[*q])
			q++;
		if (q == end) {
			p->off = p->len;
			jv_fail(p, "unterminated string");
			return -1;
		}
		if (*q == '"')
			break;
		if (*q == '\\') {
			escaped = 1;
			if (q + 1 == end) {
				p->off = p->len;
				jv_fail(p, "unterminated string");
				return -1;
			}
			q += 2;		/* the escape itself: checked below */
			continue;
		}
		p->off = (size_t)(q - p->b);
		if (*q < 0x20) {
			jv_fail(p, "control character in a string");
			return -1;
		}
		if ((u = utf8_len(q, (size_t)(end - q))) == 0) {
			jv_fail(p, "invalid UTF-8 in a string");
			return -1;
		}
		q += u;
	}
	if ((d = jv_alloc(p->doc, (size_t)(q - s) + 1)) == NULL) {
		jv_nomem(p);
		return -1;
	}
	if (!escaped) {
		memcpy(d, s, (size_t)(q - s));
		n = q - s;
	} else if ((n = jv_unescape(s, (size_t)(q - s), d)) == -1) {
		jv_fail(p, "invalid escape in a string");
		return -1;
	}
	d[n] = '\0';
	*out = (const char *)d;
	*outlen = (size_t)n;
	p->off = (size_t)(q - p->b) + 1;
	return 0;
}

static int
jv_digit(const struct jv_parser *p)
{
	return p->off < p->len && p->b[p->off] >= '0' && p->b[p->off] <= '9';
}

/*
 * 10^0 .. 10^22, every one exact in a double: a decimal of at most 15
 * significant digits times or over one of them is one correctly rounded
 * operation, the same double strtod() gives (Clinger's fast path).  Only
 * where a double is computed in double precision (not x87).
 */
#if FLT_EVAL_METHOD == 0
static const double jv_pow10[] = {
	1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22
};
#define JV_FAST_EXP	22
#else
#define JV_FAST_EXP	(-1)
#endif

static struct jv *
jv_number(struct jv_parser *p)
{
	struct jv	*v;
	size_t		 start = p->off, sig = 0;
	char		 buf[64], *s;
	int		 neg = 0, integer = 1, range, eneg = 0, d;
	uint64_t	 acc = 0;
	long		 exp10 = 0, e = 0;

	if (p->b[p->off] == '-') {
		neg = 1;
		p->off++;
	}
	if (!jv_digit(p))
		return jv_fail(p, "invalid number");
	/*
	 * The significant digits into ACC while they fit (a leading zero is
	 * not one), and the power of ten they are scaled by into EXP10.
	 */
	if (p->b[p->off] == '0')
		p->off++;
	else
		for (; jv_digit(p); p->off++)
			if (++sig <= 19)
				acc = acc * 10 + (p->b[p->off] - '0');
			else
				exp10++;
	if (p->off < p->len && p->b[p->off] == '.') {
		integer = 0;
		p->off++;
		if (!jv_digit(p))
			return jv_fail(p, "invalid number");
		for (; jv_digit(p); p->off++) {
			d = p->b[p->off] - '0';
			if (acc == 0 && d == 0)
				exp10--;
			else if (++sig <= 19) {
				acc = acc * 10 + d;
				exp10--;
			}
		}
	}
	if (p->off < p->len && (p->b[p->off] == 'e' || p->b[p->off] == 'E')) {
		integer = 0;
		p->off++;
		if (p->off < p->len && (p->b[p->off] == '+' ||
		    p->b[p->off] == '-'))
			eneg = p->b[p->off++] == '-';
		if (!jv_digit(p))
			return jv_fail(p, "invalid number");
		for (; jv_digit(p); p->off++)
			if (e < 100000)
				e = e * 10 + (p->b[p->off] - '0');
		exp10 += eneg ? -e : e;
	}
	if ((v = jv_new(p, JV_NUMBER)) == NULL)
		return NULL;
	v->integer = integer;
	/* Up to 15 digits a double holds exactly: no strtod. */
	if (integer && sig <= 15) {
		/* "-0" is integer 0, as jansson reads it. */
		v->num = neg && acc != 0 ? -(double)acc : (double)acc;
		return v;
	}
	if (!integer && sig <= 15 &&
	    (acc == 0 || (exp10 >= -JV_FAST_EXP && exp10 <= JV_FAST_EXP))) {
#if FLT_EVAL_METHOD == 0
		v->num = acc == 0 ? 0.0 : exp10 < 0 ?
		    (double)acc / jv_pow10[-exp10] :
		    (double)acc * jv_pow10[exp10];
		if (neg)
			v->num = -v->num;
		return v;
#endif
	}
	/* strto*() want a terminated string; a long one is copied aside. */
	s = p->off - start < sizeof(buf) ? buf : malloc(p->off - start + 1);
	if (s == NULL)
		return jv_nomem(p);
	memcpy(s, p->b + start, p->off - start);
	s[p->off - start] = '\0';
	errno = 0;
	/* As jansson: an integer must fit 64 bits, a real a double. */
	if (integer)
		v->num = (double)strtoll(s, NULL, 10);
	else
		v->num = strtod(s, NULL);
	range = errno == ERANGE && (integer || v->num > 1 || v->num < -1);
	if (s != buf)
		free(s);
	if (range)
		return jv_fail(p, "number out of range");
	return v;
}

static int
jv_literal(struct jv_parser *p, const char *word)
{
	size_t	n = strlen(word);

	if (p->len - p->off < n || memcmp(p->b + p->off, word, n) != 0)
		return -1;
	p->off += n;
	return 0;
}

/* Array elements handed to P's stream one by one, their memory reused. */
static int
jv_stream_elements(struct jv_parser *p)
{
	struct jv_mark	 m = jv_mark(p->doc);
	struct jv	*v;

	for (;;) {
		jv_ws(p);
		if ((v = jv_value(p)) == NULL)
			return -1;
		if (p->stream->each(v, p->stream->arg) == -1)
			return -1;
		jv_rollback(p->doc, m);
		jv_ws(p);
		if (p->off < p->len && p->b[p->off] == ']')
			return 0;
		if (p->off == p->len || p->b[p->off] != ',') {
			jv_fail(p, "expected ',' or ']'");
			return -1;
		}
		p->off++;
	}
}

/* An array or object; P's offset at its bracket. */
static struct jv *
jv_container(struct jv_parser *p, enum jv_type type)
{
	struct jv	*c, *v, **tail;
	const char	*key = NULL;
	size_t		 keylen = 0;
	char		 close = type == JV_ARRAY ? ']' : '}';

	if (++p->depth > JV_MAX_DEPTH)
		return jv_fail(p, "nested too deep");
	if ((c = jv_new(p, type)) == NULL)
		return NULL;
	tail = &c->child;
	p->off++;
	jv_ws(p);
	if (p->off < p->len && p->b[p->off] == close) {
		p->off++;
		p->depth--;
		return c;
	}
	for (;;) {
		jv_ws(p);
		if (type == JV_OBJECT) {
			if (p->off == p->len || p->b[p->off] != '"')
				return jv_fail(p, "expected a member name");
			if (jv_string(p, &key, &keylen) == -1)
				return NULL;
			jv_ws(p);
			if (p->off == p->len || p->b[p->off] != ':')
				return jv_fail(p, "expected ':'");
			p->off++;
			jv_ws(p);
			if (p->depth == 1 && p->stream != NULL &&
			    p->off < p->len && p->b[p->off] == '[' &&
			    strcmp(key, p->stream->key) == 0) {
				if ((v = jv_new(p, JV_ARRAY)) == NULL)
					return NULL;
				p->off++;
				jv_ws(p);
				if (p->off < p->len && p->b[p->off] == ']')
					p->off++;
				else if (jv_stream_elements(p) == -1)
					return NULL;
				else
					p->off++;
				goto member;
			}
		}
		if ((v = jv_value(p)) == NULL)
			return NULL;
 member:
		v->key = key;
		v->keylen = keylen;
		*tail = v;
		tail = &v->next;
		c->len++;
		jv_ws(p);
		if (p->off < p->len && p->b[p->off] == close)
			break;
		if (p->off == p->len || p->b[p->off] != ',')
			return jv_fail(p, type == JV_ARRAY ?
			    "expected ',' or ']'" : "expected ',' or '}'");
		p->off++;
	}
	p->off++;
	p->depth--;
	return c;
}

static struct jv *
jv_value(struct jv_parser *p)
{
	struct jv	*v;

	if (p->off == p->len)
		return jv_fail(p, "premature end of input");
	switch (p->b[p->off]) {
	case '{':
		return jv_container(p, JV_OBJECT);
	case '[':
		return jv_container(p, JV_ARRAY);
	case '"':
		if ((v = jv_new(p, JV_STRING)) == NULL ||
		    jv_string(p, &v->str, &v->len) == -1)
			return NULL;
		return v;
	case 't':
		if (jv_literal(p, "true") == -1)
			break;
		return jv_new(p, JV_TRUE);
	case 'f':
		if (jv_literal(p, "false") == -1)
			break;
		return jv_new(p, JV_FALSE);
	case 'n':
		if (jv_literal(p, "null") == -1)
			break;
		return jv_new(p, JV_NULL);
	default:
		if (p->b[p->off] == '-' ||
		    (p->b[p->off] >= '0' && p->b[p->off] <= '9'))
			return jv_number(p);
		break;
	}
	return jv_fail(p, "invalid token");
}

int
jv_parse(struct jv_doc *doc, const char *b, size_t len,
    const struct jv_stream *stream, const struct jv **root)
{
	struct jv_parser	 p = { doc, (const unsigned char *)b, len, 0,
				    stream, 0 };
	struct jv		*v;

	doc->error[0] = '\0';
	jv_ws(&p);
	if ((v = jv_value(&p)) == NULL)
		return -1;
	jv_ws(&p);
	if (p.off != len) {
		jv_fail(&p, "garbage after the value");
		return -1;
	}
	*root = v;
	return 0;
}

/*
 * One value at the start of B[0..LEN) (whitespace around it), which must
 * be followed there by a ',' or a ']': the value into *V and the offset of
 * that byte, or 0 on any failure, the text running out included.
 */
static size_t
jv_parse_element(struct jv_doc *doc, const char *b, size_t len,
    const struct jv **v)
{
	struct jv_parser	 p = { doc, (const unsigned char *)b, len, 0,
				    NULL, 0 };

	jv_ws(&p);
	if ((*v = jv_value(&p)) == NULL)
		return 0;
	jv_ws(&p);
	if (p.off == len || (b[p.off] != ',' && b[p.off] != ']'))
		return 0;
	return p.off;
}

/* ------------------------------------------------------------ split */

static int
jv_split_fail(struct jv_split *sp, const char *why)
{
	if (!sp->failed)
		snprintf(sp->error, sizeof(sp->error), "%s", why);
	sp->failed = 1;
	return -1;
}

static int
jv_split_put(struct jv_split *sp, int to_elem, const char *b, size_t n)
{
	char	**s = to_elem ? &sp->elem : &sp->rest, *ns;
	size_t	 *len = to_elem ? &sp->elem_len : &sp->rest_len;
	size_t	 *cap = to_elem ? &sp->elem_cap : &sp->rest_cap, nc;

	if (n == 0)
		return 0;
	if (*cap - *len < n) {
		for (nc = *cap ? *cap : 256; nc - *len < n; nc *= 2)
			if (nc > SIZE_MAX / 4)
				return jv_split_fail(sp, "out of memory");
		if ((ns = realloc(*s, nc)) == NULL)
			return jv_split_fail(sp, "out of memory");
		*s = ns;
		*cap = nc;
	}
	memcpy(*s + *len, b, n);
	*len += n;
	return 0;
}

static int
jv_split_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* REST's bytes not yet handed on, to SP's copy. */
static int
jv_split_copy_rest(struct jv_split *sp)
{
	if (sp->rest_len > sp->rest_copied &&
	    sp->copy(sp->rest + sp->rest_copied, sp->rest_len - sp->rest_copied,
	    sp->copy_arg) == -1)
		return jv_split_fail(sp, "");
	sp->rest_copied = sp->rest_len;
	return 0;
}

/*
 * The rest not yet handed on, judged before it is: the text so far with
 * the stream's array taken out, which at an element's handover stands
 * inside that array, a member of the top-level object.  Closed with "]}",
 * it must be a whole text; a text that is a start of no reply fails here,
 * before a byte of it reaches the copy.  Once per array: while its
 * elements come, the rest does not grow.
 */
static int
jv_split_judge_rest(struct jv_split *sp)
{
	/* In the element's memory, which is given back after: no chunk. */
	struct jv_mark	 m = jv_mark(&sp->elem_doc);
	const struct jv	*root;
	int		 rc = 0;

	if (jv_split_put(sp, 0, "]}", 2) == -1)
		return -1;
	if (jv_parse(&sp->elem_doc, sp->rest, sp->rest_len, NULL, &root) == -1)
		rc = jv_split_fail(sp, sp->elem_doc.error);
	sp->rest_len -= 2;
	jv_rollback(&sp->elem_doc, m);
	return rc;
}

/* Element V, its text B[0..N), to the stream, then to the copy. */
static int
jv_split_handover(struct jv_split *sp, const struct jv *v, const char *b,
    size_t n)
{
	if (sp->copy != NULL && sp->rest_len > sp->rest_copied &&
	    jv_split_judge_rest(sp) == -1)
		return -1;
	if (sp->stream->each(v, sp->stream->arg) == -1)
		return jv_split_fail(sp, "");
	if (sp->copy != NULL && (jv_split_copy_rest(sp) == -1 ||
	    (sp->comma && sp->copy(",", 1, sp->copy_arg) == -1) ||
	    sp->copy(b, n, sp->copy_arg) == -1))
		return jv_split_fail(sp, "");
	sp->elements++;
	jv_reset(&sp->elem_doc);
	return 0;
}

/*
 * The element that starts at B[0..LEN), parsed where it lies when it ends
 * there: the offset of the ',' or ']' after it, 0 when it does not end
 * there or is not well formed (the bytes are then split and judged as
 * they come, as if this had not been tried), -1 when it was refused by
 * the stream or the copy.  Most elements of a reply lie whole in a read:
 * neither split byte by byte nor copied aside, they are read once.
 */
static ssize_t
jv_split_direct(struct jv_split *sp, const char *b, size_t len)
{
	const struct jv	*v;
	size_t		 end;

	if ((end = jv_parse_element(&sp->elem_doc, b, len, &v)) == 0) {
		jv_reset(&sp->elem_doc);
		return 0;
	}
	if (jv_split_handover(sp, v, b, end) == -1)
		return -1;
	return (ssize_t)end;
}

/* The element held, at the ',' or ']' after it (CLOSING). */
static int
jv_split_element(struct jv_split *sp, int closing)
{
	const struct jv	*v;
	size_t		 i;

	for (i = 0; i < sp->elem_len && jv_split_ws(sp->elem[i]); i++)
		;
	if (i == sp->elem_len) {	/* "[]", not "[,", ",," or ",]" */
		if (!closing || sp->comma)
			return jv_split_fail(sp, "an empty element");
		/* "[ ]": the blanks are the rest's, before its ']'. */
		i = sp->elem_len;
		sp->elem_len = 0;
		return jv_split_put(sp, 0, sp->elem, i);
	}
	if (jv_parse(&sp->elem_doc, sp->elem, sp->elem_len, NULL, &v) == -1)
		return jv_split_fail(sp, sp->elem_doc.error);
	i = sp->elem_len;
	sp->elem_len = 0;
	return jv_split_handover(sp, v, sp->elem, i);
}

/* In a string, the bytes that end a run: a quote or a backslash. */
static const unsigned char jv_split_stop[256] = { ['"'] = 1, ['\\'] = 1 };
/* In the array, between strings: what changes the structure. */
static const unsigned char jv_split_mark[256] = {
	['"'] = 1, ['{'] = 1, ['}'] = 1, ['['] = 1, [']'] = 1, [','] = 1,
};

/* Whether the 8 bytes at Q hold no quote and no backslash. */
static inline int
jv_word_no_stop(const unsigned char *q)
{
	uint64_t	w;

	memcpy(&w, q, sizeof(w));
	return (jv_word_has(w, '"') | jv_word_has(w, '\\')) == 0;
}

int
jv_split_feed(struct jv_split *sp, const char *b, size_t len)
{
	const unsigned char	*u = (const unsigned char *)b;
	size_t			 i = 0, start = 0, keylen;
	ssize_t			 n;
	unsigned char		 c;

	/*
	 * B[start..i) is a run of bytes for one side, REST or the element,
	 * copied in one go when the side changes or a separator is left out.
	 */
#define JV_SPLIT_FLUSH(upto) do {					\
	if (jv_split_put(sp, sp->in_array, b + start, (upto) - start) == -1) \
		return -1;						\
	start = (upto);							\
} while (0)
	if (sp->failed)
		return -1;
	while (i < len) {
		if (sp->in_str) {
			if (sp->esc) {
				sp->esc = 0;
				i++;
				continue;
			}
			while (len - i >= 8 && jv_word_no_stop(u + i))
				i += 8;
			while (i < len && !jv_split_stop[u[i]])
				i++;
			if (i == len)
				break;
			if (u[i++] == '\\') {
				sp->esc = 1;
				continue;
			}
			sp->in_str = 0;
			/* Raw bytes: a name with escapes is not seen. */
			if (!sp->in_array && sp->depth == 1) {
				JV_SPLIT_FLUSH(i);
				keylen = strlen(sp->stream->key);
				sp->is_key = sp->rest_len - sp->key ==
				    keylen + 2 && memcmp(sp->rest + sp->key + 1,
				    sp->stream->key, keylen) == 0;
			}
			continue;
		}
		if (sp->in_array) {
			/* An element's start, with nothing of it held. */
			if (sp->at_start && sp->elem_len == 0) {
				sp->at_start = 0;
				if ((n = jv_split_direct(sp, b + i, len - i)) == -1)
					return -1;
				if (n > 0) {
					i += (size_t)n;
					c = u[i];
					start = i + 1;
					goto separator;
				}
			}
			while (i < len && !jv_split_mark[u[i]])
				i++;
			if (i == len)
				break;
			c = u[i];
			if (sp->depth == 2 && (c == ',' || c == ']')) {
				JV_SPLIT_FLUSH(i);
				start = i + 1;
				if (jv_split_element(sp, c == ']') == -1)
					return -1;
 separator:
				sp->comma = c == ',';
				sp->at_start = c == ',';
				if (c == ']') {
					sp->in_array = 0;
					sp->depth = 1;
					if (jv_split_put(sp, 0, "]", 1) == -1)
						return -1;
				}
			} else if (c == '"')
				sp->in_str = 1;
			else if (c == '{' || c == '[')
				sp->depth++;
			else if (c == '}' || c == ']')
				sp->depth--;
			i++;
			continue;
		}
		/* Outside the array: the small rest, a byte at a time. */
		c = u[i];
		if (sp->depth == 1 && c == '[' && sp->colon) {
			JV_SPLIT_FLUSH(i + 1);		/* the '[' too */
			sp->in_array = sp->at_start = 1;
			sp->comma = sp->colon = 0;
			sp->depth = 2;
			i++;
			continue;
		}
		if (sp->depth == 1 && !jv_split_ws((char)c))
			sp->colon = c == ':' && sp->is_key;
		if (c == '"') {
			sp->in_str = 1;
			if (sp->depth == 1) {
				JV_SPLIT_FLUSH(i);
				sp->key = sp->rest_len;
				sp->is_key = 0;
			}
		} else if (c == '{' || c == '[')
			sp->depth++;
		else if (c == '}' || c == ']')
			sp->depth--;
		i++;
	}
	JV_SPLIT_FLUSH(len);
#undef JV_SPLIT_FLUSH
	return 0;
}

int
jv_split_end(struct jv_split *sp, struct jv_doc *doc, const struct jv **root)
{
	doc->error[0] = '\0';
	if (sp->failed) {
		snprintf(doc->error, sizeof(doc->error), "%s", sp->error);
		return -1;
	}
	/* An element still open: the text ends inside the array. */
	if (sp->in_array) {
		snprintf(doc->error, sizeof(doc->error),
		    "premature end of input");
		return -1;
	}
	return jv_parse(doc, sp->rest != NULL ? sp->rest : "", sp->rest_len,
	    sp->stream, root);
}

int
jv_split_flush(struct jv_split *sp)
{
	return sp->copy != NULL ? jv_split_copy_rest(sp) : 0;
}

void
jv_split_free(struct jv_split *sp)
{
	free(sp->rest);
	free(sp->elem);
	jv_free(&sp->elem_doc);
	memset(sp, 0, sizeof(*sp));
}

