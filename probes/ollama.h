/*
 * ollama: parsers for Ollama's HTTP API answers (/api/version, /api/tags,
 * /api/ps) and the error object.  Pure functions of bytes, using jansson.
 */
#ifndef TUNNELD_OLLAMA_H
#define TUNNELD_OLLAMA_H

#include <stddef.h>
#include <stdint.h>

#define OLLAMA_BODY_MAX		(1024 * 1024)	/* larger answers are refused */
#define OLLAMA_MODELS_MAX	256
#define OLLAMA_NAME_MAX		128
#define OLLAMA_REASON_MAX	256

struct ollama_loaded {
	char		name[OLLAMA_NAME_MAX];
	int		truncated;	/* name not stored exactly (too long) */
	int		has_size_vram;
	uint64_t	size_vram;
};

/*
 * The lists are sized to the answer (a node usually has a handful of models;
 * room for OLLAMA_MODELS_MAX inline was 70 KB per node at every hub), so an
 * ollama_info owns memory: zero it to start, ollama_info_clear() to release,
 * ollama_info_move() to hand it over.  A plain struct copy would share it.
 */
struct ollama_info {
	char		version[32];
	size_t		nmodels;
	size_t		nmodels_total;	/* listed by Ollama; > nmodels when more
					   than OLLAMA_MODELS_MAX (first kept) */
	char		(*models)[OLLAMA_NAME_MAX];	/* nmodels names */
	/* 1: models[i] not stored exactly: cut to fit, or a control character
	   replaced (never matched by ollama_has_model) */
	unsigned char	*model_truncated;		/* nmodels */
	size_t		nloaded;
	size_t		nloaded_total;
	struct ollama_loaded *loaded;			/* nloaded */
};

/*
 * Each returns 0 on success, or -1 with REASON (of OLLAMA_REASON_MAX bytes)
 * set to a precise message: "malformed JSON at line 1 column 7: ...",
 * "missing field 'version'", "body too large (2000000 bytes)".
 * Each fills only its own part of INFO (version / models / loaded), cleared
 * (released) first; the body need not be NUL-terminated.  Out of memory is a
 * failure like any other ("out of memory for 12 models").
 */
int	ollama_parse_version(const char *body, size_t len,
	    struct ollama_info *info, char *reason);
int	ollama_parse_tags(const char *body, size_t len,
	    struct ollama_info *info, char *reason);
int	ollama_parse_ps(const char *body, size_t len,
	    struct ollama_info *info, char *reason);
/* Release the lists and zero every field. */
void	ollama_info_clear(struct ollama_info *);
/* DST (cleared first) takes SRC's contents; SRC is left zeroed. */
void	ollama_info_move(struct ollama_info *dst, struct ollama_info *src);
/*
 * For a non-2xx answer: REASON becomes "HTTP 404: model 'x' not found" when
 * the body is Ollama's {"error":"..."} object, else "HTTP 404".
 */
void	ollama_http_error(int status, const char *body, size_t len, char *reason);
/* 1 when MODEL is listed (exact, or MODEL without tag matches NAME:latest). */
int	ollama_has_model(const struct ollama_info *, const char *model);

#endif
