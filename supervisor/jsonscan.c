/*
 * jsonscan.c: one JSON value at a time (jsonscan.h).
 */
#include <jansson.h>

#include "jsonscan.h"

size_t
jsonscan_ws(const char *b, size_t len, size_t off)
{
	while (off < len && (b[off] == ' ' || b[off] == '\t' ||
	    b[off] == '\r' || b[off] == '\n'))
		off++;
	return off;
}

int
jsonscan_value(const char *b, size_t len, size_t off, int complete,
    size_t flags, json_t **out, size_t *end)
{
	json_error_t	 err;
	json_t		*v;

	v = json_loadb(b + off, len - off, flags | JSON_DECODE_ANY |
	    JSON_DISABLE_EOF_CHECK, &err);
	if (v == NULL) {
		/*
		 * A value cut by the end of the prefix: jansson says
		 * premature end, or stops on a token (a literal, a UTF-8
		 * sequence) cut within its last few bytes.
		 */
		if (!complete && (json_error_code(&err) ==
		    json_error_premature_end_of_input ||
		    off + (size_t)err.position + 4 >= len))
			return 0;
		return -1;
	}
	*end = off + (size_t)err.position;
	/* A number (or literal) may go on past the prefix: "12" of "123". */
	if (!complete && *end >= len && !json_is_object(v) &&
	    !json_is_array(v) && !json_is_string(v)) {
		json_decref(v);
		return 0;
	}
	*out = v;
	return 1;
}
