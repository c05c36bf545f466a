/*
 * utf8.h: the one UTF-8 rule of the daemon, tunnelctl and the probes.
 */
#ifndef TUNNELD_UTF8_H
#define TUNNELD_UTF8_H

#include <stddef.h>
#include <string.h>

/*
 * The length of the well-formed UTF-8 sequence at S (N bytes there), 1 for
 * any ASCII byte, or 0: a continuation byte first, an overlong form, a
 * surrogate, past U+10FFFF, or cut short.  Each byte is looked at only if
 * the ones before it were continuations, so on a NUL-terminated string N
 * may be 4 whatever is left.
 */
static inline size_t
utf8_len(const unsigned char *s, size_t n)
{
	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		return n >= 2 && (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (s[0] >= 0xe0 && s[0] <= 0xef) {
		if (n < 3 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 ||
		    (s[0] == 0xe0 && s[1] < 0xa0) ||	/* overlong */
		    (s[0] == 0xed && s[1] >= 0xa0))	/* a surrogate */
			return 0;
		return 3;
	}
	if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		if (n < 4 || (s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 ||
		    (s[3] & 0xc0) != 0x80 ||
		    (s[0] == 0xf0 && s[1] < 0x90) ||	/* overlong */
		    (s[0] == 0xf4 && s[1] >= 0x90))	/* past U+10FFFF */
			return 0;
		return 4;
	}
	return 0;
}

/*
 * S as UTF-8 into BUF (SIZE > 0 bytes, NUL-terminated, cut on a sequence
 * boundary): each byte that starts no well-formed sequence becomes
 * U+FFFD, as jsonw writes one.  For text that must go into JSON whole
 * (jansson refuses a string that is not UTF-8).  Returns BUF.
 */
static inline const char *
utf8_clean(const char *s, char *buf, size_t size)
{
	const unsigned char	*p = (const unsigned char *)s;
	const char		*put;
	size_t			 len = 0, u, n;

	for (; *p != '\0'; p += u != 0 ? u : 1) {
		if ((u = utf8_len(p, 4)) == 0) {
			put = "\xEF\xBF\xBD";
			n = 3;
		} else {
			put = (const char *)p;
			n = u;
		}
		if (size - len <= n)
			break;
		memcpy(buf + len, put, n);
		len += n;
	}
	buf[len] = '\0';
	return buf;
}

#endif
