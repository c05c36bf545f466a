/*
 * text: what a probe reports of a tool's or a server's words, made safe to
 * log, to show in a terminal and to put in JSON.
 */
#ifndef TUNNELD_TEXT_H
#define TUNNELD_TEXT_H

#include <stddef.h>

/*
 * Append SRC[0..N) to the NUL-terminated DST of DSTSZ bytes: valid printable
 * UTF-8 is kept, a tab becomes a space, any other control character (C0 or
 * C1) or invalid byte becomes '?'.  Stops at a character boundary when full.
 * Returns 1 when SRC was copied exactly (all of it fitted, nothing replaced).
 */
int	text_append(char *dst, size_t dstsz, const char *src, size_t n);
/* The same into an emptied DST. */
int	text_copy(char *dst, size_t dstsz, const char *src, size_t n);

#endif
