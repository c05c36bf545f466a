/*
 * fuzz_ollama: the Ollama answer parsers on arbitrary bodies.
 *
 * The first byte picks the parser (/api/version, /api/tags, /api/ps, or an
 * HTTP error body with a status from the second byte); the rest is the
 * body, in an exact-size heap copy (the parsers must not need a NUL).  A
 * successful tags parse is then queried with ollama_has_model(), with a name
 * taken from the body itself so that matches happen.
 */
#include <stdlib.h>
#include <string.h>

#include "ollama.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		 reason[OLLAMA_REASON_MAX], model[OLLAMA_NAME_MAX];
	static const char seed[] = "{\"models\":[{\"name\":\"x:1b\"}]}";
	struct ollama_info info;
	char		*body;
	size_t		 i;
	int		 r = -1, which, status;

	if (size < 2)
		return 0;
	which = data[0] % 4;
	status = 300 + data[1] % 300;
	data += 2;
	size -= 2;
	if ((body = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(body, data, size);
	memset(reason, 'x', sizeof(reason));
	/*
	 * An info owns its lists, so it starts zeroed; the version starts as
	 * garbage (the parser clears its part), and every list parser runs on
	 * an info that already holds a list, which it must release first
	 * (LeakSanitizer would see it).
	 */
	memset(&info, 0, sizeof(info));
	memset(info.version, 0xa5, sizeof(info.version));
	if (which == 1 || which == 2)
		(void)(which == 1 ? ollama_parse_tags : ollama_parse_ps)(
		    seed, sizeof(seed) - 1, &info, NULL);
	switch (which) {
	case 0:
		r = ollama_parse_version(body, size, &info, reason);
		if (r == 0)
			fuzz_check_text("version", info.version,
			    sizeof(info.version));
		break;
	case 1:
		r = ollama_parse_tags(body, size, &info, reason);
		if (r == 0) {
			if (info.nmodels > OLLAMA_MODELS_MAX ||
			    info.nmodels > info.nmodels_total)
				abort();
			for (i = 0; i < info.nmodels; i++)
				fuzz_check_text("model", info.models[i],
				    sizeof(info.models[i]));
			/* a name from the input, cut at the first ':' or not */
			i = size < sizeof(model) - 1 ? size : sizeof(model) - 1;
			memcpy(model, data, i);
			model[i] = '\0';
			(void)ollama_has_model(&info, model);
			if (info.nmodels > 0 && !info.model_truncated[0] &&
			    !ollama_has_model(&info, info.models[0]))
				abort();	/* a listed name always matches */
		}
		break;
	case 2:
		r = ollama_parse_ps(body, size, &info, reason);
		if (r == 0) {
			if (info.nloaded > OLLAMA_MODELS_MAX ||
			    info.nloaded > info.nloaded_total)
				abort();
			for (i = 0; i < info.nloaded; i++)
				fuzz_check_text("loaded", info.loaded[i].name,
				    sizeof(info.loaded[i].name));
		}
		break;
	case 3:
		ollama_http_error(status, body, size, reason);
		fuzz_check_text("http error", reason, sizeof(reason));
		break;
	}
	free(body);
	ollama_info_clear(&info);
	if (which != 3 && r != 0)
		fuzz_check_text("reason", reason, sizeof(reason));
	return 0;
}
