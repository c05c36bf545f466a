/*
 * utf8.h: the one UTF-8 rule of the daemon, tunnelctl and the probes.
 */
#ifndef TUNNELD_UTF8_H
#define TUNNELD_UTF8_H

#include <stddef.h>

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

#endif
