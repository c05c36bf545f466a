#include <string.h>

#include "text.h"
#include "utf8.h"

/* Length of the printable UTF-8 character at P (N bytes left), or 0. */
static size_t
utf8_seq(const unsigned char *p, size_t n)
{
	if (p[0] < 0x20 || p[0] == 0x7f)
		return 0;
	if (p[0] == 0xc2 && n >= 2 && p[1] >= 0x80 && p[1] < 0xa0)
		return 0;	/* C1 controls */
	return utf8_len(p, n);
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
