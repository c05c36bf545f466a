/*
 * jsonw: compact JSON written straight into a buffer, for output too large
 * or too frequent to build as a jansson tree first (status.c: a status of
 * every node, where allocating and freeing a tree per node cost more than
 * the reply is worth).  The text is what json_dumpb() would write for the
 * same values with JSON_COMPACT | JSON_REAL_PRECISION(precision): no
 * spaces, keys in the order written, reals in jansson's format.
 *
 * The writer keeps the commas and the nesting itself; a misuse (a key
 * inside an array, none inside an object, a close that does not match,
 * nesting deeper than JSONW_DEPTH_MAX) is an error like running out of
 * memory.  The first error is latched: every later call does nothing and
 * returns -1, so a caller writes a whole value and checks jsonw_done()
 * once at the end.
 *
 *	char		 buf[4096];
 *	struct jsonw	 w;
 *
 *	jsonw_init(&w, buf, sizeof(buf), 15);
 *	jsonw_obj_open(&w, NULL);
 *	jsonw_key_str(&w, "name", name);
 *	jsonw_key_int(&w, "count", n);
 *	jsonw_obj_close(&w);
 *	if (jsonw_done(&w) == 0)
 *		use(w.buf, w.len);
 *	jsonw_free(&w);
 */
#ifndef TUNNELD_JSONW_H
#define TUNNELD_JSONW_H

#include <stddef.h>
#include <stdint.h>

/* A node's status nests 3 deep; room for more, never unbounded. */
#define JSONW_DEPTH_MAX		16

struct jsonw {
	char		*buf;		/* the text so far, not NUL-terminated */
	size_t		 len;
	size_t		 size;
	char		*fixed;		/* the caller's buffer: never freed */
	size_t		 fixed_size;
	int		 precision;	/* of reals, 1..17 */
	int		 err;		/* -1: latched, nothing more written */
	int		 depth;		/* containers open */
	/* Per level (0: the top, outside any container): '{', '[' or 0,
	   and whether a value was written there (a comma goes first). */
	unsigned char	 kind[JSONW_DEPTH_MAX + 1];
	unsigned char	 more[JSONW_DEPTH_MAX + 1];
};

/*
 * Writes start in BUF (SIZE bytes, the caller's: usually on its stack) and
 * move to the heap when they outgrow it.  PRECISION: significant digits of
 * reals, as JSON_REAL_PRECISION(); 0 is jansson's default, 17.
 */
void	jsonw_init(struct jsonw *, char *buf, size_t size, int precision);
/* Empty again for the next value; a heap buffer is kept for reuse. */
void	jsonw_reset(struct jsonw *);
void	jsonw_free(struct jsonw *);
/* 0 when no error was latched and every container is closed, else -1. */
int	jsonw_done(const struct jsonw *);

/*
 * Each writes one value; KEY is its member name inside an object and must
 * be NULL inside an array or at the top.  Each returns 0, or -1 (latched).
 */
int	jsonw_obj_open(struct jsonw *, const char *key);
int	jsonw_obj_close(struct jsonw *);
int	jsonw_arr_open(struct jsonw *, const char *key);
int	jsonw_arr_close(struct jsonw *);
/* S NULL writes null. */
int	jsonw_key_str(struct jsonw *, const char *key, const char *s);
int	jsonw_key_int(struct jsonw *, const char *key, int64_t v);
/* A non-finite V writes null: JSON has no NaN nor infinity. */
int	jsonw_key_real(struct jsonw *, const char *key, double v);
int	jsonw_key_bool(struct jsonw *, const char *key, int v);
int	jsonw_key_null(struct jsonw *, const char *key);
/*
 * LEN bytes of S as they are, at the top only: what the caller frames its
 * values with (the comma between the nodes of a list it writes in pieces).
 */
int	jsonw_raw(struct jsonw *, const char *s, size_t len);

#endif
