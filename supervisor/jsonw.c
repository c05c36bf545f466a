/*
 * jsonw.c: compact JSON written straight into a buffer (jsonw.h).
 *
 * Byte for byte what jansson 2.14's json_dumpb() writes for the same
 * values (dump.c, strconv.c), so that a reply written here reads the same
 * as one built as a tree: the same escapes (\uXXXX in upper case), the same
 * reals.  One difference, on purpose: jansson refuses a string that is not
 * valid UTF-8 (json_string() returns NULL, and the member or the whole
 * object it was packed into is lost); here each byte that does not start a
 * valid sequence is written as U+FFFD, so the value is still shown and the
 * text is still valid JSON.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonw.h"
#include "utf8.h"

/* "-9223372036854775808" */
#define JSONW_INT_MAX_LEN	20
/* jansson's MAX_REAL_STR_LENGTH; "%.17g" needs at most 24 and ".0" */
#define JSONW_REAL_MAX_LEN	32

void
jsonw_init(struct jsonw *w, char *buf, size_t size, int precision)
{
	memset(w, 0, sizeof(*w));
	w->buf = w->fixed = buf;
	w->size = w->fixed_size = buf != NULL ? size : 0;
	/* jansson's range: 5 bits, 0 meaning its default of 17. */
	w->precision = precision <= 0 || precision > 31 ? 17 : precision;
}

void
jsonw_reset(struct jsonw *w)
{
	w->len = 0;
	w->err = 0;
	w->depth = 0;
	w->kind[0] = 0;
	w->more[0] = 0;
}

void
jsonw_free(struct jsonw *w)
{
	if (w->buf != w->fixed)
		free(w->buf);
	w->buf = w->fixed;
	w->size = w->fixed_size;
	w->len = 0;
}

int
jsonw_done(const struct jsonw *w)
{
	return w->err != 0 || w->depth != 0 ? -1 : 0;
}

static int
jsonw_fail(struct jsonw *w)
{
	w->err = -1;
	return -1;
}

/*
 * Room for N more bytes.  Growth doubles, so a large value costs a few
 * copies, not one per token; the caller's buffer is copied out once.
 */
static int
jsonw_grow(struct jsonw *w, size_t n)
{
	size_t	 size;
	char	*p;

	if (w->err)
		return -1;
	if (n > SIZE_MAX / 2 - w->len)
		return jsonw_fail(w);
	size = w->size > 0 ? w->size : 256;
	while (size < w->len + n)
		size *= 2;
	if (w->buf == w->fixed) {
		if ((p = malloc(size)) == NULL)
			return jsonw_fail(w);
		if (w->len > 0)
			memcpy(p, w->buf, w->len);
	} else if ((p = realloc(w->buf, size)) == NULL)
		return jsonw_fail(w);
	w->buf = p;
	w->size = size;
	return 0;
}

static inline int
jsonw_put(struct jsonw *w, const char *s, size_t n)
{
	if (w->size - w->len < n && jsonw_grow(w, n) == -1)
		return -1;
	memcpy(w->buf + w->len, s, n);
	w->len += n;
	return 0;
}

static inline int
jsonw_putc(struct jsonw *w, char c)
{
	if (w->len == w->size && jsonw_grow(w, 1) == -1)
		return -1;
	w->buf[w->len++] = c;
	return 0;
}

/* What jsonw_string() does with each byte: most are copied as they are. */
enum { JW_PLAIN, JW_ESC, JW_HIGH, JW_END };
static const unsigned char jsonw_class[256] = {
	[0] = JW_END,
	[0x01 ... 0x1F] = JW_ESC,
	['"'] = JW_ESC,
	['\\'] = JW_ESC,
	[0x80 ... 0xFF] = JW_HIGH,
};

/*
 * The control character, quote or backslash C as jansson escapes it:
 * the short forms, else \u00XX in upper case.
 */
static int
jsonw_escape(struct jsonw *w, unsigned char c)
{
	static const char	 hex[] = "0123456789ABCDEF";
	char			 esc[6] = { '\\', 'u', '0', '0' };
	size_t			 n = 2;

	switch (c) {
	case '"':
	case '\\':
		esc[1] = (char)c;
		break;
	case '\b':
		esc[1] = 'b';
		break;
	case '\f':
		esc[1] = 'f';
		break;
	case '\n':
		esc[1] = 'n';
		break;
	case '\r':
		esc[1] = 'r';
		break;
	case '\t':
		esc[1] = 't';
		break;
	default:
		esc[4] = hex[c >> 4];
		esc[5] = hex[c & 0xF];
		n = 6;
		break;
	}
	return jsonw_put(w, esc, n);
}

