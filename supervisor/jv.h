/*
 * jv: a JSON text read in one pass into a tree of plain structs that live
 * in an arena, for tunnelctl.  A 1,000-node summary is about 300 kB; read
 * through jansson, node by node, it took 70% of `tunnelctl status` (about
 * 200 instructions a byte: a lexer that takes a character at a time, a
 * hash table and a malloc for every object, member and string).  Here a
 * value is one bump allocation, an object's members a list searched in
 * order (a node has about twenty), and the nodes of a status reply can be
 * handed over one at a time, their memory reused for the next (jv_stream).
 *
 * What is accepted is RFC 8259 JSON, as jansson takes it: UTF-8 only
 * (\u escapes included; no NUL), nesting at most JV_MAX_DEPTH deep.
 */
#ifndef TUNNELD_JV_H
#define TUNNELD_JV_H

#include <stddef.h>

#define JV_MAX_DEPTH	64

enum jv_type {
	JV_NULL, JV_FALSE, JV_TRUE, JV_NUMBER, JV_STRING, JV_ARRAY, JV_OBJECT
};

struct jv {
	enum jv_type	 type;
	int		 integer;	/* JV_NUMBER written without . or e */
	const char	*key;		/* a member's name, NUL-terminated */
	size_t		 keylen;	/* strlen(key), for jv_member() */
	const char	*str;		/* JV_STRING, NUL-terminated */
	size_t		 len;		/* string bytes; container members */
	double		 num;		/* JV_NUMBER */
	struct jv	*child;		/* a container's first member */
	struct jv	*next;		/* the next member of its container */
};

struct jv_chunk;

/* Where a text's values live; zeroed to start, jv_free()d to end. */
struct jv_doc {
	struct jv_chunk	*first, *cur;
	char		 error[128];	/* why jv_parse() failed, and where */
};

/*
 * Elements of the top-level object's array member KEY, each handed to
 * EACH as it is read, then forgotten: the tree keeps KEY as an empty
 * array.  -1 from EACH stops the parse (jv_parse() fails, error "").
 */
struct jv_stream {
	const char	*key;
	int		(*each)(const struct jv *, void *);
	void		*arg;
};

/*
 * The JSON value that is all of B[0..LEN) (whitespace around it allowed)
 * into *ROOT, its memory in DOC; STREAM NULL or as above.  0, or -1 with
 * DOC->error set (an allocation failure says "out of memory").
 */
int		 jv_parse(struct jv_doc *doc, const char *b, size_t len,
		    const struct jv_stream *stream, const struct jv **root);
void		 jv_free(struct jv_doc *doc);
/* Forget DOC's values, keeping its memory for the next jv_parse(). */
void		 jv_reset(struct jv_doc *doc);

/*
 * The same text read a piece at a time, for a reply too large to hold
 * whole (a 1,000-node status is 280 kB, and on a VM every page of it is a
 * fault that costs tens of microseconds): jv_split_feed() the pieces in
 * order; each element of STREAM's array is parsed and handed over as soon
 * as it is complete, and the rest of the text is kept, with that array
 * empty, for jv_split_end() to parse as jv_parse() would (elements of an
 * array whose name is written with escapes are handed over then).  Only
 * the lexical structure is followed while feeding; every piece is judged
 * by jv_parse(), so a text is accepted as the whole of it would be, but
 * for depth: an element is allowed JV_MAX_DEPTH levels of its own.
 * Memory: the rest of the text, the largest element and its tree.
 * Zeroed to start; jv_split_free() to end, whatever happened.
 *
 * With COPY, the text is handed on unchanged, in order, in parts: each
 * element once judged, after the text before it (judged as the start of
 * a text: closed where it stands, it parses); the rest by jv_split_flush(),
 * which the caller calls once jv_split_end() accepted the whole and the
 * caller the value.  A text refused part way has had its accepted
 * elements handed on and nothing after them; one refused before its
 * first element, nothing.  -1 from COPY stops the feed (error "").
 */
struct jv_split {
	const struct jv_stream	*stream;
	int			(*copy)(const char *, size_t, void *);
	void			*copy_arg;
	size_t			 rest_copied;	/* REST's bytes handed on */
	struct jv_doc		 elem_doc;
	char			*rest, *elem;
	size_t			 rest_len, rest_cap, elem_len, elem_cap;
	size_t			 key;		/* where the last name began */
	size_t			 elements;	/* handed over so far */
	int			 depth;
	unsigned		 in_str:1, esc:1, is_key:1, colon:1;
	unsigned		 in_array:1, comma:1, failed:1, at_start:1;
	char			 error[128];
};

int		 jv_split_feed(struct jv_split *sp, const char *b, size_t len);
int		 jv_split_end(struct jv_split *sp, struct jv_doc *doc,
		    const struct jv **root);
/* What COPY has not been handed yet, after jv_split_end(): 0, or -1. */
int		 jv_split_flush(struct jv_split *sp);
void		 jv_split_free(struct jv_split *sp);

/*
 * Member KEY of object O (the last, should the name repeat); NULL when O
 * is no object or has no such member.
 */
const struct jv	*jv_member(const struct jv *o, const char *key);

#define JV_FOREACH(v, container)					\
	for ((v) = (container) != NULL ? (container)->child : NULL;	\
	    (v) != NULL; (v) = (v)->next)

#endif
