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

uint64_t
backoff_next(const struct backoff_params *p, uint64_t retry_refused,
    uint64_t stable_after, const struct backoff_event *ev, unsigned *attempt,
    double rnd)
{
	if (ev->was_up && ev->lived_ms >= stable_after)
		*attempt = 0;
	if (ev->tcp_level)
		return retry_refused;
	if (ev->was_up && ev->lived_ms >= p->initial) {
		/* Later failures of this series still back off from here. */
		if (*attempt == 0)
			*attempt = 1;
		return 0;
	}
	return backoff_delay(++*attempt, p, rnd);
}
