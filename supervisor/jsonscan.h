/*
 * jsonscan: one JSON value at a time out of a longer text, for the HTTP
 * pool, which reads a request body only up to its "model" (pool_http.c).
 * (tunnelctl reads its status replies, node by node, with jv.h.)
 */
#ifndef TUNNELD_JSONSCAN_H
#define TUNNELD_JSONSCAN_H

#include <stddef.h>

#include <jansson.h>

/* OFF moved past JSON whitespace in B[0..LEN). */
size_t	jsonscan_ws(const char *b, size_t len, size_t off);
/*
 * The value at B[OFF..LEN) into *OUT (a new reference), its end into
 * *END, read by jansson with FLAGS (json_loadb's).  COMPLETE 0: B is a
 * prefix of a text still arriving.  Returns 1, 0 when the prefix ends
 * inside the value, -1 when it is invalid.
 */
int	jsonscan_value(const char *b, size_t len, size_t off, int complete,
	    size_t flags, json_t **out, size_t *end);

#endif
