/*
 * ollama: parsers for Ollama's HTTP API answers, using jansson.
 *
 * Pure functions of (body, length): the body need not be NUL-terminated
 * (json_loadb), nothing is read past LEN, every json_t is released.
 *
 * Decisions (see also tests/check_probes.c):
 * - Bodies are parsed with JSON_REJECT_DUPLICATES: an answer with a key
 *   twice is not one Ollama wrote.  Trailing garbage is an error (jansson's
 *   end-of-input check); nesting depth is bounded by jansson itself.
 * - A body longer than OLLAMA_BODY_MAX is refused unparsed:
 *   "body too large (N bytes)".  An empty body: "empty body".
 * - Each parser fills only its own part of INFO (version; nmodels/models;
 *   nloaded/loaded), cleared first, so that one ollama_info can collect the
 *   three answers.  On failure that part stays cleared.
 * - "models": null is taken as an empty list: Ollama before 0.1.39 (PR
 *   ollama/ollama#4424) answered {"models":null} when nothing was there.
 * - More than OLLAMA_MODELS_MAX models: the first OLLAMA_MODELS_MAX are kept
 *   and the parse succeeds; nmodels_total/nloaded_total say how many there
 *   were.  Every entry is still checked.
 * - A name longer than OLLAMA_NAME_MAX - 1 bytes is truncated (at a UTF-8
 *   character boundary) and flagged (model_truncated[i], loaded[i].truncated;
 *   also set when a control character had to be replaced);
 *   ollama_has_model never matches a flagged name, so a cut name can never
 *   satisfy a required model by accident.  Ollama allows names longer than
 *   this (host/namespace/model:tag), so failing the whole probe would be
 *   wrong.  The version is truncated to 31 bytes likewise.
 * - Names must be non-empty strings; size_vram, when present, must be a
 *   non-negative integer.  Other fields are ignored.
 * - Messages: "malformed JSON at line L column C: <jansson's text>",
 *   "expected a JSON object, got array", "missing field 'models'",
 *   "field 'models' is not an array", "field 'models[2]' is not an object",
 *   "missing field 'models[2].name'", "field 'version' is not a string",
 *   "field 'models[0].name' is empty",
 *   "field 'models[0].size_vram' is not a non-negative integer".
 * - Text copied from a body into a reason or a name is valid, printable
 *   UTF-8 (jansson guarantees UTF-8; control characters become '?').
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ollama.h"
#include "text.h"

static int __attribute__((format(printf, 2, 3)))
failf(char *reason, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(reason, OLLAMA_REASON_MAX, fmt, ap);
	va_end(ap);
	return -1;
}

static const char *
json_kind(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:	return "object";
	case JSON_ARRAY:	return "array";
	case JSON_STRING:	return "string";
	case JSON_INTEGER:	return "integer";
	case JSON_REAL:		return "number";
	case JSON_TRUE:
	case JSON_FALSE:	return "boolean";
	case JSON_NULL:		return "null";
	}
	return "value";
}

/* Parse BODY into a JSON object, or NULL with REASON set. */
static json_t *
load_object(const char *body, size_t len, char *reason)
{
	json_error_t	 e;
	json_t		*root;

	if (body == NULL)
		len = 0;
	if (len > OLLAMA_BODY_MAX) {
		failf(reason, "body too large (%zu bytes)", len);
		return NULL;
	}
	if (len == 0) {
		failf(reason, "empty body");
		return NULL;
	}
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &e);
	if (root == NULL) {
		snprintf(reason, OLLAMA_REASON_MAX,
		    "malformed JSON at line %d column %d: ", e.line, e.column);
		text_append(reason, OLLAMA_REASON_MAX, e.text,
		    strnlen(e.text, sizeof(e.text)));
		return NULL;
	}
	if (!json_is_object(root)) {
		failf(reason, "expected a JSON object, got %s", json_kind(root));
		json_decref(root);
		return NULL;
	}
	return root;
}

/* REASON scratch when the caller passed none. */
static char *
reason_buf(char *reason, char *local)
{
	if (reason == NULL)
		reason = local;
	reason[0] = '\0';
	return reason;
}

