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

/* Why a node has no session now. */
struct backoff_event {
	int		tcp_level;	/* TCP connect refused/unreachable/no answer */
	int		was_up;		/* an established session was lost */
	uint64_t	lived_ms;	/* ... after this long */
};

/*
 * The delay before the next attempt, updating *ATTEMPT (failures since the
 * last stable session):
 * - a session that lived stable_after resets the count;
 * - a refused TCP connect costs the server nothing: retry_refused, always;
 * - a lost session that lived at least `initial`: at once (the server is
 *   probably back, or its TCP connect will say it is not);
 * - anything else (handshake, host key, auth failures, a session that died
 *   at birth) backs off exponentially: each costs the server a log line.
 */
uint64_t	backoff_next(const struct backoff_params *, uint64_t retry_refused,
		    uint64_t stable_after, const struct backoff_event *,
		    unsigned *attempt, double rnd);

#endif
