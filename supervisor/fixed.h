/*
 * fixed.h: a figure as printf's "%.0f" or "%.1f" writes it, without printf,
 * for tunnelctl's table (vfprintf's floating point was 7% of a 1,000-node
 * table); check_core holds it to snprintf.
 */
#ifndef TUNNELD_FIXED_H
#define TUNNELD_FIXED_H

#include <math.h>		/* signbit(), a macro: no -lm */
#include <stddef.h>
#include <string.h>

/*
 * V with DECIMALS (0 or 1) digits after the point into BUF (at least
 * FIXED_MAX bytes, NUL-terminated); its length, or 0 where printf must
 * answer.  printf rounds V's exact binary value, halfway cases to even.
 * Here V * 10 is rounded once more, so a V that near halfway, like a
 * negative, huge or not finite one, is left to printf.
 */
#define FIXED_MAX	16

static inline size_t
fixed_fmt(char *buf, double v, int decimals)
{
	double			 s = decimals ? v * 10 : v, frac;
	unsigned long long	 n;
	char			 d[FIXED_MAX], *p = d + sizeof(d);
	size_t			 len;

	if (!(s >= 0 && s < 1e9) || signbit(v))	/* -0.0 is "-0" */
		return 0;
	n = (unsigned long long)s;	/* s >= 0: truncation is floor */
	frac = s - (double)n;
	if (frac - 0.5 < 1e-6 && 0.5 - frac < 1e-6)
		return 0;
	n += frac > 0.5;
	if (decimals) {
		*--p = (char)('0' + n % 10);
		*--p = '.';
		n /= 10;
	}
	do
		*--p = (char)('0' + n % 10);
	while ((n /= 10) > 0);
	len = (size_t)(d + sizeof(d) - p);
	memcpy(buf, p, len);
	buf[len] = '\0';
	return len;
}

#endif