/*
 * STR quoted, escaped as jansson does (no ASCII-only, no \/).  One pass
 * over STR, copying while it checks: no strlen() first, most strings
 * (and every key) are short and need no escape at all.
 */
static int
jsonw_string(struct jsonw *w, const char *str)
{
	const unsigned char	*s = (const unsigned char *)str;
	char			*p, *end;
	size_t			 u;

	if (jsonw_putc(w, '"') == -1)
		return -1;
	for (;;) {
		p = w->buf + w->len;
		end = w->buf + w->size;
		while (p < end && jsonw_class[*s] == JW_PLAIN)
			*p++ = (char)*s++;
		w->len = (size_t)(p - w->buf);
		if (p == end) {
			/* Full: room for the rest, or a good part of it. */
			if (jsonw_grow(w, 64) == -1)
				return -1;
			continue;
		}
		switch (jsonw_class[*s]) {
		case JW_END:
			return jsonw_putc(w, '"');
		case JW_ESC:
			if (jsonw_escape(w, *s++) == -1)
				return -1;
			break;
		default:
			/*
			 * A sequence ends at the first byte that is not a
			 * continuation, so the check never reads past the
			 * NUL.
			 */
			if ((u = utf8_len(s, 4)) > 0) {
				if (jsonw_put(w, (const char *)s, u) == -1)
					return -1;
				s += u;
			} else {
				/* Not UTF-8: U+FFFD for this one byte. */
				if (jsonw_put(w, "\xEF\xBF\xBD", 3) == -1)
					return -1;
				s++;
			}
			break;
		}
	}
}

/*
 * Before each value: the comma after an earlier one, then the key, which
 * an object needs and nothing else may have.
 */
static int
jsonw_pre(struct jsonw *w, const char *key)
{
	int	d = w->depth;

	if (w->err)
		return -1;
	if ((w->kind[d] == '{') != (key != NULL))
		return jsonw_fail(w);
	if (w->more[d] && d > 0 && jsonw_putc(w, ',') == -1)
		return -1;
	w->more[d] = 1;
	if (key != NULL && (jsonw_string(w, key) == -1 ||
	    jsonw_putc(w, ':') == -1))
		return -1;
	return 0;
}

static int
jsonw_open(struct jsonw *w, const char *key, char kind)
{
	if (jsonw_pre(w, key) == -1)
		return -1;
	if (w->depth == JSONW_DEPTH_MAX)
		return jsonw_fail(w);
	if (jsonw_putc(w, kind) == -1)
		return -1;
	w->depth++;
	w->kind[w->depth] = (unsigned char)kind;
	w->more[w->depth] = 0;
	return 0;
}

static int
jsonw_close(struct jsonw *w, char kind)
{
	if (w->err)
		return -1;
	if (w->depth == 0 || w->kind[w->depth] != (unsigned char)kind)
		return jsonw_fail(w);
	w->depth--;
	return jsonw_putc(w, kind == '{' ? '}' : ']');
}

int
jsonw_obj_open(struct jsonw *w, const char *key)
{
	return jsonw_open(w, key, '{');
}

int
jsonw_obj_close(struct jsonw *w)
{
	return jsonw_close(w, '{');
}

int
jsonw_arr_open(struct jsonw *w, const char *key)
{
	return jsonw_open(w, key, '[');
}

int
jsonw_arr_close(struct jsonw *w)
{
	return jsonw_close(w, '[');
}

int
jsonw_key_str(struct jsonw *w, const char *key, const char *s)
{
	if (jsonw_pre(w, key) == -1)
		return -1;
	if (s == NULL)
		return jsonw_put(w, "null", 4);
	return jsonw_string(w, s);
}

