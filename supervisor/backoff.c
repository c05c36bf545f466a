#include <math.h>

#include "backoff.h"

uint64_t
backoff_delay(unsigned attempt, const struct backoff_params *p, double rnd)
{
	double	d, spread;

	if (attempt == 0)
		attempt = 1;
	if (rnd < 0.0 || rnd >= 1.0)
		rnd = 0.5;
	/* Computed in double and capped before it can overflow. */
	d = (double)p->initial;
	while (--attempt > 0 && d < (double)p->max)
		d *= p->multiplier > 1.0 ? p->multiplier : 1.0;
	if (d > (double)p->max)
		d = (double)p->max;
	spread = d * p->jitter * (2.0 * rnd - 1.0);
	d += spread;
	if (d < 1.0)
		d = 1.0;
	return (uint64_t)llround(d);
}