int
ollama_parse_version(const char *body, size_t len, struct ollama_info *info,
    char *reason)
{
	char	 local[OLLAMA_REASON_MAX];
	json_t	*root, *v;
	int	 rc = -1;

	reason = reason_buf(reason, local);
	if (info == NULL)
		return failf(reason, "no result buffer");
	memset(info->version, 0, sizeof(info->version));
	if ((root = load_object(body, len, reason)) == NULL)
		return -1;
	v = json_object_get(root, "version");
	if (v == NULL)
		failf(reason, "missing field 'version'");
	else if (!json_is_string(v))
		failf(reason, "field 'version' is not a string");
	else if (json_string_length(v) == 0)
		failf(reason, "field 'version' is empty");
	else {
		text_copy(info->version, sizeof(info->version),
		    json_string_value(v), json_string_length(v));
		rc = 0;
	}
	json_decref(root);
	return rc;
}

/* Release one list (PS: loaded, else models) and its counts. */
static void
clear_list(struct ollama_info *info, int ps)
{
	if (ps) {
		free(info->loaded);
		info->loaded = NULL;
		info->nloaded = info->nloaded_total = 0;
	} else {
		free(info->models);
		free(info->model_truncated);
		info->models = NULL;
		info->model_truncated = NULL;
		info->nmodels = info->nmodels_total = 0;
	}
}

/* Room for N entries of one (cleared) list, zeroed; none for N == 0. */
static int
alloc_list(struct ollama_info *info, int ps, size_t n)
{
	if (n == 0)
		return 0;
	if (ps)
		return (info->loaded = calloc(n, sizeof(*info->loaded))) ?
		    0 : -1;
	info->models = calloc(n, sizeof(*info->models));
	info->model_truncated = calloc(n, sizeof(*info->model_truncated));
	if (info->models == NULL || info->model_truncated == NULL) {
		clear_list(info, 0);
		return -1;
	}
	return 0;
}

void
ollama_info_clear(struct ollama_info *info)
{
	if (info == NULL)
		return;
	clear_list(info, 0);
	clear_list(info, 1);
	memset(info, 0, sizeof(*info));
}

void
ollama_info_move(struct ollama_info *dst, struct ollama_info *src)
{
	if (dst == src)
		return;
	ollama_info_clear(dst);
	*dst = *src;
	memset(src, 0, sizeof(*src));
}

/*
 * The "models" array of ROOT into INFO's list (PS: loaded[], with size_vram;
 * else models[]).
 */
static int
walk_models(json_t *root, int ps, struct ollama_info *info, char *reason)
{
	json_t		*models, *m, *v;
	size_t		 i, n, *nkept, *ntotal;
	const char	*fld = "models";
	char		*name;
	int		 trunc_dummy, *trunc;

	if (ps) {
		nkept = &info->nloaded;
		ntotal = &info->nloaded_total;
	} else {
		nkept = &info->nmodels;
		ntotal = &info->nmodels_total;
	}
	models = json_object_get(root, fld);
	if (models == NULL)
		return failf(reason, "missing field '%s'", fld);
	if (json_is_null(models))
		return 0;
	if (!json_is_array(models))
		return failf(reason, "field '%s' is not an array", fld);
	n = json_array_size(models);
	if (alloc_list(info, ps, n < OLLAMA_MODELS_MAX ? n : OLLAMA_MODELS_MAX)
	    == -1)
		return failf(reason, "out of memory for %zu models", n);
	for (i = 0; i < n; i++) {
		m = json_array_get(models, i);
		if (!json_is_object(m))
			return failf(reason, "field '%s[%zu]' is not an object",
			    fld, i);
		v = json_object_get(m, "name");
		if (v == NULL)
			return failf(reason, "missing field '%s[%zu].name'",
			    fld, i);
		if (!json_is_string(v))
			return failf(reason,
			    "field '%s[%zu].name' is not a string", fld, i);
		if (json_string_length(v) == 0)
			return failf(reason, "field '%s[%zu].name' is empty",
			    fld, i);
		if (ps) {
			v = json_object_get(m, "size_vram");
			if (v != NULL && (!json_is_integer(v) ||
			    json_integer_value(v) < 0))
				return failf(reason, "field '%s[%zu].size_vram'"
				    " is not a non-negative integer", fld, i);
		}
		if (i >= OLLAMA_MODELS_MAX)
			continue;	/* checked, not kept */
		if (ps) {
			name = info->loaded[i].name;
			trunc = &info->loaded[i].truncated;
			if (v != NULL) {
				info->loaded[i].has_size_vram = 1;
				info->loaded[i].size_vram =
				    (uint64_t)json_integer_value(v);
			}
		} else {
			name = info->models[i];
			trunc = &trunc_dummy;
		}
		v = json_object_get(m, "name");
		*trunc = !text_copy(name, OLLAMA_NAME_MAX,
		    json_string_value(v), json_string_length(v));
		if (!ps)
			info->model_truncated[i] = (unsigned char)*trunc;
		(*nkept)++;
	}
	*ntotal = n;
	return 0;
}