/* Digits of U ending at END, written backwards; returns the first. */
static char *
jsonw_fmt_u64(char *end, uint64_t u)
{
	do {
		*--end = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	return end;
}

int
jsonw_key_int(struct jsonw *w, const char *key, int64_t v)
{
	char	 buf[JSONW_INT_MAX_LEN + 1], *p;

	if (jsonw_pre(w, key) == -1)
		return -1;
	/* The magnitude in unsigned: INT64_MIN has no positive twin. */
	p = jsonw_fmt_u64(buf + sizeof(buf), v < 0 ? (uint64_t)0 - (uint64_t)v :
	    (uint64_t)v);
	if (v < 0)
		*--p = '-';
	return jsonw_put(w, p, (size_t)(buf + sizeof(buf) - p));
}

static const double jsonw_pow10[] = {
	1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9
};

/*
 * V with few decimals (a latency to 0.1 ms, seconds from milliseconds,
 * watts to 0.01) written without printf, which is most of the cost of a
 * real otherwise.  Taken only where it gives printf's "%.*g" exactly:
 * V is the double nearest M / 10^K for an integer M of at most PRECISION
 * (<= 15, DBL_DIG) digits, so rounding V to PRECISION digits gives that
 * decimal back; and 1e-4 <= |V| < 10^PRECISION, where %g writes no
 * exponent.  Returns the length, 0 when V is not such a value.
 */
static size_t
jsonw_real_short(char *buf, double v, int precision)
{
	char		 digits[JSONW_INT_MAX_LEN + 1], *d, *end, *p = buf;
	double		 a = fabs(v), x;
	int64_t		 m;
	size_t		 k, n;

	if (precision > 15 || a < 1e-4 || a >= 1e15)
		return 0;
	for (k = 0; k < sizeof(jsonw_pow10) / sizeof(jsonw_pow10[0]); k++) {
		x = nearbyint(a * jsonw_pow10[k]);
		if (x >= 1e15)
			return 0;
		m = (int64_t)x;
		if ((double)m / jsonw_pow10[k] == a)
			break;
	}
	if (k == sizeof(jsonw_pow10) / sizeof(jsonw_pow10[0]))
		return 0;
	end = digits + sizeof(digits);
	d = jsonw_fmt_u64(end, (uint64_t)m);
	n = (size_t)(end - d);
	if (n > (size_t)precision)
		return 0;
	if (v < 0)
		*p++ = '-';
	if (k == 0) {
		/* A whole number: %g has no '.', jansson adds ".0". */
		memcpy(p, d, n);
		p += n;
		*p++ = '.';
		*p++ = '0';
		return (size_t)(p - buf);
	}
	if (n <= k) {
		*p++ = '0';
		*p++ = '.';
		memset(p, '0', k - n);
		p += k - n;
		memcpy(p, d, n);
		p += n;
	} else {
		memcpy(p, d, n - k);
		p += n - k;
		*p++ = '.';
		memcpy(p, d + n - k, k);
		p += k;
	}
	/*
	 * %g strips trailing zeros (the smallest K leaves none, this is
	 * for safety), and jansson puts ".0" back on a whole number.
	 */
	while (p[-1] == '0')
		p--;
	if (p[-1] == '.')
		*p++ = '0';
	return (size_t)(p - buf);
}

/*
 * jansson's jsonp_dtostr(): "%.*g", a ".0" when that looks like an
 * integer, no '+' and no leading zeros in the exponent ("1e300",
 * "1e-07" -> "1e-7").  The C locale's '.' is assumed: tunneld never calls
 * setlocale() for LC_NUMERIC.
 */
static size_t
jsonw_real_fmt(char *buf, size_t size, double v, int precision)
{
	char	*e, *start, *end;
	size_t	 len;
	int	 ret;

	if (v == 0) {
		/* "%g" of 0 and -0. */
		if (signbit(v)) {
			memcpy(buf, "-0.0", 4);
			return 4;
		}
		memcpy(buf, "0.0", 3);
		return 3;
	}
	if ((len = jsonw_real_short(buf, v, precision)) > 0)
		return len;
	ret = snprintf(buf, size, "%.*g", precision, v);
	if (ret < 0 || (size_t)ret + 3 > size)
		return 0;
	len = (size_t)ret;
	if (strchr(buf, '.') == NULL && strchr(buf, 'e') == NULL) {
		buf[len++] = '.';
		buf[len++] = '0';
		buf[len] = '\0';
	}
	if ((e = strchr(buf, 'e')) != NULL) {
		start = e + 1;
		end = start + 1;
		if (*start == '-')
			start++;
		while (*end == '0')
			end++;
		if (end != start) {
			memmove(start, end, len - (size_t)(end - buf) + 1);
			len -= (size_t)(end - start);
		}
	}
	return len;
}

int
jsonw_key_real(struct jsonw *w, const char *key, double v)
{
	char	 buf[JSONW_REAL_MAX_LEN];
	size_t	 len;

	if (jsonw_pre(w, key) == -1)
		return -1;
	if (!isfinite(v))
		return jsonw_put(w, "null", 4);
	if ((len = jsonw_real_fmt(buf, sizeof(buf), v, w->precision)) == 0)
		return jsonw_fail(w);
	return jsonw_put(w, buf, len);
}

int
jsonw_key_bool(struct jsonw *w, const char *key, int v)
{
	if (jsonw_pre(w, key) == -1)
		return -1;
	return v ? jsonw_put(w, "true", 4) : jsonw_put(w, "false", 5);
}

int
jsonw_key_null(struct jsonw *w, const char *key)
{
	if (jsonw_pre(w, key) == -1)
		return -1;
	return jsonw_put(w, "null", 4);
}

int
jsonw_raw(struct jsonw *w, const char *s, size_t len)
{
	if (w->err)
		return -1;
	if (w->depth != 0)
		return jsonw_fail(w);
	return jsonw_put(w, s, len);
}
