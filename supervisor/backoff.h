/*
 * backoff: when to try a node again.
 *
 * Pure: the caller supplies the random number, so tests are exact.
 */
#ifndef TUNNELD_BACKOFF_H
#define TUNNELD_BACKOFF_H

#include <stdint.h>

struct backoff_params {
	uint64_t	initial;	/* ms */
	uint64_t	max;		/* ms */
	double		multiplier;
	double		jitter;		/* 0.2 = +-20 % */
};

/*
 * Delay in ms before attempt number ATTEMPT (1 = the first retry):
 * initial * multiplier^(attempt-1), capped at max, then spread by
 * +-jitter using RND in [0, 1).  Never below 1 ms, never above
 * max * (1 + jitter).
 */
uint64_t	backoff_delay(unsigned attempt, const struct backoff_params *,
		    double rnd);

#endif
