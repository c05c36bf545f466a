/*
 * fuzz_util.c: checks shared by the fuzz targets (see fuzz.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

/* Length of the printable UTF-8 character at P (N bytes left), or 0 for a
 * control character (C0, DEL, C1) or a malformed, overlong or surrogate
 * sequence: RFC 3629's table, written out independently of the parsers'. */
static size_t
utf8_len(const unsigned char *p, size_t n)
{
	size_t		 len, i;
	unsigned int	 cp;

	if (p[0] < 0x80)
		return (p[0] < 0x20 || p[0] == 0x7f) ? 0 : 1;
	if ((p[0] & 0xe0) == 0xc0) {
		len = 2;
		cp = p[0] & 0x1f;
	} else if ((p[0] & 0xf0) == 0xe0) {
		len = 3;
		cp = p[0] & 0x0f;
	} else if ((p[0] & 0xf8) == 0xf0) {
		len = 4;
		cp = p[0] & 0x07;
	} else
		return 0;
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
	    (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp < 0xa0))
		return 0;
	return len;
}

void
fuzz_check_text(const char *what, const char *s, size_t bufsz)
{
	size_t		 i, n;

	n = strnlen(s, bufsz);
	if (n == bufsz) {
		fprintf(stderr, "fuzz: %s is not NUL-terminated within %zu bytes\n",
		    what, bufsz);
		abort();
	}
	for (i = 0; i < n; ) {
		size_t	 len = utf8_len((const unsigned char *)s + i, n - i);

		if (len == 0) {
			fprintf(stderr, "fuzz: %s has a control character or "
			    "bad UTF-8 (0x%02x) at byte %zu\n", what,
			    (unsigned char)s[i], i);
			abort();
		}
		i += len;
	}
}