static int
parse_list(const char *body, size_t len, int ps, struct ollama_info *info,
    char *reason)
{
	char	 local[OLLAMA_REASON_MAX];
	json_t	*root;
	int	 rc;

	reason = reason_buf(reason, local);
	if (info == NULL)
		return failf(reason, "no result buffer");
	clear_list(info, ps);
	if ((root = load_object(body, len, reason)) == NULL)
		return -1;
	rc = walk_models(root, ps, info, reason);
	json_decref(root);
	if (rc != 0)
		clear_list(info, ps);
	return rc;
}

int
ollama_parse_tags(const char *body, size_t len, struct ollama_info *info,
    char *reason)
{
	return parse_list(body, len, 0, info, reason);
}

int
ollama_parse_ps(const char *body, size_t len, struct ollama_info *info,
    char *reason)
{
	return parse_list(body, len, 1, info, reason);
}

void
ollama_http_error(int status, const char *body, size_t len, char *reason)
{
	char		 local[OLLAMA_REASON_MAX];
	json_t		*root, *v;

	reason = reason_buf(reason, local);
	snprintf(reason, OLLAMA_REASON_MAX, "HTTP %d", status);
	if (body == NULL || len == 0 || len > OLLAMA_BODY_MAX)
		return;
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
	if (root == NULL)
		return;
	v = json_object_get(root, "error");	/* NULL unless an object */
	if (json_is_string(v) && json_string_length(v) > 0) {
		text_append(reason, OLLAMA_REASON_MAX, ": ", 2);
		text_append(reason, OLLAMA_REASON_MAX, json_string_value(v),
		    json_string_length(v));
	}
	json_decref(root);
}

/* Is there a tag: a ':' after the last '/' ("host:port/ns/model" has none). */
static int
has_tag(const char *name)
{
	const char	*slash = strrchr(name, '/');

	return strchr(slash ? slash : name, ':') != NULL;
}

/* NAME == BASE ":latest" */
static int
is_latest_of(const char *name, const char *base)
{
	size_t	bl = strlen(base);

	return strncmp(name, base, bl) == 0 && strcmp(name + bl, ":latest") == 0;
}

int
ollama_has_model(const struct ollama_info *info, const char *model)
{
	size_t	i, n;

	if (info == NULL || model == NULL || *model == '\0')
		return 0;
	n = info->nmodels < OLLAMA_MODELS_MAX ? info->nmodels :
	    OLLAMA_MODELS_MAX;
	for (i = 0; i < n; i++) {
		const char *name = info->models[i];

		if (info->model_truncated[i])
			continue;
		if (strcmp(name, model) == 0)
			return 1;
		/* "qwen2.5" is "qwen2.5:latest", and the other way round. */
		if (!has_tag(model) && is_latest_of(name, model))
			return 1;
		if (!has_tag(name) && is_latest_of(model, name))
			return 1;
	}
	return 0;
}
