#include <string.h>

#include "text.h"

/* Length of the printable UTF-8 character at P (N bytes left), or 0. */
static size_t
utf8_seq(const unsigned char *p, size_t n)
{
	unsigned char	lo = 0x80, hi = 0xbf;
	size_t		len, i;

	if (p[0] < 0x80)
		return p[0] < 0x20 || p[0] == 0x7f ? 0 : 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3;
		if (p[0] == 0xe0)
			lo = 0xa0;
		else if (p[0] == 0xed)
			hi = 0x9f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
		if (p[0] == 0xf0)
			lo = 0x90;
		else if (p[0] == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	if (n < len || p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	if (len == 2 && p[0] == 0xc2 && p[1] < 0xa0)	/* C1 controls */
		return 0;
	return len;
}

/*
 * Append SRC[0..N) to the NUL-terminated DST of DSTSZ bytes, sanitised
 * (tab -> ' ', other controls and bad bytes -> '?').  Returns 1 when SRC was
 * copied exactly (all of it fitted, nothing replaced).
 */
int
text_append(char *dst, size_t dstsz, const char *src, size_t n)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t		 o = strlen(dst), i = 0, k;
	int		 exact = 1;

	while (i < n) {
		k = utf8_seq(s + i, n - i);
		if (o + (k ? k : 1) >= dstsz)
			break;
		if (k == 0) {
			dst[o++] = s[i] == '\t' ? ' ' : '?';
			exact = 0;
			i++;
		} else {
			memcpy(dst + o, s + i, k);
			o += k;
			i += k;
		}
	}
	dst[o] = '\0';
	return exact && i == n;
}

int
text_copy(char *dst, size_t dstsz, const char *src, size_t n)
{
	dst[0] = '\0';
	return text_append(dst, dstsz, src, n);
}
